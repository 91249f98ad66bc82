"""InventoryService over gRPC on a real server, with its store on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from warehouse.v1 import inventory_pb2 as pb
from warehouse.v1 import inventory_pb2_grpc

from routing.errors import InvalidInput
from services import inventory
from services.inventory import InventoryStore, Level
from services.stock import stock_for_plan
from tests.conftest import DEMO_DIR, StartServer
from tests.test_services_layout import _violations

BINS = ["A01-B1-001L", "A01-B1-002L", "A02-B1-001R"]
RECEIPT, PICK, MOVE = (
    pb.STOCK_EVENT_KIND_RECEIPT,
    pb.STOCK_EVENT_KIND_PICK,
    pb.STOCK_EVENT_KIND_MOVE,
)


@pytest.fixture
def stub(
    start_server: StartServer, database: str, tmp_path: Path
) -> Iterator[inventory_pb2_grpc.InventoryServiceStub]:
    """A client of a server on ``database`` (SQLite or PostgreSQL): demo layouts, no stock."""
    layouts = tmp_path / "layouts"
    layouts.mkdir()
    for name in ("demo.yaml", "graph-example.yaml"):
        shutil.copy(DEMO_DIR / name, layouts / name)
    store = {"db_path": database} if database.endswith(".db") else {"postgres_dsn": database}
    server = start_server(layouts_dir=layouts, **store)
    with grpc.insecure_channel(server.address) as channel:
        yield inventory_pb2_grpc.InventoryServiceStub(channel)


def event(
    n: int,
    kind: pb.StockEventKind.ValueType,
    sku: str,
    qty: int,
    bin_id: str = BINS[0],
    to: str = "",
) -> pb.StockEvent:
    return pb.StockEvent(
        event_id=f"e{n}",
        source="wms",
        sequence=n,
        kind=kind,
        sku=sku,
        quantity=qty,
        bin_id=bin_id,
        to_bin_id=to,
    )


def snapshot(
    site: str,
    snapshot_id: str,
    rows: list[tuple[str, str, int]],
    per_message: int = 2,
    end: bool = True,
    **header: object,
) -> Iterator[pb.ReplaceStockRequest]:
    level = header.pop("level", pb.STOCK_LEVEL_BIN)
    yield pb.ReplaceStockRequest(
        header=pb.SnapshotHeader(site_id=site, snapshot_id=snapshot_id, level=level, **header)  # type: ignore[arg-type]
    )
    messages = [
        pb.ReplaceStockRequest(
            rows=[
                pb.SnapshotRow(bin_id=b, sku=s, quantity=q) for b, s, q in rows[i : i + per_message]
            ]
        )
        for i in range(0, len(rows), per_message)
    ] or [pb.ReplaceStockRequest()]
    messages[-1].end = end
    yield from messages


def lines(response: pb.GetStockResponse) -> list[tuple[str, str, str, int, int, int]]:
    return [
        (site.site_id, x.sku, x.bin_id, x.on_hand, x.reserved, x.available)
        for site in response.sites
        for x in site.lines
    ]


def test_snapshot_events_and_reads(stub: inventory_pb2_grpc.InventoryServiceStub) -> None:
    """A streamed snapshot, then a batch with every outcome, read back by SKU and by bin."""
    rows = [(BINS[0], "A", 5), (BINS[1], "A", 2), (BINS[0], "A", 1), (BINS[2], "B", 3)]
    loaded = stub.ReplaceStock(snapshot("demo", "s1", rows, watermarks={"wms": 1}))
    assert (loaded.version, loaded.rows, loaded.duplicate) == (1, 4, False)
    response = stub.ApplyEvents(
        pb.ApplyEventsRequest(
            site_id="demo",
            events=[
                event(1, RECEIPT, "A", 100),  # covered by the snapshot's watermark
                event(2, PICK, "A", 4),
                event(3, MOVE, "A", 2, to=BINS[2]),
                event(4, PICK, "B", 9, BINS[2]),
                event(5, RECEIPT, "A", 1, "NO-SUCH-BIN"),
                pb.StockEvent(event_id="e6", source="wms", sequence=6, sku="A", quantity=1),
                event(2, PICK, "A", 4),
            ],
        )
    )
    assert [(r.event_id, r.outcome, r.reason) for r in response.results] == [
        ("e1", pb.EVENT_OUTCOME_DUPLICATE, pb.EVENT_REASON_IN_SNAPSHOT),
        ("e2", pb.EVENT_OUTCOME_APPLIED, pb.EVENT_REASON_UNSPECIFIED),
        ("e3", pb.EVENT_OUTCOME_APPLIED, pb.EVENT_REASON_UNSPECIFIED),
        ("e4", pb.EVENT_OUTCOME_REJECTED, pb.EVENT_REASON_INSUFFICIENT_STOCK),
        ("e5", pb.EVENT_OUTCOME_REJECTED, pb.EVENT_REASON_UNKNOWN_BIN),
        ("e6", pb.EVENT_OUTCOME_REJECTED, pb.EVENT_REASON_INVALID),
        ("e2", pb.EVENT_OUTCOME_DUPLICATE, pb.EVENT_REASON_REPEATED),
    ]
    assert (response.applied, response.duplicates, response.rejected, response.version) == (
        2,
        2,
        3,
        2,
    )
    assert "events[4].bin_id" in response.results[4].message
    assert "events[5].kind" in response.results[5].message
    by_sku = stub.GetStock(pb.GetStockRequest(site_ids=["demo"], skus=["A", "B"]))
    assert by_sku.sites[0].version == 2
    assert lines(by_sku) == [
        ("demo", "A", BINS[1], 2, 0, 2),
        ("demo", "A", BINS[2], 2, 0, 2),
        ("demo", "B", BINS[2], 3, 0, 3),
    ]
    by_bin = stub.GetStock(pb.GetStockRequest(site_ids=["demo"], bin_ids=[BINS[2]]))
    assert [(x.sku, x.on_hand) for x in by_bin.sites[0].lines] == [("A", 2), ("B", 3)]
    state = stub.GetSiteState(pb.GetSiteStateRequest(site_id="demo"))
    assert (state.version, state.snapshot_id, state.level) == (2, "s1", pb.STOCK_LEVEL_BIN)
    assert [(s.source, s.max_sequence, s.watermark) for s in state.sources] == [("wms", 3, 1)]
    again = stub.ReplaceStock(snapshot("demo", "s1", [(BINS[0], "Z", 1)]))
    assert again.duplicate and again.version == 1


def test_a_failed_snapshot_changes_nothing(stub: inventory_pb2_grpc.InventoryServiceStub) -> None:
    """A bad row anywhere in the stream fails the call, names the row, and keeps the old stock."""
    stub.ReplaceStock(snapshot("demo", "s1", [(BINS[0], "A", 5)]))
    rows = [(BINS[1], "A", 1)] * 7 + [("NOPE", "A", 1)]
    with pytest.raises(grpc.RpcError) as bad_bin:
        stub.ReplaceStock(snapshot("demo", "s2", rows, per_message=3))
    assert bad_bin.value.code() == grpc.StatusCode.NOT_FOUND
    assert "rows[7].bin_id" in str(bad_bin.value.details())
    with pytest.raises(grpc.RpcError) as negative:
        stub.ReplaceStock(snapshot("demo", "s3", [(BINS[1], "A", -1)]))
    assert _violations(negative.value) == {"rows[0].quantity": "must be >= 0, got -1"}
    with pytest.raises(grpc.RpcError) as unfinished:
        stub.ReplaceStock(snapshot("demo", "s4", [(BINS[1], "A", 1)] * 4, end=False))
    assert "end" in _violations(unfinished.value)
    with pytest.raises(grpc.RpcError) as no_header:
        stub.ReplaceStock(iter([pb.ReplaceStockRequest(rows=[pb.SnapshotRow(sku="A")])]))
    assert "header" in _violations(no_header.value)
    response = stub.GetStock(pb.GetStockRequest(site_ids=["demo"], skus=["A"]))
    assert lines(response) == [("demo", "A", BINS[0], 5, 0, 5)]
    assert response.sites[0].version == 1


def test_a_cancelled_snapshot_stream_changes_nothing(
    stub: inventory_pb2_grpc.InventoryServiceStub, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that gives up mid-stream leaves the old stock and no loaded rows behind."""
    monkeypatch.setattr(inventory, "SNAPSHOT_CHUNK_ROWS", 10)  # the server runs in this process
    stub.ReplaceStock(snapshot("demo", "s1", [(BINS[0], "A", 5)]))
    store = InventoryStore.open(database)
    sent, release = threading.Event(), threading.Event()

    def stream() -> Iterator[pb.ReplaceStockRequest]:
        # No `end` mark: however fast the server reads, the load stays open until the cancel.
        yield from snapshot("demo", "s2", [(BINS[1], "B", 1)] * 50, per_message=10, end=False)
        sent.set()
        release.wait(10)  # never half-closes before the cancel

    def staged() -> tuple[int, int]:
        with store.db.read() as tx:
            loads = tx.execute("SELECT COUNT(*) FROM stock_uploads").fetchone()[0]
            rows = tx.execute("SELECT COUNT(*) FROM stock").fetchone()[0]
            # PostgreSQL stages a load's rows apart until its commit (summed there).
            rows += tx.execute(
                "SELECT COUNT(*) FROM (SELECT DISTINCT generation, sku, bin FROM stock_staged) AS s"
            ).fetchone()[0]
        return int(loads), int(rows)

    call = stub.ReplaceStock.future(stream())
    assert sent.wait(10)
    deadline = time.monotonic() + 10
    while staged() != (1, 2) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert staged() == (1, 2)  # loading: s1's row and the first chunk of s2 (summed to one row)
    call.cancel()  # type: ignore[no-untyped-call]
    release.set()
    with pytest.raises(grpc.FutureCancelledError):
        call.result()
    while staged() != (0, 1) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert staged() == (0, 1)
    found = stub.GetStock(pb.GetStockRequest(site_ids=["demo"], bin_ids=BINS))
    state = stub.GetSiteState(pb.GetSiteStateRequest(site_id="demo"))
    assert lines(found) == [("demo", "A", BINS[0], 5, 0, 5)]
    assert (state.snapshot_id, state.version) == ("s1", 1)


def test_fulfillment_center_stock(stub: inventory_pb2_grpc.InventoryServiceStub) -> None:
    """FC sites come from snapshots; GetStock without sites searches every FC for the SKUs."""
    fc = pb.STOCK_LEVEL_FULFILLMENT_CENTER
    for site, units in (("FC-EAST", 4), ("FC-WEST", 7)):
        stub.ReplaceStock(snapshot(site, "s", [("", "A", units), ("", "B", 1)], level=fc))
    result = stub.ApplyEvents(
        pb.ApplyEventsRequest(site_id="FC-WEST", events=[event(1, PICK, "A", 2, "")])
    )
    assert result.applied == 1
    found = stub.GetStock(pb.GetStockRequest(skus=["A"]))
    assert lines(found) == [("FC-EAST", "A", "", 4, 0, 4), ("FC-WEST", "A", "", 5, 0, 5)]
    with pytest.raises(grpc.RpcError) as unknown:
        stub.ApplyEvents(
            pb.ApplyEventsRequest(site_id="FC-NONE", events=[event(1, PICK, "A", 1, "")])
        )
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as wrong_level:
        stub.ReplaceStock(snapshot("demo", "s", [("", "A", 1)], level=fc))
    assert "header.level" in _violations(wrong_level.value)


def test_reservations(stub: inventory_pb2_grpc.InventoryServiceStub) -> None:
    """Reserve holds units from other plans; a short line holds nothing; release frees them."""
    stub.ReplaceStock(snapshot("demo", "s", [(BINS[0], "A", 5)]))
    hour = Duration(seconds=3600)
    line = pb.ReservationLine(sku="A", bin_id=BINS[0], quantity=3)
    held = stub.Reserve(
        pb.ReserveRequest(site_id="demo", reservation_id="wave-1", lines=[line], ttl=hour)
    )
    assert held.reserved and held.expire_time.seconds > 0 and held.version == 2
    short = stub.Reserve(
        pb.ReserveRequest(site_id="demo", reservation_id="wave-2", lines=[line], ttl=hour)
    )
    assert not short.reserved
    assert [(s.line, s.requested, s.available) for s in short.shortages] == [(0, 3, 2)]
    found = stub.GetStock(pb.GetStockRequest(site_ids=["demo"], skus=["A"]))
    assert lines(found) == [("demo", "A", BINS[0], 5, 3, 2)]
    with pytest.raises(grpc.RpcError) as too_long:
        stub.Reserve(pb.ReserveRequest(site_id="demo", reservation_id="x", lines=[line],
                                       ttl=Duration(seconds=10**6)))  # fmt: skip
    assert "ttl" in _violations(too_long.value)
    released = stub.ReleaseReservation(
        pb.ReleaseReservationRequest(site_id="demo", reservation_id="wave-1")
    )
    assert released.released and released.version == 3
    again = stub.ReleaseReservation(
        pb.ReleaseReservationRequest(site_id="demo", reservation_id="wave-1")
    )
    assert not again.released and again.version == 3


def test_bad_requests_name_the_field(stub: inventory_pb2_grpc.InventoryServiceStub) -> None:
    """Whole-call problems are INVALID_ARGUMENT or NOT_FOUND naming the field."""
    with pytest.raises(grpc.RpcError) as no_site:
        stub.ApplyEvents(pb.ApplyEventsRequest(events=[event(1, RECEIPT, "A", 1)]))
    assert _violations(no_site.value) == {"site_id": "must not be empty"}
    with pytest.raises(grpc.RpcError) as nothing:
        stub.GetStock(pb.GetStockRequest(site_ids=["demo"]))
    assert "skus" in _violations(nothing.value)
    with pytest.raises(grpc.RpcError) as unknown:
        stub.GetStock(pb.GetStockRequest(site_ids=["demo", "nowhere"], skus=["A"]))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert "site_ids[1]" in str(unknown.value.details())
    # A warehouse with a layout and no stock yet reads as empty at version 0.
    empty = stub.GetStock(pb.GetStockRequest(site_ids=["graph-example"], skus=["A"]))
    assert (empty.sites[0].version, list(empty.sites[0].lines)) == (0, [])


def test_plans_read_the_store_unless_the_request_brings_stock(database: str) -> None:
    """stock_for_plan: available units and version from the store; a request override wins."""
    store = InventoryStore.open(database)
    load = store.begin_snapshot("W", "s", level=Level.BIN)
    load.add([("B1", "A", 5), ("B2", "A", 2), ("B1", "C", 1)])
    load.commit()
    plan = stock_for_plan(store, "W", ["A", "B"])
    assert (plan.version, plan.available, plan.units("A")) == (1, {"A": {"B1": 5, "B2": 2}}, 7)
    override = pb.StockOverride(lines=[pb.StockLine(sku="A", bin_id="B9", on_hand=1)])
    what_if = stock_for_plan(store, "W", ["A"], override)
    assert what_if.from_request and what_if.available == {"A": {"B9": 1}}
    assert stock_for_plan(store, "W", ["A"], pb.StockOverride()).available == {}
    bad = pb.StockOverride(
        lines=[pb.StockLine(sku="A", on_hand=-1), pb.StockLine(sku="", on_hand=1)]
    )
    with pytest.raises(InvalidInput) as error:
        stock_for_plan(store, "W", ["A"], bad)
    assert {v.field for v in error.value.violations} == {
        "stock.lines[0].on_hand",
        "stock.lines[1].sku",
    }


def test_demo_stock_seeds_a_new_site_once(start_server: StartServer, tmp_path: Path) -> None:
    """``demo.stock.csv`` seeds the demo warehouse; a restart keeps what the WMS sent since."""
    server = start_server()
    assert server.seeded_stock == ["demo"]
    with grpc.insecure_channel(server.address) as channel:
        inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
        first = inventory.GetStock(pb.GetStockRequest(site_ids=["demo"], bin_ids=["A01-B1-001L"]))
        [line] = first.sites[0].lines
        assert (line.sku, line.on_hand) == ("SKU-0114", 53)
        inventory.ApplyEvents(
            pb.ApplyEventsRequest(
                site_id="demo", events=[event(1, PICK, "SKU-0114", 3, "A01-B1-001L")]
            )
        )
    server.stop(0)
    again = start_server()
    assert again.seeded_stock == []
    with grpc.insecure_channel(again.address) as channel:
        inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
        after = inventory.GetStock(pb.GetStockRequest(site_ids=["demo"], skus=["SKU-0114"]))
        assert [(x.bin_id, x.on_hand) for x in after.sites[0].lines] == [("A01-B1-001L", 50)]


def test_a_bad_stock_file_names_the_file_and_row(tmp_path: Path) -> None:
    """A seed file with a bad row stops the start with the file, line and field."""
    from services.inventory_service import load_stock_files
    from services.layouts import LayoutRegistry
    from services.store import LayoutStore

    shutil.copy(DEMO_DIR / "demo.yaml", tmp_path / "demo.yaml")
    (tmp_path / "demo.stock.csv").write_text("bin_id,sku,quantity\nA01-B1-001L,X,1\nZZ,X,1\n")
    registry = LayoutRegistry(LayoutStore.open(tmp_path / "w.db"))
    registry.load_dir(tmp_path)
    store = InventoryStore.open(tmp_path / "w.db")
    with pytest.raises(ValueError, match=r"demo\.stock\.csv \(line 3\).*rows\[1\]\.bin_id"):
        load_stock_files(store, registry, tmp_path)
    assert store.state("demo") is None


def test_numbers_beyond_the_store_are_rejected_naming_the_field(
    stub: inventory_pb2_grpc.InventoryServiceStub,
) -> None:
    """A sequence or watermark past signed 64 bits, or an absurd quantity, is named, never an
    internal error; the other events of the batch still apply."""
    huge = event(1, RECEIPT, "A", 1)
    huge.sequence = 2**64 - 1
    heavy = event(2, RECEIPT, "A", 10**15)
    fine = event(3, RECEIPT, "A", 2)
    response = stub.ApplyEvents(pb.ApplyEventsRequest(site_id="demo", events=[huge, heavy, fine]))
    outcomes = [(r.event_id, r.outcome) for r in response.results]
    rejected, applied = pb.EVENT_OUTCOME_REJECTED, pb.EVENT_OUTCOME_APPLIED
    assert outcomes == [("e1", rejected), ("e2", rejected), ("e3", applied)]
    assert "events[0].sequence" in response.results[0].message
    assert "events[1].quantity" in response.results[1].message
    with pytest.raises(grpc.RpcError) as error:
        stub.ReplaceStock(snapshot("demo", "too-far", [], watermarks={"wms": 2**64 - 1}))
    assert "header.watermarks['wms']" in _violations(error.value)
