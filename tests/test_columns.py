"""The benchmark's lower bound on a wave's distance: exact pricing, and a bound that holds.

The bound is what the picking benchmark measures the planner against on waves too large to
solve, so its pricing is checked against brute force over every cart, and the bound against
the exact optimum and the LP over every cart of small waves.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import time
from collections import Counter
from itertools import islice, pairwise

import numpy as np
import pytest

from benchmarks.batching_bound import (
    CUT_VIOLATION,
    CUTS_PER_ORDER,
    MOST_CUTS,
    ROUND_CUTS,
    Branch,
    lower_bound,
    price_branch,
    violated_triples,
)
from benchmarks.picking_bench import (
    check_plan,
    exact_optimum,
    feasible_batches,
    muter_oencan,
    order_locs,
    partition_optimum,
    random_storage_wave,
)
from picking.batching import Batcher
from picking.columns import (
    DIVES,
    EPSILON_MM,
    MAX_NODES,
    SubsetRows,
    improve,
    search,
)
from picking.model import Wave
from picking.pricing import RouteCoster
from picking.wave import _items, _serve, _Stock
from routing.oracle import DistanceOracle
from routing.rectangular import RectangularGraph
from routing.sweep import aisle_picks, extents, sweep_prices
from tests.factories import henn_waescher

IntArray = np.ndarray


def _wave_arrays(
    oracle: DistanceOracle, wave: Wave
) -> tuple[RectangularGraph, int, IntArray, IntArray]:
    """The block, the depot index, each order's picks per aisle and each order's units."""
    rect = oracle.rectangular
    assert rect is not None
    locs = order_locs(oracle, wave)
    units = np.array([sum(x.quantity for x in o.lines) for o in wave.orders], dtype=np.int64)
    depot = oracle.depot_location(oracle.depot_ids[0]) - oracle.n_bins
    return rect, depot, aisle_picks(rect, locs), units


@pytest.fixture(scope="module", params=["hw", "mo"])
def oracle(request: pytest.FixtureRequest) -> DistanceOracle:
    return DistanceOracle(henn_waescher() if request.param == "hw" else muter_oencan())


def _wave(oracle: DistanceOracle, seed: int, n: int) -> Wave:
    rng = random.Random(seed)
    if len(oracle.bin_ids) > 500:  # Henn-Waescher: 5-25 items a cart of 45
        return random_storage_wave(oracle, rng, n, (5, 25), 45)
    return random_storage_wave(oracle, rng, n, (2, 10), 24)


def test_the_sweep_prices_carts_as_the_planner_does(oracle: DistanceOracle) -> None:
    wave = _wave(oracle, 1, 14)
    rect, depot, per_order, _ = _wave_arrays(oracle, wave)
    coster = RouteCoster(oracle, depot + oracle.n_bins, depot + oracle.n_bins)
    rng = random.Random(2)
    carts = [rng.sample(range(14), rng.randint(1, 5)) for _ in range(30)]
    occupied = np.array([np.bitwise_or.reduce(per_order[c], axis=0) for c in carts])
    for cart, price in zip(carts, sweep_prices(rect, depot, occupied), strict=True):
        locs = frozenset(
            oracle.bin_location(next(iter(wave.stock[x.sku])))
            for i in cart
            for x in wave.orders[i].lines
        )
        assert price == coster(locs)


@pytest.mark.parametrize(
    ("seed", "with_cuts", "branched"),
    [(3, False, False), (4, False, False), (5, False, False), (3, True, False), (4, True, False),
     (5, False, True), (6, True, True)],
)  # fmt: skip
def test_pricing_finds_the_least_reduced_cost_of_every_cart(
    oracle: DistanceOracle, seed: int, with_cuts: bool, branched: bool
) -> None:
    wave = _wave(oracle, seed, 14)
    rect, depot, per_order, units = _wave_arrays(oracle, wave)
    capacity = wave.cart.capacity_units
    masks = feasible_batches(units.tolist(), capacity)
    occupied = np.zeros((len(masks), per_order.shape[1]), dtype=np.int64)
    for i in range(len(units)):
        occupied[(masks >> i) & 1 == 1] |= per_order[i]
    prices = sweep_prices(rect, depot, occupied)
    # Duals near a cart's share of its route, some negative, so that many carts price below
    # zero and the search has to prune.
    rng = np.random.default_rng(seed)
    singles = sweep_prices(rect, depot, per_order)
    duals = singles * rng.uniform(-0.1, 0.9, size=len(units))
    cart_dual = float(rng.uniform(0, 3000))
    members = (masks[:, None] >> np.arange(len(units))) & 1
    reduced = prices - members @ duals - cart_dual
    cuts = None
    if with_cuts:  # subset-row cuts on random triples, some with no penalty
        triples = np.array([rng.choice(len(units), 3, replace=False) for _ in range(25)])
        penalties = rng.uniform(0, 800, size=25) * (rng.random(25) < 0.8)
        cuts = SubsetRows(triples, penalties)
        held = members[:, triples].sum(axis=2) >= 2  # (carts, cuts)
        assert held.any(axis=0).all()  # each cut holds two orders of some cart
        reduced = reduced + held @ penalties
    branch = Branch()
    if branched:  # two pairs on one cart (fitting it), two pairs apart
        pairs = [
            (i, j) for i, j in itertools.combinations(range(len(units)), 2)
            if units[i] + units[j] <= capacity // 2
        ]  # fmt: skip
        chosen = [pairs[k] for k in rng.choice(len(pairs), 4, replace=False)]
        branch = Branch(together=tuple(chosen[:2]), apart=tuple(chosen[2:]))
        if cuts is not None:  # a cut on both orders of a pair: a charge on the pair's group
            other = next(k for k in range(len(units)) if k not in chosen[0])
            triple = np.array([*chosen[0], other])
            cuts = SubsetRows(np.vstack([cuts.triples, triple]), np.append(cuts.penalties, 300.0))
            reduced = reduced + 300.0 * (members[:, triple].sum(axis=1) >= 2)
        allowed = branch.allows(members.astype(bool))
        assert 0 < allowed.sum() < len(masks)
        masks, prices, reduced = masks[allowed], prices[allowed], reduced[allowed]
    found, least = price_branch(
        rect, depot, per_order, units, capacity, duals, cart_dual, MAX_NODES, cuts, branch
    )
    assert least is not None
    assert least <= min(float(reduced.min()), -EPSILON_MM) + 1e-6
    assert least >= min(float(reduced.min()), -EPSILON_MM) - 1e-6
    by_mask = {int(m): (int(p), float(r)) for m, p, r in zip(masks, prices, reduced, strict=True)}
    assert (reduced < -EPSILON_MM).any()  # the duals leave something to find
    for cart, price in found.items():
        mask = sum(1 << i for i in cart)
        assert by_mask[mask][0] == price
        assert by_mask[mask][1] < -EPSILON_MM
    best = int(masks[int(np.argmin(reduced))])
    assert tuple(i for i in range(len(units)) if best >> i & 1) in found


@pytest.mark.parametrize("seed", [6, 7])
def test_the_bound_is_the_lp_over_every_cart_and_below_the_optimum(
    oracle: DistanceOracle, seed: int
) -> None:
    wave = _wave(oracle, seed, 12)
    rect, depot, per_order, units = _wave_arrays(oracle, wave)
    plan = [[i] for i in range(12)]  # a poor start: every order alone
    bound = lower_bound(
        rect, depot, per_order, units.tolist(), wave.cart.capacity_units, plan, 120.0, 0
    )
    optimum = exact_optimum(oracle, wave)
    everything = partition_optimum(oracle, wave, 10**6)
    assert everything.lp_bound_mm is not None
    assert bound.converged
    assert bound.lower_mm <= everything.lp_bound_mm + 1e-3
    fewest = -(-int(units.sum()) // wave.cart.capacity_units)
    assert bound.lower_mm >= everything.lp_bound_mm - fewest * EPSILON_MM - 1e-3
    assert bound.lower_mm <= optimum <= bound.upper_mm
    assert bound.upper_mm < sum(sweep_prices(rect, depot, per_order))
    # Both keep the plan behind their length: a partition within capacity of that length.
    ids = [o.id for o in wave.orders]
    assert everything.optimum == optimum and everything.carts is not None
    for length, carts in ((optimum, everything.carts), (bound.upper_mm, bound.cover)):
        assert check_plan(oracle, wave, [[ids[i] for i in cart] for cart in carts]) == length


def test_subset_row_cuts_raise_the_bound_and_keep_it_below_the_optimum(
    oracle: DistanceOracle,
) -> None:
    wave = _wave(oracle, 6, 12)  # on both layouts the LP over every cart is fractional
    rect, depot, per_order, units = _wave_arrays(oracle, wave)
    capacity, plan = wave.cart.capacity_units, [[i] for i in range(12)]
    plain = lower_bound(rect, depot, per_order, units.tolist(), capacity, plan, 120.0, 0)
    cut = lower_bound(rect, depot, per_order, units.tolist(), capacity, plan, 120.0)
    optimum = exact_optimum(oracle, wave)
    assert plain.converged and cut.converged
    assert plain.lower_mm + 1_000 < cut.lower_mm <= optimum
    assert cut.lower_mm <= cut.lp_mm <= optimum


@pytest.mark.parametrize("most_cuts", [0, MOST_CUTS])
def test_branch_and_price_closes_on_the_optimum(oracle: DistanceOracle, most_cuts: int) -> None:
    wave = _wave(oracle, 10, 12)  # the root LP is below the optimum, with cuts or without
    rect, depot, per_order, units = _wave_arrays(oracle, wave)
    capacity, plan = wave.cart.capacity_units, [[i] for i in range(12)]
    args = (rect, depot, per_order, units.tolist(), capacity, plan, 120.0, most_cuts)
    root = lower_bound(*args)
    bound = lower_bound(*args, branch_seconds=300.0)
    optimum = exact_optimum(oracle, wave)
    assert root.lower_mm < optimum - 1_000
    # The tree was searched to the end: the bound is the optimum, and so is the plan found.
    assert bound.nodes >= 1 and bound.root_mm == pytest.approx(root.lower_mm)
    assert bound.lower_mm == bound.upper_mm == optimum
    ids = [o.id for o in wave.orders]
    assert check_plan(oracle, wave, [[ids[i] for i in cart] for cart in bound.cover]) == optimum


def test_violated_triples_are_those_whose_carts_sum_to_more_than_one() -> None:
    rng = np.random.default_rng(8)
    n = 9
    carts = [
        tuple(sorted(rng.choice(n, rng.integers(1, 5), replace=False).tolist())) for _ in range(40)
    ]
    values = rng.uniform(0, 0.5, size=40) * (rng.random(40) < 0.6)
    known = {(0, 1, 2)}
    chosen = violated_triples(carts, values, n, known)
    lhs = {
        t: sum(v for c, v in zip(carts, values, strict=True) if len(set(c) & set(t)) >= 2)
        for t in itertools.combinations(range(n), 3)
    }
    violated = {t for t, x in lhs.items() if x > 1 + CUT_VIOLATION and t not in known}
    assert chosen and set(chosen) <= violated and len(chosen) <= ROUND_CUTS
    # The most violated come first, and each order is in at most CUTS_PER_ORDER of them: a
    # violated triple left out was less violated than the last chosen, or one of its orders
    # was already in that many more violated ones.
    assert [lhs[t] for t in chosen] == sorted((lhs[t] for t in chosen), reverse=True)
    per_order = Counter(i for t in chosen for i in t)
    assert max(per_order.values()) <= CUTS_PER_ORDER
    for t in violated - set(chosen):
        assert lhs[t] <= lhs[chosen[-1]] or any(per_order[i] >= CUTS_PER_ORDER for i in t)


@pytest.mark.parametrize(
    "ys",
    [
        [1_000 * k for k in range(1, 11)],  # tables
        [500 + 1_000 * k for k in range(45)],  # bit arithmetic
        [1_000 * k + (k % 3) * 100 for k in range(1, 31)],  # uneven: a pass over the depths
    ],
)
def test_pick_extents_in_an_aisle_match_a_walk_over_its_picks(ys: list[int]) -> None:
    rng = np.random.default_rng(len(ys))
    bits = rng.random((3000, len(ys))) < rng.uniform(0.0, 0.5, size=(3000, 1))
    masks = (bits.astype(np.int64) << np.arange(len(ys))).sum(axis=1).reshape(300, 10)
    lowest, highest, widest = extents(masks, ys)
    for mask, low, high, wide in zip(
        masks.ravel(), lowest.ravel(), highest.ravel(), widest.ravel(), strict=True
    ):
        picked = [y for k, y in enumerate(ys) if int(mask) >> k & 1]
        assert low == (picked[0] if picked else -1)
        assert high == (picked[-1] if picked else -1)
        assert wide == max((b - a for a, b in pairwise(picked)), default=0)


def _batcher(oracle: DistanceOracle, wave: Wave, seed: int = 0) -> Batcher:
    """The batcher :func:`picking.wave.plan` starts with on a random-storage wave."""
    start = oracle.depot_location(oracle.depot_ids[0])
    lines, _, planned = _serve(oracle, wave, _Stock(oracle, wave.stock), start)
    items = _items(oracle, wave, planned, lines)
    return Batcher(items, wave.cart, RouteCoster(oracle, start, start), seed=seed)


def test_the_dive_fixes_disjoint_carts_that_fit(oracle: DistanceOracle) -> None:
    wave = _wave(oracle, 8, 40)
    rect, depot, per_order, units = _wave_arrays(oracle, wave)
    plan = _batcher(oracle, wave).solve(deadline=time.monotonic() + 0.3).batches
    now = time.monotonic()
    dives = improve(rect, depot, per_order, units, wave.cart.capacity_units, plan, now + 0.7,
                    now + 60.0)  # fmt: skip
    found = list(islice(dives, len(DIVES)))  # one of each kind, as asked
    assert len(found) == len(DIVES)
    for carts in found:
        taken = [i for cart in carts for i in cart]
        assert len(taken) == len(set(taken))
        assert all(units[list(cart)].sum() <= wave.cart.capacity_units for cart in carts)
        assert len(taken) >= 30  # a dive leaves few orders to the local search
    # Out of time, the first dive still comes (with what it could fix) and no other.
    late = improve(rect, depot, per_order, units, wave.cart.capacity_units, plan, now, now)
    assert len(list(late)) == 1


@pytest.mark.parametrize("seed", [6, 7])
def test_the_column_search_finds_the_optimum_of_small_waves(
    oracle: DistanceOracle, seed: int
) -> None:
    wave = _wave(oracle, seed, 12)
    batcher = _batcher(oracle, wave, seed)
    rect = oracle.rectangular
    assert rect is not None
    depot = oracle.depot_location(oracle.depot_ids[0]) - oracle.n_bins
    found = search(batcher, rect, depot, time.monotonic() + 1.0)
    assert sorted(i for cart in found.batches for i in cart) == list(range(12))
    assert found.distance_mm == exact_optimum(oracle, wave)


def test_planning_with_the_column_search_writes_nothing_to_standard_output() -> None:
    """highspy prints a banner the first time a process constructs a solver; the planner's
    forked column search must not put it on the server's standard output."""
    script = (
        "import random, sys\n"
        "from benchmarks.picking_bench import random_storage_wave\n"
        "from picking.wave import plan\n"
        "from routing.oracle import DistanceOracle\n"
        "from tests.factories import henn_waescher\n"
        "oracle = DistanceOracle(henn_waescher())\n"
        "wave = random_storage_wave(oracle, random.Random(3), 30, (5, 25), 45)\n"
        "result = plan(oracle, wave, time_limit_s=1.0, processes=2)\n"
        "print(result.distance_mm, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout == ""
    assert int(done.stderr.split()[-1]) > 0
