"""Allocation benchmark: cost against the nearest-FC baseline, the bound, and a compact MIP.

Run ``python -m benchmarks.allocation_bench``; it rewrites ``benchmarks/results/allocation.md``.
``--quick`` runs a small smoke set, ``--classes`` picks classes by name, ``--no-mip`` skips the
reference MIP.

Instances come from :func:`allocation.generator.generate` (seeded, US-style: hubs at Allentown,
Atlanta, Dallas, Joliet, Riverside, ...; ground, two-day and overnight services priced near 2025
list rates; capacity short at the busiest FCs and some SKUs short of stock):

* **single-100k**: 100,000 single-unit orders over 5 FCs, express services without daily
  limits (the min-cost flow case).
* **single-20k-svc**: 20,000 single-unit orders with daily limits on the express services,
  which cross the stock limits and so take column generation.
* **multi-2k / multi-20k / multi-100k**: 2,000 / 20,000 / 100,000 orders of 1-6 lines, 5 FCs.
* **multi-2k-3fc / multi-2k-10fc**: 2,000 multi-line orders over 3 and 10 FCs.

Per instance, :func:`allocation.solve.solve` with the class's time limit reports its objective
(shipping cost plus unfilled-line penalties), the nearest-FC-with-stock baseline on the same
input, its lower bound and gap. The **compact MIP** of ``benchmarks.allocation_mip`` (HiGHS,
one thread) is solved with its own time limit where its size allows (up to 20,000 orders); its
objective is recomputed from its shipments with :func:`allocation.rates.quote`, and its bound is
HiGHS's dual bound. *vs MIP* is how much the solver's objective exceeds the MIP's (negative:
cheaper); *gap to best bound* uses the larger of the two bounds.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from allocation.generator import generate
from allocation.model import AllocationProblem
from allocation.result import Allocation
from allocation.solve import solve
from benchmarks.allocation_mip import MipResult, check, solve_mip

RESULTS = Path(__file__).parent / "results" / "allocation.md"


@dataclass(frozen=True)
class InstanceClass:
    """Generated instances of one size: ``mip_s`` 0 skips the compact MIP;
    ``service_capacity`` False leaves the express services without daily limits."""

    name: str
    orders: int
    fcs: int
    single_item: bool
    seeds: tuple[int, ...]
    solve_s: float
    mip_s: float
    service_capacity: bool = True


CLASSES = (
    InstanceClass("single-100k", 100_000, 5, True, (1, 2, 3), 5.0, 0.0, service_capacity=False),
    InstanceClass("single-20k-svc", 20_000, 5, True, (1,), 60.0, 0.0),
    InstanceClass("multi-2k", 2_000, 5, False, (1, 2, 3), 5.0, 60.0),
    InstanceClass("multi-20k", 20_000, 5, False, (1,), 60.0, 120.0),
    InstanceClass("multi-100k", 100_000, 5, False, (1,), 300.0, 0.0),
    InstanceClass("multi-2k-3fc", 2_000, 3, False, (1, 2, 3), 5.0, 60.0),
    InstanceClass("multi-2k-10fc", 2_000, 10, False, (1, 2, 3), 5.0, 60.0),
)
QUICK = (
    InstanceClass("single-2k", 2_000, 5, True, (1,), 5.0, 20.0),
    InstanceClass("multi-200", 200, 5, False, (1,), 5.0, 20.0),
)


@dataclass(frozen=True)
class Row:
    """One instance's results (money in cents)."""

    cls: InstanceClass
    seed: int
    lines: int
    generate_s: float
    answer: Allocation
    wall_s: float
    mip: MipResult | None
    mip_objective: int | None


def run_instance(cls: InstanceClass, seed: int, *, with_mip: bool) -> Row:
    """Generate one instance, solve it, check the totals, and solve the MIP when asked."""
    started = time.perf_counter()
    problem = generate(
        cls.orders,
        n_fcs=cls.fcs,
        single_item=cls.single_item,
        seed=seed,
        service_capacity=cls.service_capacity,
    )
    generate_s = time.perf_counter() - started
    started = time.perf_counter()
    answer = solve(problem, time_limit_s=cls.solve_s, seed=0)
    wall_s = time.perf_counter() - started
    check_answer(problem, answer)
    mip: MipResult | None = None
    mip_objective: int | None = None
    if with_mip and cls.mip_s > 0:
        mip = solve_mip(problem, time_limit_s=cls.mip_s)
        if mip.objective is not None:
            mip_objective = check(problem, mip)
    lines = sum(len(o.lines) for o in problem.orders)
    return Row(cls, seed, lines, generate_s, answer, wall_s, mip, mip_objective)


def check_answer(problem: AllocationProblem, answer: Allocation) -> None:
    """The totals add up from the shipments and no order is over-served."""
    assert answer.totals.cost == sum(s.cost for s in answer.shipments)
    assert answer.totals.packages == len(answer.shipments)
    lines = sum(len(o.lines) for o in problem.orders)
    shipped = sum(len(s.lines) for s in answer.shipments)
    assert shipped + answer.totals.unfilled_lines == lines, (shipped, lines)
    assert answer.bound <= answer.totals.objective + 1e-6


def dollars(cents: float) -> str:
    return f"{cents / 100:,.0f}"


def pct(a: float, b: float) -> str:
    return f"{100 * (a / b - 1):+.2f} %"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--classes", help="comma-separated class names (default: all)")
    parser.add_argument("--no-mip", action="store_true", help="skip the compact MIP")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    pool: tuple[InstanceClass, ...] = QUICK if args.quick else CLASSES
    if args.classes:
        wanted = args.classes.split(",")
        known = {c.name: c for c in CLASSES + QUICK}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            parser.error(f"unknown classes {unknown}; known: {sorted(known)}")
        pool = tuple(known[w] for w in wanted)
    rows: list[Row] = []
    for cls in pool:
        for seed in cls.seeds:
            row = run_instance(cls, seed, with_mip=not args.no_mip)
            rows.append(row)
            print(f"{cls.name} seed {seed}: {summary(row)}", flush=True)
    write(args.out, rows, quick=args.quick, argv=argv)


def summary(r: Row) -> str:
    a = r.answer
    text = (
        f"objective {dollars(a.totals.objective)} baseline {dollars(a.baseline.objective)} "
        f"gap {100 * a.gap:.3f} % {a.status.value} {a.method} {r.wall_s:.1f} s"
    )
    if r.mip is not None:
        text += f"; MIP {r.mip.status} {r.mip_objective} bound {r.mip.bound} {r.mip.wall_s:.1f} s"
    return text


def write(path: Path, rows: list[Row], *, quick: bool, argv: list[str] | None) -> None:
    flags = " ".join(argv) if argv else ""
    lines = [
        "# Allocation benchmark",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, OR-Tools {version('ortools')}, HiGHS (highspy) "
        f"{version('highspy')}, numpy {version('numpy')}, {platform.system()} "
        f"{platform.release()}. Generated by `python -m benchmarks.allocation_bench"
        f"{' ' + flags if flags else ''}` on {time.strftime('%Y-%m-%d')}; see the module "
        "docstring for the instances and references. One run per instance on a shared machine.",
        "",
        "Money in US dollars. *objective*: shipping cost plus $1,000 (times 1 + priority) per "
        "unfilled line. *saved*: objective and shipping cost below the nearest-FC baseline. "
        "*gap*: objective above the solver's own bound. *vs MIP*: solver objective against the "
        "compact MIP's (negative: the solver is cheaper).",
        "",
        "## Per instance",
        "",
        "| class | seed | orders | lines | objective | baseline | saved | cost saved | packages "
        "(baseline) | unfilled (baseline) | gap | status, method | time s | MIP objective | "
        "MIP bound | MIP status | MIP time s | vs MIP | gap to best bound |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a, b = r.answer.totals, r.answer.baseline
        mip_cols = ["", "", "", "", "", ""]
        best_bound = r.answer.bound
        if r.mip is not None:
            mip_cols = [
                "" if r.mip_objective is None else dollars(r.mip_objective),
                "" if r.mip.bound is None else dollars(r.mip.bound),
                r.mip.status,
                f"{r.mip.wall_s:.1f}",
                "" if r.mip_objective is None else pct(a.objective, r.mip_objective),
                "",
            ]
            if r.mip.bound is not None:
                best_bound = max(best_bound, r.mip.bound)
        gap_best = (a.objective - best_bound) / a.objective if a.objective else 0.0
        mip_cols[5] = f"{100 * max(0.0, gap_best):.3f} %"
        lines.append(
            f"| {r.cls.name} | {r.seed} | {r.cls.orders:,} | {r.lines:,} | "
            f"{dollars(a.objective)} | {dollars(b.objective)} | "
            f"{100 * (1 - a.objective / b.objective):.2f} % | "
            f"{100 * (1 - a.cost / b.cost):.2f} % | {a.packages:,} ({b.packages:,}) | "
            f"{a.unfilled_lines} ({b.unfilled_lines}) | {100 * r.answer.gap:.3f} % | "
            f"{r.answer.status.value}, {r.answer.method} | {r.wall_s:.1f} | "
            + " | ".join(mip_cols)
            + " |"
        )
    lines += [
        "",
        "## Medians per class",
        "",
        "| class | instances | saved | cost saved | packages saved | gap | time s | vs MIP | "
        "MIP gap | MIP time s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cls in dict.fromkeys(r.cls for r in rows):
        mine = [r for r in rows if r.cls == cls]
        saved = [1 - r.answer.totals.objective / r.answer.baseline.objective for r in mine]
        cost_saved = [1 - r.answer.totals.cost / r.answer.baseline.cost for r in mine]
        packages = [r.answer.baseline.packages - r.answer.totals.packages for r in mine]
        gaps = [r.answer.gap for r in mine]
        times = [r.wall_s for r in mine]
        versus = [r.answer.totals.objective / r.mip_objective - 1 for r in mine if r.mip_objective]
        mip_gaps = [
            (r.mip_objective - r.mip.bound) / r.mip_objective
            for r in mine
            if r.mip is not None and r.mip_objective and r.mip.bound is not None
        ]
        mip_times = [r.mip.wall_s for r in mine if r.mip is not None]
        lines.append(
            f"| {cls.name} | {len(mine)} | {100 * statistics.median(saved):.2f} % | "
            f"{100 * statistics.median(cost_saved):.2f} % | {statistics.median(packages):,.0f} | "
            f"{100 * statistics.median(gaps):.3f} % | {statistics.median(times):.1f} | "
            f"{_median_pct(versus)} | {_median_pct(mip_gaps, signed=False)} | "
            f"{'' if not mip_times else f'{statistics.median(mip_times):.1f}'} |"
        )
    lines.append("")
    if quick:
        lines += ["Smoke run (`--quick`): small instances, short limits.", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    print("\n".join(lines))


def _median_pct(values: list[float], *, signed: bool = True) -> str:
    if not values:
        return ""
    m = 100 * statistics.median(values)
    return f"{m:+.2f} %" if signed else f"{m:.3f} %"


if __name__ == "__main__":
    main()
