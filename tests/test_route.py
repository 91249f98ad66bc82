"""Route solving end to end: exactness against brute force, consistency of every answer."""

from __future__ import annotations

import itertools
import random

import networkx as nx
import pytest

from routing.errors import InvalidInput, NotFound
from routing.oracle import DistanceOracle
from routing.rectangular import RectangularDepot, RectangularLayout
from routing.route import Baseline, PickList, RouteResult, RouteStatus, solve
from tests.factories import henn_waescher, random_graph_layout, reference_graph


def _reference_distances(
    oracle: DistanceOracle,
) -> dict[tuple[str, str], dict[tuple[str, str], int]]:
    g = reference_graph(oracle.layout)
    return dict(nx.all_pairs_dijkstra_path_length(g))


def _brute_force(
    dist: dict[tuple[str, str], dict[tuple[str, str], int]],
    bins: list[str],
    start: str,
    end: str,
) -> int:
    """Shortest route by trying every order of the distinct bins, on the reference graph."""
    distinct = list(dict.fromkeys(bins))
    best = None
    for perm in itertools.permutations(distinct):
        nodes = [("d", start), *(("b", b) for b in perm), ("d", end)]
        cost = sum(dist[a][b] for a, b in itertools.pairwise(nodes))
        best = cost if best is None else min(best, cost)
    assert best is not None
    return best


def _check_consistent(oracle: DistanceOracle, pick_list: PickList, result: RouteResult) -> None:
    """Each request is one stop, each distinct bin one visit, and the distances add up."""
    assert sorted(s.request_index for s in result.stops) == list(range(len(pick_list.bin_ids)))
    assert all(pick_list.bin_ids[s.request_index] == s.bin_id for s in result.stops)
    visits = [bin_id for bin_id, _ in itertools.groupby(s.bin_id for s in result.stops)]
    assert sorted(visits) == sorted(set(pick_list.bin_ids))
    locs = [
        oracle.depot_location(result.start_depot),
        *(oracle.bin_location(b) for b in visits),
        oracle.depot_location(result.end_depot),
    ]
    legs = [oracle.distance(a, b) for a, b in itertools.pairwise(locs)]
    arrival = dict(zip(visits, itertools.accumulate(legs), strict=False))
    assert all(s.cumulative_mm == arrival[s.bin_id] for s in result.stops)
    assert result.distance_mm == sum(legs)
    if result.lower_bound_mm is not None:
        assert result.lower_bound_mm <= result.distance_mm


@pytest.mark.parametrize("seed", range(120))
def test_graph_layout_matches_brute_force(seed: int) -> None:
    """Short lists on random graph layouts (one-way segments too) are solved exactly."""
    rng = random.Random(seed)
    layout = random_graph_layout(rng, n_bins=9)
    oracle = DistanceOracle(layout)
    bins = [rng.choice(oracle.bin_ids) for _ in range(rng.randint(0, 7))]
    start, end = rng.choice(["d0", "d1"]), rng.choice(["d0", "d1", ""])
    pick_list = PickList(tuple(bins), start, end)
    result = solve(oracle, pick_list)
    expected = _brute_force(_reference_distances(oracle), bins, start, end or start)
    assert result.distance_mm == expected
    assert result.status is RouteStatus.OPTIMAL
    _check_consistent(oracle, pick_list, result)


@pytest.mark.parametrize("seed", range(120))
def test_rectangular_layout_matches_brute_force(seed: int) -> None:
    """Short lists on random one- to three-block warehouses are solved exactly by the DP."""
    rng = random.Random(1000 + seed)
    cross = rng.randint(2, 4)
    layout = RectangularLayout(
        "r",
        aisles=rng.randint(1, 5),
        cells_per_face=rng.randint(1, 4),
        aisle_spacing_m=rng.choice([2.5, 3.0, 5.0]),
        cross_aisles=cross,
        depots=(
            RectangularDepot("front", 0, rng.choice([0.0, 1.0, 4.5])),
            RectangularDepot("back", cross - 1, rng.choice([0.0, 2.0, 7.5])),
        ),
    )
    oracle = DistanceOracle(layout)
    bins = [rng.choice(oracle.bin_ids) for _ in range(rng.randint(0, 7))]
    start, end = rng.choice(["front", "back"]), rng.choice(["front", "back"])
    pick_list = PickList(tuple(bins), start, end)
    result = solve(oracle, pick_list, baseline=rng.choice(list(Baseline)))
    expected = _brute_force(_reference_distances(oracle), bins, start, end)
    assert result.distance_mm == expected
    assert result.status is RouteStatus.OPTIMAL
    assert result.baseline_distance_mm >= result.distance_mm
    _check_consistent(oracle, pick_list, result)


@pytest.mark.parametrize("seed", range(6))
def test_long_graph_list_is_consistent_and_deterministic(seed: int) -> None:
    """A list too long for Held-Karp gets a consistent route, a valid bound, same answer twice."""
    rng = random.Random(seed)
    layout = random_graph_layout(rng, n_bins=60)
    oracle = DistanceOracle(layout)
    pick_list = PickList(tuple(rng.sample(oracle.bin_ids, 40)), "d0", "d1")
    first = solve(oracle, pick_list, time_limit_s=0.05, seed=seed)
    _check_consistent(oracle, pick_list, first)
    assert first.lower_bound_mm is not None and first.lower_bound_mm <= first.distance_mm
    assert first.baseline is Baseline.AS_GIVEN
    assert first.distance_mm <= first.baseline_distance_mm


def test_empty_list_walks_depot_to_depot() -> None:
    """No bins: the route is the walk from start to end depot, provably optimal."""
    layout = RectangularLayout(
        "r", aisles=3, depots=(RectangularDepot("a", 0, 0.0), RectangularDepot("b", 1, 6.0))
    )
    oracle = DistanceOracle(layout)
    result = solve(oracle, PickList((), "a", "b"))
    assert result.stops == ()
    assert result.distance_mm == oracle.distance(
        oracle.depot_location("a"), oracle.depot_location("b")
    )
    assert result.status is RouteStatus.OPTIMAL
    assert solve(oracle, PickList(())).distance_mm == 0


def test_duplicates_and_facing_bins_share_a_stop() -> None:
    """A bin listed twice yields two stops at the same distance, visited once."""
    oracle = DistanceOracle(henn_waescher(aisles=4))
    bins = ("A02-B1-010L", "A01-B1-003R", "A02-B1-010L", "A02-B1-010R")
    result = solve(oracle, PickList(bins))
    by_request = {s.request_index: s.cumulative_mm for s in result.stops}
    assert by_request[0] == by_request[2] == by_request[3]
    assert len(result.stops) == 4


def test_path_waypoints_add_up_to_distance() -> None:
    """The walking path starts and ends at the depot and its rectilinear length is the distance."""
    oracle = DistanceOracle(henn_waescher(aisles=6, cross_aisles=3))
    rng = random.Random(3)
    pick_list = PickList(tuple(rng.sample(oracle.bin_ids, 15)))
    result = solve(oracle, pick_list, with_path=True)
    walked = sum(
        abs(p.x_m - q.x_m) + abs(p.y_m - q.y_m) for p, q in itertools.pairwise(result.path)
    )
    assert round(walked * 1000) == result.distance_mm
    depot = oracle.point(oracle.depot_location("DEPOT"))
    assert (
        (result.path[0].x_m, result.path[0].y_m)
        == depot
        == (result.path[-1].x_m, result.path[-1].y_m)
    )


def test_s_shape_baseline_on_one_block_is_longer_on_average() -> None:
    """On the Henn-Waescher block the optimum beats S-shape by a clear margin over 20 lists."""
    oracle = DistanceOracle(henn_waescher())
    rng = random.Random(7)
    optimal = baseline = 0
    for _ in range(20):
        result = solve(oracle, PickList(tuple(rng.sample(oracle.bin_ids, 10))))
        assert result.baseline is Baseline.S_SHAPE
        optimal += result.distance_mm
        baseline += result.baseline_distance_mm
    assert baseline > 1.1 * optimal


def test_errors_name_the_field() -> None:
    """Unknown bins and depots are NOT_FOUND with their position; bad options are invalid."""
    oracle = DistanceOracle(henn_waescher(aisles=2))
    with pytest.raises(NotFound) as missing:
        solve(oracle, PickList(("A01-B1-001L", "XX")))
    assert missing.value.field == "bin_ids[1]"
    with pytest.raises(NotFound) as depot:
        solve(oracle, PickList((), "nowhere"))
    assert depot.value.field == "start_depot"
    with pytest.raises(InvalidInput) as limit:
        solve(oracle, PickList(()), time_limit_s=0)
    assert limit.value.violations[0].field == "time_limit"
    graph = DistanceOracle(random_graph_layout(random.Random(0)))
    with pytest.raises(InvalidInput) as policy:
        solve(graph, PickList(()), baseline=Baseline.S_SHAPE)
    assert policy.value.violations[0].field == "baseline"


def test_very_long_list_uses_ortools_and_stays_consistent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lists past the local-search limit go to OR-Tools; the answer is still a valid route."""
    import routing.route as route_module

    monkeypatch.setattr(route_module, "LOCAL_SEARCH_MAX_NODES", 20)
    rng = random.Random(11)
    oracle = DistanceOracle(random_graph_layout(rng, n_bins=40))
    pick_list = PickList(tuple(rng.sample(oracle.bin_ids, 30)), "d0", "d1")
    result = solve(oracle, pick_list, time_limit_s=0.2)
    assert result.solver == "ortools"
    _check_consistent(oracle, pick_list, result)
    assert result.distance_mm <= result.baseline_distance_mm
