"""Pricing carts for column generation in one-block warehouses, a whole search level at once.

Set partitioning needs carts whose route costs less than the duals of their orders. In a
one-block warehouse with the depot at the front of the first aisle, the routes of every cart
of a level of a search can be priced together (:func:`routing.sweep.sweep_prices`, numpy over
the carts), which makes a branch and bound over sets of orders affordable: :func:`price_all`
finds the cart of least reduced cost among all of them or, capped, the most promising ones.
The planner (:mod:`picking.partition`) prices with it where it applies, and the picking
benchmark proves lower bounds with it (``benchmarks/batching_bound.py``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from routing.rectangular import RectangularGraph
from routing.sweep import IntArray, check_layout, sweep_prices

FloatArray = npt.NDArray[np.float64]

#: A cart counts as improving when its reduced cost is below minus this many mm.
EPSILON_MM = 1.0


@dataclass(frozen=True)
class AislePicks:
    """Each order's picks per aisle of a one-block layout (:func:`routing.sweep.aisle_picks`),
    to price many carts at once; ``depot`` is a depot index at the front of the first aisle."""

    rect: RectangularGraph
    depot: int
    per_order: IntArray

    def __post_init__(self) -> None:
        check_layout(self.rect, self.depot)

    def prices(self, occupied: IntArray) -> IntArray:
        """Route length (mm) of each cart, given its picks per aisle (rows of ``occupied``)."""
        return sweep_prices(self.rect, self.depot, occupied)

    def union(self, carts: Sequence[Sequence[int]]) -> IntArray:
        """The picks per aisle of each cart (orders)."""
        return np.array([np.bitwise_or.reduce(self.per_order[list(c)], axis=0) for c in carts])


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
    picks: AislePicks,
    units: IntArray,
    capacity: int,
    duals: FloatArray,
    cart_dual: float,
    max_nodes: int,
    per_level: int,
    deadline: float = math.inf,
) -> tuple[dict[tuple[int, ...], int], float | None]:
    """Carts of reduced cost below ``-EPSILON_MM`` (with their prices; per level of the
    search the ``per_level`` least) that a branch and bound over the orders meets, and a
    lower bound on the least reduced cost of any cart (None when more than ``max_nodes``
    carts of a level were worth extending, so that only the most hopeful were, or when the
    search stopped at ``deadline``, a ``time.monotonic()`` time, checked between levels).

    Orders of positive dual are taken in order of dual per unit; a cart is extended only by
    orders after its last. Its reduced cost is its route length (:meth:`AislePicks.prices`,
    every cart of a level at once) less its duals and ``cart_dual``; a cart is not extended
    when that, less the most dual the orders after it could still add in the room left (a
    fractional knapsack), is not below ``-EPSILON_MM``: routes only grow with orders. Orders
    of dual at most zero are left out, as adding one never lowers a reduced cost.
    """
    order = sorted(
        (j for j in range(len(units)) if duals[j] > 0), key=lambda j: -duals[j] / units[j]
    )
    knapsack = _Knapsack(order, units, duals)
    each = picks.per_order[order]
    sizes, gains = units[order], duals[order]
    # One row per cart of the current level: its positions in ``order`` (ascending).
    members = np.arange(len(order))[:, None]
    occupied, load, gain = each.copy(), sizes.copy(), gains.copy()
    found: dict[tuple[int, ...], int] = {}
    least, proven = np.inf, True
    while len(members):
        prices = picks.prices(occupied)
        reduced = prices - gain - cart_dual
        least = min(least, float(reduced.min()))
        negative = np.flatnonzero(reduced < -EPSILON_MM)
        if len(negative) > per_level:  # the most negative suffice: the caller adds no more
            negative = negative[np.argpartition(reduced[negative], per_level)[:per_level]]
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
                    occupied[parents] | each[q],
                    load[parents] + sizes[q],
                    gain[parents] + gains[q],
                ))  # fmt: skip
        if not grown:
            break
        if time.monotonic() >= deadline:
            proven = False
            break
        members = np.vstack([g[0] for g in grown])
        occupied = np.vstack([g[1] for g in grown])
        load = np.concatenate([g[2] for g in grown])
        gain = np.concatenate([g[3] for g in grown])
    return found, (min(least, -EPSILON_MM) if proven else None)
