"""Batch replanning benchmark: a whole day in-process, and the remote engine's scaling.

Two measurements, written to benchmarks/results/replan.md:

1. **A day in-process**: the generated day of ``--orders`` orders (default 20,000) in three
   warehouses (:func:`services.replan.sample.write_sample_day`, seed 1, its settings but
   ``--max-iterations`` batching iterations per wave), replanned by the local engine on every
   core: allocation of every region, then picking of every wave. Reported per stage, with the
   savings against the nearest-FC and FCFS + S-shape baselines; the reference in the same run
   is the day's allocation split into regions of 5,000 orders, to show what regions cost.
2. **Iterations per wave**: 24 waves drawn from that day, planned in-process with 2 and with 20
   batching iterations: total distance and time, to show what the iteration budget buys.
3. **Remote scaling**: a smaller day (``--remote-orders``) replanned by the remote engine
   against one server process, then against two on loopback (``--workers 0``: each process
   solves in its own handler threads, so one process is one core), ``--repeats`` times each,
   alternating. Reported: median waves per second and the ratio. The client runs on the same
   machine, so on two cores the ratio is bounded by the client's share of the CPU.

Run ``python -m benchmarks.replan_bench`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

from benchmarks.allocation_bench import cpu_model
from benchmarks.servers import spawn
from services.replan import job
from services.replan.day import Day, load_day
from services.replan.engines import Connection, Engine, LocalEngine, RemoteEngine
from services.replan.progress import Progress
from services.replan.sample import write_sample_day

RESULTS = Path(__file__).parent / "results" / "replan.md"
ROOT = Path(__file__).resolve().parent.parent


def make_day(directory: Path, orders: int, max_iterations: int, per_region: int) -> Day:
    """The generated day with the benchmark's iteration budget and region size."""
    manifest = write_sample_day(directory, orders=orders, warehouses=3, seed=1)
    spec = yaml.safe_load(manifest.read_text())
    spec["picking"]["max_iterations"] = max_iterations
    spec["allocation"]["orders_per_region"] = per_region
    manifest.write_text(yaml.safe_dump(spec))
    return load_day(manifest)


def quiet() -> Progress:
    return Progress(open(os.devnull, "w"))


def run(day: Day, engine: Engine, out: Path) -> tuple[job.Outcome, float]:
    """Replan ``day`` from scratch; return the outcome and the wall-clock seconds."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.monotonic()
    try:
        outcome = job.replan(day, engine, out, quiet())
    finally:
        engine.close()
    if not outcome.complete:
        raise SystemExit(f"replan failed: {outcome.failures}")
    return outcome, time.monotonic() - started


def remote_scaling(
    directory: Path, day: Day, repeats: int, concurrency: int
) -> tuple[list[float], list[float], int]:
    """Waves per second through one server process and through two, ``repeats`` times each."""
    servers = [
        spawn(
            directory,
            f"server-{k}",
            "--workers=0",
            "--threads=16",
            "--max-concurrent-solves=8",
            db=directory / "shared.db",
            layouts_dir=None,
        )
        for k in range(2)
    ]
    one: list[float] = []
    two: list[float] = []
    waves = 0
    try:
        for _ in range(repeats):
            for fleet, rates in ((servers[:1], one), (servers, two)):
                address = "ipv4:" + ",".join(f"127.0.0.1:{s.port}" for s in fleet)
                engine = RemoteEngine(Connection(address), concurrency=concurrency)
                engine.ensure_layouts(day.layouts)
                outcome, _ = run(day, engine, directory / "remote-out")
                waves = outcome.summary["picking"]["waves"]
                rates.append(waves / outcome.stage_s["picking"])
    finally:
        for s in servers:
            s.stop()
    return one, two, waves


def money(minor: int) -> str:
    return f"{minor / 100:,.0f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--max-iterations", type=int, default=2)
    parser.add_argument("--remote-orders", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.orders, args.remote_orders, args.repeats = 1_000, 400, 1
    workdir = Path(tempfile.mkdtemp(prefix="replan-bench-"))
    try:
        day = make_day(workdir / "day", args.orders, args.max_iterations, 25_000)
        print(f"in-process: {len(day.orders):,} orders", flush=True)
        outcome, seconds = run(day, LocalEngine(day.layouts), workdir / "out")
        budgets = iteration_study(day, workdir / "out", (args.max_iterations, 20))
        split = make_day(workdir / "split", args.orders, args.max_iterations, 5_000)
        split_out = workdir / "split-out"
        regional, _ = run(_allocation_only(split), LocalEngine(split.layouts), split_out)
        small = make_day(workdir / "small", args.remote_orders, args.max_iterations, 5_000)
        print(f"remote scaling: {len(small.orders):,} orders", flush=True)
        one, two, remote_waves = remote_scaling(workdir, small, args.repeats, args.concurrency)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    write(args, outcome, seconds, regional, budgets, one, two, remote_waves)


def iteration_study(
    day: Day, out: Path, budgets: tuple[int, ...], waves: int = 24
) -> list[tuple[int, float, float]]:
    """``(iterations, metres, seconds)`` over the same ``waves`` random waves of a run."""
    import json
    import random

    from warehouse.v1 import picking_pb2

    from services.replan import engines, tasks

    allocated = [
        json.loads(line) for line in (out / "plans" / "allocation.jsonl").read_text().splitlines()
    ]
    chosen = random.Random(0).sample(tasks.wave_tasks(day, allocated), waves)
    engines.init_worker({w: m.SerializeToString() for w, m in day.layouts.items()})
    rows = []
    for budget in budgets:
        metres, started = 0.0, time.monotonic()
        for task in chosen:
            request = picking_pb2.PlanWaveRequest.FromString(task.request)
            request.max_iterations = budget
            metres += engines.plan_wave(request).distance_m
        rows.append((budget, metres, time.monotonic() - started))
    return rows


def _allocation_only(day: Day) -> Day:
    """``day`` with no layouts, so a replan allocates and picks nothing."""
    from dataclasses import replace

    return replace(day, layouts={})


def write(
    args: argparse.Namespace,
    outcome: job.Outcome,
    seconds: float,
    regional: job.Outcome,
    budgets: list[tuple[int, float, float]],
    one: list[float],
    two: list[float],
    remote_waves: int,
) -> None:
    s: dict[str, Any] = outcome.summary
    a, p = s["allocation"], s["picking"]
    split = regional.summary["allocation"]
    one_m, two_m = statistics.median(one), statistics.median(two)
    lines = [
        "# Batch replanning benchmark",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, OR-Tools {version('ortools')}, HiGHS (highspy) "
        f"{version('highspy')}, grpcio {version('grpcio')}, {platform.system()} "
        f"{platform.release()}. Generated by `python -m benchmarks.replan_bench"
        + (" --quick" if args.quick else "")
        + f"` on {time.strftime('%Y-%m-%d')}; see the module docstring. A shared, noisy machine.",
        "",
        f"## A day in-process ({a['orders']:,} orders, 3 warehouses, {os.cpu_count()} workers)",
        "",
        f"Generated day (`warehouse sample-day --orders {args.orders} --seed 1`), "
        f"{args.max_iterations} batching iterations per wave, the allocation in one solve. "
        "Target: at most 300 s in all.",
        "",
        "| stage | tasks | seconds | result | baseline | saved |",
        "|---|---|---|---|---|---|",
        f"| allocation | {a['regions']} region{'s' * (a['regions'] != 1)} | "
        f"{outcome.stage_s['allocation']:.1f} | "
        f"${money(a['objective'])} ({a['packages']:,} packages, {a['unfilled_lines']:,} lines "
        f"unfilled) | ${money(a['baseline']['objective'])} nearest FC | "
        f"{a['saving_ratio']:.1%} |",
        f"| picking | {p['waves']} waves, {p['batches']:,} carts | "
        f"{outcome.stage_s['picking']:.1f} | {p['distance_m'] / 1000:,.1f} km | "
        f"{p['baseline_distance_m'] / 1000:,.1f} km FCFS + S-shape | {p['saving_ratio']:.1%} |",
        f"| **whole replan** | | **{seconds:.1f}** | | | |",
        "",
        f"Reference in the same run: the allocation split into {split['regions']} regions of "
        f"5,000 orders (solved in parallel, then the repair) took "
        f"{regional.stage_s['allocation'] + regional.stage_s.get('repair', 0.0):.1f} s for "
        f"${money(split['objective'])} ({split['unfilled_lines']:,} lines unfilled), "
        f"{split['objective'] / a['objective'] - 1:+.2%} against one solve.",
        "",
        "## Batching iterations per wave",
        "",
        "The same 24 waves of that day, drawn at random, planned in one process.",
        "",
        "| iterations | distance km | vs first | seconds | vs first |",
        "|---|---|---|---|---|",
        *(
            f"| {b} | {m / 1000:,.2f} | {m / budgets[0][1] - 1:+.2%} | {t:.1f} | "
            f"{t / budgets[0][2]:.2f}x |"
            for b, m, t in budgets
        ),
        "",
        f"## Remote engine: one server process against two ({os.cpu_count()} cores)",
        "",
        f"A day of {args.remote_orders:,} orders ({remote_waves} waves) replanned over loopback "
        f"with {args.concurrency} calls in flight, {len(one)} runs each, alternating; each server "
        "process solves in its own threads (one core each). The client shares the machine.",
        "",
        "| servers | median waves/s | runs |",
        "|---|---|---|",
        f"| 1 | {one_m:.2f} | {', '.join(f'{r:.2f}' for r in one)} |",
        f"| 2 | {two_m:.2f} | {', '.join(f'{r:.2f}' for r in two)} |",
        "",
        f"Throughput ratio, two processes over one: **{two_m / one_m:.2f}x** on "
        f"{os.cpu_count()} cores.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
