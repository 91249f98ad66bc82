"""One database for every store: SQLite (embedded default) or PostgreSQL (several replicas).

The stores write their SQL once, with ``?`` placeholders and the tokens of :data:`TYPES`
(``{blob}``, ``{real}``, ``{int}``, ``{keyed}``) in DDL; :class:`Database` adapts both to
the backend. A store asks for a transaction with :meth:`Database.write` (serialised per site by
the store's own row lock, see :meth:`Tx.lock_clause`) or :meth:`Database.read` (one consistent
snapshot of the data for everything read inside it), and never handles connections itself.

SQLite runs in WAL mode: one writer at a time per file (``BEGIN IMMEDIATE``, across processes),
readers on their own per-thread connections, each read transaction seeing one committed state.
PostgreSQL uses a connection pool; writes run at READ COMMITTED and take row locks, reads run
in REPEATABLE READ READ ONLY transactions.

The schema evolves through migrations: each is a tuple of statements, applied once and in order,
and the ``schema_version`` table records how many a database has had.
"""

from __future__ import annotations

import abc
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

Migration = tuple[str, ...]

#: DDL tokens per backend: ``{int}`` is 64-bit on both; ``{keyed}`` after a table with a
#: primary key stores its rows in that key's B-tree on SQLite (one tree to write, not two);
#: ``{keyed_updated}`` also leaves room in PostgreSQL's pages for rows updated in place (HOT
#: updates, which skip the indexes: a batch's stock upsert took 40% less time).
TYPES: dict[str, dict[str, str]] = {
    "sqlite": {
        "blob": "BLOB",
        "real": "REAL",
        "int": "INTEGER",
        "keyed": "WITHOUT ROWID",
        "keyed_updated": "WITHOUT ROWID",
    },
    "postgresql": {
        "blob": "BYTEA",
        "real": "DOUBLE PRECISION",
        "int": "BIGINT",
        "keyed": "",
        "keyed_updated": "WITH (fillfactor = 80)",
    },
}

#: Busy timeout of SQLite connections: how long a writer waits for another process's write.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Page cache of SQLite's one writer connection: an event batch dirties pages all over the stock
#: index, and with the default 2 MiB every commit re-read them (20% more events/s with this).
WRITER_CACHE_KIB = 64 * 1024
#: WAL pages after which a commit copies them back into the database. An event batch writes
#: about 1,300 pages; at SQLite's default of 1,000 every commit checkpointed (15-20 ms of a
#: 60 ms batch), now about one commit in eight does.
WAL_CHECKPOINT_PAGES = 10_000
#: Page cache of each per-thread SQLite reader (they also share memory-mapped pages).
READER_CACHE_KIB = 8 * 1024
MMAP_BYTES = 256 * 1024 * 1024
#: Key of the PostgreSQL advisory lock that serialises migrations between replicas.
MIGRATION_LOCK_KEY = 0x77A4E5


class Cursor(Protocol):
    """The part of a DB-API cursor the stores use."""

    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Tx:
    """One transaction: run SQL written with ``?`` placeholders on either backend."""

    def __init__(self, dialect: str, conn: Any) -> None:
        self.dialect = dialect
        self._conn = conn
        self._pg = dialect == "postgresql"

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._pg else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement."""
        cursor: Cursor = self._conn.execute(self._sql(sql), params)
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for every parameter row."""
        if self._pg:
            with self._conn.cursor() as cursor:
                cursor.executemany(self._sql(sql), rows)
        else:
            self._conn.executemany(sql, rows)

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Append rows to ``table`` as fast as the backend allows (COPY on PostgreSQL)."""
        names = ", ".join(columns)
        if self._pg:
            with (
                self._conn.cursor() as cursor,
                cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            self._conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        """Send the statements of the block without waiting for each answer (PostgreSQL).

        A write batch is a dozen statements; waiting for every answer cost a context switch
        between client and server each. Results can still be fetched inside the block (that
        waits for everything sent so far). No COPY inside. On SQLite, in-process, a no-op.
        """
        if self._pg:
            with self._conn.pipeline():
                yield
        else:
            yield

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """A ``column IN values`` condition and its parameters (one array on PostgreSQL)."""
        if self._pg:
            return f"{column} = ANY(?)", [list(values)]
        return f"{column} IN ({', '.join('?' * len(values))})", list(values)

    @property
    def lock_clause(self) -> str:
        """Suffix of a SELECT that locks the rows it reads until the end of the transaction.

        Empty on SQLite, where a write transaction already excludes every other writer.
        """
        return " FOR UPDATE" if self._pg else ""


class Database(abc.ABC):
    """A SQLite file or a PostgreSQL database, migrated to ``migrations`` on open."""

    dialect: str
    #: What :func:`open_database` takes to open this database again (in another process).
    target: str

    @abc.abstractmethod
    def write(self) -> AbstractContextManager[Tx]:
        """A write transaction; commits when the block ends, rolls back when it raises."""

    @abc.abstractmethod
    def read(self) -> AbstractContextManager[Tx]:
        """A read-only transaction that sees one committed state throughout."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connections."""

    @property
    def schema_version(self) -> int:
        """How many migrations this database has had."""
        with self.read() as tx:
            return int(tx.execute("SELECT version FROM schema_version").fetchone()[0])

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        with self.write() as tx:
            if self.dialect == "postgresql":
                tx.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK_KEY,))
            tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = tx.execute("SELECT version FROM schema_version").fetchone()
            current = 0 if row is None else int(row[0])
            if current > len(migrations):
                raise RuntimeError(
                    f"{self} has schema version {current}, newer than this code ({len(migrations)})"
                )
            types = TYPES[self.dialect]
            for migration in migrations[current:]:
                for statement in migration:
                    tx.execute(statement.format(**types))
            if row is None:
                tx.execute("INSERT INTO schema_version VALUES (?)", (len(migrations),))
            else:
                tx.execute("UPDATE schema_version SET version = ?", (len(migrations),))


class SQLiteDatabase(Database):
    """One SQLite file in WAL mode, shared safely by threads and processes."""

    dialect = "sqlite"

    def __init__(self, path: Path | str, migrations: Sequence[Migration]) -> None:
        path = Path(path)
        self.memory = str(path) == ":memory:"
        if not self.memory:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.target = str(path)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._db = self._connect(WRITER_CACHE_KIB)
        self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._migrate(migrations)

    def __repr__(self) -> str:
        return f"SQLiteDatabase({str(self.path)!r})"

    def _connect(self, cache_kib: int) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        db.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA cache_size=-{cache_kib}")
        # Readers share the file's pages through the OS page cache instead of each caching
        # its own copy.
        db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        return db

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction; commits when the block ends, rolls back when it raises."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self.dialect, self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read transaction on this thread's own connection: one committed state throughout.

        Not reentrant: a thread holds one read transaction at a time.

        Readers on their own connections run beside the writer and each other (WAL); on the
        writer's connection every read would queue behind one lock.
        """
        if self.memory:
            with self._lock:
                yield Tx(self.dialect, self._db)
            return
        reader: sqlite3.Connection | None = getattr(self._local, "db", None)
        if reader is None:
            reader = self._connect(READER_CACHE_KIB)
            self._local.db = reader
        reader.execute("BEGIN")
        try:
            yield Tx(self.dialect, reader)
        finally:
            reader.execute("COMMIT")

    def close(self) -> None:
        """Close the writer's connection (readers close with their threads)."""
        with self._lock:
            self._db.close()


class PostgresDatabase(Database):
    """A PostgreSQL database reached through a connection pool."""

    dialect = "postgresql"

    def __init__(self, dsn: str, migrations: Sequence[Migration], *, pool_size: int = 8) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self._psycopg = psycopg
        self.target = dsn
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            open=True,
            kwargs={"autocommit": False},
            configure=self._configure,
        )
        self._migrate(migrations)

    def __repr__(self) -> str:
        return "PostgresDatabase(...)"  # the DSN may hold a password

    @staticmethod
    def _configure(conn: Any) -> None:
        """Session settings of every pooled connection.

        The stores' queries are key lookups. With the default ``random_page_cost`` (4, tuned for
        spinning disks) the planner read a 100,000-row stock table whole for 1,000 SKUs (12 ms)
        rather than probe its key (4.5 ms); 1.1 is the usual setting for SSDs.

        Lists (the arrays of keys and rows an event batch or a read sends) go in PostgreSQL's
        binary format: psycopg quotes each element of a text array with a regular expression,
        which took a third of a 1,000-event batch's time.
        """
        from psycopg.types.array import ListBinaryDumper

        conn.adapters.register_dumper(list, ListBinaryDumper)
        conn.execute("SET random_page_cost = 1.1")
        conn.commit()

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A READ COMMITTED transaction; commits when the block ends, rolls back when it raises."""
        with self._pool.connection() as conn:
            conn.isolation_level = self._psycopg.IsolationLevel.READ_COMMITTED
            conn.read_only = False
            yield Tx(self.dialect, conn)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A REPEATABLE READ READ ONLY transaction: one committed state throughout."""
        with self._pool.connection() as conn:
            conn.isolation_level = self._psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            yield Tx(self.dialect, conn)

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()


def is_postgres(target: Path | str) -> bool:
    """Whether ``target`` is a PostgreSQL DSN (URI or ``key=value`` form) and not a path."""
    text = str(target)
    return text.startswith(("postgresql://", "postgres://")) or "dbname=" in text


def open_database(target: Path | str, migrations: Sequence[Migration]) -> Database:
    """The database at ``target``: a PostgreSQL DSN, else the path of a SQLite file."""
    if is_postgres(target):
        return PostgresDatabase(str(target), migrations)
    return SQLiteDatabase(target, migrations)
