"""LayoutService and the layout store over a real loopback port, including restarts."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from warehouse.v1 import layout_pb2, layout_pb2_grpc, routing_pb2, routing_pb2_grpc

from services.db import open_database
from services.layouts import LayoutRegistry
from services.schema import MIGRATIONS
from services.store import LayoutStore
from tests.conftest import StartServer, grid_layout


def _layouts(channel: grpc.Channel) -> layout_pb2_grpc.LayoutServiceStub:
    return layout_pb2_grpc.LayoutServiceStub(channel)


def _violations(error: grpc.RpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    return {v.field: v.description for v in bad.field_violations}


def test_demo_layouts_are_loaded_at_start(channel: grpc.Channel) -> None:
    """Both demo files are loaded; ListLayouts gives the BASIC view ordered by id."""
    response = _layouts(channel).ListLayouts(layout_pb2.ListLayoutsRequest())
    assert [layout.id for layout in response.layouts] == ["demo", "graph-example"]
    demo = response.layouts[0]
    assert demo.bin_count == 900 and demo.version == 1
    assert demo.WhichOneof("kind") is None and not response.next_page_token


def test_put_get_list_and_delete(channel: grpc.Channel) -> None:
    """A put layout can be read back in full, paged through, replaced and deleted."""
    stub = _layouts(channel)
    put = stub.PutLayout(layout_pb2.PutLayoutRequest(layout=grid_layout("a-grid", aisles=3)))
    assert (put.version, put.bin_count) == (1, 30)
    assert put.update_time.seconds > 0
    got = stub.GetLayout(layout_pb2.GetLayoutRequest(warehouse_id="a-grid"))
    assert got.graph == grid_layout("a-grid", aisles=3).graph and got.version == 1

    again = stub.PutLayout(layout_pb2.PutLayoutRequest(layout=grid_layout("a-grid", aisles=4)))
    assert (again.version, again.bin_count) == (2, 40)

    first = stub.ListLayouts(layout_pb2.ListLayoutsRequest(page_size=2))
    second = stub.ListLayouts(
        layout_pb2.ListLayoutsRequest(page_size=2, page_token=first.next_page_token)
    )
    assert [x.id for x in first.layouts] == ["a-grid", "demo"]
    assert [x.id for x in second.layouts] == ["graph-example"] and not second.next_page_token
    with pytest.raises(grpc.RpcError) as bad_token:
        stub.ListLayouts(layout_pb2.ListLayoutsRequest(page_token="%%%"))
    assert list(_violations(bad_token.value)) == ["page_token"]

    stub.DeleteLayout(layout_pb2.DeleteLayoutRequest(warehouse_id="a-grid"))
    with pytest.raises(grpc.RpcError) as error:
        stub.GetLayout(layout_pb2.GetLayoutRequest(warehouse_id="a-grid"))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_invalid_layout_names_every_bad_field(channel: grpc.Channel) -> None:
    """A broken graph layout is INVALID_ARGUMENT with a violation per bad field, not stored."""
    layout = grid_layout("broken", aisles=2)
    layout.graph.segments[0].end = "nowhere"
    layout.graph.bins[3].offset_m = 99.0
    layout.graph.depots.add(id="D")  # duplicate id, no place
    with pytest.raises(grpc.RpcError) as error:
        _layouts(channel).PutLayout(layout_pb2.PutLayoutRequest(layout=layout))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = _violations(error.value)
    assert "layout.graph.segments[0].end" in fields
    assert "layout.graph.depots[1].id" in fields
    assert "layout.graph.depots[1]" in fields
    with pytest.raises(grpc.RpcError) as missing:
        _layouts(channel).GetLayout(layout_pb2.GetLayoutRequest(warehouse_id="broken"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_invalid_rectangular_layout_and_validate_only(channel: grpc.Channel) -> None:
    """Rectangular violations are named under layout.rectangular; validate_only stores nothing."""
    stub = _layouts(channel)
    bad = layout_pb2.Layout(id="r", rectangular=layout_pb2.RectangularLayout(aisles=0))
    with pytest.raises(grpc.RpcError) as error:
        stub.PutLayout(layout_pb2.PutLayoutRequest(layout=bad))
    assert list(_violations(error.value)) == ["layout.rectangular.aisles"]

    good = layout_pb2.Layout(id="r", rectangular=layout_pb2.RectangularLayout(aisles=4))
    checked = stub.PutLayout(layout_pb2.PutLayoutRequest(layout=good, validate_only=True))
    assert checked.bin_count == 80 and checked.version == 0
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetLayout(layout_pb2.GetLayoutRequest(warehouse_id="r"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_put_layout_replaces_the_cached_oracle(channel: grpc.Channel) -> None:
    """After a put, routes use the new geometry (the old compiled oracle is not reused)."""
    routing = routing_pb2_grpc.RoutingServiceStub(channel)
    request = routing_pb2.PlanRouteRequest(warehouse_id="g", bin_ids=["a1-9"])
    _layouts(channel).PutLayout(layout_pb2.PutLayoutRequest(layout=grid_layout("g", aisles=2)))
    before = routing.PlanRoute(request).distance_m
    wider = grid_layout("g", aisles=2)
    for junction in wider.graph.junctions[2:4]:
        junction.x_m = 10.0  # move aisle 1 from x = 4 to x = 10
    _layouts(channel).PutLayout(layout_pb2.PutLayoutRequest(layout=wider))
    after = routing.PlanRoute(request).distance_m
    assert after == pytest.approx(before + 12.0)


def test_layouts_survive_a_restart(start_server: StartServer, tmp_path: Path) -> None:
    """A layout put over gRPC is still there, same version, after a restart on the same file."""
    db = tmp_path / "restart.db"
    first = start_server(db_path=db)
    with grpc.insecure_channel(first.address) as channel:
        _layouts(channel).PutLayout(layout_pb2.PutLayoutRequest(layout=grid_layout("kept")))
    first.stop(0)

    second = start_server(db_path=db, layouts_dir=None)
    with grpc.insecure_channel(second.address) as channel:
        listed = _layouts(channel).ListLayouts(layout_pb2.ListLayoutsRequest())
        assert {(x.id, x.version) for x in listed.layouts} == {
            ("demo", 1),
            ("graph-example", 1),
            ("kept", 1),
        }
        route = routing_pb2_grpc.RoutingServiceStub(channel).PlanRoute(
            routing_pb2.PlanRouteRequest(warehouse_id="kept", bin_ids=["a3-4", "a5-5"])
        )
        assert len(route.stops) == 2


def test_unchanged_layout_files_keep_their_version(tmp_path: Path) -> None:
    """Reloading the same files does not bump versions; a changed file does."""
    directory = tmp_path / "layouts"
    directory.mkdir()
    (directory / "one.json").write_text(
        '{"id": "one", "rectangular": {"aisles": 2, "cellsPerFace": [5]}}'
    )
    registry = LayoutRegistry(LayoutStore.open(tmp_path / "w.db"))
    assert registry.load_dir(directory) == ["one"]
    assert registry.load_dir(directory) == ["one"]
    assert registry.get("one").version == 1
    (directory / "one.json").write_text(
        '{"id": "one", "rectangular": {"aisles": 3, "cellsPerFace": [5]}}'
    )
    registry.load_dir(directory)
    assert (registry.get("one").version, registry.oracle("one").n_bins) == (2, 30)


def test_bad_layout_file_is_reported_with_its_path(tmp_path: Path) -> None:
    """A layout file with a wrong field fails loading with the file name and the field."""
    (tmp_path / "bad.yaml").write_text("id: bad\nrectangular: {aisles: 2, crossAisles: 1}\n")
    registry = LayoutRegistry(LayoutStore.open(tmp_path / "w.db"))
    with pytest.raises(ValueError, match=r"bad\.yaml.*layout\.rectangular\.cross_aisles"):
        registry.load_dir(tmp_path)


def test_store_migrations_run_once(tmp_path: Path) -> None:
    """Reopening a store keeps its rows; a new migration is applied on top exactly once."""
    path = tmp_path / "m.db"
    store = LayoutStore.open(path)
    assert store.put("x", b"1").version == 1
    assert store.put("x", b"2").version == 2
    store.close()
    extra = ("CREATE TABLE extra (bin_id TEXT PRIMARY KEY, quantity {int} NOT NULL)",)
    migrations = (*MIGRATIONS, extra)
    reopened = LayoutStore(open_database(path, migrations))
    assert reopened.db.schema_version == len(MIGRATIONS) + 1
    stored = reopened.get("x")
    assert stored is not None and (stored.layout, stored.version) == (b"2", 2)
    reopened.close()
    assert open_database(path, migrations).schema_version == len(MIGRATIONS) + 1
    with pytest.raises(RuntimeError, match="newer than this code"):
        open_database(path, MIGRATIONS)


def test_registry_trusts_its_cache_for_refresh_s(tmp_path: Path) -> None:
    """Puts through a registry apply at once; another process's puts after refresh_s."""
    path = tmp_path / "shared.db"
    cached = LayoutRegistry(LayoutStore.open(path), refresh_s=3600)
    eager = LayoutRegistry(LayoutStore.open(path), refresh_s=0)
    other = LayoutRegistry(LayoutStore.open(path))
    cached.put(grid_layout("w", aisles=2))
    assert cached.oracle("w").n_bins == eager.oracle("w").n_bins
    small = cached.oracle("w").n_bins
    other.put(grid_layout("w", aisles=4))
    assert eager.oracle("w").n_bins > small  # checks the store on every request
    assert cached.oracle("w").n_bins == small  # within refresh_s: the cached layout
    cached.put(grid_layout("w", aisles=3))
    three = eager.oracle("w").n_bins
    assert small < three
    assert cached.oracle("w").n_bins == three


@pytest.mark.parametrize(
    ("rectangular", "field"),
    [
        # No aisles but a billion cross aisles: refused before anything is allocated for it.
        ({"cross_aisles": 1_245_815_658}, "layout.rectangular.cross_aisles"),
        (
            {"aisles": 4, "cross_aisle_width_m": float("inf")},
            "layout.rectangular.cross_aisle_width_m",
        ),
        ({"aisles": 4, "aisle_spacing_m": 1e300}, "layout.rectangular.aisle_spacing_m"),
        ({"aisles": 4, "end_gap_m": float("nan")}, "layout.rectangular.end_gap_m"),
    ],
)
def test_absurd_geometry_is_invalid_at_once(
    channel: grpc.Channel, rectangular: dict[str, float], field: str
) -> None:
    """Sizes and lengths no warehouse has are INVALID_ARGUMENT naming the field, never an
    internal error or a server busy allocating."""
    bad = layout_pb2.Layout(id="r")
    for name, value in rectangular.items():
        setattr(bad.rectangular, name, value)
    with pytest.raises(grpc.RpcError) as error:
        _layouts(channel).PutLayout(layout_pb2.PutLayoutRequest(layout=bad), timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in _violations(error.value)
