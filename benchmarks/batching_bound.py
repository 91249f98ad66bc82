"""A lower bound on a wave's least total walking distance: column generation, priced exactly.

For waves with too many capacity-feasible carts to enumerate (10^8 to 10^13 on the 100-order
benchmark classes), the linear relaxation of set partitioning, "each order on exactly one
cart, at least as many carts as the units need", is solved over *every* such cart by column
generation (:mod:`picking.columns`), each cart priced by its shortest route (Ratliff &
Rosenthal's DP for one block, :func:`routing.sweep.sweep_prices`):

1. The restricted master LP (HiGHS) starts from every order alone and the carts of a plan.
2. Pricing (:func:`picking.columns.price_all`), run in full rather than as the planner's beam,
   finds the least reduced cost of any cart. (A MIP over the DP's states was tried first: its
   relaxation shares one long walk between fractions of every order, and it took minutes per
   pricing.)
3. Each proven pricing gives a bound even before the LP is optimal: with order duals ``pi``,
   cart-row dual ``mu`` and no cart of reduced cost below ``r``, every partition costs at
   least ``sum(pi) + (mu + r) * K`` with ``K`` the fewest carts (when ``mu + r >= 0``;
   otherwise ``K`` is the number of orders). Once pricing proves that no cart has a reduced
   cost below ``-EPSILON_MM``, that is the LP's value up to ``K`` mm.
4. Once pricing proves the LP optimal, subset-row cuts are separated (:func:`violated_triples`):
   for three orders, at most one cart of a plan holds two or more of them, which a
   fractional LP may break. The most violated become rows of the master
   (:class:`CutMaster`), pricing charges a cart each cut's dual it would take part in
   (:class:`picking.columns.SubsetRows`), and column generation resumes, until no cut is
   violated. The bound then reads ``sum(pi) + sum(sigma) + (mu + r) * K`` with the cuts' duals
   ``sigma`` (at most zero): a plan's carts take part in each cut at most once.
   On the 100-order Muter-Oencan waves this raised the bound from 1,960.0 m to 1,961.7 m at
   36 items and from 1,518.7 m to 1,523.9 m at 48 (about 300 cuts, 20-45 s in all); lowering
   the violation needed to 0.001 or allowing more cuts per order added nothing.

5. Optionally (``branch_seconds``), branch and price raises the bound further: best bound
   first, each node splits on the pair of orders whose share of carts together in its LP is
   nearest one half, of ``STRONG_PAIRS`` such pairs the one whose branches raise the LP over
   the carts at hand most: one branch keeps the pair on one cart (pricing takes the two as one
   order), the other on different carts (pricing never holds both). Each node is solved by
   column generation with cuts like the root, and its bound holds for every plan it allows;
   the bound is the least over the nodes left open, and once none is left it is the optimum.
   On a 40-order Muter-Oencan wave at 36 items that took 46 nodes (30 s), on Henn-Waescher's
   at 60 items 992 nodes in 300 s left 0.24 % open (the root 0.95 %); on 100 orders a node
   raises the bound by about 0.03 % of it, so a few minutes add 0.05-0.15 %.

A MIP over the generated carts, started from the plan, then gives a cover: the best plan this
method knows. The bound shares the planner's pricing, not its search: the pricing's least
reduced cost, with and without cuts, is checked against brute force over every cart, the DP's
prices against the planner's scalar DP, the bound without cuts against the LP over every cart
and with them against the exact optimum of small waves, where branch and price closes on it
(``tests/test_columns.py``); here a sample of the carts is priced by ``RouteCoster`` again.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import highspy
import numpy as np
import numpy.typing as npt

from picking.columns import (
    MAX_NODES,
    ROUND_CARTS,
    FloatArray,
    Master,
    SubsetRows,
    price_all,
)
from routing.highs import quiet_highs
from routing.rectangular import RectangularGraph
from routing.sweep import IntArray, sweep_prices

log = logging.getLogger(__name__)

#: Early duals prune little, so the first rounds extend at most this many carts per level of
#: the pricing's search (proving nothing), ten times more after each round that finds nothing.
FIRST_NODES = 500
#: Time limit of the final MIP over the generated carts, and the carts it may use (those of
#: least reduced cost).
COVER_SECONDS = 60.0
COVER_CARTS = 2_000
#: Subset-row cuts added per round once pricing proves the LP optimal (the most violated), at
#: most ``CUTS_PER_ORDER`` per order per round, and in all.
ROUND_CUTS = 100
CUTS_PER_ORDER = 5
MOST_CUTS = 1_000
#: A cut is violated when its carts' values sum to more than 1 plus this.
CUT_VIOLATION = 0.01
#: Pairs of orders the branch and price weighs for each branching (strong branching over the
#: restricted LP).
STRONG_PAIRS = 10


class CutMaster(Master):
    """The master LP with subset-row cuts: a row per cut on three orders, whose carts are the
    ones holding two or more of them, at most 1."""

    def __init__(self, n: int, fewest: int) -> None:
        super().__init__(n, fewest)
        self.triples: list[tuple[int, int, int]] = []
        self._cut_rows: dict[int, list[int]] = {}  # order -> rows of the cuts on it

    def rows(self, cart: tuple[int, ...]) -> tuple[int, ...]:
        held: dict[int, int] = {}
        for i in cart:
            for row in self._cut_rows.get(i, ()):
                held[row] = held.get(row, 0) + 1
        return (*super().rows(cart), *sorted(row for row, k in held.items() if k >= 2))

    def add_cuts(self, triples: Sequence[tuple[int, int, int]]) -> None:
        """Rows for ``triples``, each over the carts generated so far that hold two of it."""
        member = np.zeros((len(self.carts), self.n), dtype=np.int8)
        for k, cart in enumerate(self.carts):
            member[k, list(cart)] = 1
        starts: list[int] = []
        index: list[int] = []
        for t, triple in enumerate(triples):
            row = self.n + 1 + len(self.triples) + t
            for i in triple:
                self._cut_rows.setdefault(i, []).append(row)
            starts.append(len(index))
            index.extend(np.flatnonzero(member[:, list(triple)].sum(axis=1) >= 2).tolist())
        self.highs.addRows(
            len(triples), np.full(len(triples), -highspy.kHighsInf), np.ones(len(triples)),
            len(index), np.array(starts, dtype=np.int32), np.array(index, dtype=np.int32),
            np.ones(len(index)),
        )  # fmt: skip
        self.triples.extend(triples)

    def cuts(self) -> SubsetRows:
        """The cuts with their penalties in pricing (minus the last solve's row duals)."""
        duals = np.asarray(self.highs.getSolution().row_dual)[self.n + 1 :]
        penalties = np.maximum(-duals, 0.0)  # a dual above 0 is the simplex's tolerance
        return SubsetRows(np.array(self.triples, dtype=np.int64).reshape(-1, 3), penalties)


def violated_triples(
    carts: Sequence[tuple[int, ...]], values: FloatArray, n: int, known: set[tuple[int, int, int]]
) -> list[tuple[int, int, int]]:
    """The triples of orders whose subset-row cut the LP's ``values`` violate most (not in
    ``known``; at most ``ROUND_CUTS``, ``CUTS_PER_ORDER`` per order). A triple's left-hand
    side is the pairs' sums over the carts holding both less twice the carts holding all
    three, so that a cart holding two or three counts once."""
    used = np.flatnonzero(values > 1e-9)
    member = np.zeros((len(used), n))
    for r, k in enumerate(used.tolist()):
        member[r, list(carts[k])] = 1.0
    weighted = member * values[used, None]
    pairs = weighted.T @ member
    found: list[tuple[float, int, int, int]] = []
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    for i in range(n):
        triples = (weighted * member[:, i : i + 1]).T @ member
        lhs = pairs[i][:, None] + pairs[i][None, :] + pairs - 2.0 * triples
        lhs[: i + 1, :] = 0.0
        js, ks = np.nonzero((lhs > 1.0 + CUT_VIOLATION) & upper)
        found.extend((float(lhs[j, k]), i, int(j), int(k)) for j, k in zip(js, ks, strict=True))
    found.sort(reverse=True)
    chosen: list[tuple[int, int, int]] = []
    per_order: dict[int, int] = {}
    for _, i, j, k in found:
        key = (i, j, k)
        if key in known or any(per_order.get(m, 0) >= CUTS_PER_ORDER for m in key):
            continue
        chosen.append(key)
        for m in key:
            per_order[m] = per_order.get(m, 0) + 1
        if len(chosen) >= ROUND_CUTS:
            break
    return chosen


@dataclass
class Bound:
    """What column generation, and branching after it, proved about a wave (mm)."""

    lower_mm: float  # no partition of the wave into carts is shorter
    lp_mm: float  # the root's last restricted LP (equal to root_mm once converged)
    upper_mm: int  # the best plan found: a cover by the generated carts, or a node's ...
    cover: list[tuple[int, ...]] = field(repr=False)  # ... carts (orders), at most the plan
    converged: bool  # exact pricing found no cart of negative reduced cost at the root
    carts: list[tuple[int, ...]] = field(repr=False)  # the generated carts (orders) ...
    prices: list[int] = field(repr=False)  # ... and their route lengths
    rounds: int
    proofs: int  # rounds whose pricing was proven
    seconds: float
    root_mm: float = -np.inf  # the root's bound, before branching
    nodes: int = 0  # nodes of the branch and price solved after the root


@dataclass(frozen=True)
class Branch:
    """The decisions of a node of the branch and price (Ryan and Foster's): pairs of orders on
    one cart, and pairs on different carts."""

    together: tuple[tuple[int, int], ...] = ()
    apart: tuple[tuple[int, int], ...] = ()

    def groups(self, n: int) -> list[tuple[int, ...]]:
        """The orders in groups that share a cart (every order in one, most alone)."""
        parent = list(range(n))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i, j in self.together:
            parent[find(i)] = find(j)
        out: dict[int, list[int]] = {}
        for i in range(n):
            out.setdefault(find(i), []).append(i)
        return sorted(tuple(g) for g in out.values())

    def allows(self, member: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """Which carts (rows of ``member``: the orders each holds) the decisions allow."""
        ok = np.ones(len(member), dtype=bool)
        for i, j in self.together:
            ok &= member[:, i] == member[:, j]
        for i, j in self.apart:
            ok &= ~(member[:, i] & member[:, j])
        return ok


def price_branch(
    rect: RectangularGraph,
    depot: int,
    per_order: IntArray,
    units: IntArray,
    capacity: int,
    duals: FloatArray,
    cart_dual: float,
    nodes: int,
    cuts: SubsetRows | None,
    branch: Branch,
) -> tuple[dict[tuple[int, ...], int], float | None]:
    """:func:`price_all` over the carts ``branch`` allows: each group of orders that share a
    cart is priced as one order (its picks, units and duals summed), a cut on two orders of one
    group becomes a charge on the group, and pairs kept apart are kept apart."""
    n = len(per_order)
    groups = branch.groups(n)
    of = np.empty(n, dtype=np.int64)
    for g, members in enumerate(groups):
        of[list(members)] = g
    g_picks = np.array([np.bitwise_or.reduce(per_order[list(m)], axis=0) for m in groups])
    g_units = np.array([int(units[list(m)].sum()) for m in groups], dtype=np.int64)
    g_duals = np.array([float(duals[list(m)].sum()) for m in groups])
    g_cuts = None
    if cuts is not None:
        mapped = of[cuts.triples]
        distinct = (
            (mapped[:, 0] != mapped[:, 1])
            & (mapped[:, 0] != mapped[:, 2])
            & (mapped[:, 1] != mapped[:, 2])
        )
        for t in np.flatnonzero(~distinct).tolist():
            a, b, _ = mapped[t].tolist()
            g_duals[a if a in mapped[t, 1:] else b] -= cuts.penalties[t]
        g_cuts = SubsetRows(mapped[distinct], cuts.penalties[distinct])
    g_apart = sorted({(int(of[i]), int(of[j])) for i, j in branch.apart})
    found, least = price_all(
        rect, depot, g_picks, g_units, capacity, g_duals, cart_dual, nodes, cuts=g_cuts,
        apart=g_apart,
    )  # fmt: skip
    carts = {tuple(sorted(i for g in cart for i in groups[g])): p for cart, p in found.items()}
    return carts, least


def fractional_pairs(
    carts: Sequence[tuple[int, ...]], values: FloatArray, n: int, count: int
) -> list[tuple[int, int]]:
    """The ``count`` pairs of orders whose share of carts together in the LP's ``values`` is
    nearest one half, nearest first (none: every pair shares carts wholly or not at all, so
    the LP's carts are a plan)."""
    used = np.flatnonzero(values > 1e-9)
    member = np.zeros((len(used), n))
    for r, k in enumerate(used.tolist()):
        member[r, list(carts[k])] = 1.0
    together = np.triu((member * values[used, None]).T @ member, 1)
    i, j = np.nonzero((together > 1e-6) & (together < 1 - 1e-6))
    nearest = np.argsort(np.abs(together[i, j] - 0.5), kind="stable")[:count]
    return [(int(i[k]), int(j[k])) for k in nearest.tolist()]


class _ColumnGeneration:
    """The master LP over the carts generated so far (shared by every node) and its pricing."""

    def __init__(
        self,
        rect: RectangularGraph,
        depot: int,
        per_order: IntArray,
        units: IntArray,
        capacity: int,
        most_cuts: int,
    ) -> None:
        self.rect, self.depot, self.per_order = rect, depot, per_order
        self.units, self.capacity, self.most_cuts = units, capacity, most_cuts
        self.n = len(per_order)
        self.fewest = -(-int(units.sum()) // capacity)
        self.master = CutMaster(self.n, self.fewest)
        self.rounds = self.proofs = 0
        self._member = np.zeros((0, self.n), dtype=bool)

    def price(self, carts: Sequence[tuple[int, ...]]) -> list[int]:
        """The carts' route lengths."""
        occupied = np.array([np.bitwise_or.reduce(self.per_order[list(c)], axis=0) for c in carts])
        return [int(p) for p in sweep_prices(self.rect, self.depot, occupied)]

    def restrict(self, branch: Branch) -> None:
        """Fix to zero every generated cart ``branch`` does not allow (and free the others),
        after adding each of its groups alone, so that the LP stays feasible."""
        master = self.master
        groups = [g for g in branch.groups(self.n) if len(g) > 1 and g not in master.known]
        if groups:
            master.add(groups, self.price(groups))
        fresh = master.carts[len(self._member) :]
        rows = np.zeros((len(fresh), self.n), dtype=bool)
        for r, cart in enumerate(fresh):
            rows[r, list(cart)] = True
        self._member = np.vstack([self._member, rows])
        upper = np.where(branch.allows(self._member), highspy.kHighsInf, 0.0)
        master.highs.changeColsBounds(
            len(upper), np.arange(len(upper), dtype=np.int32), np.zeros(len(upper)), upper
        )

    def strongest(self, branch: Branch, pairs: Sequence[tuple[int, int]]) -> tuple[int, int]:
        """Of ``pairs``, the one whose two branches raise the restricted LP most (the product
        of the rises, as in strong branching), without pricing."""
        if len(pairs) == 1:
            return pairs[0]
        base = self.master.solve()[3]
        scores = []
        for pair in pairs:
            rises = []
            for child in (
                replace(branch, together=(*branch.together, pair)),
                replace(branch, apart=(*branch.apart, pair)),
            ):
                self.restrict(child)
                solved = self.master.try_solve()
                rises.append(max(solved[3] - base, 1.0) if solved is not None else np.inf)
            scores.append(rises[0] * rises[1])
        self.restrict(branch)
        return pairs[int(np.argmax(scores))]

    def solve(
        self, branch: Branch, deadline: float, stop_at: float = np.inf
    ) -> tuple[float, FloatArray, float, bool]:
        """Column generation with cuts at the node of ``branch`` until no cart prices below
        zero and no cut is violated (converged), ``deadline`` passes, or the node's bound
        reaches ``stop_at``: the bound (no plan the node allows is shorter), the LP's values
        and value, and whether it converged."""
        self.restrict(branch)
        master, n, fewest = self.master, self.n, self.fewest
        lower, nodes = -np.inf, FIRST_NODES
        values, lp = np.zeros(len(master.carts)), -np.inf
        while time.monotonic() < deadline:
            values, duals, cart_dual, lp = master.solve()
            cuts = master.cuts()
            self.rounds += 1
            found, least = price_branch(
                self.rect, self.depot, self.per_order, self.units, self.capacity, duals,
                cart_dual, nodes, cuts if master.triples else None, branch,
            )  # fmt: skip
            if least is not None:
                self.proofs += 1
                gain = cart_dual + least  # mu + r: see the module docstring
                lower = max(
                    lower,
                    float(duals.sum() - cuts.penalties.sum()) + gain * (fewest if gain >= 0 else n),
                )
                if lower >= stop_at:
                    break
            log.debug(
                "round %d: %d carts, LP %.0f, %d priced below zero, least %s, bound %.0f",
                self.rounds, len(master.carts), lp, len(found), least, lower,
            )  # fmt: skip
            if not found and least is not None:
                room = self.most_cuts - len(master.triples)
                fresh = violated_triples(master.carts, values, n, set(master.triples))[:room]
                if not fresh:
                    return lower, values, lp, True
                master.add_cuts(fresh)
                continue
            if not found:
                if nodes >= MAX_NODES:
                    break
                nodes = min(MAX_NODES, 10 * nodes)
                continue
            ranked = sorted(found, key=lambda c: found[c] - float(duals[list(c)].sum()))
            ranked = ranked[:ROUND_CARTS]
            master.add(ranked, [found[c] for c in ranked])
        return lower, values, lp, False


def branch_and_price(
    cg: _ColumnGeneration,
    root: tuple[float, FloatArray],
    upper: tuple[int, list[tuple[int, ...]]],
    deadline: float,
) -> tuple[float, tuple[int, list[tuple[int, ...]]], int]:
    """Raise the root's bound by branching (best bound first, on a pair of orders sharing
    carts in part, chosen by :meth:`_ColumnGeneration.strongest`: together on one branch, apart
    on the other), each node solved by column generation with cuts, until ``deadline`` or no
    node may hold a plan shorter than ``upper`` (length and carts). The bound over every node
    left open, the best plan found and the nodes solved."""
    order = itertools.count()
    open_nodes: list[tuple[float, int, Branch, FloatArray | None]] = []
    heapq.heappush(open_nodes, (root[0], next(order), Branch(), root[1]))
    solved = 0
    while open_nodes and time.monotonic() < deadline:
        bound, _, branch, values = heapq.heappop(open_nodes)
        if bound >= upper[0]:
            open_nodes.clear()
            break
        if values is None:
            lower, values, _, converged = cg.solve(branch, deadline, upper[0])
            solved += 1
            log.debug("node %d: bound %.0f (from %.0f), %d decisions, %d open, tree bound %.0f",
                      solved, lower, bound, len(branch.together) + len(branch.apart),
                      len(open_nodes), min([bound, *(b for b, *_ in open_nodes)]))  # fmt: skip
            bound = max(bound, lower)
            if bound >= upper[0]:
                continue
            if not converged:
                heapq.heappush(open_nodes, (bound, next(order), branch, None))
                break
        pairs = fractional_pairs(cg.master.carts, values, cg.n, STRONG_PAIRS)
        if not pairs:  # the node's LP is a plan, the best the node allows
            carts = [cg.master.carts[k] for k in np.flatnonzero(values > 0.5).tolist()]
            length = sum(cg.master.costs[cg.master.known[c]] for c in carts)
            if length < upper[0]:
                upper = length, carts
            continue
        pair = cg.strongest(branch, pairs)
        for child in (
            replace(branch, together=(*branch.together, pair)),
            replace(branch, apart=(*branch.apart, pair)),
        ):
            heapq.heappush(open_nodes, (bound, next(order), child, None))
    cg.restrict(Branch())
    lower = min([upper[0], *(b for b, *_ in open_nodes)])
    return float(lower), upper, solved


def best_cover(
    master: Master, start: Sequence[tuple[int, ...]], time_limit_s: float
) -> tuple[int, list[tuple[int, ...]]] | None:
    """The least cost of an exact cover by the generated carts nearest the LP (the
    ``COVER_CARTS`` of least reduced cost) and ``start``'s, with its carts; the MIP is started
    from the cover ``start`` (None: none found). Over every generated cart (10,000-27,000),
    HiGHS often found nothing better than ``start`` in two minutes."""
    master.solve()
    reduced = np.asarray(master.highs.getSolution().col_dual)
    highs = quiet_highs()
    lp = master.highs.getLp()
    hint = np.zeros(lp.num_col_)
    hint[[master.known[c] for c in start]] = 1.0
    allowed = hint.copy()
    allowed[np.argsort(reduced, kind="stable")[:COVER_CARTS]] = 1.0
    lp.col_upper_ = allowed
    lp.integrality_ = [highspy.HighsVarType.kInteger] * lp.num_col_
    highs.passModel(lp)
    highs.setSolution(lp.num_col_, np.arange(lp.num_col_, dtype=np.int32), hint)
    highs.setOptionValue("time_limit", time_limit_s)
    highs.run()
    if not highs.getSolution().value_valid:
        return None
    chosen = np.flatnonzero(np.asarray(highs.getSolution().col_value) > 0.5)
    return int(sum(master.costs[k] for k in chosen)), [master.carts[k] for k in chosen]


def lower_bound(
    rect: RectangularGraph,
    depot: int,
    per_order: IntArray,
    units: Sequence[int],
    capacity: int,
    initial: Sequence[Sequence[int]],
    time_limit_s: float,
    most_cuts: int = MOST_CUTS,
    cover_seconds: float = COVER_SECONDS,
    branch_seconds: float = 0.0,
) -> Bound:
    """Column generation over every cart of the wave (``per_order``: each order's picks per
    aisle; ``initial``: a plan, as order indices per cart), with at most ``most_cuts``
    subset-row cuts (0: the LP's bound), ``cover_seconds`` for the MIP over the carts it
    generated, then ``branch_seconds`` of branch and price from the best plan found; see the
    module docstring."""
    started = time.monotonic()
    cg = _ColumnGeneration(
        rect, depot, per_order, np.asarray(units, dtype=np.int64), capacity, most_cuts
    )
    n = cg.n
    start = [tuple(sorted(c)) for c in initial]
    seed = sorted({(i,) for i in range(n)} | set(start))
    cg.master.add(seed, cg.price(seed))
    lower, _, lp, converged = cg.solve(Branch(), started + time_limit_s)
    log.info("root: bound %.0f, LP %.0f, %d cuts (%.1f s)", lower, lp, len(cg.master.triples),
             time.monotonic() - started)  # fmt: skip
    upper = sum(cg.price(start))
    cover = best_cover(
        cg.master, start,
        max(1.0, min(cover_seconds, started + time_limit_s + cover_seconds - time.monotonic())),
    )  # fmt: skip
    best = cover if cover is not None and cover[0] < upper else (upper, start)
    root, solved = lower, 0
    if converged and branch_seconds > 0:
        lower, best, solved = branch_and_price(
            cg, (lower, cg.master.solve()[0]), best, time.monotonic() + branch_seconds
        )
        log.info("branch and price: bound %.0f after %d nodes, best plan %d", lower, solved,
                 best[0])  # fmt: skip
    return Bound(
        lower_mm=float(lower),
        lp_mm=lp,
        upper_mm=best[0],
        cover=best[1],
        converged=converged,
        carts=cg.master.carts,
        prices=cg.master.costs,
        rounds=cg.rounds,
        proofs=cg.proofs,
        seconds=time.monotonic() - started,
        root_mm=float(root),
        nodes=solved,
    )
