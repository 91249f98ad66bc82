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
from collections.abc import Sequence
from dataclasses import dataclass, field

import highspy
import numpy as np

from allocation.patterns import Pattern, Prices, cheapest, pattern_cost
from allocation.quotes import Bools, Compiled, Floats, Group, Ints
from routing.highs import quiet_highs

#: Reduced cost below which a pattern enters the LP (in minor units).
ENTER_TOLERANCE = 1e-4
#: LP value above which an order counts as having chosen a pattern.
INTEGRAL = 1 - 1e-6
#: Share of the time limit spent on the LP; the rest goes to the MIP.
PRICING_SHARE = 0.75
#: New columns, per order in the LP, above which the LP is solved again from scratch.
REBUILD_ABOVE = 0.05
#: Most orders in one LP; a larger day is solved in chunks (see :func:`generate`).
CHUNK_ORDERS = 25_000
#: Orders in the sample whose LP prices the bound of a chunked day.
SAMPLE_SIZE = 2_000
#: Share of a chunked day's time kept for solving again where the chunks did worst.
POLISH_SHARE = 0.35
#: Share of a chunked day's time the sample may take.
SAMPLE_SHARE = 0.05


@dataclass
class Rows:
    """The coupling rows that could bind: index maps (-1: no row) and limits.

    ``lines[f, k]`` and ``sku_lines[k]`` are cuts, not limits of the problem: lines ship whole,
    so the lines of SKU ``k`` that FC ``f`` (or all FCs together) can fill are at most as many as
    the smallest quantities asked for that add up to its stock. The LP would otherwise fill
    fractions of lines from scarce stock.
    """

    stock: Ints
    lines: Ints
    sku_lines: Ints
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
        np.full((n_f, n_k), -1, dtype=np.int64),
        np.full(n_k, -1, dtype=np.int64),
        np.full(n_f, -1, dtype=np.int64),
        np.full(n_f, -1, dtype=np.int64),
        np.full((n_f, n_s), -1, dtype=np.int64),
    )
    scarce = demand > compiled.stock
    for f, k in zip(*np.nonzero(scarce), strict=True):
        rows.stock[f, k] = rows.count
        rows.limit.append(float(compiled.stock[f, k]))
    _line_cuts(compiled, rows, scarce)
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


def _line_cuts(compiled: Compiled, rows: Rows, scarce: Bools) -> None:
    """Add the cuts on lines filled from scarce stock where they cut off fractional fills."""
    n_f, n_k = scarce.shape
    asked: list[list[list[int]]] = [[[] for _ in range(n_k)] for _ in range(n_f)]
    anywhere: list[list[int]] = [[] for _ in range(n_k)]
    for group in compiled.groups.values():
        for i in range(len(group.orders)):
            for line in range(group.n):
                k = int(group.sku[i, line])
                q = int(group.qty[i, line])
                fcs = np.nonzero(group.stockable[i, line])[0]
                if len(fcs):
                    anywhere[k].append(q)
                for f in fcs:
                    if scarce[f, k]:
                        asked[f][k].append(q)
    most_per_fc = np.zeros((n_f, n_k), dtype=np.int64)
    for f, k in zip(*np.nonzero(scarce), strict=True):
        most = _most_lines(asked[f][k], int(compiled.stock[f, k]))
        most_per_fc[f, k] = most
        if most < len(asked[f][k]) and max(asked[f][k]) > 1:
            rows.lines[f, k] = rows.count
            rows.limit.append(float(most))
    for k in np.nonzero(scarce.any(axis=0))[0].tolist():
        most = _most_lines(anywhere[k], int(compiled.stock[:, k].sum()))
        by_fc = sum(
            int(most_per_fc[f, k]) if scarce[f, k] else len(anywhere[k]) for f in range(n_f)
        )
        if most < min(len(anywhere[k]), by_fc):
            rows.sku_lines[k] = rows.count
            rows.limit.append(float(most))


def _most_lines(quantities: list[int], stock: int) -> int:
    """Most lines that ``stock`` units can fill whole: the smallest first."""
    filled = 0
    for q in sorted(quantities):
        if q > stock:
            break
        stock -= q
        filled += 1
    return filled


def positions(compiled: Compiled) -> dict[int, tuple[int, int]]:
    """Where each order sits: its group (line count) and its position in the group."""
    where: dict[int, tuple[int, int]] = {}
    for n, group in compiled.groups.items():
        for i, o in enumerate(group.orders):
            where[int(o)] = (n, i)
    return where


def use(
    compiled: Compiled, rows: Rows, where: tuple[int, int], pattern: Pattern
) -> tuple[list[int], list[float]]:
    """Coupling rows a pattern uses, and how much of each (``where``: the order's group and
    position)."""
    n, i = where
    group = compiled.groups[n]
    index: list[int] = []
    value: list[float] = []
    for f, s, mask in pattern:
        for line in range(n):
            if mask >> line & 1:
                k = group.sku[i, line]
                for r, amount in (
                    (rows.stock[f, k], float(group.qty[i, line])),
                    (rows.lines[f, k], 1.0),
                    (rows.sku_lines[k], 1.0),
                ):
                    if r >= 0:
                        index.append(int(r))
                        value.append(amount)
        for r, amount in (
            (rows.packages[f], 1.0),
            (rows.units[f], float(group.units[i, mask])),
            (rows.service[f, s], 1.0),
        ):
            if r >= 0:
                index.append(int(r))
                value.append(amount)
    return index, value


class OutOfTime(Exception):
    """The LP did not reach its optimum before the deadline."""


class Master:
    """The restricted master LP in HiGHS, grown column by column and re-solved warm.

    Coupling rows enter the LP lazily: the FC-wide rows from the start, a stock row or cut
    only once the LP's solution breaks it, since most of them never bind. A row not in the LP
    has price 0, which keeps every Lagrangian bound valid.
    """

    def __init__(
        self,
        compiled: Compiled,
        rows: Rows,
        orders: Sequence[int] | None = None,
        room: Floats | None = None,
        deadline: float | None = None,
    ) -> None:
        """The LP over ``orders`` (all when None) within ``room`` of every coupling row (its
        limit when None); a solve still running at ``deadline`` raises :class:`OutOfTime`."""
        self.compiled = compiled
        self.deadline = deadline
        self.rows = rows
        self.limits = np.array(rows.limit, dtype=np.float64) if room is None else room
        self.orders = list(range(len(compiled.problem.orders)) if orders is None else orders)
        self.slot = {o: k for k, o in enumerate(self.orders)}
        self.n_orders = len(self.orders)
        self.highs = quiet_highs()
        ones = np.ones(self.n_orders)
        empty = np.zeros(0, dtype=np.int32)
        self.highs.addRows(self.n_orders, ones, ones, 0, empty, empty, np.zeros(0))
        # In-LP position of each coupling row (-1: not in the LP yet).
        self.active = np.full(rows.count, -1, dtype=np.int64)
        self.in_lp = 0
        self.column_order: list[int] = []
        self.column_pattern: list[Pattern] = []
        self.column_cost: list[float] = []
        self.column_rows: list[tuple[list[int], list[float]]] = []
        self.users: list[list[tuple[int, float]]] = [[] for _ in range(rows.count)]
        self.seen: dict[int, set[Pattern]] = {o: set() for o in self.orders}
        self.where = positions(compiled)
        self.row_price = np.zeros(rows.count)
        # Columns added since the last solve: after many, HiGHS is faster from scratch than
        # from the old basis.
        self.fresh = 0
        fc_wide = np.concatenate([rows.packages, rows.units, rows.service.ravel()])
        self.activate([int(r) for r in fc_wide if r >= 0])

    def usage(self, order: int, pattern: Pattern) -> tuple[list[int], list[float]]:
        """Coupling rows a pattern of ``order`` uses, and how much of each."""
        return use(self.compiled, self.rows, self.where[order], pattern)

    def activate(self, new_rows: list[int]) -> None:
        """Put coupling rows into the LP, with the entries of the columns already there."""
        if not new_rows:
            return
        starts: list[int] = []
        index: list[int] = []
        value: list[float] = []
        for r in new_rows:
            self.active[r] = self.n_orders + self.in_lp
            self.in_lp += 1
            starts.append(len(index))
            for column, amount in self.users[r]:
                index.append(column)
                value.append(amount)
        count = len(new_rows)
        self.highs.addRows(
            count,
            np.full(count, -np.inf),
            self.limits[new_rows],
            len(index),
            np.array(starts, dtype=np.int32),
            np.array(index, dtype=np.int32),
            np.array(value, dtype=np.float64),
        )

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
            column = len(self.column_cost)
            starts.append(len(index))
            index.append(self.slot[order])
            value.append(1.0)
            for r, amount in zip(rows, amounts, strict=True):
                self.users[r].append((column, amount))
                if self.active[r] >= 0:
                    index.append(int(self.active[r]))
                    value.append(amount)
            costs.append(cost)
            self.column_order.append(order)
            self.column_pattern.append(pattern)
            self.column_cost.append(cost)
            self.column_rows.append((rows, amounts))
        if costs:
            count = len(costs)
            self.fresh += count
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

    def solve(self) -> tuple[float, Floats, Floats, Floats]:
        """Solve the LP with every coupling row it breaks added: its value, the convexity
        duals, the duals of all coupling rows (0 for rows not in the LP) and column values."""
        if self.fresh > REBUILD_ABOVE * self.n_orders:
            self.highs.clearSolver()
        self.fresh = 0
        while True:
            if self.deadline is not None:
                self.highs.setOptionValue("time_limit", max(0.01, self.deadline - time.monotonic()))
            self.highs.run()
            if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                raise OutOfTime
            solution = self.highs.getSolution()
            x = np.asarray(solution.col_value)
            broken = self.broken(x)
            if not broken:
                break
            self.activate(broken)
        duals = np.asarray(solution.row_dual)
        coupling = np.zeros(self.rows.count)
        inside = self.active >= 0
        coupling[inside] = duals[self.active[inside]]
        value = float(self.highs.getInfo().objective_function_value)
        return value, duals[: self.n_orders], coupling, x

    def activity(self, x: Floats) -> Floats:
        """How much of every coupling row the columns use at values ``x``."""
        used = np.zeros(self.rows.count)
        for j in np.nonzero(x > 1e-9)[0].tolist():
            rows, amounts = self.column_rows[j]
            used[rows] += x[j] * np.array(amounts)
        return used

    def broken(self, x: Floats) -> list[int]:
        """Coupling rows outside the LP that ``x`` exceeds."""
        over = (self.activity(x) > self.limits + 1e-7) & (self.active < 0)
        return [int(r) for r in np.nonzero(over)[0]]

    def cost_of(self, patterns: list[Pattern]) -> float:
        """Objective of one pattern per order of this LP (in the order of ``orders``)."""
        total = 0.0
        for order, pattern in zip(self.orders, patterns, strict=True):
            n, i = self.where[order]
            total += pattern_cost(self.compiled.groups[n], i, pattern)
        return total

    def prices(self, coupling: Floats) -> Prices:
        """Coupling-row duals as non-negative resource prices (kept in ``row_price``)."""
        self.row_price = np.maximum(0.0, -coupling)
        return _as_prices(self.rows, self.row_price)


def price_all(
    compiled: Compiled,
    prices: Prices,
    limit: int,
    groups: dict[int, Group] | None = None,
) -> tuple[Floats, list[tuple[int, Pattern]]]:
    """Every order's cheapest pattern under ``prices`` (only the orders of ``groups`` when
    given): priced values and patterns, both by order position in the problem."""
    n_orders = len(compiled.problem.orders)
    values = np.zeros(n_orders)
    found: list[tuple[int, Pattern]] = [(o, ()) for o in range(n_orders)]
    for group in (compiled.groups if groups is None else groups).values():
        total, patterns = cheapest(group, prices, limit)
        values[group.orders] = total
        for o, pattern in zip(group.orders, patterns, strict=True):
            found[int(o)] = (int(o), pattern)
    return values, found


def generate(
    compiled: Compiled, rows: Rows, start: list[Pattern], deadline: float, limit: int
) -> Outcome:
    """Column generation from ``start`` (one feasible pattern per order), then the MIP.

    Up to :data:`CHUNK_ORDERS` orders, all orders are in one LP, and the bound is its optimum
    when pricing runs to the end. A larger day is cut into chunks of interleaved orders (each
    chunk a fair sample of the day), solved one after the other: each chunk gets its share of
    what is left of every FC's capacity, in proportion to its orders, and the stock the chunks
    before it left. Chunks cost quality, as an early chunk spends scarce stock without knowing
    what later orders need, so :func:`_polish` then solves again the orders where that shows.
    The bound is the best Lagrangian bound over all orders at the prices of any chunk's LP,
    their mean, the polish's LP, or a sample's LP with every limit scaled to the sample (see
    ``docs/allocation.md``).
    """
    n_orders = len(compiled.problem.orders)
    zero = Prices.zero(compiled.n_fcs, len(compiled.sku_ids), len(compiled.service_ids))
    values, own = price_all(compiled, zero, limit)
    bound = float(values.sum())
    if not rows.count:
        mine = [p for _, p in own]
        return Outcome(mine, bound, bound, 0, len(mine), 0, True)
    limits = np.array(rows.limit)
    count = -(-n_orders // CHUNK_ORDERS)
    chunks = [list(range(c, n_orders, count)) for c in range(count)]
    fc_wide = np.concatenate([rows.packages, rows.units, rows.service.ravel()])
    fc_wide = fc_wide[fc_wide >= 0]
    where = positions(compiled)
    patterns: list[Pattern] = [()] * n_orders
    used = np.zeros(rows.count)
    row_prices: list[Floats] = []
    rounds = columns = fractional = 0
    lp_total = 0.0
    optimal = True
    chunks_end = deadline
    if count > 1:
        chunks_end = time.monotonic() + (1 - POLISH_SHARE) * max(0.0, deadline - time.monotonic())
        until = time.monotonic() + SAMPLE_SHARE * max(0.0, deadline - time.monotonic())
        row_prices.append(_sample_prices(compiled, rows, own, start, limit, until))
    for c, chunk in enumerate(chunks):
        share = len(chunk) / sum(len(x) for x in chunks[c:])
        # A chunk gets its share of every FC's capacity left, and all the stock left: a
        # share of scarce stock, rounded to whole units, strands the units that matter.
        room = limits - used
        room[fc_wide] *= share
        until = time.monotonic() + max(0.0, chunks_end - time.monotonic()) / (count - c)
        pool = {o: [own[o][1], start[o], ()] for o in chunk}
        outcome = _chunk(compiled, rows, chunk, room, pool, until, limit, count == 1)
        lp_total += outcome.lp_value
        rounds += outcome.rounds
        columns += outcome.columns
        fractional += outcome.fractional_orders
        optimal &= outcome.mip_optimal
        row_prices.append(outcome.prices)
        if count == 1:
            bound = max(bound, outcome.bound)
        for o, pattern in zip(chunk, outcome.patterns, strict=True):
            patterns[o] = pattern
            pattern_rows, amounts = use(compiled, rows, where[o], pattern)
            used[pattern_rows] += amounts
    if count > 1:
        row_prices.append(np.mean(row_prices[1:], axis=0))
        polished = _polish(compiled, rows, patterns, own, used, deadline, limit)
        if polished is not None:
            row_prices.append(polished)
        for price in row_prices:
            values, _ = price_all(compiled, _as_prices(rows, price), limit)
            bound = max(bound, float(values.sum() - price @ limits))
    return Outcome(patterns, bound, lp_total, rounds, columns, fractional, optimal)


def _polish(
    compiled: Compiled,
    rows: Rows,
    patterns: list[Pattern],
    own: list[tuple[int, Pattern]],
    used: Floats,
    deadline: float,
    limit: int,
) -> Floats | None:
    """Solve again, as one LP and MIP, the orders where chunks cost the most: those with an
    unfilled line and those holding stock the chunks ran out of (up to a chunk's size, the
    unfilled first). ``patterns`` and ``used`` are updated in place when the answer is
    better; returns the LP's row prices (None when there is nothing to do)."""
    limits = np.array(rows.limit)
    where = positions(compiled)
    fc_wide = np.concatenate([rows.packages, rows.units, rows.service.ravel()])
    exhausted = limits - used < 1 - 1e-9
    exhausted[fc_wide[fc_wide >= 0]] = False
    short: list[int] = []
    holding: list[int] = []
    for o, pattern in enumerate(patterns):
        lines = len(compiled.problem.orders[o].lines)
        if sum(bin(mask).count("1") for _, _, mask in pattern) < lines:
            short.append(o)
        elif any(exhausted[use(compiled, rows, where[o], pattern)[0]]):
            holding.append(o)
    hood = sorted((short + holding)[:CHUNK_ORDERS])
    if not hood:
        return None
    room = limits - used
    for o in hood:
        pattern_rows, amounts = use(compiled, rows, where[o], patterns[o])
        room[pattern_rows] += amounts
    pool = {o: [own[o][1], patterns[o], ()] for o in hood}
    outcome = _chunk(compiled, rows, hood, room, pool, deadline, limit, True)
    before = sum(pattern_cost(compiled.groups[where[o][0]], where[o][1], patterns[o]) for o in hood)
    after = sum(
        pattern_cost(compiled.groups[where[o][0]], where[o][1], p)
        for o, p in zip(hood, outcome.patterns, strict=True)
    )
    if after < before:
        for o, new in zip(hood, outcome.patterns, strict=True):
            for pattern, sign in ((patterns[o], -1.0), (new, 1.0)):
                pattern_rows, amounts = use(compiled, rows, where[o], pattern)
                used[pattern_rows] += sign * np.array(amounts)
            patterns[o] = new
    return outcome.prices


@dataclass
class _Chunk:
    """What one LP over some orders gives: patterns by chunk position, the bound over those
    orders (valid only when they are all the orders), the LP value, the last row prices."""

    patterns: list[Pattern]
    bound: float
    lp_value: float
    prices: Floats
    rounds: int
    columns: int
    fractional_orders: int
    mip_optimal: bool


def _chunk(
    compiled: Compiled,
    rows: Rows,
    orders: list[int],
    room: Floats,
    pool: dict[int, list[Pattern]],
    deadline: float,
    limit: int,
    alone: bool,
) -> _Chunk:
    """Column generation over ``orders`` within ``room``, from the patterns in ``pool`` (the
    second of each order's is its starting pattern), then the MIP, all by ``deadline``.

    ``alone``: these are all the orders, so their starting patterns keep every limit and the
    LP may be cut short at the deadline."""
    started = time.monotonic()
    pricing_end = started + PRICING_SHARE * max(0.0, deadline - started)
    groups = compiled.restricted(orders)
    master = Master(compiled, rows, orders, room, deadline if alone else None)
    master.add([(o, p) for o in orders for p in pool[o]])
    bound = -np.inf
    rounds = 0
    try:
        lp_value, convexity, coupling, x = master.solve()
    except OutOfTime:
        # Not even the first LP in time: the orders keep their starting pattern.
        start = [pool[o][1] for o in orders]
        return _Chunk(start, bound, np.inf, master.row_price, 0, 0, len(orders), False)
    while time.monotonic() < pricing_end:
        rounds += 1
        values, found = price_all(compiled, master.prices(coupling), limit, groups)
        bound = max(bound, float(values[orders].sum() - master.row_price @ room))
        reduced = values[orders] - convexity
        entering = [found[orders[k]] for k in np.nonzero(reduced < -ENTER_TOLERANCE)[0]]
        if not entering or lp_value - bound <= 1e-9 * max(1.0, abs(lp_value)):
            break
        master.add(entering)
        try:
            lp_value, convexity, coupling, x = master.solve()
        except OutOfTime:
            # The last solved LP's values stand; columns added since are at 0.
            x = np.concatenate([x, np.zeros(len(master.column_cost) - len(x))])
            break
    prices = master.row_price.copy()
    chosen, fractional, optimal = _integer(master, x, deadline)
    return _Chunk(
        chosen, bound, lp_value, prices, rounds, len(master.column_cost), fractional, optimal
    )


def _as_prices(rows: Rows, price: Floats) -> Prices:
    """Row prices as resource prices."""
    padded = np.append(price, 0.0)
    return Prices(
        padded[rows.stock],
        padded[rows.lines] + padded[rows.sku_lines][None, :],
        padded[rows.packages],
        padded[rows.units],
        padded[rows.service],
    )


def _sample_prices(
    compiled: Compiled,
    rows: Rows,
    own: list[tuple[int, Pattern]],
    start: list[Pattern],
    limit: int,
    until: float,
) -> Floats:
    """The price of every row from the LP of a random sample of the orders, every limit scaled
    down to the sample's share (the same sample for the same problem)."""
    n_orders = len(compiled.problem.orders)
    rng = np.random.default_rng(0)
    sample = sorted(rng.choice(n_orders, size=min(n_orders, SAMPLE_SIZE), replace=False).tolist())
    share = len(sample) / n_orders
    master = Master(compiled, rows, sample, np.array(rows.limit) * share)
    master.add(
        [own[o] for o in sample] + [(o, start[o]) for o in sample] + [(o, ()) for o in sample]
    )
    _, convexity, coupling, _ = master.solve()
    while time.monotonic() < until:
        values, found = price_all(compiled, master.prices(coupling), limit)
        reduced = values[sample] - convexity
        entering = [found[sample[k]] for k in np.nonzero(reduced < -ENTER_TOLERANCE)[0]]
        if not entering:
            break
        master.add(entering)
        _, convexity, coupling, _ = master.solve()
    master.prices(coupling)
    return master.row_price


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


def exact(
    compiled: Compiled, rows: Rows, columns: list[tuple[int, Pattern]], deadline: float
) -> Outcome:
    """The pattern MIP over every pattern: optimal when HiGHS proves it within the time."""
    master = Master(compiled, rows)
    master.add(columns)
    columns_of: dict[int, list[int]] = {}
    for j, order in enumerate(master.column_order):
        columns_of.setdefault(order, []).append(j)
    orders = list(range(master.n_orders))
    picks, optimal, bound = _settle(master, orders, columns_of, master.limits, deadline)
    return Outcome(picks, bound, bound, 0, len(master.column_cost), 0, optimal)


def _integer(master: Master, x: Floats, deadline: float) -> tuple[list[Pattern], int, bool]:
    """An integer answer from the LP's, one pattern per order of ``master.orders``.

    The orders the LP settled keep their pattern and a MIP settles the rest; then a MIP over
    every generated pattern of every order, started from that answer, improves it while time
    remains.
    """
    chosen: dict[int, Pattern] = {}
    used = np.zeros(master.rows.count)
    columns_of: dict[int, list[int]] = {}
    for j, order in enumerate(master.column_order):
        if x[j] > INTEGRAL and order not in chosen:
            chosen[order] = master.column_pattern[j]
            rows, amounts = master.column_rows[j]
            used[rows] += amounts
        columns_of.setdefault(order, []).append(j)
    open_orders = [o for o in master.orders if o not in chosen]
    if not open_orders:
        return [chosen[o] for o in master.orders], 0, True
    room = master.limits - used
    remaining = max(0.0, deadline - time.monotonic())
    picks, _, _ = _settle(master, open_orders, columns_of, room, time.monotonic() + 0.3 * remaining)
    chosen.update(zip(open_orders, picks, strict=True))
    rounded = [chosen[o] for o in master.orders]
    picks, optimal, _ = _settle(
        master, master.orders, columns_of, master.limits, deadline, start=chosen
    )
    if master.cost_of(picks) <= master.cost_of(rounded):
        return picks, len(open_orders), optimal
    return rounded, len(open_orders), False


def _settle(
    master: Master,
    orders: list[int],
    columns_of: dict[int, list[int]],
    room: Floats,
    deadline: float,
    start: dict[int, Pattern] | None = None,
) -> tuple[list[Pattern], bool, float]:
    """MIP over the generated patterns of ``orders`` within ``room`` left in each row: the
    chosen patterns, whether they are proven optimal, and HiGHS' dual bound. ``start`` (one
    pattern per order, all among the generated ones) is handed to HiGHS as its first
    incumbent."""
    count = len(orders)
    # Only rows these orders' patterns could break: most stock rows cannot bind here.
    most = np.zeros(len(room))
    for order in orders:
        peak: dict[int, float] = {}
        for j in columns_of[order]:
            for r, amount in zip(*master.column_rows[j], strict=True):
                peak[r] = max(peak.get(r, 0.0), amount)
        if peak:
            most[list(peak)] += list(peak.values())
    binding = np.nonzero(most > room + 1e-9)[0]
    position = np.full(len(room), -1, dtype=np.int64)
    position[binding] = count + np.arange(len(binding))
    highs = quiet_highs()
    highs.setOptionValue("mip_rel_gap", 1e-6)
    highs.setOptionValue("time_limit", max(0.2, deadline - time.monotonic()))
    lower = np.concatenate([np.ones(count), np.full(len(binding), -np.inf)])
    upper = np.concatenate([np.ones(count), np.maximum(room[binding], 0.0)])
    empty = np.zeros(0, dtype=np.int32)
    highs.addRows(len(lower), lower, upper, 0, empty, empty, np.zeros(0))
    costs: list[float] = []
    starts: list[int] = []
    index: list[int] = []
    value: list[float] = []
    owner: list[tuple[int, Pattern]] = []
    initial: list[float] = []
    for k, order in enumerate(orders):
        for j in columns_of[order]:
            pattern = master.column_pattern[j]
            starts.append(len(index))
            index.append(k)
            value.append(1.0)
            for r, amount in zip(*master.column_rows[j], strict=True):
                if position[r] >= 0:
                    index.append(int(position[r]))
                    value.append(amount)
            costs.append(master.column_cost[j])
            owner.append((k, pattern))
            if start is not None:
                initial.append(1.0 if start[order] == pattern else 0.0)
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
    if start is not None:
        highs.setSolution(n, np.arange(n, dtype=np.int32), np.array(initial))
    highs.run()
    status = highs.getModelStatus()
    picks: list[Pattern] = [()] * count
    solution = highs.getSolution()
    if solution.value_valid:
        x = np.asarray(solution.col_value)
        for j in np.nonzero(x > 0.5)[0].tolist():
            slot, pattern = owner[j]
            picks[slot] = pattern
    elif start is not None:
        picks = [start[o] for o in orders]
    optimal = status == highspy.HighsModelStatus.kOptimal
    return picks, optimal, float(highs.getInfo().mip_dual_bound)
