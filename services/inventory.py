"""Inventory state: stock per site, bin and SKU, fed by snapshots and events, with reservations.

A *site* is a warehouse whose stock is kept per bin (:attr:`Level.BIN`; the bins are those of
its layout) or a fulfillment center whose stock is kept as a whole (:attr:`Level.FC`; bin
``""``). The WMS feeds it in two ways:

* **Snapshots** replace a site's whole stock. Rows are loaded in chunks into a new generation
  beside the current one (bounded memory, any size; on PostgreSQL staged first and stored in
  SKU order at the commit, see :meth:`SnapshotLoad._place`) and :meth:`SnapshotLoad.commit`
  switches to it in one short transaction, so a reader sees the old state or the new one, never
  a mix. A snapshot carries *watermarks*: per event source, the last sequence it includes.
  Events at or below a watermark are duplicates from then on; events above it that were applied
  while the snapshot was loading are applied again on top of it, so none is lost.
* **Events** (receipt, pick, move, adjustment), in batches. Each event is atomic (a move changes
  both bins or neither) and is decided on its own: applied, a duplicate (its id was applied
  before, or a snapshot's watermark covers it; nothing changes), or rejected with a reason (it
  would drive stock negative, names an unknown bin, reuses an id for other content, or is
  malformed). A batch commits in one transaction: after a crash either every event the batch
  applied is in, or none is.

Every change a plan could see (stock or reservations) raises the site's *version*, so a plan
can say which state it used. Reservations hold units for a plan until released, confirmed by
pick events that name them, or expired; reads report ``reserved`` and ``available`` =
on hand - reserved. Schema and table roles: :mod:`services.schema`.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import itertools
import math
import time
from collections import defaultdict
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from routing.errors import FieldViolation, InvalidInput, NotFound
from services.db import Cursor, Database, Tx, open_database
from services.schema import MIGRATIONS

#: Longest event id, source, SKU, bin or reservation id accepted.
MAX_ID_LENGTH = 200
#: Largest quantity of one event or row (far beyond any real bin).
MAX_QUANTITY = 10**12
#: Rows per transaction while a snapshot loads.
SNAPSHOT_CHUNK_ROWS = 20_000
#: Rows (event ids, or SKUs with all their bins) deleted per transaction when a replaced
#: generation or covered events leave the store, so writers never wait long for the lock.
DELETE_SLICE_ROWS = 5_000
#: How long a snapshot load may sit idle before maintenance discards it.
ABANDONED_LOAD_S = 3600.0


class Level(enum.StrEnum):
    """Granularity of a site's stock."""

    BIN = "bin"
    FC = "fc"


class EventKind(enum.StrEnum):
    """What happened to the stock."""

    RECEIPT = "receipt"  # units arrived in a bin (receipt or putaway)
    PICK = "pick"  # units left a bin (picked or shipped)
    MOVE = "move"  # units moved from one bin to another of the same site
    ADJUSTMENT = "adjustment"  # signed correction (cycle count, damage, found)


class Outcome(enum.StrEnum):
    """What became of one event."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class Reason(enum.StrEnum):
    """Why an event was a duplicate or rejected ("" when applied)."""

    NONE = ""
    REPEATED = "repeated"  # duplicate: this id was applied before
    IN_SNAPSHOT = "in_snapshot"  # duplicate: a snapshot's watermark covers it
    INVALID = "invalid"  # a field is missing or out of range
    UNKNOWN_BIN = "unknown_bin"
    INSUFFICIENT_STOCK = "insufficient_stock"
    ID_REUSED = "id_reused"  # this id was applied before with other content


@dataclass(frozen=True)
class StockEvent:
    """One change reported by the WMS.

    ``quantity`` is positive for receipts, picks and moves and a non-zero signed delta for
    adjustments. ``bin`` is empty for fulfillment-center stock. A pick may name the
    ``reservation_id`` it fulfils, which releases that many reserved units.
    """

    event_id: str
    source: str
    sequence: int
    kind: EventKind
    sku: str
    quantity: int
    bin: str = ""
    to_bin: str = ""
    reservation_id: str = ""

    @functools.cached_property
    def fingerprint(self) -> str:
        """A digest of everything but the id, to tell a repeat from a reused id."""
        return _fingerprint(self)


def _fingerprint(e: StockEvent) -> str:
    """:attr:`StockEvent.fingerprint`, without the property's lock (a batch takes 1,000)."""
    text = "\x1f".join(
        (e.source, str(e.sequence), e.kind, e.sku, str(e.quantity), e.bin, e.to_bin,
         e.reservation_id)
    )  # fmt: skip
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


@dataclass(frozen=True)
class EventResult:
    """The outcome of one event, with a reason and a message naming the field when not applied."""

    event_id: str
    outcome: Outcome
    reason: Reason = Reason.NONE
    message: str = ""


@dataclass(frozen=True)
class ApplyResult:
    """The outcome of a batch: one result per event, in order, and the site's version after."""

    site: str
    version: int
    results: list[EventResult]

    def count(self, outcome: Outcome) -> int:
        """How many events had ``outcome``."""
        return sum(r.outcome is outcome for r in self.results)


class StockLine(NamedTuple):
    """Units of one SKU in one bin (bin ``""`` for fulfillment-center stock).

    A named tuple: a read builds thousands of them, at a third of a frozen dataclass's cost.
    """

    sku: str
    bin: str
    on_hand: int
    reserved: int = 0

    @property
    def available(self) -> int:
        """Units a new plan may take: on hand less what active reservations hold."""
        return max(0, self.on_hand - self.reserved)


@dataclass(frozen=True)
class SiteStock:
    """What a read found at one site, and the version it was read at."""

    site: str
    level: Level
    version: int
    lines: list[StockLine]


@dataclass(frozen=True)
class SourceState:
    """Progress of one event source at a site."""

    source: str
    max_sequence: int
    watermark: int


@dataclass(frozen=True)
class SiteState:
    """A site's version and feed progress."""

    site: str
    level: Level
    version: int
    snapshot_id: str
    updated_at: float
    sources: list[SourceState]


@dataclass(frozen=True)
class ReservationLine:
    """Units of a SKU to hold in a bin."""

    sku: str
    bin: str
    quantity: int


@dataclass(frozen=True)
class Shortage:
    """A reservation line that cannot be held: fewer units are available than asked."""

    line: int
    sku: str
    bin: str
    requested: int
    available: int


@dataclass(frozen=True)
class ReserveResult:
    """Outcome of a reservation: all lines held (or held before, for a repeat) or none."""

    site: str
    reservation_id: str
    reserved: bool
    duplicate: bool
    version: int
    expires_at: float
    shortages: list[Shortage] = field(default_factory=list)


@dataclass(frozen=True)
class SnapshotResult:
    """Outcome of a snapshot: the version it created and events it could not carry over."""

    site: str
    snapshot_id: str
    duplicate: bool
    version: int
    rows: int
    conflicts: list[EventResult] = field(default_factory=list)


@dataclass(frozen=True)
class MaintenanceResult:
    """What :meth:`InventoryStore.maintain` removed."""

    reservations_expired: int
    events_pruned: int
    loads_discarded: int


@dataclass
class _Site:
    level: Level
    generation: int
    version: int
    snapshot_id: str


def _check_id(value: str, where: str, problems: list[FieldViolation]) -> None:
    if not value:
        problems.append(FieldViolation(where, "must not be empty"))
    elif len(value) > MAX_ID_LENGTH:
        problems.append(FieldViolation(where, f"longer than {MAX_ID_LENGTH} characters"))


def event_problems(event: StockEvent, level: Level, where: str) -> list[FieldViolation]:
    """Everything malformed about one event, each naming its field under ``where``."""
    problems: list[FieldViolation] = []
    _check_id(event.event_id, f"{where}.event_id", problems)
    _check_id(event.source, f"{where}.source", problems)
    _check_id(event.sku, f"{where}.sku", problems)
    if event.sequence < 1:
        problems.append(FieldViolation(f"{where}.sequence", f"must be >= 1, got {event.sequence}"))
    q = event.quantity
    if abs(q) > MAX_QUANTITY:
        problems.append(FieldViolation(f"{where}.quantity", f"out of range, got {q}"))
    elif event.kind is EventKind.ADJUSTMENT:
        if q == 0:
            problems.append(FieldViolation(f"{where}.quantity", "must not be 0 for an adjustment"))
    elif q <= 0:
        problems.append(
            FieldViolation(f"{where}.quantity", f"must be positive for a {event.kind}, got {q}")
        )
    if level is Level.BIN:
        _check_id(event.bin, f"{where}.bin_id", problems)
    elif event.bin:
        problems.append(
            FieldViolation(
                f"{where}.bin_id", f"must be empty for FC-level stock, got {event.bin!r}"
            )
        )
    if event.kind is EventKind.MOVE:
        if level is Level.FC:
            problems.append(FieldViolation(f"{where}.kind", "a move needs bin-level stock"))
        elif not event.to_bin:
            problems.append(FieldViolation(f"{where}.to_bin_id", "must not be empty for a move"))
        elif event.to_bin == event.bin:
            problems.append(FieldViolation(f"{where}.to_bin_id", "must differ from bin_id"))
    elif event.to_bin:
        problems.append(FieldViolation(f"{where}.to_bin_id", "only a move has a destination"))
    if event.reservation_id and event.kind is not EventKind.PICK:
        problems.append(FieldViolation(f"{where}.reservation_id", "only a pick confirms one"))
    return problems


#: Whether a site has an active reservation other than one (parameters: site, now, id).
_ANY_HELD = (
    "EXISTS (SELECT 1 FROM reservations WHERE site = ? AND expires_at > ? AND reservation_id <> ?)"
)


def _rejected(event: StockEvent, reason: Reason, message: str) -> EventResult:
    return EventResult(event.event_id, Outcome.REJECTED, reason, message)


#: Keys per statement of a lookup by many keys (SQLite allows 32,766 parameters).
LOOKUP_SLICE = 5000


def _select_in(
    tx: Tx, sql: str, params: Sequence[object], column: str, values: Iterable[str]
) -> list[Cursor]:
    """Send ``sql`` (a SELECT with ``{cond}``) for the rows whose ``column`` is in ``values``.

    Returns the cursors without fetching them, so that inside :meth:`Tx.pipeline` several
    lookups share one round trip to PostgreSQL; :func:`_rows` fetches them.
    """
    wanted = sorted(set(values))
    cursors = []
    for start in range(0, len(wanted), LOOKUP_SLICE):
        cond, extra = tx.in_list(column, wanted[start : start + LOOKUP_SLICE])
        cursors.append(tx.execute(sql.format(cond=cond), (*params, *extra)))
    return cursors


def _rows(cursors: Iterable[Cursor]) -> list[Any]:
    """The rows of every cursor :func:`_select_in` sent."""
    return [row for cursor in cursors for row in cursor.fetchall()]


class _Stock:
    """On-hand units of the SKUs a batch touches, changed in memory and written back at once."""

    #: The lookup of :meth:`send`.
    QUERY = "SELECT sku, bin, on_hand FROM stock WHERE site = ? AND generation = ? AND {cond}"

    def __init__(self, tx: Tx, site: str, generation: int, rows: Iterable[Any]) -> None:
        """The stock of ``rows`` (``sku, bin, on_hand``, as :meth:`send` finds them)."""
        self.tx, self.site, self.generation = tx, site, generation
        self.units: dict[tuple[str, str], int] = {(r[0], r[1]): int(r[2]) for r in rows}
        self.changed: set[tuple[str, str]] = set()

    @classmethod
    def send(cls, tx: Tx, site: str, generation: int, skus: Iterable[str]) -> list[Cursor]:
        """Look up every bin of ``skus`` (see :func:`_select_in`)."""
        return _select_in(tx, cls.QUERY, (site, generation), "sku", skus)

    def apply(self, event: StockEvent, bins: Container[str] | None, where: str) -> EventResult:
        """Apply one well-formed event, or say why it cannot be."""
        if bins is not None:
            if event.bin and event.bin not in bins:
                return _rejected(
                    event, Reason.UNKNOWN_BIN, f"{where}.bin_id: unknown bin {event.bin!r}"
                )
            if event.to_bin and event.to_bin not in bins:
                return _rejected(
                    event, Reason.UNKNOWN_BIN, f"{where}.to_bin_id: unknown bin {event.to_bin!r}"
                )
        source = (event.sku, event.bin)
        kind = event.kind
        delta = (
            -event.quantity if kind is EventKind.PICK or kind is EventKind.MOVE else event.quantity
        )
        have = self.units.get(source, 0)
        if have + delta < 0:
            place = f"bin {event.bin!r}" if event.bin else "the site"
            return _rejected(
                event,
                Reason.INSUFFICIENT_STOCK,
                f"{where}: {place} holds {have} of SKU {event.sku!r}, "
                f"the {event.kind} takes {-delta}",
            )
        self.units[source] = have + delta
        self.changed.add(source)
        if kind is EventKind.MOVE:
            target = (event.sku, event.to_bin)
            self.units[target] = self.units.get(target, 0) + event.quantity
            self.changed.add(target)
        return EventResult(event.event_id, Outcome.APPLIED)

    def write(self) -> None:
        """Write the changed rows back (a row at zero is deleted).

        On PostgreSQL as one statement per kind over arrays: a statement per row, even
        pipelined, left most of a batch's time in the server's per-statement work.
        """
        keep = sorted(k for k in self.changed if self.units[k] != 0)
        drop = sorted(k for k in self.changed if self.units[k] == 0)
        s, g, tx = self.site, self.generation, self.tx
        upsert = "ON CONFLICT (site, generation, sku, bin) DO UPDATE SET on_hand = excluded.on_hand"
        if tx.dialect == "postgresql":
            if keep:
                tx.execute(
                    "INSERT INTO stock (site, generation, sku, bin, on_hand) "
                    "SELECT ?, ?, k.sku, k.bin, k.units "
                    "FROM unnest(?::text[], ?::text[], ?::bigint[]) AS k(sku, bin, units) "
                    + upsert,
                    (
                        s,
                        g,
                        [k[0] for k in keep],
                        [k[1] for k in keep],
                        [self.units[k] for k in keep],
                    ),
                )
            if drop:
                tx.execute(
                    "DELETE FROM stock WHERE site = ? AND generation = ? AND (sku, bin) IN "
                    "(SELECT * FROM unnest(?::text[], ?::text[]))",
                    (s, g, [k[0] for k in drop], [k[1] for k in drop]),
                )
        else:
            if keep:
                tx.executemany(
                    "INSERT INTO stock (site, generation, sku, bin, on_hand) "
                    "VALUES (?, ?, ?, ?, ?) " + upsert,
                    [(s, g, sku, b, self.units[(sku, b)]) for sku, b in keep],
                )
            if drop:
                tx.executemany(
                    "DELETE FROM stock WHERE site = ? AND generation = ? AND sku = ? AND bin = ?",
                    [(s, g, sku, b) for sku, b in drop],
                )
        self.changed.clear()


class InventoryStore:
    """Stock, events, snapshots and reservations of every site, in one database."""

    def __init__(self, db: Database, *, event_retention_s: float = 7 * 24 * 3600.0) -> None:
        self.db = db
        self.event_retention_s = event_retention_s

    @classmethod
    def open(cls, target: Path | str, **kwargs: float) -> InventoryStore:
        """A store on a PostgreSQL DSN or a SQLite path (see :func:`services.db.open_database`)."""
        return cls(open_database(target, MIGRATIONS), **kwargs)

    # -- sites ------------------------------------------------------------------------------

    def _lock_site(self, tx: Tx, site: str, level: Level, *, create: bool, now: float) -> _Site:
        """Lock a site's row for this transaction, creating a bin-level site on first use.

        Raises
        ------
        NotFound
            A fulfillment center that no snapshot has created yet.
        InvalidInput
            The site exists at the other level.
        """
        query = (
            "SELECT level, generation, version, snapshot_id FROM stock_sites WHERE site = ?"
            + tx.lock_clause
        )
        row = tx.execute(query, (site,)).fetchone()
        if row is None:
            if not create:
                raise NotFound("fulfillment center", site, "site_id")
            tx.execute(
                "INSERT INTO stock_sites (site, level, generation, version, snapshot_id, "
                "updated_at) VALUES (?, ?, ?, 0, '', ?) ON CONFLICT (site) DO NOTHING",
                (site, level.value, self._next_generation(tx), now),
            )
            row = tx.execute(query, (site,)).fetchone()
        found = _Site(Level(row[0]), int(row[1]), int(row[2]), str(row[3]))
        if found.level is not level:
            raise InvalidInput.single(
                "site_id", f"site {site!r} keeps {found.level.value}-level stock, not {level.value}"
            )
        return found

    @staticmethod
    def _next_generation(tx: Tx) -> int:
        row = tx.execute(
            "INSERT INTO counters (name, value) VALUES ('generation', 1) "
            "ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value"
        ).fetchone()
        return int(row[0])

    @staticmethod
    def _bump(tx: Tx, site: str, current: _Site, now: float, **columns: object) -> int:
        version = current.version + 1
        sets = "".join(f", {name} = ?" for name in columns)
        tx.execute(
            f"UPDATE stock_sites SET version = ?, updated_at = ?{sets} WHERE site = ?",
            (version, now, *columns.values(), site),
        )
        return version

    # -- events -----------------------------------------------------------------------------

    def apply_events(
        self,
        site: str,
        events: Sequence[StockEvent],
        *,
        level: Level,
        bins: Container[str] | None = None,
        names: Sequence[str] | None = None,
        now: float | None = None,
    ) -> ApplyResult:
        """Apply a batch of events in order, each on its own, in one transaction.

        ``bins`` are the site's known bins (bin-level sites); an event naming another bin is
        rejected. A bin-level site is created by its first event, a fulfillment center only by
        a snapshot. Messages name an event by ``names[i]`` (default ``events[i]``).
        """
        now = time.time() if now is None else now

        def name(i: int) -> str:  # only messages need one
            return f"events[{i}]" if names is None else names[i]

        results: list[EventResult | None] = [None] * len(events)
        candidates: list[int] = []
        for i, event in enumerate(events):
            problems = event_problems(event, level, name(i))
            if problems:
                message = "; ".join(f"{p.field}: {p.description}" for p in problems)
                results[i] = _rejected(event, Reason.INVALID, message)
            else:
                candidates.append(i)
        with self.db.write() as tx:
            with tx.pipeline():  # BEGIN and the lock in one round trip
                current = self._lock_site(tx, site, level, create=level is Level.BIN, now=now)
            with tx.pipeline():  # the three lookups in one round trip
                known = _select_in(
                    tx,
                    "SELECT event_id, fingerprint FROM stock_events WHERE site = ? AND {cond}",
                    (site,),
                    "event_id",
                    (events[i].event_id for i in candidates),
                )
                sources = _select_in(
                    tx,
                    "SELECT source, watermark FROM stock_sources WHERE site = ? AND {cond}",
                    (site,),
                    "source",
                    (events[i].source for i in candidates),
                )
                held = _Stock.send(
                    tx, site, current.generation, (events[i].sku for i in candidates)
                )
                seen: dict[str, str] = dict(_rows(known))
                marks = {source: int(mark) for source, mark in _rows(sources)}
                stock = _Stock(tx, site, current.generation, _rows(held))
            applied: list[StockEvent] = []
            fingerprints: list[str] = []
            for i in candidates:
                event = events[i]
                fingerprint = _fingerprint(event)
                known_as = seen.get(event.event_id)
                if known_as is not None:
                    if known_as == fingerprint:
                        results[i] = EventResult(event.event_id, Outcome.DUPLICATE, Reason.REPEATED)
                    else:
                        results[i] = _rejected(
                            event,
                            Reason.ID_REUSED,
                            f"{name(i)}.event_id: "
                            f"{event.event_id!r} was applied before with other content",
                        )
                    continue
                if event.sequence <= marks.get(event.source, 0):
                    results[i] = EventResult(
                        event.event_id,
                        Outcome.DUPLICATE,
                        Reason.IN_SNAPSHOT,
                        f"sequence {event.sequence} of source {event.source!r} is included in "
                        f"snapshot {current.snapshot_id!r}",
                    )
                    continue
                result = stock.apply(event, bins, name(i))
                results[i] = result
                if result.outcome is Outcome.APPLIED:
                    seen[event.event_id] = fingerprint
                    applied.append(event)
                    fingerprints.append(fingerprint)
            version = current.version
            if applied:
                version = current.version + 1
                self._log(tx, site, applied, fingerprints, version, now)
                with tx.pipeline():
                    stock.write()
                    self._bump(tx, site, current, now)
                    self._advance_sources(tx, site, applied)
                    self._confirm_reservations(tx, site, applied, now)
        final = [r for r in results if r is not None]
        return ApplyResult(site, version, final)

    @staticmethod
    def _log(
        tx: Tx,
        site: str,
        events: Sequence[StockEvent],
        fingerprints: Sequence[str],
        version: int,
        now: float,
    ) -> None:
        """Record applied events (with their fingerprints), so a repeat is a duplicate.

        COPY on PostgreSQL (its rows are formatted in C: an INSERT over arrays spent most of
        its time building them in Python), so outside :meth:`Tx.pipeline`.
        """
        tx.copy_rows(
            "stock_events",
            ("site", "event_id", "source", "sequence", "kind", "sku", "bin", "to_bin", "quantity",
             "reservation_id", "fingerprint", "version", "recorded_at"),
            [
                (site, e.event_id, e.source, e.sequence, e.kind.value, e.sku, e.bin, e.to_bin,
                 e.quantity, e.reservation_id, fingerprint, version, now)
                for e, fingerprint in zip(events, fingerprints, strict=True)
            ],
        )  # fmt: skip

    @staticmethod
    def _advance_sources(tx: Tx, site: str, events: Sequence[StockEvent]) -> None:
        """Raise each source's highest applied sequence."""
        top: dict[str, int] = defaultdict(int)
        for e in events:
            if e.sequence > top[e.source]:
                top[e.source] = e.sequence
        tx.executemany(
            "INSERT INTO stock_sources (site, source, max_sequence, watermark) VALUES (?, ?, ?, 0) "
            "ON CONFLICT (site, source) DO UPDATE SET max_sequence = "
            "CASE WHEN excluded.max_sequence > stock_sources.max_sequence "
            "THEN excluded.max_sequence ELSE stock_sources.max_sequence END",
            [(site, source, seq) for source, seq in sorted(top.items())],
        )

    @staticmethod
    def _confirm_reservations(tx: Tx, site: str, events: Sequence[StockEvent], now: float) -> None:
        """Release the reserved units that picks naming a reservation took."""
        picks = [e for e in events if e.reservation_id]
        if not picks:
            return
        cond, params = tx.in_list("l.reservation_id", sorted({e.reservation_id for e in picks}))
        rows = tx.execute(
            "SELECT l.reservation_id, l.line, l.sku, l.bin, l.quantity FROM reservation_lines l "
            "JOIN reservations r ON r.site = l.site AND r.reservation_id = l.reservation_id "
            f"WHERE l.site = ? AND r.expires_at > ? AND {cond} ORDER BY l.line",
            (site, now, *params),
        ).fetchall()
        held: dict[tuple[str, str, str], list[list[int]]] = defaultdict(list)
        for rid, line, sku, bin_, quantity in rows:
            held[(rid, sku, bin_)].append([int(line), int(quantity)])
        changed: dict[tuple[str, int], int] = {}
        for e in picks:
            left = e.quantity
            for entry in held.get((e.reservation_id, e.sku, e.bin), []):
                take = min(left, entry[1])
                if take:
                    entry[1] -= take
                    left -= take
                    changed[(e.reservation_id, entry[0])] = entry[1]
        tx.executemany(
            "UPDATE reservation_lines SET quantity = ? WHERE site = ? AND reservation_id = ? "
            "AND line = ?",
            [(q, site, rid, line) for (rid, line), q in changed.items() if q > 0],
        )
        tx.executemany(
            "DELETE FROM reservation_lines WHERE site = ? AND reservation_id = ? AND line = ?",
            [(site, rid, line) for (rid, line), q in changed.items() if q == 0],
        )
        tx.executemany(
            "DELETE FROM reservations WHERE site = ? AND reservation_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM reservation_lines l WHERE l.site = reservations.site "
            "AND l.reservation_id = reservations.reservation_id)",
            [(site, rid) for rid in sorted({rid for rid, _ in changed})],
        )

    # -- snapshots --------------------------------------------------------------------------

    def begin_snapshot(
        self,
        site: str,
        snapshot_id: str,
        *,
        level: Level,
        bins: Container[str] | None = None,
        watermarks: Mapping[str, int] | None = None,
        now: float | None = None,
    ) -> SnapshotLoad:
        """Start replacing a site's stock; add rows to the load, then commit (or abort) it."""
        problems: list[FieldViolation] = []
        _check_id(site, "site_id", problems)
        _check_id(snapshot_id, "snapshot_id", problems)
        for source, mark in sorted((watermarks or {}).items()):
            _check_id(source, f"watermarks[{source!r}]", problems)
            if mark < 0:
                problems.append(FieldViolation(f"watermarks[{source!r}]", f"negative: {mark}"))
        if problems:
            raise InvalidInput(problems)
        now = time.time() if now is None else now
        with self.db.write() as tx:
            generation = self._next_generation(tx)
            tx.execute(
                "INSERT INTO stock_uploads (generation, site, touched_at) VALUES (?, ?, ?)",
                (generation, site, now),
            )
        return SnapshotLoad(
            self, site, snapshot_id, level, bins, dict(watermarks or {}), generation
        )

    def committed_snapshot(self, site: str, snapshot_id: str) -> SnapshotResult | None:
        """The result of a snapshot committed before under this id, or None.

        Lets a resent snapshot be answered as a duplicate before any of its rows is read.
        """
        with self.db.read() as tx:
            return self._snapshot_duplicate(tx, site, snapshot_id)

    def _snapshot_duplicate(self, tx: Tx, site: str, snapshot_id: str) -> SnapshotResult | None:
        row = tx.execute(
            "SELECT version, rows FROM stock_snapshots WHERE site = ? AND snapshot_id = ?",
            (site, snapshot_id),
        ).fetchone()
        if row is None:
            return None
        return SnapshotResult(site, snapshot_id, True, int(row[0]), int(row[1]))

    def _commit_snapshot(self, load: SnapshotLoad, now: float) -> SnapshotResult:
        site = load.site
        with self.db.write() as tx:
            tx.execute("DELETE FROM stock_uploads WHERE generation = ?", (load.generation,))
            duplicate = self._snapshot_duplicate(tx, site, load.snapshot_id)
            if duplicate is not None:
                old = load.generation
            else:
                current = self._lock_site(tx, site, load.level, create=True, now=now)
                old = current.generation
                conflicts = self._carry_over(tx, site, load, now)
                for source, mark in load.watermarks.items():
                    tx.execute(
                        "INSERT INTO stock_sources (site, source, max_sequence, watermark) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (site, source) DO UPDATE SET "
                        "watermark = excluded.watermark, max_sequence = CASE WHEN "
                        "excluded.max_sequence > stock_sources.max_sequence THEN "
                        "excluded.max_sequence ELSE stock_sources.max_sequence END",
                        (site, source, mark, mark),
                    )
                version = self._bump(
                    tx,
                    site,
                    current,
                    now,
                    generation=load.generation,
                    snapshot_id=load.snapshot_id,
                )
                tx.execute(
                    "INSERT INTO stock_snapshots (site, snapshot_id, version, rows, committed_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (site, load.snapshot_id, version, load.rows, now),
                )
        # The replaced generation is invisible from here on, and the watermarks now answer for
        # the events they cover: remove both outside the switch.
        self._drop_generation(site, old)
        if duplicate is None:
            self._drop_covered_events(site, load.watermarks)
        if duplicate is not None:
            return duplicate
        return SnapshotResult(site, load.snapshot_id, False, version, load.rows, conflicts)

    def _carry_over(self, tx: Tx, site: str, load: SnapshotLoad, now: float) -> list[EventResult]:
        """Apply again, on the new generation, the logged events above the watermarks.

        An event that no longer applies (the snapshot holds fewer units than it takes) is
        dropped from the log, so a resend is judged afresh, and reported.
        """
        if not load.watermarks:
            return []
        marks = sorted(load.watermarks.items())
        above = " OR ".join(["(source = ? AND sequence > ?)"] * len(marks))
        rows = tx.execute(
            "SELECT event_id, source, sequence, kind, sku, quantity, bin, to_bin, "
            f"reservation_id FROM stock_events WHERE site = ? AND ({above}) "
            "ORDER BY version, source, sequence",
            (site, *(x for mark in marks for x in mark)),
        ).fetchall()
        events = [
            StockEvent(r[0], r[1], int(r[2]), EventKind(r[3]), r[4], int(r[5]), r[6], r[7], r[8])
            for r in rows
        ]
        if not events:
            return []
        stock = _Stock(
            tx,
            site,
            load.generation,
            _rows(_Stock.send(tx, site, load.generation, (e.sku for e in events))),
        )
        conflicts = []
        for e in events:
            result = stock.apply(e, None, f"event {e.event_id!r}")
            if result.outcome is not Outcome.APPLIED:
                conflicts.append(result)
                tx.execute(
                    "DELETE FROM stock_events WHERE site = ? AND event_id = ?", (site, e.event_id)
                )
        stock.write()
        return conflicts

    def _drop_covered_events(self, site: str, watermarks: Mapping[str, int]) -> None:
        """Forget logged events at or below the watermarks (in slices on SQLite)."""
        for source, mark in sorted(watermarks.items()):
            while True:
                with self.db.write() as tx:
                    deleted = tx.execute(
                        "DELETE FROM stock_events WHERE site = ? AND event_id IN "
                        "(SELECT event_id FROM stock_events "
                        "WHERE site = ? AND source = ? AND sequence <= ? LIMIT ?)",
                        (site, site, source, mark, DELETE_SLICE_ROWS),
                    ).rowcount
                if deleted < DELETE_SLICE_ROWS:
                    break

    def _discard_load(self, site: str, generation: int) -> None:
        with self.db.write() as tx:
            tx.execute("DELETE FROM stock_staged WHERE generation = ?", (generation,))
            tx.execute("DELETE FROM stock_uploads WHERE generation = ?", (generation,))
        self._drop_generation(site, generation)

    def _analyze(self) -> None:
        """Refresh PostgreSQL's table statistics.

        Without them (a new database, or a table whose size just changed by a snapshot) the
        planner scans whole tables instead of using the keys: reads and event batches ran
        30-1000x slower until autovacuum came round (benchmarks/results/inventory.md).
        """
        if self.db.dialect == "postgresql":
            with self.db.write() as tx:
                tx.execute("ANALYZE stock, stock_events, stock_sources, reservation_lines")

    def _drop_generation(self, site: str, generation: int) -> None:
        """Delete a generation's rows that no reader sees (any more, or yet).

        On SQLite in slices, each its own transaction, so that event writers, which wait for the
        one write lock, are not held up for the seconds a million-row delete takes.
        """
        if self.db.dialect != "sqlite":
            with self.db.write() as tx:
                tx.execute(
                    "DELETE FROM stock WHERE site = ? AND generation = ?", (site, generation)
                )
            return
        deleted = DELETE_SLICE_ROWS
        while deleted >= DELETE_SLICE_ROWS:
            with self.db.write() as tx:
                deleted = tx.execute(
                    "DELETE FROM stock WHERE site = ? AND generation = ? AND sku IN "
                    "(SELECT DISTINCT sku FROM stock WHERE site = ? AND generation = ? LIMIT ?)",
                    (site, generation, site, generation, DELETE_SLICE_ROWS),
                ).rowcount

    # -- reservations -----------------------------------------------------------------------

    def reserve(
        self,
        site: str,
        reservation_id: str,
        lines: Sequence[ReservationLine],
        *,
        level: Level,
        ttl_s: float,
        replace: bool = False,
        now: float | None = None,
    ) -> ReserveResult:
        """Hold every line's units for ``ttl_s`` seconds, or none of them.

        A repeat of the same reservation (same id and lines) is a duplicate and changes
        nothing. The same id with other lines is invalid, unless ``replace``: then the new lines
        replace the old ones in one step (a replanned wave), the old units counting as
        available to it; when the new lines cannot all be held, the old reservation stays.
        """
        now = time.time() if now is None else now
        problems: list[FieldViolation] = []
        _check_id(reservation_id, "reservation_id", problems)
        if not lines:
            problems.append(FieldViolation("lines", "must not be empty"))
        if not (0 < ttl_s < math.inf):
            problems.append(FieldViolation("ttl", f"must be positive, got {ttl_s} s"))
        for i, line in enumerate(lines):
            _check_id(line.sku, f"lines[{i}].sku", problems)
            if level is Level.BIN:
                _check_id(line.bin, f"lines[{i}].bin_id", problems)
            elif line.bin:
                problems.append(FieldViolation(f"lines[{i}].bin_id", "must be empty at an FC"))
            if not 0 < line.quantity <= MAX_QUANTITY:
                problems.append(
                    FieldViolation(f"lines[{i}].quantity", f"must be positive, got {line.quantity}")
                )
        if problems:
            raise InvalidInput(problems)
        fingerprint = hashlib.blake2b(
            repr([(x.sku, x.bin, x.quantity) for x in lines]).encode(), digest_size=12
        ).hexdigest()
        with self.db.write() as tx:
            current = self._lock_site(tx, site, level, create=level is Level.BIN, now=now)
            row = tx.execute(
                "SELECT fingerprint, expires_at FROM reservations WHERE site = ? "
                "AND reservation_id = ? AND expires_at > ?",
                (site, reservation_id, now),
            ).fetchone()
            if row is not None and row[0] == fingerprint:
                return ReserveResult(
                    site, reservation_id, True, True, current.version, float(row[1])
                )
            if row is not None and not replace:
                raise InvalidInput.single(
                    "reservation_id", f"{reservation_id!r} is already held with other lines"
                )
            wanted: dict[tuple[str, str], int] = defaultdict(int)
            for line in lines:
                wanted[(line.sku, line.bin)] += line.quantity
            have = {
                (x.sku, x.bin): x.available
                for x in self._lines(
                    tx,
                    site,
                    current.generation,
                    now,
                    skus=[k[0] for k in wanted],
                    exclude_reservation=reservation_id,
                )
            }
            shortages = [
                Shortage(i, x.sku, x.bin, x.quantity, have.get((x.sku, x.bin), 0))
                for i, x in enumerate(lines)
                if wanted[(x.sku, x.bin)] > have.get((x.sku, x.bin), 0)
            ]
            if shortages:
                return ReserveResult(
                    site, reservation_id, False, False, current.version, 0.0, shortages
                )
            # The replaced one, or an expired one lingering until maintenance.
            self._drop_reservation(tx, site, reservation_id)
            expires = now + ttl_s
            tx.execute(
                "INSERT INTO reservations (site, reservation_id, fingerprint, created_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?)",
                (site, reservation_id, fingerprint, now, expires),
            )
            tx.executemany(
                "INSERT INTO reservation_lines (site, reservation_id, line, sku, bin, quantity) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(site, reservation_id, i, x.sku, x.bin, x.quantity) for i, x in enumerate(lines)],
            )
            version = self._bump(tx, site, current, now)
        return ReserveResult(site, reservation_id, True, False, version, expires)

    def release(self, site: str, reservation_id: str, *, now: float | None = None) -> int | None:
        """Release a reservation; the site's new version, or None when nothing was held."""
        now = time.time() if now is None else now
        with self.db.write() as tx:
            row = tx.execute(
                "SELECT level, generation, version, snapshot_id FROM stock_sites WHERE site = ?"
                + tx.lock_clause,
                (site,),
            ).fetchone()
            if row is None:
                return None
            current = _Site(Level(row[0]), int(row[1]), int(row[2]), str(row[3]))
            active = tx.execute(
                "SELECT 1 FROM reservations WHERE site = ? AND reservation_id = ? "
                "AND expires_at > ?",
                (site, reservation_id, now),
            ).fetchone()
            self._drop_reservation(tx, site, reservation_id)
            if active is None:
                return None
            return self._bump(tx, site, current, now)

    @staticmethod
    def _drop_reservation(tx: Tx, site: str, reservation_id: str) -> None:
        for table in ("reservation_lines", "reservations"):
            tx.execute(
                f"DELETE FROM {table} WHERE site = ? AND reservation_id = ?", (site, reservation_id)
            )

    # -- reads ------------------------------------------------------------------------------

    def stock(
        self,
        site: str,
        *,
        skus: Sequence[str] = (),
        bins: Sequence[str] = (),
        exclude_reservation: str = "",
        now: float | None = None,
    ) -> SiteStock | None:
        """Stock of a site by SKU or by bin (or both: the lines matching both), or None.

        Everything comes from one consistent state, the one ``version`` names. Units held by
        ``exclude_reservation`` count as available (for replanning the wave that holds them).
        """
        now = time.time() if now is None else now
        # One round trip to PostgreSQL for the transaction's start, the site and its lines.
        with self.db.read() as tx, tx.pipeline():
            head = tx.execute("SELECT level, version FROM stock_sites WHERE site = ?", (site,))
            lines = self._lines(
                tx, site, None, now, skus=skus, bins=bins, exclude_reservation=exclude_reservation
            )
            row = head.fetchone()
        if row is None:
            return None
        return SiteStock(site, Level(row[0]), int(row[1]), lines)

    def stock_at_fcs(
        self, skus: Sequence[str], *, sites: Sequence[str] = (), now: float | None = None
    ) -> list[SiteStock]:
        """Stock of ``skus`` at every fulfillment center holding them (or at ``sites``)."""
        now = time.time() if now is None else now
        with self.db.read() as tx:
            query = "SELECT site, generation, version FROM stock_sites WHERE level = 'fc'"
            params: list[object] = []
            if sites:
                cond, params = tx.in_list("site", sorted(set(sites)))
                query += f" AND {cond}"
            found = tx.execute(query + " ORDER BY site", params).fetchall()
            out = []
            for site, generation, version in found:
                lines = self._lines(tx, site, int(generation), now, skus=skus)
                if lines or sites:
                    out.append(SiteStock(site, Level.FC, int(version), lines))
        return out

    @staticmethod
    def _lines(
        tx: Tx,
        site: str,
        generation: int | None,
        now: float,
        *,
        skus: Sequence[str] = (),
        bins: Sequence[str] = (),
        exclude_reservation: str = "",
    ) -> list[StockLine]:
        """Lines matching ``skus``/``bins`` with what active reservations hold of them.

        ``generation`` None reads the site's current one, found by the same statement (so that
        inside :meth:`Tx.pipeline` the lines need not wait for the site's row). The reservation
        query only runs when a reservation is active, so the keys are rarely sent twice.
        """
        conds: list[str] = ["site = ?"]
        params: list[object] = [site]
        if generation is None:
            conds.append("generation = (SELECT generation FROM stock_sites WHERE site = ?)")
            params.append(site)
        else:
            conds.append("generation = ?")
            params.append(generation)
        reserved_conds = ["l.site = ?", "r.expires_at > ?", "l.reservation_id <> ?"]
        reserved_params: list[object] = [site, now, exclude_reservation]
        for column, values in (("sku", skus), ("bin", bins)):
            if values:
                cond, extra = tx.in_list(column, sorted(set(values)))
                conds.append(cond)
                params += extra
                cond, extra = tx.in_list(f"l.{column}", sorted(set(values)))
                reserved_conds.append(cond)
                reserved_params += extra
        found = tx.execute(
            f"SELECT sku, bin, on_hand FROM stock WHERE {' AND '.join(conds)} ORDER BY sku, bin",
            params,
        )
        held: dict[tuple[str, str], int] = {}
        if tx.execute(f"SELECT {_ANY_HELD}", (site, now, exclude_reservation)).fetchone()[0]:
            held = {
                (sku, bin_): int(total)
                for sku, bin_, total in tx.execute(
                    "SELECT l.sku, l.bin, SUM(l.quantity) FROM reservation_lines l "
                    "JOIN reservations r "
                    "ON r.site = l.site AND r.reservation_id = l.reservation_id "
                    f"WHERE {' AND '.join(reserved_conds)} GROUP BY l.sku, l.bin",
                    reserved_params,
                ).fetchall()
            }
        rows = found.fetchall()
        if not held:  # the common case, built in C: a read returns thousands of lines
            return list(itertools.starmap(StockLine, rows))
        return [StockLine(sku, b, q, held.get((sku, b), 0)) for sku, b, q in rows]

    def state(self, site: str) -> SiteState | None:
        """A site's version and the progress of every event source, or None."""
        with self.db.read() as tx:
            row = tx.execute(
                "SELECT level, version, snapshot_id, updated_at FROM stock_sites WHERE site = ?",
                (site,),
            ).fetchone()
            if row is None:
                return None
            sources = tx.execute(
                "SELECT source, max_sequence, watermark FROM stock_sources WHERE site = ? "
                "ORDER BY source",
                (site,),
            ).fetchall()
        return SiteState(
            site,
            Level(row[0]),
            int(row[1]),
            str(row[2]),
            float(row[3]),
            [SourceState(s, int(m), int(w)) for s, m, w in sources],
        )

    # -- upkeep -----------------------------------------------------------------------------

    def maintain(self, now: float | None = None) -> MaintenanceResult:
        """Remove expired reservations, event ids past retention and abandoned loads; refresh
        PostgreSQL's statistics."""
        now = time.time() if now is None else now
        with self.db.write() as tx:
            expired = [
                (site, rid)
                for site, rid in tx.execute(
                    "SELECT site, reservation_id FROM reservations WHERE expires_at <= ?", (now,)
                ).fetchall()
            ]
            for site, rid in expired:
                self._drop_reservation(tx, site, rid)
            pruned = tx.execute(
                "DELETE FROM stock_events WHERE recorded_at < ?", (now - self.event_retention_s,)
            ).rowcount
            stale = [
                (str(site), int(generation))
                for site, generation in tx.execute(
                    "SELECT site, generation FROM stock_uploads WHERE touched_at < ?",
                    (now - ABANDONED_LOAD_S,),
                ).fetchall()
            ]
        for site, generation in stale:
            self._discard_load(site, generation)
        self._analyze()
        return MaintenanceResult(len(expired), max(pruned, 0), len(stale))

    def close(self) -> None:
        """Close the database."""
        self.db.close()


class SnapshotLoad:
    """A snapshot being loaded: rows go into a generation no reader sees until :meth:`commit`.

    Rows for the same SKU and bin add up (a WMS may report one row per lot or pallet). On
    SQLite each chunk goes straight into ``stock`` (stored in key order whatever the order of
    arrival); on PostgreSQL into ``stock_staged``, and :meth:`commit` moves them over sorted.
    """

    def __init__(
        self,
        store: InventoryStore,
        site: str,
        snapshot_id: str,
        level: Level,
        bins: Container[str] | None,
        watermarks: dict[str, int],
        generation: int,
    ) -> None:
        self.store, self.site, self.snapshot_id, self.level = store, site, snapshot_id, level
        self.bins, self.watermarks, self.generation = bins, watermarks, generation
        self.rows = 0
        self._done = False

    def add(self, rows: Iterable[tuple[str, str, int]], *, now: float | None = None) -> None:
        """Load ``(bin, sku, quantity)`` rows (bin ``""`` at an FC) in bounded-size chunks.

        Raises
        ------
        InvalidInput
            A row with an unknown bin, an empty SKU or a negative quantity, named by its index
            in the whole snapshot; the load is then aborted and nothing changes.
        """
        chunk: list[tuple[str, int, str, str, int]] = []
        try:
            for bin_, sku, quantity in rows:
                self._check(self.rows + len(chunk), bin_, sku, quantity)
                if quantity:
                    chunk.append((self.site, self.generation, sku, bin_, quantity))
                else:
                    self.rows += 1
                if len(chunk) >= SNAPSHOT_CHUNK_ROWS:
                    self._write(chunk, now)
                    chunk = []
            self._write(chunk, now)
        except BaseException:
            self.abort()
            raise

    def _check(self, index: int, bin_: str, sku: str, quantity: int) -> None:
        where = f"rows[{index}]"
        if not sku or len(sku) > MAX_ID_LENGTH:
            raise InvalidInput.single(f"{where}.sku", f"must be 1-{MAX_ID_LENGTH} characters")
        if not 0 <= quantity <= MAX_QUANTITY:
            raise InvalidInput.single(f"{where}.quantity", f"must be >= 0, got {quantity}")
        if self.level is Level.FC:
            if bin_:
                raise InvalidInput.single(f"{where}.bin_id", f"must be empty at an FC: {bin_!r}")
        elif self.bins is not None and bin_ not in self.bins:
            raise NotFound("bin", bin_, f"{where}.bin_id")

    def _write(self, chunk: list[tuple[str, int, str, str, int]], now: float | None) -> None:
        """Store one chunk of ``(site, generation, sku, bin, units)`` rows in its own transaction.

        On PostgreSQL a plain COPY into the unindexed staging table. Staging and the sorted
        insert of :meth:`_place` together took less time than the upsert of each chunk into
        ``stock`` they replace (a million rows: 11-12.5 s against 14.5-17 s), which wrote the key
        index in random order.
        """
        if self._done:
            raise RuntimeError("snapshot load already committed or aborted")
        if not chunk:
            return
        now = time.time() if now is None else now
        with self.store.db.write() as tx:
            if tx.dialect == "postgresql":
                # Staged as they come; :meth:`_place` sums and sorts them at the commit.
                tx.copy_rows(
                    "stock_staged",
                    ("generation", "sku", "bin", "on_hand"),
                    (row[1:] for row in chunk),
                )
            else:
                tx.executemany(
                    "INSERT INTO stock (site, generation, sku, bin, on_hand) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (site, generation, sku, bin) "
                    "DO UPDATE SET on_hand = stock.on_hand + excluded.on_hand",
                    chunk,
                )
            tx.execute(
                "UPDATE stock_uploads SET touched_at = ? WHERE generation = ?",
                (now, self.generation),
            )
        self.rows += len(chunk)

    def commit(self, *, now: float | None = None) -> SnapshotResult:
        """Make the loaded rows the site's stock, atomically; see :class:`InventoryStore`."""
        if self._done:
            raise RuntimeError("snapshot load already committed or aborted")
        self._done = True
        try:
            self._place()
            # Statistics that know the new rows before readers switch to them (PostgreSQL).
            self.store._analyze()
            return self.store._commit_snapshot(self, time.time() if now is None else now)
        except BaseException:
            self.store._discard_load(self.site, self.generation)
            raise

    def _place(self) -> None:
        """PostgreSQL: insert the staged rows into ``stock``, summed and in key order.

        PostgreSQL stores rows in the order they are inserted, and a snapshot arrives in bin
        order: loaded as it came, each SKU's rows lay on as many heap pages as it has bins, and
        a 1,000-SKU read fetched some 5,000 pages in random order. Sorted, a SKU's rows share a
        page (a third less read time), and the key index, filled in order, is denser. Its own
        transaction, before the switch: the new generation's rows are invisible until then,
        and the site's row is not locked meanwhile, so event batches go on.

        The staged rows are deleted in the same transaction (0.3 s for a million; VACUUM
        reclaims their space for the next load).
        """
        if self.store.db.dialect != "postgresql":
            return
        with self.store.db.write() as tx:
            tx.execute(
                "INSERT INTO stock (site, generation, sku, bin, on_hand) "
                "SELECT ?, generation, sku, bin, SUM(on_hand) FROM stock_staged "
                "WHERE generation = ? GROUP BY generation, sku, bin ORDER BY sku, bin",
                (self.site, self.generation),
            )
            tx.execute("DELETE FROM stock_staged WHERE generation = ?", (self.generation,))

    def abort(self) -> None:
        """Discard the loaded rows; the site's stock stays as it was."""
        if not self._done:
            self._done = True
            self.store._discard_load(self.site, self.generation)
