"""Tests for routing.tsp: exact DP, local search, OR-Tools routing and lower bounds."""

from __future__ import annotations

import itertools
import math
import random
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from routing import oropt, tsp
from routing.errors import InvalidInput

Matrix = npt.NDArray[np.int64]


def random_instance(
    rng: np.random.Generator, n: int, *, symmetric: bool, closed: bool
) -> tuple[Matrix, int, int]:
    """A random integer matrix with zero diagonal and random start/end nodes."""
    mat = rng.integers(0, 1000, size=(n, n)).astype(np.int64)
    if symmetric:
        mat = np.minimum(mat, mat.T)
    np.fill_diagonal(mat, 0)
    start = int(rng.integers(n))
    end = start if closed or n == 1 else int(rng.choice([v for v in range(n) if v != start]))
    return mat, start, end


def manhattan_instance(rng: np.random.Generator, n: int) -> Matrix:
    """Rectilinear distances between random integer points, a proxy for warehouse aisles."""
    pts = rng.integers(0, 50_000, size=(n, 2))
    dist: Matrix = np.abs(pts[:, None, :] - pts[None, :, :]).sum(axis=2).astype(np.int64)
    return dist


def brute_force(mat: Matrix, start: int, end: int) -> int:
    """Optimal route cost by trying every permutation of the inner nodes."""
    inner = [v for v in range(mat.shape[0]) if v not in (start, end)]
    return min(tsp.route_cost(mat, start, end, p) for p in itertools.permutations(inner))


def is_valid_order(mat: Matrix, start: int, end: int, order: tuple[int, ...]) -> bool:
    """True if ``order`` visits each inner node exactly once."""
    inner = [v for v in range(mat.shape[0]) if v not in (start, end)]
    return sorted(order) == inner


CASES = [
    (n, symmetric, closed)
    for n in range(1, 9)
    for symmetric in (True, False)
    for closed in (True, False)
]


@pytest.mark.parametrize(("n", "symmetric", "closed"), CASES)
def test_held_karp_matches_brute_force(n: int, symmetric: bool, closed: bool) -> None:
    """Held-Karp returns the brute-force optimum and a route whose cost matches it."""
    rng = np.random.default_rng(1000 * n + 10 * symmetric + closed)
    for _ in range(12):
        mat, start, end = random_instance(rng, n, symmetric=symmetric, closed=closed)
        order, cost = tsp.held_karp(mat, start, end)
        assert is_valid_order(mat, start, end, order)
        assert cost == tsp.route_cost(mat, start, end, order)
        assert cost == brute_force(mat, start, end)


def test_held_karp_rejects_too_many_nodes() -> None:
    """Held-Karp refuses more than HELD_KARP_MAX_NODES inner nodes with a ValueError."""
    n = tsp.HELD_KARP_MAX_NODES + 2
    with pytest.raises(ValueError, match="at most"):
        tsp.held_karp(np.zeros((n, n), dtype=np.int64), 0, 0)


def test_held_karp_at_max_size_is_consistent() -> None:
    """At HELD_KARP_MAX_NODES inner nodes the optimum is a valid route no local search beats."""
    mat = manhattan_instance(np.random.default_rng(3), tsp.HELD_KARP_MAX_NODES + 1)
    order, cost = tsp.held_karp(mat, 0, 0)
    assert cost == tsp.route_cost(mat, 0, 0, order)
    _, searched = tsp.improve(
        mat,
        0,
        0,
        tsp.nearest_neighbour(mat, 0, 0),
        deadline=time.monotonic() + 30,
        seed=0,
        max_iterations=20,
    )
    assert cost <= searched


def test_route_cost_sums_arcs() -> None:
    """route_cost adds the arcs start -> order -> end, respecting arc direction."""
    mat = np.array([[0, 1, 5], [7, 0, 2], [3, 4, 0]], dtype=np.int64)
    assert tsp.route_cost(mat, 0, 0, (1, 2)) == 1 + 2 + 3
    assert tsp.route_cost(mat, 0, 0, (2, 1)) == 5 + 4 + 7
    assert tsp.route_cost(mat, 0, 2, (1,)) == 1 + 2
    assert tsp.route_cost(np.zeros((1, 1), dtype=np.int64), 0, 0, ()) == 0


@pytest.mark.parametrize(
    ("matrix", "start", "end", "order"),
    [
        (np.zeros((3, 3), dtype=np.int64), 0, 0, (1,)),
        (np.zeros((3, 3), dtype=np.int64), 0, 0, (1, 1)),
        (np.zeros((3, 3), dtype=np.int64), 0, 3, (1,)),
        (np.zeros((3, 2), dtype=np.int64), 0, 0, (1,)),
        (np.full((2, 2), 0.5), 0, 0, (1,)),
        (np.array([[0, -1], [1, 0]], dtype=np.int64), 0, 0, (1,)),
    ],
)
def test_route_cost_rejects_bad_input(
    matrix: npt.NDArray[np.generic], start: int, end: int, order: tuple[int, ...]
) -> None:
    """Malformed matrices, node indices and orders raise InvalidInput naming the field."""
    with pytest.raises(InvalidInput):
        tsp.route_cost(matrix, start, end, order)


@pytest.mark.parametrize("closed", [True, False])
def test_nearest_neighbour_is_a_permutation(closed: bool) -> None:
    """Nearest neighbour visits every inner node once and starts at the closest one."""
    rng = np.random.default_rng(5)
    mat, start, end = random_instance(rng, 12, symmetric=False, closed=closed)
    order = tsp.nearest_neighbour(mat, start, end)
    assert is_valid_order(mat, start, end, order)
    inner = [v for v in range(12) if v not in (start, end)]
    assert mat[start, order[0]] == mat[start, inner].min()


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("closed", [True, False])
def test_improve_reaches_optimum_on_small_instances(symmetric: bool, closed: bool) -> None:
    """improve returns valid, never-worse routes and hits the exact optimum on most instances."""
    rng = np.random.default_rng(7 + symmetric + 2 * closed)
    hits = trials = 0
    for n in range(1, 11):
        for _ in range(4):
            mat, start, end = random_instance(rng, n, symmetric=symmetric, closed=closed)
            seed_order = tsp.nearest_neighbour(mat, start, end)
            seed_cost = tsp.route_cost(mat, start, end, seed_order)
            order, cost = tsp.improve(
                mat,
                start,
                end,
                seed_order,
                deadline=time.monotonic() + 5,
                seed=0,
                max_iterations=30,
            )
            assert is_valid_order(mat, start, end, order)
            assert cost == tsp.route_cost(mat, start, end, order)
            assert cost <= seed_cost
            hits += cost == tsp.held_karp(mat, start, end)[1]
            trials += 1
    assert hits >= 0.9 * trials


def test_improve_is_deterministic_for_a_seed() -> None:
    """Two runs with the same seed and iteration count return the same route."""
    mat = manhattan_instance(np.random.default_rng(11), 40)
    seed_order = tsp.nearest_neighbour(mat, 0, 0)
    runs = [
        tsp.improve(
            mat, 0, 0, seed_order, deadline=time.monotonic() + 30, seed=4, max_iterations=25
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_improve_respects_deadline() -> None:
    """improve stops near its deadline and still returns a valid route."""
    mat = manhattan_instance(np.random.default_rng(12), 60)
    seed_order = tsp.nearest_neighbour(mat, 0, 59)
    began = time.monotonic()
    order, cost = tsp.improve(mat, 0, 59, seed_order, deadline=began + 0.05, seed=1, stall=0)
    # Generous slack: the point is that a search with no other stopping rule ends at all.
    assert time.monotonic() - began < 2.0
    assert cost == tsp.route_cost(mat, 0, 59, order)
    assert cost <= tsp.route_cost(mat, 0, 59, seed_order)


def test_improve_handles_asymmetric_reversals() -> None:
    """On a one-way cycle improve finds the only cheap direction, which 2-opt must price right."""
    n = 9
    mat = np.full((n, n), 100, dtype=np.int64)
    np.fill_diagonal(mat, 0)
    for v in range(n):
        mat[v, (v + 1) % n] = 1
    backwards = tuple(range(n - 1, 0, -1))
    order, cost = tsp.improve(
        mat, 0, 0, backwards, deadline=time.monotonic() + 5, seed=0, max_iterations=10
    )
    assert cost == n
    assert order == tuple(range(1, n))


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("closed", [True, False])
def test_ortools_route_reaches_optimum_on_small_instances(symmetric: bool, closed: bool) -> None:
    """OR-Tools returns valid routes with correct costs, optimal on most small instances."""
    rng = np.random.default_rng(21 + symmetric + 2 * closed)
    hits = trials = 0
    for n in range(1, 10):
        mat, start, end = random_instance(rng, n, symmetric=symmetric, closed=closed)
        order, cost = tsp.ortools_route(mat, start, end, time_limit_s=0.02)
        assert is_valid_order(mat, start, end, order)
        assert cost == tsp.route_cost(mat, start, end, order)
        hits += cost == tsp.held_karp(mat, start, end)[1]
        trials += 1
    assert hits >= 0.8 * trials


def test_ortools_route_never_worse_than_initial_order() -> None:
    """Given an initial route, OR-Tools returns one at least as short."""
    mat = manhattan_instance(np.random.default_rng(22), 30)
    initial = tsp.improve(
        mat,
        0,
        29,
        tsp.nearest_neighbour(mat, 0, 29),
        deadline=time.monotonic() + 5,
        seed=0,
        max_iterations=20,
    )[0]
    initial_cost = tsp.route_cost(mat, 0, 29, initial)
    order, cost = tsp.ortools_route(mat, 0, 29, time_limit_s=0.05, initial_order=initial)
    assert is_valid_order(mat, 0, 29, order)
    assert cost == tsp.route_cost(mat, 0, 29, order)
    assert cost <= initial_cost
    greedy_order, greedy_cost = tsp.ortools_route(
        mat, 0, 29, time_limit_s=0.05, initial_order=initial, guided=False
    )
    assert greedy_cost == tsp.route_cost(mat, 0, 29, greedy_order) <= initial_cost


def test_ortools_route_survives_many_solves_in_one_process() -> None:
    """Fifty consecutive OR-Tools solves in one process all succeed (google/or-tools#5076)."""
    rng = np.random.default_rng(23)
    for i in range(50):
        mat, start, end = random_instance(rng, 15, symmetric=i % 2 == 0, closed=i % 3 == 0)
        initial = tsp.nearest_neighbour(mat, start, end) if i % 4 == 0 else None
        order, cost = tsp.ortools_route(mat, start, end, time_limit_s=0.01, initial_order=initial)
        assert is_valid_order(mat, start, end, order)
        assert cost == tsp.route_cost(mat, start, end, order)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("closed", [True, False])
def test_lower_bound_never_exceeds_optimum(symmetric: bool, closed: bool) -> None:
    """The lower bound is at most the Held-Karp optimum, and equal to it for n <= 2."""
    rng = np.random.default_rng(31 + symmetric + 2 * closed)
    for n in range(1, 11):
        for _ in range(6):
            mat, start, end = random_instance(rng, n, symmetric=symmetric, closed=closed)
            optimum = tsp.held_karp(mat, start, end)[1]
            bound = tsp.lower_bound(mat, start, end)
            assert 0 <= bound <= optimum
            if n <= 2:
                assert bound == optimum


def test_lower_bound_is_tight_on_rectilinear_instances() -> None:
    """On rectilinear instances the 1-tree bound lies within a few percent of the optimum."""
    rng = np.random.default_rng(32)
    for closed in (True, False):
        mat = manhattan_instance(rng, 14)
        end = 0 if closed else 13
        optimum = tsp.held_karp(mat, 0, end)[1]
        bound = tsp.lower_bound(mat, 0, end)
        assert 0.9 * optimum <= bound <= optimum


def test_improve_from_random_order_on_larger_instances() -> None:
    """From a random order on 40-60 nodes, improve returns a valid, much shorter route."""
    rng = np.random.default_rng(41)
    for n, closed in ((40, True), (60, False)):
        mat = manhattan_instance(rng, n)
        end = 0 if closed else n - 1
        seed_order = tuple(int(v) for v in rng.permutation(np.arange(1, n - (not closed))))
        seed_cost = tsp.route_cost(mat, 0, end, seed_order)
        order, cost = tsp.improve(
            mat, 0, end, seed_order, deadline=time.monotonic() + 5, seed=2, max_iterations=40
        )
        assert is_valid_order(mat, 0, end, order)
        assert cost == tsp.route_cost(mat, 0, end, order)
        assert cost < 0.5 * seed_cost


def test_improve_same_result_with_wide_arcs() -> None:
    """Scaling arcs past the int32 fast path gives the same route and a scaled cost."""
    mat = manhattan_instance(np.random.default_rng(42), 30)
    seed_order = tsp.nearest_neighbour(mat, 0, 0)
    scale = 1_000_000
    narrow = tsp.improve(
        mat, 0, 0, seed_order, deadline=time.monotonic() + 30, seed=3, max_iterations=20
    )
    wide = tsp.improve(
        mat * scale, 0, 0, seed_order, deadline=time.monotonic() + 30, seed=3, max_iterations=20
    )
    assert wide[0] == narrow[0]
    assert wide[1] == narrow[1] * scale


def count_kicks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Wrap oropt.kick so that the returned one-element list counts the kicks made."""
    calls = [0]
    kick = oropt.kick

    def counting(d: list[list[int]], route: Any, rng: random.Random, span: int) -> list[int]:
        calls[0] += 1
        return kick(d, route, rng, span)

    monkeypatch.setattr(oropt, "kick", counting)
    return calls


def test_improve_stall_rule_stops_long_before_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a stall limit, improve stops after that many fruitless kicks, not at the deadline."""
    mat = manhattan_instance(np.random.default_rng(51), 20)
    seed_order = tsp.nearest_neighbour(mat, 0, 0)
    kicks = count_kicks(monkeypatch)
    order, cost = tsp.improve(
        mat, 0, 0, seed_order, deadline=time.monotonic() + 3600, seed=0, stall=40
    )
    assert cost == tsp.route_cost(mat, 0, 0, order)
    assert 40 <= kicks[0] < 2000
    stalled = kicks[0]
    kicks[0] = 0
    tsp.improve(
        mat,
        0,
        0,
        seed_order,
        deadline=time.monotonic() + 3600,
        seed=0,
        stall=0,
        max_iterations=2000,
    )
    assert kicks[0] == 2000 > stalled


def test_improve_default_stall_terminates(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default stall limit (scaled with the route length) ends a search with no deadline."""
    mat = manhattan_instance(np.random.default_rng(52), 12)
    kicks = count_kicks(monkeypatch)
    _order, cost = tsp.improve(
        mat, 0, 0, tsp.nearest_neighbour(mat, 0, 0), deadline=time.monotonic() + 3600, seed=1
    )
    assert cost == tsp.held_karp(mat, 0, 0)[1]
    assert 100 <= kicks[0] < 100 * 50


def test_improve_stops_at_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """A target at or above the first local optimum stops improve before any kick."""
    mat = manhattan_instance(np.random.default_rng(53), 25)
    seed_order = tsp.nearest_neighbour(mat, 0, 24)
    kicks = count_kicks(monkeypatch)
    order, cost = tsp.improve(
        mat,
        0,
        24,
        seed_order,
        deadline=time.monotonic() + 3600,
        seed=2,
        target=tsp.route_cost(mat, 0, 24, seed_order),
    )
    assert kicks[0] == 0
    assert cost == tsp.route_cost(mat, 0, 24, order) <= tsp.route_cost(mat, 0, 24, seed_order)


def test_improve_reaches_a_lower_bound_target() -> None:
    """With the optimum as target, improve returns an optimal route on a small instance."""
    mat = manhattan_instance(np.random.default_rng(54), 11)
    optimum = tsp.held_karp(mat, 0, 0)[1]
    order, cost = tsp.improve(
        mat,
        0,
        0,
        tsp.nearest_neighbour(mat, 0, 0),
        deadline=time.monotonic() + 3600,
        seed=3,
        stall=0,
        target=optimum,
    )
    assert cost == optimum == tsp.route_cost(mat, 0, 0, order)


def test_improve_rejects_negative_stall() -> None:
    """A negative stall limit raises InvalidInput."""
    mat = manhattan_instance(np.random.default_rng(55), 6)
    with pytest.raises(InvalidInput):
        tsp.improve(mat, 0, 0, (1, 2, 3, 4, 5), deadline=time.monotonic() + 5, seed=0, stall=-1)


def test_improve_with_one_trajectory() -> None:
    """A single trajectory (the quick estimate batching prices with) returns valid, never-worse
    routes, equal to the optimum on most small instances; fewer than one is refused by name."""
    rng = np.random.default_rng(57)
    hits = 0
    for _ in range(20):
        mat, start, end = random_instance(rng, 9, symmetric=True, closed=True)
        seed_order = tsp.nearest_neighbour(mat, start, end)
        order, cost = tsp.improve(
            mat,
            start,
            end,
            seed_order,
            deadline=math.inf,
            seed=0,
            max_iterations=30,
            trajectories=1,
        )
        assert is_valid_order(mat, start, end, order)
        assert (
            cost
            == tsp.route_cost(mat, start, end, order)
            <= tsp.route_cost(mat, start, end, seed_order)
        )
        hits += cost == tsp.held_karp(mat, start, end)[1]
    assert hits >= 16
    mat = manhattan_instance(np.random.default_rng(58), 6)
    with pytest.raises(InvalidInput) as caught:
        tsp.improve(mat, 0, 0, (1, 2, 3, 4, 5), deadline=math.inf, seed=0, trajectories=0)
    assert "trajectories" in str(caught.value)


def test_improve_is_deterministic_under_the_stall_rule() -> None:
    """Two runs stopped by the default stall rule return the same route."""
    mat = manhattan_instance(np.random.default_rng(56), 30)
    seed_order = tsp.nearest_neighbour(mat, 0, 29)
    runs = [
        tsp.improve(mat, 0, 29, seed_order, deadline=time.monotonic() + 3600, seed=5)
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_lower_bound_with_optimal_upper_bound_stays_valid() -> None:
    """Given the optimum as upper bound (the early-stop case), the bound stays at most it."""
    rng = np.random.default_rng(57)
    for closed in (True, False):
        mat = manhattan_instance(rng, 12)
        end = 0 if closed else 11
        optimum = tsp.held_karp(mat, 0, end)[1]
        bound = tsp.lower_bound(mat, 0, end, upper_bound=optimum)
        assert 0.9 * optimum <= bound <= optimum


def assert_lookups_fresh(d: list[list[int]], route: Any) -> None:
    """The route's cost, positions and reversal prefix sums match a route built from scratch
    (the sums up to a common offset: only their differences are ever read)."""
    fresh = oropt._Route(d, route.path[:])
    assert route.cost == fresh.cost == sum(d[u][v] for u, v in itertools.pairwise(route.path))
    assert route.pos == fresh.pos
    assert [t - route.twist[0] for t in route.twist] == fresh.twist


def test_local_search_moves_change_the_cost_by_their_delta(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every move the local search applies on random asymmetric paths shortens the path by
    exactly its delta, keeps the endpoints, visits every node once, rebuilds the positions and
    prefix sums exactly, and reports every node next to a changed arc."""
    applied = [0]
    current: list[Any] = []

    def checked(apply: Any) -> Any:
        def run(*args: Any) -> list[int]:
            route = current[0]
            before = route.path[:]
            old_cost = sum(d[u][v] for u, v in itertools.pairwise(before))
            assert route.cost < old_cost  # the local search adds the (negative) delta first
            touched = apply(*args)
            after = route.path
            assert after[0] == before[0] and after[-1] == before[-1]
            assert sorted(after) == sorted(before)
            assert_lookups_fresh(d, route)
            changed = set(itertools.pairwise(after)) - set(itertools.pairwise(before))
            assert {v for arc in changed for v in arc} <= set(touched)
            applied[0] += 1
            return touched  # type: ignore[no-any-return]

        return run

    monkeypatch.setattr(oropt, "_exchange", checked(oropt._exchange))
    monkeypatch.setattr(oropt, "_reverse", checked(oropt._reverse))
    rng = np.random.default_rng(61)
    pick = random.Random(61)
    for _ in range(60):
        n = int(rng.integers(4, 25))
        mat = rng.integers(0, 1000, size=(n, n))
        np.fill_diagonal(mat, 0)
        d = mat.tolist()
        route = oropt._Route(d, [0, *(int(v) for v in rng.permutation(range(1, n - 1))), n - 1])
        current[:] = [route]
        nbr = oropt.candidate_lists(d)
        oropt.local_search(d, route, list(range(n - 1)), nbr, time.monotonic() + 30)
        assert_lookups_fresh(d, route)
        for _ in range(10):
            touched = oropt.kick(d, route, pick, 12)
            oropt.local_search(d, route, touched, nbr, time.monotonic() + 30)
            assert_lookups_fresh(d, route)
    assert applied[0] > 1000


def test_local_search_optima_admit_no_segment_exchange() -> None:
    """With full neighbour lists and every node looked at again until nothing changes, no
    exchange of two adjacent segments (Or-opt and 3-opt segment insertion) improves the path:
    each such move is found from one of its three cuts, so the gain criterion loses none."""
    rng = np.random.default_rng(62)
    for _ in range(40):
        n = int(rng.integers(5, 10))
        mat, start, end = random_instance(rng, n, symmetric=False, closed=bool(rng.integers(2)))
        inner = [v for v in range(n) if v not in (start, end)]
        nodes = [start, *(int(v) for v in rng.permutation(inner)), end]
        d = mat[np.ix_(nodes, nodes)].tolist()
        m = len(nodes)
        route = oropt._Route(d, list(range(m)))
        full = oropt._neighbour_lists(d)
        before: list[int] = []
        while route.path != before:
            before = route.path[:]
            oropt.local_search(d, route, list(range(m - 1)), full, time.monotonic() + 30)
        path = route.path
        for x, y, z in itertools.combinations(range(1, m), 3):
            joined = path[:x] + path[y:z] + path[x:y] + path[z:]
            assert sum(d[u][v] for u, v in itertools.pairwise(joined)) >= route.cost


def test_kick_keeps_endpoints_and_visits() -> None:
    """A kick permutes the same inner nodes between the same endpoints and, from four inner
    nodes on, changes at least four arcs; it reports every node next to a changed arc."""
    rng = random.Random(64)
    for k in range(1, 30):
        d = np.random.default_rng(k).integers(0, 100, size=(k + 2, k + 2)).tolist()
        route = oropt._Route(d, [0, *rng.sample(range(1, k + 1), k), k + 1])
        for span in (3, 12, 20):  # repeated kicks: both orientations of the moved segment
            before = route.path[:]
            touched = oropt.kick(d, route, rng, span)
            path = route.path
            assert path[0] == 0 and path[-1] == k + 1
            assert sorted(path) == list(range(k + 2))
            # The kick prices itself from the changed arcs; it must match a fresh sum, and its
            # lookups must match a route built from scratch.
            assert_lookups_fresh(d, route)
            changed = set(itertools.pairwise(before)) - set(itertools.pairwise(path))
            assert {v for arc in changed for v in arc} <= set(touched)
            if k >= 4:
                assert len(changed) >= 4


@pytest.mark.parametrize("closed", [True, False])
def test_improve_reaches_held_karp_on_asymmetric_instances(closed: bool) -> None:
    """On random asymmetric instances of 12-15 inner nodes the default search (stall rule only)
    finds the Held-Karp optimum on nearly every instance and is never worse than its start."""
    rng = np.random.default_rng(65 + closed)
    hits = trials = 0
    for _ in range(12):
        n = int(rng.integers(14, 17)) + (not closed)
        mat, start, end = random_instance(rng, n, symmetric=False, closed=closed)
        seed_order = tsp.nearest_neighbour(mat, start, end)
        order, cost = tsp.improve(
            mat, start, end, seed_order, deadline=time.monotonic() + 60, seed=trials
        )
        assert is_valid_order(mat, start, end, order)
        assert cost == tsp.route_cost(mat, start, end, order)
        assert cost <= tsp.route_cost(mat, start, end, seed_order)
        hits += cost == tsp.held_karp(mat, start, end)[1]
        trials += 1
    assert hits >= trials - 1


def test_alpha_nearness_is_zero_exactly_on_the_spanning_tree() -> None:
    """Alpha values are never negative, and with distinct costs ``min(alpha[u, v], alpha[v, u])``
    is zero on exactly ``m - 1`` pairs, which form a minimum spanning tree of ``min(D, D^T)``
    (with the free closing arc end -> start)."""
    from scipy.sparse.csgraph import minimum_spanning_tree

    rng = np.random.default_rng(71)
    for _ in range(30):
        m = int(rng.integers(4, 30))
        d = rng.permutation(m * m)[: m * m].reshape(m, m).astype(np.int64) + 1
        np.fill_diagonal(d, 0)
        alpha = oropt.alpha_nearness(d.tolist())
        off = ~np.eye(m, dtype=bool)
        assert (alpha[off] >= 0).all()
        both = np.minimum(alpha, alpha.T)
        tree = [(u, v) for u in range(m) for v in range(u + 1, m) if both[u, v] == 0]
        assert len(tree) == m - 1
        closed = d.copy()
        closed[m - 1, 0] = 0
        sym = np.minimum(closed, closed.T)
        weight = sum(int(sym[u, v]) for u, v in tree)
        # Shift by one so that the free arc (cost 0) is not read as a missing edge.
        assert weight == round(minimum_spanning_tree(sym + 1 - np.eye(m, dtype=np.int64)).sum()) - (
            m - 1
        )
        # Each tree edge is priced at its cheaper direction, the other at the difference.
        for u, v in tree:
            assert max(alpha[u, v], alpha[v, u]) == abs(int(closed[u, v]) - int(closed[v, u]))


def test_candidate_lists_join_nearest_and_alpha_nearest_by_cost() -> None:
    """Each list holds the NEIGHBOURS nearest and the ALPHA_NEIGHBOURS alpha-nearest successors,
    never the node itself or the start, sorted by arc cost so that the gain criterion may stop
    at the first candidate that is too long."""
    rng = np.random.default_rng(72)
    m = 40
    # Two far-apart clusters: the arcs that bridge them are alpha-near but far from nearest.
    d = manhattan_instance(rng, m)
    d[25:, 25:] //= 10
    d[:25, :25] //= 10
    d += rng.integers(0, 500, size=(m, m))  # asymmetric
    np.fill_diagonal(d, 0)
    rows = d.tolist()
    lists = oropt.candidate_lists(rows)
    nearest = oropt._neighbour_lists(rows, oropt.NEIGHBOURS)
    alpha = oropt.alpha_nearness(rows)
    extra = 0
    for u, cands in enumerate(lists):
        assert u not in cands and 0 not in cands
        assert len(set(cands)) == len(cands)
        assert [rows[u][v] for v in cands] == sorted(rows[u][v] for v in cands)
        assert set(nearest[u]) <= set(cands)
        others = [v for v in range(1, m) if v != u]
        best = sorted(others, key=lambda v: (alpha[u, v], rows[u][v]))[: oropt.ALPHA_NEIGHBOURS]
        assert set(best) <= set(cands)
        extra += len(cands) - len(nearest[u])
    assert extra > 0  # alpha adds the bridging arcs, which no nearest list holds
