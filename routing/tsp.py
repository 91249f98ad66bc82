"""Route solvers over a precomputed distance matrix: exact, heuristic, OR-Tools and bounds.

Every solver takes the same input: ``matrix``, a square ``int64`` array of travel distances in
millimetres between the nodes of one pick route (depots and bins), possibly asymmetric because of
one-way aisles, with a zero diagonal; and the node indices ``start`` and ``end``. When they are
equal the route is a closed tour, otherwise an open path. Every other node is visited exactly once.

A solution is ``order``, the visiting sequence of the nodes other than ``start`` and ``end`` (the
path is ``start, *order, end``); its cost is the sum of the matrix along that path.

Costs stay integer millimetres throughout, because OR-Tools and LKH silently round floats and
because integer costs make "never worse than the input" an exact statement.
"""

from __future__ import annotations

import math
import random
import time
from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from routing import oropt
from routing.errors import InvalidInput

IntArray = npt.NDArray[np.int64]
Order = tuple[int, ...]

HELD_KARP_MAX_NODES: Final = 15
"""Largest number of inner nodes (nodes other than start and end) :func:`held_karp` accepts.

Chosen as the largest count the vectorised DP solves in about 20 ms on one core; every extra node
more than doubles time and memory.
"""

_MAX_ARC_MM: Final = 1 << 40
"""Upper limit on a single arc, so that sums of a route plus sentinels never overflow int64."""

_KICK_SPAN: Final = 12
"""Longest segment a kick moves.

Measured on the 100 60-bin lists of the irregular benchmark hall (two seeds each, gap to LKH-3
against search time under a range of stall limits): 12 was better than 20 at equal time (e.g.
0.07 % against 0.10 % mean gap at 480 fruitless kicks, in 72 ms against 81 ms median), because
its kicks are repaired in fewer moves; 8 was worse (0.12 % at 480). Earlier runs at equal kick
counts found 5 too local (the search falls back into the same optimum) and 30-60 too
disruptive to repair.
"""

_TRAJECTORIES: Final = 4
"""Search trajectories of :func:`improve`, kicked in turn.

One starts from the given route, the others from randomised nearest-neighbour routes. On 60-bin
lists in the irregular benchmark hall (one-way aisles) a single trajectory stalled in deep local
optima: at equal kick counts one trajectory left about twice the gap to LKH-3 of four.
"""

_RANDOM_START_CHOICES: Final = 3
"""Closest unvisited nodes among which a randomised nearest-neighbour start picks each step."""

_STALL_PER_NODE: Final = 5
"""Default stall limit of :func:`improve` per inner node (300 kicks at 60 bins).

On 60-bin lists in the irregular benchmark hall (30-40 lists per run, noisy), 300 fruitless kicks
left a mean gap to LKH-3 of 0.05-0.2 %, 500-600 of 0.01-0.1 %, 1000 no measurably less for about
twice the time. Re-measured with kick span 12 on all 100 lists, two seeds each: 300 kicks 0.14 %
in 52 ms median search time, 400 0.11 % in 63 ms, 480 0.07 % in 72 ms, 700 0.05 % in 99 ms.
Adaptive rules (stall limit growing with the kick of the last improvement, stopping once several
trajectories agree on the best cost) were no better at equal time: the trajectories often agree
on a suboptimal route, and the lists that improve late do so after long plateaus.

Lowered from 8 to 5 per node once the candidate lists gained alpha-nearest arcs and the local
search skipped hopeless nodes without a call: on the 100 lists through ``route.solve`` (seed 0,
alternating with the old search) 0.082 % mean gap (18 lists worse than LKH-3) in 49 ms median,
against 0.068 % (16) in 70 ms at 8. Over four seeds the mean gap at 300 kicks is about 0.11 %;
260 kicks gave 0.16 %, 360 kicks 0.11 % in 53 ms without the alpha arcs. Replacing the worst
trajectory by a copy of the best every 50 or 100 fruitless kicks, three or five trajectories, or
kick span 10 were all worse at 300 kicks (0.13-0.17 % against 0.12 %, seeds 0 and 1).
"""

_MIN_STALL: Final = 100
"""Smallest default stall limit, so that short routes still get a fair number of kicks."""

QUICK_BOUND_ITERATIONS: Final = 15
"""Subgradient iterations of the lower bound :func:`routing.route.solve` reports after a local
search.

On the 60-bin lists of the irregular benchmark hall (asymmetric, one-way aisles) 30 iterations
take about 7 ms and leave the bound 7.7 % below the LKH-3 route on average, 15 iterations about
4 ms and 9.3 %, 10 iterations 2.5 ms and 10.9 %. The bound there never proves a route optimal
either way, so half the iterations buy a tenth of the solve time for a somewhat weaker bound.
"""

_INF: Final = 1 << 61
"""Sentinel for "impossible" in int64 arithmetic; ``_INF + any route cost`` still fits in int64."""

# --------------------------------------------------------------------------------------------
# Validation and evaluation
# --------------------------------------------------------------------------------------------


def _validated(matrix: npt.ArrayLike, start: int, end: int) -> IntArray:
    """Return ``matrix`` as a C-contiguous int64 array after checking the shared input convention.

    Raises
    ------
    InvalidInput
        If the matrix is not square, not integer, negative, too large, or a node index is out of
        range.
    """
    arr = np.asarray(matrix)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise InvalidInput.single("matrix", f"must be a non-empty square matrix, got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise InvalidInput.single("matrix", f"must hold integer millimetres, got {arr.dtype}")
    n = arr.shape[0]
    for name, node in (("start", start), ("end", end)):
        if not 0 <= node < n:
            raise InvalidInput.single(name, f"node {node} is outside 0..{n - 1}")
    if arr.size and (arr.min() < 0 or arr.max() >= _MAX_ARC_MM):
        raise InvalidInput.single("matrix", f"arcs must lie in 0..{_MAX_ARC_MM - 1} mm")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _inner_nodes(n: int, start: int, end: int) -> list[int]:
    """Nodes to visit between ``start`` and ``end``, in index order."""
    return [v for v in range(n) if v != start and v != end]


def _check_order(n: int, start: int, end: int, order: Order) -> None:
    """Raise :class:`InvalidInput` unless ``order`` visits every inner node exactly once."""
    if sorted(order) != _inner_nodes(n, start, end):
        raise InvalidInput.single(
            "order", f"must visit every node except start={start} and end={end} exactly once"
        )


def route_cost(matrix: npt.ArrayLike, start: int, end: int, order: Order) -> int:
    """Length in millimetres of the path ``start, *order, end``.

    Parameters
    ----------
    matrix
        Square int64 distance matrix in millimetres, possibly asymmetric.
    start, end
        First and last node of the route; equal for a closed tour.
    order
        The other nodes in visiting order, each exactly once.

    Returns
    -------
    int
        Sum of the arcs along the path.

    Raises
    ------
    InvalidInput
        If the matrix or node indices are malformed or ``order`` is not a permutation of the inner
        nodes.
    """
    mat = _validated(matrix, start, end)
    _check_order(mat.shape[0], start, end, order)
    return _path_cost(mat, np.array([start, *order, end], dtype=np.intp))


def _path_cost(mat: IntArray, path: npt.NDArray[np.intp]) -> int:
    """Sum of the arcs along a full node sequence (no validation)."""
    return int(mat[path[:-1], path[1:]].sum())


# --------------------------------------------------------------------------------------------
# Construction
# --------------------------------------------------------------------------------------------


def nearest_neighbour(matrix: npt.ArrayLike, start: int, end: int) -> Order:
    """Greedy construction: from ``start``, always walk to the closest unvisited node.

    Cheap (O(n^2)) and used as the seed of the local searches, not as an answer on its own: greedy
    routes strand far bins and return for them late.

    Returns
    -------
    tuple of int
        Visiting order of the inner nodes.
    """
    mat = _validated(matrix, start, end)
    n = mat.shape[0]
    unvisited = np.ones(n, dtype=bool)
    unvisited[start] = unvisited[end] = False
    order: list[int] = []
    current = start
    for _ in range(int(unvisited.sum())):
        row = np.where(unvisited, mat[current], _INF)
        current = int(np.argmin(row))
        unvisited[current] = False
        order.append(current)
    return tuple(order)


# --------------------------------------------------------------------------------------------
# Exact: Held-Karp
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _subset_steps(k: int) -> tuple[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]], ...]:
    """DP steps over ``k`` items: ``(masks, masks_without_j)`` for each size >= 2 and each item j.

    Steps come in order of increasing subset size, so each reads only finished table rows.
    """
    masks = np.arange(1 << k, dtype=np.intp)
    sizes = np.zeros(1 << k, dtype=np.intp)
    for bit in range(k):
        sizes += (masks >> bit) & 1
    steps = []
    for size in range(2, k + 1):
        group = masks[sizes == size]
        for j in range(k):
            sel = group[(group >> j) & 1 == 1]
            prev = sel ^ (1 << j)
            sel.setflags(write=False)
            prev.setflags(write=False)
            steps.append((sel, prev))
    return tuple(steps)


def held_karp(matrix: npt.ArrayLike, start: int, end: int) -> tuple[Order, int]:
    """Optimal route by Held-Karp dynamic programming over subsets of inner nodes.

    ``dp[mask, j]`` is the shortest path from ``start`` through exactly the inner nodes in ``mask``
    ending at inner node ``j``; one numpy step per (subset size, ``j``) fills every subset of that
    size ending at ``j``, so Python overhead is O(k^2) rather than O(2^k * k).

    Parameters
    ----------
    matrix
        Square int64 distance matrix in millimetres, possibly asymmetric.
    start, end
        First and last node; equal for a closed tour.

    Returns
    -------
    tuple
        ``(order, cost)`` of an optimal route.

    Raises
    ------
    ValueError
        If there are more than :data:`HELD_KARP_MAX_NODES` inner nodes (an
        :class:`~routing.errors.InvalidInput`, itself a ValueError, for malformed input).
    """
    mat = _validated(matrix, start, end)
    inner = _inner_nodes(mat.shape[0], start, end)
    k = len(inner)
    if k > HELD_KARP_MAX_NODES:
        raise ValueError(f"held_karp handles at most {HELD_KARP_MAX_NODES} inner nodes, got {k}")
    if k <= 1:
        order = tuple(inner)
        return order, _path_cost(mat, np.array([start, *order, end], dtype=np.intp))
    idx = np.array(inner, dtype=np.intp)
    inner_cost = mat[np.ix_(idx, idx)]  # inner_cost[i, j]: arc inner[i] -> inner[j]
    bits = np.left_shift(1, np.arange(k, dtype=np.intp))

    dp = np.full((1 << k, k), _INF, dtype=np.int64)
    dp[bits, np.arange(k)] = mat[start, idx]
    for step, (masks, prev) in enumerate(_subset_steps(k)):
        j = step % k
        dp[masks, j] = (dp[prev] + inner_cost[:, j]).min(axis=1)

    full = (1 << k) - 1
    final = dp[full] + mat[idx, end]
    last = int(np.argmin(final))
    cost = int(final[last])

    # Walk back through the table instead of storing parent pointers.
    reversed_order = [last]
    mask = full
    while mask != bits[last]:
        prev_mask = mask ^ int(bits[last])
        target = dp[mask, last]
        options = dp[prev_mask] + inner_cost[:, last]
        last = int(np.flatnonzero(options == target)[0])
        reversed_order.append(last)
        mask = prev_mask
    order = tuple(inner[j] for j in reversed(reversed_order))
    return order, cost


# --------------------------------------------------------------------------------------------
# Iterated local search (its moves live in routing.oropt)
# --------------------------------------------------------------------------------------------


def _randomised_nearest_neighbour(
    mat: IntArray, start: int, end: int, rng: np.random.Generator
) -> npt.NDArray[np.intp]:
    """A full path built like :func:`nearest_neighbour`, but each step walks to one of the
    :data:`_RANDOM_START_CHOICES` closest unvisited nodes, chosen uniformly.

    Diverse starting routes that are still short, so they descend in far fewer moves than
    random orders.
    """
    n = mat.shape[0]
    # Visited nodes' columns are set to _INF as they are visited, so that a row of ``work`` is
    # the masked row itself (one strided write per step instead of a fresh masked array).
    work = mat.copy()
    work[:, start] = work[:, end] = _INF
    left = n - 2 if start != end else n - 1
    path = np.empty(left + 2, dtype=np.intp)
    path[0], path[-1] = start, end
    current = start
    integers = rng.integers
    for step in range(1, left + 1):
        k = min(_RANDOM_START_CHOICES, left - step + 1)
        closest = work[current].argpartition(k - 1)[:k]
        current = int(closest[int(integers(k))])
        work[:, current] = _INF
        path[step] = current
    return path


def improve(
    matrix: npt.ArrayLike,
    start: int,
    end: int,
    order: Order,
    *,
    deadline: float,
    seed: int,
    max_iterations: int | None = None,
    stall: int | None = None,
    target: int | None = None,
    trajectories: int | None = None,
) -> tuple[Order, int]:
    """Improve a route by iterated local search until a stopping rule fires.

    Local search (:mod:`routing.oropt`): first-improvement sequential 3-opt with candidate lists
    (nearest plus alpha-nearest successors), Lin-Kernighan's gain criterion and don't-look bits,
    covering 2-opt, Or-opt for segments of any length in either orientation and the 3-opt
    segment exchange, all priced exactly for asymmetric matrices. :data:`_TRAJECTORIES`
    trajectories take turns, one from ``order`` and the others from randomised nearest-neighbour
    routes; each turn kicks the trajectory's route (a four-arc segment exchange), repairs it
    around the changed arcs only, and keeps the result when it is not longer (accepting equal
    routes lets the search drift across plateaus). The best route of all trajectories is
    returned.

    The search stops at the first of: ``deadline`` (the hard limit, also checked between
    moves); ``max_iterations`` kicks; ``stall`` consecutive kicks without a strict improvement
    of the best cost; a best cost at or below ``target``.

    Parameters
    ----------
    matrix
        Square int64 distance matrix in millimetres, possibly asymmetric.
    start, end
        First and last node; equal for a closed tour.
    order
        Starting route; the result is never worse.
    deadline
        :func:`time.monotonic` value at which to stop and return the best route so far.
    seed
        Seed of the random starts and kicks; unless the deadline stops the search, the result is
        identical for identical input and arguments.
    max_iterations
        Maximum number of kicks (summed over the trajectories) after the first local optima;
        ``None`` for no limit.
    stall
        Stop after this many consecutive kicks (summed over the trajectories) none of which
        strictly shortened the best route. ``None`` (the default) means
        ``max(_MIN_STALL, _STALL_PER_NODE * inner nodes)``; ``0`` disables the rule.
    target
        Stop as soon as the best cost is at most this many millimetres, e.g. a known lower bound,
        which proves the route optimal; ``None`` for no target.
    trajectories
        Search trajectories; ``None`` (the default) means :data:`_TRAJECTORIES`, 1 searches
        from ``order`` only, for a quick estimate.

    Returns
    -------
    tuple
        ``(order, cost)`` of the best route found.

    Raises
    ------
    InvalidInput
        If the matrix, node indices or ``order`` are malformed, or ``stall`` is negative.
    """
    mat = _validated(matrix, start, end)
    _check_order(mat.shape[0], start, end, order)
    if stall is None:
        stall = max(_MIN_STALL, _STALL_PER_NODE * len(order))
    if stall < 0:
        raise InvalidInput.single("stall", f"must be non-negative, got {stall}")
    if trajectories is None:
        trajectories = _TRAJECTORIES
    if trajectories < 1:
        raise InvalidInput.single("trajectories", f"must be at least 1, got {trajectories}")
    nodes = np.array([start, *order, end], dtype=np.intp)
    cost = _path_cost(mat, nodes)
    m = nodes.shape[0]
    if m <= 3:
        return tuple(order), cost
    # The search runs over positions of the input path: 0 is the start, m - 1 the end (a
    # separate position even for a closed tour), so that every position is visited once.
    local = mat[np.ix_(nodes, nodes)]
    # Searched in units of the arcs' greatest common divisor (500 mm in a hall laid out on a
    # half-metre grid): every comparison of the search scales exactly, so the route is the same,
    # but Python caches small integers, and smaller sums allocate fewer new ones (about 3 % of
    # the search time at 60 bins).
    unit = int(np.gcd.reduce(local, axis=None)) or 1
    if unit > 1:
        local //= unit
    rng = np.random.default_rng(seed)
    starts = [list(range(m))] + [
        _randomised_nearest_neighbour(local, 0, m - 1, rng).tolist()
        for _ in range(trajectories - 1)
    ]
    path, best = oropt.search(
        local.tolist(),
        starts,
        rng=random.Random(seed),
        deadline=deadline,
        span=_KICK_SPAN,
        max_iterations=max_iterations,
        stall=stall,
        target=None if target is None else target // unit,
    )
    best *= unit
    if best >= cost:  # never worse than the input, and the input itself when not better
        return tuple(order), cost
    return tuple(int(nodes[v]) for v in path[1:-1]), best


# --------------------------------------------------------------------------------------------
# OR-Tools routing
# --------------------------------------------------------------------------------------------


def ortools_route(
    matrix: npt.ArrayLike,
    start: int,
    end: int,
    *,
    time_limit_s: float,
    initial_order: Order | None = None,
    guided: bool = True,
) -> tuple[Order, int]:
    """Route by OR-Tools' routing solver: one vehicle from ``start`` to ``end``.

    The matrix is handed over once with ``RegisterTransitMatrix`` so no Python callback runs per
    arc. The first solution is ``initial_order`` when given (read with ``ReadAssignmentFromRoutes``)
    or PATH_CHEAPEST_ARC otherwise; guided local search then improves it until the time limit.
    A fresh ``RoutingModel`` is built per call.

    Parameters
    ----------
    matrix
        Square int64 distance matrix in millimetres, possibly asymmetric.
    start, end
        First and last node; equal for a closed tour.
    time_limit_s
        Wall-clock limit of the search in seconds (must be positive).
    initial_order
        Optional starting route; the result is never worse than it.
    guided
        Use guided local search until the time limit; if false, plain greedy descent that stops at
        the first local optimum (still bounded by the time limit).

    Returns
    -------
    tuple
        ``(order, cost)`` of the best route found.
    """
    # Imported here: loading OR-Tools takes a noticeable fraction of a second, and the exact and
    # numpy solvers of this module do not need it.
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    mat = _validated(matrix, start, end)
    n = mat.shape[0]
    if not time_limit_s > 0:
        raise InvalidInput.single("time_limit_s", f"must be positive, got {time_limit_s}")
    if initial_order is not None:
        _check_order(n, start, end, initial_order)
    inner = _inner_nodes(n, start, end)
    if len(inner) <= 1:
        order = tuple(inner)
        return order, _path_cost(mat, np.array([start, *order, end], dtype=np.intp))

    manager = pywrapcp.RoutingIndexManager(n, 1, [start], [end])
    model = pywrapcp.RoutingModel(manager)
    transit = model.RegisterTransitMatrix(mat.tolist())
    model.SetArcCostEvaluatorOfAllVehicles(transit)

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        if guided
        else routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    )
    micros = max(1, round(time_limit_s * 1e6))
    params.time_limit.seconds = micros // 1_000_000
    params.time_limit.nanos = (micros % 1_000_000) * 1000

    initial = None
    if initial_order is not None:
        model.CloseModelWithParameters(params)
        route = [manager.NodeToIndex(v) for v in initial_order]
        initial = model.ReadAssignmentFromRoutes([route], True)
    if initial is not None:
        solution = model.SolveFromAssignmentWithParameters(initial, params)
    else:
        solution = model.SolveWithParameters(params)

    candidates: list[Order] = []
    if solution is not None:
        found: list[int] = []
        index = solution.Value(model.NextVar(model.Start(0)))
        while not model.IsEnd(index):
            found.append(manager.IndexToNode(index))
            index = solution.Value(model.NextVar(index))
        candidates.append(tuple(found))
    if initial_order is not None:
        candidates.append(tuple(initial_order))
    if not candidates:
        candidates.append(nearest_neighbour(mat, start, end))
    scored = [(_path_cost(mat, np.array([start, *c, end], dtype=np.intp)), c) for c in candidates]
    cost, order = min(scored, key=lambda sc: sc[0])
    return order, cost


# --------------------------------------------------------------------------------------------
# Lower bounds
# --------------------------------------------------------------------------------------------


def _prim_parents(cost: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """Minimum spanning tree of a dense symmetric cost matrix by Prim's algorithm.

    O(n^2) with one vectorised step per node; on complete graphs of tens of nodes this beats
    scipy's sparse MST, whose input conversion dominates at that size.

    Returns
    -------
    ndarray
        ``parent[v]`` for every node ``v >= 1``; node 0 is the root (``parent[0] == 0``).
    """
    n = cost.shape[0]
    work = cost.copy()
    work[:, 0] = np.inf
    key = work[0].copy()
    order = np.zeros(n, dtype=np.intp)
    # Methods and ``out=`` arguments instead of np.argmin and fresh arrays, and no parent
    # bookkeeping in the loop: at 60 nodes the per-call overhead is most of the cost of a step.
    minimum, inf = np.minimum, np.inf
    for j in range(1, n):
        v = int(key.argmin())
        order[j] = v
        work[:, v] = inf  # v joins the tree: never a candidate again
        minimum(key, work[v], out=key)
        key[v] = inf
    # The parent of the j-th node to join is the node joined before it with the cheapest edge to
    # it, the earliest joined on ties (as the loop's strict "closer" test would have kept).
    joined = cost[np.ix_(order, order)]
    joined[np.tri(n, dtype=bool)] = inf  # row i >= column j: joined at or after it
    parent = np.zeros(n, dtype=np.intp)
    parent[order[1:]] = order[joined[:, 1:].argmin(axis=0)]
    return parent


def _one_tree_bound(sym: npt.NDArray[np.float64], upper: float, iterations: int) -> float:
    """Held-Karp 1-tree bound of a symmetric TSP with subgradient optimisation of node penalties.

    For any penalties ``pi`` the cheapest 1-tree (a spanning tree on nodes 1..n-1 plus the two
    cheapest edges at node 0) under costs ``c_ij + pi_i + pi_j`` minus ``2 * sum(pi)`` is at most
    the shortest tour, because every tour is a 1-tree whose degrees are all 2. Subgradient steps
    ``pi += t * (degree - 2)`` raise the bound (Held and Karp, 1970/71).
    """
    n = sym.shape[0]
    if n < 3:
        return float(sym[0, 1] + sym[1, 0]) if n == 2 else 0.0
    pi = np.zeros(n)
    best = -math.inf
    step_scale = 1.0
    stale = 0
    rest = np.arange(1, n)
    for _ in range(iterations):
        cost = sym + pi[:, None] + pi[None, :]
        sub = cost[1:, 1:]
        parent = _prim_parents(sub)
        children = np.arange(1, n - 1)
        tree_cost = float(sub[children, parent[1:]].sum())
        degree = np.ones(n)  # each tree node except the root has one parent edge ...
        degree += np.bincount(parent[1:] + 1, minlength=n)  # ... plus one edge per child
        two = np.argpartition(cost[0, 1:], 1)[:2]
        degree[0] = 2
        degree[1] -= 1  # the root (node 1) has no parent edge
        degree[rest[two]] += 1
        value = tree_cost + float(cost[0, 1:][two].sum()) - 2.0 * float(pi.sum())
        if value > best + 1e-9:
            best, stale = value, 0
            if _ceil_safe(best) >= upper:  # integer costs: the bound already proves ``upper``
                break
        else:
            stale += 1
            if stale >= 2:
                step_scale, stale = step_scale / 2.0, 0
        grad = degree - 2.0
        norm = float(grad @ grad)
        if norm == 0.0:  # the 1-tree is a tour: the bound is optimal
            break
        gap = max(upper - value, 1e-9 * max(1.0, abs(upper)))
        pi += step_scale * gap / norm * grad
        if step_scale < 1e-4:
            break
    return best


def _assignment_bound(mat: IntArray) -> int:
    """Assignment-problem bound of an asymmetric tour: every tour gives each node one successor."""
    n = mat.shape[0]
    cost = mat.copy()
    np.fill_diagonal(cost, _MAX_ARC_MM * n)
    rows, cols = linear_sum_assignment(cost)
    return int(cost[rows, cols].sum())


def lower_bound(
    matrix: npt.ArrayLike,
    start: int,
    end: int,
    *,
    upper_bound: int | None = None,
    iterations: int = 30,
) -> int:
    """A value no route from ``start`` to ``end`` can beat, in millimetres.

    An open path ``start -> ... -> end`` becomes a closed tour by adding the arc ``end -> start``
    at cost 0 (symmetrically, the edge {start, end} at cost 0): every path then maps to a tour of
    equal cost, so any tour bound under these costs bounds the path. Lowering costs only weakens
    a relaxation, never invalidates it.

    Symmetric matrices get the Held-Karp 1-tree bound with subgradient optimisation; asymmetric
    ones the better of the assignment bound (``scipy.optimize.linear_sum_assignment``) and the
    1-tree bound of ``min(c_ij, c_ji)``. Routes with at most two inner nodes are solved exactly.

    Parameters
    ----------
    matrix
        Square int64 distance matrix in millimetres, possibly asymmetric.
    start, end
        First and last node; equal for a closed tour.
    upper_bound
        Cost of a known route, which sets the subgradient step sizes (a tighter one gives a
        tighter bound in the same iterations). When omitted, a quick local search from the nearest
        neighbour route supplies it. It never affects validity.
    iterations
        Maximum subgradient iterations of the 1-tree bound (about 0.2 ms each at 60 nodes); the
        iterations stop early once the bound reaches ``upper_bound``, which it cannot exceed.

    Returns
    -------
    int
        A lower bound on the optimal route cost (rounded up, since costs are integers).
    """
    mat = _validated(matrix, start, end)
    n = mat.shape[0]
    if len(_inner_nodes(n, start, end)) <= 2:
        return held_karp(mat, start, end)[1]
    tour = mat.copy()
    if start != end:
        tour[end, start] = 0
    if upper_bound is None:
        upper_bound = improve(
            mat,
            start,
            end,
            nearest_neighbour(mat, start, end),
            deadline=time.monotonic() + 0.005,
            seed=0,
            max_iterations=0,
        )[1]
    upper = float(upper_bound)
    if np.array_equal(mat, mat.T):
        sym = tour.astype(np.float64)
        sym[start, end] = sym[end, start] = 0.0
        value = _one_tree_bound(sym, upper, iterations)
        return max(0, _ceil_safe(value))
    sym = np.minimum(tour, tour.T).astype(np.float64)
    value = max(float(_assignment_bound(tour)), _one_tree_bound(sym, upper, iterations))
    return max(0, _ceil_safe(value))


def _ceil_safe(value: float) -> int:
    """Round a float bound up to an integer, first shaving off float rounding noise."""
    return math.ceil(value - 1e-9 * max(1.0, abs(value)) - 1e-6)
