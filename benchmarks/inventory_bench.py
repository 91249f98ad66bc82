"""Inventory store benchmark: event throughput, snapshot loads and stock reads, on both backends.

Run ``PYTHONPATH=.:protos python -m benchmarks.inventory_bench`` (about 5 minutes on 2 cores);
it rewrites ``benchmarks/results/inventory.md``. ``--quick`` is a smoke run with small sizes
(under a minute; its figures say nothing about the targets; pass ``--out`` to keep the committed
table). ``--backends sqlite`` skips PostgreSQL.

Every measurement runs on a SQLite file in a temporary directory and on a PostgreSQL database
of a throwaway cluster (:class:`tests.postgres.PostgresServer`, or the server that
``WAREHOUSE_TEST_POSTGRES_DSN`` names), against the targets of the inventory issue:

1. **Events.** A bin-level site of 20,000 bins is seeded with a 100,000-row snapshot; then
   batches of 1,000 events (receipts, picks and moves that never take more than the bin holds,
   signed adjustments, and 1% events sent again) go through
   :meth:`~services.inventory.InventoryStore.apply_events`, 10 batches of warm-up and 100
   timed. Reported: the median over batches of events/s and the p95 batch time; target
   >= 20,000 events/s. Baseline in the same run: 2,000 further events of the same mix applied
   one per call (one transaction each), and the speed-up of batching. Every outcome is checked
   (nothing rejected, exactly the repeats duplicate) and so is the site's final stock.
2. **Snapshots.** 100,000 and 1,000,000 rows (200,000 SKUs over 50,000 bins) are loaded into a
   new site, and 1,000,000 again over the loaded site (replacing it, which includes deleting
   the old rows): ``begin_snapshot``, ``add`` from a generator, ``commit`` (on PostgreSQL
   ``add`` only stages the rows, and ``commit`` inserts them sorted by SKU). Each load runs in
   a fresh process that reports its wall time and the peak growth of its anonymous and of its
   file-backed RSS (sampled from /proc every 5 ms); the same load runs again in another
   process, on a second database, under tracemalloc for the Python heap it needs. Growth that
   does not follow the rows from 100,000 to 1,000,000 shows memory bounded by the chunk size
   (and, for RSS, by SQLite's configured page cache), not by the snapshot. Target: a
   1,000,000-row load in <= 30 s.
3. **Reads.** On the 1,000,000-row site, ``stock(site, skus=...)`` for 1,000 random SKUs,
   50 timed calls (a new random set each, after 5 of warm-up): median and p95; target
   <= 20 ms. Baseline in the same run: the same 1,000 SKUs read one call per SKU (for the
   first 10 sets), and the ratio. Each batched answer is checked against the per-SKU answers.

PostgreSQL chooses its query plans from table statistics, which only ``ANALYZE`` collects: the
store runs it after each snapshot and in ``maintain()``, autovacuum some time after a table
changed. The benchmark turns autovacuum off on ``stock`` and ``stock_events``, so that no
figure depends on when it wakes up, and never calls ``maintain()``: the *as is* figures are what
the store's own ``ANALYZE`` gives. The events and reads are measured again after an explicit
``ANALYZE``, a diagnostic of whether anything still depends on statistics the store does not
refresh. Each timed loop has a wall-time budget so that a very slow case still ends; the result
table notes where one ran out.

Times are from one run on this machine; shared machines are noisy, so read medians and ratios
against the baselines measured in the same run rather than single absolute times. The
PostgreSQL cluster runs with fsync and synchronous_commit off (test settings), SQLite in WAL
mode with synchronous=NORMAL (the store's own settings): commit costs are lower than on a
production PostgreSQL server.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import services.db
from services.inventory import (
    EventKind,
    InventoryStore,
    Level,
    Outcome,
    StockEvent,
    StockLine,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "inventory.md"

EVENTS_PER_S_TARGET = 20_000.0
SNAPSHOT_S_TARGET = 30.0
READ_MS_TARGET = 20.0
#: The growth for the largest snapshot may exceed that of the smallest by this factor plus
#: :data:`MEMORY_SLACK_MB` and still count as bounded (10x the rows).
MEMORY_FACTOR = 1.5
MEMORY_SLACK_MB = 8.0


@dataclass(frozen=True)
class Sizes:
    """How much of everything one run does."""

    event_bins: int = 20_000
    event_skus: int = 50_000
    event_seed_rows: int = 100_000
    batch: int = 1_000
    warmup_batches: int = 10
    batches: int = 100
    single_events: int = 2_000
    snapshot_rows: tuple[int, ...] = (100_000, 1_000_000)
    read_bins: int = 50_000
    read_skus: int = 200_000
    skus_per_read: int = 1_000
    read_warmup: int = 5
    reads: int = 50
    single_read_sets: int = 10


FULL = Sizes()
QUICK = Sizes(
    event_bins=2_000,
    event_skus=5_000,
    event_seed_rows=10_000,
    warmup_batches=2,
    batches=10,
    single_events=200,
    snapshot_rows=(10_000, 100_000),
    read_bins=5_000,
    read_skus=20_000,
    reads=10,
    single_read_sets=2,
)

# -- data ------------------------------------------------------------------------------------


def bin_name(i: int) -> str:
    """Id of bin ``i``."""
    return f"B{i:06d}"


def sku_name(i: int) -> str:
    """Id of SKU ``i``."""
    return f"SKU{i:07d}"


def snapshot_rows(rows: int, bins: int, skus: int, salt: int = 0) -> Iterator[tuple[str, str, int]]:
    """``(bin, sku, quantity)`` rows in bin order, as a WMS dumps its locations.

    Row ``i`` lies in bin ``i // per_bin`` and holds SKU ``7919 i mod skus``: the SKUs of one bin
    are distinct (7919 is prime to any count of the form 2^a 5^b), so no two rows add up, every
    SKU lies in ``rows / skus`` bins, and the SKU order jumps about as it does in a real dump.
    """
    per_bin = -(-rows // bins)
    assert per_bin < skus
    for i in range(rows):
        yield bin_name(i // per_bin), sku_name((i * 7919) % skus), 1 + (i * 37 + salt) % 60


class EventFeed:
    """A WMS event stream that knows the stock, so no pick or move takes more than is there."""

    #: Shares of receipts, picks and moves; adjustments take the rest up to
    #: :attr:`ADJUSTMENT_UP_TO` (14%), and the last 1% are earlier events sent again.
    MIX = ((EventKind.RECEIPT, 0.25), (EventKind.PICK, 0.45), (EventKind.MOVE, 0.15))
    ADJUSTMENT_UP_TO = 0.99
    SOURCES = 8

    def __init__(self, seed: int, bins: int, skus: int, rows: Sequence[tuple[str, str, int]]):
        self.rng = random.Random(seed)
        self.bins = [bin_name(i) for i in range(bins)]
        self.skus = [sku_name(i) for i in range(skus)]
        self.units: dict[tuple[str, str], int] = {}
        self.stocked: list[tuple[str, str]] = []  # keys with units > 0, for random choice
        self.slot: dict[tuple[str, str], int] = {}
        for bin_, sku, quantity in rows:
            self._set((sku, bin_), self.units.get((sku, bin_), 0) + quantity)
        self.sequence = [0] * self.SOURCES
        self.history: deque[StockEvent] = deque(maxlen=5_000)
        self.repeats = 0

    def _set(self, key: tuple[str, str], units: int) -> None:
        had = self.units.get(key, 0)
        if units:
            self.units[key] = units
        else:
            self.units.pop(key, None)
        if units > 0 and had <= 0:
            self.slot[key] = len(self.stocked)
            self.stocked.append(key)
        elif units <= 0 < had:
            i = self.slot.pop(key)
            last = self.stocked.pop()
            if last != key:
                self.stocked[i] = last
                self.slot[last] = i

    def _next(
        self, kind: EventKind, sku: str, bin_: str, quantity: int, to: str = ""
    ) -> StockEvent:
        source = self.rng.randrange(self.SOURCES)
        self.sequence[source] += 1
        seq = self.sequence[source]
        event = StockEvent(
            f"s{source}-{seq}", f"scanner-{source}", seq, kind, sku, quantity, bin_, to
        )
        self.history.append(event)
        return event

    def event(self) -> StockEvent:
        """The next event, applied to the model of the stock."""
        r = self.rng.random()
        if r >= self.ADJUSTMENT_UP_TO and self.history:
            self.repeats += 1
            return self.rng.choice(self.history)
        kind = EventKind.ADJUSTMENT
        for k, share in self.MIX:
            if r < share:
                kind = k
                break
            r -= share
        if kind is EventKind.RECEIPT or not self.stocked:
            sku, bin_ = self.rng.choice(self.skus), self.rng.choice(self.bins)
            quantity = self.rng.randint(1, 48)
            self._set((sku, bin_), self.units.get((sku, bin_), 0) + quantity)
            return self._next(EventKind.RECEIPT, sku, bin_, quantity)
        sku, bin_ = key = self.rng.choice(self.stocked)
        have = self.units[key]
        if kind is EventKind.PICK:
            quantity = self.rng.randint(1, min(have, 12))
            self._set(key, have - quantity)
            return self._next(kind, sku, bin_, quantity)
        if kind is EventKind.MOVE:
            to = self.rng.choice(self.bins)
            while to == bin_:
                to = self.rng.choice(self.bins)
            quantity = self.rng.randint(1, have)
            self._set(key, have - quantity)
            self._set((sku, to), self.units.get((sku, to), 0) + quantity)
            return self._next(kind, sku, bin_, quantity, to)
        delta = self.rng.choice([d for d in range(-min(have, 5), 6) if d])
        self._set(key, have + delta)
        return self._next(kind, sku, bin_, delta)

    def batch(self, n: int) -> tuple[list[StockEvent], int]:
        """``n`` events and how many of them are repeats."""
        before = self.repeats
        events = [self.event() for _ in range(n)]
        return events, self.repeats - before


# -- measurements ------------------------------------------------------------------------------

#: Wall-time budgets: a measurement stops there (and says so) when the store is far too slow
#: for its full count, so that one run stays within minutes whatever it finds.
TIMED_BUDGET_S = 60.0
WARMUP_BUDGET_S = 15.0
BASELINE_BUDGET_S = 30.0


@dataclass
class EventFigures:
    """Event throughput on one backend."""

    case: str
    batches: int
    batch: int
    median_events_s: float
    p95_batch_ms: float
    min_events_s: float
    single_events: int
    single_events_s: float
    duplicates: int
    notes: list[str] = field(default_factory=list)

    @property
    def speedup(self) -> float:
        """Batched over one-per-call events/s."""
        return self.median_events_s / self.single_events_s


@dataclass
class SnapshotFigures:
    """One snapshot load."""

    case: str
    rows: int
    wall_s: float
    anon_mb: float
    file_mb: float
    heap_mb: float


@dataclass
class ReadFigures:
    """Batched and per-SKU reads on one backend."""

    case: str
    site_rows: int
    skus: int
    calls: int
    lines_per_call: float
    median_ms: float
    p95_ms: float
    single_calls: int
    single_set_ms: float
    notes: list[str] = field(default_factory=list)

    @property
    def speedup(self) -> float:
        """Per-SKU calls over one batched call, for the same 1,000 SKUs."""
        return self.single_set_ms / self.median_ms


@dataclass
class Backend:
    """Figures of one backend."""

    name: str
    detail: str
    events: list[EventFigures] = field(default_factory=list)
    snapshots: list[SnapshotFigures] = field(default_factory=list)
    reads: list[ReadFigures] = field(default_factory=list)
    #: The SQLite writer's page cache the store configures (0 on PostgreSQL).
    page_cache_mb: float = 0.0


class Planner:
    """PostgreSQL only: the planner statistics, which the store itself never refreshes."""

    TABLES = ("stock", "stock_events")

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def _run(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql)

    def analyze(self) -> None:
        """Refresh the statistics of every table, as autovacuum eventually does."""
        self._run("ANALYZE")

    def autovacuum(self, enabled: bool) -> None:
        """Let autovacuum analyze ``stock`` and ``stock_events`` or not.

        Off, the figures are those of the window after a snapshot (or after a new site's first
        events) before autovacuum has analyzed the new rows, whenever the run takes place;
        otherwise they would depend on when autovacuum happens to wake up.
        """
        for table in self.TABLES:
            self._run(f"ALTER TABLE {table} SET (autovacuum_enabled = {str(enabled).lower()})")


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure_events(
    store: InventoryStore,
    site: str,
    case: str,
    sizes: Sizes,
    seed: int,
    after_warmup: Callable[[], None] | None = None,
) -> EventFigures:
    """Seed a bin-level site, then time batched and one-per-call event application."""
    bins = {bin_name(i) for i in range(sizes.event_bins)}
    seed_rows = list(snapshot_rows(sizes.event_seed_rows, sizes.event_bins, sizes.event_skus))
    load = store.begin_snapshot(site, "seed", level=Level.BIN, bins=bins)
    load.add(seed_rows)
    load.commit()
    feed = EventFeed(seed, sizes.event_bins, sizes.event_skus, seed_rows)
    notes = []

    def run(what: str, batches: int, size: int, budget_s: float) -> list[float]:
        """Time ``batches`` batches of ``size`` events, or as many as fit in ``budget_s``."""
        times: list[float] = []
        for _ in range(batches):
            if sum(times) > budget_s:
                notes.append(
                    f"{what}: {len(times):,} calls, then the {budget_s:.0f} s budget ran out"
                )
                break
            # The model of the stock makes the events outside the timed span.
            events, repeats = feed.batch(size)
            started = time.perf_counter()
            result = store.apply_events(site, events, level=Level.BIN, bins=bins)
            times.append(time.perf_counter() - started)
            rejected = [r for r in result.results if r.outcome is Outcome.REJECTED]
            if rejected:
                raise AssertionError(f"{len(rejected)} events rejected, first: {rejected[0]}")
            if result.count(Outcome.DUPLICATE) != repeats:
                raise AssertionError(
                    f"{result.count(Outcome.DUPLICATE)} duplicates, {repeats} sent"
                )
        return times

    run("warm-up", sizes.warmup_batches, sizes.batch, WARMUP_BUDGET_S)
    if after_warmup is not None:
        after_warmup()
    times = run("batches", sizes.batches, sizes.batch, TIMED_BUDGET_S)
    singles = run("one per call", sizes.single_events, 1, BASELINE_BUDGET_S)
    found = store.stock(site)
    assert found is not None
    stored = {(line.sku, line.bin): line.on_hand for line in found.lines}
    if stored != feed.units:
        raise AssertionError("the site's stock differs from the events' model")
    rates = [sizes.batch / t for t in times]
    return EventFigures(
        case=case,
        batches=len(times),
        batch=sizes.batch,
        median_events_s=statistics.median(rates),
        p95_batch_ms=1000 * _percentile(times, 95),
        min_events_s=min(rates),
        single_events=len(singles),
        single_events_s=len(singles) / sum(singles),
        duplicates=feed.repeats,
        notes=notes,
    )


class RssPeaks:
    """Peak growth of this process's anonymous and file-backed RSS over a ``with`` block.

    Sampled from /proc/self/status every few milliseconds in a thread. Anonymous memory is what
    the process itself allocated (Python objects, SQLite's page cache, client buffers);
    file-backed is the database file's pages SQLite memory-maps, which the OS page cache shares
    and can reclaim.
    """

    FIELDS = ("RssAnon", "RssFile")

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.base = self.now()
        self.peak = dict(self.base)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @classmethod
    def now(cls) -> dict[str, float]:
        """The current figures, in kB (zeros where /proc does not tell)."""
        found = dict.fromkeys(cls.FIELDS, 0.0)
        try:
            text = Path("/proc/self/status").read_text()
        except OSError:
            return found
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name in found:
                found[name] = float(value.split()[0])
        return found

    def _sample(self) -> None:
        for name, value in self.now().items():
            self.peak[name] = max(self.peak[name], value)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> RssPeaks:
        self.base = self.now()
        self.peak = dict(self.base)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def growth_mb(self, name: str) -> float:
        """Peak less the start, in MB."""
        return (self.peak[name] - self.base[name]) / 1024


def snapshot_child(spec: dict[str, str]) -> dict[str, float]:
    """Load one snapshot in this (fresh) process; wall time and memory, for the parent.

    With ``trace`` set, tracemalloc follows the load (its peak is the Python heap the load
    needed); it slows the load down, so the parent times another run, without it.
    """
    rows, bins, skus = int(spec["rows"]), int(spec["bins"]), int(spec["skus"])
    store = InventoryStore.open(spec["target"])
    known = {bin_name(i) for i in range(bins)}
    gc.collect()
    if spec.get("trace"):
        tracemalloc.start()
    with RssPeaks() as rss:
        started = time.perf_counter()
        load = store.begin_snapshot(spec["site"], spec["snapshot_id"], level=Level.BIN, bins=known)
        load.add(snapshot_rows(rows, bins, skus, salt=int(spec["salt"])))
        result = load.commit()
        wall = time.perf_counter() - started
    heap = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else 0
    tracemalloc.stop()
    store.close()
    assert result.rows == rows and not result.duplicate, result
    return {
        "wall_s": wall,
        "anon_mb": rss.growth_mb("RssAnon"),
        "file_mb": rss.growth_mb("RssFile"),
        "heap_mb": heap / 2**20,
    }


def _child(spec: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.inventory_bench", "--snapshot-child", json.dumps(spec)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def measure_snapshot(
    target: str, scratch: str, case: str, site: str, rows: int, sizes: Sizes, salt: int
) -> SnapshotFigures:
    """Time one load in a child process; trace the same load's heap in another, on ``scratch``.

    ``scratch`` is a second database that goes through the same loads, so the traced load
    finds the state the timed one found.
    """
    spec = {
        "target": target,
        "site": site,
        "snapshot_id": f"{site}-{salt}",
        "rows": str(rows),
        "bins": str(sizes.read_bins),
        "skus": str(sizes.read_skus),
        "salt": str(salt),
    }
    timed = _child(spec)
    traced = _child({**spec, "target": scratch, "trace": "1"})
    return SnapshotFigures(
        case, rows, timed["wall_s"], timed["anon_mb"], timed["file_mb"], traced["heap_mb"]
    )


def measure_reads(
    store: InventoryStore, site: str, case: str, rows: int, sizes: Sizes, seed: int
) -> ReadFigures:
    """Time 1,000-SKU reads, and the same SKUs read one call per SKU."""
    rng = random.Random(seed)
    notes = []

    def sample() -> list[str]:
        return [sku_name(i) for i in rng.sample(range(sizes.read_skus), sizes.skus_per_read)]

    def timed(skus: list[str]) -> tuple[float, list[StockLine]]:
        started = time.perf_counter()
        found = store.stock(site, skus=skus)
        elapsed = time.perf_counter() - started
        assert found is not None
        return elapsed, found.lines

    spent = 0.0
    for _ in range(sizes.read_warmup):
        if spent > WARMUP_BUDGET_S:
            break
        spent += timed(sample())[0]
    sets: list[list[str]] = []
    times: list[float] = []
    answers: list[list[StockLine]] = []
    for _ in range(sizes.reads):
        if sum(times) > TIMED_BUDGET_S:
            notes.append(f"{len(times)} calls, then the {TIMED_BUDGET_S:.0f} s budget ran out")
            break
        sets.append(sample())
        elapsed, lines = timed(sets[-1])
        times.append(elapsed)
        answers.append(lines)
    set_times: list[float] = []
    call_times: list[float] = []
    for skus, batched in zip(sets[: sizes.single_read_sets], answers, strict=False):
        got: list[StockLine] = []
        for sku in skus:
            if sum(call_times) > BASELINE_BUDGET_S:
                break
            elapsed, lines = timed([sku])
            call_times.append(elapsed)
            got += lines
        else:
            set_times.append(sum(call_times[-len(skus) :]))
            if sorted(got, key=lambda x: (x.sku, x.bin)) != batched:
                raise AssertionError("a batched read differs from the per-SKU reads")
            continue
        break
    if set_times:
        single_set_s = statistics.median(set_times)
    else:
        single_set_s = statistics.fmean(call_times) * sizes.skus_per_read
    if len(set_times) < min(sizes.single_read_sets, len(sets)):
        notes.append(
            f"per SKU: {len(call_times):,} calls, then the {BASELINE_BUDGET_S:.0f} s budget ran out"
            + ("" if set_times else f"; time per set = mean call x {sizes.skus_per_read:,}")
        )
    return ReadFigures(
        case=case,
        site_rows=rows,
        skus=sizes.skus_per_read,
        calls=len(times),
        lines_per_call=statistics.fmean(len(a) for a in answers),
        median_ms=1000 * statistics.median(times),
        p95_ms=1000 * _percentile(times, 95),
        single_calls=len(call_times),
        single_set_ms=1000 * single_set_s,
        notes=notes,
    )


def run_backend(
    name: str, target: str, scratch: str, detail: str, sizes: Sizes, seed: int
) -> Backend:
    """Every measurement on one database.

    On PostgreSQL the events and reads are measured twice: as the store leaves the database
    right after a snapshot (the planner has no statistics of the new rows: autovacuum is kept
    off, see :meth:`Planner.autovacuum`), and after an explicit ANALYZE, as a diagnostic.
    """
    out = Backend(name, detail)
    planner = Planner(target) if name == "PostgreSQL" else None
    if planner is None:
        # services.db.WRITER_CACHE_KIB, or SQLite's default of 2,000 KiB without it.
        out.page_cache_mb = int(getattr(services.db, "WRITER_CACHE_KIB", 2000)) / 1024
    store = InventoryStore.open(target)
    as_is = "as is"
    diagnostic = "after an extra ANALYZE (diagnostic)"
    try:
        if planner is not None:
            planner.autovacuum(False)
        out.events.append(measure_events(store, "events", as_is, sizes, seed))
        print(name, out.events[-1], flush=True)
        if planner is not None:
            out.events.append(
                measure_events(store, "events-2", diagnostic, sizes, seed, planner.analyze)
            )
            print(name, out.events[-1], flush=True)
        large = max(sizes.snapshot_rows)
        for rows in sorted(sizes.snapshot_rows):
            site = "read-site" if rows == large else f"snapshot-{rows}"
            out.snapshots.append(
                measure_snapshot(target, scratch, "new site", site, rows, sizes, salt=0)
            )
            print(name, out.snapshots[-1], flush=True)
        out.snapshots.append(
            measure_snapshot(
                target, scratch, f"replacing {large:,}", "read-site", large, sizes, salt=1
            )
        )
        print(name, out.snapshots[-1], flush=True)
        out.reads.append(measure_reads(store, "read-site", as_is, large, sizes, seed))
        print(name, out.reads[-1], flush=True)
        if planner is not None:
            planner.analyze()
            out.reads.append(measure_reads(store, "read-site", diagnostic, large, sizes, seed + 1))
            print(name, out.reads[-1], flush=True)
    finally:
        store.close()
    return out


# -- report ------------------------------------------------------------------------------------


def store_version() -> str:
    """The last commit that changed services/, ``-dirty`` when the files differ from it."""
    try:
        commit = subprocess.run(
            ["git", "log", "-1", "--format=%h", "--", "services"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "services"], cwd=ROOT, check=False
        ).returncode
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def cpu_model() -> str:
    """The CPU's model name (Linux), else the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def render(backends: list[Backend], sizes: Sizes, quick: bool, code: str) -> str:
    """The committed Markdown tables."""
    command = f"python -m benchmarks.inventory_bench{' --quick' if quick else ''}"
    large, small = max(sizes.snapshot_rows), min(sizes.snapshot_rows)
    notes: list[str] = []
    lines = [
        "# Inventory store benchmark",
        "",
        f"Machine: {cpu_model()} ({platform.machine()}), {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}; "
        + "; ".join(b.detail for b in backends)
        + f". Store code: commit {code}. Generated by `{command}` (with "
        f"`PYTHONPATH=.:protos`) on {time.strftime('%Y-%m-%d')}; the module docstring says what "
        "is measured and how.",
        "",
        "One run on a shared machine: read the medians and the ratios to the baselines measured "
        "in the same run, not single absolute times. The PostgreSQL cluster is the tests' "
        "throwaway one (fsync and synchronous_commit off), so its commits cost less than on a "
        "production server.",
        "",
        "PostgreSQL plans its queries from table statistics, which only `ANALYZE` collects: the "
        "store runs it after each snapshot and in `maintain()`, autovacuum some time after a "
        "table changed. The benchmark turns autovacuum off on `stock` and `stock_events` (so "
        "that no figure depends on when it wakes up) and never calls `maintain()`: *as is* "
        "rows show what the store's own `ANALYZE` gives. *After an extra ANALYZE* rows repeat "
        "the measurement after an explicit `ANALYZE` (after the warm-up batches, or before the "
        "reads): a diagnostic of whether anything still depends on statistics the store does "
        "not refresh, not the store's figure.",
        "",
        f"A budget caps each timed loop ({TIMED_BUDGET_S:.0f} s; warm-up "
        f"{WARMUP_BUDGET_S:.0f} s; one-per-call baselines {BASELINE_BUDGET_S:.0f} s) so that a "
        "very slow case still ends; the notes say where one ran out.",
        "",
    ]
    if quick:
        lines += ["**Quick smoke run: small sizes, the targets do not apply.**", ""]
    lines += [
        "## Events",
        "",
        f"A bin-level site of {sizes.event_bins:,} bins seeded with a "
        f"{sizes.event_seed_rows:,}-row snapshot; batches of {sizes.batch:,} events (25% "
        "receipts, 45% picks, 15% moves, 14% adjustments, 1% sent again; none rejected), "
        f"{sizes.warmup_batches} batches of warm-up, "
        f"then {sizes.batches} timed. One per call: up to {sizes.single_events:,} further events "
        "of the same mix, one `apply_events` call (one transaction) each.",
        "",
        "| backend | case | median events/s | p95 batch ms | slowest batch events/s "
        "| one per call events/s | batching speed-up | target | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for b in backends:
        for e in b.events:
            lines.append(
                f"| {b.name} | {e.case} | {e.median_events_s:,.0f} | {e.p95_batch_ms:.1f} "
                f"| {e.min_events_s:,.0f} | {e.single_events_s:,.0f} | {e.speedup:.1f}x "
                f"| >= {EVENTS_PER_S_TARGET:,.0f} events/s "
                f"| {_met(e.median_events_s >= EVENTS_PER_S_TARGET)} |"
            )
            notes += [f"{b.name}, events, {e.case}: {n}." for n in e.notes]
    lines += [
        "",
        "## Snapshots",
        "",
        f"Rows over {sizes.read_skus:,} SKUs and {sizes.read_bins:,} bins, in bin order, from a "
        "generator: `begin_snapshot`, `add`, `commit` (which, when replacing, includes deleting "
        "the old rows; on PostgreSQL `add` stages the rows and `commit` inserts them into the "
        "stock sorted by SKU), each load in a fresh process. Memory: the peak growth during the "
        "load of the process's anonymous RSS (what it allocated: Python objects, SQLite's page "
        "cache, client buffers) and of its file-backed RSS (the database file's pages SQLite "
        "memory-maps, shared with the OS page cache and reclaimable), sampled every 5 ms; and "
        "the peak Python heap (tracemalloc) of the same load in another process on a second "
        "database (tracemalloc slows it down, so that run is not the timed one).",
        "",
        "| backend | rows | case | wall s | rows/s | anon RSS growth MB | mapped file MB "
        "| Python heap MB | target | met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for b in backends:
        for s in b.snapshots:
            target, met = "", ""
            if s.rows == large:
                target = f"<= {SNAPSHOT_S_TARGET:.0f} s"
                met = _met(s.wall_s <= SNAPSHOT_S_TARGET)
            lines.append(
                f"| {b.name} | {s.rows:,} | {s.case} | {s.wall_s:.1f} | {s.rows / s.wall_s:,.0f} "
                f"| {s.anon_mb:.1f} | {s.file_mb:.1f} | {s.heap_mb:.1f} | {target} | {met} |"
            )
    lines += [
        "",
        f"Bounded memory, {small:,} against {large:,} rows (the larger of the loads of each "
        f"size): met when, for {large // small}x the rows, the Python heap stays within "
        f"{MEMORY_FACTOR}x + {MEMORY_SLACK_MB:.0f} MB, and the anonymous RSS growth within that "
        "plus the page cache the store gives SQLite's writer connection (the pages a load "
        "writes fill it, up to that size whatever the snapshot's).",
        "",
        "| backend | Python heap MB | anon RSS growth MB | SQLite writer page cache MB | met |",
        "|---|---|---|---|---|",
    ]
    for b in backends:
        heap = [max(s.heap_mb for s in b.snapshots if s.rows == n) for n in (small, large)]
        anon = [max(s.anon_mb for s in b.snapshots if s.rows == n) for n in (small, large)]
        ok = (
            heap[1] <= MEMORY_FACTOR * heap[0] + MEMORY_SLACK_MB
            and anon[1] <= MEMORY_FACTOR * anon[0] + MEMORY_SLACK_MB + b.page_cache_mb
        )
        lines.append(
            f"| {b.name} | {heap[0]:.1f} -> {heap[1]:.1f} | {anon[0]:.1f} -> {anon[1]:.1f} "
            f"| {b.page_cache_mb:.0f} | {_met(ok)} |"
        )
    lines += [
        "",
        "## Reads",
        "",
        f"`stock(site, skus=...)` of {sizes.skus_per_read:,} random SKUs on the {large:,}-row "
        f"site, {sizes.reads} calls (a new set each, after {sizes.read_warmup} of warm-up). "
        f"Per SKU: the SKUs of the first {sizes.single_read_sets} sets, one call per SKU; time "
        f"per set of {sizes.skus_per_read:,}.",
        "",
        "| backend | case | lines per call | median ms | p95 ms | per SKU: ms per set "
        "| speed-up | target | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for b in backends:
        for r in b.reads:
            lines.append(
                f"| {b.name} | {r.case} | {r.lines_per_call:,.0f} | {r.median_ms:.1f} "
                f"| {r.p95_ms:.1f} | {r.single_set_ms:,.0f} | {r.speedup:.0f}x "
                f"| <= {READ_MS_TARGET:.0f} ms | {_met(r.median_ms <= READ_MS_TARGET)} |"
            )
            notes += [f"{b.name}, reads, {r.case}: {n}." for n in r.notes]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and write the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Markdown file to write")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql"
    )
    parser.add_argument("--snapshot-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.snapshot_child:
        print(json.dumps(snapshot_child(json.loads(args.snapshot_child))), flush=True)
        return
    sizes = QUICK if args.quick else FULL
    code = store_version()
    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    backends = []
    with tempfile.TemporaryDirectory(prefix="inventory-bench-") as tmp:
        if "sqlite" in names:
            detail = f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL, file on disk)"
            target, scratch = (str(Path(tmp) / f"{n}.db") for n in ("inventory", "scratch"))
            backends.append(run_backend("SQLite", target, scratch, detail, sizes, args.seed))
        if "postgresql" in names:
            from tests.postgres import PostgresServer

            server = PostgresServer()
            try:
                dsn, scratch = server.new_database(), server.new_database()
                import psycopg

                with psycopg.connect(dsn) as conn:
                    row = conn.execute("SHOW server_version").fetchone()
                version = str(row[0]).split()[0] if row else "?"
                detail = f"PostgreSQL {version} (local socket, fsync off)"
                backends.append(run_backend("PostgreSQL", dsn, scratch, detail, sizes, args.seed))
            finally:
                server.stop()
    if store_version() != code:
        code += " (**the store's code changed during the run**)"
    text = render(backends, sizes, args.quick, code)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
