"""Fuzzing benchmark: many fuzzed requests per RPC against a server process, which must never
answer INTERNAL, crash or hang.

``--requests`` requests (default 10,000) for every RPC that :func:`tests.fuzzing.all_rpcs` finds,
half built at random from the request's descriptor and half mutations of valid requests
(:class:`tests.fuzzing.Fuzzer`, one seeded ``random.Random`` per RPC, so a run is reproducible),
are sent with a 5 s deadline and solve time limits capped at 0.2 s to one
``python -m services.server`` process on a free loopback port (``--layouts-dir deploy/demo``:
the demo warehouse, stock and network exist; metrics off; ``--workers 0`` by default so a crash in
a solver takes the server down and shows). The demo layouts and stock are put back before each
RPC's run. Counted per RPC: the status codes, INTERNAL and the other failure codes
(:data:`tests.fuzzing.FAILURES`), median and maximum latency. At the end: is the process alive,
does health say SERVING, does a valid PlanRoute answer, and its resident memory before and after.
Unexpected errors in the server log are summarised by method and exception.

Run ``python -m benchmarks.fuzz_bench`` (``--quick`` for a smoke run of 100 per RPC); it rewrites
``benchmarks/results/fuzz.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import statistics
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from warehouse.v1 import routing_pb2, routing_pb2_grpc

from benchmarks.allocation_bench import cpu_model
from benchmarks.servers import spawn
from tests import fuzzing

RESULTS = Path(__file__).parent / "results" / "fuzz.md"
ROOT = Path(__file__).resolve().parent.parent
#: Requests generated and sent as one batch (bounds the memory held by pending requests).
CHUNK = 256
#: Failing requests kept per RPC for the report.
KEEP_FAILURES = 3


@dataclass
class RpcRun:
    """What one RPC's requests got back."""

    rpc: fuzzing.Rpc
    codes: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.codes.values())

    def failed(self) -> int:
        return sum(n for code, n in self.codes.items() if grpc.StatusCode[code] in BAD)


BAD = fuzzing.FAILURES


def serving(channel: grpc.Channel) -> bool:
    """Whether the server answers health Check with SERVING."""
    try:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=2
        )
    except grpc.RpcError:
        return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


def plans_a_route(channel: grpc.Channel) -> bool:
    """Whether a valid PlanRoute on the demo warehouse (put back first) is answered."""
    try:
        fuzzing.restore_demo(channel)
        route = routing_pb2_grpc.RoutingServiceStub(channel).PlanRoute(
            routing_pb2.PlanRouteRequest(
                warehouse_id="demo", bin_ids=["A03-B1-012L", "A07-B1-040R"]
            ),
            timeout=10,
        )
    except grpc.RpcError:
        return False
    return route.distance_m > 0


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def fuzz_rpc(
    channel: grpc.Channel,
    rpc: fuzzing.Rpc,
    requests: int,
    seed: int,
    pool: ThreadPoolExecutor,
) -> RpcRun:
    """Send ``requests`` fuzzed requests to ``rpc``, alternating random and mutated."""
    run = RpcRun(rpc)
    fuzzer = fuzzing.Fuzzer(random.Random(seed))
    seeds = fuzzing.valid_requests().get(rpc.name, ())

    def send(request: fuzzing.Request) -> tuple[grpc.StatusCode, float]:
        started = time.monotonic()
        code = fuzzing.call(channel, rpc, request)
        return code, time.monotonic() - started

    started = time.monotonic()
    for first in range(0, requests, CHUNK):
        batch = [
            fuzzer.request(rpc, mutated=i % 2 == 1, seeds=seeds)
            for i in range(first, min(requests, first + CHUNK))
        ]
        for request, (code, seconds) in zip(batch, pool.map(send, batch), strict=True):
            run.codes[code.name] += 1
            run.latencies_s.append(seconds)
            hang = seconds >= fuzzing.DEADLINE_S
            if (code in BAD or hang) and len(run.failures) < KEEP_FAILURES:
                run.failures.append(
                    (f"{code.name} after {seconds:.2f} s", fuzzing.as_text(request))
                )
    run.seconds = time.monotonic() - started
    return run


_LOG_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")


def server_errors(log: Path) -> Counter[str]:
    """Unexpected errors in the server log: ``method: last traceback line`` and how often."""
    found: Counter[str] = Counter()
    entry: list[str] = []

    def flush() -> None:
        if entry and " ERROR " in entry[0]:
            head = entry[0].split(": ", 1)[-1].strip()
            last = next((x.strip() for x in reversed(entry[1:]) if x.strip()), "")
            found[f"{head}: {last}"[:300]] += 1

    for line in log.read_text(errors="replace").splitlines():
        if _LOG_ENTRY.match(line):
            flush()
            entry = [line]
        else:
            entry.append(line)
    flush()
    return found


def codes_cell(codes: Counter[str]) -> str:
    return ", ".join(f"{code} {n:,}" for code, n in sorted(codes.items(), key=lambda x: -x[1]))


def write(
    args: argparse.Namespace,
    runs: list[RpcRun],
    alive: bool,
    healthy: bool,
    routed: bool,
    rss: tuple[float, float],
    errors: Counter[str],
    seconds: float,
) -> None:
    """Rewrite ``args.out`` with the run's tables."""
    total = sum(r.requests for r in runs)
    internal = sum(r.codes["INTERNAL"] for r in runs)
    failed = sum(r.failed() for r in runs)
    hangs = sum(1 for r in runs for s in r.latencies_s if s >= fuzzing.DEADLINE_S)
    lines = [
        "# Fuzzing every RPC",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, OR-Tools {version('ortools')}, grpcio {version('grpcio')}, "
        f"protobuf {version('protobuf')}, {platform.system()} {platform.release()}. Generated by "
        "`python -m benchmarks.fuzz_bench"
        + (" --quick" if args.quick else "")
        + f"` on {time.strftime('%Y-%m-%d')}; see the module docstring. A shared, noisy machine; "
        "server and client share the cores.",
        "",
        f"{args.requests:,} requests per RPC, half random from the request's descriptor, half "
        f"mutations of valid requests (seed {args.seed}), {args.concurrency} in flight, "
        f"{fuzzing.DEADLINE_S:g} s deadline, solve time limits capped at "
        f"{fuzzing.SOLVE_CAP_S:g} s, against one `python -m services.server` process (demo "
        f"layouts, stock and network; `--workers {args.workers}`). {total:,} requests in "
        f"{seconds:.0f} s.",
        "",
        "| RPC | requests | codes seen | INTERNAL | other failures | median ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lat = r.latencies_s or [0.0]
        lines.append(
            f"| {r.rpc.name} | {r.requests:,} | {codes_cell(r.codes)} | {r.codes['INTERNAL']:,} "
            f"| {r.failed() - r.codes['INTERNAL']:,} | {statistics.median(lat) * 1000:.1f} "
            f"| {max(lat) * 1000:.0f} |"
        )
    yes = {True: "yes", False: "**no**"}
    lines += [
        "",
        f"**INTERNAL: {internal:,}. Other failures (UNKNOWN, DATA_LOSS, DEADLINE_EXCEEDED, "
        f"UNAVAILABLE, UNIMPLEMENTED): {failed - internal:,}. Calls at the deadline: {hangs:,}.**",
        "",
        "| server after the run | |",
        "|---|---|",
        f"| process alive | {yes[alive]} |",
        f"| health Check SERVING | {yes[healthy]} |",
        f"| valid PlanRoute answered | {yes[routed]} |",
        f"| resident memory before / after | {rss[0]:.0f} / {rss[1]:.0f} MiB |",
        "",
        "## Findings",
        "",
    ]
    if not errors and not any(r.failures for r in runs):
        lines.append("None: no INTERNAL, crash or hang, and no unexpected error in the server log.")
    for message, n in errors.most_common():
        lines.append(f"- server log, {n:,}x: `{message}`")
    for r in runs:
        for what, text in r.failures:
            lines += ["", f"### {r.rpc.name}: {what}", "", "```", text, "```"]
    args.out.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="requests per RPC")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4, help="calls in flight")
    parser.add_argument("--workers", type=int, default=0, help="the server's solver processes")
    parser.add_argument("--rpcs", help="comma-separated RPC names (default: every RPC)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of 100 per RPC")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.requests = 100
    rpcs = fuzzing.all_rpcs()
    if args.rpcs:
        rpcs = tuple(fuzzing.rpc_by_name(name) for name in args.rpcs.split(","))
    workdir = Path(tempfile.mkdtemp(prefix="fuzz-bench-"))
    server = spawn(
        workdir,
        "server",
        f"--workers={args.workers}",
        "--threads=16",
        "--max-concurrent-solves=8",
    )
    runs: list[RpcRun] = []
    started = time.monotonic()
    try:
        with (
            grpc.insecure_channel(server.address) as channel,
            ThreadPoolExecutor(args.concurrency) as pool,
        ):
            fuzzing.restore_demo(channel)
            rss_before = rss_mib(server.process.pid)
            for index, rpc in enumerate(rpcs):
                if server.process.poll() is not None:
                    print(f"server exited with {server.process.returncode}; stopping", flush=True)
                    break
                fuzzing.restore_demo(channel)
                run = fuzz_rpc(channel, rpc, args.requests, args.seed * 1000 + index, pool)
                runs.append(run)
                print(
                    f"{rpc.name}: {run.requests:,} in {run.seconds:.1f} s: {codes_cell(run.codes)}",
                    flush=True,
                )
            seconds = time.monotonic() - started
            alive = server.process.poll() is None
            healthy = alive and serving(channel)
            routed = alive and plans_a_route(channel)
            rss_after = rss_mib(server.process.pid)
    finally:
        server.stop()
    errors = server_errors(server.log)
    write(args, runs, alive, healthy, routed, (rss_before, rss_after), errors, seconds)
    print(f"wrote {args.out}")
    if errors:
        kept = Path(tempfile.gettempdir()) / "fuzz-bench-server.log"
        shutil.copy(server.log, kept)
        print(f"unexpected server errors; the server log is kept at {kept}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
