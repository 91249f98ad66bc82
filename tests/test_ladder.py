"""Tests for routing.ladder: the exact ladder DP against an independent networkx brute force."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import networkx as nx
import numpy as np
import pytest

import routing.ladder as ladder_module
from routing.errors import InvalidInput
from routing.ladder import Ladder, LadderRoute, route_length, shortest_route

Point = tuple[str, int, int]


def ladder_graph(
    ladder: Ladder,
    pick_aisle: Sequence[int],
    pick_y_mm: Sequence[int],
    depots: Sequence[tuple[int, int]],
) -> nx.Graph:
    """Build the walkable ladder graph with junctions, depot points and pick points as nodes."""
    graph = nx.Graph()
    xs = sorted(set(ladder.aisle_x_mm) | {x for _, x in depots})
    for r, _y in enumerate(ladder.cross_y_mm):
        for x0, x1 in itertools.pairwise(xs):
            graph.add_edge(("c", r, x0), ("c", r, x1), weight=x1 - x0)
        graph.add_node(("c", r, xs[0]))
    for a, x in enumerate(ladder.aisle_x_mm):
        stops = [(y, ("c", r, x)) for r, y in enumerate(ladder.cross_y_mm)]
        for pa, py in zip(pick_aisle, pick_y_mm, strict=True):
            if pa == a and py not in ladder.cross_y_mm:
                stops.append((py, ("a", a, py)))
        stops = sorted(set(stops))
        for (y0, u), (y1, v) in itertools.pairwise(stops):
            graph.add_edge(u, v, weight=y1 - y0)
    return graph


def pick_point(ladder: Ladder, aisle: int, y: int) -> Point:
    """Graph node of a pick: the junction when y is on a cross aisle, else an aisle point."""
    if y in ladder.cross_y_mm:
        return ("c", ladder.cross_y_mm.index(y), ladder.aisle_x_mm[aisle])
    return ("a", aisle, y)


class Reference:
    """Shortest-path distances on the ladder graph, computed by networkx."""

    def __init__(
        self,
        ladder: Ladder,
        pick_aisle: Sequence[int],
        pick_y_mm: Sequence[int],
        start: tuple[int, int],
        end: tuple[int, int],
    ) -> None:
        graph = ladder_graph(ladder, pick_aisle, pick_y_mm, [start, end])
        self.dist = dict(nx.all_pairs_dijkstra_path_length(graph, weight="weight"))
        self.points = [pick_point(ladder, a, y) for a, y in zip(pick_aisle, pick_y_mm, strict=True)]
        self.start: Point = ("c", start[0], start[1])
        self.end: Point = ("c", end[0], end[1])

    def walk_mm(self, order: Sequence[int]) -> int:
        """Length of walking start -> picks in ``order`` -> end along shortest paths."""
        stops = [self.start, *(self.points[i] for i in order), self.end]
        return int(sum(self.dist[u][v] for u, v in itertools.pairwise(stops)))

    def brute_force_mm(self) -> int:
        """Optimal length over every visiting order of the distinct pick points."""
        distinct = sorted(set(self.points))
        best: int | None = None
        for perm in itertools.permutations(distinct):
            stops = [self.start, *perm, self.end]
            length = int(sum(self.dist[u][v] for u, v in itertools.pairwise(stops)))
            if best is None or length < best:
                best = length
        assert best is not None
        return best


def random_instance(
    rng: random.Random, max_picks: int = 7
) -> tuple[Ladder, list[int], list[int], tuple[int, int], tuple[int, int]]:
    """A random small ladder request with junction picks, duplicates and odd depot positions."""
    n_cross = rng.randint(2, 5)
    n_aisles = rng.randint(1, 6)
    aisle_x = tuple(sorted(rng.sample(range(0, 60_000, 1_000), n_aisles)))
    cross_y = tuple(sorted(rng.sample(range(0, 40_000, 2_000), n_cross)))
    n_picks = rng.randint(0, max_picks)
    pick_aisle: list[int] = []
    pick_y: list[int] = []
    for _ in range(n_picks):
        if pick_aisle and rng.random() < 0.15:
            k = rng.randrange(len(pick_aisle))
            pick_aisle.append(pick_aisle[k])
            pick_y.append(pick_y[k])
            continue
        pick_aisle.append(rng.randrange(n_aisles))
        if rng.random() < 0.2:
            pick_y.append(rng.choice(cross_y))
        else:
            pick_y.append(rng.randint(cross_y[0], cross_y[-1]))

    def depot() -> tuple[int, int]:
        r = rng.randrange(n_cross)
        u = rng.random()
        if u < 0.4:
            return (r, rng.choice(aisle_x))
        return (r, rng.randint(aisle_x[0] - 5_000, aisle_x[-1] + 5_000))

    start = depot()
    end = start if rng.random() < 0.5 else depot()
    if pick_aisle and rng.random() < 0.1 and start[1] in aisle_x:
        pick_aisle.append(aisle_x.index(start[1]))
        pick_y.append(cross_y[start[0]])
    return Ladder(aisle_x, cross_y), pick_aisle, pick_y, start, end


def check_route(
    route: LadderRoute | None,
    ladder: Ladder,
    pick_aisle: Sequence[int],
    pick_y: Sequence[int],
    start: tuple[int, int],
    end: tuple[int, int],
) -> Reference:
    """Assert the route is a permutation whose shortest-path walk equals its length."""
    assert route is not None
    assert sorted(route.order) == list(range(len(pick_aisle)))
    ref = Reference(ladder, pick_aisle, pick_y, start, end)
    assert ref.walk_mm(route.order) == route.length_mm
    points = [ref.points[i] for i in route.order]
    seen: set[Point] = set()
    for k, p in enumerate(points):
        if p in seen:
            assert points[k - 1] == p, "picks at the same point must be consecutive"
        seen.add(p)
    return ref


def test_random_instances_match_brute_force() -> None:
    """Exact DP length equals networkx brute force on hundreds of random small instances."""
    rng = random.Random(20260127)
    for _ in range(400):
        ladder, pick_aisle, pick_y, start, end = random_instance(rng, max_picks=6)
        route = shortest_route(ladder, pick_aisle, pick_y, start, end)
        ref = check_route(route, ladder, pick_aisle, pick_y, start, end)
        assert route is not None
        assert route.length_mm == ref.brute_force_mm()


def test_seven_picks_match_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seven-pick instances (the brute-force limit) match exactly, dominance pruning always on."""
    monkeypatch.setattr(ladder_module, "_DOMINANCE_MIN_STATES", 0)
    rng = random.Random(7)
    for _ in range(25):
        ladder, pick_aisle, pick_y, start, end = random_instance(rng, max_picks=7)
        route = shortest_route(ladder, pick_aisle, pick_y, start, end)
        ref = check_route(route, ladder, pick_aisle, pick_y, start, end)
        assert route is not None
        assert route.length_mm == ref.brute_force_mm()


def test_larger_instances_walk_matches_length() -> None:
    """On larger multi-block instances the order walks to exactly the reported length."""
    rng = random.Random(11)
    for _ in range(30):
        n_aisles = rng.randint(3, 12)
        n_cross = rng.randint(2, 5)
        ladder = Ladder(
            tuple(range(0, 3_000 * n_aisles, 3_000)), tuple(range(0, 10_000 * n_cross, 10_000))
        )
        n = rng.randint(5, 40)
        pick_aisle = [rng.randrange(n_aisles) for _ in range(n)]
        pick_y = [rng.randint(0, ladder.cross_y_mm[-1]) for _ in range(n)]
        start = (rng.randrange(n_cross), rng.randint(-2_000, 3_000 * n_aisles))
        end = start if rng.random() < 0.5 else (rng.randrange(n_cross), 1_500)
        route = shortest_route(ladder, pick_aisle, pick_y, start, end)
        check_route(route, ladder, pick_aisle, pick_y, start, end)


def test_pruning_keeps_the_optimum() -> None:
    """Bounding and dominance pruning give the same optimum as the plain DP on mid-size cases."""
    rng = random.Random(23)
    for _ in range(12):
        n_aisles = rng.randint(4, 10)
        n_cross = rng.randint(3, 5)
        ladder = Ladder(
            tuple(range(0, 2_500 * n_aisles, 2_500)), tuple(range(0, 8_000 * n_cross, 8_000))
        )
        n = rng.randint(8, 30)
        pick_aisle = [rng.randrange(n_aisles) for _ in range(n)]
        pick_y = [rng.randint(0, ladder.cross_y_mm[-1]) for _ in range(n)]
        start = (rng.randrange(n_cross), rng.randint(-1_000, 2_500 * n_aisles))
        end = start if rng.random() < 0.5 else (rng.randrange(n_cross), 0)
        route = shortest_route(ladder, pick_aisle, pick_y, start, end)
        inst, _, _ = ladder_module._build_instance(ladder, pick_aisle, pick_y, start, end)
        saved = ladder_module._DOMINANCE_MIN_STATES
        try:
            ladder_module._DOMINANCE_MIN_STATES = 10**9
            plain = ladder_module._run_dp(inst, 10**9)
        finally:
            ladder_module._DOMINANCE_MIN_STATES = saved
        assert route is not None
        assert plain is not None
        assert route.length_mm == plain[0]


def test_single_aisle_single_pick_closed_tour() -> None:
    """A lone pick in the only aisle is an out-and-back walk from the front."""
    ladder = Ladder((0,), (0, 10_000))
    route = shortest_route(ladder, [0], [4_000], (0, 0), (0, 0))
    assert route == LadderRoute(8_000, (0,))


def test_open_path_traverses_aisle_once() -> None:
    """Front-to-back open path through one aisle walks it once."""
    ladder = Ladder((0, 5_000), (0, 10_000))
    route = shortest_route(ladder, [0, 0], [3_000, 7_000], (0, 0), (1, 0))
    assert route == LadderRoute(10_000, (0, 1))


def test_depot_outside_aisles_adds_cross_aisle_walk() -> None:
    """A depot left of the first aisle pays the cross-aisle walk both ways."""
    ladder = Ladder((2_000,), (0, 10_000))
    route = shortest_route(ladder, [0], [1_000], (0, -1_000), (0, -1_000))
    assert route is not None
    assert route.length_mm == 2 * 3_000 + 2 * 1_000


def test_no_picks_is_direct_walk() -> None:
    """Without picks the route is the shortest start-to-end walk."""
    ladder = Ladder((0, 4_000), (0, 10_000, 20_000))
    assert shortest_route(ladder, [], [], (0, 1_000), (0, 1_000)) == LadderRoute(0, ())
    route = shortest_route(ladder, [], [], (0, 1_000), (2, 3_000))
    assert route == LadderRoute(1_000 + 20_000 + 3_000, ())


def test_picks_at_depot_cost_nothing() -> None:
    """Picks exactly at a closed tour's depot junction cost zero and are all listed."""
    ladder = Ladder((0, 4_000), (0, 10_000))
    route = shortest_route(ladder, [1, 1], [0, 0], (0, 4_000), (0, 4_000))
    assert route == LadderRoute(0, (0, 1))


def test_max_states_exceeded_returns_none() -> None:
    """A tiny state budget on a multi-block instance makes the solver give up with None."""
    ladder = Ladder(tuple(range(0, 30_000, 3_000)), (0, 10_000, 20_000, 30_000, 40_000))
    rng = random.Random(3)
    pick_aisle = [rng.randrange(10) for _ in range(30)]
    pick_y = [rng.randint(0, 40_000) for _ in range(30)]
    assert shortest_route(ladder, pick_aisle, pick_y, (0, 0), (0, 0), max_states=2) is None
    assert shortest_route(ladder, pick_aisle, pick_y, (0, 0), (0, 0)) is not None


def test_numpy_inputs_are_accepted() -> None:
    """numpy integer arrays give the same route, with a plain int length."""
    ladder = Ladder((0, 3_000, 6_000), (0, 10_000, 20_000))
    pick_aisle = [0, 2, 1, 2]
    pick_y = [4_000, 15_000, 10_000, 500]
    expected = shortest_route(ladder, pick_aisle, pick_y, (0, 1_000), (2, 0))
    got = shortest_route(
        ladder,
        np.array(pick_aisle),  # type: ignore[arg-type]
        np.array(pick_y),  # type: ignore[arg-type]
        (np.int64(0), np.int64(1_000)),  # type: ignore[arg-type]
        (2, 0),
    )
    assert got == expected
    assert got is not None
    assert type(got.length_mm) is int


def test_bool_pick_is_rejected() -> None:
    """A bool is not accepted as an aisle index."""
    with pytest.raises(InvalidInput, match=r"pick_aisle\[0\]"):
        shortest_route(Ladder((0,), (0, 1_000)), [True], [5], (0, 0), (0, 0))


def test_results_are_deterministic() -> None:
    """Two identical calls return identical routes."""
    ladder = Ladder(tuple(range(0, 30_000, 3_000)), (0, 10_000, 20_000))
    rng = random.Random(5)
    pick_aisle = [rng.randrange(10) for _ in range(25)]
    pick_y = [rng.randint(0, 20_000) for _ in range(25)]
    first = shortest_route(ladder, pick_aisle, pick_y, (0, 1_000), (2, 9_000))
    assert first == shortest_route(ladder, pick_aisle, pick_y, (0, 1_000), (2, 9_000))


@pytest.mark.parametrize(
    ("aisle_x", "cross_y", "field"),
    [
        ((), (0, 1), "aisle_x_mm"),
        ((0, 0), (0, 1), "aisle_x_mm[1]"),
        ((0,), (0,), "cross_y_mm"),
        ((0,), (5, 1), "cross_y_mm[1]"),
        ((0.5,), (0, 1), "aisle_x_mm[0]"),
    ],
)
def test_ladder_validation_names_field(
    aisle_x: tuple[int, ...], cross_y: tuple[int, ...], field: str
) -> None:
    """A malformed ladder raises InvalidInput naming the field."""
    with pytest.raises(InvalidInput) as info:
        Ladder(aisle_x, cross_y)
    assert info.value.violations[0].field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"pick_aisle": [0, 2]}, "pick_aisle[1]"),
        ({"pick_y_mm": [0, 20_000]}, "pick_y_mm[1]"),
        ({"pick_y_mm": [0]}, "pick_y_mm"),
        ({"start": (3, 0)}, "start"),
        ({"end": (0,)}, "end"),
        ({"max_states": 0}, "max_states"),
    ],
)
def test_request_validation_names_argument(kwargs: dict[str, object], field: str) -> None:
    """Bad arguments raise a ValueError naming the argument and value."""
    args: dict[str, object] = {
        "pick_aisle": [0, 1],
        "pick_y_mm": [0, 5_000],
        "start": (0, 0),
        "end": (0, 0),
        "max_states": 10,
    }
    args.update(kwargs)
    ladder = Ladder((0, 3_000), (0, 10_000))
    with pytest.raises(ValueError, match=field.replace("[", r"\[")) as info:
        shortest_route(ladder, **args)  # type: ignore[arg-type]
    assert isinstance(info.value, InvalidInput)
    assert info.value.violations[0].field == field


def test_deadline_returns_beam_route_marked_not_optimal(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the exact pass runs out of time the beam route comes back, flagged as not proven."""
    ladder = Ladder(tuple(range(0, 30_000, 3_000)), (0, 10_000, 20_000, 30_000, 40_000))
    rng = random.Random(5)
    pick_aisle = [rng.randrange(10) for _ in range(25)]
    pick_y = [rng.randint(0, 40_000) for _ in range(25)]
    exact = shortest_route(ladder, pick_aisle, pick_y, (0, 0), (0, 0))
    ticks = iter(range(10_000))
    monkeypatch.setattr("routing.ladder.time.monotonic", lambda: float(next(ticks)))
    # One clock reading per column: the beam pass (10 columns) fits, the exact pass does not.
    late = shortest_route(ladder, pick_aisle, pick_y, (0, 0), (0, 0), deadline=12.0)
    assert exact is not None and exact.optimal
    assert late is not None and not late.optimal
    assert late.length_mm >= exact.length_mm
    assert sorted(late.order) == list(range(25))


def test_one_block_route_is_exact_even_past_its_deadline() -> None:
    """Ratliff and Rosenthal's DP takes milliseconds: a route asked for with no time left (a
    wave's last carts) is still the shortest, not a fallback's."""
    ladder = Ladder(tuple(range(0, 30_000, 3_000)), (0, 46_000))
    rng = random.Random(6)
    pick_aisle = [rng.randrange(10) for _ in range(60)]
    pick_y = [rng.randint(1_000, 45_000) for _ in range(60)]
    exact = shortest_route(ladder, pick_aisle, pick_y, (0, 0), (0, 0))
    late = shortest_route(ladder, pick_aisle, pick_y, (0, 0), (0, 0), deadline=0.0)
    assert exact is not None and exact.optimal
    assert late is not None and late.optimal
    assert late.length_mm == exact.length_mm


def test_wide_sparse_instances_match_brute_force() -> None:
    """Many aisles, few picks, depots on other cross aisles: dropping idle aisles stays exact."""
    rng = random.Random(99)
    for _ in range(150):
        n_cross = rng.randint(3, 5)
        aisle_x = tuple(sorted(rng.sample(range(0, 90_000, 1_500), rng.randint(6, 12))))
        cross_y = tuple(sorted(rng.sample(range(0, 40_000, 2_500), n_cross)))
        picks = rng.randint(1, 4)
        pick_aisle = [rng.randrange(len(aisle_x)) for _ in range(picks)]
        pick_y = [rng.randint(cross_y[0], cross_y[-1]) for _ in range(picks)]
        start = (rng.randrange(n_cross), rng.randint(aisle_x[0] - 3_000, aisle_x[-1] + 3_000))
        end = (rng.randrange(n_cross), rng.randint(aisle_x[0] - 3_000, aisle_x[-1] + 3_000))
        ladder = Ladder(aisle_x, cross_y)
        route = shortest_route(ladder, pick_aisle, pick_y, start, end)
        ref = check_route(route, ladder, pick_aisle, pick_y, start, end)
        assert route is not None and route.length_mm == ref.brute_force_mm()


def optimal_path_profiles(
    inst: ladder_module._Instance, decisions: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Replay DP decisions; per step the cost so far after it and the successor's profile."""
    m = inst.m
    n_cols = len(inst.xs)
    work = [False] * (n_cols * m + 1)
    for idx in range(n_cols * m - 1, -1, -1):
        c, r = divmod(idx, m)
        work[idx] = work[idx + 1] or inst.required[c][r] or inst.kinds[c][r] >= 2
    state, cost = 0, 0
    out: list[tuple[int, int]] = []
    for idx, (oi, hr) in enumerate(decisions):
        c, r = divmod(idx, m)
        last = c == n_cols - 1
        sig = (m, r, inst.kinds[c][r], inst.parity[c][r], inst.required[c][r], last, work[idx + 1])
        cost += inst.option_costs[c][r][oi] + (0 if last else hr * (inst.xs[c + 1] - inst.xs[c]))
        (state, profile) = next(
            (ns, p) for ns, code, p in ladder_module._transitions(state, sig) if code == 3 * oi + hr
        )
        out.append((cost, profile))
        if state < 0:
            break
    return out


def test_profile_bound_never_exceeds_remaining_cost() -> None:
    """Along the optimal route, cost so far plus the profile bound never exceeds the optimum."""
    rng = random.Random(4242)
    checked = 0
    for _ in range(250):
        ladder, pick_aisle, pick_y, start, end = random_instance(rng, max_picks=9)
        if ladder.n_cross_aisles < 3:
            continue
        route = shortest_route(ladder, pick_aisle, pick_y, start, end)
        assert route is not None
        if route.length_mm == 0:  # answered before the DP runs
            continue
        inst, _, _ = ladder_module._build_instance(ladder, pick_aisle, pick_y, start, end)
        plain = ladder_module._run_dp(inst, 10**9)
        assert plain is not None
        optimum, decisions = plain
        assert optimum == route.length_mm
        bounds = ladder_module._profile_bounds(inst)
        for idx, (cost, profile) in enumerate(optimal_path_profiles(inst, decisions)):
            if idx + 1 < len(decisions):
                assert cost + bounds[idx][profile] <= optimum
        checked += 1
    assert checked > 100


def test_exact_pass_with_tight_upper_bound_matches_brute_force() -> None:
    """With the optimum itself as upper bound, the bounded exact pass still finds the optimum."""
    rng = random.Random(777)
    checked = 0
    for _ in range(300):
        ladder, pick_aisle, pick_y, start, end = random_instance(rng, max_picks=6)
        if ladder.n_cross_aisles < 3 or not pick_aisle:
            continue
        ref = Reference(ladder, pick_aisle, pick_y, start, end)
        optimum = ref.brute_force_mm()
        if optimum == 0:  # answered before the DP runs
            continue
        inst, _, _ = ladder_module._build_instance(ladder, pick_aisle, pick_y, start, end)
        bounds = ladder_module._profile_bounds(inst)
        solved = ladder_module._run_dp(inst, 10**9, upper=optimum, bounds=bounds)
        assert solved is not None and solved[0] == optimum
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("n_cross", [4, 5, 6])
def test_profile_bound_on_larger_multi_block_instances(n_cross: int) -> None:
    """On larger 4-6 cross-aisle instances the bound stays admissible and the solve stays exact."""
    rng = random.Random(n_cross)
    for _ in range(4):
        n_aisles = rng.randint(4, 7)
        ladder = Ladder(
            tuple(range(0, 4_000 * n_aisles, 4_000)), tuple(range(0, 9_000 * n_cross, 9_000))
        )
        n = rng.randint(8, 14)
        pick_aisle = [rng.randrange(n_aisles) for _ in range(n)]
        pick_y = [rng.randint(0, ladder.cross_y_mm[-1]) for _ in range(n)]
        start = (rng.randrange(n_cross), rng.randint(-1_000, 4_000 * n_aisles))
        end = start if rng.random() < 0.5 else (rng.randrange(n_cross), 0)
        inst, _, _ = ladder_module._build_instance(ladder, pick_aisle, pick_y, start, end)
        plain = ladder_module._run_dp(inst, 10**9)
        assert plain is not None
        optimum, decisions = plain
        bounds = ladder_module._profile_bounds(inst)
        for idx, (cost, profile) in enumerate(optimal_path_profiles(inst, decisions)):
            if idx + 1 < len(decisions):
                assert cost + bounds[idx][profile] <= optimum
        route = shortest_route(ladder, pick_aisle, pick_y, start, end)
        check_route(route, ladder, pick_aisle, pick_y, start, end)
        assert route is not None and route.length_mm == optimum


def test_route_length_is_the_shortest_routes_length() -> None:
    """route_length (no visiting order) gives exactly shortest_route's length and status."""
    rng = random.Random(31)
    for _ in range(300):
        instance = random_instance(rng, max_picks=rng.randint(1, 12))
        route = shortest_route(*instance)
        assert route is not None
        assert route_length(*instance) == (route.length_mm, route.optimal)
