"""PickingService: plan a wave from live inventory (or the request's own stock) in a worker.

Thin by design: check the request's shape, read the stock for the wave's SKUs
(:func:`services.stock.stock_for_plan`), convert to a :class:`picking.model.Wave`, validate it
here (so the worker only solves), run :func:`picking.wave.plan` in the planner's worker pool
within the time limit and the call's deadline, optionally reserve the chosen units, convert
back and record metrics.
"""

from __future__ import annotations

import hashlib
import time
from contextlib import nullcontext

import grpc
from warehouse.v1 import common_pb2, inventory_pb2, picking_pb2, picking_pb2_grpc

from picking import model, wave
from picking.wave import Unserved, WavePlan
from routing.errors import InvalidInput, NotFound
from routing.oracle import DistanceOracle
from routing.route import RouteStatus
from services import convert
from services.inventory import InventoryStore, Level, ReservationLine
from services.metrics import ServerMetrics
from services.planner import RoutePlanner
from services.routing_service import SolveSlots, call_deadline
from services.stock import stock_for_plan

#: Most orders in one wave.
MAX_ORDERS = 5_000
#: Time limit of requests that give none.
DEFAULT_TIME_LIMIT_S = 5.0
#: Reservation time to live when the request gives none.
DEFAULT_RESERVATION_TTL_S = 15 * 60.0

_REASONS = {
    Unserved.UNKNOWN_SKU: picking_pb2.UNSERVED_REASON_UNKNOWN_SKU,
    Unserved.OUT_OF_STOCK: picking_pb2.UNSERVED_REASON_OUT_OF_STOCK,
    Unserved.LARGER_THAN_CART: picking_pb2.UNSERVED_REASON_LARGER_THAN_CART,
}
_STATUS = {
    RouteStatus.OPTIMAL: common_pb2.SOLVE_STATUS_OPTIMAL,
    RouteStatus.FEASIBLE: common_pb2.SOLVE_STATUS_FEASIBLE,
}


def to_wave(request: picking_pb2.PlanWaveRequest, stock: dict[str, dict[str, int]]) -> model.Wave:
    """The domain wave of a request (validated by :func:`picking.model.validate` later)."""
    c = request.cart
    t = request.timing
    sizes: dict[str, model.SkuSize] = {}
    for i, size in enumerate(request.sku_sizes):
        if size.sku in sizes:
            raise InvalidInput.single(f"sku_sizes[{i}].sku", f"{size.sku!r} given twice")
        sizes[size.sku] = model.SkuSize(size.volume_l, size.weight_kg)
    return model.Wave(
        orders=tuple(
            model.Order(
                o.id,
                tuple(model.OrderLine(x.sku, x.quantity) for x in o.lines),
                o.priority,
                convert.duration_s(o.pick_by) if o.HasField("pick_by") else None,
            )
            for o in request.orders
        ),
        cart=model.Cart(
            capacity_units=c.capacity_units,
            capacity_volume_l=c.capacity_volume_l,
            capacity_weight_kg=c.capacity_weight_kg,
            max_orders=c.max_orders,
            max_lines=c.max_lines,
            totes=c.totes,
            tote_units=c.tote_units,
            tote_volume_l=c.tote_volume_l,
            tote_weight_kg=c.tote_weight_kg,
            orders_may_span_totes=c.orders_may_span_totes,
            orders_may_span_carts=c.orders_may_span_carts,
        ),
        stock=stock,
        sizes=sizes,
        timing=model.Timing(
            walk_speed_m_s=t.walk_speed_m_s or 1.0,
            pick_time_s=convert.duration_s(t.pick_time) if t.HasField("pick_time") else 10.0,
            pickers=t.pickers or 1,
            lateness_penalty_m_per_s=(
                t.lateness_penalty_m_per_s if t.HasField("lateness_penalty_m_per_s") else 1.0
            ),
        ),
        start_depot=request.start_depot,
        end_depot=request.end_depot,
    )


def to_response(result: WavePlan, label: str) -> picking_pb2.PlanWaveResponse:
    """The proto form of a plan."""
    out = picking_pb2.PlanWaveResponse(
        label=label,
        distance_m=result.distance_mm / 1000,
        baseline_distance_m=result.baseline_distance_mm / 1000,
        baseline_batches=result.baseline_batches,
        saving_ratio=(
            1 - result.distance_mm / result.baseline_distance_mm
            if result.baseline_distance_mm
            else 0.0
        ),
        lateness_penalty_m=result.lateness_penalty_mm / 1000,
        status=_STATUS[result.status],
        iterations=result.iterations,
    )
    out.solve_time.FromNanoseconds(round(result.solve_time_s * 1e9))
    for k, batch in enumerate(result.batches):
        arrival = {s.bin_id: s.cumulative_mm for s in batch.route.stops}
        out.batches.append(
            picking_pb2.PickBatch(
                index=k,
                order_ids=batch.order_ids,
                totes=[
                    picking_pb2.ToteAssignment(order_id=o, totes=t)
                    for o, t in batch.totes.items()
                    if t
                ],
                picks=[
                    picking_pb2.WavePick(
                        order_id=p.order_id,
                        line_index=p.line_index,
                        sku=p.sku,
                        bin_id=p.bin_id,
                        quantity=p.quantity,
                        cumulative_distance_m=arrival[p.bin_id] / 1000,
                        tote=p.tote,
                    )
                    for p in batch.picks
                ],
                distance_m=batch.distance_mm / 1000,
                route_status=_STATUS[batch.route.status],
                path=[convert.waypoint(w) for w in batch.route.path],
                start_depot=batch.route.start_depot,
                end_depot=batch.route.end_depot,
            )
        )
    out.unserved.extend(
        picking_pb2.UnservedLine(
            order_id=u.order_id,
            line_index=u.line_index,
            sku=u.sku,
            quantity=u.quantity,
            reason=_REASONS[u.reason],
            message=u.message,
        )
        for u in result.unserved
    )
    return out


class PickingService(picking_pb2_grpc.PickingServiceServicer):
    """Plans picking waves; see warehouse/v1/picking.proto."""

    def __init__(
        self,
        planner: RoutePlanner,
        inventory: InventoryStore,
        slots: SolveSlots,
        metrics: ServerMetrics,
        *,
        deadline_margin_s: float = 0.05,
        max_reservation_ttl_s: float = 24 * 3600.0,
        wave_processes: int = 1,
    ) -> None:
        """``wave_processes``: see :attr:`services.config.Settings.wave_processes` (more than
        one only where plans run in worker processes)."""
        self._planner = planner
        self._processes = wave_processes
        self._inventory = inventory
        self._slots = slots
        self._metrics = metrics
        self._margin_s = deadline_margin_s
        self._max_ttl_s = max_reservation_ttl_s

    def PlanWave(  # noqa: N802
        self, request: picking_pb2.PlanWaveRequest, context: grpc.ServicerContext
    ) -> picking_pb2.PlanWaveResponse:
        """Plan one wave (see warehouse/v1/picking.proto)."""
        deadline = call_deadline(context, self._margin_s)
        if not request.warehouse_id:
            raise InvalidInput.single("warehouse_id", "must not be empty")
        if len(request.orders) > MAX_ORDERS:
            raise InvalidInput.single(
                "orders", f"at most {MAX_ORDERS:,} per wave, got {len(request.orders):,}"
            )
        if request.max_iterations < 0:
            raise InvalidInput.single(
                "max_iterations", f"must be >= 0, got {request.max_iterations}"
            )
        oracle = self._planner.registry.oracle(request.warehouse_id)
        override = request.stock if request.HasField("stock") else None
        if override is not None:
            for i, line in enumerate(override.lines):
                if line.bin_id not in oracle.bin_index:
                    raise NotFound("bin", line.bin_id, f"stock.lines[{i}].bin_id")
            if request.reserve:
                raise InvalidInput.single("reserve", "cannot reserve what-if stock")
        skus = sorted({x.sku for o in request.orders for x in o.lines if x.sku})
        own = request.reservation_id if request.reserve else ""
        # The store is read only without a StockOverride in the request.
        with self._metrics.store_call("read_stock") if override is None else nullcontext():
            stock = stock_for_plan(
                self._inventory, request.warehouse_id, skus, override, reservation_id=own
            )
        plan_wave = to_wave(request, stock.available)
        model.validate(plan_wave)
        oracle.depot_location(plan_wave.start_depot or oracle.depot_ids[0], "start_depot")
        if plan_wave.end_depot:
            oracle.depot_location(plan_wave.end_depot, "end_depot")
        ttl_s = self._ttl(request)
        if request.options.validate_only:
            return picking_pb2.PlanWaveResponse(label=request.options.label)
        limit = convert.time_limit_s(request.options, DEFAULT_TIME_LIMIT_S)
        if deadline is not None:
            limit = min(limit, max(deadline - time.monotonic() - _finish_s(limit), 0.001))
        with self._slots.take(deadline):
            result = self._planner.run(
                _plan,
                request.warehouse_id,
                plan_wave,
                limit,
                request.options.seed,
                request.include_path,
                request.max_iterations or None,
                self._processes,
                deadline=deadline,
            )
        response = to_response(result, request.options.label)
        response.inventory_version = stock.version or 0
        response.stock_from_request = stock.from_request
        if request.reserve:
            self._reserve(request, result, response, ttl_s)
        self._metrics.observe_wave(result)
        return response

    def _ttl(self, request: picking_pb2.PlanWaveRequest) -> float:
        if not request.HasField("reservation_ttl"):
            return DEFAULT_RESERVATION_TTL_S
        ttl_s = convert.duration_s(request.reservation_ttl)
        if not 0 < ttl_s <= self._max_ttl_s:
            raise InvalidInput.single(
                "reservation_ttl", f"must be in (0, {self._max_ttl_s:g}] s, got {ttl_s:g} s"
            )
        return ttl_s

    def _reserve(
        self,
        request: picking_pb2.PlanWaveRequest,
        result: WavePlan,
        response: picking_pb2.PlanWaveResponse,
        ttl_s: float,
    ) -> None:
        """Hold every chosen unit, or none, under the request's (or a derived) reservation id."""
        units: dict[tuple[str, str], int] = {}
        for batch in result.batches:
            for p in batch.picks:
                units[(p.sku, p.bin_id)] = units.get((p.sku, p.bin_id), 0) + p.quantity
        if not units:
            return
        reservation_id = (
            request.reservation_id
            or "wave-"
            + hashlib.blake2b(
                repr((request.options.label, sorted(units.items()))).encode(), digest_size=8
            ).hexdigest()
        )
        lines = [ReservationLine(sku, b, q) for (sku, b), q in sorted(units.items())]
        with self._metrics.store_call("reserve"):
            held = self._inventory.reserve(
                request.warehouse_id,
                reservation_id,
                lines,
                level=Level.BIN,
                ttl_s=ttl_s,
                replace=True,
            )
        response.reservation_id = reservation_id
        response.reserved = held.reserved
        response.reservation_shortages.extend(
            inventory_pb2.Shortage(
                line=s.line, sku=s.sku, bin_id=s.bin, requested=s.requested, available=s.available
            )
            for s in held.shortages
        )
        if held.reserved:
            response.inventory_version = held.version


def _finish_s(limit_s: float) -> float:
    """Time kept after the search for the final routes and the reply."""
    return 0.05 + 0.1 * limit_s


def _plan(
    oracle: DistanceOracle,
    plan_wave: model.Wave,
    limit_s: float,
    seed: int,
    with_path: bool,
    max_iterations: int | None = None,
    processes: int = 1,
) -> WavePlan:
    """Module-level (picklable) call of :func:`picking.wave.plan` for the worker pool."""
    return wave.plan(
        oracle,
        plan_wave,
        time_limit_s=limit_s,
        seed=seed,
        max_iterations=max_iterations,
        with_path=with_path,
        processes=processes,
    )
