"""Property-based fuzzing of every RPC: no request, however wrong, gets INTERNAL, crashes or hangs.

Every RPC that :func:`tests.fuzzing.all_rpcs` finds in the generated descriptors (a new one is
included without edits) gets random requests built from its descriptor and mutations of valid
ones (:mod:`tests.fuzzing`), sent to one in-process server for the module. The caller's faults
must come back as INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...; INTERNAL, UNKNOWN,
DATA_LOSS, UNAVAILABLE, UNIMPLEMENTED and DEADLINE_EXCEEDED (a solve time limit is capped far
below the deadline, so a deadline hit is a hang) fail the test, with the request in text format
and the server's traceback. Runs are derandomized, so CI sees the same requests every time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from warehouse.v1 import layout_pb2, layout_pb2_grpc, routing_pb2, routing_pb2_grpc

from services.server import WarehouseServer
from tests import fuzzing
from tests.conftest import grid_layout, make_settings

#: Examples per RPC: about 15 RPCs x 80 stays well under a minute on two cores.
EXAMPLES = 80


class ServerErrors(logging.Handler):
    """Keeps every ERROR the server logs (with its traceback): the story behind an INTERNAL."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@pytest.fixture(scope="module")
def server_errors() -> Iterator[ServerErrors]:
    """The server's error log lines, collected for the whole module."""
    handler = ServerErrors()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.fixture(scope="module")
def fuzz_server(
    tmp_path_factory: pytest.TempPathFactory, server_errors: ServerErrors
) -> Iterator[WarehouseServer]:
    """One server with the demo layouts, stock and network, shared by every RPC's run."""
    db_path: Path = tmp_path_factory.mktemp("fuzz") / "warehouse.db"
    server = WarehouseServer(make_settings(db_path))
    server.start()
    yield server
    server.stop(0)


@pytest.fixture(scope="module")
def fuzz_channel(fuzz_server: WarehouseServer) -> Iterator[grpc.Channel]:
    """A client channel to the fuzzed server."""
    with grpc.insecure_channel(fuzz_server.address) as channel:
        yield channel


@pytest.mark.parametrize("rpc", fuzzing.all_rpcs(), ids=lambda rpc: rpc.name)
def test_no_request_gets_internal_or_hangs(
    rpc: fuzzing.Rpc, fuzz_channel: grpc.Channel, server_errors: ServerErrors
) -> None:
    """Random and mutated requests end in OK or a caller's error code, within the deadline."""
    fuzzing.restore_demo(fuzz_channel)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=fuzzing.request_strategy(rpc))
    def check(request: fuzzing.Request) -> None:
        logged = len(server_errors.records)
        started = time.monotonic()
        code = fuzzing.call(fuzz_channel, rpc, request)
        elapsed = time.monotonic() - started
        server_log = "\n".join(server_errors.records[logged:]) or "(nothing logged)"
        assert code not in fuzzing.FAILURES and elapsed < fuzzing.DEADLINE_S, (
            f"{rpc.name} answered {code.name} after {elapsed:.2f} s to:\n"
            f"{fuzzing.as_text(request)}\nserver log:\n{server_log}"
        )

    check()


def test_the_server_still_serves_after_fuzzing(fuzz_channel: grpc.Channel) -> None:
    """After every RPC's fuzzing (tests run in file order) health is SERVING and routes plan."""
    health = health_pb2_grpc.HealthStub(fuzz_channel)
    status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
    assert status == health_pb2.HealthCheckResponse.SERVING
    layout_pb2_grpc.LayoutServiceStub(fuzz_channel).PutLayout(
        layout_pb2.PutLayoutRequest(layout=grid_layout("fuzz-final", aisles=3)), timeout=10
    )
    routing = routing_pb2_grpc.RoutingServiceStub(fuzz_channel)
    route = routing.PlanRoute(
        routing_pb2.PlanRouteRequest(warehouse_id="fuzz-final", bin_ids=["a0-1", "a2-5"]),
        timeout=10,
    )
    assert [s.bin_id for s in sorted(route.stops, key=lambda s: s.request_index)] == [
        "a0-1",
        "a2-5",
    ]
    fuzzing.restore_demo(fuzz_channel)
    demo = routing.PlanRoute(
        routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=["A03-B1-012L", "A07-B1-040R"]),
        timeout=10,
    )
    assert demo.distance_m > 0
