"""Column generation over carts priced exactly by the one-block route DP, and a dive.

A plan is a choice of carts (sets of orders) covering every order exactly once. The linear
relaxation over every capacity-feasible cart is a close guide to the best plan: on the
100-order benchmark waves of 5-8 orders a cart it lies 0.4-0.7 % below the best plan known on
Henn-Waescher's geometry and 2.5-3 % on Muter-Oencan's (``benchmarks/results/picking.md``),
where local search over order moves and swaps stops 3-5 % above it. Those carts number 10^8 to
10^13, so column generation finds the ones that matter:

* **Master** (:class:`Master`): the LP over the carts generated so far (HiGHS, simplex), a row
  per order (covered exactly once) and one asking for at least the fewest carts the units need.
* **Pricing** (:func:`price_all`): a branch and bound over sets of orders for the carts whose
  route costs less than the duals of their orders. Routes only grow with orders, so a cart's
  reduced cost, less the most dual the orders after it could still add in its room (a
  fractional knapsack), bounds every cart grown from it; each level of the search is priced at
  once by :func:`routing.sweep.sweep_prices`. Run in full it proves the LP optimal (the
  benchmark's lower bound, :mod:`benchmarks.batching_bound`); the planner runs it as a beam.
  This follows Wahlen and Gschwind's labelling with completion bounds. The benchmark's bound
  adds subset-row cuts (:class:`SubsetRows`), whose duals pricing charges to the carts they
  hold; the planner's LP has none (on the 100-order benchmark waves they raise the LP by
  0.04-0.34 %, ``benchmarks/results/picking.md``).
* **Dive** (:func:`dive`): carts the LP uses are fixed, the most used first, each fixing
  followed by a round of pricing over the orders still free (a price-and-dive), until the LP
  is integral or a fixing leaves it infeasible.

:func:`search` puts them together for the planner (:func:`picking.wave.plan` runs it in a
second process): local search for a first plan, column generation from its carts, first with
:mod:`picking.partition`'s heuristic pricing (started from a plan, the LP sits at that plan's
degenerate vertex for many rounds of exact pricing; the heuristic's descents leave it sooner),
then with the beam, then dives of the kinds in :data:`DIVES` in turn, each followed by a
short local search from its carts, and local search from the best plan to the end. One dive
and local search from it for the rest of the time ended 10,692-11,076 m on the 100-order
Henn-Waescher wave at 75 items (bound 10,568 m), as dives from the same LP end 1-4 % apart and
the local search stalls within half a second; with one to three dives in the time the plan
on two processes is 10,646-10,706 m (six runs; the local search alone 11,020 m). At 60
items it is 11,690-11,768 m (bound 11,644 m). On Muter-Oencan's waves the LP is not always
solved in the time and the plans are seldom shorter than the local search's.

Tried and dropped: without the dive's pricing the generated carts rarely pack the orders the
fixed carts leave (a dive over them ended with 3-9 carts too many, leaving the repair to the
local search), and a MIP over the carts nearest the LP (HiGHS) often found nothing better
than its start within seconds (with no start, after 3 s its best plan was 60 % longer than a
dive's); CP-SAT over every cart of a converged LP (12,700-26,300 carts, two workers, 120 s)
found nothing better than the plan it was hinted. Carts are limited in units only (the
knapsack is over units), and prices are those of a closed walk in one block
(:func:`routing.sweep.handles`).
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import highspy
import numpy as np
import numpy.typing as npt

from picking.batching import Batcher, BatchPlan
from picking.partition import Partitioner
from routing.highs import quiet_highs
from routing.rectangular import RectangularGraph
from routing.sweep import IntArray, aisle_picks, sweep_prices

FloatArray = npt.NDArray[np.float64]
log = logging.getLogger(__name__)

#: A cart enters the LP when its reduced cost is below minus this many mm.
EPSILON_MM = 1.0
#: Carts pricing keeps per level of its search, at most (those of least reduced cost).
ROUND_CARTS = 1_000
#: Carts of one level the search extends, at most; beyond, it extends the most promising ones
#: and proves nothing.
MAX_NODES = 2_000_000
#: Carts whose children are weighed at once (one row each per order).
CHILD_CHUNK = 20_000
#: The planner's beam (:func:`improve`): carts extended per level and kept per level. Measured
#: on the 100-order Henn-Waescher wave at 60 items (one core, ILS 1.5 s, then column
#: generation to 6 s, a dive and local search to 9.5 s): a beam of 30 left the LP 0.6 % higher
#: and 500 took a second a round (5 rounds in the time, the LP still at the starting plan's).
BEAM_NODES = 500
BEAM_CARTS = 1_000
#: Carts the planner's master may hold; beyond, it keeps the half of least reduced cost.
MOST_CARTS = 6_000
#: Carts each dive starts from (those of least reduced cost; see :meth:`Master.nearest`).
DIVE_START_CARTS = 2_000
#: The dives :func:`improve` takes in turn: whether each fixes one cart at a time (else every
#: cart above one half at once), and the beam of the pricing after each fixing (carts extended
#: and kept per level). Dives from the same LP end 1-4 % apart (on the 100-order
#: Henn-Waescher wave at 75 items, 10,640-11,144 m after 0.4-1.3 s each), and no one kind is
#: the best every time. The slowest comes first, as another starts only when the longest so
#: far would end in time: second, it was cut short in two of three runs on Muter-Oencan's wave
#: at 36 items (plans 1,986-2,061 m; first, 1,976-2,004 m), and it gave the best plan in each
#: of three runs at 75 items (10,646-10,694 m, against 10,664-10,798 m second).
DIVES = ((True, 300, 500), (False, 30, 200), (False, 300, 500), (True, 30, 200))
#: Shares of :func:`search`'s time: local search until the first, column generation with the
#: planner's heuristic pricing until the second (it leaves the plan's degenerate vertex sooner),
#: with the beam until the third, then dives, each followed by local search for the fourth
#: (from a dive's carts it stalls within about half a second), until the fifth; local search
#: from the best plan found ends the time. Column generation until 0.65 left time for two dives
#: at most; most of what the beam adds after half the time moves the LP by 0.1-0.3 %.
SEARCH_FIRST_SHARE = 0.08
SEARCH_DESCENT_SHARE = 0.35
SEARCH_COLUMNS_SHARE = 0.5
SEARCH_AFTER_DIVE_SHARE = 0.06
SEARCH_DIVES_SHARE = 0.94


@dataclass(frozen=True)
class SubsetRows:
    """Subset-row cuts on three orders each: at most one cart of a plan holds two or more of
    a cut's orders (true of every partition, not of every fractional one). A cart holding two
    or more pays the cut's ``penalty`` in reduced cost: minus the cut row's dual, at least 0.
    """

    triples: IntArray  # (cuts, 3) order indices
    penalties: FloatArray  # (cuts,)


Bits = npt.NDArray[np.uint64]
_ONE = np.uint64(1)


def _bits(positions: IntArray, words: int) -> Bits:
    """One row of ``words`` 64-bit words per position, with that position's bit set (none
    when ``words`` is 0: no cuts to check)."""
    out = np.zeros((len(positions), words), dtype=np.uint64)
    if words:
        out[np.arange(len(positions)), positions // 64] = _ONE << (positions % 64).astype(np.uint64)
    return out


def _conflicts(order: Sequence[int], apart: Sequence[tuple[int, int]], words: int) -> Bits | None:
    """Per position of pricing's order list, the bits of the positions no cart may hold with
    it (None when there are none)."""
    if not apart:
        return None
    position = {j: p for p, j in enumerate(order)}
    out = np.zeros((len(order), words), dtype=np.uint64)
    for i, j in apart:
        if i in position and j in position:
            out[position[i]] |= _bits(np.array([position[j]]), words)[0]
            out[position[j]] |= _bits(np.array([position[i]]), words)[0]
    return out


class _CutSlots:
    """Per position of pricing's order list, the cuts on that order: the positions of their
    other two orders (``len(order)``, a bit never set, for an order left out of the list) and
    their penalties, padded to the most cuts on one order with penalty 0."""

    def __init__(self, order: Sequence[int], cuts: SubsetRows) -> None:
        absent = len(order)
        position = {j: p for p, j in enumerate(order)}
        slots: list[list[tuple[int, int, float]]] = [[] for _ in order]
        for triple, penalty in zip(cuts.triples.tolist(), cuts.penalties.tolist(), strict=True):
            if penalty <= 0:
                continue
            for k, j in enumerate(triple):
                if j in position:
                    a, b = (position.get(triple[m], absent) for m in range(3) if m != k)
                    slots[position[j]].append((a, b, penalty))
        width = max((len(s) for s in slots), default=0)
        self.a = np.full((len(order), width), absent, dtype=np.int64)
        self.b = np.full((len(order), width), absent, dtype=np.int64)
        self.penalty = np.zeros((len(order), width))
        for p, s in enumerate(slots):
            for k, (a, b, penalty) in enumerate(s):
                self.a[p, k], self.b[p, k], self.penalty[p, k] = a, b, penalty

    def extra(self, bits: Bits, added: IntArray) -> FloatArray:
        """What adding the order at position ``added`` to carts of ``bits`` adds in
        penalties: each cut on it of whose other two orders the cart holds exactly one."""
        rows = np.arange(len(added))[:, None]

        def holds(position: IntArray) -> npt.NDArray[np.bool_]:
            shift = (position % 64).astype(np.uint64)
            held: npt.NDArray[np.bool_] = (bits[rows, position // 64] >> shift) & _ONE == 1
            return held

        a, b = self.a[added], self.b[added]
        out: FloatArray = (self.penalty[added] * (holds(a) ^ holds(b))).sum(axis=1)
        return out


class Knapsack:
    """Fractional-knapsack bounds on the duals the orders after each position can add.

    Row ``i`` holds the cumulative units and duals of the orders after position ``i``, best
    dual per unit first; the rows sit end to end in one sorted array (row ``i`` offset by
    ``i`` times more than any row's units), so one ``searchsorted`` serves every position.
    """

    def __init__(self, order: Sequence[int], units: IntArray, duals: FloatArray) -> None:
        n = len(order)
        self.width = n + 1
        self.weights = np.zeros((n, n + 1))
        self.profits = np.zeros((n, n + 1))
        self.lengths = np.arange(n + 1, 1, -1, dtype=np.int64)  # row i: n - i orders, and 0
        for i in range(n):
            rest = sorted(order[i + 1 :], key=lambda j: -duals[j] / units[j])
            w = np.cumsum([0.0] + [float(units[j]) for j in rest])
            p = np.cumsum([0.0] + [float(duals[j]) for j in rest])
            self.weights[i, : len(w)], self.weights[i, len(w) :] = w, w[-1] + 0.5
            self.profits[i, : len(p)], self.profits[i, len(p) :] = p, p[-1]
        self.offset = float(self.weights.max(initial=0.0)) + 1.0
        self.flat = (self.weights + self.offset * np.arange(n)[:, None]).ravel()

    def after(self, position: IntArray, room: IntArray) -> FloatArray:
        """Most dual the orders after each ``position`` can add in each ``room`` (>= 0)."""
        r = np.minimum(room.astype(float), self.offset - 1.0)  # beyond: every order fits
        at = np.searchsorted(self.flat, r + self.offset * position, side="right") - 1
        last = self.lengths[position] - 1
        full = np.minimum(at - position * self.width, last)
        part = np.minimum(full + 1, last)
        w_full, w_part = self.weights[position, full], self.weights[position, part]
        p_full, p_part = self.profits[position, full], self.profits[position, part]
        step = w_part - w_full
        share = np.where(step > 0, (r - w_full) / np.where(step > 0, step, 1.0), 0.0)
        out: FloatArray = p_full + share * (p_part - p_full)
        return out


def price_all(
    rect: RectangularGraph,
    depot: int,
    per_order: IntArray,
    units: IntArray,
    capacity: int,
    duals: FloatArray,
    cart_dual: float,
    max_nodes: int = MAX_NODES,
    most: int = ROUND_CARTS,
    deadline: float = math.inf,
    cuts: SubsetRows | None = None,
    apart: Sequence[tuple[int, int]] = (),
) -> tuple[dict[tuple[int, ...], int], float | None]:
    """Carts of reduced cost below ``-EPSILON_MM`` (with their prices; per level of the
    search the ``most`` least) that a branch and bound over the orders meets,
    and a lower bound on the least reduced cost of any cart
    (None when ``max_nodes`` stopped the proof).

    ``max_nodes`` and ``deadline`` turn the search into a beam (the planner's pricing): past
    them it extends the most promising carts only, or stops, and proves nothing.

    Orders of positive dual are taken in order of dual per unit; a cart is extended only by
    orders after its last. Its reduced cost is its route length (:func:`sweep_prices`, every
    cart of a level at once) less its duals and ``cart_dual``; a cart is not extended when that,
    less the most dual the orders after it could still add in the room left (a fractional
    knapsack), is not below ``-EPSILON_MM``: routes only grow with orders. Orders of dual at
    most zero are left out, as adding one never lowers a reduced cost.

    With ``cuts``, a cart also pays the penalty of every cut holding two or more of its orders;
    penalties only grow with orders too, so the bound ignores those still to come. No cart
    holds both orders of a pair in ``apart`` (a branch of :mod:`benchmarks.batching_bound`).
    """
    order = sorted(
        (j for j in range(len(units)) if duals[j] > 0), key=lambda j: -duals[j] / units[j]
    )
    knapsack = Knapsack(order, units, duals)
    picks = per_order[order]
    sizes, gains = units[order], duals[order]
    # One row per cart of the current level: its positions in ``order`` (ascending).
    members = np.arange(len(order))[:, None]
    occupied, load, gain = picks.copy(), sizes.copy(), gains.copy()
    slots = _CutSlots(order, cuts) if cuts is not None else None
    words = len(order) // 64 + 1 if slots is not None or apart else 0
    bits = _bits(np.arange(len(order)), words)
    conflicts = _conflicts(order, apart, words)
    found: dict[tuple[int, ...], int] = {}
    least, proven = np.inf, True
    while len(members):
        prices = sweep_prices(rect, depot, occupied)
        reduced = prices - gain - cart_dual
        least = min(least, float(reduced.min()))
        negative = np.flatnonzero(reduced < -EPSILON_MM)
        if len(negative) > most:  # the most negative suffice: the caller adds no more
            negative = negative[np.argpartition(reduced[negative], most)[:most]]
        for k in negative.tolist():
            found[tuple(sorted(order[i] for i in members[k]))] = int(prices[k])
        if time.monotonic() >= deadline:
            proven = False
            break
        last = members[:, -1]
        hope = reduced - knapsack.after(last, capacity - load)
        keep = np.flatnonzero(hope < -EPSILON_MM)
        if len(keep) > max_nodes:
            proven = False
            keep = keep[np.argsort(hope[keep], kind="stable")[:max_nodes]]
        members, last, occupied, load, gain, reduced, bits = (
            members[keep], last[keep], occupied[keep], load[keep], gain[keep], reduced[keep],
            bits[keep],
        )  # fmt: skip
        grown: list[tuple[IntArray, IntArray, IntArray, FloatArray, Bits]] = []
        positions = np.arange(len(order))
        for first in range(0, len(members), CHILD_CHUNK):
            chunk = slice(first, first + CHILD_CHUNK)
            fit = (last[chunk, None] < positions) & (load[chunk, None] + sizes <= capacity)
            parents, qs = np.nonzero(fit)
            parents += first
            # A child costs at least its parent: skip it unpriced when even then neither it
            # nor any cart grown from it could price below zero.
            room = capacity - load[parents] - sizes[qs]
            hope = reduced[parents] - gains[qs] - knapsack.after(qs, room)
            good = hope < -EPSILON_MM
            if conflicts is not None:
                good &= ~(bits[parents] & conflicts[qs]).any(axis=1)
            parents, qs, hope = parents[good], qs[good], hope[good]
            extra = np.zeros(len(qs))
            if slots is not None and len(qs):
                extra = slots.extra(bits[parents], qs)
                good = hope + extra < -EPSILON_MM
                parents, qs, extra = parents[good], qs[good], extra[good]
            if len(parents):
                grown.append((
                    np.hstack([members[parents], qs[:, None]]),
                    occupied[parents] | picks[qs],
                    load[parents] + sizes[qs],
                    gain[parents] + gains[qs] - extra,
                    bits[parents] | _bits(qs, words),
                ))  # fmt: skip
        if not grown:
            break
        members = np.vstack([g[0] for g in grown])
        occupied = np.vstack([g[1] for g in grown])
        load = np.concatenate([g[2] for g in grown])
        gain = np.concatenate([g[3] for g in grown])
        bits = np.vstack([g[4] for g in grown])
    return found, (min(least, -EPSILON_MM) if proven else None)


class Master:
    """The restricted master LP over generated carts (order tuples) with their prices."""

    def __init__(self, n: int, fewest: int) -> None:
        self.n, self.fewest = n, fewest
        self.highs = quiet_highs()
        empty = np.zeros(0, dtype=np.int32)
        ones = np.ones(n)
        self.highs.addRows(n, ones, ones, 0, empty, empty, np.zeros(0))
        self.highs.addRows(1, np.array([float(fewest)]), np.array([highspy.kHighsInf]), 0,
                           empty, empty, np.zeros(0))  # fmt: skip
        self.carts: list[tuple[int, ...]] = []
        self.costs: list[int] = []
        self.known: dict[tuple[int, ...], int] = {}  # cart -> its column

    def add(self, carts: Sequence[tuple[int, ...]], costs: Sequence[int]) -> None:
        fresh = [(c, p) for c, p in zip(carts, costs, strict=True) if c not in self.known]
        if not fresh:
            return
        rows = [self.rows(c) for c, _ in fresh]
        index = [i for r in rows for i in r]
        starts = np.cumsum([0] + [len(r) for r in rows[:-1]]).astype(np.int32)
        self.highs.addCols(
            len(fresh), np.array([p for _, p in fresh], dtype=float), np.zeros(len(fresh)),
            np.full(len(fresh), highspy.kHighsInf), len(index), starts,
            np.array(index, dtype=np.int32), np.ones(len(index)),
        )  # fmt: skip
        for c, p in fresh:
            self.known[c] = len(self.carts)
            self.carts.append(c)
            self.costs.append(p)

    def rows(self, cart: tuple[int, ...]) -> tuple[int, ...]:
        """The rows a cart's column has a 1 in: its orders' and the cart row."""
        return (*cart, self.n)

    def nearest(self, count: int) -> Master:
        """A master over the ``count`` carts of least reduced cost at the current optimum and
        every single order (the LP stays feasible): each simplex iteration scans every cart,
        and a dive over 10,000 carts spent 0.1-0.4 s per solve."""
        reduced = np.asarray(self.highs.getSolution().col_dual)
        chosen = set(np.argsort(reduced, kind="stable")[:count].tolist())
        chosen |= {k for k, cart in enumerate(self.carts) if len(cart) == 1}
        out = Master(self.n, self.fewest)
        keep = sorted(chosen)
        out.add([self.carts[k] for k in keep], [self.costs[k] for k in keep])
        return out

    def solve(self) -> tuple[FloatArray, FloatArray, float, float]:
        """Primal values, order duals, the cart row's dual and the LP value (mm)."""
        solved = self.try_solve()
        if solved is None:
            raise RuntimeError(f"master LP: {self.highs.getModelStatus()}")
        return solved

    def try_solve(self) -> tuple[FloatArray, FloatArray, float, float] | None:
        """:meth:`solve`, or None when the LP has no optimum (infeasible once carts are
        fixed)."""
        self.highs.run()
        if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        solution = self.highs.getSolution()
        duals = np.asarray(solution.row_dual)
        value = float(self.highs.getInfo().objective_function_value)
        return np.asarray(solution.col_value), duals[: self.n], float(duals[self.n]), value


def dive(
    master: Master,
    price: Callable[[FloatArray, float], dict[tuple[int, ...], int]],
    deadline: float = math.inf,
    one_at_a_time: bool = False,
) -> list[tuple[int, ...]]:
    """Carts of an integral LP solution reached by fixing carts (see the module docstring);
    the master's LP is left with them fixed.

    Each step fixes every cart above one half (they cannot share an order, as its row sums to
    one), or with ``one_at_a_time`` only the most used; when none is above one half, the most
    used (the cheapest on a tie).

    Each fixing is followed by a round of ``price`` (duals and the cart row's dual ->
    improving carts with their prices) over the orders not yet fixed (a price-and-dive):
    without it the generated carts rarely pack the orders the fixed ones leave.
    """
    highs = master.highs
    fixed: list[int] = []
    x = master.solve()[0]
    while time.monotonic() < deadline:
        free = np.flatnonzero(x > 1e-6)
        free = free[~np.isin(free, fixed)]
        if not len(free):
            break
        most = free[x[free] > 0.5 + 1e-6]
        costs = np.asarray(master.costs)[free]
        first = free[[int(np.lexsort((costs, -x[free]))[0])]]
        chosen = most if len(most) and not one_at_a_time else first
        for k in chosen.tolist():
            highs.changeColBounds(k, 1.0, highspy.kHighsInf)
        solved = master.try_solve()
        if solved is None:
            for k in chosen.tolist():
                highs.changeColBounds(k, 0.0, highspy.kHighsInf)
            break
        fixed.extend(chosen.tolist())
        x, duals, cart_dual, _ = solved
        duals = duals.copy()
        duals[[i for k in fixed for i in master.carts[k]]] = -1.0  # taken: left out
        found = price(duals, cart_dual)
        if found:
            master.add(list(found), list(found.values()))
            x = master.solve()[0]
    return [master.carts[k] for k in fixed]


def improve(
    rect: RectangularGraph,
    depot: int,
    per_order: IntArray,
    units: IntArray,
    capacity: int,
    initial: Sequence[Sequence[int]],
    deadline: float,
    dive_until: float,
    known: Sequence[tuple[tuple[int, ...], int]] = (),
) -> Iterator[list[tuple[int, ...]]]:
    """Carts for plans of the wave, by column generation with the beam pricing until
    ``deadline`` (``time.monotonic()``), then price-and-dives (:data:`DIVES` in turn) from its
    LP, one each time the caller asks, while the longest so far would end by ``dive_until``;
    every order is in at most one of a dive's carts. The carts each dive prices join the LP the
    next starts from.

    ``per_order``: each order's picks per aisle (:func:`routing.sweep.aisle_picks`);
    ``initial``: a plan (order indices per cart), whose carts seed the LP, with ``known``
    (carts as sorted order tuples, with their prices).
    """
    n = len(per_order)
    fewest = -(-int(units.sum()) // capacity)
    master = Master(n, fewest)
    seed = sorted({(i,) for i in range(n)} | {tuple(sorted(c)) for c in initial})
    occupied = np.array([np.bitwise_or.reduce(per_order[list(c)], axis=0) for c in seed])
    master.add(seed, sweep_prices(rect, depot, occupied).tolist())
    master.add([c for c, _ in known], [p for _, p in known])

    def price(
        duals: FloatArray, cart_dual: float, nodes: int, most: int, until: float
    ) -> dict[tuple[int, ...], int]:
        """The ``most`` carts of least reduced cost the beam of ``nodes`` finds."""
        found = price_all(
            rect, depot, per_order, units, capacity, duals, cart_dual, nodes, most, until
        )[0]
        ranked = sorted(found, key=lambda c: found[c] - float(duals[list(c)].sum()))
        return {c: found[c] for c in ranked[:most]}

    while time.monotonic() < deadline:
        _, duals, cart_dual, _ = master.solve()
        if len(master.carts) > MOST_CARTS:
            master = master.nearest(MOST_CARTS // 2)
        found = price(duals, cart_dual, BEAM_NODES, BEAM_CARTS, deadline)
        if not found:
            break  # the beam finds no improving cart
        master.add(list(found), list(found.values()))
    lp = master.solve()[3]
    longest = 0.0  # the longest a dive took: one cut short leaves its orders to the caller
    for k in itertools.count():
        began = time.monotonic()
        if k and began + longest >= dive_until:
            return
        one_at_a_time, nodes, most = DIVES[k % len(DIVES)]
        trial = master.nearest(DIVE_START_CARTS)
        pricing = functools.partial(price, nodes=nodes, most=most, until=dive_until)
        carts = dive(trial, pricing, dive_until, one_at_a_time)
        log.debug(
            "dive %d: LP %.0f mm over %d carts; fixed %d carts, %d mm", k, lp,
            len(master.carts), len(carts), sum(trial.costs[trial.known[c]] for c in carts),
        )  # fmt: skip
        fresh = [c for c in trial.carts if c not in master.known]
        master.add(fresh, [trial.costs[trial.known[c]] for c in fresh])
        lp = master.solve()[3]
        longest = max(longest, time.monotonic() - began)
        yield carts


def search(
    batcher: Batcher,
    rect: RectangularGraph,
    depot: int,
    deadline: float,
    publish: Callable[[BatchPlan], None] | None = None,
) -> BatchPlan:
    """A plan for ``batcher``'s wave by the batcher's local search, column generation from its
    plan, dives, each followed by local search from its carts (the orders they leave out each
    alone at first), and local search from the best plan found until ``deadline``.

    ``depot``: the depot index the walks start and end at (:func:`routing.sweep.handles`).
    ``publish``: called with every plan shorter than those before it, so that a caller who
    cannot wait for the end still has the best plan found so far.
    """
    started = time.monotonic()
    span = max(deadline - started, 0.0)
    best = batcher.solve(deadline=started + SEARCH_FIRST_SHARE * span)

    def better(plan: BatchPlan) -> None:
        nonlocal best
        if _length(plan) < _length(best):
            best = plan
            if publish is not None:
                publish(best)

    if publish is not None:
        publish(best)
    items = batcher.items
    partitioner = Partitioner(items, batcher.cart, batcher.cost, batcher.fewest_carts)
    known = partitioner.carts(best.batches, started + SEARCH_DESCENT_SHARE * span)
    per_order = aisle_picks(rect, [item.locs for item in items])
    units = np.array([item.load.units for item in items], dtype=np.int64)
    capacity = batcher.cart.capacity_units
    dives = improve(
        rect, depot, per_order, units, capacity, best.batches,
        started + SEARCH_COLUMNS_SHARE * span, started + SEARCH_DIVES_SHARE * span, known,
    )  # fmt: skip
    for carts in dives:
        covered = {i for cart in carts for i in cart}
        alone = [[i] for i in range(len(items)) if i not in covered]
        until = min(time.monotonic() + SEARCH_AFTER_DIVE_SHARE * span, deadline)
        found = batcher.solve(deadline=until, initial=[list(c) for c in carts] + alone)
        log.debug("search: %.1f s in, %d orders left out by the dive, %d mm after local search",
                  time.monotonic() - started, len(alone), found.distance_mm)  # fmt: skip
        better(found)
    if time.monotonic() < deadline:
        better(batcher.solve(deadline=deadline, initial=best.batches))
    log.debug("search: %d mm", best.distance_mm)
    return best


def _length(plan: BatchPlan) -> int:
    return plan.distance_mm + plan.penalty_mm
