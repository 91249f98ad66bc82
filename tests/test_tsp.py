"""Tests for routing.tsp: exact DP, local search, OR-Tools routing and lower bounds."""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from routing import tsp
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
    """Wrap tsp._perturb so that the returned one-element list counts the kicks made."""
    calls = [0]
    perturb = tsp._perturb

    def counting(path: npt.NDArray[np.intp], rng: np.random.Generator) -> npt.NDArray[np.intp]:
        calls[0] += 1
        return perturb(path, rng)

    monkeypatch.setattr(tsp, "_perturb", counting)
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


def path_arrays(
    mat: npt.NDArray[Any], path: npt.NDArray[np.intp]
) -> tuple[
    npt.NDArray[Any],
    npt.NDArray[Any],
    npt.NDArray[Any],
]:
    """The path-ordered matrix, forward arcs and reversal prefix of one path, as a batch of 1."""
    m, n = path.shape[0], mat.shape[0]
    mp = mat.take(path[None, :, None] * n + path[None, None, :])
    fwd = mp.diagonal(1, 1, 2)
    prefix = np.zeros((1, m), dtype=mat.dtype)
    np.cumsum(mp.diagonal(-1, 1, 2) - fwd, axis=1, out=prefix[:, 1:])
    return mp, fwd, prefix


def swap_candidates(
    mat: npt.NDArray[Any],
    path: npt.NDArray[np.intp],
    nbr: npt.NDArray[np.intp],
) -> npt.NDArray[Any]:
    """Every priced 3-opt segment move of one path (flat, as indexed by ``_apply_swap``)."""
    m = path.shape[0]
    mp, fwd, prefix = path_arrays(mat, path)
    pos = tsp._positions(path[None], mat.shape[0])
    target = pos[np.zeros((1, 1, 1), dtype=np.intp), nbr[path[None, : m - 2]]]
    deltas: npt.NDArray[Any] = np.concatenate(tsp._swap_blocks(mp, fwd, prefix, target), axis=1)
    return deltas.reshape(-1)  # a batch of one path


@pytest.mark.parametrize("narrow", [True, False])
def test_swap_move_deltas_match_recomputed_costs(narrow: bool) -> None:
    """Every legal 3-opt segment move's delta equals the recomputed cost change (asymmetric)."""
    rng = np.random.default_rng(61)
    checked = 0
    for _ in range(60):
        n = int(rng.integers(5, 13))
        mat, start, end = random_instance(rng, n, symmetric=False, closed=bool(rng.integers(2)))
        nbr = tsp._neighbours(mat, start, end)
        assert nbr is not None
        inner = [v for v in range(n) if v not in (start, end)]
        path = np.array([start, *rng.permutation(inner), end], dtype=np.intp)
        work = mat.astype(np.int32 if narrow else np.int64)
        table = tsp._move_table(path.shape[0], narrow)
        deltas = swap_candidates(work, path, nbr)
        base = tsp.route_cost(mat, start, end, tuple(path[1:-1]))
        for index in np.flatnonzero(deltas < 1 << 27):
            moved = tsp._apply_move(path, table.size + int(index), table, nbr)
            order = tuple(int(v) for v in moved[1:-1])
            assert moved[0] == start and moved[-1] == end
            assert tsp.route_cost(mat, start, end, order) - base == deltas[index]
            checked += 1
    assert checked > 10_000


def test_swap_blocks_with_full_neighbour_lists_find_the_best_segment_move() -> None:
    """With every node as a neighbour, the swap blocks price every 3-opt segment move."""
    rng = np.random.default_rng(62)
    for _ in range(20):
        n = int(rng.integers(5, 10))
        mat, start, end = random_instance(rng, n, symmetric=False, closed=bool(rng.integers(2)))
        inner = [v for v in range(n) if v not in (start, end)]
        path = np.array([start, *rng.permutation(inner), end], dtype=np.intp)
        m = path.shape[0]
        # every inner node other than v; inner rows repeat one entry to keep rows equally long
        full = np.array(
            [[w for w in inner if w != v] + [inner[v == inner[0]]] * (v in inner) for v in range(n)]
        )
        base = tsp._path_cost(mat, path)
        best = 0
        for x, y, z in itertools.combinations(range(1, m), 3):
            a, s1, s2, f = path[:x], path[x:y], path[y:z], path[z:]
            for new in (
                (a, s2, s1, f),
                (a, s2, s1[::-1], f),
                (a, s2[::-1], s1, f),
                (a, s1[::-1], s2[::-1], f),
            ):
                best = min(best, tsp._path_cost(mat, np.concatenate(new)) - base)
        assert min(0, int(swap_candidates(mat, path, full).min())) == best


def test_best_moves_deltas_match_recomputed_costs() -> None:
    """The best 2-opt/Or-opt move and the best 3-opt move of random paths change the cost by
    their delta."""
    rng = np.random.default_rng(63)
    for _ in range(100):
        n = int(rng.integers(5, 30))
        mat, start, end = random_instance(rng, n, symmetric=False, closed=bool(rng.integers(2)))
        nbr = tsp._neighbours(mat, start, end)
        inner = [v for v in range(n) if v not in (start, end)]
        paths = np.array([[start, *rng.permutation(inner), end] for _ in range(3)], dtype=np.intp)
        table = tsp._move_table(paths.shape[1], False)
        for lists in (None, nbr):
            deltas, moves = tsp._best_moves(mat, paths, lists)
            for path, delta, move in zip(paths, deltas.tolist(), moves.tolist(), strict=True):
                moved = tsp._apply_move(path, move, table, lists)
                assert sorted(moved[1:-1].tolist()) == inner
                assert tsp._path_cost(mat, moved) - tsp._path_cost(mat, path) == delta


def test_perturb_keeps_endpoints_and_visits() -> None:
    """A kick returns a permutation of the same inner nodes between the same endpoints."""
    rng = np.random.default_rng(64)
    for k in range(0, 30):
        path = np.array([100, *rng.permutation(k), 101], dtype=np.intp)
        kicked = tsp._perturb(path, rng)
        assert kicked[0] == 100 and kicked[-1] == 101
        assert sorted(kicked[1:-1].tolist()) == list(range(k))
        if k >= 4:
            changed = set(zip(path[:-1].tolist(), path[1:].tolist(), strict=True)) - set(
                zip(kicked[:-1].tolist(), kicked[1:].tolist(), strict=True)
            )
            assert len(changed) >= 4
