"""Durable layout store: serialized ``warehouse.v1.Layout`` messages by id.

Layouts live in the same database as the inventory (:mod:`services.db`, schema in
:mod:`services.schema`), as opaque bytes with a version that grows by one on every put.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from services.db import Database, open_database
from services.schema import MIGRATIONS


@dataclass(frozen=True)
class StoredLayout:
    """One row of the layouts table."""

    id: str
    layout: bytes
    version: int
    updated_at: float


class LayoutStore:
    """Layouts by id; safe to share between threads, processes and replicas."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    def open(cls, target: Path | str) -> LayoutStore:
        """A store on a PostgreSQL DSN or a SQLite path (see :func:`services.db.open_database`)."""
        return cls(open_database(target, MIGRATIONS))

    def put(self, layout_id: str, layout: bytes) -> StoredLayout:
        """Insert or replace a layout; its version becomes the previous one plus one."""
        now = time.time()
        with self.db.write() as tx:
            row = tx.execute(
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
        with self.db.read() as tx:
            row = tx.execute(
                "SELECT id, layout, version, updated_at FROM layouts WHERE id = ?", (layout_id,)
            ).fetchone()
        return None if row is None else StoredLayout(row[0], bytes(row[1]), row[2], row[3])

    def stamp(self, layout_id: str) -> tuple[int, float] | None:
        """``(version, updated_at)`` of a layout, or None when there is none (cheap).

        A layout deleted and put again restarts at version 1; the pair still tells it apart.
        """
        with self.db.read() as tx:
            row = tx.execute(
                "SELECT version, updated_at FROM layouts WHERE id = ?", (layout_id,)
            ).fetchone()
        return None if row is None else (int(row[0]), float(row[1]))

    def list(self, *, after: str = "", limit: int = 50) -> list[StoredLayout]:
        """Up to ``limit`` layouts with ids greater than ``after``, ordered by id."""
        with self.db.read() as tx:
            rows = tx.execute(
                "SELECT id, layout, version, updated_at FROM layouts WHERE id > ? "
                "ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        return [StoredLayout(r[0], bytes(r[1]), r[2], r[3]) for r in rows]

    def delete(self, layout_id: str) -> bool:
        """Delete a layout; True when it existed."""
        with self.db.write() as tx:
            cursor = tx.execute("DELETE FROM layouts WHERE id = ?", (layout_id,))
            return cursor.rowcount > 0

    def close(self) -> None:
        """Close the database."""
        self.db.close()
