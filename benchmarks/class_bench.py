"""Order-batching classes, many waves each: how far every plan is from a proven lower bound.

``benchmarks.picking_bench`` plans one 100-order wave of each Henn-Waescher and Muter-Oencan
class twelve times; this benchmark plans ``WAVES`` different waves of each class once, as a
warehouse would meet them, so that the figures cover the classes rather than one draw.

* **Waves**: 100 orders in the classes' geometry (``benchmarks.picking_bench``: random storage,
  one unit per line; Henn-Waescher 5-25 items an order, carts of 30-75 items; Muter-Oencan 2-10
  items, carts of 24-48), each drawn from its own seed, none of them ``picking_bench``'s.
* **Plan**: :func:`picking.wave.plan` with the default 10 s and two processes, at the length
  it reports, checked by ``check_plan`` (every order once, every cart within capacity, and no
  shorter than its carts' shortest routes: a final route out of its time share may be longer).
* **Lower bound**: ``picking_bench.bound_wave`` from the plan: the LP over
  every capacity-feasible cart with subset-row cuts, priced exactly, so that no plan of the
  wave is shorter. A plan within 1 % of it is within 1 % of the optimum, and so of any
  best-known plan of that wave, published or not. *best cover*: a MIP over the carts the bound
  generated (``COVER_S``), started from the plan; the optimum lies between bound and cover.
* **FCFS**: the first-come-first-served carts with S-shape walks the service reports beside
  every plan.
* **Smaller waves** (``--orders 40``, ``results/classes_40.md``): waves of the classes' smaller
  sizes (their published sets run from 20 to 100 orders), where branch and price from the
  bound (``BRANCH_S`` a wave, ``JOBS`` waves at once once every wave is planned) often closes
  on the optimum: a plan is then measured against the optimum itself, or against a bound
  within a fraction of a percent of it.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import platform
import random
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from benchmarks.layouts import henn_waescher
from benchmarks.picking_bench import (
    PROCESSES,
    bound_wave,
    check_plan,
    muter_oencan,
    random_storage_wave,
)
from picking.model import Wave
from picking.wave import WavePlan, plan
from routing.oracle import DistanceOracle

RESULTS = Path(__file__).parent / "results" / "classes.md"
#: Waves per class, and the plan's time limit.
WAVES = 5
TIME_LIMIT_S = 10.0
#: Time limit of the MIP over the lower bound's carts (the bound itself converges in 5-120 s
#: on these waves; ``picking_bench.BOUND_SECONDS`` at most).
COVER_S = 10.0
#: (class, items per order, cart capacities).
CLASSES = (("HW", (5, 25), (30, 45, 60, 75)), ("MO", (2, 10), (24, 36, 48)))
#: Orders per wave.
ORDERS = 100
#: Branch and price per wave, and bounds worked out at once, when waves are smaller than
#: ``ORDERS`` (the bound of a 100-order wave rises by about 0.03 % a node).
BRANCH_S = 120.0
JOBS = 2
#: The classes' layouts, made before the bounds fork.
_ORACLES: dict[str, DistanceOracle] = {}


@dataclass(frozen=True)
class Row:
    """One wave's plan against its bound (mm)."""

    name: str
    capacity: int
    wave: int
    plan_mm: int
    lower_mm: float
    cover_mm: int
    fcfs_mm: int
    bound_s: float
    root_mm: float
    nodes: int

    @property
    def gap(self) -> float:
        """How far the plan is above the lower bound (a share)."""
        return self.plan_mm / self.lower_mm - 1

    @property
    def optimal(self) -> bool:
        """Whether the plan is proven optimal (lengths are whole mm)."""
        return self.plan_mm <= math.ceil(self.lower_mm - 1e-6)


@dataclass(frozen=True)
class Task:
    """A planned wave, to be bounded."""

    name: str
    items: tuple[int, int]
    capacity: int
    wave: int
    orders: int
    plan: WavePlan


def make_wave(name: str, items: tuple[int, int], capacity: int, k: int, orders: int) -> Wave:
    """Wave ``k`` of a class, from its own seed."""
    seed = f"{name} {capacity} {k}" + (f" {orders}" if orders != ORDERS else "")
    return random_storage_wave(_ORACLES[name], random.Random(seed), orders, items, capacity)


def plan_wave(name: str, items: tuple[int, int], capacity: int, k: int, orders: int) -> Task:
    """Plan and check wave ``k`` of a class."""
    oracle, wave = _ORACLES[name], make_wave(name, items, capacity, k, orders)
    result = plan(oracle, wave, time_limit_s=TIME_LIMIT_S, seed=1, processes=PROCESSES)
    carts = [b.order_ids for b in result.batches]
    # A plan may claim more than its carts' shortest routes (a final route out of its time
    # share comes back not proven shortest, as in ``picking_bench.best_plan``), never less.
    assert check_plan(oracle, wave, carts) <= result.distance_mm, "a plan shorter than it is"
    return Task(name, items, capacity, k, orders, result)


def bound_task(task: Task) -> Row:
    """Bound a planned wave, with branch and price below ``ORDERS`` orders."""
    wave = make_wave(task.name, task.items, task.capacity, task.wave, task.orders)
    branch_s = BRANCH_S if task.orders < ORDERS else 0.0
    bound = bound_wave(
        _ORACLES[task.name], wave, task.plan, cover_seconds=COVER_S, branch_seconds=branch_s
    )
    if not bound.converged:
        raise RuntimeError(f"{task.name} {task.capacity} wave {task.wave}: no bound")
    return Row(
        task.name, task.capacity, task.wave, task.plan.distance_mm, bound.lower_mm,
        bound.upper_mm, task.plan.baseline_distance_mm, bound.seconds, bound.root_mm,
        bound.nodes,
    )  # fmt: skip


def write(path: Path, rows: list[Row], flags: str, orders: int) -> None:
    branched = orders < ORDERS
    lines = [
        "# Batching classes, many waves" + (f" of {orders} orders" if branched else ""),
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}. Generated by "
        f"`python -m benchmarks.class_bench{' ' + flags if flags else ''}` on "
        f"{time.strftime('%Y-%m-%d')}; see the module docstring. {orders} orders a wave, each "
        f"planned once in {TIME_LIMIT_S:g} s on {PROCESSES} processes, on a shared machine.",
        "",
        "*bound*: no plan of the wave is shorter (LP over every cart with subset-row cuts"
        + (
            f", then up to {BRANCH_S:g} s of branch and price, {JOBS} waves at once; *root*: "
            "before branching; *optimal*: plans proven optimal, the bound having reached "
            "them"
            if branched
            else ""
        )
        + "). *within 1 %*: waves whose plan is at most 1 % above the bound, so provably "
        "within 1 % of the optimum and of any best-known plan. *cover*: the best plan over "
        "the bound's carts, started from the plan (the optimum lies between bound and cover).",
        "",
        "| class | capacity | waves | "
        + ("optimal | " if branched else "")
        + "within 1 % | median vs bound | worst vs bound | "
        "median cover vs bound | median saving vs FCFS | median bound time s |",
        "|---|---|---|---|---|---|---|---|---|" + ("---|" if branched else ""),
    ]
    classes = dict.fromkeys((r.name, r.capacity) for r in rows)
    for name, capacity in classes:
        mine = [r for r in rows if (r.name, r.capacity) == (name, capacity)]
        gaps = [r.gap for r in mine]
        lines.append(
            f"| {name} | {capacity} | {len(mine)} | "
            + (f"{sum(r.optimal for r in mine)} | " if branched else "")
            + f"{sum(g <= 0.01 for g in gaps)} | "
            f"{100 * statistics.median(gaps):+.2f} % | {100 * max(gaps):+.2f} % | "
            f"{100 * statistics.median(r.cover_mm / r.lower_mm - 1 for r in mine):+.2f} % | "
            f"{100 * statistics.median(1 - r.plan_mm / r.fcfs_mm for r in mine):.1f} % | "
            f"{statistics.median(r.bound_s for r in mine):.0f} |"
        )
    within = sum(r.gap <= 0.01 for r in rows)
    lines += [
        "",
        (
            f"Proven optimal: {sum(r.optimal for r in rows)} of {len(rows)} plans. "
            if branched
            else ""
        )
        + f"Within 1 % of the bound: {within} of {len(rows)} waves. Median over every wave "
        f"{100 * statistics.median(r.gap for r in rows):+.2f} % above the bound.",
        "",
        "| class | capacity | wave | plan m | bound m | vs bound | "
        + ("root m | nodes | " if branched else "")
        + "cover m | FCFS + S-shape m | bound time s |",
        "|---|---|---|---|---|---|---|---|---|" + ("---|---|" if branched else ""),
    ]
    lines += [
        f"| {r.name} | {r.capacity} | {r.wave} | {r.plan_mm / 1000:,.1f} | "
        f"{r.lower_mm / 1000:,.1f} | {100 * r.gap:+.2f} % | "
        + (f"{r.root_mm / 1000:,.1f} | {r.nodes} | " if branched else "")
        + f"{r.cover_mm / 1000:,.1f} | {r.fcfs_mm / 1000:,.1f} | {r.bound_s:.0f} |"
        for r in rows
    ]
    path.write_text("\n".join(lines) + "\n")


def bound_all(tasks: list[Task], jobs: int) -> list[Row]:
    """Bound the planned waves, ``jobs`` at once (forked, sharing ``_ORACLES``)."""
    if jobs == 1:
        return [_report(bound_task(task)) for task in tasks]
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        return [_report(row) for row in pool.map(bound_task, tasks)]


def _report(row: Row) -> Row:
    print(row, f"{100 * row.gap:+.2f} %", flush=True)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=WAVES, help="waves per class")
    parser.add_argument("--orders", type=int, default=ORDERS, help="orders per wave")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    _ORACLES.update(HW=DistanceOracle(henn_waescher()), MO=DistanceOracle(muter_oencan()))
    tasks: list[Task] = []
    for k in range(1, args.waves + 1):  # wave by wave, so that a short run covers every class
        for name, items, capacities in CLASSES:
            for capacity in capacities:
                tasks.append(plan_wave(name, items, capacity, k, args.orders))
    rows = bound_all(tasks, JOBS if args.orders < ORDERS else 1)
    rows.sort(key=lambda r: (r.name, r.capacity, r.wave))
    flags = [f"--waves {args.waves}"] if args.waves != WAVES else []
    flags += [f"--orders {args.orders}"] if args.orders != ORDERS else []
    out = args.out or (
        RESULTS if args.orders == ORDERS else RESULTS.with_name(f"classes_{args.orders}.md")
    )
    write(out, rows, " ".join(flags), args.orders)


if __name__ == "__main__":
    main()
