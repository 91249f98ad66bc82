"""The allocation problem as one plain compact MIP, the reference the allocation engine is
compared with in ``benchmarks.allocation_bench``.

Variables, for order ``o``, line ``l``, FC ``f``, service ``s`` and rate-card weight row ``b``:

* ``y[o,l,f]`` binary: line ``l`` ships from ``f`` (only where ``f`` stocks the whole line and
  some service of ``f`` can carry it; only the locked FC for a locked order);
* ``u[o,l]`` binary: the line is left unfilled, at ``unfilled_line_penalty * (1 + priority)``;
* ``z[o,f,s,b]`` binary: the order's package from ``f`` goes by ``s`` in weight row ``b``,
  only where ``s`` can deliver it (offered, level, zone, promise) and only for rows some subset
  of the lines that ``f`` can ship falls in; its cost is exactly what
  :func:`allocation.rates.quote` charges for a package of that billable weight;
* ``open[o,f] = sum_{s,b} z[o,f,s,b]``, with ``y[o,l,f] <= open[o,f] <= sum_l y[o,l,f]``
  (``y`` itself when only one line can ship from ``f``).

The package's actual and dimensional weight are linear in the ``y``; each must be at most the
top of the chosen row (no big-M when all services weigh alike, as exactly one ``z`` is 1 for an
open package). Rows are not bounded from below: a package may sit in a heavier row than its
billable weight, which never pays when prices do not fall with weight, so an optimal answer
uses the billable row while a time-limited one may overstate its own cost; :func:`check`
reprices the shipments with :func:`allocation.rates.quote`. Stock per FC and SKU, FC package
and unit capacity, per-(FC, service) package capacity and the order's package limit
(``allow_split`` False: one) apply as in :mod:`allocation.model`; a capacity of 0 is no limit.

The model is built with pywraplp. SCIP solves it there; HiGHS solves its MPS export through
highspy, because OR-Tools' HiGHS bridge drops the gap and thread settings and reports the
incumbent as the best bound. ``python -m benchmarks.allocation_mip --orders 200`` solves one
generated instance and checks the answer.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import highspy
from ortools.linear_solver import pywraplp

from allocation.generator import generate
from allocation.model import (
    CM3_PER_IN3,
    LB_PER_KG,
    AllocationProblem,
    CarrierService,
    FulfillmentCenter,
    Location,
    Order,
    OrderLine,
    RateCard,
)
from allocation.rates import billable_weight, quote, with_fuel, zone

#: Solvers this module builds for.
SOLVERS = ("HIGHS", "SCIP")

_STATUS = {
    pywraplp.Solver.OPTIMAL: "optimal",
    pywraplp.Solver.FEASIBLE: "feasible",
    pywraplp.Solver.INFEASIBLE: "infeasible",
    pywraplp.Solver.UNBOUNDED: "unbounded",
    pywraplp.Solver.ABNORMAL: "abnormal",
    pywraplp.Solver.NOT_SOLVED: "not_solved",
    pywraplp.Solver.MODEL_INVALID: "model_invalid",
}


@dataclass(frozen=True)
class MipShipment:
    """One package of the MIP's answer and its cost as the model charged it."""

    order_id: str
    fc: str
    service: str
    lines: tuple[OrderLine, ...]
    billable_weight: float
    cost: int


@dataclass(frozen=True)
class MipResult:
    """The MIP's answer: ``objective`` (None without a solution), the solver's best bound,
    ``status`` (``optimal``, ``feasible``, ``not_solved``, ...), seconds to build and in all,
    and the model's size."""

    status: str
    objective: float | None
    bound: float | None
    build_s: float
    wall_s: float
    shipments: tuple[MipShipment, ...]
    unfilled: tuple[tuple[str, int], ...]
    variables: int
    constraints: int


@dataclass(frozen=True)
class _Package:
    """The z variables of one (order, FC) and what they cost."""

    fc: int
    lines: tuple[int, ...]
    rows: tuple[tuple[int, int, float, int], ...]


def _card_units(card: RateCard, weight_kg: float, volume_cm3: float) -> tuple[float, float]:
    """Actual and dimensional weight in the card's unit."""
    if card.weight_unit == "lb":
        actual, volume = weight_kg * LB_PER_KG, volume_cm3 / CM3_PER_IN3
    else:
        actual, volume = weight_kg, volume_cm3
    return actual, (volume / card.dim_divisor if card.dim_divisor > 0 else 0.0)


def _row(card: RateCard, weight_kg: float, volume_cm3: float) -> int:
    return round(billable_weight(card, weight_kg, volume_cm3) / card.weight_step) - 1


def _row_cost(
    service: CarrierService,
    fc: FulfillmentCenter,
    order: Order,
    column: int,
    row: int,
) -> int:
    """What :func:`allocation.rates.quote` charges for a package in ``row`` to ``column``."""
    card = service.rate_card
    billable = (row + 1) * card.weight_step
    charges = card.prices[row][column] + sum(
        s.amount
        for s in service.surcharges
        if (order.residential or not s.residential_only) and billable >= s.min_billable_weight
    )
    return with_fuel(charges, service.fuel_pct) + fc.handling_cost


#: Most lines of one package whose subsets are enumerated for the attainable weight rows.
SUBSET_LINES = 12


def _attainable_rows(
    card: RateCard, weights: Sequence[float], volumes: Sequence[float]
) -> list[int]:
    """The card's weight rows that some non-empty subset of the lines falls in and the card
    prices (beyond :data:`SUBSET_LINES` lines, every row from the lightest line's to the
    whole's)."""
    n = len(weights)
    if n > SUBSET_LINES:
        single = [_row(card, w, v) for w, v in zip(weights, volumes, strict=True)]
        found = set(range(min(single), _row(card, sum(weights), sum(volumes)) + 1))
    else:
        sums = [(0.0, 0.0)] * (1 << n)
        found = set()
        for mask in range(1, 1 << n):
            low = (mask & -mask).bit_length() - 1
            w, v = sums[mask & (mask - 1)]
            sums[mask] = (w + weights[low], v + volumes[low])
            found.add(_row(card, *sums[mask]))
    return sorted(b for b in found if b < len(card.prices))


class _Zones:
    """Zones by (service, FC, ZIP3 and coordinates), each looked up once."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, str, str, float | None, float | None], int | None] = {}

    def __call__(self, service: CarrierService, fc: FulfillmentCenter, to: Location) -> int | None:
        key = (service.id, fc.id, to.zip3, to.latitude, to.longitude)
        if key not in self.cache:
            self.cache[key] = zone(service, fc, to)
        return self.cache[key]


def _columns(
    problem: AllocationProblem, order: Order, fc: FulfillmentCenter, zones: _Zones
) -> list[tuple[int, int]]:
    """(service index, rate-card column) of every service that can carry ``order`` from ``fc``
    by the rules of :func:`allocation.rates.quote`, weight aside."""
    found: list[tuple[int, int]] = []
    for s, service in enumerate(problem.services):
        if not service.offered_at(fc.id) or service.level < order.service_level:
            continue
        z = zones(service, fc, order.destination)
        if z is None or z not in service.rate_card.zones:
            continue
        column = service.rate_card.zones.index(z)
        delivery = problem.ship_day(fc) + service.transit_days[column]
        if order.promise_days is not None and delivery > order.promise_days:
            continue
        found.append((s, column))
    return found


def solve_mip(
    problem: AllocationProblem,
    *,
    time_limit_s: float = 60.0,
    solver_name: str = "HIGHS",
    threads: int = 1,
    relative_gap: float = 1e-6,
) -> MipResult:
    """Build the compact MIP of ``problem`` with pywraplp and solve it within ``time_limit_s``
    (building counts in ``wall_s``, not against the limit) by HiGHS or SCIP."""
    if solver_name not in SOLVERS:
        raise ValueError(f"solver_name must be one of {SOLVERS}, got {solver_name!r}")
    started = time.perf_counter()
    solver = pywraplp.Solver.CreateSolver(solver_name)
    if solver is None:
        raise ValueError(f"OR-Tools has no {solver_name} solver here")
    solver.SuppressOutput()
    infinity = solver.infinity()
    objective = solver.Objective()
    skus = problem.skus
    fcs = problem.fcs
    fc_index = {fc.id: f for f, fc in enumerate(fcs)}
    zones = _Zones()
    penalty_offset = 0.0

    stock_terms: dict[tuple[int, str], list[tuple[pywraplp.Variable, int]]] = defaultdict(list)
    unit_terms: dict[int, list[tuple[pywraplp.Variable, int]]] = defaultdict(list)
    package_terms: dict[int, list[pywraplp.Variable]] = defaultdict(list)
    service_terms: dict[tuple[int, int], list[pywraplp.Variable]] = defaultdict(list)
    y_vars: list[dict[int, pywraplp.Variable]] = []
    u_vars: list[pywraplp.Variable | None] = []
    z_vars: list[tuple[int, int, int, int, pywraplp.Variable, float, int]] = []
    line_base: list[int] = []
    limit = problem.policy.packages_limit

    for o, order in enumerate(problem.orders):
        line_base.append(len(y_vars))
        weights = [skus[x.sku].weight_kg * x.quantity for x in order.lines]
        volumes = [skus[x.sku].volume_cm3 * x.quantity for x in order.lines]
        candidates = [fc for fc in fcs if not order.locked_fc or fc.id == order.locked_fc]
        packages: list[_Package] = []
        for fc in candidates:
            f = fc_index[fc.id]
            columns = _columns(problem, order, fc, zones)
            if not columns:
                continue
            held = problem.stock.get(fc.id, {})
            lines = tuple(
                i
                for i, x in enumerate(order.lines)
                if held.get(x.sku, 0) >= x.quantity
                and any(
                    _row(problem.services[s].rate_card, weights[i], volumes[i])
                    < len(problem.services[s].rate_card.prices)
                    for s, _ in columns
                )
            )
            if not lines:
                continue
            line_w = [weights[i] for i in lines]
            line_v = [volumes[i] for i in lines]
            rows: list[tuple[int, int, float, int]] = []
            for s, column in columns:
                service = problem.services[s]
                card = service.rate_card
                for b in _attainable_rows(card, line_w, line_v):
                    cost = _row_cost(service, fc, order, column, b)
                    rows.append((s, b, (b + 1) * card.weight_step, cost))
            packages.append(_Package(f, lines, tuple(rows)))

        y_line: list[dict[int, pywraplp.Variable]] = [{} for _ in order.lines]
        for p in packages:
            for i in p.lines:
                y = solver.BoolVar(f"y_{o}_{i}_{p.fc}")
                y_line[i][p.fc] = y
                qty = order.lines[i].quantity
                stock_terms[(p.fc, order.lines[i].sku)].append((y, qty))
                unit_terms[p.fc].append((y, qty))
        weight = problem.policy.unfilled_line_penalty * (1 + order.priority)
        for i in range(len(order.lines)):
            if not y_line[i]:
                penalty_offset += weight
                u_vars.append(None)
            else:
                u = solver.BoolVar(f"u_{o}_{i}")
                objective.SetCoefficient(u, weight)
                u_vars.append(u)
                row = solver.Constraint(1.0, 1.0, f"line_{o}_{i}")
                row.SetCoefficient(u, 1.0)
                for y in y_line[i].values():
                    row.SetCoefficient(y, 1.0)
        y_vars.extend(y_line)

        opens: list[pywraplp.Variable] = []
        for p in packages:
            f = p.fc
            if len(p.lines) == 1:
                open_var = y_line[p.lines[0]][f]
            else:
                open_var = solver.BoolVar(f"open_{o}_{f}")
                most = solver.Constraint(-infinity, 0.0)
                most.SetCoefficient(open_var, 1.0)
                for i in p.lines:
                    y = y_line[i][f]
                    most.SetCoefficient(y, -1.0)
                    least = solver.Constraint(-infinity, 0.0)
                    least.SetCoefficient(y, 1.0)
                    least.SetCoefficient(open_var, -1.0)
            opens.append(open_var)
            package_terms[f].append(open_var)
            link = solver.Constraint(0.0, 0.0, f"open_{o}_{f}")
            link.SetCoefficient(open_var, -1.0)
            chosen: dict[int, list[tuple[pywraplp.Variable, float]]] = defaultdict(list)
            for s, b, top, cost in p.rows:
                z = solver.BoolVar(f"z_{o}_{f}_{s}_{b}")
                objective.SetCoefficient(z, cost)
                link.SetCoefficient(z, 1.0)
                service_terms[(f, s)].append(z)
                chosen[s].append((z, top))
                z_vars.append((o, f, s, b, z, top, cost))
            if len(p.lines) > 1:
                _weight_rows(solver, problem, p, y_line, open_var, chosen, weights, volumes)
        if limit > 0 and len(opens) > limit:
            cap = solver.Constraint(-infinity, float(limit))
            for v in opens:
                cap.SetCoefficient(v, 1.0)

    for (f, sku), terms in stock_terms.items():
        available = problem.stock[fcs[f].id][sku]
        if sum(q for _, q in terms) > available:
            row = solver.Constraint(-infinity, float(available))
            for v, q in terms:
                row.SetCoefficient(v, float(q))
    for f, fc in enumerate(fcs):
        if 0 < fc.capacity_packages < len(package_terms[f]):
            row = solver.Constraint(-infinity, float(fc.capacity_packages))
            for v in package_terms[f]:
                row.SetCoefficient(v, 1.0)
        if 0 < fc.capacity_units < sum(q for _, q in unit_terms[f]):
            row = solver.Constraint(-infinity, float(fc.capacity_units))
            for v, q in unit_terms[f]:
                row.SetCoefficient(v, float(q))
        for s, service in enumerate(problem.services):
            cap = fc.service_capacity.get(service.id, 0)
            terms = service_terms.get((f, s), [])
            if 0 < cap < len(terms):
                row = solver.Constraint(-infinity, float(cap))
                for v in terms:
                    row.SetCoefficient(v, 1.0)
    objective.SetMinimization()
    build_s = time.perf_counter() - started
    if solver_name == "HIGHS":
        status, value, bound, values = _run_highs(solver, time_limit_s, threads, relative_gap)
    else:
        status, value, bound, values = _run_pywraplp(solver, time_limit_s, threads, relative_gap)
    n_vars, n_rows = solver.NumVariables(), solver.NumConstraints()
    if values is None or value is None:
        return MipResult(
            status, None, None, build_s, time.perf_counter() - started, (), (), n_vars, n_rows
        )

    def is_set(v: pywraplp.Variable) -> bool:
        return bool(values[v.index()] > 0.5)

    shipments: list[MipShipment] = []
    for o, f, s, _b, z, top, cost in z_vars:
        if not is_set(z):
            continue
        order = problem.orders[o]
        base = line_base[o]
        shipped = tuple(
            x
            for i, x in enumerate(order.lines)
            if (y := y_vars[base + i].get(f)) is not None and is_set(y)
        )
        shipments.append(
            MipShipment(order.id, fcs[f].id, problem.services[s].id, shipped, top, cost)
        )
    unfilled: list[tuple[str, int]] = []
    k = 0
    for order in problem.orders:
        for i in range(len(order.lines)):
            u = u_vars[k]
            k += 1
            if u is None or is_set(u):
                unfilled.append((order.id, i))
    return MipResult(
        status=status,
        objective=value + penalty_offset,
        bound=None if bound is None else bound + penalty_offset,
        build_s=build_s,
        wall_s=time.perf_counter() - started,
        shipments=tuple(shipments),
        unfilled=tuple(unfilled),
        variables=n_vars,
        constraints=n_rows,
    )


_Run = tuple[str, float | None, float | None, list[float] | None]


def _run_pywraplp(
    solver: pywraplp.Solver, time_limit_s: float, threads: int, relative_gap: float
) -> _Run:
    """Solve with the solver the model was built in."""
    solver.SetNumThreads(threads)
    solver.SetTimeLimit(max(1, int(time_limit_s * 1000)))
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(pywraplp.MPSolverParameters.RELATIVE_MIP_GAP, relative_gap)
    code = solver.Solve(params)
    status = _STATUS.get(code, str(code))
    if code not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return status, None, None, None
    objective = solver.Objective()
    values = [v.solution_value() for v in solver.variables()]
    return status, objective.Value(), objective.BestBound(), values


def _run_highs(
    solver: pywraplp.Solver, time_limit_s: float, threads: int, relative_gap: float
) -> _Run:
    """Solve the pywraplp model with HiGHS itself, read from its MPS export.

    OR-Tools' HiGHS bridge ignores the gap and thread settings and reports the incumbent as
    the best bound, so a time-limited solve would claim a zero gap; HiGHS's own dual bound is
    the honest one.
    """
    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", threads)
    highs.setOptionValue("mip_rel_gap", relative_gap)
    highs.setOptionValue("time_limit", max(0.1, time_limit_s))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "allocation.mps"
        path.write_text(solver.ExportModelAsMpsFormat(fixed_format=False, obfuscate=False))
        highs.readModel(str(path))
    highs.run()
    model_status = highs.getModelStatus()
    info = highs.getInfo()
    if model_status == highspy.HighsModelStatus.kOptimal:
        status = "optimal"
    elif info.primal_solution_status == 2:
        status = "feasible"
    else:
        return highs.modelStatusToString(model_status).lower(), None, None, None
    by_name = dict(zip(highs.getLp().col_names_, highs.getSolution().col_value, strict=True))
    values = [float(by_name.get(v.name(), 0.0)) for v in solver.variables()]
    return status, float(info.objective_function_value), float(info.mip_dual_bound), values


def _weight_rows(
    solver: pywraplp.Solver,
    problem: AllocationProblem,
    package: _Package,
    y_line: Sequence[dict[int, pywraplp.Variable]],
    open_var: pywraplp.Variable,
    chosen: dict[int, list[tuple[pywraplp.Variable, float]]],
    weights: Sequence[float],
    volumes: Sequence[float],
) -> None:
    """Actual and dimensional weight of the package at most the top of its chosen row.

    Per group of services weighing alike (unit and divisor): ``w(y) <= sum top z +
    M (open - sum z)``, the sums over the group's ``z``, ``M`` the weight of every line; with one
    group the big-M term vanishes. Rows that no subset of the lines can exceed are left out.
    """
    f = package.fc
    infinity = solver.infinity()
    groups: dict[tuple[str, float], list[tuple[pywraplp.Variable, float]]] = defaultdict(list)
    cards: dict[tuple[str, float], RateCard] = {}
    for s, zs in chosen.items():
        card = problem.services[s].rate_card
        key = (card.weight_unit, card.dim_divisor)
        cards[key] = card
        groups[key].extend((z, top + 1e-9 * card.weight_step) for z, top in zs)
    for key, zs in groups.items():
        card = cards[key]
        parts = [_card_units(card, weights[i], volumes[i]) for i in package.lines]
        lowest = min(top for _, top in zs)
        for which in (0, 1):
            big = sum(p[which] for p in parts)
            if big <= lowest:
                continue
            row = solver.Constraint(-infinity, 0.0)
            for i, p in zip(package.lines, parts, strict=True):
                row.SetCoefficient(y_line[i][f], p[which])
            row.SetCoefficient(open_var, -big)
            for z, top in zs:
                row.SetCoefficient(z, big - top)


def recompute(problem: AllocationProblem, result: MipResult) -> tuple[int, int]:
    """Cost of the MIP's shipments priced by :func:`allocation.rates.quote` with their real
    weight and volume, and the penalty of its unfilled lines.

    Raises
    ------
    ValueError
        A shipment :func:`allocation.rates.quote` refuses, or a line shipped twice or beyond
        stock.
    """
    orders = {o.id: o for o in problem.orders}
    fcs = {fc.id: fc for fc in problem.fcs}
    services = {s.id: s for s in problem.services}
    used: dict[tuple[str, str], int] = defaultdict(int)
    shipped: set[tuple[str, str]] = set()
    cost = 0
    for sh in result.shipments:
        order = orders[sh.order_id]
        weight = sum(problem.skus[x.sku].weight_kg * x.quantity for x in sh.lines)
        volume = sum(problem.skus[x.sku].volume_cm3 * x.quantity for x in sh.lines)
        q = quote(problem, order, fcs[sh.fc], services[sh.service], weight, volume)
        if q is None or not sh.lines:
            raise ValueError(f"{sh.order_id} from {sh.fc} by {sh.service} cannot ship")
        cost += q.cost
        for x in sh.lines:
            if (sh.order_id, x.sku) in shipped:
                raise ValueError(f"{sh.order_id} ships {x.sku} twice")
            shipped.add((sh.order_id, x.sku))
            used[(sh.fc, x.sku)] += x.quantity
    for (fc, sku), units in used.items():
        if units > problem.stock.get(fc, {}).get(sku, 0):
            raise ValueError(f"{fc} ships {units} of {sku} beyond stock")
    penalty = sum(
        problem.policy.unfilled_line_penalty * (1 + orders[order_id].priority)
        for order_id, _ in result.unfilled
    )
    return cost, penalty


def check(problem: AllocationProblem, result: MipResult) -> int:
    """The objective of the MIP's answer recomputed with :func:`allocation.rates.quote`.

    It never exceeds the MIP's own objective (a package the MIP put in a heavier row than its
    billable weight is charged for the lighter one here) and equals it when the MIP is optimal.

    Raises
    ------
    AssertionError
        The recomputed objective breaks either rule.
    """
    cost, penalty = recompute(problem, result)
    assert result.objective is not None
    value = cost + penalty
    assert value <= result.objective + 1.0, (value, result.objective)
    if result.status == "optimal":
        assert math.isclose(value, result.objective, rel_tol=1e-6, abs_tol=1.0), (
            value,
            result.objective,
        )
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Solve one generated instance as a compact MIP.")
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--fcs", type=int, default=5)
    parser.add_argument("--single-item", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--solver", choices=SOLVERS, default="HIGHS")
    args = parser.parse_args(argv)
    problem = generate(args.orders, n_fcs=args.fcs, single_item=args.single_item, seed=args.seed)
    result = solve_mip(problem, time_limit_s=args.time_limit, solver_name=args.solver)
    print(
        f"{result.status}: objective {result.objective} bound {result.bound}, "
        f"{result.variables:,} variables, {result.constraints:,} constraints, "
        f"built in {result.build_s:.1f} s, {result.wall_s:.1f} s in all"
    )
    if result.objective is not None:
        print(f"recomputed with allocation.rates.quote: {check(problem, result)}")


if __name__ == "__main__":
    main()
