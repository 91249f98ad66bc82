"""RoutingService over gRPC: start-up time, latency and throughput on loopback.

Run ``python -m benchmarks.grpc_bench`` (``make bench``); it rewrites
``benchmarks/results/grpc.md``. The server runs as its own process (``python -m services.server``
with the demo warehouse, as ``make run`` starts it) and the load comes from separate client
processes, all on this machine's cores, so throughput is what two cores give server and clients
together. The in-process solve of the same pick lists is measured in the same run as the
baseline of the latency ratio. Latency is also measured on a two-block copy of the demo, put
through LayoutService after the start.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import grpc
import yaml
from google.protobuf import json_format
from warehouse.v1 import layout_pb2, layout_pb2_grpc, routing_pb2, routing_pb2_grpc

from routing.oracle import DistanceOracle
from routing.rectangular import RectangularDepot, RectangularLayout
from routing.route import PickList, solve

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "grpc.md"
T = TypeVar("T")
PICKS = 30


def demo_bins(blocks: int = 1, cells: int = 45) -> list[str]:
    """Bin ids of the demo warehouse (deploy/demo/demo.yaml), or of its copy with ``blocks``
    blocks of ``cells`` cells per face."""
    return [
        f"A{a:02d}-B{b}-{p:03d}{s}"
        for a in range(1, 11)
        for b in range(1, blocks + 1)
        for p in range(1, cells + 1)
        for s in "LR"
    ]


def pick_lists(n: int, seed: int, bins: list[str] | None = None) -> list[list[str]]:
    """``n`` random 30-bin pick lists on the demo warehouse (or among ``bins``)."""
    rng = random.Random(seed)
    bins = demo_bins() if bins is None else bins
    return [rng.sample(bins, PICKS) for _ in range(n)]


#: The two-block copy of the demo: its aisles split by a middle cross aisle into two blocks of
#: 22 cells per face (Henn-Waescher geometry with three cross aisles).
TWO_BLOCKS = "demo-two-blocks"


def two_block_layout() -> layout_pb2.Layout:
    """The demo layout file with a middle cross aisle, under the id :data:`TWO_BLOCKS`."""
    raw = yaml.safe_load((ROOT / "deploy" / "demo" / "demo.yaml").read_text())
    layout = json_format.ParseDict(raw, layout_pb2.Layout())
    layout.id = TWO_BLOCKS
    layout.rectangular.cross_aisles = 3
    layout.rectangular.cells_per_face[:] = [22]
    return layout


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, db: Path) -> tuple[subprocess.Popen[bytes], float]:
    """Start the server the way ``make run`` does; return it and the seconds to first answer."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.server",
            f"--listen-address=127.0.0.1:{port}",
            "--metrics-port=-1",
            f"--db-path={db}",
            f"--layouts-dir={ROOT / 'deploy' / 'demo'}",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    request = routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=pick_lists(1, 0)[0])
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = routing_pb2_grpc.RoutingServiceStub(channel)
        while True:
            try:
                stub.PlanRoute(request, timeout=30, wait_for_ready=True)
                break
            except grpc.RpcError:
                if proc.poll() is not None or time.perf_counter() - started > 60:
                    raise
                time.sleep(0.05)
    return proc, time.perf_counter() - started


def _answer(call: grpc.Future[T]) -> T | None:
    """The call's response; None when it was refused with RESOURCE_EXHAUSTED (the server
    sheds what its solve slots cannot take). Other failures end the benchmark."""
    try:
        return call.result()
    except grpc.RpcError as exc:
        code = exc.code()
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            return None
        raise RuntimeError(f"{code}: {exc.details()}") from None


def _client(port: int, seconds: float, in_flight: int, batch: int, seed: int) -> tuple[int, int]:
    """Keep ``in_flight`` calls going for ``seconds``; return how many routes came back and
    how many calls were refused."""
    lists = pick_lists(200, seed)
    channel = grpc.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
    )
    stub = routing_pb2_grpc.RoutingServiceStub(channel)
    done, refused, k = 0, 0, 0
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        if batch == 1:
            calls = [
                stub.PlanRoute.future(
                    routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=lists[(k + j) % 200])
                )
                for j in range(in_flight)
            ]
            answers = [_answer(call) for call in calls]
            done += sum(a is not None for a in answers)
            refused += sum(a is None for a in answers)
        else:
            items = [
                routing_pb2.PlanRouteRequest(warehouse_id="demo", bin_ids=lists[(k + j) % 200])
                for j in range(batch)
            ]
            batches = [
                stub.PlanRoutes.future(routing_pb2.PlanRoutesRequest(requests=items))
                for _ in range(in_flight)
            ]
            for batch_call in batches:
                answer = _answer(batch_call)
                done += 0 if answer is None else len(answer.results)
                refused += answer is None
        k += in_flight
    channel.close()
    return done, refused


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Every live process started by ``pid``, directly or not."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [c for c, p in parents.items() if p in frontier]
        found += children
        frontier = children
    return sorted(found)


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and the live processes it started."""
    total = 0.0
    for p in (pid, *descendants(pid)):
        with contextlib.suppress(OSError, IndexError):  # the process just ended
            total += cpu_seconds(p)
    return total


def throughput(
    port: int, server_pid: int, clients: int, in_flight: int, batch: int, seconds: float
) -> tuple[float, float, int]:
    """Routes per second with ``clients`` client processes, the server's CPU ms per route (its
    solver processes included), and how many calls were refused with RESOURCE_EXHAUSTED."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(clients) as pool:
        cpu_before = tree_cpu_seconds(server_pid)
        started = time.perf_counter()
        counts = pool.starmap(
            _client, [(port, seconds, in_flight, batch, 100 + i) for i in range(clients)]
        )
        elapsed = time.perf_counter() - started
        cpu = tree_cpu_seconds(server_pid) - cpu_before
    routes = sum(done for done, _ in counts)
    return routes / elapsed, 1000 * cpu / max(routes, 1), sum(refused for _, refused in counts)


def latency(port: int, lists: list[list[str]], warehouse_id: str = "demo") -> list[float]:
    """Seconds per PlanRoute, one call at a time."""
    times = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = routing_pb2_grpc.RoutingServiceStub(channel)
        for bins in lists[:20]:  # warm the connection and caches
            stub.PlanRoute(routing_pb2.PlanRouteRequest(warehouse_id=warehouse_id, bin_ids=bins))
        for bins in lists:
            request = routing_pb2.PlanRouteRequest(warehouse_id=warehouse_id, bin_ids=bins)
            started = time.perf_counter()
            stub.PlanRoute(request)
            times.append(time.perf_counter() - started)
    return times


def in_process(lists: list[list[str]], blocks: int = 1) -> list[float]:
    """Seconds per in-process :func:`routing.route.solve` on the demo geometry (``blocks`` 2:
    its two-block copy)."""
    oracle = DistanceOracle(
        RectangularLayout(
            "demo",
            aisles=10,
            cells_per_face=45 if blocks == 1 else 22,
            aisle_spacing_m=5.0,
            cross_aisles=blocks + 1,
            cross_aisle_width_m=3.0,
            end_gap_m=1.5,
            depots=(RectangularDepot("DEPOT"),),
        )
    )
    times = []
    for bins in lists:
        started = time.perf_counter()
        solve(oracle, PickList(tuple(bins)))
        times.append(time.perf_counter() - started)
    return times


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    calls = 100 if args.quick else 1000
    seconds = 2.0 if args.quick else 10.0
    lists = pick_lists(calls, 1)
    with tempfile.TemporaryDirectory() as tmp:
        startups = []
        for i in range(1 if args.quick else 3):
            port = free_port()
            proc, startup = start_server(port, Path(tmp) / f"w{i}.db")
            startups.append(startup)
            if i < (0 if args.quick else 2):
                proc.terminate()
                proc.wait(30)
        try:
            remote = latency(port, lists)
            local = in_process(lists)
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                layout_pb2_grpc.LayoutServiceStub(channel).PutLayout(
                    layout_pb2.PutLayoutRequest(layout=two_block_layout())
                )
            two_lists = pick_lists(calls, 2, demo_bins(blocks=2, cells=22))
            remote_two = latency(port, two_lists, TWO_BLOCKS)
            local_two = in_process(two_lists, blocks=2)
            unary, unary_cpu, unary_refused = throughput(port, proc.pid, 2, 8, 1, seconds)
            batched, batched_cpu, batched_refused = throughput(port, proc.pid, 1, 2, 100, seconds)
        finally:
            proc.terminate()
            proc.wait(30)
    med_remote = 1000 * statistics.median(remote)
    med_local = 1000 * statistics.median(local)
    text = "\n".join(
        [
            "# RoutingService over gRPC",
            "",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}; server and "
            "clients share the cores. Generated by "
            f"`python -m benchmarks.grpc_bench{' --quick' if args.quick else ''}` on "
            f"{time.strftime('%Y-%m-%d')}. Demo warehouse (one block, 10 aisles, 900 bins), "
            f"{PICKS}-pick lists, exact solver.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| start to first answered PlanRoute (median of {len(startups)}, warm) "
            f"| {statistics.median(startups):.2f} s |",
            f"| PlanRoute latency, one call at a time: median / p95 "
            f"| {med_remote:.2f} / {1000 * float(_p95(remote)):.2f} ms |",
            f"| in-process solve of the same lists: median | {med_local:.2f} ms |",
            f"| gRPC over in-process (median ratio) | {med_remote / med_local:.2f}x |",
            "| two blocks (the demo split by a middle cross aisle, 2 x 22 cells): PlanRoute "
            "latency, one call at a time: median / p95 "
            f"| {1000 * statistics.median(remote_two):.2f} / {1000 * float(_p95(remote_two)):.2f} "
            "ms |",
            "| two blocks: in-process solve of the same lists: median "
            f"| {1000 * statistics.median(local_two):.2f} ms |",
            "| throughput, PlanRoute, 2 client processes x 8 in flight "
            f"| {unary:.0f} routes/s ({unary_refused:,} calls refused) |",
            "| server CPU per route (its solver processes included), PlanRoute "
            f"| {unary_cpu:.2f} ms |",
            f"| throughput, PlanRoutes of 100 lists, 1 client x 2 in flight "
            f"| {batched:.0f} routes/s ({batched_refused:,} calls refused) |",
            "| server CPU per route (its solver processes included), PlanRoutes "
            f"| {batched_cpu:.2f} ms |",
            "",
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


if __name__ == "__main__":
    main()
