"""InventoryService: the WMS's snapshots and events in, stock and reservations out.

Thin by design: validate the request's shape, resolve the site's level (a layout with the site's
id makes it a bin-level warehouse, otherwise it is a fulfillment center), convert, call
:class:`~services.inventory.InventoryStore`, convert back and count events in the metrics.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import grpc
from warehouse.v1 import inventory_pb2 as pb
from warehouse.v1 import inventory_pb2_grpc

from routing.errors import FieldViolation, InvalidInput, NotFound
from services import convert
from services.inventory import (
    EventKind,
    EventResult,
    InventoryStore,
    Level,
    Outcome,
    Reason,
    ReservationLine,
    SiteStock,
    StockEvent,
)
from services.layouts import LayoutRegistry
from services.metrics import ServerMetrics

log = logging.getLogger(__name__)

#: Suffix of seed stock files: ``<site id>.stock.csv`` with columns bin_id, sku, quantity.
STOCK_FILE_SUFFIX = ".stock.csv"

#: Most events in one ApplyEvents call, SKUs or bins in one GetStock call, lines in a reservation.
MAX_EVENTS_PER_CALL = 10_000
MAX_KEYS_PER_READ = 10_000
MAX_RESERVATION_LINES = 10_000

_KINDS = {
    pb.STOCK_EVENT_KIND_RECEIPT: EventKind.RECEIPT,
    pb.STOCK_EVENT_KIND_PICK: EventKind.PICK,
    pb.STOCK_EVENT_KIND_MOVE: EventKind.MOVE,
    pb.STOCK_EVENT_KIND_ADJUSTMENT: EventKind.ADJUSTMENT,
}
_OUTCOMES = {
    Outcome.APPLIED: pb.EVENT_OUTCOME_APPLIED,
    Outcome.DUPLICATE: pb.EVENT_OUTCOME_DUPLICATE,
    Outcome.REJECTED: pb.EVENT_OUTCOME_REJECTED,
}
_REASONS = {
    Reason.NONE: pb.EVENT_REASON_UNSPECIFIED,
    Reason.REPEATED: pb.EVENT_REASON_REPEATED,
    Reason.IN_SNAPSHOT: pb.EVENT_REASON_IN_SNAPSHOT,
    Reason.INVALID: pb.EVENT_REASON_INVALID,
    Reason.UNKNOWN_BIN: pb.EVENT_REASON_UNKNOWN_BIN,
    Reason.INSUFFICIENT_STOCK: pb.EVENT_REASON_INSUFFICIENT_STOCK,
    Reason.ID_REUSED: pb.EVENT_REASON_ID_REUSED,
}
_LEVELS = {Level.BIN: pb.STOCK_LEVEL_BIN, Level.FC: pb.STOCK_LEVEL_FULFILLMENT_CENTER}


def _require(value: str, field: str) -> None:
    if not value:
        raise InvalidInput.single(field, "must not be empty")


def _at_most(count: int, limit: int, field: str) -> None:
    if count > limit:
        raise InvalidInput.single(field, f"at most {limit:,} per call, got {count:,}")


#: Largest source sequence number or watermark: the store keeps them as signed 64-bit integers.
MAX_SEQUENCE = 2**63 - 1
#: Most units one event may move: far beyond any warehouse, and it keeps stock sums in 64 bits.
MAX_EVENT_QUANTITY = 10**12


def _event(message: pb.StockEvent, where: str) -> StockEvent | FieldViolation:
    kind = _KINDS.get(message.kind)
    if kind is None:
        return FieldViolation(f"{where}.kind", f"must be a stock event kind, got {message.kind}")
    if message.sequence > MAX_SEQUENCE:
        return FieldViolation(
            f"{where}.sequence", f"must be at most {MAX_SEQUENCE}, got {message.sequence}"
        )
    if abs(message.quantity) > MAX_EVENT_QUANTITY:
        return FieldViolation(
            f"{where}.quantity",
            f"must be within {MAX_EVENT_QUANTITY:,} units, got {message.quantity:,}",
        )
    return StockEvent(
        event_id=message.event_id,
        source=message.source,
        sequence=message.sequence,
        kind=kind,
        sku=message.sku,
        quantity=message.quantity,
        bin=message.bin_id,
        to_bin=message.to_bin_id,
        reservation_id=message.reservation_id,
    )


def _event_result(result: EventResult) -> pb.EventResult:
    return pb.EventResult(
        event_id=result.event_id,
        outcome=_OUTCOMES[result.outcome],
        reason=_REASONS[result.reason],
        message=result.message,
    )


def site_stock_message(stock: SiteStock) -> pb.SiteStock:
    """The proto form of one site's stock."""
    return pb.SiteStock(
        site_id=stock.site,
        level=_LEVELS[stock.level],
        version=stock.version,
        lines=[
            pb.StockLine(
                sku=x.sku,
                bin_id=x.bin,
                on_hand=x.on_hand,
                reserved=x.reserved,
                available=x.available,
            )
            for x in stock.lines
        ],
    )


class InventoryService(inventory_pb2_grpc.InventoryServiceServicer):
    """Serves an :class:`InventoryStore`; bins are checked against the layouts of ``registry``."""

    def __init__(
        self,
        store: InventoryStore,
        registry: LayoutRegistry,
        metrics: ServerMetrics,
        *,
        max_reservation_ttl_s: float = 24 * 3600.0,
    ) -> None:
        self._store = store
        self._registry = registry
        self._metrics = metrics
        self._max_ttl_s = max_reservation_ttl_s

    def _site(self, site_id: str, field: str = "site_id") -> tuple[Level, Mapping[str, int] | None]:
        """A site's level, and its bins when it is a warehouse with a layout."""
        _require(site_id, field)
        try:
            oracle = self._registry.oracle(site_id)
        except NotFound:
            return Level.FC, None
        return Level.BIN, oracle.bin_index

    # -- writes -----------------------------------------------------------------------------

    def ReplaceStock(  # noqa: N802
        self, request_iterator: Iterator[pb.ReplaceStockRequest], context: grpc.ServicerContext
    ) -> pb.ReplaceStockResponse:
        """Load a snapshot from the stream and switch the site to it when the stream ends."""
        first = next(request_iterator, None)
        if first is None or not first.HasField("header"):
            raise InvalidInput.single("header", "required in the first message")
        header = first.header
        _require(header.site_id, "header.site_id")
        if header.level == pb.STOCK_LEVEL_UNSPECIFIED:
            raise InvalidInput.single("header.level", "required")
        level, bins = self._site(header.site_id, "header.site_id")
        wanted = Level.BIN if header.level == pb.STOCK_LEVEL_BIN else Level.FC
        if wanted is Level.BIN and level is Level.FC:
            raise NotFound("warehouse layout", header.site_id, "header.site_id")
        if wanted is Level.FC and level is Level.BIN:
            raise InvalidInput.single(
                "header.level",
                f"site {header.site_id!r} is a warehouse with a layout: use STOCK_LEVEL_BIN",
            )
        with self._metrics.store_call("read_state"):
            done = self._store.committed_snapshot(header.site_id, header.snapshot_id)
        if done is not None:  # a resend: answer at once, without reading the rows again
            self._metrics.observe_snapshot("duplicate")
            return pb.ReplaceStockResponse(
                site_id=done.site,
                snapshot_id=done.snapshot_id,
                duplicate=True,
                version=done.version,
                rows=done.rows,
            )
        for source, mark in sorted(header.watermarks.items()):
            if mark > MAX_SEQUENCE:
                raise InvalidInput.single(
                    f"header.watermarks[{source!r}]", f"must be at most {MAX_SEQUENCE}, got {mark}"
                )
        load = self._store.begin_snapshot(
            header.site_id,
            header.snapshot_id,
            level=level,
            bins=bins,
            watermarks=dict(header.watermarks),
        )

        ended = False

        def rows() -> Iterator[tuple[str, str, int]]:
            nonlocal ended
            message: pb.ReplaceStockRequest | None = first
            index = 0
            while message is not None:
                if index and message.HasField("header"):
                    raise InvalidInput.single("header", "allowed in the first message only")
                if ended:
                    raise InvalidInput.single("end", "set on a message that was not the last")
                for row in message.rows:
                    yield row.bin_id, row.sku, row.quantity
                ended = message.end
                index += 1
                message = next(request_iterator, None)

        try:
            load.add(rows())
            complete = ended and context.is_active()
            if complete:
                with self._metrics.store_call("snapshot_commit"):
                    result = load.commit()
        except Exception:
            self._metrics.observe_snapshot("failed")
            raise
        if not complete:
            load.abort()
            self._metrics.observe_snapshot("aborted")
            raise InvalidInput.single(
                "end", "the stream ended without a message saying end; nothing changed"
            )
        self._metrics.observe_snapshot(
            "duplicate" if result.duplicate else "committed", result.rows
        )
        return pb.ReplaceStockResponse(
            site_id=result.site,
            snapshot_id=result.snapshot_id,
            duplicate=result.duplicate,
            version=result.version,
            rows=result.rows,
            conflicts=[_event_result(c) for c in result.conflicts],
        )

    def ApplyEvents(  # noqa: N802
        self, request: pb.ApplyEventsRequest, context: grpc.ServicerContext
    ) -> pb.ApplyEventsResponse:
        """Apply a batch of events; each is applied, a duplicate or rejected with a reason."""
        _at_most(len(request.events), MAX_EVENTS_PER_CALL, "events")
        level, bins = self._site(request.site_id)
        converted = [_event(e, f"events[{i}]") for i, e in enumerate(request.events)]
        bad = {i: v for i, v in enumerate(converted) if isinstance(v, FieldViolation)}
        good = [(i, e) for i, e in enumerate(converted) if isinstance(e, StockEvent)]
        with self._metrics.store_call("apply_events"):
            result = self._store.apply_events(
                request.site_id,
                [e for _, e in good],
                level=level,
                bins=bins,
                names=[f"events[{i}]" for i, _ in good],
            )
        results: list[pb.EventResult | None] = [None] * len(converted)
        for i, violation in bad.items():
            results[i] = pb.EventResult(
                event_id=request.events[i].event_id,
                outcome=pb.EVENT_OUTCOME_REJECTED,
                reason=pb.EVENT_REASON_INVALID,
                message=str(violation),
            )
        for (i, _), r in zip(good, result.results, strict=True):
            results[i] = _event_result(r)
        out = [r for r in results if r is not None]
        counts = {o: sum(r.outcome == o for r in out) for o in _OUTCOMES.values()}
        events = self._metrics.inventory_events
        if bad:
            events.labels(Outcome.REJECTED.value, Reason.INVALID.value).inc(len(bad))
        for done in result.results:
            events.labels(done.outcome.value, done.reason.value or "none").inc()
        return pb.ApplyEventsResponse(
            site_id=request.site_id,
            version=result.version,
            applied=counts[pb.EVENT_OUTCOME_APPLIED],
            duplicates=counts[pb.EVENT_OUTCOME_DUPLICATE],
            rejected=counts[pb.EVENT_OUTCOME_REJECTED],
            results=out,
        )

    def Reserve(  # noqa: N802
        self, request: pb.ReserveRequest, context: grpc.ServicerContext
    ) -> pb.ReserveResponse:
        """Hold every line's units, or none, for the requested time."""
        _at_most(len(request.lines), MAX_RESERVATION_LINES, "lines")
        level, bins = self._site(request.site_id)
        if not request.HasField("ttl"):
            raise InvalidInput.single("ttl", "required")
        ttl_s = request.ttl.ToNanoseconds() / 1e9
        if ttl_s > self._max_ttl_s:
            raise InvalidInput.single(
                "ttl", f"at most {self._max_ttl_s:g} s on this server, got {ttl_s:g} s"
            )
        if bins is not None:
            for i, line in enumerate(request.lines):
                if line.bin_id and line.bin_id not in bins:
                    raise NotFound("bin", line.bin_id, f"lines[{i}].bin_id")
        with self._metrics.store_call("reserve"):
            result = self._store.reserve(
                request.site_id,
                request.reservation_id,
                [ReservationLine(x.sku, x.bin_id, x.quantity) for x in request.lines],
                level=level,
                ttl_s=ttl_s,
            )
        response = pb.ReserveResponse(
            site_id=result.site,
            reservation_id=result.reservation_id,
            reserved=result.reserved,
            duplicate=result.duplicate,
            version=result.version,
            shortages=[
                pb.Shortage(
                    line=s.line,
                    sku=s.sku,
                    bin_id=s.bin,
                    requested=s.requested,
                    available=s.available,
                )
                for s in result.shortages
            ],
        )
        if result.reserved:
            response.expire_time.CopyFrom(convert.timestamp(result.expires_at))
        return response

    def ReleaseReservation(  # noqa: N802
        self, request: pb.ReleaseReservationRequest, context: grpc.ServicerContext
    ) -> pb.ReleaseReservationResponse:
        """Release what a reservation still holds."""
        _require(request.site_id, "site_id")
        _require(request.reservation_id, "reservation_id")
        with self._metrics.store_call("release"):
            version = self._store.release(request.site_id, request.reservation_id)
        if version is None:
            with self._metrics.store_call("read_state"):
                state = self._store.state(request.site_id)
            return pb.ReleaseReservationResponse(
                released=False, version=0 if state is None else state.version
            )
        return pb.ReleaseReservationResponse(released=True, version=version)

    # -- reads ------------------------------------------------------------------------------

    def GetStock(  # noqa: N802
        self, request: pb.GetStockRequest, context: grpc.ServicerContext
    ) -> pb.GetStockResponse:
        """Stock by SKU and/or bin, per site, each read at one version."""
        if not request.skus and not request.bin_ids:
            raise InvalidInput.single("skus", "give skus, bin_ids or both")
        _at_most(len(request.skus), MAX_KEYS_PER_READ, "skus")
        _at_most(len(request.bin_ids), MAX_KEYS_PER_READ, "bin_ids")
        skus, bins = list(request.skus), list(request.bin_ids)
        if not request.site_ids:
            if bins:
                raise InvalidInput.single("site_ids", "required when reading by bin")
            with self._metrics.store_call("read_fc_stock"):
                at_fcs = self._store.stock_at_fcs(skus)
            return pb.GetStockResponse(sites=[site_stock_message(s) for s in at_fcs])
        sites = []
        for i, site_id in enumerate(request.site_ids):
            level, _ = self._site(site_id, f"site_ids[{i}]")
            with self._metrics.store_call("read_stock"):
                stock = self._store.stock(site_id, skus=skus, bins=bins)
            if stock is None:
                if level is Level.FC:
                    raise NotFound("site", site_id, f"site_ids[{i}]")
                stock = SiteStock(site_id, Level.BIN, 0, [])  # a warehouse with no stock yet
            sites.append(site_stock_message(stock))
        return pb.GetStockResponse(sites=sites)

    def GetSiteState(  # noqa: N802
        self, request: pb.GetSiteStateRequest, context: grpc.ServicerContext
    ) -> pb.SiteState:
        """A site's version and the progress of its event sources."""
        level, _ = self._site(request.site_id)
        with self._metrics.store_call("read_state"):
            state = self._store.state(request.site_id)
        if state is None:
            if level is Level.FC:
                raise NotFound("site", request.site_id, "site_id")
            return pb.SiteState(site_id=request.site_id, level=pb.STOCK_LEVEL_BIN)
        return pb.SiteState(
            site_id=state.site,
            level=_LEVELS[state.level],
            version=state.version,
            snapshot_id=state.snapshot_id,
            update_time=convert.timestamp(state.updated_at),
            sources=[
                pb.SourceState(source=s.source, max_sequence=s.max_sequence, watermark=s.watermark)
                for s in state.sources
            ],
        )


def load_stock_files(store: InventoryStore, registry: LayoutRegistry, directory: Path) -> list[str]:
    """Seed sites that have no stock yet from ``<site>.stock.csv`` files; return the sites seeded.

    A file seeds its site only while the inventory has never heard of it, so a restart never
    overwrites what the WMS has sent since. A site with a layout gets bin-level stock, any other
    FC-level stock (empty bin_id column).

    Raises
    ------
    ValueError
        A file with a bad row, naming the file, the row and the field.
    """
    seeded: list[str] = []
    for path in sorted(directory.glob(f"*{STOCK_FILE_SUFFIX}")):
        site = path.name.removesuffix(STOCK_FILE_SUFFIX)
        if store.state(site) is not None:
            continue
        try:
            oracle = registry.oracle(site)
            level, bins = Level.BIN, oracle.bin_index
        except NotFound:
            level, bins = Level.FC, None
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        load = store.begin_snapshot(site, f"file:{path.name}:{digest}", level=level, bins=bins)
        with path.open(newline="", encoding="utf-8") as f:
            rows = csv.DictReader(f)
            try:
                load.add((r["bin_id"], r["sku"], int(r["quantity"])) for r in rows)
            except (InvalidInput, NotFound, KeyError, ValueError) as exc:
                raise ValueError(f"{path} (line {rows.line_num}): {exc}") from None
        result = load.commit()
        seeded.append(site)
        log.info("seeded %s stock of %r from %s (%d rows)", level.value, site, path, result.rows)
    return seeded
