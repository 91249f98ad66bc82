"""InventoryStore on SQLite and PostgreSQL: events, snapshots, reservations, reads, upkeep.

Every test runs on both backends (the ``database`` fixture). Expected stock comes from
:class:`Model`, a plain dictionary replay of the same events written independently of the store.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Sequence

import pytest

from routing.errors import InvalidInput, NotFound
from services import inventory
from services.db import open_database
from services.inventory import (
    EventKind,
    InventoryStore,
    Level,
    Outcome,
    Reason,
    ReservationLine,
    StockEvent,
)
from services.schema import MIGRATIONS

BINS = frozenset(f"B{i}" for i in range(20))
R, P, M, A = EventKind.RECEIPT, EventKind.PICK, EventKind.MOVE, EventKind.ADJUSTMENT


class Model:
    """Reference stock: apply each event id once, in order, refusing negative stock."""

    def __init__(self) -> None:
        self.units: Counter[tuple[str, str]] = Counter()
        self.seen: set[str] = set()

    def apply(self, e: StockEvent) -> bool:
        if e.event_id in self.seen or (e.bin and e.bin not in BINS and e.bin != ""):
            return False
        if e.kind is M and e.to_bin not in BINS:
            return False
        delta = -e.quantity if e.kind in (P, M) else e.quantity
        if self.units[(e.sku, e.bin)] + delta < 0:
            return False
        self.seen.add(e.event_id)
        self.units[(e.sku, e.bin)] += delta
        if e.kind is M:
            self.units[(e.sku, e.to_bin)] += e.quantity
        return True

    def stock(self) -> dict[tuple[str, str], int]:
        return {k: v for k, v in self.units.items() if v}


def stock_of(store: InventoryStore, site: str, skus: Sequence[str]) -> dict[tuple[str, str], int]:
    found = store.stock(site, skus=skus)
    assert found is not None
    return {(x.sku, x.bin): x.on_hand for x in found.lines}


def ev(n: int, kind: EventKind, sku: str, qty: int, bin_: str = "B0", to: str = "") -> StockEvent:
    return StockEvent(f"e{n}", "wms", n, kind, sku, qty, bin_, to)


@pytest.fixture
def store(database: str) -> InventoryStore:
    return InventoryStore.open(database)


def apply(store: InventoryStore, events: Sequence[StockEvent], site: str = "W") -> list[Outcome]:
    result = store.apply_events(site, events, level=Level.BIN, bins=BINS)
    return [r.outcome for r in result.results]


def test_events_change_stock_and_version(store: InventoryStore) -> None:
    """Receipts, picks, moves and adjustments give the model's stock; each batch is a version."""
    events = [
        ev(1, R, "A", 10),
        ev(2, P, "A", 3),
        ev(3, M, "A", 4, "B0", "B1"),
        ev(4, A, "A", -1, "B1"),
        ev(5, A, "C", 7, "B2"),
    ]
    assert apply(store, events[:2]) == [Outcome.APPLIED] * 2
    assert apply(store, events[2:]) == [Outcome.APPLIED] * 3
    model = Model()
    for e in events:
        model.apply(e)
    assert (
        stock_of(store, "W", ["A", "C"])
        == model.stock()
        == {
            ("A", "B0"): 3,
            ("A", "B1"): 3,
            ("C", "B2"): 7,
        }
    )
    state = store.state("W")
    assert state is not None and state.version == 2 and state.level is Level.BIN
    assert [(s.source, s.max_sequence) for s in state.sources] == [("wms", 5)]


def test_rejections_name_the_event_and_the_valid_ones_apply(store: InventoryStore) -> None:
    """A bad event is rejected with a reason naming it; the others in the batch still apply."""
    result = store.apply_events(
        "W",
        [
            ev(1, R, "A", 5),
            ev(2, P, "A", 6),  # more than the bin holds
            ev(3, R, "A", 1, "NOPE"),  # unknown bin
            StockEvent("e4", "wms", 0, P, "", -2, "B0"),  # three bad fields
            ev(5, M, "A", 2, "B0", "B0"),  # a move to the same bin
            ev(6, R, "A", 1),
        ],
        level=Level.BIN,
        bins=BINS,
    )
    reasons = [(r.outcome, r.reason) for r in result.results]
    assert reasons == [
        (Outcome.APPLIED, Reason.NONE),
        (Outcome.REJECTED, Reason.INSUFFICIENT_STOCK),
        (Outcome.REJECTED, Reason.UNKNOWN_BIN),
        (Outcome.REJECTED, Reason.INVALID),
        (Outcome.REJECTED, Reason.INVALID),
        (Outcome.APPLIED, Reason.NONE),
    ]
    messages = [r.message for r in result.results]
    assert "events[1]" in messages[1] and "holds 5" in messages[1] and "takes 6" in messages[1]
    assert "events[2].bin_id" in messages[2] and "NOPE" in messages[2]
    for field in ("events[3].sku", "events[3].sequence", "events[3].quantity"):
        assert field in messages[3]
    assert "events[4].to_bin_id" in messages[4]
    assert stock_of(store, "W", ["A"]) == {("A", "B0"): 6}
    # A batch where nothing applies leaves the version alone.
    before = result.version
    assert apply(store, [ev(7, P, "A", 100)]) == [Outcome.REJECTED]
    state = store.state("W")
    assert state is not None and state.version == before


def test_repeats_are_duplicates_and_reused_ids_are_rejected(store: InventoryStore) -> None:
    """The same event twice (in one batch or across batches) applies once."""
    first = [ev(1, R, "A", 5), ev(2, P, "A", 2)]
    assert apply(store, [*first, first[0]]) == [Outcome.APPLIED] * 2 + [Outcome.DUPLICATE]
    again = store.apply_events("W", first, level=Level.BIN, bins=BINS)
    assert [r.reason for r in again.results] == [Reason.REPEATED] * 2
    reused = StockEvent("e1", "wms", 1, R, "A", 50, "B0")
    result = store.apply_events("W", [reused], level=Level.BIN, bins=BINS)
    assert result.results[0].reason is Reason.ID_REUSED
    assert "e1" in result.results[0].message
    assert stock_of(store, "W", ["A"]) == {("A", "B0"): 3}


def test_random_batches_match_a_serial_replay(store: InventoryStore) -> None:
    """Random events in random batches, with repeats, end in the model's stock."""
    rng = random.Random(7)
    events = []
    for n in range(1, 400):
        kind = rng.choice([R, R, P, M, A])
        qty = rng.randint(1, 6) * (rng.choice([-1, 1]) if kind is A else 1)
        b = f"B{rng.randrange(5)}"
        to = f"B{rng.randrange(5, 8)}" if kind is M else ""
        events.append(ev(n, kind, f"S{rng.randrange(6)}", qty, b, to))
    feed = events + rng.sample(events, 80)  # repeats after the originals
    model = Model()
    expected = [model.apply(e) for e in feed]
    got: list[Outcome] = []
    i = 0
    while i < len(feed):
        size = rng.randint(1, 60)
        got += apply(store, feed[i : i + size])
        i += size
    assert [o is Outcome.APPLIED for o in got] == expected
    assert stock_of(store, "W", [f"S{k}" for k in range(6)]) == model.stock()


def test_fulfillment_centers(store: InventoryStore) -> None:
    """FC stock has no bins; an FC exists once a snapshot created it; reads span FCs."""
    with pytest.raises(NotFound, match="FC9"):
        store.apply_events("FC9", [ev(1, R, "A", 1, "")], level=Level.FC)
    for site, units in (("FC1", 5), ("FC2", 0), ("FC3", 2)):
        load = store.begin_snapshot(site, "s1", level=Level.FC)
        load.add([("", "A", units), ("", "Z", 1)])
        load.commit()
    result = store.apply_events(
        "FC1", [ev(1, P, "A", 2, ""), ev(2, R, "A", 1, "B0")], level=Level.FC
    )
    assert [r.outcome for r in result.results] == [Outcome.APPLIED, Outcome.REJECTED]
    assert "bin_id" in result.results[1].message
    across = store.stock_at_fcs(["A"])
    assert [(s.site, [(x.sku, x.on_hand) for x in s.lines]) for s in across] == [
        ("FC1", [("A", 3)]),
        ("FC3", [("A", 2)]),
    ]
    with pytest.raises(InvalidInput, match="fc-level"):
        store.apply_events("FC1", [ev(3, R, "A", 1)], level=Level.BIN, bins=BINS)


def test_snapshot_replaces_everything_at_once(store: InventoryStore) -> None:
    """A snapshot replaces the whole stock; repeated rows add up; a resend is a duplicate."""
    apply(store, [ev(1, R, "OLD", 4), ev(2, R, "A", 1)])
    load = store.begin_snapshot("W", "snap-1", level=Level.BIN, bins=BINS)
    load.add([("B1", "A", 2), ("B1", "A", 3), ("B2", "C", 0), ("B3", "D", 1)])
    assert stock_of(store, "W", ["A", "OLD"]) == {("A", "B0"): 1, ("OLD", "B0"): 4}  # unseen yet
    result = load.commit()
    assert not result.duplicate and result.rows == 4
    assert stock_of(store, "W", ["A", "C", "D", "OLD"]) == {("A", "B1"): 5, ("D", "B3"): 1}
    again = store.begin_snapshot("W", "snap-1", level=Level.BIN, bins=BINS)
    again.add([("B1", "X", 99)])
    repeat = again.commit()
    assert repeat.duplicate and repeat.version == result.version
    assert stock_of(store, "W", ["X", "A"]) == {("A", "B1"): 5}


def test_a_bad_snapshot_changes_nothing(store: InventoryStore) -> None:
    """A row with an unknown bin or a negative quantity aborts the load; the old stock stays."""
    apply(store, [ev(1, R, "A", 4)])
    for rows, match in (
        ([("B1", "A", 1), ("ZZ", "A", 1)], r"rows\[1\]\.bin_id"),
        ([("B1", "A", -1)], r"rows\[0\]\.quantity"),
    ):
        load = store.begin_snapshot("W", "bad", level=Level.BIN, bins=BINS)
        with pytest.raises((InvalidInput, NotFound), match=match):
            load.add(rows)
        with pytest.raises(RuntimeError):
            load.commit()
    assert stock_of(store, "W", ["A"]) == {("A", "B0"): 4}
    aborted = store.begin_snapshot("W", "given-up", level=Level.BIN, bins=BINS)
    aborted.add([("B5", "A", 9)])
    aborted.abort()
    assert stock_of(store, "W", ["A"]) == {("A", "B0"): 4}
    with store.db.read() as tx:
        assert tx.execute("SELECT COUNT(*) FROM stock").fetchone()[0] == 1


def count(store: InventoryStore, table: str) -> int:
    with store.db.read() as tx:
        return int(tx.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_a_snapshot_reads_back_as_sent_and_is_stored_in_key_order(
    store: InventoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows in bin order over several chunks, repeats summed across them, read back as sent.

    On PostgreSQL the rows are staged and inserted in key order at the commit: stored in SKU
    order (what lets a read of many SKUs fetch few pages), and nothing is left staged.
    """
    monkeypatch.setattr(inventory, "SNAPSHOT_CHUNK_ROWS", 7)
    rng = random.Random(5)
    rows = [
        (f"B{b}", f"S{rng.randrange(40)}", rng.randrange(5)) for b in range(20) for _ in range(6)
    ]
    rows += rows[:10]  # the same SKU and bin again, in another chunk
    expected: Counter[tuple[str, str]] = Counter()
    for b, sku, units in rows:
        expected[(sku, b)] += units
    load = store.begin_snapshot("W", "s", level=Level.BIN, bins=BINS)
    load.add(rows)
    if store.db.dialect == "postgresql":
        assert count(store, "stock_staged") == sum(units > 0 for _, _, units in rows)
        assert count(store, "stock") == 0
    assert load.commit().rows == len(rows)
    found = store.stock("W")
    assert found is not None
    assert [(x.sku, x.bin, x.on_hand) for x in found.lines] == sorted(
        (sku, b, units) for (sku, b), units in expected.items() if units
    )
    assert count(store, "stock_staged") == 0
    if store.db.dialect == "postgresql":
        with store.db.read() as tx:
            stored = tx.execute("SELECT sku, bin FROM stock ORDER BY ctid").fetchall()
            keyed = tx.execute("SELECT sku, bin FROM stock ORDER BY sku, bin").fetchall()
        assert stored == keyed


def test_loads_side_by_side_keep_their_own_staged_rows(store: InventoryStore) -> None:
    """Committing or aborting one load leaves another's rows; a load given up leaves none."""
    postgres = store.db.dialect == "postgresql"
    first = store.begin_snapshot("W", "w1", level=Level.BIN, bins=BINS)
    first.add([("B0", "A", 1), ("B1", "A", 2)])
    second = store.begin_snapshot("V", "v1", level=Level.BIN, bins=BINS)
    second.add([("B2", "C", 3)])
    first.commit()
    assert count(store, "stock_staged") == (1 if postgres else 0)
    third = store.begin_snapshot("W", "w2", level=Level.BIN, bins=BINS)
    third.add([("B4", "D", 4), ("B5", "D", 5)])
    second.abort()
    assert count(store, "stock_staged") == (2 if postgres else 0)
    second = store.begin_snapshot("V", "v2", level=Level.BIN, bins=BINS)
    second.add([("B2", "C", 6)])
    assert third.commit().rows == 2
    assert second.commit().rows == 1
    assert stock_of(store, "W", ["A", "D"]) == {("D", "B4"): 4, ("D", "B5"): 5}
    assert stock_of(store, "V", ["C"]) == {("C", "B2"): 6}
    store.begin_snapshot("V", "left", level=Level.BIN, bins=BINS, now=100).add(
        [("B0", "E", 1)], now=100
    )
    assert store.maintain(now=100 + inventory.ABANDONED_LOAD_S + 1).loads_discarded == 1
    assert [count(store, t) for t in ("stock_staged", "stock_uploads", "stock")] == [0, 0, 3]


def test_a_database_of_the_previous_schema_is_migrated_with_its_stock(database: str) -> None:
    """Opening a database of the schema before the staging table adds it; the stock stays."""
    old = InventoryStore(open_database(database, MIGRATIONS[:-1]))
    assert old.db.schema_version == len(MIGRATIONS) - 1
    assert apply(old, [ev(1, R, "A", 4), ev(2, R, "C", 2, "B3")]) == [Outcome.APPLIED] * 2
    old.close()
    store = InventoryStore.open(database)
    assert store.db.schema_version == len(MIGRATIONS)
    assert stock_of(store, "W", ["A", "C"]) == {("A", "B0"): 4, ("C", "B3"): 2}
    assert apply(store, [ev(1, R, "A", 4)]) == [Outcome.DUPLICATE]
    load = store.begin_snapshot("W", "s", level=Level.BIN, bins=BINS)
    load.add([("B1", "A", 3)])
    load.commit()
    assert stock_of(store, "W", ["A", "C"]) == {("A", "B1"): 3}


def test_watermarks_make_snapshots_and_events_exactly_once(store: InventoryStore) -> None:
    """Events the snapshot includes become duplicates; later ones survive the switch."""
    apply(store, [ev(1, R, "A", 10), ev(2, P, "A", 2)])
    load = store.begin_snapshot("W", "s", level=Level.BIN, bins=BINS, watermarks={"wms": 2})
    load.add([("B0", "A", 4)])  # the WMS counted 4 after events 1 and 2
    apply(store, [ev(3, P, "A", 3), ev(4, P, "A", 2)])  # applied while the snapshot loads
    load_result = load.commit()
    # Event 3 is carried over (4 - 3 = 1); event 4 takes 2 and no longer fits.
    assert [(c.event_id, c.reason) for c in load_result.conflicts] == [
        ("e4", Reason.INSUFFICIENT_STOCK)
    ]
    assert stock_of(store, "W", ["A"]) == {("A", "B0"): 1}
    late = store.apply_events("W", [ev(1, R, "A", 10), ev(2, P, "A", 2)], level=Level.BIN)
    assert [r.reason for r in late.results] == [Reason.IN_SNAPSHOT] * 2
    assert apply(store, [ev(3, P, "A", 3)]) == [Outcome.DUPLICATE]
    # Event 4 was dropped with the conflict, so a resend is judged afresh.
    assert apply(store, [ev(4, P, "A", 2)]) == [Outcome.REJECTED]
    assert apply(store, [ev(5, R, "A", 5), ev(4, P, "A", 2)]) == [Outcome.APPLIED] * 2
    assert stock_of(store, "W", ["A"]) == {("A", "B0"): 4}
    state = store.state("W")
    assert state is not None and state.snapshot_id == "s"
    assert [(s.source, s.max_sequence, s.watermark) for s in state.sources] == [("wms", 5, 2)]


def test_readers_see_the_old_or_the_new_snapshot_never_a_mix(
    store: InventoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a snapshot loads in many chunks, every read is wholly old or wholly new."""
    monkeypatch.setattr(inventory, "SNAPSHOT_CHUNK_ROWS", 50)
    monkeypatch.setattr(inventory, "DELETE_SLICE_ROWS", 30)
    skus = [f"S{i}" for i in range(400)]
    first = store.begin_snapshot("W", "one", level=Level.BIN, bins=BINS)
    first.add((f"B{i % 20}", sku, 1) for i, sku in enumerate(skus))
    first.commit()
    seen: list[tuple[int, frozenset[int]]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            found = store.stock("W", skus=skus)
            assert found is not None
            seen.append((found.version, frozenset(x.on_hand for x in found.lines)))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        second = store.begin_snapshot("W", "two", level=Level.BIN, bins=BINS)
        second.add((f"B{i % 20}", sku, 2) for i, sku in enumerate(skus))
        second.commit()
    finally:
        stop.set()
        reader.join()
    final = store.stock("W", skus=skus)
    assert final is not None
    seen.append((final.version, frozenset(x.on_hand for x in final.lines)))
    assert {units for _, units in seen} <= {frozenset({1}), frozenset({2})}
    assert {(v, units) for v, units in seen} <= {(1, frozenset({1})), (2, frozenset({2}))}
    assert seen[-1] == (2, frozenset({2}))
    with store.db.read() as tx:  # the replaced generation is gone, in slices on SQLite
        assert tx.execute("SELECT COUNT(*) FROM stock").fetchone()[0] == len(skus)


def test_reservations_hold_units_until_released_picked_or_expired(store: InventoryStore) -> None:
    """Held units are not available to others; picks naming the reservation release them."""
    apply(store, [ev(1, R, "A", 10), ev(2, R, "A", 4, "B1")])
    line = ReservationLine("A", "B0", 6)
    held = store.reserve("W", "plan-1", [line], level=Level.BIN, ttl_s=60, now=1000)
    assert held.reserved and not held.duplicate and held.expires_at == 1060
    again = store.reserve("W", "plan-1", [line], level=Level.BIN, ttl_s=60, now=1001)
    assert again.duplicate and again.version == held.version
    with pytest.raises(InvalidInput, match="reservation_id"):
        store.reserve(
            "W", "plan-1", [ReservationLine("A", "B0", 1)], level=Level.BIN, ttl_s=60, now=1001
        )
    found = store.stock("W", skus=["A"], now=1002)
    assert found is not None
    assert [(x.bin, x.on_hand, x.reserved, x.available) for x in found.lines] == [
        ("B0", 10, 6, 4),
        ("B1", 4, 0, 4),
    ]
    short = store.reserve(
        "W",
        "plan-2",
        [ReservationLine("A", "B1", 4), ReservationLine("A", "B0", 5)],
        level=Level.BIN,
        ttl_s=60,
        now=1003,
    )
    assert not short.reserved
    assert [(s.line, s.requested, s.available) for s in short.shortages] == [(1, 5, 4)]
    after_short = store.stock("W", skus=["A"], now=1003)
    assert after_short is not None and after_short.version == found.version  # none held
    pick = StockEvent("e3", "wms", 3, P, "A", 4, "B0", reservation_id="plan-1")
    store.apply_events("W", [pick], level=Level.BIN, bins=BINS, now=1004)
    found = store.stock("W", skus=["A"], bins=["B0"], now=1005)
    assert found is not None and [(x.on_hand, x.reserved) for x in found.lines] == [(6, 2)]
    expired = store.stock("W", skus=["A"], bins=["B0"], now=1061)
    assert expired is not None and [(x.reserved, x.available) for x in expired.lines] == [(0, 6)]
    assert store.release("W", "plan-1", now=1010) is not None
    assert store.release("W", "plan-1", now=1011) is None


def test_maintenance_removes_what_has_expired(store: InventoryStore) -> None:
    """Expired reservations, events past retention and abandoned loads go; the rest stays."""
    apply(store, [ev(1, R, "A", 5)])
    store.reserve("W", "r", [ReservationLine("A", "B0", 1)], level=Level.BIN, ttl_s=10, now=100)
    store.begin_snapshot("W", "left", level=Level.BIN, bins=BINS, now=100).add(
        [("B0", "A", 1)], now=100
    )
    done = store.maintain(now=store.event_retention_s + 10**10)
    assert (done.reservations_expired, done.loads_discarded) == (1, 1)
    assert done.events_pruned == 1
    assert stock_of(store, "W", ["A"]) == {("A", "B0"): 5}
    with store.db.read() as tx:
        counts = [
            tx.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("reservations", "reservation_lines", "stock_uploads", "stock_events")
        ]
    assert counts == [0, 0, 0, 0]


def test_a_replaced_reservation_swaps_its_lines_in_one_step(store: InventoryStore) -> None:
    """replace=True: the old units count as available to the new lines; on a shortage the old
    reservation stays as it was."""
    apply(store, [ev(1, R, "A", 10)])
    old = [ReservationLine("A", "B0", 8)]
    store.reserve("W", "wave", old, level=Level.BIN, ttl_s=60, now=10)
    bigger = [ReservationLine("A", "B0", 9)]
    with pytest.raises(InvalidInput, match="other lines"):
        store.reserve("W", "wave", bigger, level=Level.BIN, ttl_s=60, now=11)
    swapped = store.reserve("W", "wave", bigger, level=Level.BIN, ttl_s=60, replace=True, now=11)
    assert swapped.reserved and not swapped.duplicate
    too_big = [ReservationLine("A", "B0", 11)]
    short = store.reserve("W", "wave", too_big, level=Level.BIN, ttl_s=60, replace=True, now=12)
    assert not short.reserved and [s.available for s in short.shortages] == [10]
    held = store.stock("W", skus=["A"], now=13)
    assert held is not None and [(x.reserved, x.available) for x in held.lines] == [(9, 1)]
    mine = store.stock("W", skus=["A"], exclude_reservation="wave", now=13)
    assert mine is not None and [x.available for x in mine.lines] == [10]


def test_a_mixed_batch_is_decided_event_by_event_whatever_the_lookup_slices(
    store: InventoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repeats (of an earlier batch, of the same batch), a snapshot's events, rejections, a move,
    a pick confirming a reservation and a row going to zero, in one batch whose lookups are sent
    in several slices; sent again, everything it applied is a duplicate."""
    monkeypatch.setattr(inventory, "LOOKUP_SLICE", 2)
    load = store.begin_snapshot("W", "s", level=Level.BIN, bins=BINS, watermarks={"old": 5})
    load.add([("B0", "A", 10), ("B1", "B", 3)])
    load.commit()
    assert apply(store, [ev(1, R, "C", 4, "B2")]) == [Outcome.APPLIED]
    held = store.reserve("W", "r1", [ReservationLine("A", "B0", 4)], level=Level.BIN, ttl_s=60)
    assert held.reserved
    batch = [
        ev(1, R, "C", 4, "B2"),  # applied by the batch before
        StockEvent("o1", "old", 5, R, "A", 1, "B0"),  # the snapshot includes it
        ev(2, M, "A", 6, "B0", "B3"),
        ev(3, P, "B", 4, "B1"),  # B1 holds 3
        ev(4, R, "D", 2, "NOPE"),
        StockEvent("e5", "wms", 5, P, "A", 3, "B0", reservation_id="r1"),
        ev(2, M, "A", 6, "B0", "B3"),  # a repeat within the batch
        StockEvent("e2", "wms", 2, P, "A", 1, "B3"),  # the id of the move, other content
        ev(6, A, "B", -3, "B1"),  # to zero: the row goes
        ev(7, R, "E", 1, "B4"),
    ]
    result = store.apply_events("W", batch, level=Level.BIN, bins=BINS)
    applied, duplicate, rejected = Outcome.APPLIED, Outcome.DUPLICATE, Outcome.REJECTED
    assert [(r.outcome, r.reason) for r in result.results] == [
        (duplicate, Reason.REPEATED),
        (duplicate, Reason.IN_SNAPSHOT),
        (applied, Reason.NONE),
        (rejected, Reason.INSUFFICIENT_STOCK),
        (rejected, Reason.UNKNOWN_BIN),
        (applied, Reason.NONE),
        (duplicate, Reason.REPEATED),
        (rejected, Reason.ID_REUSED),
        (applied, Reason.NONE),
        (applied, Reason.NONE),
    ]
    assert [r.event_id for r in result.results] == [e.event_id for e in batch]
    assert "events[7].event_id" in result.results[7].message
    assert result.version == held.version + 1
    skus = ["A", "B", "C", "D", "E"]
    assert stock_of(store, "W", skus) == {
        ("A", "B0"): 1,
        ("A", "B3"): 6,
        ("C", "B2"): 4,
        ("E", "B4"): 1,
    }
    found = store.stock("W", skus=["A"], bins=["B0"])
    assert found is not None and [(x.on_hand, x.reserved) for x in found.lines] == [(1, 1)]
    state = store.state("W")
    assert state is not None
    assert [(s.source, s.max_sequence) for s in state.sources] == [("old", 5), ("wms", 7)]
    again = store.apply_events("W", batch, level=Level.BIN, bins=BINS)
    assert [r.outcome for r in again.results] == [duplicate] * 3 + [rejected] * 2 + [
        duplicate,
        duplicate,
        rejected,
        duplicate,
        duplicate,
    ]
    assert again.version == result.version
    assert stock_of(store, "W", skus) == {
        ("A", "B0"): 1,
        ("A", "B3"): 6,
        ("C", "B2"): 4,
        ("E", "B4"): 1,
    }
    assert store.stock("nowhere", skus=["A"]) is None
