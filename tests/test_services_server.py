"""The server process: health, reflection, metrics, INTERNAL errors, config and SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import grpc
import pytest
from google.protobuf import duration_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from warehouse.v1 import (
    common_pb2,
    inventory_pb2,
    inventory_pb2_grpc,
    layout_pb2,
    layout_pb2_grpc,
    routing_pb2,
    routing_pb2_grpc,
)

from services import config
from services.config import MIB, Settings
from services.server import SERVICE_NAMES, WarehouseServer
from tests.conftest import ROOT, StartServer, grid_layout


def test_health_reports_serving_for_every_service(channel: grpc.Channel) -> None:
    """grpc.health.v1 answers SERVING for the server and for each service by name."""
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", *SERVICE_NAMES):
        response = stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as error:
        stub.Check(health_pb2.HealthCheckRequest(service="warehouse.v1.NoSuchService"))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_stop_reports_not_serving(server: WarehouseServer) -> None:
    """Stopping the server switches every health status to NOT_SERVING first."""
    server.stop(0)
    no_call = cast(grpc.ServicerContext, None)  # Check only needs a context for NOT_FOUND
    for name in ("", *SERVICE_NAMES):
        response = server.health.Check(health_pb2.HealthCheckRequest(service=name), no_call)
        assert response.status == health_pb2.HealthCheckResponse.NOT_SERVING


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    """Server reflection lists the warehouse services, health and reflection itself."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert {
        "warehouse.v1.LayoutService",
        "warehouse.v1.RoutingService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names


def test_metrics_endpoint_after_calls(server: WarehouseServer, channel: grpc.Channel) -> None:
    """/metrics exposes handled calls by code, latency buckets and the solver histogram."""
    routing = routing_pb2_grpc.RoutingServiceStub(channel)
    routing.PlanRoute(routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=["A01-B1-001L"]))
    with pytest.raises(grpc.RpcError):
        routing.PlanRoute(routing_pb2.PlanRouteRequest(warehouse_id="nowhere"))
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    labels = 'grpc_method="PlanRoute",grpc_service="warehouse.v1.RoutingService",grpc_type="unary"'
    assert re.search(rf'grpc_server_handled_total\{{grpc_code="OK",{labels}\}} 1\.0', text)
    assert re.search(rf'grpc_server_handled_total\{{grpc_code="NOT_FOUND",{labels}\}} 1\.0', text)
    assert re.search(rf"grpc_server_started_total\{{{labels}\}} 2\.0", text)
    assert re.search(rf'grpc_server_handling_seconds_bucket\{{{labels},le="0\.001"\}}', text)
    assert re.search(rf'grpc_server_handling_seconds_bucket\{{{labels},le="300\.0"\}} 2\.0', text)
    assert re.search(rf"grpc_server_msg_received_total\{{{labels}\}} 2\.0", text)
    assert re.search(rf"grpc_server_msg_sent_total\{{{labels}\}} 1\.0", text)
    assert 'warehouse_route_solve_seconds_count{solver="ladder_dp"} 1.0' in text
    assert 'warehouse_route_distance_saved_meters_total{baseline="s_shape"}' in text


def test_unexpected_error_is_bare_internal(
    server: WarehouseServer, channel: grpc.Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the server answers INTERNAL "internal error", no exception text or trace."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail /srv/app/solver.py line 42")

    monkeypatch.setattr(server.planner, "plan", broken)
    with pytest.raises(grpc.RpcError) as error:
        routing_pb2_grpc.RoutingServiceStub(channel).PlanRoute(
            routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=["A01-B1-001L"])
        )
    assert error.value.code() == grpc.StatusCode.INTERNAL
    assert error.value.details() == "internal error"
    assert "secret" not in str(error.value.trailing_metadata())


def test_message_size_limit_is_configured(start_server: StartServer) -> None:
    """Requests above max_message_bytes are refused with RESOURCE_EXHAUSTED."""
    server = start_server(max_message_bytes=1 * MIB)
    layout = grid_layout("huge", aisles=1, bins_per_aisle=1)
    layout.display_name = "x" * (2 * MIB)
    with grpc.insecure_channel(server.address) as channel, pytest.raises(grpc.RpcError) as error:
        layout_pb2_grpc.LayoutServiceStub(channel).PutLayout(
            layout_pb2.PutLayoutRequest(layout=layout)
        )
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_busy_port_fails_to_start(server: WarehouseServer, tmp_path: Path) -> None:
    """A second server on a port already in use fails to start instead of sharing it."""
    other = WarehouseServer(
        Settings(
            listen_address=server.address,
            metrics_port=-1,
            db_path=tmp_path / "other.db",
            layouts_dir=None,
            workers=0,
        )
    )
    with pytest.raises(RuntimeError, match="bind"):
        other.start()
    other.stop(0)


def test_health_port_answers_probes_while_the_api_port_refuses_calls(
    start_server: StartServer,
) -> None:
    """With every handler thread of the API port held, gRPC refuses a health check there with
    RESOURCE_EXHAUSTED at once, while the health port answers SERVING (and only Check)."""
    server = start_server(threads=3, max_concurrent_solves=2, health_port=0)
    assert server.health_port not in (0, server.port)
    hold = threading.Event()

    def unfinished() -> Iterator[inventory_pb2.ReplaceStockRequest]:
        yield inventory_pb2.ReplaceStockRequest(
            header=inventory_pb2.SnapshotHeader(
                site_id="demo", level=inventory_pb2.STOCK_LEVEL_BIN, snapshot_id="held"
            )
        )
        hold.wait(timeout=30)

    request = health_pb2.HealthCheckRequest(service="")
    with (
        grpc.insecure_channel(server.address) as api,
        grpc.insecure_channel(f"127.0.0.1:{server.health_port}") as probes,
    ):
        streams: list[grpc.Future[inventory_pb2.ReplaceStockResponse]] = []
        try:
            # Hold one more handler thread at a time until gRPC's cap of 3 refuses a Check
            # (fewer streams may do, if some other client's call holds a thread).
            refused = None
            while refused is None and len(streams) < 6:
                stub = inventory_pb2_grpc.InventoryServiceStub(api)
                streams.append(stub.ReplaceStock.future(unfinished()))
                time.sleep(0.3)
                try:
                    health_pb2_grpc.HealthStub(api).Check(request, timeout=5)
                except grpc.RpcError as exc:
                    refused = exc
            assert refused is not None
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            answer = health_pb2_grpc.HealthStub(probes).Check(request, timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
            watch = health_pb2_grpc.HealthStub(probes).Watch(request, timeout=5)
            with pytest.raises(grpc.RpcError) as unimplemented:
                next(iter(watch))
            assert unimplemented.value.code() == grpc.StatusCode.UNIMPLEMENTED
        finally:
            for stream in streams:
                stream.cancel()
            hold.set()
    with pytest.raises(ValueError, match="health_port"):
        Settings(health_port=-2)
    with pytest.raises(ValueError, match="wave_processes must be >= 1, got 0"):
        Settings(wave_processes=0)


def test_settings_from_environment_and_flags() -> None:
    """Flags override environment variables, which override the defaults."""
    env = {"WAREHOUSE_METRICS_PORT": "9999", "WAREHOUSE_WORKERS": "3", "WAREHOUSE_LAYOUTS_DIR": ""}
    settings = config.load(["--workers", "1", "--grace-period-s", "2.5"], env)
    assert settings.metrics_port == 9999 and settings.workers == 1
    assert settings.grace_period_s == 2.5 and settings.layouts_dir is None
    assert config.load([], {}) == Settings()
    assert Settings().max_message_bytes == 64 * MIB
    with pytest.raises(SystemExit):
        config.load(["--threads", "0"], {})


def test_sigterm_finishes_in_flight_call_and_exits_zero(tmp_path: Path) -> None:
    """On SIGTERM a server process finishes the call in flight (in its worker pool) and exits 0."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "protos")]),
        "WAREHOUSE_LISTEN_ADDRESS": "127.0.0.1:0",
        "WAREHOUSE_METRICS_PORT": "-1",
        "WAREHOUSE_DB_PATH": str(tmp_path / "w.db"),
        "WAREHOUSE_WORKERS": "2",
        "WAREHOUSE_GRACE_PERIOD_S": "5",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.server"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (\S+)", line)
        assert match, line + (process.stderr.read() if process.stderr else "")
        with grpc.insecure_channel(match.group(1)) as channel:
            layout = grid_layout("grid", aisles=10, bins_per_aisle=20)
            layout_pb2_grpc.LayoutServiceStub(channel).PutLayout(
                layout_pb2.PutLayoutRequest(layout=layout)
            )
            # 160 picks, above LOCAL_SEARCH_MAX_NODES: OR-Tools' guided local search runs for its
            # whole 1.5 s limit, so the call is in flight at SIGTERM.
            slow = routing_pb2_grpc.RoutingServiceStub(channel).PlanRoute.future(
                routing_pb2.PlanRouteRequest(
                    warehouse_id="grid",
                    bin_ids=[b.id for b in layout.graph.bins][:160],
                    options=common_pb2.SolveOptions(
                        time_limit=duration_pb2.Duration(seconds=1, nanos=500_000_000)
                    ),
                )
            )
            time.sleep(0.3)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert len(slow.result(timeout=10).stops) == 160
            assert time.monotonic() - started > 0.5  # it really was in flight
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
