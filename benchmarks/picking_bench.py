"""Wave-planning benchmark: walking distance against exact optima, classic heuristics and FCFS.

Run ``python -m benchmarks.picking_bench`` (part of ``make bench``); it rewrites
``benchmarks/results/picking.md``. ``--quick`` runs a smaller set; ``--proven-only`` runs only the
20-order waves against their proven optimum and prints the tables (written only to ``--out``).

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
* **Proven optimum** on the 20-order Henn-Waescher and Muter-Oencan waves (every capacity):
  the least total distance of any capacity-feasible batching with optimal routes, proven by
  complete enumeration and independent of the search (:func:`proven_optimum`):

  1. every capacity-feasible batch is enumerated (177 to 507,290 per wave, the most for MO at
     capacity 48) and priced by Ratliff & Rosenthal's DP for one-block warehouses, written here
     vectorised over all batches with numpy (2 s for 500,000 batches, where the planner's
     :class:`~picking.pricing.RouteCoster` takes about 0.05 ms a batch, 25 s for that wave);
     a sample of 200 batches per wave is priced by ``RouteCoster`` as well and must agree to the
     millimetre (all 650,000 batches of the seven waves did when this was written);
  2. a dynamic programme over the 2^20 sets of covered orders, each extended only by batches
     holding its lowest uncovered order (orders sorted by decreasing size, which keeps those
     batches few), gives the least total distance of any partition of the wave into carts.
     It makes up to 1.5e9 state updates (numpy, one batch at a time; 25 s of CPU for MO at
     capacity 48, under 10 s for each other wave, so about a minute for the seven waves).

  Set partitioning was measured first and dropped: the LP relaxation (GLOP) of "each order in
  exactly one batch" is 0.2-8.5 % below the optimum (0-2.2 % with "at least ceil(units /
  capacity) carts", but then 130 s of GLOP for the largest wave), and CP-SAT (2 workers, 60 s,
  the plan as hint, the cart bound added) ended 14-79 % from its bound on the four waves with
  over 20,000 batches. ``--proven-only`` runs just these seven waves. With ``--quick`` the
  proof runs only on waves needing at most ``QUICK_DP_UPDATES`` state updates, and never beyond
  ``MAX_DP_UPDATES``; a wave left out says so in the table.
* **Proven optimum by set partitioning** on the 100-order waves with at most
  ``PARTITION_MAX_BATCHES`` capacity-feasible carts (Henn-Waescher at 30 and 45 items: 57,000
  and a million carts; the other classes have 10^8 to 10^13), and on the 20-order waves as a
  cross-check of the DP above (:func:`partition_optimum`): every such cart is enumerated and
  priced as above (:func:`sweep_prices`), and HiGHS solves the LP "each order on exactly one
  cart, at least as many carts as the units need". When its solution is integral it is the
  optimum; otherwise a MIP over the carts of reduced cost below 0.1 % of the LP gives a
  cover, and a second MIP over every cart whose reduced cost is within that cover's gap to the
  LP bound (no cheaper cover can use another) proves the optimum. Independent of the planner's
  search and of its own column generation (:mod:`picking.partition`), which never sees most
  of these carts.
* **Lower bound** on every 100-order wave (:func:`bound_wave`, :mod:`benchmarks.batching_bound`):
  the same LP over every feasible cart, solved by column generation whose pricing is exact (a
  branch and bound over the orders with knapsack completion bounds, each level priced at once
  by the vectorised DP: the planner's pricing, run in full rather than as its beam; 10-60 s a
  wave), then raised by subset-row cuts on three orders (pricing charges their duals); no
  partition is shorter. Where the median run is within 1 % of this bound, it is within 1 % of
  the optimum, and so of any best-known plan of the wave, published or not. A MIP over the
  carts it generated gives a cover, so the optimum lies between the two. On the two classes
  with a proven optimum the LP matches the one over the enumerated carts. A sample of the
  generated carts is priced by ``RouteCoster`` as well and must agree.
* **Savings**: Clarke-Wright savings batching with optimal routes and no improvement step, the
  classic construction (the plan's own first step).
* **FCFS + S-shape**: first-come-first-served carts, first bin by id, S-shape walks: the
  baseline the service reports beside every plan.
* **Long run** (100-order waves): the same solver with ``LONG_FACTOR`` (6x) the time and two other
  seeds, best of them, to show how far the default time limit is from convergence (not an
  independent bound). Eleven more runs at the default limit (``REPEAT_SEEDS``) show how much
  runs differ: on Muter-Oencan's wave at 48 items single runs end 1-3 % apart, and a 10 s run
  can beat the long runs by 1 %, so the long runs alone are no steady reference.
* **Best known** (100-order waves): the shortest plan known of the wave, like the best-known
  solutions of the literature: the shortest of the plans kept in ``BEST_KNOWN`` from earlier
  runs (or found by other means, the file says how), the twelve runs at the default limit, the
  long runs, the best cover and the proven optimum; the median of the twelve runs is compared
  with it. A kept plan counts only once checked on the wave as drawn now
  (:func:`check_plan`: every order on exactly one cart, every cart within capacity, each
  cart's route priced by the vectorised DP and by ``RouteCoster``), and a run that finds a
  shorter plan replaces it in the file, so the reference only gets harder to meet and one
  lucky run is not forgotten by the next.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import highspy
import numpy as np
import numpy.typing as npt

from benchmarks.batching_bound import COVER_CARTS, COVER_SECONDS, Bound, lower_bound
from benchmarks.layouts import henn_waescher, large_warehouse
from picking.batching import Batcher, Item
from picking.model import Cart, Load, Order, OrderLine, Wave, fits
from picking.pricing import RouteCoster
from picking.wave import WavePlan, plan
from routing.highs import quiet_highs
from routing.oracle import DistanceOracle
from routing.rectangular import RectangularDepot, RectangularGraph, RectangularLayout
from routing.sweep import aisle_picks, sweep_prices

RESULTS = Path(__file__).parent / "results" / "picking.md"
#: The shortest plan known of each 100-order wave (see "Best known" above).
BEST_KNOWN = Path(__file__).parent / "results" / "picking_best_known.json"

IntArray = npt.NDArray[np.int64]
#: State updates (sum over batches of the states each extends) above which the proven optimum
#: is not attempted; 1.5e9 take 25 s of CPU (25-45 s wall on a shared 2-core machine).
MAX_DP_UPDATES = 5_000_000_000
#: The same limit under ``--quick``.
QUICK_DP_UPDATES = 300_000_000
#: Time of the long runs on 100-order waves, as a multiple of the time limit.
LONG_FACTOR = 6.0
#: Seeds of the extra runs at the default limit on those waves: runs differ by up to 3 %, so
#: comparisons take the median of twelve (seed 1, the plan, and these).
REPEAT_SEEDS = tuple(range(4, 15))
#: How a kept plan was found, besides the planner's runs.
PROVEN = "proven optimum"
COVER = "best cover"
#: Feasible carts up to which a 100-order wave's optimum is found by set partitioning over
#: all of them (the Henn-Waescher waves at 30 and 45 items; the others have 10^8 and more).
PARTITION_MAX_BATCHES = 2_000_000
#: Time limit of each MIP of that proof, and the reduced cost (share of the LP bound) up to
#: which carts enter the first MIP, which finds the cover the proof starts from (ten times
#: more, and again, while they hold none).
PARTITION_MIP_SECONDS = 600.0
PARTITION_NEAR_SHARE = 0.001
#: Batches per wave priced by ``RouteCoster`` too, to check the vectorised route DP.
PRICE_CHECK_SAMPLE = 200
#: Time limit of the lower bound by column generation on each 100-order wave (it converges
#: in 10-60 s on these), before the MIP over its carts.
BOUND_SECONDS = 900.0
#: Processes each plan may use (the issue's target is on two cores): the column search runs
#: beside the local search on waves that do not go to set partitioning.
PROCESSES = 2


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


def order_locs(oracle: DistanceOracle, wave: Wave) -> list[frozenset[int]]:
    """Each order's bin locations (random-storage waves: every SKU in one bin)."""
    return [
        frozenset(oracle.bin_location(next(iter(wave.stock[x.sku]))) for x in o.lines)
        for o in wave.orders
    ]


def exact_optimum(oracle: DistanceOracle, wave: Wave) -> int:
    """Least total distance over every capacity-feasible batching, each with its optimal route
    (random-storage waves: every SKU in one bin)."""
    start = oracle.depot_location(oracle.depot_ids[0])
    coster = RouteCoster(oracle, start, start)
    n = len(wave.orders)
    locs = order_locs(oracle, wave)
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


def feasible_batches(units: Sequence[int], capacity: int) -> IntArray:
    """Every non-empty set of orders whose units fit on one cart, as bit masks over the orders."""
    masks = np.zeros(1, dtype=np.int64)
    loads = np.zeros(1, dtype=np.int64)
    for i, u in enumerate(units):
        fit = loads + u <= capacity
        masks = np.concatenate([masks, masks[fit] | (1 << i)])
        loads = np.concatenate([loads, loads[fit] + u])
    return masks[1:]


def agree_with_route_coster(
    oracle: DistanceOracle,
    locs: Sequence[frozenset[int]],
    priced: Iterable[tuple[Iterable[int], int]],
) -> None:
    """AssertionError unless the planner's ``RouteCoster`` prices every cart (its orders, as
    indices into ``locs``) at the given length in mm: a cross-check of the vectorised DP."""
    start = oracle.depot_location(oracle.depot_ids[0])
    coster = RouteCoster(oracle, start, start)
    for orders, price in priced:
        union = frozenset().union(*(locs[i] for i in orders))
        if coster(union) != price:
            raise AssertionError(f"route DP {price} != RouteCoster {coster(union)}")


def _sample(count: int) -> IntArray:
    """Indices of up to ``PRICE_CHECK_SAMPLE`` of ``count`` carts, spread evenly."""
    picked: IntArray = np.linspace(0, count - 1, min(count, PRICE_CHECK_SAMPLE)).astype(np.int64)
    return picked


def ladder_prices(
    rect: RectangularGraph, depot: int, order_locs: Sequence[frozenset[int]], masks: IntArray
) -> IntArray:
    """Shortest closed walk from the depot through every bin of each batch, in mm.

    ``masks`` are batches as bit masks over ``order_locs`` (each order's bin locations); see
    :func:`sweep_prices` for the layouts it handles.
    """
    per_order = aisle_picks(rect, order_locs)
    occupied = np.zeros((len(masks), per_order.shape[1]), dtype=np.int64)
    for i in range(len(order_locs)):
        occupied[(masks >> i) & 1 == 1] |= per_order[i]
    return sweep_prices(rect, depot, occupied)


def partition_dp(n: int, masks: IntArray, costs: IntArray) -> int:
    """Least total cost of batches (``masks`` over ``n`` orders, ``costs``) covering every
    order exactly once.

    ``f[C]`` is the least cost of covering exactly the orders in ``C``; a state is extended
    only by batches holding its lowest uncovered order, so every partition is built in exactly
    one way. States whose lowest uncovered order is ``u`` are final once the batches whose
    lowest order is below ``u`` are applied, so the batches are applied in that order, each to
    every state it extends at once (numpy gathers over the subsets of the orders above its
    lowest one that it does not hold).
    """
    if not np.all(costs * n < 2**30):
        raise ValueError("partition_dp keeps totals in 32 bits")
    half = n // 2
    subsets = []  # subsets[m]: every subset of the bit mask m
    for m in range(1 << (n - half)):
        found, d = [m], m
        while d:
            d = (d - 1) & m
            found.append(d)
        subsets.append(np.array(found, dtype=np.int32))
    low_bits = (1 << half) - 1
    full = (1 << n) - 1
    best = np.full(1 << n, 2**30, dtype=np.int32)
    best[0] = 0
    lowest = _lowest_order(masks)
    for k in np.lexsort((masks, lowest)):
        batch, u = int(masks[k]), int(lowest[k])
        covered = (1 << u) - 1
        free = full & ~((1 << (u + 1)) - 1) & ~batch
        rest = (
            subsets[free & low_bits][:, None] + (subsets[free >> half] << half)[None, :]
        ).ravel()
        extended = best[covered:][rest]
        extended += np.int32(costs[k])
        target = best[covered + batch :]
        merged = target[rest]
        np.minimum(merged, extended, out=merged)
        target[rest] = merged
    return int(best[full])


def _lowest_order(masks: IntArray) -> IntArray:
    """Index of each mask's lowest set bit."""
    lowest: IntArray = np.log2(masks & -masks).round().astype(np.int64)
    return lowest


def dp_updates(n: int, masks: IntArray) -> int:
    """State updates :func:`partition_dp` makes: per batch, 2 ** (orders above its lowest that
    it does not hold)."""
    free = ((1 << n) - 1) & ~((1 << (_lowest_order(masks) + 1)) - 1) & ~masks
    counts = sum((free >> i) & 1 for i in range(n))
    return int(np.sum(np.left_shift(1, counts, dtype=np.int64)))


@dataclass
class Proof:
    """The proven optimum of a wave (None when the DP would take too long)."""

    optimum: int | None
    batches: int
    updates: int
    seconds: float


def proven_optimum(oracle: DistanceOracle, wave: Wave, max_updates: int) -> Proof:
    """Least total distance over every capacity-feasible batching of a random-storage wave,
    each batch walked by its shortest route; see the module docstring."""
    started = time.perf_counter()
    rect = oracle.rectangular
    if rect is None or wave.cart != Cart(capacity_units=wave.cart.capacity_units):
        raise ValueError("proven_optimum needs a rectangular layout and a units-only cart")
    n = len(wave.orders)
    units = [sum(x.quantity for x in o.lines) for o in wave.orders]
    order = sorted(range(n), key=lambda i: -units[i])  # big orders first: fewer DP updates
    every = order_locs(oracle, wave)
    locs = [every[i] for i in order]
    masks = feasible_batches([units[i] for i in order], wave.cart.capacity_units)
    updates = dp_updates(n, masks)
    if updates > max_updates:
        return Proof(None, len(masks), updates, time.perf_counter() - started)
    start = oracle.depot_location(oracle.depot_ids[0])
    costs = ladder_prices(rect, start - oracle.n_bins, locs, masks)
    agree_with_route_coster(
        oracle,
        locs,
        (([i for i in range(n) if masks[k] >> i & 1], costs[k]) for k in _sample(len(masks))),
    )
    optimum = partition_dp(n, masks, costs)
    return Proof(optimum, len(masks), updates, time.perf_counter() - started)


@dataclass
class Optimum:
    """A wave's optimum by set partitioning over every feasible cart (None: not attempted, or
    not proven), with the LP bound."""

    optimum: int | None
    lp_bound_mm: float | None
    batches: int
    integral_lp: bool
    seconds: float
    carts: list[tuple[int, ...]] | None = None  # the optimum's carts (orders)


def count_batches(units: Sequence[int], capacity: int) -> int:
    """How many non-empty sets of orders fit on one cart (a subset-sum count)."""
    ways = [1] + [0] * capacity
    for u in units:
        for load in range(capacity, u - 1, -1):
            ways[load] += ways[load - u]
    return sum(ways) - 1


def partition_optimum(oracle: DistanceOracle, wave: Wave, max_batches: int) -> Optimum:
    """Least total distance of a random-storage wave, by set partitioning over every feasible
    cart (see the module docstring); not attempted beyond ``max_batches`` carts."""
    started = time.perf_counter()
    rect = oracle.rectangular
    if rect is None or wave.cart != Cart(capacity_units=wave.cart.capacity_units):
        raise ValueError("partition_optimum needs a rectangular layout and a units-only cart")
    n, cap = len(wave.orders), wave.cart.capacity_units
    units = [sum(x.quantity for x in o.lines) for o in wave.orders]
    count = count_batches(units, cap)
    if count > max_batches:
        return Optimum(None, None, count, False, time.perf_counter() - started)
    members: list[int] = []  # every cart's orders, one cart after the other
    sizes: list[int] = []
    stack: list[tuple[int, int, tuple[int, ...]]] = [
        (i, units[i], (i,)) for i in reversed(range(n))
    ]
    while stack:
        last, load, batch = stack.pop()
        members.extend(batch)
        sizes.append(len(batch))
        stack.extend(
            (j, load + units[j], (*batch, j))
            for j in reversed(range(last + 1, n))
            if load + units[j] <= cap
        )
    flat = np.array(members, dtype=np.int64)
    size = np.array(sizes, dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(size)[:-1]])
    locs = order_locs(oracle, wave)
    start = oracle.depot_location(oracle.depot_ids[0])
    occupied = np.bitwise_or.reduceat(aisle_picks(rect, locs)[flat], first, axis=0)
    costs = sweep_prices(rect, start - oracle.n_bins, occupied)
    agree_with_route_coster(
        oracle, locs, ((flat[first[k] : first[k] + size[k]], costs[k]) for k in _sample(count))
    )
    fewest = -(-sum(units) // cap)
    # Rows: each order exactly once; at least the fewest carts (a valid cut that tightens the
    # LP). Column k holds its orders and the cart row.
    index = np.insert(flat, first + size, n).astype(np.int32)
    column_start = np.concatenate([[0], np.cumsum(size + 1)]).astype(np.int32)
    model = highspy.HighsLp()
    model.num_col_, model.num_row_ = count, n + 1
    model.col_cost_ = costs / 1000
    model.col_lower_, model.col_upper_ = np.zeros(count), np.ones(count)
    model.row_lower_ = np.array([1.0] * n + [float(fewest)])
    model.row_upper_ = np.array([1.0] * n + [highspy.kHighsInf])
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_, model.a_matrix_.index_ = column_start, index
    model.a_matrix_.value_ = np.ones(len(index))
    highs = quiet_highs()
    highs.passModel(model)
    highs.run()
    bound = highs.getInfo().objective_function_value * 1000
    x = np.asarray(highs.getSolution().col_value)
    reduced = np.asarray(highs.getSolution().col_dual) * 1000
    integral = bool(np.all((x < 1e-6) | (x > 1 - 1e-6)))

    def carts(columns: npt.NDArray[np.int64]) -> list[tuple[int, ...]]:
        return [tuple(flat[first[k] : first[k] + size[k]].tolist()) for k in columns]

    def best_cover(columns: npt.NDArray[np.int64]) -> tuple[int, list[tuple[int, ...]]] | None:
        """The least cost of an exact cover by ``columns`` and its carts (None: not proven in
        the time)."""
        sub = highspy.HighsLp()
        sub.num_col_, sub.num_row_ = len(columns), n + 1
        sub.col_cost_ = costs[columns] / 1000
        sub.col_lower_, sub.col_upper_ = np.zeros(len(columns)), np.ones(len(columns))
        sub.row_lower_, sub.row_upper_ = model.row_lower_, model.row_upper_
        sub.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        sub.a_matrix_.start_ = np.concatenate([[0], np.cumsum(size[columns] + 1)]).astype(np.int32)
        sub.a_matrix_.index_ = np.concatenate(
            [index[column_start[k] : column_start[k + 1]] for k in columns]
        )
        sub.a_matrix_.value_ = np.ones(len(sub.a_matrix_.index_))
        sub.integrality_ = [highspy.HighsVarType.kInteger] * len(columns)
        mip = quiet_highs()
        mip.setOptionValue("time_limit", PARTITION_MIP_SECONDS)
        mip.passModel(sub)
        mip.run()
        if mip.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        chosen = columns[np.asarray(mip.getSolution().col_value) > 0.5]
        return int(costs[chosen].sum()), carts(chosen)

    if integral:
        chosen = np.flatnonzero(x > 0.5)
        optimum: tuple[int, list[tuple[int, ...]]] | None = (
            int(costs[chosen].sum()),
            carts(chosen),
        )
    else:
        # A good cover from the carts the LP nearly uses (more of them while they hold none),
        # then the proof: no cover cheaper than it uses a cart whose reduced cost exceeds its
        # gap to the LP bound.
        near = PARTITION_NEAR_SHARE * bound
        upper = best_cover(np.flatnonzero(reduced <= near))
        while upper is None and (reduced > near).any():
            near *= 10
            upper = best_cover(np.flatnonzero(reduced <= near))
        optimum = None
        if upper is not None:
            optimum = best_cover(np.flatnonzero(reduced <= upper[0] - bound + 1.0))
    seconds = time.perf_counter() - started
    if optimum is None:
        return Optimum(None, bound, count, integral, seconds)
    return Optimum(optimum[0], bound, count, integral, seconds, optimum[1])


def bound_wave(
    oracle: DistanceOracle,
    wave: Wave,
    plan: WavePlan,
    cover_seconds: float = COVER_SECONDS,
    branch_seconds: float = 0.0,
) -> Bound:
    """A lower bound on a random-storage wave's least total distance by column generation
    over every cart (:mod:`benchmarks.batching_bound`), started from ``plan``, the best cover
    by its carts found in ``cover_seconds``, and ``branch_seconds`` of branch and price; a
    sample of the carts it priced is priced by ``RouteCoster`` as well and must agree."""
    rect = oracle.rectangular
    if rect is None or wave.cart != Cart(capacity_units=wave.cart.capacity_units):
        raise ValueError("bound_wave needs a rectangular layout and a units-only cart")
    locs = order_locs(oracle, wave)
    units = [sum(x.quantity for x in o.lines) for o in wave.orders]
    index = {o.id: i for i, o in enumerate(wave.orders)}
    carts = [[index[o] for o in b.order_ids] for b in plan.batches]
    start = oracle.depot_location(oracle.depot_ids[0])
    bound = lower_bound(
        rect, start - oracle.n_bins, aisle_picks(rect, locs), units,
        wave.cart.capacity_units, carts, BOUND_SECONDS, cover_seconds=cover_seconds,
        branch_seconds=branch_seconds,
    )  # fmt: skip
    agree_with_route_coster(
        oracle, locs, ((bound.carts[k], bound.prices[k]) for k in _sample(len(bound.carts)))
    )
    return bound


@dataclass(frozen=True)
class KnownPlan:
    """A plan of one wave kept between runs: its carts (order ids), length and origin."""

    wave: str  # fingerprint of the wave it plans (:func:`fingerprint`)
    distance_mm: int
    carts: tuple[tuple[str, ...], ...]
    found_by: str


def fingerprint(wave: Wave) -> str:
    """A digest of a wave's orders, lines, stock and cart: a kept plan is for this wave only."""
    text = json.dumps(
        [
            [[o.id, [[x.sku, x.quantity] for x in o.lines]] for o in wave.orders],
            sorted((sku, sorted(bins.items())) for sku, bins in wave.stock.items()),
            wave.cart.capacity_units,
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_plan(oracle: DistanceOracle, wave: Wave, carts: Sequence[Sequence[str]]) -> int:
    """The length (mm) of a plan of a random-storage wave given as carts of order ids, each cart
    walked by its shortest route; AssertionError unless every order is on exactly one cart,
    every cart fits and the vectorised DP and ``RouteCoster`` agree on every cart."""
    rect = oracle.rectangular
    assert rect is not None, "check_plan needs a rectangular layout"
    index = {o.id: i for i, o in enumerate(wave.orders)}
    placed = sorted(index[o] for cart in carts for o in cart)
    assert placed == list(range(len(wave.orders))), "not every order on exactly one cart"
    units = [sum(x.quantity for x in o.lines) for o in wave.orders]
    assert all(sum(units[index[o]] for o in cart) <= wave.cart.capacity_units for cart in carts), (
        "a cart over capacity"
    )
    locs = order_locs(oracle, wave)
    start = oracle.depot_location(oracle.depot_ids[0])
    per_order = aisle_picks(rect, locs)
    occupied = np.stack(
        [np.bitwise_or.reduce(per_order[[index[o] for o in cart]], axis=0) for cart in carts]
    )
    prices = sweep_prices(rect, start - oracle.n_bins, occupied)
    orders = [[index[o] for o in cart] for cart in carts]
    agree_with_route_coster(oracle, locs, zip(orders, prices, strict=True))
    return int(prices.sum())


def load_known(path: Path) -> dict[str, KnownPlan]:
    """The kept plans by class key (``"MO 100 c48"``); none when the file is missing."""
    if not path.exists():
        return {}
    return {
        key: KnownPlan(
            entry["wave"],
            entry["distance_mm"],
            tuple(tuple(cart) for cart in entry["carts"]),
            entry["found_by"],
        )
        for key, entry in json.loads(path.read_text()).items()
    }


def save_known(path: Path, known: dict[str, KnownPlan]) -> None:
    entries = {
        key: {
            "wave": plan.wave,
            "distance_mm": plan.distance_mm,
            "found_by": plan.found_by,
            "carts": [list(cart) for cart in plan.carts],
        }
        for key, plan in sorted(known.items())
    }
    text = json.dumps(entries, indent=1)
    # One line per cart.
    text = re.sub(r"\[\s+([^\[\]]*?)\s+\]", lambda m: f"[{' '.join(m[1].split())}]", text)
    path.write_text(text + "\n")


def savings_only(oracle: DistanceOracle, wave: Wave) -> int:
    """Clarke-Wright savings with optimal routes, no improvement (random-storage waves)."""
    start = oracle.depot_location(oracle.depot_ids[0])
    coster = RouteCoster(oracle, start, start)
    items = []
    for o, locs in zip(wave.orders, order_locs(oracle, wave), strict=True):
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
    proof: Proof | None = None
    savings: int | None = None
    long_run: int | None = None
    #: Distances of the runs at the default limit with seeds 1 (the plan) and REPEAT_SEEDS.
    repeats: list[int] | None = None
    partition: Optimum | None = None
    bound: Bound | None = None
    #: The shortest plan of the runs here or kept from earlier ones, once checked.
    known: KnownPlan | None = None

    @property
    def key(self) -> str:
        return f"{self.name} c{self.capacity}"

    @property
    def median_mm(self) -> float:
        """The median of the runs at the default limit (the plan's, without repeats)."""
        return statistics.median(self.repeats) if self.repeats else self.plan.distance_mm

    @property
    def best_known(self) -> int | None:
        """The shortest plan of the wave known here or kept (None: no run)."""
        found = [
            *(self.repeats or ()),
            self.known.distance_mm if self.known else None,
            self.long_run,
            self.bound.upper_mm if self.bound else None,
            self.partition.optimum if self.partition else None,
        ]
        return min((mm for mm in found if mm is not None), default=None)


def run_instance(
    name: str,
    oracle: DistanceOracle,
    wave: Wave,
    time_limit_s: float,
    *,
    with_optimum: bool = False,
    proof_updates: int = 0,
    with_savings: bool = True,
    long_factor: float = 0.0,
    partition: bool = False,
    known: dict[str, KnownPlan] | None = None,
) -> Row:
    started = time.perf_counter()
    result = plan(oracle, wave, time_limit_s=time_limit_s, seed=1, processes=PROCESSES)
    row = Row(
        name, len(wave.orders), wave.cart.capacity_units, result, time.perf_counter() - started
    )
    if with_optimum:
        row.optimum = exact_optimum(oracle, wave)
    if proof_updates:
        row.proof = proven_optimum(oracle, wave, proof_updates)
    if with_savings:
        row.savings = savings_only(oracle, wave)
    if partition:
        row.partition = partition_optimum(oracle, wave, PARTITION_MAX_BATCHES)
    if partition and len(wave.orders) == 100:
        row.bound = bound_wave(oracle, wave, result)
    if long_factor:
        # Every plan with how it was made: (seed, time limit) -> plan.
        repeats = {(1, time_limit_s): result} | {
            (s, time_limit_s): plan(
                oracle, wave, time_limit_s=time_limit_s, seed=s, processes=PROCESSES
            )
            for s in REPEAT_SEEDS
        }
        longs = {
            (s, time_limit_s * long_factor): plan(
                oracle, wave, time_limit_s=time_limit_s * long_factor, seed=s, processes=PROCESSES
            )
            for s in (2, 3)
        }
        row.repeats = [p.distance_mm for p in repeats.values()]
        row.long_run = min(p.distance_mm for p in longs.values())
        runs = {f"planner, {limit:g} s, seed {s}": p for (s, limit), p in (repeats | longs).items()}
        digest = fingerprint(wave)
        found = [
            KnownPlan(digest, p.distance_mm, tuple(b.order_ids for b in p.batches), how)
            for how, p in runs.items()
        ]
        ids = [o.id for o in wave.orders]
        other: list[tuple[str, int | None, list[tuple[int, ...]] | None]] = []
        if row.partition:
            other.append((PROVEN, row.partition.optimum, row.partition.carts))
        if row.bound:
            other.append((COVER, row.bound.upper_mm, row.bound.cover))
        found += [
            KnownPlan(digest, mm, tuple(tuple(ids[i] for i in c) for c in carts), how)
            for how, mm, carts in other
            if mm is not None and carts
        ]
        kept = (known or {}).get(row.key)
        row.known = best_plan(oracle, wave, found if kept is None else [kept, *found])
    return row


def best_plan(oracle: DistanceOracle, wave: Wave, plans: Sequence[KnownPlan]) -> KnownPlan:
    """The shortest of ``plans`` that are for ``wave`` (by fingerprint), each checked by
    :func:`check_plan` and taken at the length of its carts' shortest routes; the first of
    equal ones. A plan may claim more (a planner run whose final route for some cart ran out
    of time and was not proven shortest), never less."""
    digest = fingerprint(wave)
    found = []
    for candidate in (p for p in plans if p.wave == digest):
        length = check_plan(oracle, wave, candidate.carts)
        assert length <= candidate.distance_mm, f"{candidate.found_by}: {length} mm, not as kept"
        found.append(replace(candidate, distance_mm=length))
    return min(found, key=lambda p: p.distance_mm)


def found_by(row: Row) -> str:
    """Where a row's best known plan comes from (the proven optimum first, of equal ones)."""
    if row.partition and row.partition.optimum == row.best_known:
        return PROVEN
    if row.known and row.known.distance_mm == row.best_known:
        return row.known.found_by
    return COVER


def _metres(mm: float | None) -> str:
    return "" if mm is None else f"{mm / 1000:,.1f}"


def pct(a: float, b: float) -> str:
    return f"{100 * (a / b - 1):+.2f} %"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument(
        "--proven-only",
        action="store_true",
        help="only the 20-order HW and MO waves and their proven optimum (the same waves)",
    )
    parser.add_argument("--out", type=Path, help=f"default {RESULTS} (none with --proven-only)")
    args = parser.parse_args(argv)
    quick, proven_only = args.quick, args.proven_only
    out: Path | None = args.out or (None if proven_only else RESULTS)
    limit = 2.0 if quick else 10.0
    rng = random.Random(2026)
    hw = DistanceOracle(henn_waescher())
    mo = DistanceOracle(muter_oencan())
    rows: dict[str, list[Row]] = {"exact": [], "hw": [], "mo": [], "multi": [], "scale": []}
    known = load_known(BEST_KNOWN)

    # Exact optima on 12-order waves (with --proven-only only drawn, to keep the same waves).
    for capacity in (30, 45) if quick else (30, 45, 60, 75):
        for _ in range(1 if quick else 3):
            wave = random_storage_wave(hw, rng, 12, (5, 25), capacity)
            if not proven_only:
                rows["exact"].append(
                    run_instance("HW 12", hw, wave, 2.0, with_optimum=True, with_savings=False)
                )
    for capacity in (24, 48) if quick else (24, 36, 48):
        for _ in range(1 if quick else 2):
            wave = random_storage_wave(mo, rng, 12, (2, 10), capacity)
            if not proven_only:
                rows["exact"].append(
                    run_instance("MO 12", mo, wave, 2.0, with_optimum=True, with_savings=False)
                )
    # The benchmark classes; the 20-order waves also against their proven optimum.
    sizes = (20,) if proven_only else (20, 60) if quick else (20, 60, 100)
    for n in sizes:
        proof = 0 if n != 20 else QUICK_DP_UPDATES if quick else MAX_DP_UPDATES
        for capacity in (30, 75) if quick else (30, 45, 60, 75):
            wave = random_storage_wave(hw, rng, n, (5, 25), capacity)
            long_factor = LONG_FACTOR if (n == 100 and not quick) else 0.0
            rows["hw"].append(
                run_instance(
                    f"HW {n}",
                    hw,
                    wave,
                    limit,
                    long_factor=long_factor,
                    known=known,
                    proof_updates=proof,
                    partition=n != 60,
                )
            )
        for capacity in (24, 48) if quick else (24, 36, 48):
            wave = random_storage_wave(mo, rng, n, (2, 10), capacity)
            rows["mo"].append(
                run_instance(
                    f"MO {n}",
                    mo,
                    wave,
                    limit,
                    long_factor=long_factor,
                    known=known,
                    proof_updates=proof,
                    partition=n != 60,
                )
            )
    kept = {r.key: r.known for key in ("hw", "mo") for r in rows[key] if r.known}
    if kept:
        save_known(BEST_KNOWN, known | kept)
    if proven_only:
        write(out, rows, limit, "--quick --proven-only" if quick else "--proven-only")
        return
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
    write(out, rows, limit, "--quick" if quick else "")


def write(path: Path | None, rows: dict[str, list[Row]], limit: float, flags: str) -> None:
    lines = [
        "# Wave-planning benchmark",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}. Generated by "
        f"`python -m benchmarks.picking_bench{' ' + flags if flags else ''}` on "
        f"{time.strftime('%Y-%m-%d')}; see the module docstring for the instances and references. "
        f"Time limit {limit:g} s per wave unless noted; one run on a shared machine.",
        "",
    ]
    if rows["exact"]:
        lines += [
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
    if gaps:
        lines += [
            "",
            f"Mean gap to the optimum {100 * statistics.mean(gaps):.2f} %, worst "
            f"{100 * max(gaps):.2f} %, optimal in {sum(g == 0 for g in gaps)} of {len(gaps)}.",
            "",
        ]
    lines += [
        "## Against the proven optimum (20 orders)",
        "",
        "Every capacity-feasible batch priced by its shortest route, then a DP over the order "
        "subsets (see the module docstring); the plan is the one in the table below.",
        "",
        "| class | capacity | feasible batches | DP updates | plan m | optimum m | gap | "
        "proof time s | set partitioning m |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    proven: list[float] = []
    for r in rows["hw"] + rows["mo"]:
        if r.proof is None:
            continue
        proof = r.proof
        if proof.optimum is None:
            optimum, gap = "not run (too many updates)", ""
        else:
            optimum, gap = f"{proof.optimum / 1000:.1f}", pct(r.plan.distance_mm, proof.optimum)
            proven.append(r.plan.distance_mm / proof.optimum - 1)
        by_partition = _metres(r.partition.optimum if r.partition else None)
        lines.append(
            f"| {r.name} | {r.capacity} | {proof.batches:,} | {proof.updates:.2g} | "
            f"{r.plan.distance_mm / 1000:.1f} | {optimum} | {gap} | {proof.seconds:.1f} | "
            f"{by_partition} |"
        )
    if proven:
        lines += [
            "",
            f"Within {100 * max(proven):.2f} % of the proven optimum on 20-order waves (mean "
            f"{100 * statistics.mean(proven):.2f} %, optimal in {sum(g == 0 for g in proven)} of "
            f"{len(proven)}).",
        ]
    lines += [
        "",
        "*set partitioning*: the same optimum found the other way, as on 100 orders below.",
    ]
    hundred = [
        r
        for r in rows["hw"] + rows["mo"]
        if r.partition and r.orders == 100 and r.partition.batches <= PARTITION_MAX_BATCHES
    ]
    if hundred:
        lines += [
            "",
            "## Against the proven optimum (100 orders)",
            "",
            "Set partitioning over every capacity-feasible cart, each priced by its shortest "
            "route (HiGHS LP, then MIPs with reduced-cost fixing; see the module docstring), "
            f"where the wave has at most {PARTITION_MAX_BATCHES:,} such carts. *median*: of the "
            f"{1 + len(REPEAT_SEEDS)} runs at the default limit (seeds 1, "
            f"{REPEAT_SEEDS[0]}-{REPEAT_SEEDS[-1]}).",
            "",
            "| class | capacity | feasible carts | LP bound m | optimum m | plan m | median m | "
            "median vs optimum | proof time s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in hundred:
            opt = r.partition
            assert opt is not None
            mid = statistics.median(r.repeats) if r.repeats else None
            gap = pct(mid, opt.optimum) if mid is not None and opt.optimum else ""
            lines.append(
                f"| {r.name} | {r.capacity} | {opt.batches:,} | "
                f"{_metres(opt.lp_bound_mm)} | "
                f"{_metres(opt.optimum)} | "
                f"{r.plan.distance_mm / 1000:.1f} | {_metres(mid)} | {gap} | "
                f"{opt.seconds:.1f} |"
            )
    bounded = [r for r in rows["hw"] + rows["mo"] if r.bound and r.orders == 100]
    if bounded:
        lines += [
            "",
            "## Against a lower bound (100 orders)",
            "",
            "Column generation over every capacity-feasible cart, priced exactly (a branch "
            "and bound with knapsack completion bounds over the vectorised route DP; see "
            "`benchmarks/batching_bound.py`), started from the plan. *lower bound*: the LP "
            "over every cart with subset-row cuts on three orders, proven (no partition is "
            "shorter). *best cover*: a MIP over the "
            f"{COVER_CARTS:,} generated carts nearest the LP ({COVER_SECONDS:g} s), never worse "
            "than the plan. *best known*: the shortest plan of any run here or kept in "
            f"`{BEST_KNOWN.name}` (see the module docstring and the run-to-run table); the "
            "optimum lies between it and the lower bound. *median*: of the "
            f"{1 + len(REPEAT_SEEDS)} runs at the default limit.",
            "",
            "| class | capacity | feasible carts | lower bound m | best cover m | best known m | "
            "median m | median vs bound | median vs best known | bound time s |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in bounded:
            b = r.bound
            assert b is not None
            mid = r.median_mm
            carts = r.partition.batches if r.partition else 0
            lower = _metres(b.lower_mm) if b.converged else f"{_metres(b.lower_mm)} (not converged)"
            known = r.best_known
            assert known is not None
            lines.append(
                f"| {r.name} | {r.capacity} | {carts:,} | {lower} | {_metres(b.upper_mm)} | "
                f"{_metres(known)} | {_metres(mid)} | {pct(mid, b.lower_mm)} | "
                f"{pct(mid, known)} | {b.seconds:.1f} |"
            )
        far = [
            f"{r.name} at {r.capacity}"
            for r in bounded
            if r.bound and r.median_mm > 1.01 * r.bound.lower_mm
        ]
        lines += [
            "",
            "The median run is within 1 % of the lower bound, so provably within 1 % of the "
            f"optimum and of any best-known plan, in {len(bounded) - len(far)} of "
            f"{len(bounded)} classes" + (f" (not: {', '.join(far)})." if far else "."),
        ]
    lines += [
        "",
        "## Benchmark classes",
        "",
        "| class | capacity | carts | plan m | savings only | FCFS + S-shape m | saving vs FCFS | "
        f"long run ({LONG_FACTOR:g}x time, 2 seeds) | time s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    savings_vs_fcfs: list[float] = []
    long_gaps: list[float] = []
    for key in ("hw", "mo", "multi", "scale"):
        for r in rows[key]:
            p = r.plan
            saving = 1 - p.distance_mm / p.baseline_distance_mm
            savings_vs_fcfs.append(saving)
            savings = "" if r.savings is None else pct(r.savings, p.distance_mm)
            long_run = "" if r.long_run is None else pct(p.distance_mm, r.long_run)
            if r.long_run is not None:
                long_gaps.append(p.distance_mm / r.long_run - 1)
            lines.append(
                f"| {r.name} | {r.capacity} | {len(p.batches)} | {p.distance_mm / 1000:.1f} | "
                f"{savings} | {p.baseline_distance_mm / 1000:.1f} | {100 * saving:.1f} % | "
                f"{long_run} | {r.seconds:.1f} |"
            )
    lines += [
        "",
        "*savings only*: how much longer Clarke-Wright savings without improvement walks than the "
        "plan. *long run*: how much longer the plan is than the best of two runs with "
        f"{LONG_FACTOR:g}x the time and other seeds (negative: the plan is shorter).",
        "",
        f"Median saving against FCFS + S-shape: {100 * statistics.median(savings_vs_fcfs):.1f} %, "
        f"smallest {100 * min(savings_vs_fcfs):.1f} %.",
        "",
    ]
    if long_gaps:
        lines += [
            "Plan against the long runs on 100-order waves: "
            f"mean {100 * statistics.mean(long_gaps):+.2f} %, worst {100 * max(long_gaps):+.2f} %.",
            "",
        ]
    repeated = [r for key in ("hw", "mo") for r in rows[key] if r.repeats and r.long_run]
    if repeated:
        lines += [
            f"## Run to run (100 orders, seeds 1, {REPEAT_SEEDS[0]}-{REPEAT_SEEDS[-1]})",
            "",
            "The search is randomised and stops at the time limit, so runs differ; these are "
            f"{len(REPEAT_SEEDS) + 1} runs at the default limit against the long runs and the "
            "best known plan (the shortest of any run or reference here, or kept in "
            f"`{BEST_KNOWN.name}` from earlier runs and other searches; see the module "
            "docstring). *found by*: where the best known plan comes from.",
            "",
            "| class | capacity | best m | median m | worst m | spread | long run m | "
            "best known m | found by | median vs long run | median vs best known |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        median_long: list[float] = []
        median_known: list[float] = []
        for r in repeated:
            assert r.repeats is not None and r.long_run is not None
            low, mid, high = min(r.repeats), statistics.median(r.repeats), max(r.repeats)
            known = r.best_known
            assert known is not None
            median_long.append(mid / r.long_run - 1)
            median_known.append(mid / known - 1)
            lines.append(
                f"| {r.name} | {r.capacity} | {low / 1000:.1f} | {mid / 1000:.1f} | "
                f"{high / 1000:.1f} | {pct(high, low)} | {r.long_run / 1000:.1f} | "
                f"{known / 1000:.1f} | {found_by(r)} | {pct(mid, r.long_run)} | "
                f"{pct(mid, known)} |"
            )
        lines += [
            "",
            "Median run against the long runs: mean "
            f"{100 * statistics.mean(median_long):+.2f} %, worst "
            f"{100 * max(median_long):+.2f} %; against the best known: mean "
            f"{100 * statistics.mean(median_known):+.2f} %, worst "
            f"{100 * max(median_known):+.2f} %.",
            "",
        ]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
