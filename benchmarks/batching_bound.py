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

A MIP over the generated carts, started from the plan, then gives a cover: the best plan this
method knows. The bound shares the planner's pricing, not its search: the pricing's least
reduced cost, with and without cuts, is checked against brute force over every cart, the DP's
prices against the planner's scalar DP, the bound without cuts against the LP over every cart
and with them against the exact optimum of small waves (``tests/test_columns.py``); here a
sample of the carts is priced by ``RouteCoster`` again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import highspy
import numpy as np

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
    """What column generation proved about a wave (mm)."""

    lower_mm: float  # no partition of the wave into carts is shorter
    lp_mm: float  # the last restricted LP (equal to lower_mm once converged)
    upper_mm: int  # the best cover by the generated carts (at most the given plan) ...
    cover: list[tuple[int, ...]] = field(repr=False)  # ... and its carts (orders)
    converged: bool  # exact pricing found no cart of negative reduced cost
    carts: list[tuple[int, ...]] = field(repr=False)  # the generated carts (orders) ...
    prices: list[int] = field(repr=False)  # ... and their route lengths
    rounds: int
    proofs: int  # rounds whose pricing was proven
    seconds: float


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
) -> Bound:
    """Column generation over every cart of the wave (``per_order``: each order's picks per
    aisle; ``initial``: a plan, as order indices per cart), with at most ``most_cuts``
    subset-row cuts (0: the LP's bound) and ``cover_seconds`` for the MIP over the carts it
    generated; see the module docstring."""
    started = time.monotonic()
    deadline = started + time_limit_s
    n = len(per_order)
    unit_array = np.asarray(units, dtype=np.int64)
    fewest = -(-int(unit_array.sum()) // capacity)
    master = CutMaster(n, fewest)

    def price(carts: Sequence[tuple[int, ...]]) -> list[int]:
        occupied = np.array([np.bitwise_or.reduce(per_order[list(c)], axis=0) for c in carts])
        return [int(p) for p in sweep_prices(rect, depot, occupied)]

    start = [tuple(sorted(c)) for c in initial]
    seed = sorted({(i,) for i in range(n)} | set(start))
    master.add(seed, price(seed))
    upper = sum(price(start))
    lower, rounds, proofs, converged = -np.inf, 0, 0, False
    lp, nodes = 0.0, FIRST_NODES
    while time.monotonic() < deadline:
        values, duals, cart_dual, lp = master.solve()
        cuts = master.cuts()
        rounds += 1
        found, least = price_all(
            rect, depot, per_order, unit_array, capacity, duals, cart_dual, nodes,
            cuts=cuts if master.triples else None,
        )  # fmt: skip
        if least is not None:
            proofs += 1
            gain = cart_dual + least  # mu + r: see the module docstring
            lower = max(
                lower,
                float(duals.sum() - cuts.penalties.sum()) + gain * (fewest if gain >= 0 else n),
            )
        log.info(
            "round %d: %d carts, LP %.0f, %d priced below zero, least %s, bound %.0f (%.1f s)",
            rounds, len(master.carts), lp, len(found), least, lower, time.monotonic() - started,
        )  # fmt: skip
        if not found and least is not None:
            room = most_cuts - len(master.triples)
            fresh = violated_triples(master.carts, values, n, set(master.triples))[:room]
            if not fresh:
                converged = True
                break
            master.add_cuts(fresh)
            log.info("round %d: %d cuts added", rounds, len(fresh))
            continue
        if not found:
            if nodes >= MAX_NODES:
                break
            nodes = min(MAX_NODES, 10 * nodes)
            continue
        ranked = sorted(found, key=lambda c: found[c] - float(duals[list(c)].sum()))
        ranked = ranked[:ROUND_CARTS]
        master.add(ranked, [found[c] for c in ranked])
    cover = best_cover(
        master, start, max(1.0, min(cover_seconds, deadline + cover_seconds - time.monotonic()))
    )
    if cover is None or cover[0] >= upper:
        cover = upper, start
    return Bound(
        lower_mm=float(lower),
        lp_mm=lp,
        upper_mm=cover[0],
        cover=cover[1],
        converged=converged,
        carts=master.carts,
        prices=master.costs,
        rounds=rounds,
        proofs=proofs,
        seconds=time.monotonic() - started,
    )
