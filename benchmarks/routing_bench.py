"""Pick-route benchmark: quality against independent references, latency and scale.

Run ``python -m benchmarks.routing_bench`` (``make bench``); it rewrites
``benchmarks/results/routing.md``. ``--quick`` runs a few lists per scenario (used by the test
suite to keep the script working).

For every scenario the same pick lists are solved by

* the service's solver (:func:`routing.route.solve`),
* an independent reference: LKH-3 through elkai (10 runs per list in the large scenarios) and,
  for lists of up to 12 distinct bins, the Held-Karp optimum,
* the baselines a WMS uses today: S-shape and largest gap (rectangular layouts), the pick list's
  own order (graph layouts), and plain OR-Tools routing (PATH_CHEAPEST_ARC + greedy descent).

Times are medians over the lists of one run on this machine, reported next to the OR-Tools
baseline measured in the same run; shared machines are noisy, so read ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import random
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.layouts import henn_waescher, irregular_hall, large_warehouse
from routing import tsp
from routing.layout import GraphLayout
from routing.oracle import DistanceOracle
from routing.rectangular import RectangularLayout
from routing.route import Baseline, PickList, RouteStatus, solve

RESULTS = Path(__file__).parent / "results" / "routing.md"


def lkh_tour_cost(matrix: np.ndarray, runs: int) -> int:
    """Closed-tour cost from node 0 found by LKH-3 (elkai); a benchmark-only reference."""
    import elkai

    if len(matrix) <= 3:
        return tsp.route_cost(matrix, 0, 0, tuple(range(1, len(matrix))))
    tour = elkai.DistanceMatrix(matrix.tolist()).solve_tsp(runs=runs)
    return int(sum(matrix[a, b] for a, b in itertools.pairwise(tour)))


@dataclass
class Scenario:
    """One warehouse and one kind of pick list."""

    name: str
    layout: Callable[[], RectangularLayout | GraphLayout]
    picks: tuple[int, int]
    lists: int
    lkh_runs: int
    baselines: tuple[Baseline, ...]
    time_limit_s: float = 1.0


@dataclass
class Row:
    """Measured figures of one scenario."""

    scenario: str
    lists: int
    picks: str
    solver: str
    optimal_share: float
    worse_than_reference: int
    mean_gap_pct: float
    max_gap_pct: float
    exact_checked: int
    median_ms: float
    p95_ms: float
    ortools_median_ms: float
    ortools_gap_pct: float
    baseline_gaps: dict[str, float] = field(default_factory=dict)


def run_scenario(s: Scenario, seed: int) -> Row:
    """Solve ``s.lists`` random pick lists and compare every answer with the references."""
    oracle = DistanceOracle(s.layout())
    rng = random.Random(seed)
    depot = oracle.depot_location(oracle.depot_ids[0])
    times, ortools_times, gaps, ortools_gaps = [], [], [], []
    baseline_ratio: dict[str, list[float]] = {b.name: [] for b in s.baselines}
    worse = exact_checked = optimal = 0
    solvers: set[str] = set()
    lists = [
        PickList(tuple(rng.sample(oracle.bin_ids, rng.randint(*s.picks)))) for _ in range(s.lists)
    ]
    # Our solver runs over all lists in one loop, as a service would, before any reference runs:
    # interleaving LKH and OR-Tools between its calls would time their cache effects too.
    results = []
    for pick_list in lists:
        started = time.perf_counter()
        results.append(
            solve(oracle, pick_list, time_limit_s=s.time_limit_s, baseline=s.baselines[0])
        )
        times.append(time.perf_counter() - started)
    for pick_list, result in zip(lists, results, strict=True):
        bins = pick_list.bin_ids
        solvers.add(result.solver)
        optimal += result.status is RouteStatus.OPTIMAL
        baseline_ratio[s.baselines[0].name].append(result.baseline_distance_mm / result.distance_mm)
        for other in s.baselines[1:]:
            again = solve(oracle, pick_list, baseline=other, time_limit_s=s.time_limit_s)
            baseline_ratio[other.name].append(again.baseline_distance_mm / result.distance_mm)

        locs = np.unique(oracle.bin_locations(bins))
        matrix = oracle.matrix(np.concatenate([[depot], locs]))
        reference = lkh_tour_cost(matrix, s.lkh_runs)
        if len(locs) <= 12:
            _, exact = tsp.held_karp(matrix, 0, 0)
            reference = min(reference, exact)
            exact_checked += 1
            assert result.distance_mm == exact or result.status is not RouteStatus.OPTIMAL
        gaps.append(100.0 * (result.distance_mm - reference) / max(reference, 1))
        worse += result.distance_mm > reference
        started = time.perf_counter()
        _, ortools_cost = tsp.ortools_route(matrix, 0, 0, time_limit_s=1.0, guided=False)
        ortools_times.append(time.perf_counter() - started)
        ortools_gaps.append(100.0 * (ortools_cost - reference) / max(reference, 1))
    return Row(
        scenario=s.name,
        lists=s.lists,
        picks=f"{s.picks[0]}-{s.picks[1]}",
        solver="+".join(sorted(solvers)),
        optimal_share=optimal / s.lists,
        worse_than_reference=worse,
        mean_gap_pct=statistics.fmean(gaps),
        max_gap_pct=max(gaps),
        exact_checked=exact_checked,
        median_ms=1000 * statistics.median(times),
        p95_ms=1000 * _percentile(times, 95),
        ortools_median_ms=1000 * statistics.median(ortools_times),
        ortools_gap_pct=statistics.fmean(ortools_gaps),
        baseline_gaps={k: 100.0 * (statistics.fmean(v) - 1) for k, v in baseline_ratio.items()},
    )


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def scenarios(quick: bool) -> list[Scenario]:
    """The benchmark protocol of the routing issue; ``quick`` keeps only a few lists each."""
    n = (lambda full: 3) if quick else (lambda full: full)
    rect = (Baseline.S_SHAPE, Baseline.LARGEST_GAP)
    return [
        Scenario("one block, 10 aisles, 30 picks", henn_waescher, (30, 30), n(200), 3, rect),
        Scenario("one block, 10 aisles, 5-60 picks", henn_waescher, (5, 60), n(1000), 3, rect),
        Scenario(
            "two blocks, 10 aisles, 30 picks",
            lambda: henn_waescher(10, 3),
            (30, 30),
            n(200),
            3,
            rect,
        ),
        Scenario(
            "two blocks, 10 aisles, 5-60 picks",
            lambda: henn_waescher(10, 3),
            (5, 60),
            n(1000),
            3,
            rect,
        ),
        Scenario(
            "four cross aisles, 20 aisles, 60 picks",
            lambda: henn_waescher(20, 4),
            (60, 60),
            n(100),
            10,
            rect,
        ),
        Scenario(
            "graph hall (one-way aisles), 60 picks",
            irregular_hall,
            (60, 60),
            n(100),
            10,
            (Baseline.AS_GIVEN,),
        ),
    ]


def scale_figures(quick: bool) -> dict[str, float]:
    """Load time and memory of a 100,000-bin warehouse; matrix and route latency on it."""
    rss_before = _rss_mb()
    started = time.perf_counter()
    oracle = DistanceOracle(large_warehouse())
    load_s = time.perf_counter() - started
    rss_after = _rss_mb()
    rng = np.random.default_rng(0)
    matrix_times, route_times = [], []
    for _ in range(20 if quick else 200):
        locs = rng.choice(oracle.n_bins, 100, replace=False)
        started = time.perf_counter()
        oracle.matrix(locs)
        matrix_times.append(time.perf_counter() - started)
    for _ in range(3 if quick else 30):
        bins = tuple(oracle.bin_ids[i] for i in rng.choice(oracle.n_bins, 30, replace=False))
        started = time.perf_counter()
        solve(oracle, PickList(bins))
        route_times.append(time.perf_counter() - started)
    return {
        "bins": float(oracle.n_bins),
        "load_s": load_s,
        "rss_growth_mb": rss_after - rss_before,
        "matrix_100_median_ms": 1000 * statistics.median(matrix_times),
        "route_30_median_ms": 1000 * statistics.median(route_times),
    }


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def render(rows: list[Row], scale: dict[str, float], quick: bool) -> str:
    """The committed Markdown table."""
    lines = [
        "# Pick-route benchmark",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        f", {platform.system()} {platform.release()}. Generated by "
        f"`python -m benchmarks.routing_bench{' --quick' if quick else ''}` on "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        "Gap = (distance - reference) / reference, where the reference is the better of LKH-3 "
        "(elkai) and, for lists of up to 12 distinct bins, the Held-Karp optimum. Baseline "
        "columns: how much longer the baseline walks than our route. OR-Tools = plain routing "
        "solver (PATH_CHEAPEST_ARC + greedy descent) on the same matrices, in the same run.",
        "",
        "| scenario | lists | picks | solver | proven optimal | worse than ref. | mean gap | "
        "max gap | median ms | p95 ms | OR-Tools median ms | OR-Tools gap | baselines |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        baselines = ", ".join(f"{k}: +{v:.1f}%" for k, v in r.baseline_gaps.items())
        lines.append(
            f"| {r.scenario} | {r.lists} | {r.picks} | {r.solver} | {100 * r.optimal_share:.0f}% "
            f"| {r.worse_than_reference} | {r.mean_gap_pct:.3f}% | {r.max_gap_pct:.3f}% "
            f"| {r.median_ms:.2f} | {r.p95_ms:.2f} | {r.ortools_median_ms:.2f} "
            f"| {r.ortools_gap_pct:.2f}% | {baselines} |"
        )
    lines += [
        "",
        "## 100,000-bin warehouse",
        "",
        "| bins | load s | memory growth MB | 100-bin matrix median ms | 30-pick route median ms |",
        "|---|---|---|---|---|",
        f"| {scale['bins']:.0f} | {scale['load_s']:.2f} | {scale['rss_growth_mb']:.0f} "
        f"| {scale['matrix_100_median_ms']:.2f} | {scale['route_30_median_ms']:.2f} |",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a few lists per scenario")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Markdown file to write")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    scale = scale_figures(args.quick)  # first, so the memory figure is not inflated by the rest
    rows = []
    for s in scenarios(args.quick):
        rows.append(run_scenario(s, args.seed))
        print(rows[-1], flush=True)
    text = render(rows, scale, args.quick)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
