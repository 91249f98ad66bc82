"""Order batching: which orders share a cart, so that the carts' routes are as short as possible.

Every batch is priced by the length of its shortest route (:class:`~picking.pricing.RouteCoster`),
plus, when orders have pick-by times, a lateness penalty from an earliest-due-date schedule of
the batches over the pickers (:mod:`picking.model`). Batches are keyed by integers, the OR of
their orders' keys (:class:`~picking.pricing.KeyedPrices`; on one block, bits per aisle and
depth priced straight from the bits): the local search runs 1.4-1.8x as fast as with batches
keyed and priced by their bins, to the same plans (``benchmarks/results/pricing.md``).
With pick-by times a move's penalty is weighed without making the move: each cart keeps its
terms (earliest pick-by time, picks, its orders' pick-by times sorted, with prefix sums), and
the pickers' schedule resumes where the move first changes it; a move whose walk alone, less
the whole current penalty, cannot beat the best move so far is ruled out unscheduled (and,
with exact prices, unpriced). Against making every move and scheduling every cart afresh, on
one block: 28.6x the iterations and plans 0.65 % shorter where the plan is on time, 4.9x and
0.72 % where it cannot be; on two blocks 9.1x, and plans within the spread between runs (a
median 0.09 % shorter over six runs, three shorter and three longer;
``benchmarks/results/lateness.md``).

* **Construction**: Clarke-Wright savings. Every order starts alone; pairs of nearby orders are
  merged in order of their savings c(A) + c(B) - c(A u B), recomputed for the batches they are
  in by then, while the merged batch fits on a cart.
* **Fewer carts**: while the plan has more carts than the orders' summed load needs, the
  lightest cart's orders are spread over the others (an order that fits nowhere displaces a
  smaller one, which is placed in turn); the plan is kept if it walks no further after local
  search. One cart fewer usually saves a whole walk to the back of the warehouse.
* **Improvement**: iterated local search. Local search relocates one order to another batch,
  swaps two orders between batches, or (where prices are fast) ejects: an order takes the
  place of another, which goes to a third batch with room; it makes the best such move per
  order, over the batches nearest to it, while that shortens the plan. Ejection is what lets
  an order onto a full cart when its own cart cannot take the one it displaces. A kick then
  removes a few orders (an order and its nearest neighbours, or every order of a light batch
  and of the batch nearest it) and reinserts them by regret (the order that loses most by
  waiting goes first, where it adds least), and local search runs again; a worse plan is
  accepted while it stays within a threshold that shrinks over the run, and the best plan is
  kept; a rejected kick is undone from a journal of the batches it changed. A share of the
  iterations tries again to do without a cart. Where prices are exact, a route through more
  bins is never shorter, so a move, swap or ejection is ruled out before it is priced when
  what is already priced (c(A - i) against c(A), c(B - j) against c(B), c(S + j) against
  c(S)) makes it no better (pricing is most of the time). The search is anytime: it stops at
  the deadline or the iteration cap and returns the best plan found, the same for the same
  seed when the cap ends it.

Measured on the 100-order waves of ``benchmarks.picking_bench`` (10 s, paired seeds) and not
adopted, as none shortened the plans beyond the spread between runs (a class's mean over six
seeds moves by up to 0.4 % from one batch of runs to the next):

* a second search in a forked process, best of the two plans kept, or both restarted from the
  better plan three times during the run: 0.1 % shorter on average over the seven classes;
* letting moves, swaps and kicks overload a cart by 5 % at an adaptive penalty (repaired or
  rolled back), on waves with under 3 % room left: from 0.16 % shorter to 0.04 % longer on
  average in three variants, 0.15-0.9 % shorter on Muter-Oencan at 36 items;
* set partitioning over every batch of the search's local optima (HiGHS): that pool holds a
  plan 0.2-1.5 % shorter, but HiGHS needs 8-60 s to find it, and a fast LP dive with regret
  repair ends 1.4-3 % longer (carts generated from the LP's duals instead, in
  :mod:`picking.partition`, did pay where carts hold few orders);
* cyclic exchanges of orders over three or four carts (each order taking the place of the
  next): they find improvements local search misses, but cut the iterations to a quarter, and
  the plans were no shorter in equal time;
* exact re-partition of the orders of two or three neighbouring carts: it improved on 5 % of
  the tries; kicks seeded at the order whose removal saves most: no difference.

On Muter-Oencan's wave at 48 items, 586 units on carts of 48, every plan found holds twelve
full carts (46-48 units) and one of 10-17 units, so a move between full carts rarely fits
(ejection, above, is what was adopted for it); before ejection the local search alone (9 s)
ended anywhere from 1,554 m to 1,602 m, median 1,581 m and 1,578 m over seeds 1-16 and 17-32.
Not adopted there (medians over the same seeds, before ejection):

* kick neighbours by route rather than centroid (the length one order adds to another's
  walk, over every pair): 1,574-1,580 m against 1,578-1,581 m in three batches of seeds,
  mean over 32 seeds 0.2 % shorter, within the spread;
* at a local optimum, no swap of one or two orders of one cart with one or two of another
  shortens the plan (scanned on three runs' plans);
* moves of no length that even the carts' loads, or that fill the fuller cart: 1,584-1,591 m;
* every cart with room among an order's candidates: 1,592-1,597 m;
* a kick's order that fits on no candidate (16-49 % of kicks at 36 and 48 items) displacing
  a smaller order instead of opening a cart: 1,590-1,592 m; larger kicks (14 orders, or two carts'
  orders in 60 % of kicks): 1,581-1,587 m.

Nor, with ejection and integer keys (the search alone, 9 s, seeds 1-12, two processes side by
side: median 1,572.0-1,572.5 m, mean 1,569.0 m), where the best plan known packs twelve carts
with exactly 48 units each and every move between full carts must trade equal units:

* cycles of three orders through the cart with room (an order takes another's place, that one
  goes to the cart with room, and one of that cart's orders fills the first one's place),
  weighed with every move or only for orders with no other improving move: half the
  iterations, median 1,568.0 and 1,569.8 m, mean 1,569.5 and 1,572.5 m;
* after 300 iterations without a new best plan, three kicks at once, accepted whatever they
  cost: median 1,572.9 m, mean 1,572.7 m;
* set partitioning (HiGHS) over the carts of the local optima within 2 % of the best plan
  (700-900 carts): 0-0.13 % shorter in 0.1-1.7 s (four seeds); over every local optimum's
  carts (about 2,000, 3 s): 0-0.5 % shorter; over two 7 s runs' carts (about 3,000, 2.5 s):
  shorter for one pair of runs in four;
* moves, swaps, ejections and kicks that overload a cart by one unit, at a penalty per unit
  over, raised or lowered every 20 iterations towards half the local optima being within
  capacity (only plans within capacity kept as the best): half the iterations, median
  1,573.2 m against 1,574.0 m (seeds 1-12); by two units, a quarter of the iterations;
* the two processes restarted from the better of their plans twice during the run (best of
  two 3 s searches, three times): median 1,561.7 against 1,564.6 m over seeds 1-12, then
  1,571.6 against 1,569.5 m over seeds 13-24.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from picking.model import Cart, Load, Timing, fits, limits
from picking.pricing import KeyedPrices

#: Batches (by centroid) each order considers in local search and reinsertion, for moves and
#: for swaps with each of their orders, where prices are fast (``cost.fast``: the one-block
#: DP, and two and three blocks priced many at once): at most ``CANDIDATE_BATCHES`` and at
#: most as many as hold ``SWAP_PARTNERS`` orders on average, but at least
#: ``CANDIDATE_BATCHES_SLOW_PRICES``, which is the number where prices take milliseconds
#: (more cross aisles, graph layouts). Measured with the local search alone
#: (9 s, six to eight seeds, median) on the 100-order benchmark waves: 12 against 6 walked
#: 1.3 % less at Henn-Waescher's 60 items and 0.3 % at 75, 1.9 % at Muter-Oencan's 24 items
#: and 1.2 % at 36 (16 no less than 12); a cart's centroid says little about which carts an
#: order goes well with when carts hold several orders. At Muter-Oencan's 48 items (7.7
#: orders a cart) 9 did best, 0.5 % below 6 and 0.4 % below 12 (16 seeds): each order weighs
#: a swap with every order of every candidate. With two processes (10 s, six seeds, median):
#: 1,981.8 m against 1,995.6 m at 36 items, 10,671 m against 10,693 m at Henn-Waescher's 75.
#: Where prices take milliseconds the local search does not finish in the time, and 12 walked
#: further: 0.4 % and 2.7 % on the 1,000-order wave of 100,000 bins (two runs of 50 s), 2.2 %
#: on the two-block wave of 100 orders (median of three) while its prices came one at a time
#: (see ``benchmarks/results/bulk.md`` for two blocks since).
CANDIDATE_BATCHES = 12
SWAP_PARTNERS = 70
CANDIDATE_BATCHES_SLOW_PRICES = 6
#: Whether local search also weighs ejections (an order takes another's place on a full cart,
#: which goes to a cart with room), where prices are fast. Measured with the local search alone
#: (9 s, median; seeds 1-16 and 17-32 at 48 items, 1-8 elsewhere): Muter-Oencan's wave at 48
#: items 1,575.1 and 1,572.3 m against 1,583.0 and 1,577.5 m (mean over 32 seeds 0.25 %
#: shorter, with a third fewer iterations), at 36 items 2,004.4 m against 2,007.6 m,
#: Henn-Waescher's at 60 items 11,794 m against 11,851 m and at 75 items 10,765 m against
#: 10,795 m. Not where prices take milliseconds: on the benchmark's two-block wave of 100
#: orders (the whole planner, 10 s, seeds 1-8), while its prices came one at a time, ejection
#: cut the iterations to a third (16-36 against 43-117) and the plans came out 1.0 % longer
#: (median 16,412 m against 16,248 m). Priced many at once, two and three blocks weigh
#: ejections and twelve carts an order (``benchmarks.bulk_bench``, against six carts and no
#: ejection: on three blocks plans a median 1.5 % shorter, 5 of 6 runs; on two the same
#: within the spread, a median 0.02 % and 0.38 % shorter in two runs of twelve).
EJECTION = True
#: Whether, with pick-by times, local search rules moves out by what their walk alone adds
#: against the most the penalty can fall (all of it), before working out their schedule (and,
#: where prices are exact, before pricing them). Measured by ``benchmarks.lateness_bench``.
PENALTY_BOUNDS = True
#: Nearest orders each order forms savings pairs with.
SAVINGS_NEIGHBOURS = 10
#: Orders a kick removes, at most.
MAX_KICK = 8
#: Orders above which the construction is a sweep instead of savings: savings prices about ten
#: pairs per order, which on slow-to-price layouts left a 1,000-order wave half merged.
SAVINGS_MAX_ITEMS = 300
#: Most of the time the savings construction may take; pairs not priced by then are left to
#: the local search (large waves on slow-to-price layouts).
CONSTRUCTION_SHARE = 0.5
#: Share of kicks that remove every order of two neighbouring batches (the lighter of
#: ``LIGHT_OF`` random batches and the batch nearest it) instead of an order and its neighbours.
BATCH_KICK_SHARE = 0.3
LIGHT_OF = 3
#: Share of iterations that try to do without the lightest cart, while the plan has more carts
#: than the lower bound; and how many orders such a try may place (or displace) at most.
ELIMINATION_SHARE = 0.05
ELIMINATION_STEPS = 200
#: Batches (nearest by centroid) an order may go to when a cart is being done without, in
#: waves with more carts than this (every batch, below).
ELIMINATION_BATCHES = 60
#: Start of the acceptance threshold, as a share of the best cost; it falls linearly to 0.
#: Measured on the 100-order benchmark waves (the search alone, 9 s, eight seeds, median):
#: against 0.01, 0.002 walked 1.0 % less at Henn-Waescher's 75 items, 0.5 % at 60, 0.4 % and
#: 0.7 % at Muter-Oencan's 36 and 48, and 0.2 % more at 24 (which goes to set partitioning);
#: 0.0 and 0.004 fell in between.
THRESHOLD_START = 0.002


@dataclass(frozen=True)
class Item:
    """One order as the batcher sees it."""

    load: Load
    locs: frozenset[int]
    point: tuple[float, float]  # centroid of its bins, for neighbourhoods
    due_s: float | None = None
    picks: int = 0  # pick operations (bins visited per line), for batch durations
    #: Items with the same ``order`` (>= 0) are parts of one order, which is late once, by
    #: its last part to be picked; -1: the item is an order of its own.
    order: int = -1


@dataclass(frozen=True)
class BatchPlan:
    """Batches as lists of item indices, with the plan's cost (mm of walking plus penalty)."""

    batches: list[list[int]]
    distance_mm: int
    penalty_mm: int
    iterations: int
    evaluations: int


@dataclass(frozen=True)
class _Terms:
    """What a batch's lateness depends on besides its route: its earliest pick-by time (it is
    scheduled by that), its picks, the pick-by times of its orders sorted, with their prefix
    sums (the lateness of those done at ``t`` is ``k * t - prefix[k]``, ``k`` of them due before
    ``t``), and apart, the (order, pick-by time) of parts of split orders, which are late once,
    by their last part."""

    due: float
    picks: int
    dues: list[float]
    prefix: list[float]
    parts: tuple[tuple[int, float], ...]


#: A batch in the pickers' schedule: its earliest pick-by time, index, duration (s) and terms.
_Entry = tuple[float, int, float, _Terms]


class _State:
    """Batches with their loads, keys (their bins, see :class:`~picking.pricing.KeyedPrices`),
    centroid sums and route costs."""

    def __init__(
        self, items: Sequence[Item], item_keys: Sequence[int], cost: Callable[[int], int]
    ) -> None:
        self.items, self.item_keys, self.cost_of = items, item_keys, cost
        self.where: list[int] = [-1] * len(items)
        self.members: list[set[int]] = []
        self.loads: list[Load] = []
        self.keys: list[int] = []
        self.costs: list[int] = []
        self.sums: list[list[float]] = []
        #: Per batch, its key and price without one of its items (see :meth:`without`).
        self._without: list[dict[int, tuple[int, int]]] = []
        self._centres: list[tuple[float, float] | None] = []  # centroids, None until asked
        #: Per batch, what its lateness depends on besides its route (see Batcher._terms),
        #: and every batch's schedule entry in earliest-due order (None: to be worked out).
        self.terms: list[_Terms | None] = []
        self.entries: list[_Entry] | None = None
        #: The pickers' free times and the lateness so far before each of those entries, and
        #: after the last (see Batcher._penalty_after).
        self.marks: list[tuple[list[float], float]] | None = None
        # Batches as they were before the first change since checkpoint() (None: no journal).
        self._journal: dict[int, tuple[set[int], Load, int, int, list[float]]] | None = None
        self._journal_size = 0

    def checkpoint(self) -> None:
        """Start remembering every batch changed from now on, for :meth:`rollback`."""
        self._journal, self._journal_size = {}, len(self.members)

    def rollback(self) -> None:
        """Restore every batch changed since :meth:`checkpoint`; the journal starts afresh."""
        journal = self._journal
        assert journal is not None
        del self.members[self._journal_size :], self.loads[self._journal_size :]
        del self.keys[self._journal_size :], self.costs[self._journal_size :]
        del self.sums[self._journal_size :], self._without[self._journal_size :]
        del self._centres[self._journal_size :], self.terms[self._journal_size :]
        self.entries = self.marks = None
        for b, (members, load, key, cost, sums) in journal.items():
            if b >= self._journal_size:
                continue
            self.members[b], self.loads[b], self.keys[b] = members, load, key
            self.costs[b], self.sums[b] = cost, sums
            self._changed(b)
            for i in members:
                self.where[i] = b
        self.checkpoint()

    def _changed(self, b: int) -> None:
        """Forget what was remembered of batch ``b``, which is about to change."""
        self._without[b] = {}
        self._centres[b] = None
        self.terms[b] = None
        self.entries = self.marks = None

    def _touch(self, b: int) -> None:
        journal = self._journal
        if journal is not None and b not in journal:
            journal[b] = (
                set(self.members[b]),
                self.loads[b],
                self.keys[b],
                self.costs[b],
                list(self.sums[b]),
            )

    def copy_assignment(self) -> list[list[int]]:
        return [sorted(m) for m in self.members if m]

    def new_batch(self) -> int:
        self.members.append(set())
        self.loads.append(Load())
        self.keys.append(0)
        self.costs.append(0)
        self.sums.append([0.0, 0.0])
        self._without.append({})
        self._centres.append(None)
        self.terms.append(None)
        self.entries = self.marks = None
        return len(self.members) - 1

    def key_with(self, b: int, i: int) -> int:
        return self.keys[b] | self.item_keys[i]

    def key_without(self, b: int, i: int) -> int:
        key, keys = 0, self.item_keys
        for j in self.members[b]:
            if j != i:
                key |= keys[j]
        return key

    def without(self, b: int, i: int) -> tuple[int, int]:
        """Batch ``b``'s key without item ``i``, and its price (0 for no item left);
        remembered until ``b`` changes (local search asks for the same ones for every order it
        weighs against ``b``).
        """
        memo = self._without[b]
        known = memo.get(i)
        if known is None:
            key = self.key_without(b, i)
            known = memo[i] = (key, self.cost_of(key) if len(self.members[b]) > 1 else 0)
        return known

    def add(self, b: int, i: int, key: int | None = None) -> None:
        item = self.items[i]
        self._touch(b)
        self._changed(b)
        self.members[b].add(i)
        self.where[i] = b
        self.loads[b] = self.loads[b] + item.load
        self.keys[b] = self.key_with(b, i) if key is None else key
        self.costs[b] = self.cost_of(self.keys[b]) if self.members[b] else 0
        self.sums[b][0] += item.point[0]
        self.sums[b][1] += item.point[1]

    def remove(self, i: int) -> int:
        b = self.where[i]
        item = self.items[i]
        self._touch(b)
        key, cost = self.without(b, i)
        self._changed(b)
        self.members[b].discard(i)
        self.where[i] = -1
        self.loads[b] = self.loads[b] - item.load
        self.keys[b] = key
        self.costs[b] = cost if self.members[b] else 0
        self.sums[b][0] -= item.point[0]
        self.sums[b][1] -= item.point[1]
        if not self.members[b]:
            self.loads[b], self.keys[b], self.costs[b], self.sums[b] = Load(), 0, 0, [0.0, 0.0]
        return b

    def merge(self, a: int, b: int, key: int) -> None:
        """Move every item of batch ``b`` into batch ``a``, whose locations become ``key``."""
        self._touch(a)
        self._touch(b)
        self._changed(a)
        self._changed(b)
        for i in self.members[b]:
            self.where[i] = a
        self.members[a] |= self.members[b]
        self.loads[a] = self.loads[a] + self.loads[b]
        self.keys[a] = key
        self.costs[a] = self.cost_of(key)
        self.sums[a] = [self.sums[a][0] + self.sums[b][0], self.sums[a][1] + self.sums[b][1]]
        self.members[b] = set()
        self.loads[b], self.keys[b], self.costs[b], self.sums[b] = Load(), 0, 0, [0.0, 0.0]

    def centroid(self, b: int) -> tuple[float, float]:
        centre = self._centres[b]
        if centre is None:
            n = len(self.members[b])
            centre = self._centres[b] = (self.sums[b][0] / n, self.sums[b][1] / n)
        return centre

    @property
    def distance(self) -> int:
        return sum(c for c, m in zip(self.costs, self.members, strict=True) if m)


class Batcher:
    """Plans the batches of one wave; see the module docstring."""

    def __init__(
        self,
        items: Sequence[Item],
        cart: Cart,
        cost: Callable[[frozenset[int]], int],
        *,
        timing: Timing | None = None,
        seed: int = 0,
    ) -> None:
        self.items, self.cart, self.cost = items, cart, cost
        #: Prices by key (see :class:`~picking.pricing.KeyedPrices`), and each item's key.
        keyed = getattr(cost, "keyed", None)
        self.price: KeyedPrices = keyed() if keyed is not None else KeyedPrices(cost)
        self.keys = [self.price.key(item.locs) for item in items]
        self.timing = Timing() if timing is None else timing
        self.rng = random.Random(seed)
        #: Whether prices are exact, so a batch with more bins never costs less (lets swaps be
        #: ruled out by a bound before both sides are priced).
        self.monotone = bool(getattr(cost, "exact", False))
        self.has_due = any(item.due_s is not None for item in items)
        #: The order each item is (a part of), for lateness: distinct for items of their own.
        self._orders = [item.order if item.order >= 0 else -1 - i for i, item in enumerate(items)]
        parts = Counter(
            o for o, item in zip(self._orders, items, strict=True) if item.due_s is not None
        )
        #: Orders split into several items with a pick-by time (late once, by their last part).
        self._split = {o for o, n in parts.items() if n > 1}
        points = np.array([item.point for item in items], dtype=float).reshape(-1, 2)
        self._points = points
        self._units_only = cart.capacity_units > 0 and cart == Cart(
            capacity_units=cart.capacity_units,
            tote_units=cart.tote_units,
            orders_may_span_totes=cart.orders_may_span_totes,
            orders_may_span_carts=cart.orders_may_span_carts,
        )
        #: No plan has fewer carts than the orders' summed share of one, rounded up.
        self.fewest_carts = math.ceil(
            self._share(sum((item.load for item in items), start=Load())) - 1e-9
        )
        #: Batches each order weighs (see :data:`CANDIDATE_BATCHES`).
        self.candidate_batches = CANDIDATE_BATCHES_SLOW_PRICES
        if getattr(cost, "fast", False):
            per_cart = max(len(items), 1) / max(self.fewest_carts, 1)
            most = min(CANDIDATE_BATCHES, round(SWAP_PARTNERS / per_cart))
            self.candidate_batches = max(self.candidate_batches, most)
        #: Whether local search weighs ejections (where prices are fast), and the load of the
        #: smallest order (a cart without room for it takes no ejected order).
        self.ejection = bool(getattr(cost, "fast", False)) and EJECTION
        self._smallest = min((item.load for item in items), key=self._share, default=Load())
        k = min(SAVINGS_NEIGHBOURS, len(items) - 1)
        if k > 0:
            d = np.abs(points[:, None, :] - points[None, :, :]).sum(axis=2)
            np.fill_diagonal(d, np.inf)
            self.neighbours = np.argsort(d, axis=1, kind="stable")[:, :k].tolist()
        else:
            self.neighbours = [[] for _ in items]

    # -- objective --------------------------------------------------------------------------

    def penalty(self, state: _State) -> int:
        """Lateness penalty (mm) of the batches scheduled earliest-due-date over the pickers."""
        if not self.has_due:
            return 0
        return self._schedule(self._entries(state))

    def _entries(self, state: _State) -> list[_Entry]:
        """Every batch's schedule entry, in earliest-due order; remembered until one changes."""
        entries = state.entries
        if entries is None:
            entries = state.entries = sorted(
                self._entry(state.costs[b], self._terms(state, b), b)
                for b, members in enumerate(state.members)
                if members
            )
        return entries

    def _entry(self, cost: int, terms: _Terms, b: int) -> _Entry:
        t = self.timing
        return (terms.due, b, cost / 1000 / t.walk_speed_m_s + terms.picks * t.pick_time_s, terms)

    def _terms(self, state: _State, b: int) -> _Terms:
        terms = state.terms[b]
        if terms is None:
            terms = state.terms[b] = self._terms_of(state.members[b])
        return terms

    def _terms_of(self, members: set[int]) -> _Terms:
        items, orders = self.items, self._orders
        dues, parts = [], []
        for i in members:
            due = items[i].due_s
            if due is None:
                continue
            if orders[i] in self._split:
                parts.append((orders[i], due))
            else:
                dues.append(due)
        dues.sort()
        earliest = min(dues[0] if dues else math.inf, min((d for _, d in parts), default=math.inf))
        prefix = [0.0]
        for due in dues:
            prefix.append(prefix[-1] + due)
        picks = sum(items[i].picks for i in members)
        return _Terms(earliest, picks, dues, prefix, tuple(parts))

    def _schedule(
        self,
        entries: list[_Entry],
        first: int = 0,
        mark: tuple[list[float], float] | None = None,
        marks: list[tuple[list[float], float]] | None = None,
    ) -> int:
        """The lateness penalty (mm) of the batches of ``entries`` (in earliest-due order),
        from entry ``first`` on with the pickers' free times and lateness before it ``mark``
        (no split order); the same before each entry, and after the last, go to ``marks``."""
        t = self.timing
        free, late = ([0.0] * t.pickers, 0.0) if mark is None else (list(mark[0]), mark[1])
        done_at: dict[int, tuple[float, float]] = {}  # split orders: their last part's end
        for due, _, duration, terms in entries[first:] if first else entries:
            if marks is not None:
                marks.append((list(free), late))
            start = heapq.heappop(free)
            done = start + duration
            heapq.heappush(free, done)
            if done > due:
                k = bisect.bisect_left(terms.dues, done)
                late += k * done - terms.prefix[k]
            for o, due_s in terms.parts:
                done_at[o] = max(done_at.get(o, (0.0, due_s)), (done, due_s))
        if marks is not None:
            marks.append((list(free), late))
        late += sum(max(done - due_s, 0.0) for done, due_s in done_at.values())
        return round(late * t.lateness_penalty_m_per_s * 1000)

    def penalty_of(self, batches: list[list[int]]) -> int:
        """The lateness penalty (mm) of a plan given as batches of item indices."""
        return self.penalty(self._rebuild(batches))

    def objective(self, state: _State) -> int:
        return state.distance + self.penalty(state)

    # -- the search -------------------------------------------------------------------------

    def solve(
        self,
        *,
        deadline: float,
        max_iterations: int | None = None,
        initial: list[list[int]] | None = None,
    ) -> BatchPlan:
        """The best plan found before ``deadline`` (``time.monotonic()``) or the iteration cap.

        ``initial`` (batches of item indices) replaces the savings construction.
        """
        started = time.monotonic()
        if initial is None and len(self.items) > SAVINGS_MAX_ITEMS:
            state = self._sweep()
        elif initial is None:
            state = self._savings(started + CONSTRUCTION_SHARE * max(deadline - started, 0.0))
        else:
            state = self._rebuild(initial)
        self._local_search(state, deadline)
        while time.monotonic() < deadline and self._eliminate(state, deadline):
            pass
        best = state.copy_assignment()
        best_obj = current_obj = self.objective(state)
        iterations = 0
        span = max(deadline - started, 1e-6)
        state.checkpoint()
        while time.monotonic() < deadline and len(self.items) > 1:
            if max_iterations is not None and iterations >= max_iterations:
                break
            iterations += 1
            if self.rng.random() < ELIMINATION_SHARE and self._eliminate(state, deadline):
                current_obj = self.objective(state)
                if current_obj < best_obj:
                    best, best_obj = state.copy_assignment(), current_obj
                continue
            kicked = self._kick(state)
            self._local_search(state, deadline, [j for b in kicked for j in state.members[b]])
            obj = self.objective(state)
            progress = (
                iterations / max_iterations
                if max_iterations
                else (time.monotonic() - started) / span
            )
            threshold = THRESHOLD_START * max(0.0, 1.0 - progress) * best_obj
            if obj < best_obj:
                best, best_obj = state.copy_assignment(), obj
            if obj <= current_obj + threshold:
                current_obj = obj
                state.checkpoint()
            else:
                state.rollback()
        final = self._rebuild(best)
        penalty = self.penalty(final)
        evaluations = getattr(self.cost, "evaluations", 0)
        return BatchPlan(best, final.distance, penalty, iterations, evaluations)

    def savings_plan(self) -> BatchPlan:
        """The savings construction alone, without improvement (a reference for benchmarks)."""
        state = self._savings()
        evaluations = getattr(self.cost, "evaluations", 0)
        return BatchPlan(
            state.copy_assignment(), state.distance, self.penalty(state), 0, evaluations
        )

    def _rebuild(self, batches: list[list[int]]) -> _State:
        state = _State(self.items, self.keys, self.price)
        for members in batches:
            b = state.new_batch()
            for i in members:
                state.add(b, i)
        return state

    def _savings(self, deadline: float = math.inf) -> _State:
        """Clarke-Wright savings over nearby pairs, recomputed for the batches they are in.

        Pairs are priced nearest neighbours first, so a ``deadline`` that cuts the pricing
        short leaves out the least promising ones.
        """
        state = _State(self.items, self.keys, self.price)
        self.price.prefetch(self.keys)
        for i in range(len(self.items)):
            state.add(state.new_batch(), i)
        pairs = []
        seen: set[tuple[int, int]] = set()
        width = max((len(near) for near in self.neighbours), default=0)
        for rank in range(width):
            if time.monotonic() >= deadline:
                break
            self.price.prefetch(
                self.keys[i] | self.keys[near[rank]]
                for i, near in enumerate(self.neighbours)
                if rank < len(near)
            )
            for i, near in enumerate(self.neighbours):
                if rank >= len(near):
                    continue
                a, b = min(i, near[rank]), max(i, near[rank])
                if (a, b) in seen:
                    continue
                seen.add((a, b))
                union = self.keys[a] | self.keys[b]
                saving = state.costs[a] + state.costs[b] - self.price(union)
                if saving > 0:
                    pairs.append((-saving, a, b))
        pairs.sort()
        for _, i, j in pairs:
            if time.monotonic() >= deadline:
                break
            a, b = state.where[i], state.where[j]
            if a == b or not fits(self.cart, state.loads[a] + state.loads[b]):
                continue
            union = state.keys[a] | state.keys[b]
            if state.costs[a] + state.costs[b] - self.price(union) <= 0:
                continue
            state.merge(a, b, union)
        return state

    def _sweep(self) -> _State:
        """Carts filled in order of the orders' centroids, band by band across the floor.

        The floor is cut into vertical bands about as wide as one cart's share of it; orders
        are taken band by band, up one band and down the next, each going on the current cart
        until it is full. One pricing per cart, so it suits waves too large for savings.
        """
        state = _State(self.items, self.keys, self.price)
        total = sum((item.load for item in self.items), start=Load())
        carts = max(1, math.ceil(max(
            total.units / self.cart.capacity_units if self.cart.capacity_units else 1,
            total.orders / self.cart.max_orders if self.cart.max_orders else 1,
            total.totes / self.cart.totes if self.cart.totes else 1,
        )))  # fmt: skip
        xs = self._points[:, 0]
        bands = max(1, round(math.sqrt(carts)))
        edges = np.quantile(xs, np.linspace(0, 1, bands + 1)[1:-1]) if bands > 1 else []
        band = np.searchsorted(edges, xs, side="right")
        ys = self._points[:, 1]
        order = sorted(
            range(len(self.items)),
            key=lambda i: (int(band[i]), ys[i] if band[i] % 2 == 0 else -ys[i], i),
        )
        current = -1
        for i in order:
            if current < 0 or not fits(self.cart, state.loads[current] + self.items[i].load):
                current = state.new_batch()
            state.members[current].add(i)
            state.where[i] = current
            state.loads[current] = state.loads[current] + self.items[i].load
            state.keys[current] |= self.keys[i]
            state.sums[current][0] += self.items[i].point[0]
            state.sums[current][1] += self.items[i].point[1]
        self.price.prefetch(state.keys)
        for b in range(len(state.members)):
            state.costs[b] = self.price(state.keys[b])
        return state

    def _candidates(self, state: _State, i: int) -> list[int]:
        """The batches nearest to item ``i`` (by centroid), other than its own."""
        x, y = self.items[i].point
        own = state.where[i]
        scored = [
            (abs(cx - x) + abs(cy - y), b)
            for b, members in enumerate(state.members)
            if members and b != own
            for cx, cy in (state.centroid(b),)
        ]
        return [b for _, b in heapq.nsmallest(self.candidate_batches, scored)]

    def _local_search(
        self, state: _State, deadline: float, focus: Sequence[int] | None = None
    ) -> set[int]:
        """Improve until no item of the work queue has an improving move; the batches changed.

        The queue starts with ``focus`` (every item by default); a move puts every item of
        the batches it touched back on it, so after a kick only the neighbourhood is searched.
        """
        queue = list(range(len(self.items))) if focus is None else list(focus)
        self.rng.shuffle(queue)
        queued = set(queue)
        changed: set[int] = set()
        while queue:
            if time.monotonic() >= deadline:
                return changed
            i = queue.pop()
            queued.discard(i)
            touched = self._best_move(state, i)
            changed.update(touched)
            for b in touched:
                for j in state.members[b]:
                    if j not in queued:
                        queued.add(j)
                        queue.insert(self.rng.randrange(len(queue) + 1), j)
        return changed

    def _best_move(self, state: _State, i: int) -> tuple[int, ...]:
        """Apply the best improving relocation or swap of item ``i``; the batches it touched."""
        a = state.where[i]
        item, keys = self.items[i], self.keys
        candidates = self._candidates(state, i)
        sinks = self._sinks(state, a)
        if self.price.bulk:
            self.price.prefetch(self._move_keys(state, i, candidates, sinks))
        without_i, cost_without_i = state.without(a, i)
        gain_out = state.costs[a] - cost_without_i
        # A move can lower the penalty by base_penalty at most: one whose walk alone rises by
        # more than that past the best move's delta needs no schedule (nor, where prices are
        # exact, a price, by the bounds below).
        base_penalty = self.penalty(state) if self.has_due else 0
        bounded = PENALTY_BOUNDS or not self.has_due
        prune = self.monotone and bounded
        best_delta = 0
        best_move: tuple[int, int | None, int | None] | None = None

        def weighed(walk: int, moves: list[tuple[int, int]]) -> int:
            if not self.has_due or (bounded and walk - base_penalty >= best_delta):
                return walk
            return walk + self._penalty_after(state, moves) - base_penalty

        for b in candidates:
            # Prices never fall as bins are added, so moving i saves at most gain_out.
            if self._fits(state.loads[b], item.load) and not (
                prune and -gain_out - base_penalty >= best_delta
            ):
                key = state.key_with(b, i)
                delta = weighed(self.price(key) - state.costs[b] - gain_out, [(i, b)])
                if delta < best_delta:
                    best_delta, best_move = delta, (b, None, None)
            for j in state.members[b]:
                other = self.items[j]
                if not self._fits(state.loads[b], item.load, other.load):
                    continue
                without_j, cost_without_j = state.without(b, j)
                fall_b = cost_without_j - state.costs[b]
                if prune and fall_b - gain_out - base_penalty >= best_delta:
                    continue  # a - i + j costs at least a - i, and b - j + i at least b - j
                rise_b: int | None = None  # b - j + i against b, once priced
                if self._fits(state.loads[a], other.load, item.load):
                    rise_a = self.price(without_i | keys[j]) - state.costs[a]
                    if not (prune and rise_a + fall_b - base_penalty >= best_delta):
                        rise_b = self.price(without_j | keys[i]) - state.costs[b]
                        delta = weighed(rise_a + rise_b, [(i, b), (j, a)])
                        if delta < best_delta:
                            best_delta, best_move = delta, (b, j, None)
                # Ejection: i takes j's place, and j goes to a cart with room (not back to a).
                sink, rise_sink = -1, 0
                for s in sinks:
                    if s != b and self._fits(state.loads[s], other.load):
                        rise = self.price(state.key_with(s, j)) - state.costs[s]
                        if sink < 0 or rise < rise_sink:
                            sink, rise_sink = s, rise
                if sink < 0 or (
                    prune and fall_b - gain_out + rise_sink - base_penalty >= best_delta
                ):
                    continue
                if rise_b is None:
                    rise_b = self.price(without_j | keys[i]) - state.costs[b]
                delta = weighed(rise_b - gain_out + rise_sink, [(i, b), (j, sink)])
                if delta < best_delta:
                    best_delta, best_move = delta, (b, j, sink)
        if best_move is None:
            return ()
        target, partner, ejected_to = best_move
        state.remove(i)
        if partner is not None:
            state.remove(partner)
            state.add(a if ejected_to is None else ejected_to, partner)
        state.add(target, i)
        return (a, target) if ejected_to is None else (a, target, ejected_to)

    def _move_keys(
        self, state: _State, i: int, candidates: list[int], sinks: list[int]
    ) -> list[int]:
        """The batches :meth:`_best_move` may price for item ``i``'s moves, swaps and ejections
        (into ``sinks``) over ``candidates`` (all of them: the bounds that spare some depend on
        the prices)."""
        a = state.where[i]
        item, keys = self.items[i], self.keys
        without_i = state.key_without(a, i)
        out = [without_i] if len(state.members[a]) > 1 else []
        for b in candidates:
            if self._fits(state.loads[b], item.load):
                out.append(state.key_with(b, i))
            for j in state.members[b]:
                other = self.items[j]
                if not self._fits(state.loads[b], item.load, other.load):
                    continue
                without_j = state.key_without(b, j)
                out += (without_j, without_j | keys[i])
                if self._fits(state.loads[a], other.load, item.load):
                    out.append(without_i | keys[j])
                out += (
                    state.key_with(s, j)
                    for s in sinks
                    if s != b and self._fits(state.loads[s], other.load)
                )
        return out

    def _sinks(self, state: _State, a: int) -> list[int]:
        """Carts other than ``a`` with room for the smallest order, where an order that makes
        way for another may go (ejection, see the module docstring); none where prices are
        slow (see :data:`EJECTION`)."""
        if not self.ejection:
            return []
        smallest = self._smallest
        return [
            s
            for s, members in enumerate(state.members)
            if members and s != a and self._fits(state.loads[s], smallest)
        ]

    def _penalty_after(self, state: _State, moves: list[tuple[int, int]]) -> int:
        """The penalty once every (item, batch) move is made, the state left as it is."""
        changed: dict[int, set[int]] = {}
        for i, _ in moves:
            a = state.where[i]
            changed.setdefault(a, set(state.members[a])).discard(i)
        for i, b in moves:
            changed.setdefault(b, set(state.members[b])).add(i)
        base = self._entries(state)
        entries = [e for e in base if e[1] not in changed]
        for b, mine in changed.items():
            if mine:
                key = 0
                for i in mine:
                    key |= self.keys[i]
                entries.append(self._entry(self.price(key), self._terms_of(mine), b))
        entries.sort()
        if self._split:
            return self._schedule(entries)
        # The schedule up to the first entry that differs is the state's own: resume there.
        marks = state.marks
        if marks is None:
            marks = state.marks = []
            self._schedule(base, marks=marks)
        first, n = 0, min(len(entries), len(base))
        while first < n and entries[first] is base[first]:
            first += 1
        return self._schedule(entries, first, marks[first])

    def _fits(self, load: Load, add: Load, remove: Load | None = None) -> bool:
        """Whether a batch of ``load`` still fits on a cart with ``add`` on and ``remove`` off.

        Most carts limit units only; for them this is one integer sum (it runs for every move
        and swap the local search weighs).
        """
        if self._units_only:
            units = load.units + add.units - (remove.units if remove is not None else 0)
            return units <= self.cart.capacity_units
        return fits(self.cart, load + add if remove is None else load + add - remove)

    def _share(self, load: Load) -> float:
        """The share of a cart ``load`` takes up, by its tightest limit."""
        return max((used / cap for cap, used in limits(self.cart, load) if cap > 0), default=0.0)

    def _eliminate(self, state: _State, deadline: float) -> bool:
        """Spread the lightest batch's orders over the others, if that does not lengthen the plan.

        Each order goes where it adds least among the batches it fits on; one that fits on none
        takes the place of a smaller order, which is placed in turn. The plan is kept if the
        walk, after local search, is no longer than before; otherwise it is rolled back.
        """
        live = [b for b, m in enumerate(state.members) if m]
        if len(live) <= max(1, self.fewest_carts):
            return False
        before = self.objective(state)
        state.checkpoint()
        victim = min(live, key=lambda b: (self._share(state.loads[b]), b))
        pending = sorted(state.members[victim])
        for i in pending:
            state.remove(i)
        others = [b for b in live if b != victim]
        changed: set[int] = set()
        for _ in range(ELIMINATION_STEPS):
            if not pending or time.monotonic() >= deadline:
                break
            pending.sort(key=lambda i: (self._share(self.items[i].load), i))
            i = pending.pop()
            item = self.items[i]
            near = others
            if len(others) > ELIMINATION_BATCHES:
                x, y = item.point
                near = heapq.nsmallest(
                    ELIMINATION_BATCHES,
                    others,
                    key=lambda b: abs(state.centroid(b)[0] - x) + abs(state.centroid(b)[1] - y),
                )
            best: tuple[int, int, int | None] | None = None
            self.price.prefetch(
                state.key_with(b, i) for b in near if self._fits(state.loads[b], item.load)
            )
            for b in near:
                if self._fits(state.loads[b], item.load):
                    delta = self.price(state.key_with(b, i)) - state.costs[b]
                    if best is None or delta < best[0]:
                        best = (delta, b, None)
            if best is None:
                share = self._share(item.load)
                for b in near:
                    for j in state.members[b]:
                        other = self.items[j].load
                        if self._share(other) >= share or not self._fits(
                            state.loads[b], item.load, other
                        ):
                            continue
                        delta = self.price(state.key_without(b, j) | self.keys[i]) - state.costs[b]
                        if best is None or delta < best[0]:
                            best = (delta, b, j)
            if best is None:
                pending.append(i)
                break
            _, b, displaced = best
            if displaced is not None:
                state.remove(displaced)
                pending.append(displaced)
            state.add(b, i)
            changed.add(b)
        if not pending:
            self._local_search(state, deadline, [j for b in changed for j in state.members[b]])
            if self.objective(state) <= before:
                state.checkpoint()
                return True
        state.rollback()
        return False

    def _kick(self, state: _State) -> set[int]:
        """Remove a few orders and reinsert them by regret; the batches it changed.

        The orders removed are an order and its nearest neighbours or, in a share of kicks,
        every order of a light batch and of the batch nearest it (which lets the orders of two
        carts be regrouped, or packed onto one).
        """
        n = len(self.items)
        live = [b for b, m in enumerate(state.members) if m]
        if len(live) > 1 and self.rng.random() < BATCH_KICK_SHARE:
            first = min(
                (self.rng.choice(live) for _ in range(LIGHT_OF)),
                key=lambda b: (self._share(state.loads[b]), b),
            )
            x, y = state.centroid(first)
            _, second = min(
                (abs(cx - x) + abs(cy - y), b)
                for b in live
                if b != first
                for cx, cy in (state.centroid(b),)
            )
            chosen = sorted(state.members[first] | state.members[second])
        else:
            size = self.rng.randint(2, max(2, min(MAX_KICK, n // 4 + 1)))
            seed = self.rng.randrange(n)
            chosen = [seed, *self.neighbours[seed]][: size + 2]
            self.rng.shuffle(chosen)
            chosen = chosen[:size]
        touched = {state.remove(i) for i in chosen}
        self._insert_by_regret(state, chosen, touched)
        return touched

    def _insert_by_regret(self, state: _State, pending: list[int], touched: set[int]) -> None:
        """Insert every pending order, the one that would lose most by waiting first."""
        pending = list(pending)
        while pending:
            pick: tuple[float, int, int, int] | None = None  # (-regret, delta, item, batch)
            room = {
                i: [
                    b
                    for b in self._candidates(state, i)
                    if self._fits(state.loads[b], self.items[i].load)
                ]
                for i in pending
            }
            if self.price.bulk:
                self.price.prefetch(
                    [self.keys[i] for i in pending]
                    + [state.key_with(b, i) for i, near in room.items() for b in near]
                )
            for i in pending:
                options = sorted(
                    (self.price(state.key_with(b, i)) - state.costs[b], b) for b in room[i]
                )
                alone = self.price(self.keys[i])
                if not options or alone < options[0][0]:
                    options.insert(0, (alone, -1))
                regret = options[1][0] - options[0][0] if len(options) > 1 else math.inf
                key = (-regret, options[0][0], i, options[0][1])
                if pick is None or key < pick:
                    pick = key
            assert pick is not None
            _, _, i, target = pick
            if target < 0:
                empty = next((b for b, m in enumerate(state.members) if not m), None)
                target = state.new_batch() if empty is None else empty
            state.add(target, i)
            touched.add(target)
            pending.remove(i)
