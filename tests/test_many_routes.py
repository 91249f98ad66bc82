"""Tests for pricing many bin sets at once on two-block warehouses (routing.many_routes)."""

from __future__ import annotations

import random

import pytest

from picking import pricing
from picking.batching import Batcher, Item
from picking.model import Cart, Load
from picking.pricing import KeyedPrices, RouteCoster
from routing.errors import InvalidInput
from routing.ladder import Ladder, route_length
from routing.many_routes import ManyRoutes
from routing.oracle import DistanceOracle
from routing.rectangular import RectangularDepot, RectangularLayout
from tests.factories import henn_waescher
from tests.test_ladder import Reference
from tests.test_picking import plan_in_time, random_storage_wave


def random_request(
    rng: random.Random,
) -> tuple[Ladder, list[int], list[int], tuple[int, int], tuple[int, int]]:
    """Bins (aisle, y) on a random ladder of one to three blocks, some on cross aisles, and
    depot points on any cross aisle, between aisles or beyond them."""
    n_cross = rng.randint(2, 4)
    aisle_x = tuple(sorted(rng.sample(range(0, 40_000, 1_000), rng.randint(1, 5))))
    cross_y = tuple(sorted(rng.sample(range(0, 30_000, 2_000), n_cross)))
    bin_aisle, bin_y = [], []
    for _ in range(rng.randint(1, 9)):
        bin_aisle.append(rng.randrange(len(aisle_x)))
        on_cross = rng.random() < 0.1
        bin_y.append(rng.choice(cross_y) if on_cross else rng.randint(cross_y[0], cross_y[-1]))

    def depot() -> tuple[int, int]:
        x = rng.choice(aisle_x) if rng.random() < 0.5 else rng.randint(-5_000, 45_000)
        return (rng.randrange(n_cross), x)

    start = depot()
    end = start if rng.random() < 0.5 else depot()
    return Ladder(aisle_x, cross_y), bin_aisle, bin_y, start, end


def test_many_sets_at_once_match_brute_force() -> None:
    """Every length of a request equals the best visiting order, found by brute force, on
    random ladders of one to three blocks with open and closed walks, depots off the aisles,
    bins sharing a point, bins on a cross aisle (the scalar DP) and the empty set."""
    rng = random.Random(20261129)
    checked = 0
    for _ in range(150):
        ladder, bin_aisle, bin_y, start, end = random_request(rng)
        many = ManyRoutes(ladder, bin_aisle, bin_y, start, end)
        bins = range(len(bin_aisle))
        sets = [rng.sample(bins, rng.randint(0, min(6, len(bin_aisle)))) for _ in range(6)]
        for locs, length in zip(sets, many.lengths(sets), strict=True):
            reference = Reference(
                ladder, [bin_aisle[x] for x in locs], [bin_y[x] for x in locs], start, end
            )
            assert length == reference.brute_force_mm(), (ladder, locs, start, end)
            checked += 1
    assert checked == 900


@pytest.mark.parametrize("cross_aisles", [3, 4])
def test_large_sets_match_the_ladder_dp_however_they_are_grouped(cross_aisles: int) -> None:
    """On two and three blocks of 20 aisles, sets of 1-40 bins get route_length's exact
    length, asked for one at a time or 50 at once (more than a chunk)."""
    layout = RectangularLayout(
        "blocks", aisles=20, cells_per_face=30, cell_length_m=1.0, aisle_spacing_m=4.0,
        cross_aisles=cross_aisles, end_gap_m=1.5, depots=(RectangularDepot("D", 0, 10.0),),
    )  # fmt: skip
    oracle = DistanceOracle(layout)
    rect = oracle.rectangular
    assert rect is not None
    depot = oracle.depot_location("D") - oracle.n_bins
    point = (rect.depot_cross[depot], rect.depot_x_mm[depot])
    many = ManyRoutes(rect.ladder, rect.bin_aisle, rect.bin_y_mm, point, (2, 0))
    rng = random.Random(5)
    sets = [rng.sample(range(oracle.n_bins), rng.randint(1, 40)) for _ in range(50)]
    expected = []
    for locs in sets:
        solved = route_length(
            rect.ladder, [rect.bin_aisle[x] for x in locs], [rect.bin_y_mm[x] for x in locs],
            point, (2, 0),
        )  # fmt: skip
        assert solved is not None and solved[1]
        expected.append(solved[0])
    assert many.lengths(sets) == expected
    assert [many.lengths([locs])[0] for locs in sets] == expected


def test_more_than_three_blocks_are_refused_by_name() -> None:
    ladder = Ladder((0, 5_000), (0, 10_000, 20_000, 30_000, 40_000))
    with pytest.raises(InvalidInput, match=r"ladder\.cross_y_mm.*got 5"):
        ManyRoutes(ladder, [0], [5_000], (0, 0), (0, 0))


def two_block_oracle() -> DistanceOracle:
    layout = RectangularLayout(
        "two-blocks", aisles=8, cells_per_face=10, cell_length_m=1.0, aisle_spacing_m=3.0,
        cross_aisles=3, end_gap_m=1.0, depots=(RectangularDepot("D", 0, 0.0),),
    )  # fmt: skip
    return DistanceOracle(layout)


def test_prefetched_prices_are_the_prices() -> None:
    """On two blocks batching's prices come in bulk: a prefetch prices every new key once,
    and each equals the batch's price asked for alone."""
    oracle = two_block_oracle()
    depot = oracle.depot_location("D")
    coster = RouteCoster(oracle, depot, depot)
    keyed = coster.keyed()
    assert keyed.bulk and coster.fast
    rng = random.Random(3)
    sets = [rng.sample(range(oracle.n_bins), rng.randint(1, 12)) for _ in range(30)]
    keys = [keyed.key(locs) for locs in sets]
    keyed.prefetch(keys + keys[:5])
    assert coster.evaluations == len(set(keys))
    alone = RouteCoster(oracle, depot, depot)
    assert [keyed(key) for key in keys] == [alone._solve(frozenset(s)) for s in sets]
    assert coster.evaluations == len(set(keys))  # every one read from the cache


def test_prices_one_by_one_do_not_prefetch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pricing, "MANY_ROUTES", False)
    oracle = two_block_oracle()
    depot = oracle.depot_location("D")
    coster = RouteCoster(oracle, depot, depot)
    keyed = coster.keyed()
    assert not keyed.bulk and not coster.fast
    keyed.prefetch([keyed.key([1, 2]), keyed.key([3])])
    assert coster.evaluations == 0
    plain = KeyedPrices(lambda locs: len(locs))
    plain.prefetch([plain.key([1, 2])])
    assert not plain.bulk


def test_prefetching_changes_no_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prices in bulk only fill the cache ahead: with an iteration cap the batching is the
    same with prefetching as without, and so is its walk."""
    oracle = two_block_oracle()
    rect = oracle.rectangular
    assert rect is not None
    depot = oracle.depot_location("D")
    rng = random.Random(11)
    items = []
    for _ in range(30):
        locs = frozenset(rng.sample(range(oracle.n_bins), rng.randint(2, 6)))
        x = sum(rect.bin_aisle[b] for b in locs) / len(locs)
        items.append(Item(Load(units=len(locs), orders=1), locs, (x, 0.0)))

    def solve() -> tuple[list[list[int]], int, int]:
        coster = RouteCoster(oracle, depot, depot)
        batcher = Batcher(items, Cart(capacity_units=14), coster, seed=4)
        plan = batcher.solve(deadline=float("inf"), max_iterations=40)
        return plan.batches, plan.distance_mm, coster.evaluations

    batches, distance, evaluations = solve()
    monkeypatch.setattr(KeyedPrices, "prefetch", lambda self, keys: None)
    assert solve()[:2] == (batches, distance)
    assert evaluations > 0


def test_three_block_waves_are_planned_on_exact_prices() -> None:
    """On three blocks a wave's carts are priced exactly, many at once, and the plan is
    valid (every line served once, every cart within capacity, every reported distance its
    route's: the picking tests' check), in time, and no longer than first-come-first-served
    carts with S-shape walks."""
    oracle = DistanceOracle(henn_waescher(aisles=8, cross_aisles=4))
    depot = oracle.depot_location("DEPOT")
    coster = RouteCoster(oracle, depot, depot)
    assert coster.exact and coster.bulk
    wave = random_storage_wave(oracle, 3, 25, 45)
    result = plan_in_time(oracle, wave)
    assert result.distance_mm <= result.baseline_distance_mm
