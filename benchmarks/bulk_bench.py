"""Multi-block pricing benchmark: batches priced many at once, or one by one.

Run ``python -m benchmarks.bulk_bench``; it rewrites ``benchmarks/results/bulk.md``.

On two blocks (three cross aisles) a batch's price is the exact column DP. Before
:mod:`routing.many_routes`, batching priced every batch alone with
:func:`routing.ladder.route_length` (a plug DP over dictionaries of states, about a
millisecond a batch), so the local search made a few dozen iterations in 10 s and used the
narrow settings kept for slow prices (six carts weighed per order, no ejection); on three
blocks that DP takes milliseconds more, so batches were priced by a short route search
instead, not exactly. :class:`routing.many_routes.ManyRoutes` runs the same DP on many bin
sets together as numpy operations over shared steps, and batching asks for the batches an
order's moves may need together (:meth:`picking.pricing.KeyedPrices.prefetch`).

* *Prices*: 256 random sets of 20-35 bins on the two-block warehouse of
  ``benchmarks.picking_bench`` (20 aisles, 30 cells a face and block), on one five times as
  wide (:func:`wide_blocks`) and on three blocks (:func:`three_blocks`), priced by
  ``route_length`` one by one, by ``ManyRoutes`` in requests of 1 to 128 sets (every length
  checked equal) and, on three blocks, by the route search; medians of three passes.
* *Plans*: four two-block waves (the first two are ``benchmarks.twin_bench``'s: 100 orders
  of 3-15 lines over 2,000 SKUs in 1-3 bins each, carts of 40 units) and two such waves on
  three blocks, one process, 10 s, three seeds, with prices one by one and the slow-price
  settings (*one by one*: the planner before), with prices in bulk and the same settings
  (*bulk, narrow*), and with prices in bulk and the settings of fast prices, twelve carts
  weighed per order and ejection (*bulk*: the planner).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.picking_bench import multi_bin_wave, multi_block
from picking import pricing
from picking.wave import plan
from routing.ladder import route_length
from routing.many_routes import ManyRoutes
from routing.oracle import DistanceOracle
from routing.rectangular import RectangularDepot, RectangularLayout

RESULTS = Path(__file__).parent / "results" / "bulk.md"
TIME_LIMIT_S = 10.0
WAVES = 4
THREE_BLOCK_WAVES = 2
SEEDS = (1, 2, 3)
SETS = 256
REQUEST_SIZES = (1, 8, 32, 128)
KINDS = ("one by one", "bulk, narrow", "bulk")


@dataclass(frozen=True)
class PriceRow:
    layout: str
    by: str
    request: int  # sets per request
    us_per_set: float
    excess: float  # mean % above the shortest route


@dataclass(frozen=True)
class PlanRow:
    layout: str
    wave: int
    seed: int
    metres: dict[str, float]
    iterations: dict[str, int]


@contextmanager
def pricing_kind(kind: str) -> Iterator[None]:
    """Plan with prices one by one (``MANY_ROUTES`` off), in bulk with the slow-price search
    settings, or in bulk as the planner does."""
    init = pricing.RouteCoster.__init__
    many = pricing.MANY_ROUTES

    def narrow(self: pricing.RouteCoster, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        self.fast = False

    pricing.MANY_ROUTES = kind != "one by one"
    if kind == "bulk, narrow":
        pricing.RouteCoster.__init__ = narrow  # type: ignore[method-assign]
    try:
        yield
    finally:
        pricing.MANY_ROUTES = many
        pricing.RouteCoster.__init__ = init  # type: ignore[method-assign]


def wide_blocks() -> RectangularLayout:
    """Two blocks of 100 aisles (otherwise as ``multi_block``), the depot midway along the
    front: a cart's bins leave most aisles idle."""
    return RectangularLayout(
        "wide",
        aisles=100,
        cells_per_face=30,
        cell_length_m=1.0,
        aisle_spacing_m=4.0,
        cross_aisles=3,
        end_gap_m=1.5,
        depots=(RectangularDepot("DEPOT", 0, 200.0),),
    )


def three_blocks() -> RectangularLayout:
    """Three blocks (four cross aisles) of 20 aisles, 20 cells a face and block: as many
    bins as ``multi_block``."""
    return RectangularLayout(
        "three",
        aisles=20,
        cells_per_face=20,
        cell_length_m=1.0,
        aisle_spacing_m=4.0,
        cross_aisles=4,
        end_gap_m=1.5,
        depots=(RectangularDepot("DEPOT", 0, 0.0),),
    )


def measure_prices(layout: str, oracle: DistanceOracle, rng: random.Random) -> list[PriceRow]:
    """Every set by ``route_length`` one by one, by ``ManyRoutes`` in requests of each size,
    and (beyond two blocks) by the route search the planner used there before."""
    rect = oracle.rectangular
    assert rect is not None
    depot = oracle.depot_location(oracle.depot_ids[0]) - oracle.n_bins
    point = (rect.depot_cross[depot], rect.depot_x_mm[depot])
    bins = range(oracle.n_bins)
    sets = [sorted(rng.sample(bins, rng.randint(20, 35))) for _ in range(SETS)]
    many = ManyRoutes(rect.ladder, rect.bin_aisle, rect.bin_y_mm, point, point)

    def one_by_one() -> list[int]:
        out = []
        for s in sets:
            solved = route_length(
                rect.ladder, [rect.bin_aisle[x] for x in s], [rect.bin_y_mm[x] for x in s],
                point, point,
            )  # fmt: skip
            assert solved is not None
            out.append(solved[0])
        return out

    def in_requests(size: int) -> list[int]:
        return [n for k in range(0, SETS, size) for n in many.lengths(sets[k : k + size])]

    def searched() -> list[int]:
        with pricing_kind("one by one"):
            coster = pricing.RouteCoster(oracle, depot + oracle.n_bins, depot + oracle.n_bins)
        return [coster._solve(frozenset(s)) for s in sets]

    expected = one_by_one()
    kinds: list[tuple[str, int, Callable[[], list[int]]]] = [
        ("`route_length`, one by one", 1, one_by_one),
        *(("`ManyRoutes`", size, functools.partial(in_requests, size)) for size in REQUEST_SIZES),
    ]
    if rect.ladder.n_cross_aisles > pricing.EXACT_LADDER_MAX_CROSS_AISLES:
        kinds.append(("route search, one by one (before)", 1, searched))
    rows = []
    for by, size, price in kinds:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            got = price()
            times.append(time.perf_counter() - started)
            assert by.startswith("route search") or got == expected, f"{by} is not exact"
        excess = statistics.mean(100 * (g / e - 1) for g, e in zip(got, expected, strict=True))
        rows.append(PriceRow(layout, by, size, 1e6 * statistics.median(times) / SETS, excess))
        print(rows[-1], flush=True)
    return rows


def measure_plans(
    layout: str, oracle: DistanceOracle, rng: random.Random, waves: int
) -> list[PlanRow]:
    rows = []
    for k in range(waves):
        wave = multi_bin_wave(oracle, rng, 100, 40)
        for seed in SEEDS:
            metres: dict[str, float] = {}
            iterations: dict[str, int] = {}
            for kind in KINDS:
                with pricing_kind(kind):
                    made = plan(oracle, wave, time_limit_s=TIME_LIMIT_S, seed=seed, processes=1)
                metres[kind], iterations[kind] = made.distance_mm / 1000, made.iterations
            rows.append(PlanRow(layout, k + 1, seed, metres, iterations))
            print(rows[-1], flush=True)
    return rows


def write(path: Path, prices: list[PriceRow], plans: list[PlanRow]) -> None:
    alone = {r.layout: r.us_per_set for r in prices if r.by.startswith("`route_length`")}
    lines = [
        "# Multi-block pricing benchmark",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}. Generated by "
        f"`python -m benchmarks.bulk_bench` on {time.strftime('%Y-%m-%d')}; see the module "
        "docstring. One run on a shared machine: read the ratios.",
        "",
        "## Prices",
        "",
        f"{SETS} random sets of 20-35 bins per layout; median of three passes. *two blocks*: the "
        "benchmark's two-block warehouse (20 aisles); *two blocks, 100 aisles*: the same five "
        "times as wide, the depot midway; *three blocks*: 20 aisles of 20 cells a face and "
        "block. *above shortest*: the mean length over the shortest route's (`route_length` "
        "and `ManyRoutes` are checked equal to the millimetre).",
        "",
        "| layout | priced by | sets per request | µs per set | speed-up | above shortest |",
        "|---|---|---|---|---|---|",
    ]
    for r in prices:
        lines.append(
            f"| {r.layout} | {r.by} | {r.request} | {r.us_per_set:,.0f} | "
            f"{alone[r.layout] / r.us_per_set:.1f}x | {r.excess:.2f} % |"
        )
    lines += [
        "",
        "## Plans",
        "",
        f"{TIME_LIMIT_S:g} s a plan, one process, the same seed; metres walked and the "
        "search's iterations.",
        "",
        "| layout | wave | seed | " + " | ".join(f"{k} m | {k} iterations" for k in KINDS) + " |",
        "|---|---|---|" + "---|---|" * len(KINDS),
    ]
    for p in plans:
        cells = " | ".join(f"{p.metres[k]:,.1f} | {p.iterations[k]}" for k in KINDS)
        lines.append(f"| {p.layout} | {p.wave} | {p.seed} | {cells} |")
    lines.append("")
    for layout in dict.fromkeys(p.layout for p in plans):
        mine = [p for p in plans if p.layout == layout]
        for kind, base in ((KINDS[1], KINDS[0]), (KINDS[2], KINDS[0]), (KINDS[2], KINDS[1])):
            ratio = [p.metres[kind] / p.metres[base] for p in mine]
            speed = statistics.median(p.iterations[kind] / max(p.iterations[base], 1) for p in mine)
            shorter = sum(r < 1 for r in ratio)
            lines.append(
                f"{layout}, *{kind}* against *{base}*: a median {speed:.1f}x the iterations, "
                f"plans a median {100 * (1 - statistics.median(ratio)):.2f} % shorter (from "
                f"{100 * (1 - max(ratio)):.2f} % to {100 * (1 - min(ratio)):.2f} %; shorter in "
                f"{shorter} of {len(ratio)})."
            )
            lines.append("")
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=WAVES, help="two-block waves to plan")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    oracle = DistanceOracle(multi_block())
    three = DistanceOracle(three_blocks())
    prices = [
        *measure_prices("two blocks", oracle, random.Random(7)),
        *measure_prices("two blocks, 100 aisles", DistanceOracle(wide_blocks()), random.Random(7)),
        *measure_prices("three blocks", three, random.Random(7)),
    ]
    plans = [
        *measure_plans("two blocks", oracle, random.Random(2026), args.waves),
        *measure_plans("three blocks", three, random.Random(2027), THREE_BLOCK_WAVES),
    ]
    write(args.out, prices, plans)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
