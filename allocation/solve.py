"""Allocate a day's orders to FCs and carrier services at least cost: the entry point.

:func:`solve` prices every package each order could ship (:mod:`allocation.quotes`), plans the
nearest-FC baseline on the same input (:mod:`allocation.baseline`) and then picks the engine:

- **min-cost flow** (:mod:`allocation.flow`) when every order is a single unit and no service
  capacity can bind: optimal, and proven so;
- otherwise **column generation** over shipment patterns (:mod:`allocation.master`): the LP
  relaxation of the pattern model, solved to its optimum when time allows, gives a lower bound
  that is at least as strong as the compact MIP's; the orders the LP splits are settled by a
  MIP over the patterns found. The answer reports the bound and its gap; it is ``OPTIMAL`` when
  the gap closes to less than one minor unit.

Orders with nothing to ship keep their lines unfilled, each with a reason.
"""

from __future__ import annotations

import math
import time

import numpy as np

from allocation import baseline, flow, master
from allocation.model import AllocationProblem, OrderLine, validate
from allocation.patterns import Pattern, pattern_cost
from allocation.quotes import MAX_LINES, Compiled, Ints, compile_problem
from allocation.rates import quote
from allocation.result import Allocation, Reason, Shipment, Status, Totals, UnfilledLine
from routing.errors import FieldViolation, InvalidInput

#: Most shipment patterns for which the whole pattern MIP is built and solved.
ENUMERATE_UP_TO = 20_000


def solve(problem: AllocationProblem, *, time_limit_s: float = 10.0, seed: int = 0) -> Allocation:
    """Allocate ``problem`` within ``time_limit_s`` seconds.

    The search is deterministic: ``seed`` is accepted for the common solver signature and
    changes nothing. Raises :class:`routing.errors.InvalidInput` for a malformed problem.
    """
    del seed
    started = time.monotonic()
    deadline = started + max(0.0, time_limit_s)
    validate(problem)
    _check_size(problem)
    compiled = compile_problem(problem)
    base = baseline.nearest_fc(compiled)
    rows = master.coupling_rows(compiled)
    if flow.applies(compiled, rows):
        patterns, objective = flow.solve(compiled)
        bound = float(objective)
        method = "min_cost_flow"
    else:
        limit = problem.policy.packages_limit
        every = master.enumerate_patterns(compiled, rows, limit, ENUMERATE_UP_TO)
        if every is not None:
            outcome = master.exact(compiled, every, deadline)
            method = "pattern_mip"
        else:
            outcome = master.generate(compiled, base, deadline, limit)
            method = "column_generation"
        patterns, bound = outcome.patterns, outcome.bound
    shipments, unfilled, totals = build(compiled, patterns)
    # The baseline is a feasible answer too: never return worse.
    base_shipments, base_unfilled, base_totals = build(compiled, base)
    if base_totals.objective < totals.objective:
        shipments, unfilled, totals = base_shipments, base_unfilled, base_totals
    bound = min(bound, float(totals.objective))
    status = Status.OPTIMAL if totals.objective - bound < 1 - 1e-6 else Status.FEASIBLE
    return Allocation(
        shipments,
        unfilled,
        totals,
        base_totals,
        bound,
        status,
        method,
        time.monotonic() - started,
    )


def _check_size(problem: AllocationProblem) -> None:
    problems = [
        FieldViolation(f"orders[{i}].lines", f"{len(o.lines)} lines; at most {MAX_LINES}")
        for i, o in enumerate(problem.orders)
        if len(o.lines) > MAX_LINES
    ]
    if problems:
        raise InvalidInput(problems)


def build(
    compiled: Compiled, patterns: list[Pattern]
) -> tuple[tuple[Shipment, ...], tuple[UnfilledLine, ...], Totals]:
    """Shipments, unfilled lines with reasons and totals of one pattern per order.

    Each shipment's cost is read off the rate cards by :func:`allocation.rates.quote`.
    """
    problem = compiled.problem
    left = compiled.stock.copy()
    sku_at = {k: i for i, k in enumerate(compiled.sku_ids)}
    shipments: list[Shipment] = []
    covered: list[int] = []
    for order, pattern in zip(problem.orders, patterns, strict=True):
        done = 0
        for f, s, mask in pattern:
            lines = tuple(line for j, line in enumerate(order.lines) if mask >> j & 1)
            weight = volume = 0.0
            for line in lines:
                sku = problem.skus[line.sku]
                weight += line.quantity * sku.weight_kg
                volume += line.quantity * sku.volume_cm3
                left[f, sku_at[line.sku]] -= line.quantity
            fc, service = problem.fcs[f], problem.services[s]
            q = quote(problem, order, fc, service, weight, volume)
            if q is None:
                raise AssertionError(f"order {order.id!r}: no quote for a planned package")
            shipments.append(
                Shipment(
                    order.id,
                    fc.id,
                    service.id,
                    tuple(OrderLine(x.sku, x.quantity) for x in lines),
                    q.zone,
                    q.billable_weight,
                    service.rate_card.weight_unit,
                    q.cost,
                    q.delivery_day,
                )
            )
            done |= mask
        covered.append(done)
    unfilled: list[UnfilledLine] = []
    penalty = 0
    for o, (order, done) in enumerate(zip(problem.orders, covered, strict=True)):
        for j, line in enumerate(order.lines):
            if not done >> j & 1:
                reason = _reason(compiled, o, j, left)
                unfilled.append(UnfilledLine(order.id, j, line.sku, line.quantity, reason))
                penalty += problem.policy.unfilled_line_penalty * (1 + order.priority)
    totals = Totals(sum(x.cost for x in shipments), penalty, len(shipments), len(unfilled))
    return tuple(shipments), tuple(unfilled), totals


def _reason(compiled: Compiled, o: int, line: int, left: Ints) -> Reason:
    """Why line ``line`` of order ``o`` is unfilled, given the stock ``left`` after the plan."""
    if not compiled.reachable[o]:
        return Reason.UNDELIVERABLE_DESTINATION
    n = len(compiled.problem.orders[o].lines)
    group = compiled.groups[n]
    i = int(np.searchsorted(group.orders, o))
    shippable = np.isfinite(group.cost[i, 1 << line]).any(axis=1)
    if not shippable.any():
        if group.stockable[i, line].any() or not compiled.promisable[o]:
            return Reason.NO_SERVICE_MEETS_PROMISE
        return Reason.OUT_OF_STOCK
    k = group.sku[i, line]
    if (left[shippable, k] >= group.qty[i, line]).any():
        return Reason.OVER_CAPACITY
    return Reason.OUT_OF_STOCK


def objective_of(compiled: Compiled, patterns: list[Pattern]) -> float:
    """The solver's own objective of a pattern per order (rate-card tables, penalties)."""
    total = 0.0
    for n, group in compiled.groups.items():
        del n
        for i, o in enumerate(group.orders):
            total += pattern_cost(group, i, patterns[int(o)])
    return total if math.isfinite(total) else math.inf
