"""Pick-by-time benchmark: the lateness penalty weighed incrementally, or recomputed per move.

Run ``python -m benchmarks.lateness_bench``; it rewrites ``benchmarks/results/lateness.md``.

With pick-by times, every move, swap and ejection the local search weighs changes the pickers'
earliest-due-date schedule, so its penalty is part of the move's price.
:class:`picking.batching.Batcher` works it out from per-cart terms kept until a cart changes
(earliest pick-by time, picks, its orders' pick-by times sorted with prefix sums) and resumes
the schedule where the move first changes it, without making the move; and it does so only
for moves whose walk alone, less the whole current penalty (the most a move can take off),
could beat the best move so far (:data:`picking.batching.PENALTY_BOUNDS`; with exact prices
the same bound rules moves out before they are priced). The baseline here,
:class:`Recomputing` without those bounds, is the straightforward way: make every move,
schedule every cart from its orders, add up every order's lateness, undo the move. Both plan
the same waves with the same seed, one process, one run after the other:

* *one block, on time*: Henn and Waescher's block, 100 orders of 5-25 single-unit lines on
  random storage, carts of 45 units, orders due 30-120 minutes into the wave, eight pickers
  (most plans are on time);
* *one block, late*: the same with orders due 10-60 minutes in and four pickers (no plan is
  on time; the penalty is most of the objective);
* *two blocks*: the two-block warehouse of ``benchmarks.picking_bench``, 100 orders of 3-15
  lines over 2,000 SKUs in 1-3 bins each, carts of 40 units, due as *on time*.

Reported: the search's iterations and the plan's walk plus penalty with each, and per kind of
wave the median ratios.
"""

from __future__ import annotations

import argparse
import heapq
import math
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.layouts import henn_waescher
from benchmarks.picking_bench import multi_bin_wave, multi_block, random_storage_wave
from picking import batching
from picking import wave as wave_module
from picking.batching import Batcher, _State
from picking.model import Timing, Wave
from picking.wave import WavePlan
from routing.oracle import DistanceOracle

RESULTS = Path(__file__).parent / "results" / "lateness.md"
TIME_LIMIT_S = 10.0
WAVES = 2
SEEDS = (1, 2, 3)


class Recomputing(Batcher):
    """The baseline: a move's penalty by making it and scheduling every cart afresh."""

    def penalty(self, state: _State) -> int:
        if not self.has_due:
            return 0
        t = self.timing
        batches = []
        for b, members in enumerate(state.members):
            if not members:
                continue
            dues = [d for i in members if (d := self.items[i].due_s) is not None]
            picks = sum(self.items[i].picks for i in members)
            duration = state.costs[b] / 1000 / t.walk_speed_m_s + picks * t.pick_time_s
            batches.append((min(dues, default=math.inf), b, duration))
        batches.sort()
        free = [0.0] * t.pickers
        done_at: dict[int, tuple[float, float]] = {}
        for _, b, duration in batches:
            done = heapq.heappop(free) + duration
            heapq.heappush(free, done)
            for i in state.members[b]:
                due_s = self.items[i].due_s
                if due_s is not None:
                    order = self._orders[i]
                    done_at[order] = max(done_at.get(order, (0.0, due_s)), (done, due_s))
        late = sum(max(done - due_s, 0.0) for done, due_s in done_at.values())
        return round(late * t.lateness_penalty_m_per_s * 1000)

    def _penalty_after(self, state: _State, moves: list[tuple[int, int]]) -> int:
        undo = [(i, state.where[i]) for i, _ in moves]
        for i, _ in moves:
            state.remove(i)
        for i, b in moves:
            state.add(b, i)
        penalty = self.penalty(state)
        for i, _ in moves:
            state.remove(i)
        for i, b in undo:
            state.add(b, i)
        return penalty


@dataclass(frozen=True)
class Row:
    kind: str
    wave: int
    seed: int
    base_iterations: int
    base_m: float
    iterations: int
    m: float


def cost_m(result: WavePlan) -> float:
    """Walk plus lateness penalty, in metres."""
    return (result.distance_mm + result.lateness_penalty_mm) / 1000


def with_dues(wave: Wave, rng: random.Random, window_min: tuple[int, int], pickers: int) -> Wave:
    low, high = window_min
    orders = tuple(replace(o, pick_by_s=60.0 * rng.uniform(low, high)) for o in wave.orders)
    return replace(wave, orders=orders, timing=Timing(pickers=pickers))


def measure(
    kind: str,
    oracle: DistanceOracle,
    make: Callable[[random.Random], Wave],
    rng: random.Random,
    waves: int,
) -> list[Row]:
    rows = []
    for k in range(waves):
        wave = make(rng)
        for seed in SEEDS:
            wave_module.Batcher = Recomputing  # type: ignore[attr-defined]
            batching.PENALTY_BOUNDS = False
            try:
                base = wave_module.plan(oracle, wave, time_limit_s=TIME_LIMIT_S, seed=seed)
            finally:
                wave_module.Batcher = Batcher  # type: ignore[attr-defined]
                batching.PENALTY_BOUNDS = True
            mine = wave_module.plan(oracle, wave, time_limit_s=TIME_LIMIT_S, seed=seed)
            rows.append(
                Row(
                    kind,
                    k + 1,
                    seed,
                    base.iterations,
                    cost_m(base),
                    mine.iterations,
                    cost_m(mine),
                )
            )
            print(rows[-1], flush=True)
    return rows


def write(path: Path, rows: list[Row]) -> None:
    lines = [
        "# Pick-by-time benchmark",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}. Generated by "
        f"`python -m benchmarks.lateness_bench` on {time.strftime('%Y-%m-%d')}; see the module "
        f"docstring. {TIME_LIMIT_S:g} s a plan, one process; one run each on a shared machine.",
        "",
        "*recomputed*: every move's penalty by making it and scheduling every cart afresh; "
        "*incremental*: from kept per-cart terms, resuming the schedule where the move changes "
        "it, and only where the walk alone does not rule the move out (the planner). Metres "
        "walked plus the lateness penalty.",
        "",
        "| wave | number | seed | recomputed iterations | recomputed m | incremental "
        "iterations | incremental m | iterations ratio | incremental / recomputed m |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.kind} | {r.wave} | {r.seed} | {r.base_iterations} | {r.base_m:,.1f} | "
            f"{r.iterations} | {r.m:,.1f} | {r.iterations / max(r.base_iterations, 1):.1f} | "
            f"{r.m / r.base_m:.4f} |"
        )
    lines.append("")
    for kind in dict.fromkeys(r.kind for r in rows):
        mine = [r for r in rows if r.kind == kind]
        speed = statistics.median(r.iterations / max(r.base_iterations, 1) for r in mine)
        ratio = statistics.median(r.m / r.base_m for r in mine)
        lines.append(
            f"{kind}: a median {speed:.1f}x the iterations, plans a median "
            f"{100 * (1 - ratio):.2f} % shorter (walk plus penalty)."
        )
        lines.append("")
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=WAVES, help="waves per kind")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rng = random.Random(2026)
    hw = DistanceOracle(henn_waescher())
    blocks = DistanceOracle(multi_block())

    def hw_wave(window: tuple[int, int], pickers: int) -> Callable[[random.Random], Wave]:
        return lambda r: with_dues(random_storage_wave(hw, r, 100, (5, 25), 45), r, window, pickers)

    rows = [
        *measure("one block, on time", hw, hw_wave((30, 120), 8), rng, args.waves),
        *measure("one block, late", hw, hw_wave((10, 60), 4), rng, args.waves),
        *measure(
            "two blocks",
            blocks,
            lambda r: with_dues(multi_bin_wave(blocks, r, 100, 40), r, (30, 120), 8),
            rng,
            args.waves,
        ),
    ]
    write(args.out, rows)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
