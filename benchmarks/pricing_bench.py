"""Batch-pricing benchmark: the one-block DP against the general ladder DP on the same batches.

Run ``python -m benchmarks.pricing_bench`` (part of ``make bench``); it rewrites
``benchmarks/results/pricing.md``.

Order batching prices thousands of candidate carts per second, each by the length of its shortest
closed walk from the depot. In a one-block warehouse :class:`routing.single_block.SingleBlockPricer`
does this; before it, :func:`routing.ladder.route_length` (the multi-block plug DP) did. Both are
run here on the same random bin sets in the Henn-Waescher and Muter-Oencan geometries, each set
priced by one and then the other so that both see the same machine load, and the lengths must be
equal to the millimetre (the run fails otherwise). Reported: the median time per set of each and
their ratio, per batch size.

Batching keys a batch by a bit mask over (aisle, depth) on one block and prices it from the
mask (:meth:`~routing.single_block.SingleBlockPricer.mask_length`, see
:class:`picking.pricing.KeyedPrices`); the first table also prices each set from its mask. A
third table runs the local search of :class:`picking.batching.Batcher` for a fixed number of
iterations on 100-order waves of the two geometries, once with those keys and once keying each
batch by a bit per bin and pricing it from its bins (the same prices: the plans must be equal,
or the run fails): median seconds of three runs each, alternated, and their ratio.

Beyond the exact DP (the 100,000-bin warehouse of ``benchmarks.layouts``, five cross aisles), a
batch of more than :data:`picking.pricing.EXACT_GRAPH_BINS` bins is priced by a short search
from the nearest-neighbour route (:func:`routing.tsp.improve`, one kick). A second table prices
random bin sets there with one search trajectory (what :class:`picking.pricing.RouteCoster`
uses on rectangular layouts) and with four (the routing default), against a long search (300
kicks, four trajectories): median time per price, and mean and worst excess over the long
search's length.
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
from benchmarks.picking_bench import muter_oencan, random_storage_wave
from picking.batching import Batcher, BatchPlan
from picking.pricing import GRAPH_SEARCH_ITERATIONS, RouteCoster
from picking.wave import _items, _serve, _Stock
from routing import tsp
from routing.ladder import route_length
from routing.oracle import DistanceOracle
from routing.single_block import SingleBlockPricer

RESULTS = Path(__file__).parent / "results" / "pricing.md"
#: Bins per priced set, and sets per size.
SIZES = (10, 20, 45, 90)
SETS = 300
#: The same for the search prices beyond the exact DP, and the trajectories compared.
SEARCH_SIZES = (15, 30, 45)
SEARCH_SETS = 60
TRAJECTORIES = (1, 4)
REFERENCE_KICKS = 300
#: The local-search comparison: (geometry, items per order, capacity) of each 100-order wave,
#: iterations per run and runs per keying.
KEYED_WAVES = (
    ("Henn-Waescher", (5, 25), 60),
    ("Henn-Waescher", (5, 25), 75),
    ("Muter-Oencan", (2, 10), 36),
    ("Muter-Oencan", (2, 10), 48),
)
KEYED_ITERATIONS = 300
KEYED_REPEATS = 3


@dataclass
class Row:
    geometry: str
    bins: int
    single_us: float
    ladder_us: float
    mask_us: float


def measure(name: str, oracle: DistanceOracle, rng: random.Random, sets: int) -> list[Row]:
    """Median microseconds per set of each pricer, for every size in :data:`SIZES`."""
    rect = oracle.rectangular
    assert rect is not None
    depot = (rect.depot_cross[0], rect.depot_x_mm[0])
    pricer = SingleBlockPricer(rect.ladder, rect.bin_aisle, rect.bin_y_mm, depot, depot)
    rows = []
    for size in SIZES:
        single, ladder, masked = [], [], []
        for _ in range(sets):
            chosen = rng.sample(range(oracle.n_bins), size)
            mask = pricer.mask(chosen)
            t0 = time.perf_counter()
            fast = pricer.length(chosen)
            t1 = time.perf_counter()
            general = route_length(
                rect.ladder,
                [rect.bin_aisle[b] for b in chosen],
                [rect.bin_y_mm[b] for b in chosen],
                depot,
                depot,
            )
            t2 = time.perf_counter()
            from_mask = pricer.mask_length(mask)
            t3 = time.perf_counter()
            if general is None or not general[0] == fast == from_mask:
                raise AssertionError(
                    f"{name}, {size} bins: {fast} mm, {from_mask} mm by mask, against {general}"
                )
            single.append(t1 - t0)
            ladder.append(t2 - t1)
            masked.append(t3 - t2)
        rows.append(
            Row(
                name,
                size,
                1e6 * statistics.median(single),
                1e6 * statistics.median(ladder),
                1e6 * statistics.median(masked),
            )
        )
    return rows


class _ByBins:
    """A coster's prices without its keys: batching then keys each batch by a bit per bin and
    prices it from its bins."""

    def __init__(self, coster: RouteCoster) -> None:
        self._coster, self.exact, self.fast = coster, coster.exact, coster.fast

    def __call__(self, locs: frozenset[int]) -> int:
        return self._coster(locs)


@dataclass
class KeyedRow:
    geometry: str
    capacity: int
    by_bins_s: float
    by_masks_s: float


def measure_keyed(
    name: str, oracle: DistanceOracle, rng: random.Random, items: tuple[int, int], capacity: int
) -> KeyedRow:
    """Seconds of :data:`KEYED_ITERATIONS` of local search on a 100-order wave, keyed both
    ways (see the module docstring); the plans must be equal."""
    wave = random_storage_wave(oracle, rng, 100, items, capacity)
    depot = oracle.depot_location(oracle.depot_ids[0])
    lines, _, planned = _serve(oracle, wave, _Stock(oracle, wave.stock), depot)
    orders = _items(oracle, wave, planned, lines)
    times: dict[bool, list[float]] = {True: [], False: []}
    plans: list[BatchPlan] = []
    for _ in range(KEYED_REPEATS):
        for masks in (False, True):
            coster = RouteCoster(oracle, depot, depot)
            batcher = Batcher(orders, wave.cart, coster if masks else _ByBins(coster), seed=1)
            t0 = time.perf_counter()
            plans.append(batcher.solve(deadline=float("inf"), max_iterations=KEYED_ITERATIONS))
            times[masks].append(time.perf_counter() - t0)
    if any(p.batches != plans[0].batches for p in plans):
        raise AssertionError(f"{name} at {capacity} items: the keyings planned differently")
    return KeyedRow(name, capacity, statistics.median(times[False]), statistics.median(times[True]))


@dataclass
class SearchRow:
    bins: int
    trajectories: int
    median_us: float
    mean_excess: float
    worst_excess: float


def measure_search(oracle: DistanceOracle, rng: random.Random, sets: int) -> list[SearchRow]:
    """Search prices with each of :data:`TRAJECTORIES` against a long search, per size."""
    depot = oracle.depot_location(oracle.depot_ids[0])
    rows = []
    for size in SEARCH_SIZES:
        times: dict[int, list[float]] = {t: [] for t in TRAJECTORIES}
        excess: dict[int, list[float]] = {t: [] for t in TRAJECTORIES}
        for _ in range(sets):
            chosen = sorted(rng.sample(range(oracle.n_bins), size))
            lengths = {}
            for t in TRAJECTORIES:
                t0 = time.perf_counter()
                matrix = oracle.matrix([depot, depot, *chosen])
                start = tsp.nearest_neighbour(matrix, 0, 1)
                lengths[t] = tsp.improve(
                    matrix,
                    0,
                    1,
                    start,
                    deadline=float("inf"),
                    seed=0,
                    max_iterations=GRAPH_SEARCH_ITERATIONS,
                    trajectories=t,
                )[1]
                times[t].append(time.perf_counter() - t0)
            reference = tsp.improve(
                matrix, 0, 1, start, deadline=float("inf"), seed=0, max_iterations=REFERENCE_KICKS
            )[1]
            for t in TRAJECTORIES:
                excess[t].append(lengths[t] / reference - 1)
        for t in TRAJECTORIES:
            rows.append(
                SearchRow(
                    size,
                    t,
                    1e6 * statistics.median(times[t]),
                    statistics.mean(excess[t]),
                    max(excess[t]),
                )
            )
    return rows


def write(
    path: Path, rows: list[Row], sets: int, search: list[SearchRow], keyed: list[KeyedRow]
) -> None:
    lines = [
        "# Batch-pricing benchmark",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}. Generated by "
        f"`python -m benchmarks.pricing_bench` on {time.strftime('%Y-%m-%d')}; {sets} random bin "
        "sets per row, each priced by both DPs in turn, every length equal to the millimetre. "
        "Medians of one run on a shared machine: read the ratio.",
        "",
        "*from mask*: the one-block DP on the set's bit mask over (aisle, depth), as batching "
        "keys batches. It remembers each aisle's extents by the aisle's picks, which random sets "
        "seldom repeat on Henn-Waescher's 45 depths; a search's carts do (next table).",
        "",
        "| geometry | bins per set | one-block DP µs | ladder DP µs | ratio | from mask µs | "
        "ratio to one-block |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.geometry} | {r.bins} | {r.single_us:.1f} | {r.ladder_us:.1f} | "
            f"{r.ladder_us / r.single_us:.1f}x | {r.mask_us:.1f} | "
            f"{r.single_us / r.mask_us:.2f}x |"
        )
    lines += [
        "",
        "## Local search keyed by masks",
        "",
        f"{KEYED_ITERATIONS} iterations of the batching local search (seed 1) on a 100-order "
        "wave per row, batches keyed by a bit per bin and priced from their bins, or keyed by "
        "masks and priced from them; the same plans. Median seconds of "
        f"{KEYED_REPEATS} runs each.",
        "",
        "| geometry | capacity | by bins s | by masks s | ratio |",
        "|---|---|---|---|---|",
    ]
    for k in keyed:
        lines.append(
            f"| {k.geometry} | {k.capacity} | {k.by_bins_s:.2f} | {k.by_masks_s:.2f} | "
            f"{k.by_bins_s / k.by_masks_s:.2f}x |"
        )
    lines += [
        "",
        "## Beyond the exact DP: search prices",
        "",
        f"100,000-bin warehouse (five cross aisles), {SEARCH_SETS} random bin sets per size, each "
        f"priced by a short search (nearest-neighbour route, {GRAPH_SEARCH_ITERATIONS} kick) with "
        f"each number of trajectories, against a long search ({REFERENCE_KICKS} kicks, four "
        "trajectories). Batching prices with one trajectory on rectangular layouts.",
        "",
        "| bins per set | trajectories | median µs | mean excess | worst excess |",
        "|---|---|---|---|---|",
    ]
    for q in search:
        lines.append(
            f"| {q.bins} | {q.trajectories} | {q.median_us:.0f} | "
            f"{100 * q.mean_excess:.2f} % | {100 * q.worst_excess:.2f} % |"
        )
    lines.append("")
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=SETS, help="random bin sets per row")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rng, sets = random.Random(2026), args.sets
    oracles = {
        "Henn-Waescher": DistanceOracle(henn_waescher()),
        "Muter-Oencan": DistanceOracle(muter_oencan()),
    }
    rows = [row for name, oracle in oracles.items() for row in measure(name, oracle, rng, sets)]
    search = measure_search(DistanceOracle(large_warehouse()), rng, SEARCH_SETS)
    keyed = [
        measure_keyed(name, oracles[name], rng, items, capacity)
        for name, items, capacity in KEYED_WAVES
    ]
    write(args.out, rows, args.sets, search, keyed)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
