"""A lower bound on a wave's least total walking distance: column generation, priced exactly.

For waves with too many capacity-feasible carts to enumerate (10^8 to 10^13 on the 100-order
benchmark classes), the linear relaxation of set partitioning, "each order on exactly one
cart, at least as many carts as the units need", is solved over *every* such cart by column
generation, each cart priced by its shortest route (Ratliff & Rosenthal's DP for one block,
:mod:`benchmarks.sweep`):

1. The restricted master LP (HiGHS) starts from every order alone and the carts of a plan.
2. Pricing (:func:`price_all`) is a branch and bound over sets of orders that finds the least
   reduced cost of any cart: routes only grow with orders, so a cart's reduced cost less the
   most dual that orders could still add in its room (a fractional knapsack) bounds every cart
   grown from it. Each level of the search is priced at once by the vectorised DP. This is
   the idea of Wahlen and Gschwind's labelling with completion bounds, without their cuts.
   (A MIP over the DP's states was tried first: its relaxation shares one long walk between
   fractions of every order, and it took minutes per pricing.)
3. Each proven pricing gives a bound even before the LP is optimal: with order duals ``pi``,
   cart-row dual ``mu`` and no cart of reduced cost below ``r``, every partition costs at
   least ``sum(pi) + (mu + r) * K`` with ``K`` the fewest carts (when ``mu + r >= 0``;
   otherwise ``K`` is the number of orders). Once pricing proves that no cart has a reduced
   cost below ``-EPSILON_MM``, that is the LP's value up to ``K`` mm.

A MIP over the generated carts, started from the plan, then gives a cover: the best plan this
method knows. Independent of the planner's search and of its column generation
(:mod:`picking.partition`, which prices heuristically and proves no bound).

The same column generation inside the planner (its pricing in place of the planner's descents)
was tried and dropped for now: from a plan, the master LP stays at the plan's value for the
first 10-20 rounds (a degenerate vertex) while pricing explores, and a MIP over the carts then
needs seconds more, so within 10 s on one core it gave no plan shorter than the search's on
Henn-Waescher at 60 items and Muter-Oencan at 36; with twice the time it did.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import highspy
import numpy as np
import numpy.typing as npt

from benchmarks.sweep import IntArray, sweep_prices
from routing.rectangular import RectangularGraph

FloatArray = npt.NDArray[np.float64]
log = logging.getLogger(__name__)

#: A cart enters the LP when its reduced cost is below minus this many mm.
EPSILON_MM = 1.0
#: Carts pricing adds per round, at most (those of least reduced cost).
ROUND_CARTS = 1_000
#: Carts of one level the pricing's branch and bound extends, at most; beyond, it extends
#: the most promising ones and proves nothing that round. Early duals prune little, so the
#: first rounds extend at most ``FIRST_NODES``, ten times more after each round that finds
#: nothing.
MAX_NODES = 2_000_000
FIRST_NODES = 500
#: Time limit of the final MIP over the generated carts, and the carts it may use (those of
#: least reduced cost).
COVER_SECONDS = 60.0
COVER_CARTS = 2_000


def quiet_highs() -> highspy.Highs:
    """A HiGHS instance that prints nothing and solves on one thread."""
    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    return highs


class _Knapsack:
    """Fractional-knapsack bounds on the duals the orders after each position can add."""

    def __init__(self, order: Sequence[int], units: IntArray, duals: FloatArray) -> None:
        self.weights: list[FloatArray] = []
        self.profits: list[FloatArray] = []
        for i in range(len(order)):
            rest = sorted(order[i + 1 :], key=lambda j: -duals[j] / units[j])
            self.weights.append(np.cumsum([0.0] + [float(units[j]) for j in rest]))
            self.profits.append(np.cumsum([0.0] + [float(duals[j]) for j in rest]))

    def bound(self, position: IntArray, room: IntArray) -> FloatArray:
        """Most dual a cart whose last order is at ``position`` can still add in ``room``."""
        out = np.zeros(len(position))
        for i in np.unique(position).tolist():
            at = position == i
            out[at] = self.after(i, room[at])
        return out

    def after(self, i: int, room: IntArray) -> FloatArray:
        """Most dual the orders after position ``i`` can add in ``room``."""
        w, p = self.weights[i], self.profits[i]
        r = room.astype(float)
        full = np.minimum(np.searchsorted(w, r, side="right") - 1, len(w) - 1)
        part = np.minimum(full + 1, len(w) - 1)
        step = w[part] - w[full]
        share = np.where(step > 0, (r - w[full]) / np.where(step > 0, step, 1.0), 0.0)
        out: FloatArray = p[full] + share * (p[part] - p[full])
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
) -> tuple[dict[tuple[int, ...], int], float | None]:
    """Carts of reduced cost below ``-EPSILON_MM`` (with their prices; per level of the
    search the :data:`ROUND_CARTS` least) that a branch and bound over the orders meets,
    and a lower bound on the least reduced cost of any cart
    (None when ``max_nodes`` stopped the proof).

    Orders of positive dual are taken in order of dual per unit; a cart is extended only by
    orders after its last. Its reduced cost is its route length (:func:`sweep_prices`, every
    cart of a level at once) less its duals and ``cart_dual``; a cart is not extended when that,
    less the most dual the orders after it could still add in the room left (a fractional
    knapsack), is not below ``-EPSILON_MM``: routes only grow with orders. Orders of dual at
    most zero are left out, as adding one never lowers a reduced cost.
    """
    order = sorted(
        (j for j in range(len(units)) if duals[j] > 0), key=lambda j: -duals[j] / units[j]
    )
    knapsack = _Knapsack(order, units, duals)
    picks = per_order[order]
    sizes, gains = units[order], duals[order]
    # One row per cart of the current level: its positions in ``order`` (ascending).
    members = np.arange(len(order))[:, None]
    occupied, load, gain = picks.copy(), sizes.copy(), gains.copy()
    found: dict[tuple[int, ...], int] = {}
    least, proven = np.inf, True
    while len(members):
        prices = sweep_prices(rect, depot, occupied)
        reduced = prices - gain - cart_dual
        least = min(least, float(reduced.min()))
        negative = np.flatnonzero(reduced < -EPSILON_MM)
        if len(negative) > ROUND_CARTS:  # the most negative suffice: the caller adds no more
            negative = negative[np.argpartition(reduced[negative], ROUND_CARTS)[:ROUND_CARTS]]
        for k in negative.tolist():
            found[tuple(sorted(order[i] for i in members[k]))] = int(prices[k])
        last = members[:, -1]
        hope = reduced - knapsack.bound(last, capacity - load)
        keep = np.flatnonzero(hope < -EPSILON_MM)
        if len(keep) > max_nodes:
            proven = False
            keep = keep[np.argsort(hope[keep], kind="stable")[:max_nodes]]
        members, last, occupied, load, gain, reduced = (
            members[keep], last[keep], occupied[keep], load[keep], gain[keep], reduced[keep]
        )  # fmt: skip
        grown: list[tuple[IntArray, IntArray, IntArray, FloatArray]] = []
        for q in range(len(order)):
            parents = np.flatnonzero((last < q) & (load + sizes[q] <= capacity))
            # A child costs at least its parent: skip it unpriced when even then neither it
            # nor any cart grown from it could price below zero.
            room = capacity - load[parents] - sizes[q]
            hope = reduced[parents] - gains[q] - knapsack.after(q, room)
            parents = parents[hope < -EPSILON_MM]
            if len(parents):
                grown.append((
                    np.hstack([members[parents], np.full((len(parents), 1), q)]),
                    occupied[parents] | picks[q],
                    load[parents] + sizes[q],
                    gain[parents] + gains[q],
                ))  # fmt: skip
        if not grown:
            break
        members = np.vstack([g[0] for g in grown])
        occupied = np.vstack([g[1] for g in grown])
        load = np.concatenate([g[2] for g in grown])
        gain = np.concatenate([g[3] for g in grown])
    return found, (min(least, -EPSILON_MM) if proven else None)


@dataclass
class Bound:
    """What column generation proved about a wave (mm)."""

    lower_mm: float  # no partition of the wave into carts is shorter
    lp_mm: float  # the last restricted LP (equal to lower_mm once converged)
    upper_mm: int  # the best cover by the generated carts (at most the given plan)
    converged: bool  # exact pricing found no cart of negative reduced cost
    carts: list[tuple[int, ...]] = field(repr=False)  # the generated carts (orders) ...
    prices: list[int] = field(repr=False)  # ... and their route lengths
    rounds: int
    proofs: int  # rounds whose pricing was proven
    seconds: float


class _Master:
    """The restricted master LP over generated carts (order tuples) with their prices."""

    def __init__(self, n: int, fewest: int) -> None:
        self.n = n
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
        index = [i for c, _ in fresh for i in (*c, self.n)]
        starts = np.cumsum([0] + [len(c) + 1 for c, _ in fresh[:-1]]).astype(np.int32)
        self.highs.addCols(
            len(fresh), np.array([p for _, p in fresh], dtype=float), np.zeros(len(fresh)),
            np.full(len(fresh), highspy.kHighsInf), len(index), starts,
            np.array(index, dtype=np.int32), np.ones(len(index)),
        )  # fmt: skip
        for c, p in fresh:
            self.known[c] = len(self.carts)
            self.carts.append(c)
            self.costs.append(p)

    def solve(self) -> tuple[FloatArray, FloatArray, float, float]:
        """Primal values, order duals, the cart row's dual and the LP value (mm)."""
        self.highs.run()
        if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"master LP: {self.highs.getModelStatus()}")
        solution = self.highs.getSolution()
        duals = np.asarray(solution.row_dual)
        value = float(self.highs.getInfo().objective_function_value)
        return np.asarray(solution.col_value), duals[: self.n], float(duals[self.n]), value

    def best_cover(self, start: Sequence[tuple[int, ...]], time_limit_s: float) -> int | None:
        """The least cost of an exact cover by the generated carts nearest the LP (the
        ``COVER_CARTS`` of least reduced cost) and ``start``'s, the MIP started from the cover
        ``start`` (None: none found). Over every generated cart (10,000-27,000), HiGHS often
        found nothing better than ``start`` in two minutes."""
        self.solve()
        reduced = np.asarray(self.highs.getSolution().col_dual)
        highs = quiet_highs()
        lp = self.highs.getLp()
        hint = np.zeros(lp.num_col_)
        hint[[self.known[c] for c in start]] = 1.0
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
        return int(sum(self.costs[k] for k in chosen))


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
    master = _Master(n, fewest)

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
    cover = master.best_cover(
        start, max(1.0, min(COVER_SECONDS, deadline + COVER_SECONDS - time.monotonic()))
    )
    return Bound(
        lower_mm=float(lower),
        lp_mm=lp,
        upper_mm=min(upper, cover) if cover is not None else upper,
        converged=converged,
        carts=master.carts,
        prices=master.costs,
        rounds=rounds,
        proofs=proofs,
        seconds=time.monotonic() - started,
    )
