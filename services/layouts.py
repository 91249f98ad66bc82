"""The layout registry: stored layouts and their compiled distance oracles.

A layout is compiled to a :class:`~routing.oracle.DistanceOracle` once and shared by every
request. Oracles are cached by ``(id, version, updated_at)`` as read from the store, so a layout
put over gRPC (or by another server process on the same file) replaces the cached oracle at the
next request. Layout files (YAML or JSON in the proto JSON mapping of ``warehouse.v1.Layout``)
are loaded from a directory at start and persisted, so a restart keeps them.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path

import yaml
from google.protobuf import json_format
from warehouse.v1 import layout_pb2

from routing.errors import InvalidInput, NotFound
from routing.oracle import DistanceOracle
from services import convert
from services.store import LayoutStore, StoredLayout

log = logging.getLogger(__name__)

LAYOUT_FILE_SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

Stamp = tuple[str, int, float]


def compile_layout(layout: layout_pb2.Layout, field: str = "layout") -> DistanceOracle:
    """Validate and compile a ``Layout`` message; violations are named under ``field``."""
    if not layout.id:
        raise InvalidInput.single(f"{field}.id", "must not be empty")
    domain = convert.layout_to_domain(layout, field)
    with convert.layout_errors(layout, field):
        return DistanceOracle(domain)


def _canonical(layout: layout_pb2.Layout, bin_count: int) -> bytes:
    """Stored form: the caller's layout with output-only fields cleared, plus the bin count."""
    stored = layout_pb2.Layout()
    stored.CopyFrom(layout)
    stored.ClearField("version")
    stored.ClearField("update_time")
    stored.bin_count = bin_count
    return stored.SerializeToString(deterministic=True)


def _message(row: StoredLayout, view: layout_pb2.LayoutView.ValueType) -> layout_pb2.Layout:
    out = layout_pb2.Layout.FromString(row.layout)
    out.version = row.version
    out.update_time.CopyFrom(convert.timestamp(row.updated_at))
    if view == layout_pb2.LAYOUT_VIEW_BASIC:
        out.ClearField("kind")
    return out


class LayoutRegistry:
    """Layouts by id, backed by a :class:`LayoutStore`, with a cache of compiled oracles."""

    def __init__(self, store: LayoutStore, cache_size: int = 16, refresh_s: float = 0.0) -> None:
        self.store = store
        self._cache: OrderedDict[Stamp, DistanceOracle] = OrderedDict()
        self._cache_size = cache_size
        #: How long a layout's stamp, once read from the store, is trusted without asking again.
        #: Puts and deletes through this registry take effect at once whatever the value; a put
        #: by another process sharing the store is seen within ``refresh_s``. Every store read
        #: releases the GIL, and on a busy server each release queues behind the other threads,
        #: so reading once per request cost more than the solve itself.
        self.refresh_s = refresh_s
        self._fresh: dict[str, tuple[float, Stamp]] = {}
        self._lock = threading.Lock()
        self._compile_lock = threading.Lock()

    # -- writes -------------------------------------------------------------------------------

    def put(self, layout: layout_pb2.Layout, *, validate_only: bool = False) -> layout_pb2.Layout:
        """Validate, compile and store ``layout``; return it as stored (with its new version).

        With ``validate_only`` nothing is stored and the returned layout has version 0.
        """
        oracle = compile_layout(layout)
        data = _canonical(layout, oracle.n_bins)
        if validate_only:
            return layout_pb2.Layout.FromString(data)
        row = self.store.put(layout.id, data)
        self._remember((row.id, row.version, row.updated_at), oracle)
        log.info("layout %r stored as version %d (%d bins)", row.id, row.version, oracle.n_bins)
        return _message(row, layout_pb2.LAYOUT_VIEW_FULL)

    def delete(self, warehouse_id: str) -> None:
        """Delete a layout; :class:`NotFound` when there is none."""
        if not self.store.delete(warehouse_id):
            raise NotFound("warehouse", warehouse_id, "warehouse_id")
        with self._lock:
            self._fresh.pop(warehouse_id, None)
            for key in [k for k in self._cache if k[0] == warehouse_id]:
                del self._cache[key]

    def load_dir(self, directory: Path) -> list[str]:
        """Load every layout file in ``directory``; return the ids loaded.

        A file holds one layout, or several as YAML documents separated by ``---``. A layout
        whose stored form already matches its file keeps its version; a changed file wins over
        what was put over gRPC, because the files are the deployment's configuration.

        Raises
        ------
        ValueError
            A file that is not a valid layout (naming the file and the field).
        """
        loaded: list[str] = []
        for path in sorted(directory.iterdir()):
            if path.suffix.lower() not in LAYOUT_FILE_SUFFIXES or not path.is_file():
                continue
            with path.open(encoding="utf-8") as f:
                documents = [d for d in yaml.safe_load_all(f) if d is not None]
            for i, document in enumerate(documents):
                where = f"{path}" + (f" (document {i + 1})" if len(documents) > 1 else "")
                try:
                    layout = json_format.ParseDict(document, layout_pb2.Layout())
                    oracle = compile_layout(layout)
                except (json_format.ParseError, InvalidInput) as exc:
                    raise ValueError(f"{where}: {exc}") from None
                data = _canonical(layout, oracle.n_bins)
                current = self.store.get(layout.id)
                if current is None or current.layout != data:
                    row = self.store.put(layout.id, data)
                else:
                    row = current
                self._remember((row.id, row.version, row.updated_at), oracle)
                loaded.append(layout.id)
                log.info("loaded layout %r (%d bins) from %s", layout.id, oracle.n_bins, where)
        return loaded

    # -- reads --------------------------------------------------------------------------------

    def get(
        self,
        warehouse_id: str,
        view: layout_pb2.LayoutView.ValueType = layout_pb2.LAYOUT_VIEW_FULL,
    ) -> layout_pb2.Layout:
        """One layout; :class:`NotFound` when there is none."""
        _require_id(warehouse_id)
        row = self.store.get(warehouse_id)
        if row is None:
            raise NotFound("warehouse", warehouse_id, "warehouse_id")
        return _message(row, view)

    def list(
        self,
        page_size: int = 0,
        page_token: str = "",
        view: layout_pb2.LayoutView.ValueType = layout_pb2.LAYOUT_VIEW_BASIC,
    ) -> tuple[list[layout_pb2.Layout], str]:
        """One page of layouts ordered by id, and the token of the next page ("" at the end)."""
        if page_size < 0:
            raise InvalidInput.single("page_size", f"must not be negative, got {page_size}")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        try:
            after = base64.b64decode(page_token, altchars=b"-_", validate=True).decode("utf-8")
        except (ValueError, UnicodeError):
            raise InvalidInput.single("page_token", "not a token from this server") from None
        rows = self.store.list(after=after, limit=size + 1)
        more = len(rows) > size
        rows = rows[:size]
        token = (
            base64.urlsafe_b64encode(rows[-1].id.encode("utf-8")).decode("ascii") if more else ""
        )
        return [_message(r, view) for r in rows], token

    def oracle(self, warehouse_id: str) -> DistanceOracle:
        """The compiled oracle of a layout, compiling it on first use.

        Raises
        ------
        InvalidInput
            ``warehouse_id`` is empty.
        NotFound
            No layout has this id.
        """
        _require_id(warehouse_id)
        now = time.monotonic()
        fresh = self._fresh.get(warehouse_id)
        if fresh is not None and now - fresh[0] < self.refresh_s:
            key = fresh[1]
        else:
            stamp = self.store.stamp(warehouse_id)
            if stamp is None:
                raise NotFound("warehouse", warehouse_id, "warehouse_id")
            key = (warehouse_id, *stamp)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                if fresh is None or fresh[1] != key or now - fresh[0] >= self.refresh_s:
                    self._fresh[warehouse_id] = (now, key)
                return cached
        with self._compile_lock:
            with self._lock:
                cached = self._cache.get(key)
            if cached is not None:
                return cached
            row = self.store.get(warehouse_id)
            if row is None:
                raise NotFound("warehouse", warehouse_id, "warehouse_id")
            oracle = compile_layout(layout_pb2.Layout.FromString(row.layout))
            self._remember((row.id, row.version, row.updated_at), oracle)
            return oracle

    def _remember(self, key: Stamp, oracle: DistanceOracle) -> None:
        with self._lock:
            self._fresh[key[0]] = (time.monotonic(), key)
            for stale in [k for k in self._cache if k[0] == key[0] and k != key]:
                del self._cache[stale]
            self._cache[key] = oracle
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)


def _require_id(warehouse_id: str) -> None:
    if not warehouse_id:
        raise InvalidInput.single("warehouse_id", "must not be empty")
