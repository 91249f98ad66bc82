"""Column generation over carts priced exactly by the one-block route DP, and an LP dive.

A plan is a choice of carts (sets of orders) covering every order exactly once; its linear
relaxation over every capacity-feasible cart is a close guide to the best plan (within
0.4 % of the best plan known on the 100-order benchmark classes, ``benchmarks/results/
picking.md``), but those carts number 10^8 to 10^13. Column generation finds the ones that
matter:

* **Master** (:class:`Master`): the LP over the carts generated so far (HiGHS, simplex), a row
  per order (covered exactly once) and one asking for at least the fewest carts the units need.
* **Pricing** (:func:`price_all`): a branch and bound over sets of orders for the carts whose
  route costs less than the duals of their orders. Routes only grow with orders, so a cart's
  reduced cost, less the most dual the orders after it could still add in its room (a
  fractional knapsack), bounds every cart grown from it; each level of the search is priced at
  once by :func:`routing.sweep.sweep_prices`. Run in full it proves the LP optimal (the
  benchmark's lower bound, :mod:`benchmarks.batching_bound`); the planner runs it as a beam
  (:func:`improve`). This follows Wahlen and Gschwind's labelling with completion bounds,
  without their cuts.
* **Dive** (:func:`dive`): the LP's carts are fixed one at a time, the one it uses most first,
  and the LP solved again over the generated carts, until it is integral or a fixing leaves it
  infeasible; orders no fixed cart holds are left to the caller's local search.

Carts are limited in units only (the knapsack is over units), and prices are those of a closed
walk in one block (:func:`routing.sweep.handles`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import highspy
import numpy as np
import numpy.typing as npt

from routing.rectangular import RectangularGraph
from routing.sweep import IntArray, sweep_prices

FloatArray = npt.NDArray[np.float64]

#: A cart enters the LP when its reduced cost is below minus this many mm.
EPSILON_MM = 1.0
#: Carts pricing keeps per level of its search, at most (those of least reduced cost).
ROUND_CARTS = 1_000
#: Carts of one level the search extends, at most; beyond, it extends the most promising ones
#: and proves nothing.
MAX_NODES = 2_000_000
#: The planner's beam (:func:`improve`): carts extended per level and kept per level. Measured
#: on the 100-order Henn-Waescher wave at 60 items (one core, ILS 1.5 s, then column
#: generation to 6 s, a dive and local search to 9.5 s): a beam of 30 left the LP 0.6 % higher
#: and 500 took a second a round (5 rounds in the time, the LP still at the starting plan's).
BEAM_NODES = 100
BEAM_CARTS = 300


def quiet_highs() -> highspy.Highs:
    """A HiGHS instance that prints nothing and solves on one thread."""
    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    return highs


class Knapsack:
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
    most: int = ROUND_CARTS,
    deadline: float = math.inf,
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


class Master:
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


def dive(master: Master, deadline: float = math.inf) -> list[tuple[int, ...]]:
    """Carts of an integral LP solution reached by fixing carts (see the module docstring);
    the master's LP is left with them fixed."""
    highs = master.highs
    fixed: list[int] = []
    highs.run()
    while time.monotonic() < deadline:
        if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            break
        x = np.asarray(highs.getSolution().col_value)
        free = np.flatnonzero(x > 1e-6)
        free = free[~np.isin(free, fixed)]
        if not len(free):
            break
        whole = free[x[free] > 1 - 1e-6]
        costs = np.asarray(master.costs)[free]
        chosen = whole if len(whole) else free[[int(np.lexsort((costs, -x[free]))[0])]]
        for k in chosen.tolist():
            highs.changeColBounds(k, 1.0, highspy.kHighsInf)
        highs.run()
        if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            for k in chosen.tolist():
                highs.changeColBounds(k, 0.0, highspy.kHighsInf)
            break
        fixed.extend(chosen.tolist())
    return [master.carts[k] for k in fixed]


def improve(
    rect: RectangularGraph,
    depot: int,
    per_order: IntArray,
    units: IntArray,
    capacity: int,
    initial: Sequence[Sequence[int]],
    deadline: float,
) -> list[tuple[int, ...]]:
    """Carts for a plan of the wave, by column generation with the beam pricing until
    ``deadline`` (``time.monotonic()``) and a dive; every order is in at most one of them.

    ``per_order``: each order's picks per aisle (:func:`routing.sweep.aisle_picks`);
    ``initial``: a plan (order indices per cart), whose carts seed the LP.
    """
    n = len(per_order)
    fewest = -(-int(units.sum()) // capacity)
    master = Master(n, fewest)
    seed = sorted({(i,) for i in range(n)} | {tuple(sorted(c)) for c in initial})
    occupied = np.array([np.bitwise_or.reduce(per_order[list(c)], axis=0) for c in seed])
    master.add(seed, sweep_prices(rect, depot, occupied).tolist())
    while time.monotonic() < deadline:
        _, duals, cart_dual, _ = master.solve()
        found, _ = price_all(
            rect, depot, per_order, units, capacity, duals, cart_dual,
            BEAM_NODES, BEAM_CARTS, deadline,
        )  # fmt: skip
        if not found:
            break  # the beam finds no improving cart
        ranked = sorted(found, key=lambda c: found[c] - float(duals[list(c)].sum()))
        ranked = ranked[:BEAM_CARTS]
        master.add(ranked, [found[c] for c in ranked])
    return dive(master)
