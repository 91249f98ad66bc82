"""Wave-planning benchmark: walking distance against exact optima, classic heuristics and FCFS.

Run ``python -m benchmarks.picking_bench`` (part of ``make bench``); it rewrites
``benchmarks/results/picking.md``. ``--quick`` runs a smaller set.

Instance classes (random, seeded):

* **Henn-Waescher geometry**: one block, 10 aisles of 45 cells per face, 1 m cells, 5 m between
  aisle centres, 1.5 m from the last cell to each cross aisle, depot in front of the first aisle;
  orders of 5-25 items, each from a random cell (random storage); cart capacity 30/45/60/75
  items; 20, 60 and 100 orders.
* **Muter-Oencan geometry**: one block, 10 aisles of 10 cells per face, 2.4 m between aisles;
  orders of 2-10 items; capacity 24/36/48 items.
* **Multi-block, multi-bin SKUs**: 20 aisles, 3 cross aisles; 2,000 SKUs each in 1-3 bins.
* **Scale**: 1,000 orders on the 100,000-bin warehouse of ``benchmarks.layouts``.

References, per instance:

* **Exact optimum** on 12-order waves: a dynamic programme over order subsets (every
  capacity-feasible batch priced by the exact route DP) gives the least total distance of any
  batching with optimal routes, independently of the search.
* **Savings**: Clarke-Wright savings batching with optimal routes and no improvement step, the
  classic construction (the plan's own first step).
* **FCFS + S-shape**: first-come-first-served carts, first bin by id, S-shape walks: the
  baseline the service reports beside every plan.
* **Long run**: the same solver with 3x the time and two other seeds, best of them, to show how far
  the default time limit is from convergence (not an independent bound).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.layouts import henn_waescher, large_warehouse
from picking.batching import Batcher, Item
from picking.model import Cart, Load, Order, OrderLine, Wave, fits
from picking.pricing import RouteCoster
from picking.wave import WavePlan, plan
from routing.oracle import DistanceOracle
from routing.rectangular import RectangularDepot, RectangularLayout

RESULTS = Path(__file__).parent / "results" / "picking.md"


def muter_oencan() -> RectangularLayout:
    """Muter & Oencan's geometry: 10 aisles of 10 cells per face, 2.4 m between aisles."""
    return RectangularLayout(
        "mo",
        aisles=10,
        cells_per_face=10,
        cell_length_m=1.0,
        aisle_spacing_m=2.4,
        cross_aisles=2,
        end_gap_m=1.0,
        depots=(RectangularDepot("DEPOT", 0, 0.0),),
    )


def multi_block() -> RectangularLayout:
    """Two blocks, 20 aisles (3 cross aisles), 30 cells per face and block."""
    return RectangularLayout(
        "multi",
        aisles=20,
        cells_per_face=30,
        cell_length_m=1.0,
        aisle_spacing_m=4.0,
        cross_aisles=3,
        end_gap_m=1.5,
        depots=(RectangularDepot("DEPOT", 0, 0.0),),
    )


def random_storage_wave(
    oracle: DistanceOracle, rng: random.Random, n: int, items: tuple[int, int], capacity: int
) -> Wave:
    """Every item a distinct SKU in one random cell (random storage), one unit per line."""
    bins = list(oracle.bin_ids)
    orders = tuple(
        Order(f"o{i}", tuple(OrderLine(bins[k], 1) for k in rng.sample(range(len(bins)), size)))
        for i in range(n)
        for size in (rng.randint(*items),)
    )
    stock = {b: {b: 10_000} for b in bins}
    return Wave(orders, Cart(capacity_units=capacity), stock)


def multi_bin_wave(oracle: DistanceOracle, rng: random.Random, n: int, capacity: int) -> Wave:
    """2,000 SKUs in 1-3 bins each; orders of 3-15 lines of 1-2 units."""
    bins = list(oracle.bin_ids)
    stock = {f"S{k}": {b: 50 for b in rng.sample(bins, rng.randint(1, 3))} for k in range(2000)}
    skus = list(stock)
    orders = tuple(
        Order(f"o{i}", tuple(OrderLine(s, rng.randint(1, 2)) for s in rng.sample(skus, size)))
        for i in range(n)
        for size in (rng.randint(3, 15),)
    )
    return Wave(orders, Cart(capacity_units=capacity), stock)


def exact_optimum(oracle: DistanceOracle, wave: Wave) -> int:
    """Least total distance over every capacity-feasible batching, each with its optimal route
    (random-storage waves: every SKU in one bin)."""
    start = oracle.depot_location(oracle.depot_ids[0])
    coster = RouteCoster(oracle, start, start)
    n = len(wave.orders)
    locs = [
        frozenset(oracle.bin_location(next(iter(wave.stock[x.sku]))) for x in o.lines)
        for o in wave.orders
    ]
    units = [sum(x.quantity for x in o.lines) for o in wave.orders]
    cap = wave.cart.capacity_units
    batches: dict[int, list[tuple[int, int]]] = {i: [] for i in range(n)}

    def grow(mask: int, lowest: int, load: int, union: frozenset[int], nxt: int) -> None:
        batches[lowest].append((mask, coster(union)))
        for j in range(nxt, n):
            if load + units[j] <= cap:
                grow(mask | 1 << j, lowest, load + units[j], union | locs[j], j + 1)

    for i in range(n):
        grow(1 << i, i, units[i], locs[i], i + 1)
    best = {0: 0}
    full = (1 << n) - 1

    def solve(rest: int) -> int:
        if rest in best:
            return best[rest]
        lowest = (rest & -rest).bit_length() - 1
        value = min(c + solve(rest & ~m) for m, c in batches[lowest] if m & rest == m)
        best[rest] = value
        return value

    return solve(full)


def savings_only(oracle: DistanceOracle, wave: Wave) -> int:
    """Clarke-Wright savings with optimal routes, no improvement (random-storage waves)."""
    start = oracle.depot_location(oracle.depot_ids[0])
    coster = RouteCoster(oracle, start, start)
    items = []
    for o in wave.orders:
        locs = frozenset(oracle.bin_location(next(iter(wave.stock[x.sku]))) for x in o.lines)
        x, y = zip(*(oracle.point(loc) for loc in locs), strict=True)
        units = sum(line.quantity for line in o.lines)
        items.append(
            Item(Load(units, 0, 0, len(o.lines), 0, 1), locs, (sum(x) / len(x), sum(y) / len(y)))
        )
    result = Batcher(items, wave.cart, coster).savings_plan()
    for batch in result.batches:
        assert fits(wave.cart, sum((items[i].load for i in batch), start=Load()))
    return result.distance_mm


@dataclass
class Row:
    """One instance's results."""

    name: str
    orders: int
    capacity: int
    plan: WavePlan
    seconds: float
    optimum: int | None = None
    savings: int | None = None
    long_run: int | None = None


def run_instance(
    name: str,
    oracle: DistanceOracle,
    wave: Wave,
    time_limit_s: float,
    *,
    with_optimum: bool = False,
    with_savings: bool = True,
    long_factor: float = 0.0,
) -> Row:
    started = time.perf_counter()
    result = plan(oracle, wave, time_limit_s=time_limit_s, seed=1)
    row = Row(
        name, len(wave.orders), wave.cart.capacity_units, result, time.perf_counter() - started
    )
    if with_optimum:
        row.optimum = exact_optimum(oracle, wave)
    if with_savings:
        row.savings = savings_only(oracle, wave)
    if long_factor:
        row.long_run = min(
            plan(oracle, wave, time_limit_s=time_limit_s * long_factor, seed=s).distance_mm
            for s in (2, 3)
        )
    return row


def pct(a: float, b: float) -> str:
    return f"{100 * (a / b - 1):+.2f} %"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    quick = args.quick
    limit = 2.0 if quick else 10.0
    rng = random.Random(2026)
    hw = DistanceOracle(henn_waescher())
    mo = DistanceOracle(muter_oencan())
    rows: dict[str, list[Row]] = {"exact": [], "hw": [], "mo": [], "multi": [], "scale": []}

    # Exact optima on 12-order waves.
    for capacity in (30, 45) if quick else (30, 45, 60, 75):
        for _ in range(1 if quick else 3):
            wave = random_storage_wave(hw, rng, 12, (5, 25), capacity)
            rows["exact"].append(
                run_instance("HW 12", hw, wave, 2.0, with_optimum=True, with_savings=False)
            )
    for capacity in (24, 48) if quick else (24, 36, 48):
        for _ in range(1 if quick else 2):
            wave = random_storage_wave(mo, rng, 12, (2, 10), capacity)
            rows["exact"].append(
                run_instance("MO 12", mo, wave, 2.0, with_optimum=True, with_savings=False)
            )
    # The benchmark classes.
    sizes = (20, 60) if quick else (20, 60, 100)
    for n in sizes:
        for capacity in (30, 75) if quick else (30, 45, 60, 75):
            wave = random_storage_wave(hw, rng, n, (5, 25), capacity)
            long_factor = 3.0 if (n == 100 and not quick) else 0.0
            rows["hw"].append(run_instance(f"HW {n}", hw, wave, limit, long_factor=long_factor))
        for capacity in (24, 48) if quick else (24, 36, 48):
            wave = random_storage_wave(mo, rng, n, (2, 10), capacity)
            rows["mo"].append(run_instance(f"MO {n}", mo, wave, limit))
    multi = DistanceOracle(multi_block())
    for n in (40,) if quick else (60, 100):
        wave = multi_bin_wave(multi, rng, n, 40)
        rows["multi"].append(
            run_instance(f"multi-block {n}", multi, wave, limit, with_savings=False)
        )
    if not quick:
        large = DistanceOracle(large_warehouse())
        wave = multi_bin_wave(large, rng, 1000, 60)
        rows["scale"].append(
            run_instance("100k bins, 1,000 orders", large, wave, 50.0, with_savings=False)
        )
    write(args.out, rows, limit, quick)


def write(path: Path, rows: dict[str, list[Row]], limit: float, quick: bool) -> None:
    lines = [
        "# Wave-planning benchmark",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}. Generated by "
        f"`python -m benchmarks.picking_bench{' --quick' if quick else ''}` on "
        f"{time.strftime('%Y-%m-%d')}; see the module docstring for the instances and references. "
        f"Time limit {limit:g} s per wave unless noted; one run on a shared machine.",
        "",
        "## Against the exact optimum (12 orders)",
        "",
        "| class | capacity | plan m | optimum m | gap | FCFS + S-shape m | time s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows["exact"]:
        assert r.optimum is not None
        lines.append(
            f"| {r.name} | {r.capacity} | {r.plan.distance_mm / 1000:.1f} | "
            f"{r.optimum / 1000:.1f} | {pct(r.plan.distance_mm, r.optimum)} | "
            f"{r.plan.baseline_distance_mm / 1000:.1f} | {r.seconds:.2f} |"
        )
    gaps = [r.plan.distance_mm / r.optimum - 1 for r in rows["exact"] if r.optimum]
    lines += [
        "",
        f"Mean gap to the optimum {100 * statistics.mean(gaps):.2f} %, worst "
        f"{100 * max(gaps):.2f} %, optimal in {sum(g == 0 for g in gaps)} of {len(gaps)}.",
        "",
        "## Benchmark classes",
        "",
        "| class | capacity | carts | plan m | savings only | FCFS + S-shape m | saving vs FCFS | "
        "long run (3x time, 2 seeds) | time s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    savings_vs_fcfs: list[float] = []
    for key in ("hw", "mo", "multi", "scale"):
        for r in rows[key]:
            p = r.plan
            saving = 1 - p.distance_mm / p.baseline_distance_mm
            savings_vs_fcfs.append(saving)
            savings = "" if r.savings is None else pct(r.savings, p.distance_mm)
            long_run = "" if r.long_run is None else pct(p.distance_mm, r.long_run)
            lines.append(
                f"| {r.name} | {r.capacity} | {len(p.batches)} | {p.distance_mm / 1000:.1f} | "
                f"{savings} | {p.baseline_distance_mm / 1000:.1f} | {100 * saving:.1f} % | "
                f"{long_run} | {r.seconds:.1f} |"
            )
    lines += [
        "",
        "*savings only*: how much longer Clarke-Wright savings without improvement walks than the "
        "plan. *long run*: how much longer the plan is than the best of two runs with 3x the "
        "time and other seeds.",
        "",
        f"Median saving against FCFS + S-shape: {100 * statistics.median(savings_vs_fcfs):.1f} %, "
        f"smallest {100 * min(savings_vs_fcfs):.1f} %.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
