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

import time

import numpy as np

from allocation import baseline, flow, master
from allocation.model import AllocationProblem, validate
from allocation.patterns import Pattern
from allocation.quotes import MAX_LINES, Compiled, Ints, compile_problem
from allocation.rates import billable_weight
from allocation.result import Allocation, Reason, Shipment, Status, Totals, UnfilledLine
from routing.errors import FieldViolation, InvalidInput

#: Share of the time limit, and seconds per order, kept for building the answer.
FINISH_SHARE = 0.05
FINISH_PER_ORDER_S = 2e-5
#: Most shipment patterns for which the whole pattern MIP is built and solved.
ENUMERATE_UP_TO = 20_000


def solve(problem: AllocationProblem, *, time_limit_s: float = 10.0, seed: int = 0) -> Allocation:
    """Allocate ``problem`` within ``time_limit_s`` seconds.

    The search is deterministic: ``seed`` is accepted for the common solver signature and
    changes nothing. Raises :class:`routing.errors.InvalidInput` for a malformed problem.
    """
    del seed
    started = time.monotonic()
    # Time kept for building the answer after the search.
    finish = FINISH_SHARE * time_limit_s + FINISH_PER_ORDER_S * len(problem.orders)
    deadline = started + max(0.0, time_limit_s - finish)
    validate(problem)
    _check_size(problem)
    compiled = compile_problem(problem)
    base = baseline.nearest_fc(compiled)
    if flow.applies(compiled):
        patterns, objective = flow.solve(compiled)
        bound = float(objective)
        method = "min_cost_flow"
    else:
        limit = problem.policy.packages_limit
        rows = master.coupling_rows(compiled)
        every = master.enumerate_patterns(compiled, rows, limit, ENUMERATE_UP_TO)
        if every is not None:
            outcome = master.exact(compiled, rows, every, deadline)
            method = "pattern_mip"
        else:
            outcome = master.generate(compiled, rows, base, deadline, limit)
            method = "column_generation"
        patterns, bound = outcome.patterns, outcome.bound
    shipments, unfilled, totals = build(compiled, patterns)
    # The baseline is a feasible answer too: never return worse.
    base_totals = totals_of(compiled, base)
    if base_totals.objective < totals.objective:
        shipments, unfilled, totals = build(compiled, base)
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

    Costs come from the solver's price tables, which follow :func:`allocation.rates.quote`
    to the minor unit (tests hold the two together).
    """
    problem = compiled.problem
    left = compiled.stock.copy()
    sku_at = {k: i for i, k in enumerate(compiled.sku_ids)}
    sizes = {k: (sku.weight_kg, sku.volume_cm3) for k, sku in problem.skus.items()}
    # Per FC and service: ids, rate card, delivery day by zone.
    lanes = {
        (f, s): (
            fc.id,
            service.id,
            service.rate_card,
            {
                z: problem.ship_day(fc) + days
                for z, days in zip(service.rate_card.zones, service.transit_days, strict=True)
            },
        )
        for f, fc in enumerate(problem.fcs)
        for s, service in enumerate(problem.services)
    }
    shipments: list[Shipment] = []
    covered: list[int] = []
    groups = compiled.groups
    sizes_of, slots = compiled.size.tolist(), compiled.slot.tolist()
    zones = compiled.zones
    for o, (order, pattern) in enumerate(zip(problem.orders, patterns, strict=True)):
        done = 0
        group, i = groups[sizes_of[o]], slots[o]
        for f, s, mask in pattern:
            lines = tuple(line for j, line in enumerate(order.lines) if mask >> j & 1)
            weight = volume = 0.0
            for line in lines:
                unit_kg, unit_cm3 = sizes[line.sku]
                weight += line.quantity * unit_kg
                volume += line.quantity * unit_cm3
                left[f, sku_at[line.sku]] -= line.quantity
            fc_id, service_id, card, delivery = lanes[f, s]
            zone = int(zones[o, f, s])
            shipments.append(
                Shipment(
                    order.id,
                    fc_id,
                    service_id,
                    lines,
                    zone,
                    billable_weight(card, weight, volume),
                    card.weight_unit,
                    int(group.cost[i, mask, f, s]),
                    delivery[zone],
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


def totals_of(compiled: Compiled, patterns: list[Pattern]) -> Totals:
    """Totals of one pattern per order, from the price tables (no shipments built)."""
    packages = [(o, *package) for o, pattern in enumerate(patterns) for package in pattern]
    cost = penalty = unfilled = 0
    covered = np.zeros(len(patterns), dtype=np.int64)
    if packages:
        o, f, s, mask = np.array(packages, dtype=np.int64).T
        np.bitwise_or.at(covered, o, mask)
        size, slot = compiled.size[o], compiled.slot[o]
        for n, group in compiled.groups.items():
            mine = size == n
            cost += int(group.cost[slot[mine], mask[mine], f[mine], s[mine]].sum())
    for n, group in compiled.groups.items():
        filled = np.zeros(len(group.orders), dtype=np.int64)
        for line in range(n):
            filled += covered[group.orders] >> line & 1
        missing = n - filled
        unfilled += int(missing.sum())
        penalty += int((missing * group.penalty).sum())
    return Totals(cost, penalty, len(packages), unfilled)


def _reason(compiled: Compiled, o: int, line: int, left: Ints) -> Reason:
    """Why line ``line`` of order ``o`` is unfilled, given the stock ``left`` after the plan."""
    if not compiled.reachable[o]:
        return Reason.UNDELIVERABLE_DESTINATION
    group, i = compiled.position(o)
    shippable = np.isfinite(group.cost[i, 1 << line]).any(axis=1)
    if not shippable.any():
        if group.stockable[i, line].any() or not compiled.promisable[o]:
            return Reason.NO_SERVICE_MEETS_PROMISE
        return Reason.OUT_OF_STOCK
    k = group.sku[i, line]
    if (left[shippable, k] >= group.qty[i, line]).any():
        return Reason.OVER_CAPACITY
    return Reason.OUT_OF_STOCK
