"""Server settings from environment variables and command-line flags.

Every setting has an environment variable (``WAREHOUSE_*``) and a flag; flags win. Nothing is
parsed at import time: :func:`load` does it when the server starts.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything the server process needs to start.

    Attributes
    ----------
    listen_address
        ``host:port`` the gRPC server binds; port 0 picks a free port.
    metrics_port
        Port of the Prometheus HTTP endpoint; 0 picks a free port, -1 disables it.
    metrics_address
        Interface the Prometheus endpoint binds.
    health_port
        Port of a second, plaintext gRPC listener on the host of ``listen_address`` that
        answers only ``grpc.health.v1.Health/Check``, for liveness and readiness probes; 0 picks
        a free port, -1 (the default) disables it. It has its own two threads and no cap, so it
        answers while the API port refuses a flood of calls (and it needs no client
        certificate when the API port requires mutual TLS).
    db_path
        SQLite file of the store (layouts and inventory; created with its directory), used
        when ``postgres_dsn`` is empty.
    postgres_dsn
        PostgreSQL connection string (``postgresql://user@host/db`` or ``key=value`` form);
        when set, the store lives there and several replicas can share it.
    layouts_dir
        Directory whose ``*.yaml``/``*.yml``/``*.json`` layout files are loaded at start, and
        whose ``<site>.stock.csv`` files seed the stock of sites the inventory does not know
        yet; empty disables loading.
    max_message_bytes
        Largest request or response message (a 100,000-bin layout is about 5 MiB).
    threads
        gRPC handler threads; also gRPC's cap on calls in progress: one arriving while every
        thread is busy is refused at once with RESOURCE_EXHAUSTED. gRPC refuses such a call in
        its receiving thread, without handing it to Python code, which is what lets a process
        shed a flood of millisecond calls; more threads let more calls into that code, which
        under such a flood slowed the receiving thread until calls waited out their deadlines
        in gRPC's queue (benchmarks/results/load.md).
    workers
        Solver processes: route searches, waves and allocations, and exact routes whenever
        another solve is in progress (a lone exact route runs in its handler thread); 0 runs
        everything in the handler threads.
    wave_processes
        Processes one wave plan may use: with 2, waves on one-block layouts also go to column
        generation in a second process forked from the solver process (see
        :func:`picking.wave.plan`), which shortens plans of large carts and evens out runs
        with small ones, and other waves are planned a second time there with another seed,
        the better plan kept; 1 where many waves are planned at once on few cores. Only with
        ``workers`` > 0 (a server's handler threads never fork).
    grace_period_s
        How long shutdown waits for in-flight calls.
    max_concurrent_solves
        Solve calls in progress at once; one more waits up to 0.1 s for a slot, then is refused
        with RESOURCE_EXHAUSTED. Must be below ``threads``, so health checks and layout calls
        always find a free thread.
    default_time_limit_s
        Solve time limit when a request gives none.
    deadline_margin_s
        Safety margin kept between the end of a solve and the call's gRPC deadline.
    layout_refresh_s
        How long the server trusts its cached copy of a layout before checking the store for a
        newer version; puts through this server apply at once, puts by another process sharing
        the store within this time.
    event_retention_s
        How long applied inventory event ids are kept to recognise a repeat; a snapshot's
        watermark covers older events of its sources for good.
    max_reservation_ttl_s
        Longest time to live a reservation may ask for.
    maintenance_interval_s
        How often expired reservations, old event ids and abandoned snapshot loads are removed.
    tls_cert_file, tls_key_file
        PEM server certificate (chain) and its unencrypted private key: TLS on the gRPC port.
        Both or neither; neither serves plaintext.
    tls_client_ca_file
        PEM CA bundle for mutual TLS: every client must present a certificate it signed.
    auth_tokens
        Bearer tokens and their roles, ``read:<token>`` or ``write:<token>``, comma-separated
        (see :mod:`services.auth`); kept out of ``repr``.
    auth_tokens_file
        File of the same entries, one per line (``#`` comments); adds to ``auth_tokens``.
    auth_client_identities
        Client certificate identities (subject CN or a SAN) and their roles, ``read:<name>`` or
        ``write:<name>``, comma-separated; needs ``tls_client_ca_file``. With no token nor
        identity, authorization is off.
    """

    listen_address: str = "127.0.0.1:50051"
    metrics_port: int = 9464
    metrics_address: str = "127.0.0.1"
    health_port: int = -1
    db_path: Path = Path("var/warehouse.db")
    postgres_dsn: str = ""
    layouts_dir: Path | None = Path("deploy/demo")
    max_message_bytes: int = 64 * MIB
    threads: int = 16
    workers: int = 2
    wave_processes: int = 2
    grace_period_s: float = 5.0
    max_concurrent_solves: int = 4
    default_time_limit_s: float = 1.0
    deadline_margin_s: float = 0.05
    layout_refresh_s: float = 1.0
    event_retention_s: float = 7 * 24 * 3600.0
    max_reservation_ttl_s: float = 24 * 3600.0
    maintenance_interval_s: float = 60.0
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    auth_tokens: str = field(default="", repr=False)
    auth_tokens_file: Path | None = None
    auth_client_identities: str = ""

    def __post_init__(self) -> None:
        problems = []
        if self.max_message_bytes < 1 * MIB:
            problems.append(f"max_message_bytes must be >= 1 MiB, got {self.max_message_bytes}")
        if self.health_port < -1:
            problems.append(
                f"health_port must be -1 (off), 0 (any) or a port, got {self.health_port}"
            )
        if self.threads < 1:
            problems.append(f"threads must be >= 1, got {self.threads}")
        if self.workers < 0:
            problems.append(f"workers must be >= 0, got {self.workers}")
        if self.wave_processes < 1:
            problems.append(f"wave_processes must be >= 1, got {self.wave_processes}")
        if not 1 <= self.max_concurrent_solves < self.threads:
            problems.append(
                f"max_concurrent_solves must be >= 1 and below threads ({self.threads}), "
                f"got {self.max_concurrent_solves}"
            )
        if self.grace_period_s < 0 or self.deadline_margin_s < 0 or self.layout_refresh_s < 0:
            problems.append("grace_period_s, deadline_margin_s and layout_refresh_s must be >= 0")
        if min(self.event_retention_s, self.max_reservation_ttl_s) <= 0:
            problems.append("event_retention_s and max_reservation_ttl_s must be > 0")
        if not self.maintenance_interval_s > 0:
            problems.append(
                f"maintenance_interval_s must be > 0, got {self.maintenance_interval_s}"
            )
        if not self.default_time_limit_s > 0:
            problems.append(f"default_time_limit_s must be > 0, got {self.default_time_limit_s}")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            problems.append("tls_cert_file and tls_key_file go together: set both or neither")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            problems.append("tls_client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file")
        if self.auth_client_identities.strip() and self.tls_client_ca_file is None:
            problems.append("auth_client_identities needs tls_client_ca_file (mutual TLS)")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def database(self) -> Path | str:
        """Where the store lives: the PostgreSQL DSN when given, else the SQLite file."""
        return self.postgres_dsn or self.db_path


def _env_name(field_name: str) -> str:
    return "WAREHOUSE_" + field_name.upper()


#: Path settings that an empty value turns off.
_OPTIONAL_PATHS = frozenset(
    {"layouts_dir", "tls_cert_file", "tls_key_file", "tls_client_ca_file", "auth_tokens_file"}
)


def _convert(field_name: str, raw: str) -> object:
    default = getattr(Settings, field_name)
    if field_name in _OPTIONAL_PATHS:
        return Path(raw) if raw else None
    if isinstance(default, Path):
        return Path(raw)
    if isinstance(default, bool):
        return raw.lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``environ`` (default ``os.environ``) overridden by ``argv``."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="warehouse serve", description="Warehouse optimisation services over gRPC."
    )
    for f in fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        parser.add_argument(
            flag,
            dest=f.name,
            default=None,
            metavar=f.name.upper(),
            help=f"environment variable {_env_name(f.name)}; default {getattr(Settings, f.name)}",
        )
    args = parser.parse_args([] if argv is None else list(argv))
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = getattr(args, f.name)
        if raw is None:
            raw = environ.get(_env_name(f.name))
        if raw is not None:
            try:
                values[f.name] = _convert(f.name, raw)
            except ValueError:
                parser.error(f"{f.name}: cannot parse {raw!r}")
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        parser.error(str(exc))
