"""The server under load: throughput per RPC, overload, memory over many solves, SIGTERM.

Run ``python -m benchmarks.load_bench`` (``--quick`` for a smoke run under a minute); it rewrites
``benchmarks/results/load.md``. The server runs as its own process (``python -m services.server
--layouts-dir deploy/demo``: the demo warehouse, its stock and the demo FC network; a fresh
SQLite database in a temporary directory; no metrics endpoint). The load comes from client
processes, each with its own channel, so the client side is not bound by one interpreter's GIL;
server and clients share the machine's cores, so every figure is what the machine gives both.

1. **Throughput and latency per RPC**: closed-loop clients keep 1, 4 and 16 calls in flight for
   a few seconds per cell, on the default settings; answered calls per second, p50 / p99
   latency and the count of every status code.
2. **Overload**: the sustainable PlanRoute rate is the best rate of section 1; about 4x that is
   offered open-loop (calls start on a clock, whatever the answers) to a server on the default
   settings with a health port, while a separate client process probes
   ``grpc.health.v1.Health/Check`` on the health port and on the API port. Reported: health
   p50 / p99, the share shed with RESOURCE_EXHAUSTED, and DEADLINE_EXCEEDED among the calls
   that were not shed.
3. **Memory over many solves**: 30-pick PlanRoute calls in stages up to 100,000 solves; after
   each stage the resident memory (``VmRSS``) of the server and of every process it started
   (the solver worker pool) is read from ``/proc``, with the server at rest.
4. **SIGTERM during load**: PlanRoute and PlanWave clients keep calls in flight; SIGTERM goes to
   the server; every call is classed by whether it was answered before the signal, was in
   flight at it, or started after it, with its status code; a call "hung" if it came back later
   than its deadline or with DEADLINE_EXCEEDED.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import math
import multiprocessing
import os
import platform
import random
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.type import date_pb2  # type: ignore[import-untyped]
from grpc_health.v1 import health_pb2, health_pb2_grpc
from warehouse.v1 import (
    allocation_pb2,
    allocation_pb2_grpc,
    common_pb2,
    inventory_pb2,
    inventory_pb2_grpc,
    layout_pb2,
    layout_pb2_grpc,
    picking_pb2,
    picking_pb2_grpc,
    routing_pb2,
    routing_pb2_grpc,
)

from benchmarks.allocation_bench import cpu_model
from benchmarks.grpc_bench import PICKS, descendants, free_port, pick_lists, tree_cpu_seconds
from benchmarks.servers import DEMO_DIR, ServerProcess, spawn

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "load.md"

#: The RPCs of section 1, in table order.
RPCS = ("PlanRoute", "GetStock", "PlanWave", "Allocate", "GetLayout", "Check")
#: Destinations of the demo network's orders (postal codes across the US).
DESTINATIONS = ["10001", "94105", "60601", "30301", "75201", "98101", "02108", "33101", "85001"]
#: What the solve limit says when it sheds a call (services/routing_service.py SolveSlots).
SLOTS_FULL = "solves are already running"
#: Deadline of the PlanWave calls under overload: a wave plan runs to its 0.2 s time limit.
WAVE_DEADLINE_S = 2.0

#: One client call: when it started (``time.monotonic()``, one clock for every process on the
#: machine), how long it took in seconds, and its status code's name.
Call = tuple[float, float, str]


# -- requests ---------------------------------------------------------------------------------


def _seconds(value: float) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromNanoseconds(round(value * 1e9))
    return out


def _skus(path: Path) -> list[str]:
    with path.open() as f:
        return sorted({row["sku"] for row in csv.DictReader(f)})


def demo_skus() -> list[str]:
    """SKUs stocked in the demo warehouse (deploy/demo/demo.stock.csv)."""
    return _skus(DEMO_DIR / "demo.stock.csv")


def fc_skus() -> list[str]:
    """SKUs stocked in some FC of the demo network (deploy/demo/networks/*.stock.csv)."""
    return sorted({s for p in (DEMO_DIR / "networks").glob("*.stock.csv") for s in _skus(p)})


def route_requests(n: int, seed: int) -> list[routing_pb2.PlanRouteRequest]:
    """``n`` random 30-pick routes on the demo warehouse (exact solver)."""
    return [
        routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=bins)
        for bins in pick_lists(n, seed)
    ]


def stock_requests(n: int, seed: int) -> list[inventory_pb2.GetStockRequest]:
    """``n`` reads of 5 random demo SKUs in the demo warehouse."""
    rng, skus = random.Random(seed), demo_skus()
    return [
        inventory_pb2.GetStockRequest(site_ids=["demo"], skus=rng.sample(skus, 5)) for _ in range(n)
    ]


def wave_requests(n: int, seed: int, time_limit_s: float) -> list[picking_pb2.PlanWaveRequest]:
    """``n`` waves of 8 orders of 1-3 demo SKUs, on a cart of 4 totes, solved for
    ``time_limit_s`` (the batching search runs to its limit, in a solver process)."""
    rng, skus = random.Random(seed), demo_skus()
    return [
        picking_pb2.PlanWaveRequest(
            warehouse_id="demo",
            orders=[
                picking_pb2.WaveOrder(
                    id=f"w{w}-o{i}",
                    lines=[
                        picking_pb2.WaveOrderLine(sku=sku, quantity=1)
                        for sku in rng.sample(skus, rng.randint(1, 3))
                    ],
                )
                for i in range(8)
            ],
            cart=picking_pb2.Cart(capacity_units=8, totes=4, orders_may_span_totes=True),
            options=common_pb2.SolveOptions(time_limit=_seconds(time_limit_s)),
        )
        for w in range(n)
    ]


def allocate_requests(n: int, seed: int) -> list[allocation_pb2.AllocateRequest]:
    """``n`` allocations of 3 orders of 1-3 SKUs on the demo FC network."""
    rng, skus = random.Random(seed), fc_skus()
    out = []
    for _ in range(n):
        orders = [
            allocation_pb2.AllocationOrder(
                id=f"o{i}",
                destination=allocation_pb2.Location(postal_code=rng.choice(DESTINATIONS)),
                lines=[
                    allocation_pb2.AllocationOrderLine(sku=sku, quantity=1)
                    for sku in rng.sample(skus, rng.randint(1, 3))
                ],
            )
            for i in range(3)
        ]
        used = sorted({line.sku for o in orders for line in o.lines})
        out.append(
            allocation_pb2.AllocateRequest(
                network_id="demo",
                orders=orders,
                skus=[
                    allocation_pb2.SkuUnit(
                        id=s, weight_kg=0.8, length_cm=30, width_cm=20, height_cm=10
                    )
                    for s in used
                ],
                plan_date=date_pb2.Date(year=2026, month=12, day=1),
                plan_time={"hours": 9},
                options=common_pb2.SolveOptions(time_limit=_seconds(1.0)),
            )
        )
    return out


def requests_for(kind: str, seed: int, wave_time_limit_s: float = 0.2) -> list[Any]:
    """A cycle of requests of RPC ``kind`` (one of :data:`RPCS`)."""
    if kind == "PlanRoute":
        return route_requests(200, seed)
    if kind == "GetStock":
        return stock_requests(50, seed)
    if kind == "PlanWave":
        return wave_requests(20, seed, wave_time_limit_s)
    if kind == "Allocate":
        return allocate_requests(20, seed)
    if kind == "GetLayout":
        return [layout_pb2.GetLayoutRequest(warehouse_id="demo")]
    if kind == "Check":
        return [health_pb2.HealthCheckRequest(service="")]
    raise ValueError(f"kind: unknown RPC {kind!r}")


def methods(channel: grpc.Channel) -> dict[str, Any]:
    """The unary-unary callables of :data:`RPCS` on ``channel``."""
    return {
        "PlanRoute": routing_pb2_grpc.RoutingServiceStub(channel).PlanRoute,
        "GetStock": inventory_pb2_grpc.InventoryServiceStub(channel).GetStock,
        "PlanWave": picking_pb2_grpc.PickingServiceStub(channel).PlanWave,
        "Allocate": allocation_pb2_grpc.AllocationServiceStub(channel).Allocate,
        "GetLayout": layout_pb2_grpc.LayoutServiceStub(channel).GetLayout,
        "Check": health_pb2_grpc.HealthStub(channel).Check,
    }


def code_name(code: grpc.StatusCode | None, details: str | None) -> str:
    """The status code's name; RESOURCE_EXHAUSTED not from the solve limit (gRPC's own
    concurrent-RPC limit, message size) is marked ``RESOURCE_EXHAUSTED*``."""
    if code is None:
        return "NONE"
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and SLOTS_FULL not in (details or ""):
        return "RESOURCE_EXHAUSTED*"
    return str(code.name)


# -- client processes (run in a spawn pool; each opens its own channel) ------------------------


def _connect(port: int) -> tuple[grpc.Channel, dict[str, Any]]:
    """A channel of its own (no subchannel shared with other channels), warmed by a health
    check that waits for the server."""
    channel = grpc.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
    )
    stubs = methods(channel)
    stubs["Check"](health_pb2.HealthCheckRequest(service=""), timeout=30, wait_for_ready=True)
    return channel, stubs


def _sleep_until(moment: float) -> None:
    time.sleep(max(moment - time.monotonic(), 0.0))


def closed_loop(
    port: int,
    kind: str,
    in_flight: int,
    start_at: float,
    seconds: float | None,
    count: int | None,
    deadline_s: float,
    seed: int,
    wave_time_limit_s: float = 0.2,
    backoff_s: float = 0.0,
) -> list[Call]:
    """Keep ``in_flight`` blocking ``kind`` calls going from ``start_at`` for ``seconds`` or
    until ``count`` calls have started; every call has ``deadline_s``. A failed call is followed
    by ``backoff_s`` of sleep in its thread. Returns every call made."""
    channel, stubs = _connect(port)
    method = stubs[kind]
    cycle = requests_for(kind, seed, wave_time_limit_s)
    stop = math.inf if seconds is None else start_at + seconds
    limit = math.inf if count is None else count
    lock = threading.Lock()
    issued = 0
    calls: list[Call] = []

    def worker() -> None:
        nonlocal issued
        while True:
            with lock:
                if issued >= limit or time.monotonic() >= stop:
                    return
                k, issued = issued, issued + 1
            started = time.monotonic()
            try:
                method(cycle[k % len(cycle)], timeout=deadline_s)
                code = "OK"
            except grpc.RpcError as exc:
                code = code_name(exc.code(), exc.details())
            calls.append((started, time.monotonic() - started, code))
            if code != "OK" and backoff_s:
                time.sleep(backoff_s)

    _sleep_until(start_at)
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(in_flight)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    channel.close()
    return calls


def _record(calls: list[Call], started: float, future: Any) -> None:
    calls.append((started, time.monotonic() - started, code_name(future.code(), future.details())))


def open_loop(
    port: int, kind: str, rate: float, start_at: float, seconds: float, deadline_s: float, seed: int
) -> tuple[list[Call], int, float]:
    """Start ``rate`` ``kind`` calls a second from ``start_at`` for ``seconds``, whatever the
    answers (calls in flight are not capped); return the calls once all have answered, how
    many were started, and the CPU seconds this client used from ``start_at``."""
    channel, stubs = _connect(port)
    method = stubs[kind]
    cycle = requests_for(kind, seed)
    calls: list[Call] = []
    issued = 0
    _sleep_until(start_at)
    cpu = time.process_time()
    while (now := time.monotonic()) < start_at + seconds:
        due = int((now - start_at) * rate) + 1
        while issued < due:
            started = time.monotonic()
            future = method.future(cycle[issued % len(cycle)], timeout=deadline_s)
            future.add_done_callback(functools.partial(_record, calls, started))
            issued += 1
        time.sleep(0.002)
    give_up = time.monotonic() + deadline_s + 10
    while len(calls) < issued and time.monotonic() < give_up:
        time.sleep(0.01)
    cpu = time.process_time() - cpu
    channel.close()
    return list(calls), issued, cpu


def bounded_loop(
    port: int,
    kind: str,
    in_flight: int,
    start_at: float,
    seconds: float,
    deadline_s: float,
    seed: int,
) -> tuple[list[Call], int, float]:
    """:func:`closed_loop` for ``seconds`` with ``in_flight`` calls, returning the calls, their
    number and the CPU seconds this client used (connecting included)."""
    cpu = time.process_time()
    calls = closed_loop(port, kind, in_flight, start_at, seconds, None, deadline_s, seed)
    return calls, len(calls), time.process_time() - cpu


def probe(
    ports: Sequence[int], start_at: float, seconds: float, interval_s: float
) -> list[list[Call]]:
    """One Health.Check on each of ``ports`` in turn every ``interval_s`` (5 s deadline) from
    ``start_at`` for ``seconds``; the calls per port."""
    connections = [_connect(port) for port in ports]
    request = health_pb2.HealthCheckRequest(service="")
    calls: list[list[Call]] = [[] for _ in ports]
    k = 0
    while (due := start_at + k * interval_s) < start_at + seconds:
        _sleep_until(due)
        for (_, stubs), out in zip(connections, calls, strict=True):
            started = time.monotonic()
            try:
                stubs["Check"](request, timeout=5.0)
                code = "OK"
            except grpc.RpcError as exc:
                code = code_name(exc.code(), exc.details())
            out.append((started, time.monotonic() - started, code))
        k += 1
    for channel, _ in connections:
        channel.close()
    return calls


def run_all(pool: Pool, tasks: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[Any]:
    """Run every ``(function, args)`` at once in the client pool; their results, in order."""
    pending = [pool.apply_async(fn, args) for fn, args in tasks]
    return [p.get() for p in pending]


def split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` near-equal whole shares."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# -- the server process -----------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """Resident memory of process ``pid`` (``VmRSS``, KiB); 0 once it has ended."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def solver_workers(pid: int) -> list[int]:
    """The solver worker processes of server ``pid`` (its spawned multiprocessing children,
    not multiprocessing's resource tracker)."""
    out = []
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                out.append(child)
    return out


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# -- 1. throughput and latency per RPC -------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of ``values`` (nan when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class Cell:
    """The calls of one RPC at one number of calls in flight."""

    kind: str
    in_flight: int
    calls: list[Call]

    @property
    def seconds(self) -> float:
        """From the first call's start to the last call's end."""
        start = min(c[0] for c in self.calls)
        return max(c[0] + c[1] for c in self.calls) - start

    @property
    def ok_per_s(self) -> float:
        """Calls answered OK per second."""
        return sum(c[2] == "OK" for c in self.calls) / self.seconds

    def latency_ms(self, q: float) -> float:
        """Latency quantile ``q`` of every call, in ms."""
        return 1000 * percentile([c[1] for c in self.calls], q)

    def codes(self) -> str:
        """Status codes and their counts."""
        return ", ".join(f"{k} {v:,}" for k, v in sorted(Counter(c[2] for c in self.calls).items()))


def throughput(
    pool: Pool, port: int, levels: Sequence[int], clients: int, seconds: float
) -> list[Cell]:
    """Every RPC of :data:`RPCS` at every level of calls in flight, split over client
    processes; 10 s deadlines."""
    cells = []
    for kind in RPCS:
        for level in levels:
            shares = [s for s in split(level, min(clients, level)) if s]
            start_at = time.monotonic() + 1.0  # the client processes connect first
            results = run_all(
                pool,
                [
                    (closed_loop, (port, kind, share, start_at, seconds, None, 10.0, 100 + i))
                    for i, share in enumerate(shares)
                ],
            )
            cell = Cell(kind, level, [c for calls in results for c in calls])
            cells.append(cell)
            print(
                f"  {kind} x{level}: {cell.ok_per_s:,.0f}/s p50 {cell.latency_ms(0.5):.1f} ms "
                f"p99 {cell.latency_ms(0.99):.1f} ms ({cell.codes()})",
                flush=True,
            )
    return cells


# -- 2. overload -----------------------------------------------------------------------------


@dataclass
class Overload:
    """One overload run: the load's calls, the health probes' (on the server's health port and
    on its API port), and the cores used."""

    mode: str
    seconds: float
    issued: int
    calls: list[Call]
    health: list[Call]
    api_health: list[Call]
    server_cores: float
    client_cores: float

    @property
    def offered_per_s(self) -> float:
        return self.issued / self.seconds

    @property
    def shed(self) -> int:
        return sum(c[2].startswith("RESOURCE_EXHAUSTED") for c in self.calls)

    @property
    def accepted(self) -> list[Call]:
        """Calls not shed."""
        return [c for c in self.calls if not c[2].startswith("RESOURCE_EXHAUSTED")]

    @property
    def late(self) -> int:
        """Accepted calls that failed DEADLINE_EXCEEDED."""
        return sum(c[2] == "DEADLINE_EXCEEDED" for c in self.accepted)

    @property
    def ok_per_s(self) -> float:
        return sum(c[2] == "OK" for c in self.calls) / self.seconds

    @property
    def peak_in_flight(self) -> int:
        """Most load calls in flight at once, as the clients saw them."""
        events = sorted([(c[0], 1) for c in self.calls] + [(c[0] + c[1], -1) for c in self.calls])
        peak = now = 0
        for _, step in events:
            now += step
            peak = max(peak, now)
        return peak

    def health_ms(self, q: float) -> float:
        return 1000 * percentile([c[1] for c in self.health], q)

    def ok_ms(self, q: float) -> float:
        return 1000 * percentile([c[1] for c in self.calls if c[2] == "OK"], q)


def overload(
    pool: Pool,
    server: ServerProcess,
    health_port: int,
    clients: int,
    seconds: float,
    deadline_s: float,
    *,
    rate: float = 0.0,
    in_flight: int = 0,
    kind: str = "PlanRoute",
) -> Overload:
    """``kind`` load from ``clients`` processes while one more probes Health.Check every
    20 ms on ``health_port`` and on the API port: ``rate`` calls a second open-loop, or else
    ``in_flight`` calls closed-loop."""
    start_at = time.monotonic() + 1.0
    tasks: list[tuple[Callable[..., Any], tuple[Any, ...]]] = [
        (probe, ((health_port, server.port), start_at, seconds, 0.02))
    ]
    for i, share in enumerate(split(in_flight, clients) if not rate else [0] * clients):
        tasks.append(
            (
                open_loop if rate else bounded_loop,
                (
                    server.port,
                    kind,
                    rate / clients if rate else share,
                    start_at,
                    seconds,
                    deadline_s,
                    200 + i,
                ),
            )
        )
    pending = [pool.apply_async(fn, args) for fn, args in tasks]
    _sleep_until(start_at)
    server_cpu = tree_cpu_seconds(server.process.pid)
    (health, api_health), *loads = [p.get() for p in pending]
    window = time.monotonic() - start_at
    server_cpu = tree_cpu_seconds(server.process.pid) - server_cpu
    run = Overload(
        f"{kind}, " + ("open loop" if rate else f"closed loop, {in_flight} in flight"),
        seconds,
        sum(issued for _, issued, _ in loads),
        [c for calls, _, _ in loads for c in calls],
        health,
        api_health,
        server_cpu / window,
        sum(cpu for _, _, cpu in loads) / window,
    )
    print(
        f"  {run.mode}: offered {run.offered_per_s:,.0f}/s, peak {run.peak_in_flight} in "
        f"flight: OK {run.ok_per_s:,.0f}/s, shed {run.shed / max(run.issued, 1):.0%}, late "
        f"{run.late}; health p50 {run.health_ms(0.5):.1f} ms p99 {run.health_ms(0.99):.1f} ms "
        f"(API port: {_codes(run.api_health)}); "
        f"CPU server {run.server_cores:.2f}, clients {run.client_cores:.2f} cores",
        flush=True,
    )
    return run


# -- 3. memory over many solves --------------------------------------------------------------


@dataclass
class Sample:
    """Resident memory at a number of solves."""

    solves: int
    elapsed_s: float
    server_kib: int
    children_kib: list[int]
    failed: int

    @property
    def total_kib(self) -> int:
        return self.server_kib + sum(self.children_kib)


def sample(server: ServerProcess, solves: int, elapsed_s: float, failed: int) -> Sample:
    """The server's and its processes' resident memory now."""
    children = descendants(server.process.pid)
    return Sample(
        solves, elapsed_s, rss_kib(server.process.pid), [rss_kib(p) for p in children], failed
    )


def memory(
    pool: Pool, server: ServerProcess, checkpoints: Sequence[int], clients: int, in_flight: int
) -> list[Sample]:
    """PlanRoute solves in stages ending at each checkpoint; memory read after each stage."""
    samples = [sample(server, 0, 0.0, 0)]
    done, failed, started = 0, 0, time.monotonic()
    for checkpoint in checkpoints:
        start_at = time.monotonic() + 1.0
        results = run_all(
            pool,
            [
                (
                    closed_loop,
                    (server.port, "PlanRoute", in_flight, start_at, None, share, 10.0, 300 + i),
                )
                for i, share in enumerate(split(checkpoint - done, clients))
            ],
        )
        calls = [c for r in results for c in r]
        done += len(calls)
        failed += sum(c[2] != "OK" for c in calls)
        samples.append(sample(server, done, time.monotonic() - started, failed))
        print(
            f"  {done:,} solves: {samples[-1].total_kib / 1024:.1f} MiB "
            f"(server {samples[-1].server_kib / 1024:.1f} MiB), {failed} failed",
            flush=True,
        )
    return samples


# -- 4. SIGTERM during load ------------------------------------------------------------------


@dataclass
class Shutdown:
    """One SIGTERM under load."""

    signal_at: float
    deadline_s: float
    calls: dict[str, list[Call]]
    exit_s: float
    returncode: int | None
    workers_left: int

    def during(self, kind: str) -> list[Call]:
        """``kind`` calls started before the signal and answered after it."""
        t = self.signal_at
        return [c for c in self.calls[kind] if c[0] < t <= c[0] + c[1]]

    def after(self, kind: str) -> list[Call]:
        """``kind`` calls started after the signal."""
        return [c for c in self.calls[kind] if c[0] >= self.signal_at]

    def before(self, kind: str) -> list[Call]:
        """``kind`` calls answered before the signal."""
        return [c for c in self.calls[kind] if c[0] + c[1] < self.signal_at]

    def hung(self) -> int:
        """Calls that came back after their deadline or with DEADLINE_EXCEEDED."""
        return sum(
            c[1] > self.deadline_s + 0.5 or c[2] == "DEADLINE_EXCEEDED"
            for calls in self.calls.values()
            for c in calls
        )


def shutdown(
    pool: Pool, workdir: Path, name: str, load_s: float, after_s: float, deadline_s: float
) -> Shutdown:
    """Start a server, load it with PlanRoute (8 in flight) and PlanWave (4 in flight, 1 s
    solves), SIGTERM it after ``load_s``; clients go on for ``after_s`` more, backing off 20 ms
    after each failure."""
    server = spawn(workdir, name, "--max-concurrent-solves=12")  # every call gets a slot
    workers = solver_workers(server.process.pid)
    kinds = ("PlanRoute", "PlanWave")
    start_at = time.monotonic() + 1.0
    seconds = load_s + after_s
    pending = [
        pool.apply_async(
            closed_loop,
            (server.port, kind, n, start_at, seconds, None, deadline_s, 400 + i, 1.0, 0.02),
        )
        for i, (kind, n) in enumerate(zip(kinds, (8, 4), strict=True))
    ]
    _sleep_until(start_at + load_s)
    signal_at = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        returncode: int | None = server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        returncode = None
    exit_s = time.monotonic() - signal_at
    calls = dict(zip(kinds, (p.get() for p in pending), strict=True))
    server.stop()
    run = Shutdown(
        signal_at,
        deadline_s,
        calls,
        exit_s,
        returncode,
        sum(running(p) for p in workers),
    )
    print(
        "  "
        + "; ".join(f"{k}: {len(run.during(k))} in flight at SIGTERM" for k in kinds)
        + f"; server exited in {exit_s:.2f} s (rc {returncode}); {run.hung()} hung",
        flush=True,
    )
    return run


# -- the report ------------------------------------------------------------------------------


def _codes(calls: Sequence[Call]) -> str:
    counts = Counter(c[2] for c in calls)
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "none"


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def report(
    args: argparse.Namespace,
    cells: list[Cell],
    rates: tuple[Cell, Cell, Cell],
    overloads: list[Overload],
    samples: list[Sample],
    stops: list[Shutdown],
) -> str:
    """The Markdown of ``results/load.md``."""
    lines = [
        "# The server under load",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; server and client processes share the "
        "cores, and the machine is shared and noisy, so figures move by tens of percent from "
        "run to run. Generated by "
        f"`python -m benchmarks.load_bench{' --quick' if args.quick else ''}` on "
        f"{time.strftime('%Y-%m-%d')}. Server: `python -m services.server "
        "--layouts-dir deploy/demo` (demo warehouse, its stock and the demo FC network), fresh "
        f"SQLite database, metrics off; clients: up to {args.clients} processes with a channel "
        "each.",
        "",
        "## 1. Throughput and latency per RPC",
        "",
        f"Default settings (2 solver processes, 16 handler threads, 4 concurrent solves). "
        f"Closed loop: each client keeps its share of the calls in flight for "
        f"{args.seconds:g} s; 10 s deadlines. PlanRoute: {PICKS} random picks on the demo "
        "warehouse (exact solver; in a solver process when another solve is in progress); "
        "GetStock: 5 SKUs; PlanWave: 8 orders "
        "of 1-3 lines, 0.2 s time limit (runs to it, in a solver process); Allocate: 3 orders "
        "on network `demo`, 1 s limit; GetLayout: `demo`; Check: `grpc.health.v1`, service "
        '`""`.',
        "",
        "| RPC | in flight | OK/s | p50 ms | p99 ms | status codes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {c.kind} | {c.in_flight} | {c.ok_per_s:,.0f} | {c.latency_ms(0.5):.1f} "
        f"| {c.latency_ms(0.99):.1f} | {c.codes()} |"
        for c in cells
    ]
    saturation, waves, empty = rates
    groups: dict[str, list[Overload]] = {}
    for r in overloads:
        groups.setdefault(r.mode, []).append(r)
    runs = groups["PlanRoute, open loop"]
    bounded = groups[f"PlanRoute, closed loop, {args.bounded_in_flight} in flight"]
    heavy = groups["PlanWave, open loop"]
    health_p99 = statistics.median(r.health_ms(0.99) for r in runs + heavy)
    health_ok = all(c[2] == "OK" for r in runs + heavy for c in r.health)
    api_checks = [c for r in runs for c in r.api_health]
    api_refused = sum(c[2] != "OK" for c in api_checks) / max(len(api_checks), 1)
    late = sum(r.late for r in runs)
    late_heavy = sum(r.late for r in heavy)
    lines += [
        "",
        "## 2. Overload",
        "",
        f"Sustainable rates: PlanRoute {saturation.ok_per_s:,.0f}/s, PlanWave "
        f"{waves.ok_per_s:,.0f}/s (the best of section 1, at {saturation.in_flight} and "
        f"{waves.in_flight} in flight). Server: default settings (2 solver processes, 16 handler "
        "threads and gRPC's cap of 16 calls in progress, 4 concurrent solves; a solve call "
        "finding the 4 slots taken waits up to 0.1 s, then is shed with RESOURCE_EXHAUSTED) "
        "plus `--health-port`. **Open loop**: "
        f"{args.overload:g}x the sustainable rate offered from {args.clients} client processes "
        "on a clock, whatever the answers (calls in flight not capped). **Closed loop** (for "
        f"contrast): {args.bounded_in_flight} calls kept in flight over the {args.clients} "
        f"processes. {args.overload_seconds:g} s per run; deadlines 1 s (PlanRoute) and "
        f"{WAVE_DEADLINE_S:g} s (PlanWave, 8 orders, 0.2 s time limit); a separate process "
        "calls Health.Check every 20 ms (5 s deadline) on the health port (the probes' "
        "listener: its own threads, no cap) and then on the API port. The PlanRoute modes "
        "alternate, then "
        f'the PlanWave runs follow; {len(runs)} run(s) each; medians follow the runs. "Accepted": '
        "not shed; a DEADLINE_EXCEEDED call waited past its deadline somewhere between the "
        "client and the handler (the client cannot tell where). `RESOURCE_EXHAUSTED*` is "
        "gRPC's own cap on calls in progress (16), not the solve limit. CPU in "
        "cores (of 2): the server with its processes, and the load clients, over the run.",
        "",
        "| mode | run | offered/s | peak in flight | OK/s | shed (RESOURCE_EXHAUSTED) "
        "| accepted | DEADLINE_EXCEEDED among accepted | OK p50 / p99 ms "
        "| health port p50 / p99 / max ms | CPU server / clients | health port codes "
        "| API port health codes | load codes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    med = statistics.median
    for group in groups.values():
        for i, r in enumerate(group, 1):
            lines.append(
                f"| {r.mode} | {i} | {r.offered_per_s:,.0f} | {r.peak_in_flight:,} "
                f"| {r.ok_per_s:,.0f} | {r.shed:,} ({r.shed / max(r.issued, 1):.1%}) "
                f"| {len(r.accepted):,} | {r.late:,} | {r.ok_ms(0.5):.1f} / {r.ok_ms(0.99):.1f} "
                f"| {r.health_ms(0.5):.1f} / {r.health_ms(0.99):.1f} / {r.health_ms(1.0):.1f} "
                f"| {r.server_cores:.2f} / {r.client_cores:.2f} | {_codes(r.health)} "
                f"| {_codes(r.api_health)} | {_codes(r.calls)} |"
            )
        if len(group) > 1:
            lines.append(
                f"| {group[0].mode} | median | {med(r.offered_per_s for r in group):,.0f} "
                f"| {med(r.peak_in_flight for r in group):,.0f} "
                f"| {med(r.ok_per_s for r in group):,.0f} "
                f"| {med(r.shed / max(r.issued, 1) for r in group):.1%} "
                f"| {med(len(r.accepted) for r in group):,.0f} "
                f"| {med(r.late for r in group):,.0f} "
                f"| {med(r.ok_ms(0.5) for r in group):.1f} / "
                f"{med(r.ok_ms(0.99) for r in group):.1f} "
                f"| {med(r.health_ms(0.5) for r in group):.1f} / "
                f"{med(r.health_ms(0.99) for r in group):.1f} / "
                f"{med(r.health_ms(1.0) for r in group):.1f} "
                f"| {med(r.server_cores for r in group):.2f} / "
                f"{med(r.client_cores for r in group):.2f} | | | |"
            )
    offered = med(r.offered_per_s for r in runs)
    lines += [
        "",
        f"How the open-loop PlanRoute flood is shed: {args.overload:g}x the PlanRoute rate is "
        f"{offered:,.0f} calls/s, {offered / empty.ok_per_s:.0%} of the rate at which this "
        f"server answers *empty* calls (Health.Check, {empty.ok_per_s:,.0f}/s at "
        f"{empty.in_flight} in flight in section 1), so the surplus must be refused for much "
        "less than an empty call costs. gRPC's cap does that: a call arriving with 16 in "
        "progress is refused in gRPC's receiving thread, never handed to Python code. Two "
        "things keep that thread quick: few handler threads compete with it for the "
        "interpreter lock, and PlanRoute's exact solves run in the solver processes whenever "
        "another solve is in progress (a lone call is still solved in the serving process, "
        "for latency). Health checks on the API port count against the same cap, so under "
        "the flood many are refused; probes use the health port.",
    ]
    base = next(s for s in samples if s.solves >= args.checkpoints[1])
    last = samples[-1]
    growth = (last.total_kib - base.total_kib) / base.total_kib
    lines += [
        "",
        "## 3. Memory over many solves",
        "",
        "Default settings but 12 concurrent solves, so no call is shed; "
        f"{args.clients} client processes x {args.in_flight} PlanRoute calls "
        f"in flight ({PICKS} random picks, exact solver, in the solver processes when several "
        "are in flight). Resident memory (VmRSS) read between stages, with the server at rest; "
        '"children" are the processes the server started (the 2 solver workers and '
        "multiprocessing's helper).",
        "",
        "| solves | elapsed s | server MiB | children MiB (each) | total MiB | failed calls |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s.solves:,} | {s.elapsed_s:.0f} | {s.server_kib / 1024:.1f} | "
        f"{sum(s.children_kib) / 1024:.1f} ({', '.join(f'{k / 1024:.0f}' for k in s.children_kib)})"
        f" | {s.total_kib / 1024:.1f} | {s.failed:,} |"
        for s in samples
    ]
    server_growth = (last.server_kib - base.server_kib) / base.server_kib
    lines += [
        "",
        f"Growth from {base.solves:,} to {last.solves:,} solves: total {growth:+.1%}, server "
        f"process alone {server_growth:+.1%}.",
        "",
        "## 4. SIGTERM during load",
        "",
        "Default settings but 12 concurrent solves, so no call is shed (5 s grace period). "
        "One client process keeps 8 PlanRoute calls in "
        "flight, another 4 PlanWave calls (8 orders, 1 s time limit, in the 2 solver "
        f"processes); {args.deadline:g} s deadlines; SIGTERM after {args.load_seconds:g} s; "
        f"clients go on {args.after_seconds:g} s more, 20 ms back-off after a failure. "
        '"In flight" calls started before the signal and were answered after it. A call hung '
        "if it came back later than its deadline or with DEADLINE_EXCEEDED.",
        "",
        "| run | RPC | answered before | in flight at SIGTERM | their codes | started after "
        "| their codes | hung |",
        "|---|---|---:|---:|---|---:|---|---:|",
    ]
    for i, stop in enumerate(stops, 1):
        for kind in stop.calls:
            during, after = stop.during(kind), stop.after(kind)
            hung = sum(
                c[1] > stop.deadline_s + 0.5 or c[2] == "DEADLINE_EXCEEDED"
                for c in stop.calls[kind]
            )
            lines.append(
                f"| {i} | {kind} | {len(stop.before(kind)):,} | {len(during)} | "
                f"{_codes(during)} | {len(after):,} | {_codes(after)} | {hung} |"
            )
    lines += [
        "",
        "| run | server exit after SIGTERM | exit code | solver workers still running after "
        "the clients stopped |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {i} | {s.exit_s:.2f} s | {s.returncode} | {s.workers_left} |"
        for i, s in enumerate(stops, 1)
    ]
    in_flight = [c for s in stops for k in s.calls for c in s.during(k)]
    lost = sum(c[2] not in ("OK", "UNAVAILABLE", "CANCELLED") for c in in_flight)
    hung_total = sum(s.hung() for s in stops)
    lines += [
        "",
        "## Targets",
        "",
        f"- Health.Check p99 under {args.overload:g}x PlanRoute or PlanWave overload < 50 ms, "
        f"on the health port: {_met(health_p99 < 50 and health_ok)} ({health_p99:.1f} ms, "
        f"median of {len(runs + heavy)} runs; "
        f"{'every' if health_ok else 'not every'} probe answered SERVING). On the API port "
        f"{api_refused:.0%} of the health checks were refused with RESOURCE_EXHAUSTED under "
        "the PlanRoute flood.",
        f"- Accepted calls under {args.overload:g}x PlanWave overload meet their deadlines: "
        f"{_met(late_heavy == 0)} ({late_heavy:,} DEADLINE_EXCEEDED among "
        f"{sum(len(r.accepted) for r in heavy):,} accepted; "
        f"{statistics.median(r.shed / max(r.issued, 1) for r in heavy):.1%} shed with "
        "RESOURCE_EXHAUSTED, median).",
        f"- Accepted calls under {args.overload:g}x PlanRoute overload meet their deadlines: "
        f"{_met(late == 0)} ({late:,} DEADLINE_EXCEEDED among "
        f"{sum(len(r.accepted) for r in runs):,} accepted; "
        f"{statistics.median(r.shed / max(r.issued, 1) for r in runs):.1%} shed with "
        "RESOURCE_EXHAUSTED, median). Closed loop with "
        f"{args.bounded_in_flight} in flight, for contrast: health p99 "
        f"{statistics.median(r.health_ms(0.99) for r in bounded):.1f} ms, "
        f"{sum(r.late for r in bounded):,} DEADLINE_EXCEEDED among "
        f"{sum(len(r.accepted) for r in bounded):,} accepted, "
        f"{statistics.median(r.shed / max(r.issued, 1) for r in bounded):.1%} shed.",
        f"- Memory growth from {base.solves:,} to {last.solves:,} PlanRoute solves < 10 %: "
        f"{_met(growth < 0.10)} ({growth:+.1%}, {base.total_kib / 1024:.1f} -> "
        f"{last.total_kib / 1024:.1f} MiB, server and its processes).",
        f"- SIGTERM under load, none lost (every call in flight at the signal answered OK or "
        f"with a clear UNAVAILABLE / CANCELLED, none hung): {_met(lost == 0 and hung_total == 0)}"
        f" ({len(in_flight)} in flight over {len(stops)} run(s): {_codes(in_flight)}; "
        f"{hung_total} hung).",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the four measurements and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a small smoke run (< 1 min)")
    parser.add_argument("--clients", type=int, default=2, help="load client processes")
    parser.add_argument("--seconds", type=float, default=6.0, help="per cell of section 1")
    parser.add_argument("--overload", type=float, default=4.0, help="times the sustainable rate")
    parser.add_argument("--overload-seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3, help="overload and SIGTERM runs")
    parser.add_argument(
        "--bounded-in-flight", type=int, default=64, help="closed-loop overload, all clients"
    )
    parser.add_argument("--in-flight", type=int, default=6, help="per client, section 3")
    parser.add_argument("--load-seconds", type=float, default=3.0, help="before SIGTERM")
    parser.add_argument("--after-seconds", type=float, default=4.0, help="after SIGTERM")
    parser.add_argument("--deadline", type=float, default=10.0, help="section 4 deadlines")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    levels: tuple[int, ...] = (1, 4, 16)
    args.checkpoints = (1_000, 10_000, 25_000, 50_000, 75_000, 100_000)
    if args.quick:
        levels = (1, 8)
        args.seconds, args.overload_seconds, args.repeats = 1.0, 1.5, 1
        args.load_seconds, args.after_seconds = 1.5, 1.5
        args.checkpoints = (500, 1_000, 2_000, 3_000)
    ctx = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory(prefix="load-bench-") as tmp,
        ctx.Pool(args.clients + 2) as pool,
    ):
        workdir = Path(tmp)
        print("1. throughput per RPC", flush=True)
        server = spawn(workdir, "throughput")
        try:
            cells = throughput(pool, server.port, levels, args.clients, args.seconds)
        finally:
            server.stop()
        saturation = max((c for c in cells if c.kind == "PlanRoute"), key=lambda c: c.ok_per_s)
        waves = max((c for c in cells if c.kind == "PlanWave"), key=lambda c: c.ok_per_s)
        empty = max((c for c in cells if c.kind == "Check"), key=lambda c: c.ok_per_s)
        print("2. overload", flush=True)
        health_port = free_port()
        server = spawn(workdir, "overload", f"--health-port={health_port}")
        try:
            run = functools.partial(
                overload, pool, server, health_port, args.clients, args.overload_seconds
            )
            runs, bounded = [], []
            for _ in range(args.repeats):
                runs.append(run(1.0, rate=args.overload * saturation.ok_per_s))
                bounded.append(run(1.0, in_flight=args.bounded_in_flight))
            # The same limits against the heaviest solve: its excess costs little to refuse.
            heavy = [
                run(WAVE_DEADLINE_S, rate=args.overload * waves.ok_per_s, kind="PlanWave")
                for _ in range(args.repeats)
            ]
        finally:
            server.stop()
        print("3. memory", flush=True)
        # Every call gets a solve slot and a thread: the section counts solves, not refusals.
        server = spawn(workdir, "memory", "--max-concurrent-solves=12")
        try:
            samples = memory(pool, server, args.checkpoints, args.clients, args.in_flight)
        finally:
            server.stop()
        print("4. SIGTERM during load", flush=True)
        stops = [
            shutdown(
                pool, workdir, f"sigterm{i}", args.load_seconds, args.after_seconds, args.deadline
            )
            for i in range(args.repeats)
        ]
    text = report(args, cells, (saturation, waves, empty), runs + bounded + heavy, samples, stops)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
