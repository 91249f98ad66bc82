"""Behaviour under load, through a real server on loopback: the solve limit, cheap calls beside
busy workers, graceful shutdown, crashed workers and request size limits.

Slow requests are real solves that run for seconds: a 200-bin PlanRoute on a graph layout (the
OR-Tools search runs to its time limit), a 60-order PlanWave (the batching search runs to its
limit) and a 9,000-order Allocate on the demo network (seconds of column generation). Timing
bounds are behavioural, with wide margins: "answers at once" is under a second against solves
of several seconds.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.type import date_pb2  # type: ignore[import-untyped]
from grpc_health.v1 import health_pb2, health_pb2_grpc
from warehouse.v1 import (
    allocation_pb2,
    allocation_pb2_grpc,
    common_pb2,
    inventory_pb2,
    inventory_pb2_grpc,
    layout_pb2,
    layout_pb2_grpc,
    picking_pb2,
    picking_pb2_grpc,
    routing_pb2,
    routing_pb2_grpc,
)

from services import allocation_service, picking_service, planner, routing_service
from services.config import MIB
from services.errors import SolverUnavailable
from services.server import WarehouseServer
from tests.conftest import StartServer, grid_layout, make_settings
from tests.test_services_allocation import fc_stock
from tests.test_services_layout import _violations
from tests.test_services_picking import wave_request

#: The graph layout slow routes are planned on: 10 aisles of 20 bins.
GRID = grid_layout("grid", aisles=10, bins_per_aisle=20)
GRID_BINS = [b.id for b in GRID.graph.bins]
#: Bins of the demo layout (one block, 10 aisles of 45 cells a side).
DEMO_BINS = [f"A{a:02d}-B1-{p:03d}{s}" for a in range(1, 11) for p in range(1, 46) for s in "LR"]
#: SKUs stocked somewhere in the demo FC network.
FC_SKUS = sorted(set(fc_stock("ABE1")) | set(fc_stock("DFW1")) | set(fc_stock("RIV1")))
DESTINATIONS = ["10001", "94105", "60601", "30301", "75201", "98101", "02108", "33101", "85001"]

#: "At once": far below the seconds a slow solve takes, far above a loaded loopback call.
PROMPT_S = 1.0


def _seconds(value: float) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromNanoseconds(round(value * 1e9))
    return out


def _options(time_limit_s: float, **kw: Any) -> common_pb2.SolveOptions:
    return common_pb2.SolveOptions(time_limit=_seconds(time_limit_s), **kw)


def route_request(picks: int = 200, time_limit_s: float = 2.0) -> routing_pb2.PlanRouteRequest:
    """A route on the grid; above 150 bins the search runs to its time limit, in a worker."""
    return routing_pb2.PlanRouteRequest(
        warehouse_id="grid", bin_ids=GRID_BINS[:picks], options=_options(time_limit_s)
    )


def slow_wave(time_limit_s: float) -> picking_pb2.PlanWaveRequest:
    """A 60-order wave on the demo warehouse; its batching search runs to the time limit."""
    return wave_request(60, options=_options(time_limit_s))


def allocate_request(n_orders: int, time_limit_s: float = 5.0) -> allocation_pb2.AllocateRequest:
    """``n_orders`` orders of 2-4 demo SKUs on the demo network (9,000 take seconds to solve)."""
    rng = random.Random(1)
    orders = [
        allocation_pb2.AllocationOrder(
            id=f"o{i}",
            destination=allocation_pb2.Location(postal_code=rng.choice(DESTINATIONS)),
            lines=[
                allocation_pb2.AllocationOrderLine(sku=sku, quantity=1)
                for sku in rng.sample(FC_SKUS, rng.randint(2, 4))
            ],
        )
        for i in range(n_orders)
    ]
    skus = sorted({line.sku for o in orders for line in o.lines})
    return allocation_pb2.AllocateRequest(
        network_id="demo",
        orders=orders,
        skus=[
            allocation_pb2.SkuUnit(id=s, weight_kg=0.8, length_cm=30, width_cm=20, height_cm=10)
            for s in skus
        ],
        plan_date=date_pb2.Date(year=2026, month=12, day=1),
        plan_time={"hours": 9},
        options=_options(time_limit_s),
    )


def _put_grid(channel: grpc.Channel) -> None:
    layout_pb2_grpc.LayoutServiceStub(channel).PutLayout(layout_pb2.PutLayoutRequest(layout=GRID))


def _wait_for_slots(server: WarehouseServer, count: int) -> None:
    """Block until ``count`` solve calls hold a slot (they are past validation, solving)."""
    started = time.monotonic()
    while server.slots.in_use < count:
        assert time.monotonic() - started < 10, f"only {server.slots.in_use} solves started"
        time.sleep(0.01)


def _refusal(call: Callable[[], object]) -> tuple[grpc.RpcError, float]:
    """The error ``call`` fails with, and how long it took to fail."""
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value, time.monotonic() - started


@pytest.fixture
def pooled(start_server: StartServer) -> WarehouseServer:
    """A server with 2 solver processes, 4 handler threads and room for 2 solves at once."""
    server = start_server(workers=2, threads=4, max_concurrent_solves=2)
    with grpc.insecure_channel(server.address) as channel:
        _put_grid(channel)
    return server


@pytest.fixture
def channel_to(pooled: WarehouseServer) -> Iterator[grpc.Channel]:
    """A client channel to the ``pooled`` server."""
    with grpc.insecure_channel(pooled.address) as channel:
        yield channel


# -- 1. the solve limit ---------------------------------------------------------------------


def test_a_solve_over_the_limit_fails_at_once_on_every_solving_rpc(
    pooled: WarehouseServer, channel_to: grpc.Channel
) -> None:
    """With 2 solves running, a third (PlanRoute, PlanRoutes, PlanWave, Allocate) is refused."""
    routing = routing_pb2_grpc.RoutingServiceStub(channel_to)
    picking = picking_pb2_grpc.PickingServiceStub(channel_to)
    allocation = allocation_pb2_grpc.AllocationServiceStub(channel_to)
    running = [routing.PlanRoute.future(route_request(time_limit_s=2.0)) for _ in range(2)]
    _wait_for_slots(pooled, 2)
    extra: dict[str, Callable[[], object]] = {
        "PlanRoute": lambda: routing.PlanRoute(route_request(time_limit_s=2.0)),
        "PlanRoutes": lambda: routing.PlanRoutes(
            routing_pb2.PlanRoutesRequest(requests=[route_request(time_limit_s=2.0)])
        ),
        "PlanWave": lambda: picking.PlanWave(slow_wave(2.0)),
        "Allocate": lambda: allocation.Allocate(allocate_request(50, time_limit_s=2.0)),
    }
    for method, call in extra.items():
        error, took = _refusal(call)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, method
        assert error.details() == "2 solves are already running; retry with backoff", method
        assert took < PROMPT_S, f"{method} took {took:.2f} s to be refused"
    assert not any(f.done() for f in running), "the slow solves ended before the check"
    assert [len(f.result(timeout=30).stops) for f in running] == [200, 200]
    # Slots are free again once the running solves have answered.
    assert len(routing.PlanRoute(route_request(30, time_limit_s=0.2), timeout=30).stops) == 30


def test_slow_waves_allocations_and_batches_hold_solve_slots(start_server: StartServer) -> None:
    """A running PlanRoutes, PlanWave and Allocate each take one of 3 slots: a 4th is refused."""
    server = start_server(workers=2, threads=5, max_concurrent_solves=3)
    with grpc.insecure_channel(server.address) as channel:
        _put_grid(channel)
        routing = routing_pb2_grpc.RoutingServiceStub(channel)
        running: list[grpc.CallFuture[Any]] = [
            routing.PlanRoutes.future(
                routing_pb2.PlanRoutesRequest(requests=[route_request(time_limit_s=5.0)])
            ),
            picking_pb2_grpc.PickingServiceStub(channel).PlanWave.future(slow_wave(5.0)),
            allocation_pb2_grpc.AllocationServiceStub(channel).Allocate.future(
                allocate_request(9000, time_limit_s=5.0)
            ),
        ]
        _wait_for_slots(server, 3)
        time.sleep(0.5)  # the allocation's problem is shipped to the pool: every solve is on
        error, took = _refusal(
            lambda: routing.PlanRoute(routing_pb2.PlanRouteRequest(warehouse_id="demo"))
        )
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "3 solves are already running" in (error.details() or "")
        assert took < PROMPT_S
        assert not any(f.done() for f in running)
    # Closing the channel cancelled the running calls; the server ends their solves at teardown.


# -- 2. cheap calls beside busy workers -----------------------------------------------------


def test_health_and_cheap_reads_stay_fast_while_the_pool_is_saturated(
    pooled: WarehouseServer, channel_to: grpc.Channel
) -> None:
    """With both solver processes busy, health Check, GetStock and GetLayout answer in < 1 s."""
    running = [
        routing_pb2_grpc.RoutingServiceStub(channel_to).PlanRoute.future(
            route_request(time_limit_s=3.0)
        )
        for _ in range(2)
    ]
    _wait_for_slots(pooled, 2)
    time.sleep(0.3)  # let both searches get going in their processes
    health = health_pb2_grpc.HealthStub(channel_to)
    inventory = inventory_pb2_grpc.InventoryServiceStub(channel_to)
    layouts = layout_pb2_grpc.LayoutServiceStub(channel_to)
    calls: dict[str, Callable[[], Any]] = {
        "Check": lambda: health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5),
        "GetStock": lambda: inventory.GetStock(
            inventory_pb2.GetStockRequest(site_ids=["demo"], skus=["SKU-0001"]), timeout=5
        ),
        "GetLayout": lambda: layouts.GetLayout(
            layout_pb2.GetLayoutRequest(warehouse_id="demo"), timeout=5
        ),
    }
    slowest: dict[str, float] = {}
    for _ in range(5):
        for name, call in calls.items():
            started = time.monotonic()
            response = call()
            slowest[name] = max(slowest.get(name, 0.0), time.monotonic() - started)
            if name == "Check":
                assert response.status == health_pb2.HealthCheckResponse.SERVING
            elif name == "GetStock":
                assert response.sites and response.sites[0].lines
            else:
                assert response.id == "demo"
    assert not any(f.done() for f in running), "the pool was not busy during the checks"
    assert all(took < PROMPT_S for took in slowest.values()), slowest
    assert [len(f.result(timeout=30).stops) for f in running] == [200, 200]


# -- 3. graceful shutdown -------------------------------------------------------------------


def test_stop_reports_not_serving_finishes_calls_in_flight_and_refuses_new_ones(
    pooled: WarehouseServer, channel_to: grpc.Channel
) -> None:
    """stop(grace): health goes NOT_SERVING, the running solve answers, new calls are refused."""
    routing = routing_pb2_grpc.RoutingServiceStub(channel_to)
    in_flight = routing.PlanRoute.future(route_request(time_limit_s=1.5), timeout=30)
    watch = health_pb2_grpc.HealthStub(channel_to).Watch(
        health_pb2.HealthCheckRequest(service=""), timeout=30
    )
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    _wait_for_slots(pooled, 1)
    grace_s = 5.0
    started = time.monotonic()
    stopping = threading.Thread(target=pooled.stop, args=(grace_s,))
    stopping.start()
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert not in_flight.done()  # NOT_SERVING came first, while the call was still running
    watch.cancel()  # an open Watch stream would hold the server for the whole grace period
    refused: grpc.StatusCode | None = None
    while refused is None and time.monotonic() - started < 1.0:  # refusing follows at once
        with grpc.insecure_channel(pooled.address) as fresh:
            try:
                layout_pb2_grpc.LayoutServiceStub(fresh).GetLayout(
                    layout_pb2.GetLayoutRequest(warehouse_id="demo"), timeout=5
                )
            except grpc.RpcError as error:
                refused = error.code()
    # Refused with UNAVAILABLE, or with CANCELLED when gRPC core had already taken the call in
    # but no handler had started it as shutdown began (grpc/grpc#41785): never answered.
    assert refused in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    assert not in_flight.done()  # new calls were refused while this one was still running
    assert len(in_flight.result(timeout=30).stops) == 200
    stopping.join(timeout=30)
    assert not stopping.is_alive()
    assert time.monotonic() - started < grace_s


def test_stop_cuts_a_call_longer_than_the_grace_period_and_its_worker(
    pooled: WarehouseServer, channel_to: grpc.Channel
) -> None:
    """A 10 s solve under a 0.5 s grace: the call fails UNAVAILABLE, stop returns, workers end."""
    in_flight = routing_pb2_grpc.RoutingServiceStub(channel_to).PlanRoute.future(
        route_request(time_limit_s=10.0), timeout=30
    )
    _wait_for_slots(pooled, 1)
    workers = pooled.planner.worker_pids()
    assert workers
    started = time.monotonic()
    pooled.stop(0.5)
    assert time.monotonic() - started < 0.5 + 2.5  # not the 10 s the solve would take
    with pytest.raises(grpc.RpcError) as error:
        in_flight.result(timeout=5)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    with pytest.raises(SolverUnavailable, match="shutting down"):
        pooled.planner.run(max, None, 1, 2)  # a straggler reaching the closed pool


# -- 4. crashed workers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarehouseServer]:
    """One server with a single solver process, shared by the crash tests."""
    db_path = tmp_path_factory.mktemp("crash") / "warehouse.db"
    server = WarehouseServer(
        make_settings(db_path, workers=1, threads=4, max_concurrent_solves=2, metrics_port=-1)
    )
    server.start()
    with grpc.insecure_channel(server.address) as channel:
        _put_grid(channel)
    yield server
    server.stop(0)


#: gRPC status codes by number, for the per-item ``google.rpc.Status`` of PlanRoutes.
CODES = {code.value[0]: code for code in grpc.StatusCode}


def _slow_call(kind: str, channel: grpc.Channel) -> grpc.CallFuture[Any]:
    """Start a ``kind`` call whose solve runs for several seconds in the worker."""
    if kind == "PlanRoute":
        return routing_pb2_grpc.RoutingServiceStub(channel).PlanRoute.future(
            route_request(time_limit_s=6.0), timeout=60
        )
    if kind == "PlanRoutes":
        return routing_pb2_grpc.RoutingServiceStub(channel).PlanRoutes.future(
            routing_pb2.PlanRoutesRequest(requests=[route_request(time_limit_s=6.0)]), timeout=60
        )
    if kind == "PlanWave":
        return picking_pb2_grpc.PickingServiceStub(channel).PlanWave.future(
            slow_wave(6.0), timeout=60
        )
    return allocation_pb2_grpc.AllocationServiceStub(channel).Allocate.future(
        allocate_request(9000, time_limit_s=6.0), timeout=60
    )


def _quick_call(kind: str, channel: grpc.Channel) -> None:
    """A short ``kind`` call that still runs in a worker; fails the test unless it succeeds."""
    routing = routing_pb2_grpc.RoutingServiceStub(channel)
    if kind == "PlanRoute":
        assert len(routing.PlanRoute(route_request(30, 0.2), timeout=60).stops) == 30
    elif kind == "PlanRoutes":
        batch = routing_pb2.PlanRoutesRequest(requests=[route_request(30, 0.2)])
        assert len(routing.PlanRoutes(batch, timeout=60).results[0].route.stops) == 30
    elif kind == "PlanWave":
        wave = picking_pb2_grpc.PickingServiceStub(channel).PlanWave(wave_request(), timeout=60)
        assert wave.batches
    else:
        stub = allocation_pb2_grpc.AllocationServiceStub(channel)
        allocated = stub.Allocate(allocate_request(3, time_limit_s=1.0), timeout=60)
        assert len(allocated.orders) == 3


def _failure(kind: str, call: grpc.CallFuture[Any]) -> tuple[grpc.StatusCode, str, str]:
    """Code, message and trailing metadata (as text) of the failed call, or its failed item."""
    if kind == "PlanRoutes":
        item = call.result(timeout=60).results[0]
        assert item.HasField("error"), "the item was answered"
        return CODES[item.error.code], item.error.message, ""
    with pytest.raises(grpc.RpcError) as error:
        call.result(timeout=60)
    failed: Any = error.value
    return failed.code(), failed.details(), str(failed.trailing_metadata())


@pytest.mark.parametrize("kind", ["PlanRoute", "PlanRoutes", "PlanWave", "Allocate"])
def test_a_killed_worker_fails_its_call_with_unavailable_and_is_replaced(
    one_worker: WarehouseServer, kind: str
) -> None:
    """SIGKILL on the worker mid-solve: the call fails UNAVAILABLE at once; the next succeeds."""
    with grpc.insecure_channel(one_worker.address) as channel:
        call = _slow_call(kind, channel)
        _wait_for_slots(one_worker, 1)
        time.sleep(0.5)  # the solve is running in the worker
        killed = one_worker.planner.worker_pids()
        assert killed
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        started = time.monotonic()
        code, message, metadata = _failure(kind, call)
        took = time.monotonic() - started
        assert code == grpc.StatusCode.UNAVAILABLE
        assert message == planner.WORKER_CRASHED
        assert "Traceback" not in message + metadata
        assert took < 3 * PROMPT_S  # the solve itself had over 5 s to go
        _quick_call(kind, channel)
    fresh = one_worker.planner.worker_pids()
    assert fresh and not set(fresh) & set(killed)


# -- 5. request size limits -----------------------------------------------------------------


@pytest.fixture(scope="module")
def small_messages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[grpc.Channel]:
    """A channel to a server that takes messages up to 1 MiB and solves in its handlers."""
    db_path = tmp_path_factory.mktemp("limits") / "warehouse.db"
    server = WarehouseServer(make_settings(db_path, max_message_bytes=MIB, metrics_port=-1))
    server.start()
    with grpc.insecure_channel(server.address) as channel:
        yield channel
    server.stop(0)


def _invalid(call: Callable[[], object]) -> dict[str, str]:
    """The field violations of the INVALID_ARGUMENT ``call`` fails with."""
    error, _ = _refusal(call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    return _violations(error)


def test_too_many_picks_per_route_is_invalid_naming_bin_ids(small_messages: grpc.Channel) -> None:
    """PlanRoute and each PlanRoutes item take at most MAX_PICKS bins; one more names bin_ids."""
    limit = routing_service.MAX_PICKS
    routing = routing_pb2_grpc.RoutingServiceStub(small_messages)
    at_limit = routing_pb2.PlanRouteRequest(
        warehouse_id="demo",
        bin_ids=[DEMO_BINS[i % len(DEMO_BINS)] for i in range(limit)],
        options=common_pb2.SolveOptions(validate_only=True),
    )
    assert routing.PlanRoute(at_limit, timeout=30).start_depot
    over = routing_pb2.PlanRouteRequest()
    over.CopyFrom(at_limit)
    over.bin_ids.append(DEMO_BINS[0])
    expected = {"bin_ids": f"at most {limit:,} per route, got {limit + 1:,}"}
    assert _invalid(lambda: routing.PlanRoute(over, timeout=30)) == expected
    over.options.validate_only = False
    batch = routing.PlanRoutes(routing_pb2.PlanRoutesRequest(requests=[over]), timeout=30)
    assert batch.results[0].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "bin_ids" in batch.results[0].error.message


def test_too_many_pick_lists_per_batch_is_invalid_naming_requests(
    small_messages: grpc.Channel,
) -> None:
    """PlanRoutes takes at most MAX_BATCH pick lists; one more names requests."""
    from services.convert import MAX_BATCH

    batch = routing_pb2.PlanRoutesRequest(
        requests=[routing_pb2.PlanRouteRequest() for _ in range(MAX_BATCH + 1)]
    )
    violations = _invalid(
        lambda: routing_pb2_grpc.RoutingServiceStub(small_messages).PlanRoutes(batch, timeout=30)
    )
    assert list(violations) == ["requests"]
    assert f"at most {MAX_BATCH}" in violations["requests"]


def test_too_many_orders_per_wave_is_invalid_naming_orders(small_messages: grpc.Channel) -> None:
    """PlanWave takes at most MAX_ORDERS orders; one more names orders and the limit."""
    limit = picking_service.MAX_ORDERS
    picking = picking_pb2_grpc.PickingServiceStub(small_messages)
    wave = wave_request(limit, options=common_pb2.SolveOptions(validate_only=True))
    del wave.orders[-1].lines[-1]  # the unknown SKU line: valid, but not stocked
    assert picking.PlanWave(wave, timeout=30).label == ""
    wave.orders.add(id="one-more", lines=[picking_pb2.WaveOrderLine(sku="SKU-0001", quantity=1)])
    expected = {"orders": f"at most {limit:,} per wave, got {limit + 1:,}"}
    assert _invalid(lambda: picking.PlanWave(wave, timeout=30)) == expected


def test_too_many_orders_per_allocation_is_invalid_naming_orders(
    start_server: StartServer,
) -> None:
    """Allocate takes at most MAX_ORDERS orders; one more names orders and the limit."""
    limit = allocation_service.MAX_ORDERS
    server = start_server(max_message_bytes=8 * MIB, metrics_port=-1)
    channel = grpc.insecure_channel(server.address)
    allocation = allocation_pb2_grpc.AllocationServiceStub(channel)
    request = allocate_request(limit)
    request.options.validate_only = True
    assert allocation.Allocate(request, timeout=30).network_id == "demo"
    request.orders.add().CopyFrom(request.orders[0])
    request.orders[-1].id = "one-more"
    expected = {"orders": f"at most {limit:,} per request, got {limit + 1:,}"}
    assert _invalid(lambda: allocation.Allocate(request, timeout=30)) == expected
    channel.close()


def test_a_message_over_the_size_limit_is_resource_exhausted(small_messages: grpc.Channel) -> None:
    """A request above max_message_bytes (1 MiB here) fails RESOURCE_EXHAUSTED naming the size."""
    request = routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=["x" * 1000] * 1100)
    assert request.ByteSize() > MIB
    error, _ = _refusal(
        lambda: routing_pb2_grpc.RoutingServiceStub(small_messages).PlanRoute(request, timeout=30)
    )
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"vs. {MIB})" in (error.details() or "")


def test_a_time_limit_above_the_cap_is_invalid_naming_options_time_limit(
    small_messages: grpc.Channel,
) -> None:
    """A solve may ask for at most MAX_TIME_LIMIT_S; one second more names options.time_limit."""
    from services.convert import MAX_TIME_LIMIT_S

    routing = routing_pb2_grpc.RoutingServiceStub(small_messages)
    request = routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=DEMO_BINS[:2])
    request.options.time_limit.seconds = int(MAX_TIME_LIMIT_S)
    request.options.validate_only = True
    assert routing.PlanRoute(request, timeout=30).start_depot
    request.options.time_limit.seconds = int(MAX_TIME_LIMIT_S) + 1
    assert _invalid(lambda: routing.PlanRoute(request, timeout=30)) == {
        "options.time_limit": f"at most {MAX_TIME_LIMIT_S:.0f} s, got {MAX_TIME_LIMIT_S + 1:g} s"
    }
