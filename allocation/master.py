"""Column generation over shipment patterns, then a small MIP for the orders the LP splits.

The master problem chooses one pattern per order (a convexity row each) under the coupling
rows: stock per FC and SKU, packages and units per FC, packages per FC and service. Only rows
that could bind are built: a row whose every possible use fits its limit is left out. The LP
starts from each order's own cheapest pattern, the baseline's pattern and the all-unfilled
pattern (so it is always feasible), and grows by the cheapest pattern of every order under the
LP's duals (:func:`allocation.patterns.cheapest`, exact) until none prices out.

Each pricing round gives a proven lower bound, the Lagrangian bound: with ``p >= 0`` the prices
of the coupling rows, ``sum_o min_pattern (cost + p . use) - p . limit`` is at most the optimum.
At the end it equals the LP optimum.

Orders whose LP value is one pattern keep it; the rest (a few, since a basic solution has at
most as many fractional orders as binding coupling rows) are settled by HiGHS' MIP over their
generated patterns within what those orders left of every limit.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import highspy
import numpy as np

from allocation.patterns import Pattern, Prices, cheapest, pattern_cost
from allocation.quotes import Compiled, Floats, Ints

#: Reduced cost below which a pattern enters the LP (in minor units).
ENTER_TOLERANCE = 1e-4
#: LP value above which an order counts as having chosen a pattern.
INTEGRAL = 1 - 1e-6


@dataclass
class Rows:
    """The coupling rows that could bind: index maps and limits."""

    stock: Ints
    packages: Ints
    units: Ints
    service: Ints
    limit: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Number of coupling rows."""
        return len(self.limit)


@dataclass
class Outcome:
    """Chosen pattern per order (by position in the problem), the bound and the LP value."""

    patterns: list[Pattern]
    bound: float
    lp_value: float
    rounds: int
    columns: int
    fractional_orders: int
    mip_optimal: bool


def coupling_rows(compiled: Compiled) -> Rows:
    """Build the coupling rows that some combination of patterns could exceed."""
    problem = compiled.problem
    n_f, n_k, n_s = compiled.n_fcs, len(compiled.sku_ids), len(compiled.service_ids)
    demand = np.zeros((n_f, n_k), dtype=np.int64)
    units = np.zeros(n_f, dtype=np.int64)
    packages = np.zeros(n_f, dtype=np.int64)
    for group in compiled.groups.values():
        can = group.stockable  # [i, l, f]
        for line in range(group.n):
            q = group.qty[:, line, None] * can[:, line, :]
            np.add.at(demand.T, group.sku[:, line], q)
            units += q.sum(axis=0)
        packages += can.any(axis=1).sum(axis=0)
    rows = Rows(
        np.full((n_f, n_k), -1, dtype=np.int64),
        np.full(n_f, -1, dtype=np.int64),
        np.full(n_f, -1, dtype=np.int64),
        np.full((n_f, n_s), -1, dtype=np.int64),
    )
    for f, k in zip(*np.nonzero(demand > compiled.stock), strict=True):
        rows.stock[f, k] = rows.count
        rows.limit.append(float(compiled.stock[f, k]))
    for f, fc in enumerate(problem.fcs):
        if 0 < fc.capacity_packages < packages[f]:
            rows.packages[f] = rows.count
            rows.limit.append(float(fc.capacity_packages))
        if 0 < fc.capacity_units < units[f]:
            rows.units[f] = rows.count
            rows.limit.append(float(fc.capacity_units))
        for s, service in enumerate(compiled.service_ids):
            cap = fc.service_capacity.get(service, 0)
            if 0 < cap < packages[f]:
                rows.service[f, s] = rows.count
                rows.limit.append(float(cap))
    return rows


class Master:
    """The restricted master LP in HiGHS, grown column by column and re-solved warm."""

    def __init__(self, compiled: Compiled, rows: Rows) -> None:
        self.compiled = compiled
        self.rows = rows
        self.n_orders = len(compiled.problem.orders)
        self.highs = highspy.Highs()  # type: ignore[no-untyped-call]
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("threads", 1)
        lower = np.concatenate([np.ones(self.n_orders), np.full(rows.count, -np.inf)])
        upper = np.concatenate([np.ones(self.n_orders), np.array(rows.limit, dtype=float)])
        empty = np.zeros(0, dtype=np.int32)
        self.highs.addRows(len(lower), lower, upper, 0, empty, empty, np.zeros(0, dtype=np.float64))
        self.column_order: list[int] = []
        self.column_pattern: list[Pattern] = []
        self.column_cost: list[float] = []
        self.seen: list[set[Pattern]] = [set() for _ in range(self.n_orders)]
        # Where each order sits: its group (line count) and position in it.
        self.where: dict[int, tuple[int, int]] = {}
        for n, group in compiled.groups.items():
            for i, o in enumerate(group.orders):
                self.where[int(o)] = (n, i)

    def usage(self, order: int, pattern: Pattern) -> tuple[list[int], list[float]]:
        """Coupling rows a pattern of ``order`` uses, and how much of each."""
        n, i = self.where[order]
        group = self.compiled.groups[n]
        rows = self.rows
        index: list[int] = []
        value: list[float] = []
        for f, s, mask in pattern:
            for line in range(n):
                if mask >> line & 1:
                    r = rows.stock[f, group.sku[i, line]]
                    if r >= 0:
                        index.append(int(r))
                        value.append(float(group.qty[i, line]))
            for r, amount in (
                (rows.packages[f], 1.0),
                (rows.units[f], float(group.units[i, mask])),
                (rows.service[f, s], 1.0),
            ):
                if r >= 0:
                    index.append(int(r))
                    value.append(amount)
        return index, value

    def add(self, columns: list[tuple[int, Pattern]]) -> int:
        """Add patterns not yet in the LP; returns how many were new."""
        costs: list[float] = []
        starts: list[int] = []
        index: list[int] = []
        value: list[float] = []
        for order, pattern in columns:
            if pattern in self.seen[order]:
                continue
            self.seen[order].add(pattern)
            n, i = self.where[order]
            cost = pattern_cost(self.compiled.groups[n], i, pattern)
            rows, amounts = self.usage(order, pattern)
            starts.append(len(index))
            index.append(order)
            value.append(1.0)
            index.extend(self.n_orders + r for r in rows)
            value.extend(amounts)
            costs.append(cost)
            self.column_order.append(order)
            self.column_pattern.append(pattern)
            self.column_cost.append(cost)
        if costs:
            count = len(costs)
            self.highs.addCols(
                count,
                np.array(costs),
                np.zeros(count),
                np.full(count, np.inf),
                len(index),
                np.array(starts, dtype=np.int32),
                np.array(index, dtype=np.int32),
                np.array(value, dtype=np.float64),
            )
        return len(costs)

    def solve(self) -> tuple[float, Floats, Floats]:
        """Solve the LP: its value, row duals and column values."""
        self.highs.run()
        solution = self.highs.getSolution()
        value = float(self.highs.getInfo().objective_function_value)
        return value, np.asarray(solution.row_dual), np.asarray(solution.col_value)

    def prices(self, duals: Floats) -> Prices:
        """Coupling-row duals as non-negative resource prices."""
        compiled, rows = self.compiled, self.rows
        coupling = np.maximum(0.0, -duals[self.n_orders :])
        coupling = np.append(coupling, 0.0)  # index -1: no row, no price

        return (
            Prices(
                coupling[rows.stock],
                coupling[rows.packages],
                coupling[rows.units],
                coupling[rows.service],
            )
            if rows.count
            else Prices.zero(compiled.n_fcs, len(compiled.sku_ids), len(compiled.service_ids))
        )


def price_all(
    compiled: Compiled, prices: Prices, limit: int
) -> tuple[Floats, list[tuple[int, Pattern]]]:
    """Every order's cheapest pattern under ``prices``: priced values by order, and patterns."""
    n_orders = len(compiled.problem.orders)
    values = np.zeros(n_orders)
    found: list[tuple[int, Pattern]] = [(o, ()) for o in range(n_orders)]
    for group in compiled.groups.values():
        total, patterns = cheapest(group, prices, limit)
        values[group.orders] = total
        for o, pattern in zip(group.orders, patterns, strict=True):
            found[int(o)] = (int(o), pattern)
    return values, found


def generate(compiled: Compiled, start: list[Pattern], deadline: float, limit: int) -> Outcome:
    """Column generation from ``start`` (one feasible pattern per order), then the MIP.

    Stops pricing at ``deadline`` minus the share kept for the MIP; the bound is the best
    Lagrangian bound seen, the LP optimum when pricing ran to the end.
    """
    rows = coupling_rows(compiled)
    master = Master(compiled, rows)
    n_orders = master.n_orders
    zero = Prices.zero(compiled.n_fcs, len(compiled.sku_ids), len(compiled.service_ids))
    values, own = price_all(compiled, zero, limit)
    bound = float(values.sum())
    master.add(own)
    master.add([(o, p) for o, p in enumerate(start)])
    master.add([(o, ()) for o in range(n_orders)])
    limits = np.array(rows.limit)
    rounds = 0
    lp_value, duals, x = master.solve()
    started = time.monotonic()
    pricing_end = deadline - 0.25 * max(0.0, deadline - started)
    while rows.count and time.monotonic() < pricing_end:
        rounds += 1
        prices = master.prices(duals)
        values, found = price_all(compiled, prices, limit)
        coupling = np.maximum(0.0, -duals[n_orders:])
        bound = max(bound, float(values.sum() - coupling @ limits))
        reduced = values - duals[:n_orders]
        entering = [found[o] for o in np.nonzero(reduced < -ENTER_TOLERANCE)[0]]
        if not entering or lp_value - bound <= 1e-9 * max(1.0, abs(lp_value)):
            break
        master.add(entering)
        lp_value, duals, x = master.solve()
    if not rows.count:
        bound = lp_value = float(values.sum())
        return Outcome(
            [p for _, p in own], bound, lp_value, rounds, len(master.column_cost), 0, True
        )
    chosen, fractional, mip_optimal = _integer(master, x, deadline)
    return Outcome(
        chosen, bound, lp_value, rounds, len(master.column_cost), fractional, mip_optimal
    )


def enumerate_patterns(
    compiled: Compiled, rows: Rows, limit: int, most: int
) -> list[tuple[int, Pattern]] | None:
    """Every pattern of every order, or None when there would be more than ``most``.

    Lines go to any FC that could ship them, or stay unfilled. A package takes its cheapest
    service, unless a service limit at its FC could bind, when every service that can take it
    is a pattern of its own.
    """
    n_f = compiled.n_fcs
    if sum(len(g.orders) * (n_f + 1) ** n for n, g in compiled.groups.items()) > most:
        return None
    found: list[tuple[int, Pattern]] = []
    for n, group in compiled.groups.items():
        best_service = group.cost.argmin(axis=3)
        for i, order in enumerate(group.orders):
            for choice in itertools.product(range(-1, n_f), repeat=n):
                masks: dict[int, int] = {}
                for line, f in enumerate(choice):
                    if f >= 0:
                        masks[f] = masks.get(f, 0) | 1 << line
                if 0 < limit < len(masks):
                    continue
                options: list[list[tuple[int, int, int]]] = []
                for f, mask in sorted(masks.items()):
                    costs = group.cost[i, mask, f]
                    if (rows.service[f] >= 0).any():
                        services = [int(s) for s in np.nonzero(np.isfinite(costs))[0]]
                    else:
                        services = (
                            [int(best_service[i, mask, f])] if np.isfinite(costs).any() else []
                        )
                    options.append([(f, s, mask) for s in services])
                for packages in itertools.product(*options):
                    found.append((int(order), tuple(packages)))
    return found if len(found) <= most else None


def exact(compiled: Compiled, columns: list[tuple[int, Pattern]], deadline: float) -> Outcome:
    """The pattern MIP over every pattern: optimal when HiGHS proves it within the time."""
    rows = coupling_rows(compiled)
    master = Master(compiled, rows)
    master.add(columns)
    columns_of: dict[int, list[int]] = {}
    for j, order in enumerate(master.column_order):
        columns_of.setdefault(order, []).append(j)
    orders = list(range(master.n_orders))
    picks, optimal, bound = _settle(master, orders, columns_of, np.array(rows.limit), deadline)
    return Outcome(picks, bound, bound, 0, len(master.column_cost), 0, optimal)


def _integer(master: Master, x: Floats, deadline: float) -> tuple[list[Pattern], int, bool]:
    """Keep the patterns the LP chose whole; settle the other orders by a MIP."""
    n_orders = master.n_orders
    chosen: list[Pattern | None] = [None] * n_orders
    used = np.zeros(master.rows.count)
    columns_of: dict[int, list[int]] = {}
    for j, order in enumerate(master.column_order):
        if x[j] > INTEGRAL and chosen[order] is None:
            chosen[order] = master.column_pattern[j]
            rows, amounts = master.usage(order, master.column_pattern[j])
            used[rows] += amounts
        columns_of.setdefault(order, []).append(j)
    open_orders = [o for o in range(n_orders) if chosen[o] is None]
    optimal = True
    if open_orders:
        room = np.array(master.rows.limit) - used
        picks, optimal, _ = _settle(master, open_orders, columns_of, room, deadline)
        for order, pattern in zip(open_orders, picks, strict=True):
            chosen[order] = pattern
    return [p if p is not None else () for p in chosen], len(open_orders), optimal


def _settle(
    master: Master,
    orders: list[int],
    columns_of: dict[int, list[int]],
    room: Floats,
    deadline: float,
) -> tuple[list[Pattern], bool, float]:
    """MIP over the generated patterns of ``orders`` within ``room`` left in each row: the
    chosen patterns, whether they are proven optimal, and HiGHS' dual bound."""
    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    highs.setOptionValue("mip_rel_gap", 1e-6)
    highs.setOptionValue("time_limit", max(0.5, deadline - time.monotonic()))
    count = len(orders)
    lower = np.concatenate([np.ones(count), np.full(len(room), -np.inf)])
    upper = np.concatenate([np.ones(count), np.maximum(room, 0.0)])
    empty = np.zeros(0, dtype=np.int32)
    highs.addRows(len(lower), lower, upper, 0, empty, empty, np.zeros(0))
    costs: list[float] = []
    starts: list[int] = []
    index: list[int] = []
    value: list[float] = []
    owner: list[tuple[int, Pattern]] = []
    for k, order in enumerate(orders):
        for j in columns_of[order]:
            pattern = master.column_pattern[j]
            rows, amounts = master.usage(order, pattern)
            starts.append(len(index))
            index.append(k)
            value.append(1.0)
            index.extend(count + r for r in rows)
            value.extend(amounts)
            costs.append(master.column_cost[j])
            owner.append((k, pattern))
    n = len(costs)
    highs.addCols(
        n,
        np.array(costs),
        np.zeros(n),
        np.ones(n),
        len(index),
        np.array(starts, dtype=np.int32),
        np.array(index, dtype=np.int32),
        np.array(value, dtype=np.float64),
    )
    highs.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.ones(n, dtype=np.uint8))
    highs.run()
    status = highs.getModelStatus()
    picks: list[Pattern] = [()] * count
    solution = highs.getSolution()
    if solution.value_valid:
        x = np.asarray(solution.col_value)
        for j in np.nonzero(x > 0.5)[0]:
            slot, pattern = owner[int(j)]
            picks[slot] = pattern
    optimal = status == highspy.HighsModelStatus.kOptimal
    return picks, optimal, float(highs.getInfo().mip_dual_bound)
