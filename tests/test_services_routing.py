"""RoutingService over a real loopback port: answers, every error code, deadlines, limits."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2
from grpc_status import rpc_status
from warehouse.v1 import common_pb2, layout_pb2, layout_pb2_grpc, routing_pb2, routing_pb2_grpc

from routing import route
from routing.oracle import DistanceOracle
from routing.route import PickList, RouteResult
from routing.tsp import HELD_KARP_MAX_NODES
from services.server import WarehouseServer
from tests.conftest import StartServer, grid_layout

DEMO_BINS = [f"A{a:02d}-B1-{p:03d}{s}" for a in range(1, 11) for p in range(1, 46) for s in "LR"]


def _pick(n: int, seed: int = 0) -> list[str]:
    return random.Random(seed).sample(DEMO_BINS, n)


@pytest.fixture
def search_to_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every heuristic solve in this process use its whole time limit.

    The real search stops early when it stalls, so how long it runs depends on the solver's
    progress; deadline and overload tests need a search that is still running when they act.
    """
    real_solve = route.solve

    def solve_to_limit(oracle: DistanceOracle, pick_list: PickList, **options: Any) -> RouteResult:
        if oracle.rectangular is None and len(set(pick_list.bin_ids)) > HELD_KARP_MAX_NODES:
            time.sleep(options["time_limit_s"])
            options["time_limit_s"] = 0.001
        return real_solve(oracle, pick_list, **options)

    monkeypatch.setattr(route, "solve", solve_to_limit)


def _routing(channel: grpc.Channel) -> routing_pb2_grpc.RoutingServiceStub:
    return routing_pb2_grpc.RoutingServiceStub(channel)


def _seconds(value: float) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromNanoseconds(round(value * 1e9))
    return out


def _put_grid(channel: grpc.Channel, layout_id: str = "grid") -> None:
    layouts = layout_pb2_grpc.LayoutServiceStub(channel)
    layouts.PutLayout(layout_pb2.PutLayoutRequest(layout=grid_layout(layout_id)))


def _grid_pick(n: int, seed: int = 0) -> list[str]:
    bins = [f"a{a}-{k}" for a in range(8) for k in range(10)]
    return random.Random(seed).sample(bins, n)


def _bad_request_fields(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    fields: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


def _handled(server: WarehouseServer, method: str, code: str) -> float:
    value = server.metrics.registry.get_sample_value(
        "grpc_server_handled_total",
        {
            "grpc_type": "unary",
            "grpc_service": "warehouse.v1.RoutingService",
            "grpc_method": method,
            "grpc_code": code,
        },
    )
    return value or 0.0


def test_plan_route_on_demo(channel: grpc.Channel) -> None:
    """A 30-pick list on the demo warehouse comes back optimal, every bin once, label echoed."""
    bins = _pick(30)
    response = _routing(channel).PlanRoute(
        routing_pb2.PlanRouteRequest(
            warehouse_id="demo",
            bin_ids=bins,
            include_path=True,
            options=common_pb2.SolveOptions(label="wave-7"),
        )
    )
    assert response.label == "wave-7"
    assert response.status == common_pb2.SOLVE_STATUS_OPTIMAL
    assert sorted(s.request_index for s in response.stops) == list(range(30))
    assert [bins[s.request_index] for s in response.stops] == [s.bin_id for s in response.stops]
    cumulative = [s.cumulative_distance_m for s in response.stops]
    assert cumulative == sorted(cumulative) and cumulative[-1] <= response.distance_m
    assert response.HasField("lower_bound_m") and response.lower_bound_m == response.distance_m
    assert response.baseline == routing_pb2.BASELINE_S_SHAPE
    assert response.baseline_distance_m >= response.distance_m > 0
    assert response.saving_ratio == pytest.approx(
        1 - response.distance_m / response.baseline_distance_m
    )
    assert response.start_depot == response.end_depot == "DEPOT"
    assert response.solver and response.solve_time.ToTimedelta().total_seconds() < 1
    walked = sum(
        abs(a.x_m - b.x_m) + abs(a.y_m - b.y_m)
        for a, b in zip(response.path, response.path[1:], strict=False)
    )
    assert walked == pytest.approx(response.distance_m)


def test_plan_route_graph_layout_with_depots(channel: grpc.Channel) -> None:
    """The graph example routes from DESK to PACK with the request order as baseline."""
    response = _routing(channel).PlanRoute(
        routing_pb2.PlanRouteRequest(
            warehouse_id="graph-example",
            bin_ids=["A3-11", "A2-02", "A1-03", "A2-10"],
            start_depot="DESK",
            end_depot="PACK",
        )
    )
    assert (response.start_depot, response.end_depot) == ("DESK", "PACK")
    assert response.baseline == routing_pb2.BASELINE_AS_GIVEN
    assert response.status == common_pb2.SOLVE_STATUS_OPTIMAL
    assert response.baseline_distance_m >= response.distance_m
    assert {s.bin_id for s in response.stops} == {"A3-11", "A2-02", "A1-03", "A2-10"}


def test_plan_routes_answers_each_item(channel: grpc.Channel) -> None:
    """PlanRoutes answers good pick lists and fails bad ones individually, in request order."""
    response = _routing(channel).PlanRoutes(
        routing_pb2.PlanRoutesRequest(
            label="batch-1",
            requests=[
                routing_pb2.PlanRouteRequest(
                    warehouse_id="demo",
                    bin_ids=_pick(10, 1),
                    options=common_pb2.SolveOptions(label="a"),
                ),
                routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=["NO-SUCH-BIN"]),
                routing_pb2.PlanRouteRequest(
                    warehouse_id="graph-example",
                    bin_ids=["A1-03"],
                    baseline=routing_pb2.BASELINE_LARGEST_GAP,
                ),
                routing_pb2.PlanRouteRequest(
                    warehouse_id="demo",
                    bin_ids=_pick(20, 2),
                    baseline=routing_pb2.BASELINE_LARGEST_GAP,
                    options=common_pb2.SolveOptions(label="d"),
                ),
            ],
        )
    )
    assert response.label == "batch-1"
    kinds = [r.WhichOneof("result") for r in response.results]
    assert kinds == ["route", "error", "error", "route"]
    assert response.results[0].route.label == "a"
    assert response.results[1].error.code == code_pb2.NOT_FOUND
    assert "bin_ids[0]" in response.results[1].error.message
    assert response.results[2].error.code == code_pb2.INVALID_ARGUMENT
    assert response.results[3].route.baseline == routing_pb2.BASELINE_LARGEST_GAP
    assert response.results[3].route.label == "d"


def test_validate_only_does_not_solve(server: WarehouseServer, channel: grpc.Channel) -> None:
    """validate_only returns the label and depots without a route, and still reports errors."""
    stub = _routing(channel)
    options = common_pb2.SolveOptions(validate_only=True, label="check")
    response = stub.PlanRoute(
        routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=_pick(5), options=options)
    )
    assert response.label == "check"
    assert response.status == common_pb2.SOLVE_STATUS_UNSPECIFIED
    assert not response.stops and response.start_depot == "DEPOT"
    solved = server.metrics.registry.get_sample_value(
        "warehouse_routes_planned_total", {"solver": "ladder_dp", "status": "optimal"}
    )
    assert solved is None
    with pytest.raises(grpc.RpcError) as error:
        stub.PlanRoute(
            routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=["nope"], options=options)
        )
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (routing_pb2.PlanRouteRequest(bin_ids=["A01-B1-001L"]), "warehouse_id"),
        (
            routing_pb2.PlanRouteRequest(
                warehouse_id="graph-example",
                bin_ids=["A1-03"],
                baseline=routing_pb2.BASELINE_S_SHAPE,
            ),
            "baseline",
        ),
        (
            routing_pb2.PlanRouteRequest(
                warehouse_id="demo",
                bin_ids=["A01-B1-001L"],
                options=common_pb2.SolveOptions(time_limit=duration_pb2.Duration(seconds=-1)),
            ),
            "options.time_limit",
        ),
    ],
    ids=["missing-warehouse", "policy-on-graph", "negative-time-limit"],
)
def test_invalid_argument_names_the_field(
    channel: grpc.Channel, request_: routing_pb2.PlanRouteRequest, field: str
) -> None:
    """Invalid requests fail with INVALID_ARGUMENT and a BadRequest naming the field."""
    with pytest.raises(grpc.RpcError) as error:
        _routing(channel).PlanRoute(request_)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _bad_request_fields(error.value) == [field]


def test_not_found_for_unknown_warehouse_and_bin(channel: grpc.Channel) -> None:
    """Unknown warehouse, bin and depot are NOT_FOUND, the message naming the request field."""
    stub = _routing(channel)
    cases = [
        (routing_pb2.PlanRouteRequest(warehouse_id="mars", bin_ids=["x"]), "warehouse_id"),
        (
            routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=["A01-B1-001L", "ZZ"]),
            "bin_ids[1]",
        ),
        (
            routing_pb2.PlanRouteRequest(
                warehouse_id="demo", bin_ids=["A01-B1-001L"], end_depot="DOCK"
            ),
            "end_depot",
        ),
    ]
    for request, field in cases:
        with pytest.raises(grpc.RpcError) as error:
            stub.PlanRoute(request)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        assert field in (error.value.details() or "")


def test_resource_exhausted_when_all_solve_slots_are_busy(
    start_server: StartServer, search_to_limit: None
) -> None:
    """With max_concurrent_solves=1, a call arriving during a running solve is refused."""
    server = start_server(max_concurrent_solves=1)
    with grpc.insecure_channel(server.address) as channel:
        _put_grid(channel)
        stub = _routing(channel)
        slow = routing_pb2.PlanRouteRequest(
            warehouse_id="grid",
            bin_ids=_grid_pick(40),
            options=common_pb2.SolveOptions(time_limit=_seconds(0.6)),
        )
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(stub.PlanRoute, slow)
            waited = time.monotonic()
            while server.slots.in_use == 0 and time.monotonic() - waited < 5:
                time.sleep(0.005)
            with pytest.raises(grpc.RpcError) as error:
                stub.PlanRoute(routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=_pick(3)))
            assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert running.result().status != common_pb2.SOLVE_STATUS_UNSPECIFIED
        # The slot is free again once the slow solve has answered.
        stub.PlanRoute(routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=_pick(3)))


def test_deadline_shorter_than_margin_is_deadline_exceeded(start_server: StartServer) -> None:
    """A deadline that leaves less than the safety margin is refused by the server itself."""
    server = start_server(deadline_margin_s=0.2)
    with grpc.insecure_channel(server.address) as channel:
        request = routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=_pick(5))
        _routing(channel).PlanRoute(request)  # connect first so the deadline is all server time
        with pytest.raises(grpc.RpcError) as error:
            _routing(channel).PlanRoute(request, timeout=0.15)
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert _handled(server, "PlanRoute", "DEADLINE_EXCEEDED") == 1


@pytest.mark.parametrize("workers", [0, 2])
def test_short_deadline_returns_best_route_so_far(
    start_server: StartServer, workers: int, request: pytest.FixtureRequest
) -> None:
    """A 10 s time limit under a 1.5 s deadline answers with the best route found in time.

    150 picks keep the real search busy for seconds; in the handler thread the search is also
    made to use its whole limit, so the deadline is what stops it whatever the solver's speed.
    """
    if workers == 0:
        request.getfixturevalue("search_to_limit")
    server = start_server(workers=workers)
    with grpc.insecure_channel(server.address) as channel:
        layout = grid_layout("big", aisles=10, bins_per_aisle=20)
        layout_pb2_grpc.LayoutServiceStub(channel).PutLayout(
            layout_pb2.PutLayoutRequest(layout=layout)
        )
        plan = routing_pb2.PlanRouteRequest(
            warehouse_id="big",
            bin_ids=random.Random(3).sample([b.id for b in layout.graph.bins], 150),
            options=common_pb2.SolveOptions(time_limit=_seconds(10)),
        )
        started = time.monotonic()
        response = _routing(channel).PlanRoute(plan, timeout=1.5)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert response.solver == "local_search"
    assert response.status in (common_pb2.SOLVE_STATUS_OPTIMAL, common_pb2.SOLVE_STATUS_FEASIBLE)
    assert len(response.stops) == 150
    assert response.lower_bound_m <= response.distance_m + 1e-9
    assert response.solve_time.ToTimedelta().total_seconds() < 1.5


def test_plan_routes_with_worker_pool(start_server: StartServer) -> None:
    """Heuristic solves in the worker pool and in the handler thread both answer every list."""
    requests = [
        routing_pb2.PlanRouteRequest(
            warehouse_id="grid",
            bin_ids=_grid_pick(20, seed),
            options=common_pb2.SolveOptions(time_limit=_seconds(0.1), seed=seed),
        )
        for seed in range(4)
    ]
    distances = []
    for workers in (0, 2):
        server = start_server(workers=workers)
        with grpc.insecure_channel(server.address) as channel:
            _put_grid(channel, "grid")
            response = _routing(channel).PlanRoutes(
                routing_pb2.PlanRoutesRequest(requests=requests)
            )
        routes = [r.route for r in response.results]
        assert all(r.WhichOneof("result") == "route" for r in response.results)
        assert all(r.solver == "local_search" and len(r.stops) == 20 for r in routes)
        distances.append([r.distance_m for r in routes])
        server.stop(0)
    # Both searches are time-limited, so they may differ a little, never by much.
    assert distances[1] == pytest.approx(distances[0], rel=0.05)


def test_plan_routes_deadline_fails_only_the_items_left(
    start_server: StartServer, search_to_limit: None
) -> None:
    """When the deadline ends a batch, solved items keep their routes, the rest fail alone."""
    server = start_server()
    with grpc.insecure_channel(server.address) as channel:
        _put_grid(channel)
        requests = [
            routing_pb2.PlanRouteRequest(
                warehouse_id="grid",
                bin_ids=_grid_pick(60, seed),
                options=common_pb2.SolveOptions(time_limit=_seconds(10)),
            )
            for seed in range(10)
        ]
        started = time.monotonic()
        response = _routing(channel).PlanRoutes(
            routing_pb2.PlanRoutesRequest(requests=requests), timeout=1.5
        )
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    kinds = [r.WhichOneof("result") for r in response.results]
    assert kinds[0] == "route" and kinds[-1] == "error"
    assert kinds == sorted(kinds, key=lambda kind: kind == "error")  # routes first, then errors
    assert all(
        r.error.code == code_pb2.DEADLINE_EXCEEDED for r in response.results if r.HasField("error")
    )
