"""Nothing lost, nothing twice: concurrent writers and writers killed mid-batch, on both backends.

Event writers are separate processes, each with its own connection to the store, as WMS feeds
or server replicas would be; snapshot loads run in threads of one store (its connection pool).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Sequence
from multiprocessing.sharedctypes import Synchronized

import pytest

from services import inventory
from services.inventory import EventKind, InventoryStore, Level, Outcome, StockEvent
from tests.test_inventory import BINS, Model, stock_of

SKUS = [f"S{i}" for i in range(30)]
PLENTY = 10**6  # starting units per SKU and bin: no order of the events can go negative
SPAWN = multiprocessing.get_context("spawn")


def _seed(store: InventoryStore) -> Model:
    load = store.begin_snapshot("W", "start", level=Level.BIN, bins=BINS)
    load.add((b, sku, PLENTY) for b in sorted(BINS) for sku in SKUS)
    load.commit()
    model = Model()
    for b in BINS:
        for sku in SKUS:
            model.units[(sku, b)] = PLENTY
    return model


def _events(rng: random.Random, count: int, prefix: str) -> list[StockEvent]:
    bins = sorted(BINS)
    out = []
    for n in range(1, count + 1):
        kind = rng.choice(list(EventKind))
        qty = rng.randint(1, 9) * (rng.choice([-1, 1]) if kind is EventKind.ADJUSTMENT else 1)
        b, to = rng.sample(bins, 2)
        out.append(
            StockEvent(
                f"{prefix}{n}",
                "wms",
                n,
                kind,
                rng.choice(SKUS),
                qty,
                b,
                to if kind is EventKind.MOVE else "",
            )
        )
    return out


def _write(
    target: str, batches: list[list[StockEvent]], results: multiprocessing.Queue[list[str]]
) -> None:
    store = InventoryStore.open(target)
    applied: list[str] = []
    for batch in batches:
        result = store.apply_events("W", batch, level=Level.BIN, bins=BINS)
        applied += [r.event_id for r in result.results if r.outcome is Outcome.APPLIED]
        assert all(r.outcome is not Outcome.REJECTED for r in result.results)
    results.put(applied)


def test_concurrent_writers_with_overlapping_repeats_match_a_serial_replay(database: str) -> None:
    """8 writers send overlapping, repeated events at once; each applies exactly once."""
    store = InventoryStore.open(database)
    model = _seed(store)
    rng = random.Random(11)
    events = _events(rng, 3000, "e")
    plans = []
    for _ in range(8):
        mine = rng.sample(events, 900)  # every event goes to ~2.4 writers on average
        mine += rng.sample(mine, 150)  # and some twice to the same writer
        rng.shuffle(mine)
        plans.append([mine[i : i + rng.randint(50, 250)] for i in range(0, len(mine), 150)])
    results: multiprocessing.Queue[list[str]] = SPAWN.Queue()
    writers = [SPAWN.Process(target=_write, args=(database, p, results)) for p in plans]
    for w in writers:
        w.start()
    applied: Counter[str] = Counter()
    for _ in writers:
        applied.update(results.get(timeout=300))
    for w in writers:
        w.join(timeout=60)
        assert w.exitcode == 0
    sent = {e.event_id for plan in plans for batch in plan for e in batch}
    assert set(applied) == sent and set(applied.values()) == {1}
    for e in events:
        if e.event_id in sent:
            model.apply(e)
    assert stock_of(store, "W", SKUS) == model.stock()


def _write_until_killed(
    target: str, batches: list[list[StockEvent]], done: Synchronized[int]
) -> None:
    store = InventoryStore.open(target)
    for batch in batches:
        store.apply_events("W", batch, level=Level.BIN, bins=BINS)
        with done.get_lock():
            done.value += 1


def _applied_ids(store: InventoryStore) -> set[str]:
    with store.db.read() as tx:
        return {r[0] for r in tx.execute("SELECT event_id FROM stock_events").fetchall()}


def _kill_mid_run(target: str, batches: Sequence[list[StockEvent]], rng: random.Random) -> None:
    done = SPAWN.Value("i", 0)
    writer = SPAWN.Process(target=_write_until_killed, args=(target, list(batches), done))
    writer.start()
    at = rng.randint(1, 3)
    deadline = time.monotonic() + 120
    while done.value < at and writer.is_alive() and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(rng.uniform(0, 0.05))
    assert writer.pid is not None and writer.is_alive(), "the writer finished before the kill"
    os.kill(writer.pid, signal.SIGKILL)
    writer.join()
    assert writer.exitcode == -signal.SIGKILL


def test_a_writer_killed_mid_batch_leaves_whole_batches(database: str) -> None:
    """SIGKILL during a run: every batch is wholly applied or not at all; a replay completes it."""
    store = InventoryStore.open(database)
    model = _seed(store)
    rng = random.Random(5)
    events = _events(rng, 24_000, "k")
    batches = [events[i : i + 1000] for i in range(0, len(events), 1000)]
    for round_ in range(3):
        _kill_mid_run(database, batches, rng)
        applied = _applied_ids(store)
        per_batch = [sum(e.event_id in applied for e in batch) for batch in batches]
        assert set(per_batch) <= {0, 1000}, f"round {round_}: partial batch {per_batch}"
        assert 0 < sum(per_batch) < len(events)
        partial = Model()
        partial.units.update(model.units)
        for e in events:
            if e.event_id in applied:
                partial.apply(e)
        assert stock_of(store, "W", SKUS) == partial.stock()
    # Replaying everything afterwards gives exactly the serial replay's stock.
    before = _applied_ids(store)
    for batch in batches:
        result = store.apply_events("W", batch, level=Level.BIN, bins=BINS)
        for e, r in zip(batch, result.results, strict=True):
            expected = Outcome.DUPLICATE if e.event_id in before else Outcome.APPLIED
            assert r.outcome is expected
    for e in events:
        model.apply(e)
    assert stock_of(store, "W", SKUS) == model.stock()


def test_snapshots_loaded_at_once_each_get_their_own_rows(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loads of several sites staged, committed and aborted at the same time.

    Each site ends with exactly its last snapshot's rows and nothing stays staged: on PostgreSQL
    the loads share one staging table, so a commit must remove its own rows and nobody else's,
    without locks that two commits could take in opposite orders.
    """
    monkeypatch.setattr(inventory, "SNAPSHOT_CHUNK_ROWS", 40)
    store = InventoryStore.open(database)
    sites = ["S1", "S2", "S3", "S4"]
    bins = sorted(BINS)
    errors: list[BaseException] = []

    def rows(site: str, round_: int) -> list[tuple[str, str, int]]:
        return [(bins[i % len(bins)], f"{site}-{i % 37}", round_ + 1) for i in range(300)]

    def load(site: str) -> None:
        try:
            for round_ in range(4):
                given_up = store.begin_snapshot(site, f"x{round_}", level=Level.BIN, bins=BINS)
                given_up.add(rows(site, 9))
                loading = store.begin_snapshot(site, f"s{round_}", level=Level.BIN, bins=BINS)
                loading.add(rows(site, round_))
                given_up.abort()
                assert loading.commit().rows == 300
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=load, args=(site,)) for site in sites]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for site in sites:
        expected: Counter[tuple[str, str]] = Counter()
        for b, sku, units in rows(site, 3):
            expected[(sku, b)] += units
        assert stock_of(store, site, [f"{site}-{i}" for i in range(37)]) == expected
    with store.db.read() as tx:
        counts = [
            tx.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("stock_staged", "stock_uploads", "stock")
        ]
    assert counts == [0, 0, len(sites) * 300]
