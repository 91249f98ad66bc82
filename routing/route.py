"""Pick routes: the shortest walk from a depot through every bin of a pick list to a depot.

:func:`solve` is the one entry point. It picks the strongest method the layout allows:

* rectangular layouts: the exact column dynamic programme (:mod:`routing.ladder`; Ratliff-Rosenthal
  for one block, its multi-cross-aisle generalisation otherwise) - proven optimal;
* any layout with a short list: Held-Karp over the pick list's distance matrix - proven optimal;
* otherwise: nearest-neighbour construction, then iterated local search (2-opt and Or-opt) until
  it stalls or the time limit, or for very long lists OR-Tools routing with guided local search
  until the time limit; either with a Held-Karp 1-tree (or assignment) lower bound - feasible,
  with a gap.

Beside the optimised route it always reports a baseline that a WMS uses today (S-shape by
default on rectangular layouts, the pick list's own order on graph layouts), so an operator sees
the saving.
"""

from __future__ import annotations

import enum
import itertools
import time
from dataclasses import dataclass

import numpy as np

from routing import tsp
from routing.errors import InvalidInput
from routing.ladder import Ladder, shortest_route
from routing.oracle import DistanceOracle, IntArray, Waypoint
from routing.policies import Policy, policy_route
from routing.rectangular import RectangularGraph


class RouteStatus(enum.Enum):
    """Whether the route is proven shortest."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"


class Baseline(enum.Enum):
    """The routing policy the optimised route is compared against."""

    AUTO = "auto"
    AS_GIVEN = "as_given"
    S_SHAPE = "s_shape"
    RETURN = "return"
    MIDPOINT = "midpoint"
    LARGEST_GAP = "largest_gap"
    COMBINED = "combined"


#: Longest list (distinct bins) for the numpy local search; beyond it each of its moves rescans
#: O(n^2) candidates and OR-Tools' guided local search finds shorter routes in the same time
#: (measured on the irregular hall of benchmarks/layouts.py at 200 and 400 picks).
LOCAL_SEARCH_MAX_NODES = 150

_POLICY = {
    Baseline.S_SHAPE: Policy.S_SHAPE,
    Baseline.RETURN: Policy.RETURN,
    Baseline.MIDPOINT: Policy.MIDPOINT,
    Baseline.LARGEST_GAP: Policy.LARGEST_GAP,
    Baseline.COMBINED: Policy.COMBINED,
}


@dataclass(frozen=True)
class PickList:
    """Bins to visit. An empty ``start_depot`` means the layout's first depot, an empty
    ``end_depot`` means back to the start."""

    bin_ids: tuple[str, ...]
    start_depot: str = ""
    end_depot: str = ""


@dataclass(frozen=True)
class Stop:
    """One visit: which bin, its position in the pick list, distance walked on arrival."""

    bin_id: str
    request_index: int
    cumulative_mm: int


@dataclass(frozen=True)
class RouteResult:
    """A route with the evidence an operator needs to trust it."""

    stops: tuple[Stop, ...]
    distance_mm: int
    status: RouteStatus
    lower_bound_mm: int | None
    solver: str
    baseline: Baseline
    baseline_distance_mm: int
    solve_time_s: float
    path: tuple[Waypoint, ...]
    start_depot: str
    end_depot: str


@dataclass(frozen=True)
class _Problem:
    """A validated pick list resolved to oracle locations, duplicates merged."""

    start: int
    end: int
    locs: IntArray  # distinct bin locations in first-request order
    request_slot: tuple[int, ...]  # request index -> position in ``locs``
    baseline: Baseline


def _resolve(oracle: DistanceOracle, pick_list: PickList, baseline: Baseline) -> _Problem:
    start_id = pick_list.start_depot or oracle.depot_ids[0]
    start = oracle.depot_location(start_id, "start_depot")
    end = oracle.depot_location(pick_list.end_depot, "end_depot") if pick_list.end_depot else start
    requested = oracle.bin_locations(pick_list.bin_ids, "bin_ids")
    locs, slot = np.unique(requested, return_inverse=True)
    # Keep the pick list's own order of first appearance (it is the AS_GIVEN baseline).
    first_seen = np.full(len(locs), len(requested), dtype=np.int64)
    np.minimum.at(first_seen, slot, np.arange(len(requested)))
    rank = np.argsort(first_seen, kind="stable")
    position = np.empty_like(rank)
    position[rank] = np.arange(len(rank))
    if baseline is Baseline.AUTO:
        baseline = Baseline.S_SHAPE if oracle.rectangular else Baseline.AS_GIVEN
    if baseline in _POLICY and oracle.rectangular is None:
        raise InvalidInput.single(
            "baseline", f"{baseline.name} needs a rectangular layout; use AS_GIVEN or AUTO"
        )
    return _Problem(
        start=start,
        end=end,
        locs=locs[rank].astype(np.int64),
        request_slot=tuple(int(p) for p in position[slot]),
        baseline=baseline,
    )


def validate(
    oracle: DistanceOracle, pick_list: PickList, *, baseline: Baseline = Baseline.AUTO
) -> None:
    """Check a pick list against a layout without solving.

    Raises
    ------
    NotFound
        An unknown bin or depot (the field names its position in the request).
    InvalidInput
        A baseline policy the layout cannot use.
    """
    _resolve(oracle, pick_list, baseline)


def solve(
    oracle: DistanceOracle,
    pick_list: PickList,
    *,
    time_limit_s: float = 1.0,
    seed: int = 0,
    baseline: Baseline = Baseline.AUTO,
    with_path: bool = False,
) -> RouteResult:
    """Find the shortest route for ``pick_list`` on ``oracle``'s layout.

    Parameters
    ----------
    time_limit_s
        Wall-clock budget for the heuristic search; exact methods ignore it (they finish in
        milliseconds where they are chosen).
    seed
        Seed of the local search; equal seeds give equal routes.
    baseline
        The policy reported beside the route.
    with_path
        Also return the walking path as waypoints.

    Returns
    -------
    RouteResult
        Stops in visiting order (a bin listed twice gets two stops at the same place),
        distance, status and bound, and the baseline's distance on the same input.
    """
    started = time.perf_counter()
    if not time_limit_s > 0:
        raise InvalidInput.single("time_limit", f"must be positive, got {time_limit_s}")
    problem = _resolve(oracle, pick_list, baseline)
    deadline = time.monotonic() + time_limit_s
    # Node 0 is the start depot, node 1 the end depot, then the distinct bins.
    nodes = np.concatenate([[problem.start, problem.end], problem.locs])
    matrix = oracle.matrix(nodes)
    order, status, bound, solver = _optimise(oracle, problem, matrix, deadline, seed)
    distance = tsp.route_cost(matrix, 0, 1, order)
    if status is RouteStatus.OPTIMAL:
        bound = distance
    baseline_mm = _baseline_distance(oracle, problem, matrix)

    visit_positions = [node - 2 for node in order]
    arrival: dict[int, int] = {}
    walked, previous = 0, 0
    for node in order:
        walked += int(matrix[previous, node])
        arrival[node - 2] = walked
        previous = node
    requests_at: dict[int, list[int]] = {}
    for request_index, position in enumerate(problem.request_slot):
        requests_at.setdefault(position, []).append(request_index)
    stops = tuple(
        Stop(pick_list.bin_ids[r], r, arrival[p]) for p in visit_positions for r in requests_at[p]
    )
    path: tuple[Waypoint, ...] = ()
    if with_path:
        path = _walk(
            oracle, [problem.start, *(int(problem.locs[p]) for p in visit_positions), problem.end]
        )
    return RouteResult(
        stops=stops,
        distance_mm=distance,
        status=status,
        lower_bound_mm=bound,
        solver=solver,
        baseline=problem.baseline,
        baseline_distance_mm=baseline_mm,
        solve_time_s=time.perf_counter() - started,
        path=path,
        start_depot=oracle.location_id(problem.start),
        end_depot=oracle.location_id(problem.end),
    )


def baseline_distance(
    oracle: DistanceOracle, pick_list: PickList, *, baseline: Baseline = Baseline.AUTO
) -> int:
    """Length in mm of the baseline policy's route through ``pick_list``, without solving it.

    For comparisons over many pick lists (a wave's first-come-first-served carts), where the
    optimised routes are not needed.
    """
    problem = _resolve(oracle, pick_list, baseline)
    nodes = np.concatenate([[problem.start, problem.end], problem.locs])
    return _baseline_distance(oracle, problem, oracle.matrix(nodes))


def _optimise(
    oracle: DistanceOracle, problem: _Problem, matrix: IntArray, deadline: float, seed: int
) -> tuple[tuple[int, ...], RouteStatus, int | None, str]:
    """Return (visiting order over matrix nodes, status, lower bound, solver name)."""
    k = len(problem.locs)
    if k == 0:
        return (), RouteStatus.OPTIMAL, None, "empty"
    rect = oracle.rectangular
    start_order: tuple[int, ...] | None = None
    if rect is not None:
        route = shortest_route(*_ladder_request(rect, oracle, problem), deadline=deadline)
        if route is not None and route.optimal:
            return tuple(p + 2 for p in route.order), RouteStatus.OPTIMAL, None, "ladder_dp"
        if route is not None:
            start_order = tuple(p + 2 for p in route.order)
    if k <= tsp.HELD_KARP_MAX_NODES:
        order, _ = tsp.held_karp(matrix, 0, 1)
        return order, RouteStatus.OPTIMAL, None, "held_karp"
    if k > LOCAL_SEARCH_MAX_NODES:
        solver = "ortools"
        order, cost = tsp.ortools_route(
            matrix,
            0,
            1,
            time_limit_s=max(deadline - time.monotonic(), 0.001),
            initial_order=start_order,
        )
    else:
        solver = "local_search"
        if start_order is None:
            start_order = tsp.nearest_neighbour(matrix, 0, 1)
        order, cost = tsp.improve(matrix, 0, 1, start_order, deadline=deadline, seed=seed)
    bound = tsp.lower_bound(matrix, 0, 1, upper_bound=cost, iterations=tsp.QUICK_BOUND_ITERATIONS)
    status = RouteStatus.OPTIMAL if bound >= cost else RouteStatus.FEASIBLE
    return order, status, bound, solver


def _ladder_request(
    rect: RectangularGraph, oracle: DistanceOracle, problem: _Problem
) -> tuple[Ladder, list[int], list[int], tuple[int, int], tuple[int, int]]:
    """The pick list in the rectangular solvers' terms: ladder, aisles, y, start, end."""

    def depot_point(loc: int) -> tuple[int, int]:
        k = loc - oracle.n_bins
        return rect.depot_cross[k], rect.depot_x_mm[k]

    return (
        rect.ladder,
        [rect.bin_aisle[loc] for loc in problem.locs],
        [rect.bin_y_mm[loc] for loc in problem.locs],
        depot_point(problem.start),
        depot_point(problem.end),
    )


def _baseline_distance(oracle: DistanceOracle, problem: _Problem, matrix: IntArray) -> int:
    k = len(problem.locs)
    if problem.baseline is Baseline.AS_GIVEN or k == 0:
        return tsp.route_cost(matrix, 0, 1, tuple(range(2, k + 2)))
    rect = oracle.rectangular
    assert rect is not None, "_resolve admits policy baselines on rectangular layouts only"
    return policy_route(
        *_ladder_request(rect, oracle, problem), _POLICY[problem.baseline]
    ).length_mm


def _walk(oracle: DistanceOracle, locations: list[int]) -> tuple[Waypoint, ...]:
    """Waypoints along consecutive shortest paths, without repeated corners."""
    out: list[Waypoint] = []
    for a, b in itertools.pairwise(locations):
        for point in oracle.path(a, b):
            if not out or (out[-1].x_m, out[-1].y_m) != (point.x_m, point.y_m):
                out.append(point)
    return tuple(out)
