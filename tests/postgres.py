"""A throwaway PostgreSQL server for tests and benchmarks.

``WAREHOUSE_TEST_POSTGRES_DSN`` points at an existing server (its database must allow CREATE
DATABASE); otherwise :class:`PostgresServer` runs ``initdb`` and ``pg_ctl`` from the installed
PostgreSQL (Debian's ``postgresql`` package, which ``.ci/run`` installs) in a temporary
directory, listening on a Unix socket only. PostgreSQL refuses to run as root, so as root the
server runs as the ``postgres`` user the package creates.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

DSN_VARIABLE = "WAREHOUSE_TEST_POSTGRES_DSN"
_counter = itertools.count()


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append(found)
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server programs (initdb, pg_ctl) not found: install Debian's "
            f"'postgresql' package (as .ci/run does) or set {DSN_VARIABLE}"
        )
    return Path(candidates[0]).parent


class PostgresServer:
    """A private PostgreSQL cluster, or the server named by ``WAREHOUSE_TEST_POSTGRES_DSN``."""

    def __init__(self) -> None:
        self.external = os.environ.get(DSN_VARIABLE, "")
        self.directory: Path | None = None
        self._as_user: list[str] = []
        if not self.external:
            self._start()

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_user, *args], check=True, capture_output=True, timeout=120)

    def _start(self) -> None:
        bindir = _bindir()
        self.directory = Path(tempfile.mkdtemp(prefix="warehouse-pg-"))
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.directory, "postgres")
        data = self.directory / "data"
        self._run(
            str(bindir / "initdb"), "-D", str(data), "-U", "warehouse", "-A", "trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        options = (
            f"-k {self.directory} -c listen_addresses='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "60",
            "-l", str(self.directory / "log"), "start",
        )  # fmt: skip
        self._bindir = bindir

    def dsn(self, dbname: str = "postgres") -> str:
        """Connection string of a database on this server."""
        if self.external:
            import psycopg.conninfo

            return psycopg.conninfo.make_conninfo(self.external, dbname=dbname)
        return f"host={self.directory} dbname={dbname} user=warehouse"

    def new_database(self) -> str:
        """Create an empty database; return its DSN."""
        import psycopg

        name = f"t{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.dsn(self._admin_db()), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def _admin_db(self) -> str:
        if self.external:
            import psycopg.conninfo

            return str(psycopg.conninfo.conninfo_to_dict(self.external).get("dbname") or "postgres")
        return "postgres"

    def stop(self) -> None:
        """Stop a private server and remove its files."""
        if self.directory is None:
            return
        self._run(
            str(self._bindir / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate",
            "-w", "stop",
        )  # fmt: skip
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None
