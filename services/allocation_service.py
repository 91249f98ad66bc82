"""AllocationService: allocate orders over an FC network from live FC stock, in a worker.

Thin by design: resolve the network (loaded at start, or the request's own), read the stock of
the orders' SKUs at the network's FCs (:meth:`services.inventory.InventoryStore.stock_at_fcs`,
one consistent read; the request's own stock wins per FC), convert to an
:class:`allocation.model.AllocationProblem`, validate it here (so the worker only solves, and
every problem is named by its request field), run :func:`allocation.solve.solve` in the
planner's worker pool within the time limit and the call's deadline, convert back and record
metrics.

Dates: the request's ``plan_date`` is day 0; an order's ``promise_date`` becomes the domain's
``promise_days`` after it, and delivery days come back as dates.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import re
import time

import grpc
from google.type import date_pb2  # type: ignore[import-untyped]
from warehouse.v1 import allocation_pb2, allocation_pb2_grpc, common_pb2

from allocation import model
from allocation.quotes import MAX_LINES
from allocation.result import Allocation, Reason, Status
from allocation.solve import solve
from routing.errors import FieldViolation, InvalidInput
from services import convert
from services.inventory import InventoryStore
from services.metrics import ServerMetrics
from services.networks import (
    WEIGHT_UNIT_TO_PROTO,
    Network,
    NetworkRegistry,
    location,
    network_to_domain,
    proto_field,
    service_level,
    time_of_day_s,
)
from services.planner import RoutePlanner
from services.routing_service import SolveSlots, call_deadline
from services.stock import stock_for_plan

#: Most orders in one request: a day of this size is solved as one problem (in about a minute
#: on one core), which batch replanning relies on (docs/replan.md).
MAX_ORDERS = 25_000
#: Time limit of requests that give none (the solver stops earlier once it proves optimality).
DEFAULT_TIME_LIMIT_S = 10.0

_REASONS = {
    Reason.OUT_OF_STOCK: allocation_pb2.UNFILLED_REASON_OUT_OF_STOCK,
    Reason.NO_SERVICE_MEETS_PROMISE: allocation_pb2.UNFILLED_REASON_NO_SERVICE_MEETS_PROMISE,
    Reason.OVER_CAPACITY: allocation_pb2.UNFILLED_REASON_OVER_CAPACITY,
    Reason.UNDELIVERABLE_DESTINATION: allocation_pb2.UNFILLED_REASON_UNDELIVERABLE_DESTINATION,
}
_REASON_TEXT = {
    Reason.OUT_OF_STOCK: "no FC that may ship the order holds the units",
    Reason.NO_SERVICE_MEETS_PROMISE: (
        "no FC holding the units delivers by the promise date at the service level asked"
    ),
    Reason.OVER_CAPACITY: "the FCs that could ship it have no capacity left",
    Reason.UNDELIVERABLE_DESTINATION: "no service reaches the destination",
}
_STATUS = {
    Status.OPTIMAL: common_pb2.SOLVE_STATUS_OPTIMAL,
    Status.FEASIBLE: common_pb2.SOLVE_STATUS_FEASIBLE,
}
_SKU_KEY = re.compile(r"^skus\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\]")


# -- request to domain ----------------------------------------------------------------------


def plan_day(request: allocation_pb2.AllocateRequest, today: dt.date | None = None) -> dt.date:
    """Day 0 of the plan: the request's ``plan_date``, or ``today`` (UTC) when unset.

    Raises
    ------
    InvalidInput
        ``plan_date`` is not a full calendar date.
    """
    if not request.HasField("plan_date"):
        return today or dt.datetime.now(dt.UTC).date()
    problems: list[FieldViolation] = []
    day = _date(request.plan_date, "plan_date", problems)
    if day is None:
        raise InvalidInput(problems)
    return day


def _date(value: date_pb2.Date, field: str, problems: list[FieldViolation]) -> dt.date | None:
    try:
        return dt.date(value.year, value.month, value.day)
    except ValueError:
        problems.append(
            FieldViolation(
                field, f"not a full date: {value.year:04d}-{value.month:02d}-{value.day:02d}"
            )
        )
        return None


def date_message(day: dt.date) -> date_pb2.Date:
    """The ``google.type.Date`` of a day."""
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


def resolve_network(request: allocation_pb2.AllocateRequest, networks: NetworkRegistry) -> Network:
    """The request's own network, or the loaded one it names.

    Raises
    ------
    InvalidInput
        Neither network_id nor network given, or an invalid inline network.
    NotFound
        No network of this id was loaded.
    """
    which = request.WhichOneof("network_source")
    if which == "network":
        return network_to_domain(request.network, prefix="network")
    if which is None:
        raise InvalidInput.single("network_id", "give network_id or network")
    return networks.get(request.network_id, "network_id")


def order_skus(request: allocation_pb2.AllocateRequest) -> list[str]:
    """Every SKU the orders ask for, sorted."""
    return sorted({line.sku for o in request.orders for line in o.lines if line.sku})


def request_stock(
    store: InventoryStore | None,
    request: allocation_pb2.AllocateRequest,
    network: Network,
    skus: list[str],
) -> tuple[dict[str, dict[str, int]], list[FieldViolation]]:
    """Units per SKU at each FC the request carries stock for, and what is wrong with it."""
    problems: list[FieldViolation] = []
    stock: dict[str, dict[str, int]] = {}
    for fc_id, override in sorted(request.stock.items()):
        where = f"stock[{fc_id!r}]"
        if network.fc(fc_id) is None:
            problems.append(FieldViolation(where, f"no FC {fc_id!r} in the network"))
            continue
        for i, line in enumerate(override.lines):
            if line.bin_id:
                problems.append(
                    FieldViolation(f"{where}.lines[{i}].bin_id", "must be empty: FC stock")
                )
        try:
            planned = stock_for_plan(store, fc_id, skus, override, field=where)
        except InvalidInput as exc:
            problems += exc.violations
            continue
        stock[fc_id] = {sku: sum(bins.values()) for sku, bins in planned.available.items()}
    return stock, problems


def _money(
    value: allocation_pb2.Money, currency: str, field: str, problems: list[FieldViolation]
) -> int:
    if value.currency_code and value.currency_code != currency:
        problems.append(
            FieldViolation(
                f"{field}.currency_code",
                f"{value.currency_code!r} is not the network's currency {currency!r}",
            )
        )
    return value.minor_units


def to_problem(
    request: allocation_pb2.AllocateRequest,
    network: Network,
    stock: dict[str, dict[str, int]],
    day0: dt.date,
    *,
    known_problems: list[FieldViolation] | None = None,
) -> model.AllocationProblem:
    """The validated domain problem of a request.

    Raises
    ------
    InvalidInput
        Every problem found (``known_problems`` included), named by its request field:
        ``orders[1].lines[0].quantity``, ``skus[2].weight_kg``, ``orders[0].locked_fc``, ...
    """
    problems = list(known_problems or [])
    skus: dict[str, model.Sku] = {}
    sku_index: dict[str, int] = {}
    for i, sku in enumerate(request.skus):
        if sku.id in skus:
            problems.append(FieldViolation(f"skus[{i}].id", f"{sku.id!r} repeats skus"))
            continue
        skus[sku.id] = model.Sku(sku.id, sku.weight_kg, sku.length_cm, sku.width_cm, sku.height_cm)
        sku_index[sku.id] = i
    orders = []
    for i, o in enumerate(request.orders):
        promise = None
        if o.HasField("promise_date"):
            promised = _date(o.promise_date, f"orders[{i}].promise_date", problems)
            promise = None if promised is None else (promised - day0).days
        if len(o.lines) > MAX_LINES:
            problems.append(
                FieldViolation(f"orders[{i}].lines", f"at most {MAX_LINES}, got {len(o.lines)}")
            )
        orders.append(
            model.Order(
                id=o.id,
                destination=location(o.destination),
                lines=tuple(model.OrderLine(x.sku, x.quantity) for x in o.lines),
                promise_days=promise,
                service_level=service_level(o.service_level),
                priority=o.priority,
                locked_fc=o.locked_fc,
                residential=o.residential if o.HasField("residential") else True,
            )
        )
    policy = request.policy
    defaults = model.Policy()
    problem = model.AllocationProblem(
        orders=tuple(orders),
        skus=skus,
        fcs=network.fcs,
        services=network.services,
        stock=stock,
        policy=model.Policy(
            allow_split=policy.allow_split if policy.HasField("allow_split") else True,
            max_packages_per_order=policy.max_packages_per_order,
            unfilled_line_penalty=(
                _money(
                    policy.unfilled_line_penalty,
                    network.currency,
                    "policy.unfilled_line_penalty",
                    problems,
                )
                if policy.HasField("unfilled_line_penalty")
                else defaults.unfilled_line_penalty
            ),
        ),
        currency=network.currency,
        now_s=(
            time_of_day_s(request.plan_time, "plan_time", problems)
            if request.HasField("plan_time")
            else 0.0
        ),
    )
    try:
        model.validate(problem)
    except InvalidInput as exc:
        problems += [
            FieldViolation(_request_field(v.field, sku_index), v.description)
            for v in exc.violations
        ]
    if problems:
        raise InvalidInput(list(dict.fromkeys(problems)))
    return problem


def _request_field(path: str, sku_index: dict[str, int]) -> str:
    """The request field of a domain field path (see :func:`to_problem`).

    The network's own fields are named under ``network`` (a network loaded at start was
    validated then, so only an inline one can be wrong).
    """
    if path == "now":
        return "plan_time"
    if path.startswith(("fcs", "services", "currency")):
        return proto_field(path, "network")
    match = _SKU_KEY.match(path)
    if match:
        key = ast.literal_eval(match.group(1))
        if key in sku_index:
            return f"skus[{sku_index[key]}]{path[match.end() :]}"
    path = re.sub(r"^(orders\[\d+\])\.promise$", r"\1.promise_date", path)
    if path == "policy.unfilled_line_penalty":
        return "policy.unfilled_line_penalty.minor_units"
    return path


# -- domain to response ---------------------------------------------------------------------


def money(minor_units: int, currency: str) -> allocation_pb2.Money:
    """A ``Money`` message."""
    return allocation_pb2.Money(currency_code=currency, minor_units=minor_units)


def _totals(
    cost: int, penalty: int, packages: int, unfilled: int, currency: str
) -> allocation_pb2.AllocationTotals:
    return allocation_pb2.AllocationTotals(
        shipping_cost=money(cost, currency),
        penalty=money(penalty, currency),
        objective=money(cost + penalty, currency),
        packages=packages,
        unfilled_lines=unfilled,
    )


def to_response(
    problem: model.AllocationProblem, result: Allocation, day0: dt.date, label: str
) -> allocation_pb2.AllocateResponse:
    """The proto form of an allocation (orders in request order)."""
    currency = problem.currency
    fcs = {fc.id: fc for fc in problem.fcs}
    services = {s.id: s for s in problem.services}
    by_order = {
        o.id: allocation_pb2.OrderAllocation(order_id=o.id, cost=money(0, currency))
        for o in problem.orders
    }
    line_of = {o.id: {x.sku: j for j, x in enumerate(o.lines)} for o in problem.orders}
    for s in result.shipments:
        entry = by_order[s.order_id]
        entry.shipments.append(
            allocation_pb2.Shipment(
                fc=s.fc,
                service=s.service,
                carrier=services[s.service].carrier,
                lines=[
                    allocation_pb2.ShipmentLine(
                        line_index=line_of[s.order_id][x.sku], sku=x.sku, quantity=x.quantity
                    )
                    for x in s.lines
                ],
                zone=s.zone,
                billable_weight=s.billable_weight,
                weight_unit=WEIGHT_UNIT_TO_PROTO[s.weight_unit],
                cost=money(s.cost, currency),
                ship_date=date_message(day0 + dt.timedelta(problem.ship_day(fcs[s.fc]))),
                expected_delivery_date=date_message(day0 + dt.timedelta(s.delivery_day)),
                delivery_days=s.delivery_day,
            )
        )
        entry.cost.minor_units += s.cost
    index = {o.id: i for i, o in enumerate(problem.orders)}
    for u in result.unfilled:
        by_order[u.order_id].unfilled_lines.append(
            allocation_pb2.UnfilledLine(
                line_index=u.line,
                sku=u.sku,
                quantity=u.quantity,
                reason=_REASONS[u.reason],
                message=(
                    f"orders[{index[u.order_id]}].lines[{u.line}]: {u.quantity} x {u.sku}: "
                    f"{_REASON_TEXT[u.reason]}"
                ),
            )
        )
    t, b = result.totals, result.baseline
    savings = b.objective - t.objective
    out = allocation_pb2.AllocateResponse(
        label=label,
        orders=list(by_order.values()),
        totals=_totals(t.cost, t.penalty, t.packages, t.unfilled_lines, currency),
        baseline=_totals(b.cost, b.penalty, b.packages, b.unfilled_lines, currency),
        savings=money(savings, currency),
        saving_ratio=savings / b.objective if b.objective > 0 else 0.0,
        # The objective is a whole number of minor units, so the bound rounds up.
        objective_bound=money(min(math.ceil(result.bound - 1e-6), t.objective), currency),
        gap=result.gap,
        status=_STATUS[result.status],
        method=result.method,
        plan_date=date_message(day0),
    )
    out.solve_time.CopyFrom(convert.seconds_to_duration(result.solve_time_s))
    return out


# -- the servicer ---------------------------------------------------------------------------


class AllocationService(allocation_pb2_grpc.AllocationServiceServicer):
    """Allocates orders over FC networks; see warehouse/v1/allocation.proto."""

    def __init__(
        self,
        planner: RoutePlanner,
        inventory: InventoryStore,
        networks: NetworkRegistry,
        slots: SolveSlots,
        metrics: ServerMetrics,
        *,
        deadline_margin_s: float = 0.05,
    ) -> None:
        self._planner = planner
        self._inventory = inventory
        self._networks = networks
        self._slots = slots
        self._metrics = metrics
        self._margin_s = deadline_margin_s

    def Allocate(  # noqa: N802
        self, request: allocation_pb2.AllocateRequest, context: grpc.ServicerContext
    ) -> allocation_pb2.AllocateResponse:
        """Allocate one batch of orders (see warehouse/v1/allocation.proto)."""
        deadline = call_deadline(context, self._margin_s)
        if len(request.orders) > MAX_ORDERS:
            raise InvalidInput.single(
                "orders", f"at most {MAX_ORDERS:,} per request, got {len(request.orders):,}"
            )
        network = resolve_network(request, self._networks)
        day0 = plan_day(request)
        limit = convert.time_limit_s(request.options, DEFAULT_TIME_LIMIT_S)
        skus = order_skus(request)
        stock, problems = request_stock(self._inventory, request, network, skus)
        sources = self._read_inventory(network, skus, stock)
        problem = to_problem(request, network, stock, day0, known_problems=problems)
        label = request.options.label
        if request.options.validate_only:
            return allocation_pb2.AllocateResponse(
                label=label,
                stock_sources=sources,
                plan_date=date_message(day0),
                network_id=network.id,
            )
        if deadline is not None:
            limit = min(limit, max(deadline - time.monotonic() - _finish_s(limit), 0.001))
        with self._slots.take(deadline):
            result = self._planner.run(
                _allocate, None, problem, limit, request.options.seed, deadline=deadline
            )
        response = to_response(problem, result, day0, label)
        response.network_id = network.id
        response.stock_sources.extend(sources)
        self._metrics.observe_allocation(result, problem.currency, len(problem.orders))
        return response

    def _read_inventory(
        self, network: Network, skus: list[str], stock: dict[str, dict[str, int]]
    ) -> list[allocation_pb2.FcStockSource]:
        """Fill ``stock`` for the FCs the request carries none for, from one inventory read;
        return where each FC's stock came from, in network order."""
        wanted = [fc.id for fc in network.fcs if fc.id not in stock]
        versions: dict[str, int] = {}
        for fc_id in wanted:
            stock[fc_id] = {}
        # An FC the inventory has no site for has no stock (and version 0).
        if wanted and skus:
            with self._metrics.store_call("read_fc_stock"):
                at_fcs = self._inventory.stock_at_fcs(skus, sites=wanted)
            for site in at_fcs:
                versions[site.site] = site.version
                for line in site.lines:
                    units = stock[site.site]
                    units[line.sku] = units.get(line.sku, 0) + line.available
        return [
            allocation_pb2.FcStockSource(
                fc=fc.id,
                from_request=fc.id not in wanted,
                inventory_version=versions.get(fc.id, 0),
            )
            for fc in network.fcs
        ]


def _finish_s(limit_s: float) -> float:
    """Time kept after the search for the final packages, the reply and the way back."""
    return 0.05 + 0.1 * limit_s


def _allocate(problem: model.AllocationProblem, limit_s: float, seed: int) -> Allocation:
    """Module-level (picklable) call of :func:`allocation.solve.solve` for the worker pool."""
    return solve(problem, time_limit_s=limit_s, seed=seed)
