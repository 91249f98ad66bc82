"""The database schema of every store, as migrations applied in order by :mod:`services.db`.

Never edit a migration once released: append a new one. Column types and table options are
the tokens of :data:`services.db.TYPES`, so one text serves SQLite and PostgreSQL.

Inventory tables
----------------
``stock_sites``
    One row per site: a warehouse whose stock is kept per bin (``level`` 'bin', its layout
    names the bins) or a fulfillment center whose stock is kept as a whole ('fc', bin '').
    ``generation`` says which rows of ``stock`` are current: a snapshot loads a new generation
    beside the current one and switches to it in one short transaction. ``version`` grows with
    every change a plan could see (stock, reservations).
``stock``
    On-hand units per (site, generation, sku, bin); rows at zero are deleted.
``stock_events``
    Every applied event, with a fingerprint of its content, so a repeat is a duplicate and an
    id reused for different content is told apart. Rows are pruned once a snapshot's watermark
    covers them or after the retention window.
``stock_sources``
    Per site and event source: the highest sequence applied, and the watermark of the last
    snapshot (events at or below it are part of that snapshot).
``stock_snapshots`` / ``stock_uploads``
    Committed snapshot ids (a resent snapshot is a duplicate) and snapshots being loaded.
``stock_staged``
    On PostgreSQL, the rows of snapshots being loaded, as they arrive (per generation, in no
    order and not yet summed). The commit inserts them into ``stock`` sorted by SKU and bin, so
    that a SKU's rows share heap pages: a snapshot arrives in bin order, and rows stored in that
    order scattered each SKU over as many pages as it has bins (a 1,000-SKU read fetched about
    5,000 pages instead of about 1,000). Empty on SQLite, whose ``stock`` is stored in its key's
    B-tree and so is always in SKU order.
``reservations`` / ``reservation_lines``
    Units held for a plan until released, confirmed by picks or expired.
"""

from __future__ import annotations

from services.db import Migration

MIGRATIONS: tuple[Migration, ...] = (
    (
        """
        CREATE TABLE layouts (
            id TEXT PRIMARY KEY,
            layout {blob} NOT NULL,
            version {int} NOT NULL,
            updated_at {real} NOT NULL
        )
        """,
    ),
    (
        """
        CREATE TABLE stock_sites (
            site TEXT PRIMARY KEY,
            level TEXT NOT NULL,
            generation {int} NOT NULL,
            version {int} NOT NULL,
            snapshot_id TEXT NOT NULL,
            updated_at {real} NOT NULL
        )
        """,
        """
        CREATE TABLE stock (
            site TEXT NOT NULL,
            generation {int} NOT NULL,
            sku TEXT NOT NULL,
            bin TEXT NOT NULL,
            on_hand {int} NOT NULL,
            PRIMARY KEY (site, generation, sku, bin)
        ) {keyed_updated}
        """,
        "CREATE INDEX stock_by_bin ON stock (site, generation, bin)",
        """
        CREATE TABLE stock_events (
            site TEXT NOT NULL,
            event_id TEXT NOT NULL,
            source TEXT NOT NULL,
            sequence {int} NOT NULL,
            kind TEXT NOT NULL,
            sku TEXT NOT NULL,
            bin TEXT NOT NULL,
            to_bin TEXT NOT NULL,
            quantity {int} NOT NULL,
            reservation_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            version {int} NOT NULL,
            recorded_at {real} NOT NULL,
            PRIMARY KEY (site, event_id)
        ) {keyed}
        """,
        "CREATE INDEX stock_events_by_source ON stock_events (site, source, sequence)",
        "CREATE INDEX stock_events_by_time ON stock_events (recorded_at)",
        """
        CREATE TABLE stock_sources (
            site TEXT NOT NULL,
            source TEXT NOT NULL,
            max_sequence {int} NOT NULL,
            watermark {int} NOT NULL,
            PRIMARY KEY (site, source)
        )
        """,
        """
        CREATE TABLE stock_snapshots (
            site TEXT NOT NULL,
            snapshot_id TEXT NOT NULL,
            version {int} NOT NULL,
            rows {int} NOT NULL,
            committed_at {real} NOT NULL,
            PRIMARY KEY (site, snapshot_id)
        )
        """,
        """
        CREATE TABLE stock_uploads (
            generation {int} PRIMARY KEY,
            site TEXT NOT NULL,
            touched_at {real} NOT NULL
        )
        """,
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value {int} NOT NULL)",
        """
        CREATE TABLE reservations (
            site TEXT NOT NULL,
            reservation_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            created_at {real} NOT NULL,
            expires_at {real} NOT NULL,
            PRIMARY KEY (site, reservation_id)
        )
        """,
        """
        CREATE TABLE reservation_lines (
            site TEXT NOT NULL,
            reservation_id TEXT NOT NULL,
            line {int} NOT NULL,
            sku TEXT NOT NULL,
            bin TEXT NOT NULL,
            quantity {int} NOT NULL,
            PRIMARY KEY (site, reservation_id, line)
        )
        """,
        "CREATE INDEX reservation_lines_by_sku ON reservation_lines (site, sku, bin)",
    ),
    (
        """
        CREATE TABLE stock_staged (
            generation {int} NOT NULL,
            sku TEXT NOT NULL,
            bin TEXT NOT NULL,
            on_hand {int} NOT NULL
        )
        """,
    ),
)
