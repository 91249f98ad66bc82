"""Shared fixtures: the generated ``warehouse.v1`` package on the path, and servers on loopback.

Service modules are imported inside the fixtures, so the pure-domain tests never load gRPC.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
# ``pip install -e .`` maps the generated package from protos/; without it, put protos/ on the path.
if str(ROOT / "protos") not in sys.path:
    sys.path.insert(0, str(ROOT / "protos"))

if TYPE_CHECKING:
    import grpc
    from warehouse.v1 import layout_pb2

    from services.config import Settings
    from services.server import WarehouseServer
    from tests.postgres import PostgresServer

DEMO_DIR = ROOT / "deploy" / "demo"

StartServer = Callable[..., "WarehouseServer"]


def make_settings(db_path: Path, **overrides: Any) -> Settings:
    """Settings for a server on a free loopback port, its metrics on another, no worker pool."""
    from services.config import Settings

    base: dict[str, Any] = {
        "listen_address": "127.0.0.1:0",
        "metrics_port": 0,
        "db_path": db_path,
        "layouts_dir": DEMO_DIR,
        "workers": 0,
        "threads": 8,
        "max_concurrent_solves": 6,
        "grace_period_s": 1.0,
    }
    return Settings(**{**base, **overrides})


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start in-process servers (``Settings`` overrides as keywords); all stop at teardown."""
    from services.server import WarehouseServer

    started: list[WarehouseServer] = []

    def start(**overrides: Any) -> WarehouseServer:
        db_path = overrides.pop("db_path", tmp_path / "warehouse.db")
        server = WarehouseServer(make_settings(db_path, **overrides))
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(0)


@pytest.fixture
def server(start_server: StartServer) -> WarehouseServer:
    """A running server with the demo layouts loaded."""
    return start_server()


@pytest.fixture
def channel(server: WarehouseServer) -> Iterator[grpc.Channel]:
    """A client channel to ``server``."""
    import grpc

    with grpc.insecure_channel(server.address) as ch:
        yield ch


def grid_layout(layout_id: str, aisles: int = 8, bins_per_aisle: int = 10) -> layout_pb2.Layout:
    """A graph layout: ``aisles`` two-way aisles 4 m apart between a front and a back corridor.

    Bins are ``a{aisle}-{k}`` spread along each 20 m aisle; the depot ``D`` is at the front left.
    """
    from warehouse.v1 import layout_pb2

    graph = layout_pb2.GraphLayout()
    for a in range(aisles):
        graph.junctions.add(id=f"f{a}", x_m=4.0 * a, y_m=0.0)
        graph.junctions.add(id=f"b{a}", x_m=4.0 * a, y_m=20.0)
        graph.segments.add(id=f"aisle{a}", start=f"f{a}", end=f"b{a}")
        if a:
            graph.segments.add(id=f"front{a}", start=f"f{a - 1}", end=f"f{a}")
            graph.segments.add(id=f"back{a}", start=f"b{a - 1}", end=f"b{a}")
        for k in range(bins_per_aisle):
            graph.bins.add(
                id=f"a{a}-{k}", segment=f"aisle{a}", offset_m=(k + 0.5) * 20.0 / bins_per_aisle
            )
    graph.depots.add(id="D", junction="f0")
    return layout_pb2.Layout(id=layout_id, display_name="test grid", graph=graph)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run (see :mod:`tests.postgres`)."""
    from tests.postgres import PostgresServer

    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh store lives: a SQLite file, then an empty PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()
