"""Split a day into independent solves, build their requests and read their answers back.

A replan runs in two stages, each a set of tasks that need nothing from one another:

1. **Allocation regions.** The orders are dealt round-robin into regions of at most
   ``orders_per_region`` (every region a representative sample of the day), and each region
   gets its share of every FC's stock (by the region's demand for each SKU) and of every
   capacity (by its order count) with :func:`apportion`. The regions' answers can therefore
   never together ship more than the day has, and they are solved in parallel. A **repair**
   (:func:`repair_task`) then pools what no region used for the lines they left unfilled.
2. **Picking waves.** Each warehouse with a layout takes the order lines allocated to it,
   ordered by service level (express first), priority and order id, and cuts them into waves of
   ``orders_per_wave`` orders. Every bin's units are shared out between the waves that ask for
   its SKU, again with :func:`apportion`, so waves planned in parallel never pick the same unit
   twice; each wave gets at least its demand wherever the warehouse holds it.

Requests are the public API's (``AllocateRequest``, ``PlanWaveRequest``), so the in-process and
the remote engine solve exactly the same thing; answers are read back into plain records
(:func:`allocation_records`, :func:`wave_record`) that ignore timings, so both engines' plans
compare equal.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.type import date_pb2, timeofday_pb2  # type: ignore[import-untyped]
from warehouse.v1 import allocation_pb2, common_pb2, inventory_pb2, picking_pb2

from services import convert
from services.replan.day import SERVICE_LEVELS, Day, DayOrder

#: Unfilled-line reasons by their name in the plans.
UNFILLED_REASONS = {
    allocation_pb2.UNFILLED_REASON_OUT_OF_STOCK: "out_of_stock",
    allocation_pb2.UNFILLED_REASON_NO_SERVICE_MEETS_PROMISE: "no_service_meets_promise",
    allocation_pb2.UNFILLED_REASON_OVER_CAPACITY: "over_capacity",
    allocation_pb2.UNFILLED_REASON_UNDELIVERABLE_DESTINATION: "undeliverable_destination",
}
UNSERVED_REASONS = {
    picking_pb2.UNSERVED_REASON_UNKNOWN_SKU: "unknown_sku",
    picking_pb2.UNSERVED_REASON_OUT_OF_STOCK: "out_of_stock",
    picking_pb2.UNSERVED_REASON_LARGER_THAN_CART: "larger_than_cart",
}
#: Slack on a call's deadline over the solve's time limit (conversion, queueing, the wire).
DEADLINE_SLACK_S = 30.0


def apportion(units: Sequence[int], demands: Sequence[int]) -> list[list[int]]:
    """Share every holder's ``units`` out between parties in proportion to their ``demands``.

    Returns ``shares[party][holder]``. Every unit goes to someone (largest remainders), no
    holder gives more than it has, and when the holders have at least the total demand every
    party ends with at least its own demand (surplus is moved to the parties short of it).
    Integer arithmetic only, so the split is the same everywhere.
    """
    parties, holders = len(demands), len(units)
    shares = [[0] * holders for _ in range(parties)]
    total = sum(demands)
    if total == 0 or parties == 0:
        return shares
    for h, have in enumerate(units):
        rest = have
        remainders = []
        for p, want in enumerate(demands):
            shares[p][h] = have * want // total
            rest -= shares[p][h]
            remainders.append((-(have * want % total), p))
        for _, p in sorted(remainders)[:rest]:
            shares[p][h] += 1
    if sum(units) >= total:
        got = [sum(row) for row in shares]
        for p in range(parties):
            for q in range(parties):
                if got[p] >= demands[p]:
                    break
                for h in range(holders):
                    spare = min(shares[q][h], got[q] - demands[q], demands[p] - got[p])
                    if spare > 0:
                        shares[q][h] -= spare
                        shares[p][h] += spare
                        got[q] -= spare
                        got[p] += spare
    return shares


# -- stage 1: allocation regions ------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One solve: ``kind`` is ``allocate`` or ``pick``; ``request`` its serialised request."""

    id: str
    kind: str
    request: bytes
    deadline_s: float


def regions(day: Day) -> list[list[DayOrder]]:
    """The day's orders dealt round-robin into regions of at most ``orders_per_region``."""
    count = max(1, math.ceil(len(day.orders) / day.allocation.orders_per_region))
    return [list(day.orders[r::count]) for r in range(count)]


def _location(order: DayOrder) -> allocation_pb2.Location:
    out = allocation_pb2.Location(postal_code=order.postal_code)
    if order.latitude is not None and order.longitude is not None:
        out.latitude, out.longitude = order.latitude, order.longitude
    return out


def _order_message(order: DayOrder, plan_date: dt.date) -> allocation_pb2.AllocationOrder:
    out = allocation_pb2.AllocationOrder(
        id=order.id,
        destination=_location(order),
        lines=[allocation_pb2.AllocationOrderLine(sku=s, quantity=q) for s, q in order.lines],
        priority=order.priority,
        service_level=SERVICE_LEVELS.get(
            order.service_level, allocation_pb2.SERVICE_LEVEL_UNSPECIFIED
        ),
    )
    if order.promise_days is not None:
        promised = plan_date + dt.timedelta(days=order.promise_days)
        out.promise_date.CopyFrom(
            date_pb2.Date(year=promised.year, month=promised.month, day=promised.day)
        )
    if order.residential is not None:
        out.residential = order.residential
    return out


def _capacity_shares(capacity: int, counts: Sequence[int]) -> list[int]:
    """Each region's share of a daily limit (0 means no limit and stays 0)."""
    if capacity <= 0:
        return [0] * len(counts)
    # A share may not round to 0, which would read as "no limit".
    return [max(1, row[0]) for row in apportion([capacity], counts)]


def allocation_tasks(day: Day) -> list[Task]:
    """One ``AllocateRequest`` per region, each with its share of stock and capacity."""
    parts = regions(day)
    counts = [len(p) for p in parts]
    fcs = [fc.id for fc in day.network.fcs]
    fc_stock = {fc: day.fc_stock(fc) for fc in fcs}
    demand = [_units([o.lines for o in part]) for part in parts]
    stock: list[dict[str, list[inventory_pb2.StockLine]]] = [{fc: [] for fc in fcs} for _ in parts]
    for sku in sorted({s for units in demand for s in units}):
        holders = [fc for fc in fcs if fc_stock[fc].get(sku, 0) > 0]
        shares = apportion([fc_stock[fc][sku] for fc in holders], [d.get(sku, 0) for d in demand])
        for r, row in enumerate(shares):
            for fc, units_at in zip(holders, row, strict=True):
                if units_at:
                    stock[r][fc].append(inventory_pb2.StockLine(sku=sku, on_hand=units_at))
    networks = [allocation_pb2.Network() for _ in parts]
    for network in networks:
        network.CopyFrom(day.network)
    for k, center in enumerate(day.network.fcs):
        packages = _capacity_shares(center.capacity_packages, counts)
        units_cap = _capacity_shares(center.capacity_units, counts)
        services = {s: _capacity_shares(c, counts) for s, c in center.service_capacity.items()}
        for r, network in enumerate(networks):
            network.fcs[k].capacity_packages = packages[r]
            network.fcs[k].capacity_units = units_cap[r]
            for s, share in services.items():
                network.fcs[k].service_capacity[s] = share[r]
    tasks = []
    for r, part in enumerate(parts):
        request = allocation_pb2.AllocateRequest(
            network=networks[r],
            orders=[_order_message(o, day.plan_date) for o in part],
            skus=[day.skus[s] for s in sorted(demand[r])],
            policy=day.policy,
            stock={fc: inventory_pb2.StockOverride(lines=lines) for fc, lines in stock[r].items()},
            plan_date=_date_message(day.plan_date),
            options=_options(day, day.allocation.time_limit_s, f"{day.name} region {r}"),
        )
        _set_plan_time(day, request)
        tasks.append(_task(f"allocate/r{r:03d}", "allocate", request, day.allocation.time_limit_s))
    return tasks


def _date_message(day: dt.date) -> date_pb2.Date:
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


def _set_plan_time(day: Day, request: allocation_pb2.AllocateRequest) -> None:
    if day.plan_time is not None:
        hours, minutes = day.plan_time
        request.plan_time.CopyFrom(timeofday_pb2.TimeOfDay(hours=hours, minutes=minutes))


def _task(
    task_id: str,
    kind: str,
    request: allocation_pb2.AllocateRequest | picking_pb2.PlanWaveRequest,
    limit_s: float,
) -> Task:
    return Task(
        task_id, kind, request.SerializeToString(deterministic=True), limit_s + DEADLINE_SLACK_S
    )


def _units(groups: Sequence[Sequence[tuple[str, int]]]) -> dict[str, int]:
    """Units per SKU over every ``(sku, units)`` line of ``groups``."""
    units: dict[str, int] = {}
    for lines in groups:
        for sku, quantity in lines:
            units[sku] = units.get(sku, 0) + quantity
    return units


def _options(day: Day, limit_s: float, label: str) -> common_pb2.SolveOptions:
    return common_pb2.SolveOptions(
        time_limit=convert.seconds_to_duration(limit_s), label=label, seed=day.seed
    )


def _date(value: date_pb2.Date) -> str:
    return dt.date(value.year, value.month, value.day).isoformat() if value.year else ""


def allocation_records(response: allocation_pb2.AllocateResponse, region: int) -> dict[str, Any]:
    """An ``AllocateResponse`` as plain data: per-order records and the region's totals."""
    orders = []
    for o in response.orders:
        orders.append(
            {
                "order_id": o.order_id,
                "region": region,
                "cost": o.cost.minor_units,
                "shipments": [
                    {
                        "fc": s.fc,
                        "service": s.service,
                        "carrier": s.carrier,
                        "zone": s.zone,
                        "billable_weight": s.billable_weight,
                        "weight_unit": allocation_pb2.WeightUnit.Name(s.weight_unit)
                        .removeprefix("WEIGHT_UNIT_")
                        .lower(),
                        "cost": s.cost.minor_units,
                        "ship_date": _date(s.ship_date),
                        "expected_delivery_date": _date(s.expected_delivery_date),
                        "delivery_days": s.delivery_days,
                        "lines": [
                            {"line_index": x.line_index, "sku": x.sku, "quantity": x.quantity}
                            for x in s.lines
                        ],
                    }
                    for s in o.shipments
                ],
                "unfilled": [
                    {
                        "line_index": u.line_index,
                        "sku": u.sku,
                        "quantity": u.quantity,
                        "reason": UNFILLED_REASONS.get(u.reason, "unspecified"),
                        "message": u.message,
                    }
                    for u in o.unfilled_lines
                ],
            }
        )

    def totals(t: allocation_pb2.AllocationTotals) -> dict[str, int]:
        return {
            "shipping_cost": t.shipping_cost.minor_units,
            "penalty": t.penalty.minor_units,
            "objective": t.objective.minor_units,
            "packages": t.packages,
            "unfilled_lines": t.unfilled_lines,
        }

    return {
        "region": region,
        "orders": orders,
        "totals": totals(response.totals),
        "baseline": totals(response.baseline),
        "bound": response.objective_bound.minor_units,
        "status": common_pb2.SolveStatus.Name(response.status).removeprefix("SOLVE_STATUS_"),
        "method": response.method,
        "currency": response.totals.objective.currency_code,
    }


# -- stage 1b: repairing what the regions left unfilled -------------------------------------


def _line_index_map(record: Mapping[str, Any]) -> list[int]:
    """Original line index of each line of an order's repair: its unfilled lines, in order."""
    return [u["line_index"] for u in record["unfilled"]]


def repair_task(day: Day, regions: Sequence[Mapping[str, Any]]) -> Task | None:
    """One more allocation over what the regions left: their unfilled lines, with the stock and
    capacity no region used, one package per order at most (within the order's package limit).

    Regions share stock by demand, so a region's unused units of a SKU are lost to another
    region short of it; this pools them again. None with one region or nothing to repair.
    """
    if len(regions) <= 1:
        return None
    packages: dict[str, int] = {}
    units: dict[str, int] = {}
    by_service: dict[tuple[str, str], int] = {}
    used: dict[tuple[str, str], int] = {}
    for region in regions:
        for o in region["orders"]:
            for s in o["shipments"]:
                packages[s["fc"]] = packages.get(s["fc"], 0) + 1
                key = (s["fc"], s["service"])
                by_service[key] = by_service.get(key, 0) + 1
                for x in s["lines"]:
                    units[s["fc"]] = units.get(s["fc"], 0) + x["quantity"]
                    used[(s["fc"], x["sku"])] = used.get((s["fc"], x["sku"]), 0) + x["quantity"]
    split = day.policy.allow_split if day.policy.HasField("allow_split") else True
    limit = day.policy.max_packages_per_order
    orders = {o.id: o for o in day.orders}
    candidates = []
    for region in regions:
        for o in region["orders"]:
            if not o["unfilled"] or (o["shipments"] and not split):
                continue
            if limit and len(o["shipments"]) >= limit:
                continue
            candidates.append(o)
    candidates.sort(key=lambda o: o["order_id"])
    if not candidates:
        return None
    network, usable = _leftover_network(day.network, packages, units, by_service)
    if not network.services:
        return None
    demand = _units([[(u["sku"], u["quantity"]) for u in o["unfilled"]] for o in candidates])
    stock = {}
    for fc in [f.id for f in network.fcs]:
        held = day.fc_stock(fc) if fc in usable else {}
        lines = [
            inventory_pb2.StockLine(sku=sku, on_hand=held.get(sku, 0) - used.get((fc, sku), 0))
            for sku in sorted(demand)
            if held.get(sku, 0) - used.get((fc, sku), 0) > 0
        ]
        stock[fc] = inventory_pb2.StockOverride(lines=lines)
    messages = []
    for o in candidates:
        message = _order_message(orders[o["order_id"]], day.plan_date)
        del message.lines[:]
        message.lines.extend(
            allocation_pb2.AllocationOrderLine(sku=u["sku"], quantity=u["quantity"])
            for u in o["unfilled"]
        )
        messages.append(message)
    policy = allocation_pb2.AllocationPolicy()
    policy.CopyFrom(day.policy)
    policy.allow_split = True
    policy.max_packages_per_order = 1
    request = allocation_pb2.AllocateRequest(
        network=network,
        orders=messages,
        skus=[day.skus[sku] for sku in sorted(demand)],
        policy=policy,
        stock=stock,
        plan_date=_date_message(day.plan_date),
        options=_options(day, day.allocation.time_limit_s, f"{day.name} repair"),
    )
    _set_plan_time(day, request)
    return _task("allocate/repair", "allocate", request, day.allocation.time_limit_s)


def _leftover_network(
    day_network: allocation_pb2.Network,
    packages: Mapping[str, int],
    units: Mapping[str, int],
    by_service: Mapping[tuple[str, str], int],
) -> tuple[allocation_pb2.Network, set[str]]:
    """The network with the capacity the regions left, and the FCs with room left.

    A limit of 0 reads as "none", so an FC out of packages or units is left out of
    ``usable`` (it gets no stock), and an FC out of a service's packages is taken off the
    service's FCs (a service left with none is dropped).
    """
    network = allocation_pb2.Network()
    network.CopyFrom(day_network)
    every = [f.id for f in network.fcs]
    offered = {s.id: list(s.fcs) or list(every) for s in network.services}
    usable = set()
    for center in network.fcs:
        room = True
        for name, used in (("capacity_packages", packages), ("capacity_units", units)):
            cap = getattr(center, name)
            if cap > 0:
                room &= cap - used.get(center.id, 0) > 0
                setattr(center, name, max(1, cap - used.get(center.id, 0)))
        if room:
            usable.add(center.id)
        for sid, cap in list(center.service_capacity.items()):
            left = cap - by_service.get((center.id, sid), 0)
            if cap > 0 and left <= 0:
                offered[sid] = [f for f in offered[sid] if f != center.id]
                del center.service_capacity[sid]
            elif cap > 0:
                center.service_capacity[sid] = left
    kept = []
    for service in network.services:
        if offered[service.id]:
            copy = allocation_pb2.CarrierService()
            copy.CopyFrom(service)
            if service.fcs or len(offered[service.id]) < len(every):
                copy.ClearField("fcs")
                copy.fcs.extend(offered[service.id])
            kept.append(copy)
    gone = {s.id for s in network.services} - {s.id for s in kept}
    for center in network.fcs:
        for sid in gone & set(center.service_capacity):
            del center.service_capacity[sid]
    del network.services[:]
    network.services.extend(kept)
    return network, usable


def merge_repair(
    regions: Sequence[Mapping[str, Any]], repair: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """Every order's record, with the repair's packages added to the orders it repaired."""
    fixed = {o["order_id"]: o for o in repair["orders"]} if repair else {}
    out = []
    for region in regions:
        for o in region["orders"]:
            again = fixed.get(o["order_id"])
            if again is None:
                out.append(dict(o))
                continue
            index = _line_index_map(o)
            shipments = [
                {**s, "lines": [{**x, "line_index": index[x["line_index"]]} for x in s["lines"]]}
                for s in again["shipments"]
            ]
            unfilled = [{**u, "line_index": index[u["line_index"]]} for u in again["unfilled"]]
            out.append(
                {
                    **o,
                    "shipments": [*o["shipments"], *shipments],
                    "unfilled": unfilled,
                    "cost": o["cost"] + sum(s["cost"] for s in shipments),
                    "repaired": True,
                }
            )
    return sorted(out, key=lambda o: o["order_id"])


# -- stage 2: picking waves -----------------------------------------------------------------


@dataclass(frozen=True)
class PickOrder:
    """What one warehouse picks for one order: ``(sku, units)`` per shipped line."""

    id: str
    lines: tuple[tuple[str, int], ...]
    priority: int
    level: int


def pick_orders(day: Day, records: Sequence[Mapping[str, Any]]) -> dict[str, list[PickOrder]]:
    """The orders each laid-out warehouse picks, in wave order (express, priority, id)."""
    levels = {s.id: s.level for s in day.network.services}
    priority = {o.id: o.priority for o in day.orders}
    out: dict[str, list[PickOrder]] = {w: [] for w in day.layouts}
    for record in records:
        by_fc: dict[str, dict[int, tuple[str, int]]] = {}
        level: dict[str, int] = {}
        for s in record["shipments"]:
            if s["fc"] not in out:
                continue
            lines = by_fc.setdefault(s["fc"], {})
            level[s["fc"]] = max(level.get(s["fc"], 0), levels.get(s["service"], 0))
            for x in s["lines"]:
                sku, units = lines.get(x["line_index"], (x["sku"], 0))
                lines[x["line_index"]] = (sku, units + x["quantity"])
        for fc, lines in by_fc.items():
            out[fc].append(
                PickOrder(
                    record["order_id"],
                    tuple(lines[k] for k in sorted(lines)),
                    priority.get(record["order_id"], 0),
                    level[fc],
                )
            )
    for orders in out.values():
        orders.sort(key=lambda o: (-o.level, -o.priority, o.id))
    return out


def wave_tasks(day: Day, records: Sequence[Mapping[str, Any]]) -> list[Task]:
    """One ``PlanWaveRequest`` per wave, each with its share of every bin it may pick from."""
    sizes = {
        sku: picking_pb2.SkuSize(
            sku=sku,
            volume_l=unit.length_cm * unit.width_cm * unit.height_cm / 1000.0,
            weight_kg=unit.weight_kg,
        )
        for sku, unit in day.skus.items()
    }
    per_wave = day.picking.orders_per_wave
    tasks = []
    for warehouse, orders in sorted(pick_orders(day, records).items()):
        waves = [orders[k : k + per_wave] for k in range(0, len(orders), per_wave)]
        demand = [_units([o.lines for o in wave]) for wave in waves]
        stock: list[list[inventory_pb2.StockLine]] = [[] for _ in waves]
        held = day.stock.get(warehouse, {})
        for sku in sorted({s for units in demand for s in units}):
            bins = sorted(b for b, q in held.get(sku, {}).items() if q > 0)
            shares = apportion([held[sku][b] for b in bins], [d.get(sku, 0) for d in demand])
            for w, row in enumerate(shares):
                stock[w].extend(
                    inventory_pb2.StockLine(sku=sku, bin_id=b, on_hand=q)
                    for b, q in zip(bins, row, strict=True)
                    if q
                )
        for w, wave in enumerate(waves):
            wave_id = f"{warehouse}-W{w:03d}"
            request = picking_pb2.PlanWaveRequest(
                warehouse_id=warehouse,
                orders=[
                    picking_pb2.WaveOrder(
                        id=o.id,
                        lines=[picking_pb2.WaveOrderLine(sku=s, quantity=q) for s, q in o.lines],
                        priority=o.priority,
                    )
                    for o in wave
                ],
                cart=day.picking.cart,
                sku_sizes=[sizes[s] for s in sorted(demand[w]) if s in sizes],
                stock=inventory_pb2.StockOverride(lines=stock[w]),
                include_path=True,
                max_iterations=day.picking.max_iterations,
                options=_options(day, day.picking.time_limit_s, wave_id),
            )
            tasks.append(_task(f"pick/{wave_id}", "pick", request, day.picking.time_limit_s))
    return tasks


def wave_record(
    request: picking_pb2.PlanWaveRequest, response: picking_pb2.PlanWaveResponse
) -> dict[str, Any]:
    """A wave's answer as plain data (the ``plans/waves.jsonl`` record)."""
    wave_id = request.options.label
    return {
        "wave_id": wave_id,
        "warehouse_id": request.warehouse_id,
        "index": int(wave_id.rsplit("-W", 1)[1]),
        "order_ids": [o.id for o in request.orders],
        "distance_m": response.distance_m,
        "baseline_distance_m": response.baseline_distance_m,
        "baseline_batches": response.baseline_batches,
        "status": common_pb2.SolveStatus.Name(response.status).removeprefix("SOLVE_STATUS_"),
        "iterations": response.iterations,
        "batches": [
            {
                "index": b.index,
                "order_ids": list(b.order_ids),
                "distance_m": b.distance_m,
                "picks": [
                    {
                        "order_id": p.order_id,
                        "line_index": p.line_index,
                        "sku": p.sku,
                        "bin_id": p.bin_id,
                        "quantity": p.quantity,
                        "tote": p.tote,
                        "cumulative_distance_m": p.cumulative_distance_m,
                    }
                    for p in b.picks
                ],
                "path": [[round(w.x_m, 3), round(w.y_m, 3)] for w in b.path],
            }
            for b in response.batches
        ],
        "unserved": [
            {
                "order_id": u.order_id,
                "line_index": u.line_index,
                "sku": u.sku,
                "quantity": u.quantity,
                "reason": UNSERVED_REASONS.get(u.reason, "unspecified"),
                "message": u.message,
            }
            for u in response.unserved
        ],
    }
