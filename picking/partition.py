"""Batching by set partitioning: column generation over carts, then a small MIP.

A plan is a choice of carts (sets of orders) covering every order exactly once. Its linear
relaxation over *every* capacity-feasible cart is a strong guide: on a 100-order Henn-Waescher
wave at 45 items it is 0.2 % below the optimum, while local search over order moves and swaps
stops about 3 % above it (``benchmarks/results/picking.md``). Enumerating every cart is out of
reach beyond small carts (a million sets of orders for that wave, 10^13 at 48 items of
Muter-Oencan), so the carts are generated:

1. The restricted master LP (HiGHS, simplex) holds each order alone, the carts of the plan
   found by the search, and every cart generated so far; a row asks for at least the fewest
   carts the orders' load needs. (Interior-point duals, central rather than a vertex's, gave
   plans no shorter on the benchmark waves.)
2. Pricing looks for carts whose route costs less than the duals of their orders: from every
   cart the LP uses, a steepest descent on the reduced cost adds an order, drops one or swaps
   one in (candidates: the orders with the highest duals; once those yield nothing, every
   order; then descents start from every order alone as well). Every improving cart is
   added. Prices only grow with orders, so a trial is skipped, unpriced, when even a free
   added order could not make it the best of its step. Pricing is a heuristic: when it finds
   nothing, the LP is not proven optimal over all carts.
3. When pricing finds nothing more, a last pass keeps the 1,000 carts with the least reduced
   cost among those it meets within the gap to the starting plan (at most 2 % of the LP): the
   LP's optimum is often fractional, and a whole plan as short needs carts it did not use.
4. When that is done or its time is up, a MIP (HiGHS) over the generated carts, started
   from the search's plan, picks the partition; the plan is never worse than that start.

Exact prices make this work (a route through more bins is never shorter, so an added order
costs at least nothing); :func:`picking.wave.plan` calls it only where prices are exact and
orders have no pick-by times, whose lateness penalty is not a sum over carts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import highspy
import numpy as np

from picking.batching import Item
from picking.model import Cart, Load, fits
from routing.highs import quiet_highs

#: Orders with the highest duals that pricing tries first as additions and swaps; once they
#: yield no cart, every order is tried.
PRICING_CANDIDATES = 25
#: Steps of one pricing descent, at most.
PRICING_STEPS = 12
#: Rounds of column generation, at most (each: an LP, then pricing from its carts).
MAX_ROUNDS = 200
#: Share of the time given to the final MIP.
MIP_SHARE = 0.4
#: Nodes of the final MIP, at most (so that runs without a binding deadline repeat).
MIP_MAX_NODES = 5_000
#: A cart enters the LP when its reduced cost is below minus this many mm.
EPSILON_MM = 1.0
#: Once pricing finds nothing more, one last pass adds carts whose reduced cost is within the
#: gap between the LP and the starting plan, at most this share of the LP ...
GAP_SLACK = 0.02
#: ... and of those, this many with the least reduced cost (the last pass meets thousands on
#: 100-order waves, and a MIP over them all finds nothing better in the time).
NEAR_CARTS = 1_000


@dataclass(frozen=True)
class Partition:
    """The chosen carts (item indices), their total route length, and the search's figures."""

    batches: list[list[int]]
    distance_mm: int
    lp_mm: float  # the last restricted LP's value (not a bound: pricing is heuristic)
    columns: int
    rounds: int


class _Master:
    """The restricted master LP: one row per item (exactly once), one for the fewest carts."""

    def __init__(self, n: int, fewest: int) -> None:
        self.n = n
        self.highs = quiet_highs()
        empty = np.zeros(0, dtype=np.int32)
        ones = np.ones(n)
        self.highs.addRows(n, ones, ones, 0, empty, empty, np.zeros(0))
        self.highs.addRows(1, np.array([float(fewest)]), np.array([highspy.kHighsInf]), 0,
                           empty, empty, np.zeros(0))  # fmt: skip
        self.columns: list[tuple[int, ...]] = []
        self.costs: list[int] = []
        self.known: dict[tuple[int, ...], int] = {}  # cart -> its column

    def add(self, carts: Sequence[tuple[tuple[int, ...], int]]) -> None:
        """Add carts (sorted item tuples with their cost in mm); the caller skips known ones."""
        starts: list[int] = []
        index: list[int] = []
        for members, cost in carts:
            starts.append(len(index))
            index.extend([*members, self.n])
            self.known[members] = len(self.columns)
            self.columns.append(members)
            self.costs.append(cost)
        k = len(carts)
        if k:
            self.highs.addCols(
                k,
                np.array([c / 1000 for _, c in carts]),
                np.zeros(k),
                np.full(k, highspy.kHighsInf),
                len(index),
                np.array(starts, dtype=np.int32),
                np.array(index, dtype=np.int32),
                np.ones(len(index)),
            )

    def solve(self) -> tuple[np.ndarray, np.ndarray, float, float] | None:
        """Primal values, item duals (mm), the cart row's dual (mm) and the LP value (m)."""
        self.highs.run()
        if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        solution = self.highs.getSolution()
        duals = np.asarray(solution.row_dual) * 1000
        value = float(self.highs.getInfo().objective_function_value)
        return np.asarray(solution.col_value), duals[: self.n], float(duals[self.n]), value


class _Step:
    """The best trial of one pricing step, and every trial worth keeping (within ``slack``)."""

    def __init__(
        self, to_beat: float, slack: float, keep: Callable[[list[int], int], None]
    ) -> None:
        self.gain, self.slack, self.keep = to_beat, slack, keep
        self.best: list[int] | None = None
        self.cost = 0

    def bar(self) -> float:
        """The gain a trial must exceed to matter."""
        return min(self.gain, -self.slack) if self.slack > 0 else self.gain

    def weigh(self, trial: list[int], gain: float, cost: int) -> None:
        if gain > self.gain:
            self.gain, self.best, self.cost = gain, trial, cost
        if self.slack > 0 and gain > -self.slack:
            self.keep(trial, cost)


class Partitioner:
    """Column generation and a final MIP over ``items``; see the module docstring."""

    def __init__(
        self,
        items: Sequence[Item],
        cart: Cart,
        cost: Callable[[frozenset[int]], int],
        fewest_carts: int,
    ) -> None:
        """``fewest_carts``: a lower bound on the carts of any plan (see
        :attr:`picking.batching.Batcher.fewest_carts`)."""
        self.items, self.cart, self.cost = items, cart, cost
        self.n = len(items)
        self.fewest = fewest_carts
        self._units_only = cart == Cart(capacity_units=cart.capacity_units)
        #: Prices of many carts at once, where they come faster so (see
        #: :meth:`picking.pricing.RouteCoster.many`).
        self._many: Callable[[list[frozenset[int]]], list[int]] | None = (
            getattr(cost, "many", None) if getattr(cost, "bulk", False) else None
        )

    def price(self, members: Sequence[int]) -> int:
        """Route length (mm) of a cart holding ``members``."""
        return self.cost(self._locations(members))

    def prefetch(self, carts: Sequence[Sequence[int]]) -> None:
        """Price ``carts`` together ahead of :meth:`price`, where prices come in bulk."""
        if self._many is not None and len(carts) > 1:
            self._many([self._locations(members) for members in carts])

    def _locations(self, members: Sequence[int]) -> frozenset[int]:
        return frozenset().union(*(self.items[i].locs for i in members))

    def fits(self, members: Sequence[int]) -> bool:
        """Whether ``members`` fit on one cart together."""
        if self._units_only:
            return sum(self.items[i].load.units for i in members) <= self.cart.capacity_units
        return fits(self.cart, sum((self.items[i].load for i in members), start=Load()))

    def solve(self, initial: list[list[int]], deadline: float) -> Partition:
        """The best partition found before ``deadline`` (``time.monotonic()``), starting from
        ``initial`` (a plan covering every item once), never worse than it."""
        started = time.monotonic()
        pricing_end = deadline - MIP_SHARE * max(deadline - started, 0.0)
        master, upper, lp_value, rounds = self._generate(initial, pricing_end, near=True)
        batches = self._mip(master, initial, upper, deadline)
        distance = sum(self.price(b) for b in batches)
        return Partition(batches, distance, lp_value * 1000, len(master.columns), rounds)

    def carts(self, initial: list[list[int]], deadline: float) -> list[tuple[tuple[int, ...], int]]:
        """Every cart column generation from ``initial`` meets before ``deadline`` or before
        pricing finds nothing more (sorted item tuples with their cost in mm)."""
        master = self._generate(initial, deadline, near=False)[0]
        return list(zip(master.columns, master.costs, strict=True))

    def _generate(
        self, initial: list[list[int]], deadline: float, *, near: bool
    ) -> tuple[_Master, int, float, int]:
        """Column generation until ``deadline`` (with the last pass for carts near the LP when
        ``near``): the master, the cost of ``initial``, the last LP value (m), the rounds."""
        master = _Master(self.n, self.fewest)
        seed = {tuple(sorted(b)) for b in initial} | {(i,) for i in range(self.n)}
        master.add([(m, self.price(m)) for m in sorted(seed)])
        upper = sum(self.price(b) for b in initial)
        rounds, lp_value, stage = 0, math.nan, 0
        while rounds < MAX_ROUNDS and time.monotonic() < deadline:
            solved = master.solve()
            if solved is None:
                break
            rounds += 1
            x, duals, cart_dual, lp_value = solved
            starts = np.flatnonzero(x > 1e-6).tolist()
            if stage >= 2:  # every order alone as well
                starts += [master.known[(i,)] for i in range(self.n)]
            candidates = PRICING_CANDIDATES if stage == 0 else self.n
            slack = -EPSILON_MM
            if stage == 3:  # the LP is done: carts close to it, for the MIP to choose from
                slack = min(upper - lp_value * 1000, GAP_SLACK * lp_value * 1000)
            found = self._price(master, starts, duals, cart_dual, candidates, deadline, slack)
            if stage == 3:  # the nearest to the LP only, to keep the MIP small
                found.sort(key=lambda cart: cart[1] - cart_dual - float(duals[list(cart[0])].sum()))
                del found[NEAR_CARTS:]
            if found:
                master.add(found)
            if stage == 3 or (stage == 2 and not found and not near):
                break
            if not found:
                stage += 1
        return master, upper, lp_value, rounds

    def _price(
        self,
        master: _Master,
        starts: list[int],
        duals: np.ndarray,
        cart_dual: float,
        candidates: int,
        deadline: float,
        slack: float,
    ) -> list[tuple[tuple[int, ...], int]]:
        """Carts of negative reduced cost (or within ``slack`` of it, when positive), by
        steepest descent on the reduced cost from each cart in ``starts``."""
        by_dual = np.argsort(-duals, kind="stable").tolist()
        dual = duals.tolist()
        found: dict[tuple[int, ...], int] = {}

        def keep(members: list[int], cost: int) -> None:
            key = tuple(sorted(members))
            if key not in master.known:
                found[key] = cost

        for k in starts:
            if time.monotonic() >= deadline:
                break
            members = list(master.columns[k])
            cost = master.costs[k]
            gain = sum(dual[i] for i in members) + cart_dual - cost  # minus the reduced cost
            for _ in range(PRICING_STEPS):
                inside = set(members)
                pool = [j for j in by_dual if j not in inside][:candidates]
                # Every trial adds one order of the pool to a base: the cart itself, or the
                # cart less one order (itself a trial: a removal). Prices only grow with
                # orders, so a trial gains at most its base's gain plus the order's dual; the
                # pool is sorted by dual, and its rest is skipped once that cannot win.
                bases = [(members, gain, cost)]
                if len(members) > 1:
                    rests = [[i for i in members if i != m] for m in members]
                    self.prefetch(rests)
                    for m, rest in zip(members, rests, strict=True):
                        c_rest = self.price(rest)
                        bases.append((rest, gain - dual[m] - c_rest + cost, c_rest))
                step = _Step(gain + 1e-6, slack, keep)
                for b, (base, base_gain, base_cost) in enumerate(bases):
                    if b:
                        step.weigh(base, base_gain, base_cost)
                    trials = []
                    for j in pool:
                        if base_gain + dual[j] <= step.bar():
                            break
                        trial = [*base, j]
                        if self.fits(trial):
                            trials.append((j, trial))
                    # Priced together: those the bar, as it rises below, leaves out as well.
                    self.prefetch([trial for _, trial in trials])
                    for j, trial in trials:
                        if base_gain + dual[j] <= step.bar():
                            break
                        c = self.price(trial)
                        step.weigh(trial, base_gain + dual[j] - c + base_cost, c)
                if step.best is None:
                    break
                gain, members, cost = step.gain, step.best, step.cost
                if gain > -slack:
                    keep(members, cost)
        return list(found.items())

    def _mip(
        self, master: _Master, initial: list[list[int]], upper: int, deadline: float
    ) -> list[list[int]]:
        """The cheapest exact cover by the generated carts, started from ``initial`` (whose
        carts cost ``upper`` in all); ``initial`` itself when the MIP finds nothing cheaper."""
        highs = quiet_highs()
        highs.setOptionValue("mip_max_nodes", MIP_MAX_NODES)
        highs.setOptionValue("time_limit", max(0.05, deadline - time.monotonic()))
        model = master.highs.getLp()
        m = model.num_col_
        model.col_upper_ = np.ones(m)
        model.integrality_ = [highspy.HighsVarType.kInteger] * m
        highs.passModel(model)
        start = np.zeros(m)
        start[[master.known[tuple(sorted(b))] for b in initial]] = 1.0
        highs.setSolution(m, np.arange(m, dtype=np.int32), start)
        highs.run()
        solution = highs.getSolution()
        if not solution.value_valid:
            return [list(b) for b in initial]
        chosen = np.flatnonzero(np.asarray(solution.col_value) > 0.5).tolist()
        batches = [list(master.columns[k]) for k in chosen]
        if sum(master.costs[k] for k in chosen) > upper:
            return [list(b) for b in initial]
        return batches
