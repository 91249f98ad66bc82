"""Durable layout store on one SQLite file (WAL mode).

The store keeps serialized ``warehouse.v1.Layout`` messages as opaque bytes with a version that
grows by one on every put. Its schema evolves through :data:`MIGRATIONS`: each entry runs once,
in order, and the ``schema_version`` table records how far a file has got, so later tables
(inventory, and a PostgreSQL twin of this store) are one more entry in the list.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Schema migrations, applied in order; never edit an entry once released, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE layouts (
        id TEXT PRIMARY KEY,
        layout BLOB NOT NULL,
        version INTEGER NOT NULL,
        updated_at REAL NOT NULL
    )
    """,
)


@dataclass(frozen=True)
class StoredLayout:
    """One row of the layouts table."""

    id: str
    layout: bytes
    version: int
    updated_at: float


class LayoutStore:
    """Layouts by id in a SQLite file; safe to share between threads and processes."""

    def __init__(self, path: Path | str, migrations: Sequence[str] = MIGRATIONS) -> None:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._local = threading.local()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._migrate(migrations)

    def _migrate(self, migrations: Sequence[str]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
                )
                row = self._db.execute("SELECT version FROM schema_version").fetchone()
                current = 0 if row is None else int(row[0])
                if current > len(migrations):
                    raise RuntimeError(
                        f"{self.path} has schema version {current}, newer than this code "
                        f"({len(migrations)})"
                    )
                for statement in migrations[current:]:
                    self._db.execute(statement)
                if row is None:
                    self._db.execute("INSERT INTO schema_version VALUES (?)", (len(migrations),))
                else:
                    self._db.execute("UPDATE schema_version SET version = ?", (len(migrations),))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        """How many migrations this file has had."""
        with self._lock:
            return int(self._db.execute("SELECT version FROM schema_version").fetchone()[0])

    def put(self, layout_id: str, layout: bytes) -> StoredLayout:
        """Insert or replace a layout; its version becomes the previous one plus one."""
        now = time.time()
        with self._lock:
            row = self._db.execute(
                """
                INSERT INTO layouts (id, layout, version, updated_at) VALUES (?, ?, 1, ?)
                ON CONFLICT (id) DO UPDATE SET
                    layout = excluded.layout,
                    version = layouts.version + 1,
                    updated_at = excluded.updated_at
                RETURNING version
                """,
                (layout_id, layout, now),
            ).fetchone()
        return StoredLayout(layout_id, layout, int(row[0]), now)

    def get(self, layout_id: str) -> StoredLayout | None:
        """The layout with this id, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, layout, version, updated_at FROM layouts WHERE id = ?", (layout_id,)
            ).fetchone()
        return None if row is None else StoredLayout(row[0], bytes(row[1]), row[2], row[3])

    def stamp(self, layout_id: str) -> tuple[int, float] | None:
        """``(version, updated_at)`` of a layout, or None when there is none (cheap).

        A layout deleted and put again restarts at version 1; the pair still tells it apart.
        """
        query = "SELECT version, updated_at FROM layouts WHERE id = ?"
        reader = self._reader()
        if reader is None:
            with self._lock:
                row = self._db.execute(query, (layout_id,)).fetchone()
        else:
            row = reader.execute(query, (layout_id,)).fetchone()
        return None if row is None else (int(row[0]), float(row[1]))

    def _reader(self) -> sqlite3.Connection | None:
        """This thread's own read connection (None for an in-memory database).

        Every solve checks its layout's stamp; on the shared connection those checks queued on
        one lock, which profiling showed as most of a busy server's time. WAL lets readers on
        their own connections run side by side.
        """
        if str(self.path) == ":memory:":
            return None
        reader: sqlite3.Connection | None = getattr(self._local, "db", None)
        if reader is None:
            reader = sqlite3.connect(str(self.path), isolation_level=None)
            reader.execute("PRAGMA busy_timeout=5000")
            self._local.db = reader
        return reader

    def list(self, *, after: str = "", limit: int = 50) -> list[StoredLayout]:
        """Up to ``limit`` layouts with ids greater than ``after``, ordered by id."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, layout, version, updated_at FROM layouts WHERE id > ? "
                "ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        return [StoredLayout(r[0], bytes(r[1]), r[2], r[3]) for r in rows]

    def delete(self, layout_id: str) -> bool:
        """Delete a layout; True when it existed."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM layouts WHERE id = ?", (layout_id,))
        return cursor.rowcount > 0

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()
