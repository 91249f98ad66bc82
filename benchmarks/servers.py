"""Server processes for the benchmarks: ``python -m services.server`` on a free loopback port.

The load, fuzzing and replanning benchmarks measure a real server in its own process; this
starts one with the settings they pass, waits until its health check answers and stops it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks.grpc_bench import free_port

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / "deploy" / "demo"


@dataclass
class ServerProcess:
    """A server process on a loopback port, and the file its log goes to."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def address(self) -> str:
        """``host:port`` to connect to."""
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """SIGTERM, then wait for the process to end (killing it after 30 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spawn(
    workdir: Path,
    name: str,
    *settings: str,
    db: Path | None = None,
    layouts_dir: Path | None = DEMO_DIR,
) -> ServerProcess:
    """Start a server with ``settings`` (``--threads=16``, ...), metrics off, its database
    ``db`` (default a fresh one in ``workdir``) and the layouts of ``layouts_dir`` (None: none);
    return once it answers a health check.

    Raises
    ------
    SystemExit
        The server ended or did not answer within 60 s (its log is named).
    """
    port = free_port()
    log = workdir / f"{name}.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.server",
            f"--listen-address=127.0.0.1:{port}",
            "--metrics-port=-1",
            f"--db-path={db or workdir / f'{name}.db'}",
            f"--layouts-dir={layouts_dir or ''}",
            *settings,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    started = time.monotonic()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                health.Check(health_pb2.HealthCheckRequest(), timeout=5, wait_for_ready=True)
                return ServerProcess(process, port, log)
            except grpc.RpcError:
                if process.poll() is not None or time.monotonic() - started > 60:
                    process.kill()
                    raise SystemExit(f"server {name} did not start; see {log}") from None
