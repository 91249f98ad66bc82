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

A MIP over the generated carts, started from the plan, then gives a cover: the best plan this
method knows. The bound is the LP's, without cuts: on the Muter-Oencan wave at 48 items, 272
three-order subset-row cuts (at most one cart holding two of the three orders) raised the
LP over the converged carts by 0.57 % only (1,518.7 to 1,527.4 m, the best cover 1,590.6 m).
The bound shares the planner's pricing, not its search: the pricing's least reduced cost is
checked against brute force over every cart, the DP's prices against the planner's scalar DP,
and the bound against the exact optimum of small waves (``tests/test_columns.py``); here a
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
    Master,
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
) -> Bound:
    """Column generation over every cart of the wave (``per_order``: each order's picks per
    aisle; ``initial``: a plan, as order indices per cart); see the module docstring."""
    started = time.monotonic()
    deadline = started + time_limit_s
    n = len(per_order)
    unit_array = np.asarray(units, dtype=np.int64)
    fewest = -(-int(unit_array.sum()) // capacity)
    master = Master(n, fewest)

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
        _, duals, cart_dual, lp = master.solve()
        rounds += 1
        found, least = price_all(
            rect, depot, per_order, unit_array, capacity, duals, cart_dual, nodes
        )
        if least is not None:
            proofs += 1
            gain = cart_dual + least  # mu + r: see the module docstring
            lower = max(lower, float(duals.sum()) + gain * (fewest if gain >= 0 else n))
        log.info(
            "round %d: %d carts, LP %.0f, %d priced below zero, least %s, bound %.0f (%.1f s)",
            rounds, len(master.carts), lp, len(found), least, lower, time.monotonic() - started,
        )  # fmt: skip
        if not found and least is not None:
            converged = True
            break
        if not found:
            if nodes >= MAX_NODES:
                break
            nodes = min(MAX_NODES, 10 * nodes)
            continue
        ranked = sorted(found, key=lambda c: found[c] - float(duals[list(c)].sum()))
        ranked = ranked[:ROUND_CARTS]
        master.add(ranked, [found[c] for c in ranked])
    cover = best_cover(
        master, start, max(1.0, min(COVER_SECONDS, deadline + COVER_SECONDS - time.monotonic()))
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
