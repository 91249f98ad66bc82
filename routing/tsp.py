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

import bisect
import math
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from routing.errors import InvalidInput

IntArray = npt.NDArray[np.int64]
SearchArray = npt.NDArray[np.signedinteger[Any]]
Order = tuple[int, ...]

HELD_KARP_MAX_NODES: Final = 15
"""Largest number of inner nodes (nodes other than start and end) :func:`held_karp` accepts.

Chosen as the largest count the vectorised DP solves in about 20 ms on one core; every extra node
more than doubles time and memory.
"""

_MAX_ARC_MM: Final = 1 << 40
"""Upper limit on a single arc, so that sums of a route plus sentinels never overflow int64."""

_KICK_SPAN: Final = 20
"""Longest segment a kick moves: local kicks re-optimise in a few moves (tuned at 60 nodes)."""

_TRAJECTORIES: Final = 4
"""Independent search trajectories of :func:`improve`, kicked together in one vectorised batch.

One starts from the given route, the others from randomised nearest-neighbour routes. On 60-bin
lists in the irregular benchmark hall (one-way aisles) a single trajectory kicked from the best
route stalled in deep local optima; several trajectories escape them more often for little more
time per kick (measured while developing the search, before the 3-opt segment moves were added;
current figures are in benchmarks/results/routing.md).
"""

_RANDOM_START_CHOICES: Final = 3
"""Closest unvisited nodes among which a randomised nearest-neighbour start picks each step."""

_STALL_PER_NODE: Final = 8
"""Default stall limit of :func:`improve` per inner node (480 kicks at 60 bins)."""

_MIN_STALL: Final = 100
"""Smallest default stall limit, so that short routes still get a fair number of kicks."""

_MAX_SEGMENT: Final = 3
"""Longest segment Or-opt relocates."""

_NEIGHBOURS: Final = 8
"""Nearest nodes (by outgoing arc) that may follow the first cut of a 3-opt segment move.

Measured on 60-bin lists in the irregular benchmark hall after 400 kicks: 8 neighbours gave a
mean gap to LKH-3 of 0.18 % (closed tours) and 0.04 % (open paths), 5 neighbours 0.18 % and 0.13 %
in about 10 % less time.
"""

_INF: Final = 1 << 61
"""Sentinel for "impossible" in int64 arithmetic; ``_INF + any route cost`` still fits in int64."""

_INF32: Final = 1 << 30
"""Sentinel for the int32 move arithmetic, used when every move delta stays below 2**29."""


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
# Iterated local search: vectorised 2-opt + Or-opt
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _MoveTable:
    """Legality penalties and layout of all 2-opt and Or-opt moves on a path of ``m`` positions.

    Penalties are 0 where a move is legal and ``_INF`` where not, so one ``argmin`` over the
    penalised deltas finds the best legal move without boolean indexing.
    """

    two_opt: SearchArray
    """Over ``(i, j)``, ``1 <= i < j <= m - 2``: reverse positions i..j."""
    or_opt: tuple[SearchArray, ...]
    """One per segment length L = 1, 2, ...: over ``(t, i)``, move positions i..i+L-1 between
    positions t and t+1."""
    offsets: tuple[int, ...]
    """Start of each block of moves in the flat list of candidate moves."""
    blocks: tuple[tuple[int, bool], ...]
    """What each block holds: ``(0, False)`` for 2-opt, ``(L, reversed)`` for Or-opt of length
    L (a single node has no reversed block)."""
    size: int
    """Number of moves in all blocks; the 3-opt blocks of :func:`_swap_blocks` follow."""


@lru_cache(maxsize=64)
def _move_table(m: int, narrow: bool) -> _MoveTable:
    """Build (once per path length) the move table for a path of ``m`` positions.

    ``narrow`` selects int32 penalties for int32 move arithmetic, int64 otherwise.
    """
    k = m - 2
    dtype: type[np.signedinteger[Any]] = np.int32 if narrow else np.int64
    inf = _INF32 if narrow else _INF
    pos = np.arange(1, m - 1)
    two_opt: SearchArray = np.where(pos[None, :] > pos[:, None], 0, inf).astype(dtype)
    two_opt.setflags(write=False)
    or_opt: list[SearchArray] = []
    offsets = [0, k * k]
    blocks: list[tuple[int, bool]] = [(0, False)]
    for length in range(1, min(_MAX_SEGMENT, k) + 1):
        starts = np.arange(1, m - length)
        slots = np.arange(0, m - 1)
        legal = (slots[:, None] <= starts[None, :] - 2) | (
            slots[:, None] >= starts[None, :] + length
        )
        mask: SearchArray = np.where(legal, 0, inf).astype(dtype)
        mask.setflags(write=False)
        or_opt.append(mask)
        for reverse in (False, True) if length > 1 else (False,):
            blocks.append((length, reverse))
            offsets.append(offsets[-1] + mask.size)
    return _MoveTable(two_opt, tuple(or_opt), tuple(offsets[:-1]), tuple(blocks), offsets[-1])


def _best_moves(
    mat: SearchArray, paths: npt.NDArray[np.intp], nbr: npt.NDArray[np.intp] | None = None
) -> tuple[SearchArray, npt.NDArray[np.intp]]:
    """Best 2-opt or Or-opt move for each of a batch of paths of equal length.

    With neighbour lists ``nbr`` (see :func:`_neighbours`), the best 3-opt segment move of
    :func:`_swap_blocks` instead, its index offset by ``_MoveTable.size``.

    Every move of every path is priced in one pass of array arithmetic on the path-ordered
    matrices ``mp[b, x, y] = mat[paths[b, x], paths[b, y]]``; batching several paths amortises
    numpy's per-call overhead, which dominates at pick-route sizes. Reversing a segment in an
    asymmetric matrix changes its internal cost by ``prefix[j] - prefix[i]``, where ``prefix``
    accumulates backward minus forward arc costs along the path.

    Returns
    -------
    tuple
        ``(delta, move)`` arrays: the cost change of each path's best move and its index in the
        flat move layout of :class:`_MoveTable` (decoded by :func:`_apply_move`).
    """
    batch, m = paths.shape
    table = _move_table(m, mat.dtype == np.int32)
    n = mat.shape[0]
    mp = mat.take(paths[:, :, None] * n + paths[:, None, :])
    fwd = mp.diagonal(1, 1, 2)  # fwd[b, s] = cost of arc s -> s+1
    prefix = np.zeros((batch, m), dtype=mat.dtype)
    np.cumsum(mp.diagonal(-1, 1, 2) - fwd, axis=1, out=prefix[:, 1:])

    if nbr is not None:
        pos = _positions(paths, n)
        target = pos[np.arange(batch)[:, None, None], nbr[paths[:, : m - 2]]]
        swaps = np.concatenate(_swap_blocks(mp, fwd, prefix, target), axis=1)
        best = swaps.argmin(axis=1)
        return swaps[np.arange(batch), best], best + table.size
    inner_prefix = prefix[:, 1 : m - 1]
    two_opt = (
        mp[:, : m - 2, 1 : m - 1]
        + mp[:, 1 : m - 1, 2:]
        - fwd[:, : m - 2, None]
        - fwd[:, None, 1 : m - 1]
        + inner_prefix[:, None, :]
        - inner_prefix[:, :, None]
        + table.two_opt
    )
    blocks = [two_opt.reshape(batch, -1)]
    into = mp[:, : m - 1, 1 : m - 1]  # into[b, t, v - 1] = cost t -> v
    out_of = np.ascontiguousarray(mp[:, 1 : m - 1, 1:].transpose(0, 2, 1))  # [b, t, v-1]: v -> t+1
    slot_cost = fwd[:, :, None]
    for length, mask in enumerate(table.or_opt, start=1):
        count = m - 1 - length  # segment starts i = 1..count, ends e = i + length - 1
        removed = fwd[:, :count] + fwd[:, length:] - mp.diagonal(length + 1, 1, 2)
        base = mask - removed[:, None, :] - slot_cost
        last = length - 1
        forward = base + into[:, :, :count] + out_of[:, :, last : last + count]
        blocks.append(forward.reshape(batch, -1))
        if length > 1:  # a reversed single node is the node itself
            reversal = prefix[:, length : length + count] - prefix[:, 1 : 1 + count]
            backward = (
                base + into[:, :, last : last + count] + out_of[:, :, :count] + reversal[:, None, :]
            )
            blocks.append(backward.reshape(batch, -1))
    candidates = np.concatenate(blocks, axis=1)
    moves = candidates.argmin(axis=1)
    return candidates[np.arange(batch), moves], moves


def _positions(paths: npt.NDArray[np.intp], n: int) -> npt.NDArray[np.intp]:
    """``pos[b, v]``: position of inner node ``v`` in ``paths[b]`` (0 for start and end)."""
    batch, m = paths.shape
    pos = np.zeros((batch, n), dtype=np.intp)
    pos[np.arange(batch)[:, None], paths[:, 1 : m - 1]] = np.arange(1, m - 1)
    return pos


def _swap_blocks(
    mp: SearchArray, fwd: SearchArray, prefix: SearchArray, target: npt.NDArray[np.intp]
) -> list[SearchArray]:
    """Deltas of the neighbour-list 3-opt moves that rearrange two consecutive segments.

    Cuts ``x < y < z`` split a path into ``A = [:x]``, ``S1 = [x:y]``, ``S2 = [y:z]`` and
    ``F = [z:]``. The blocks hold, in this order, ``A S2 S1 F``, ``A S2 S1r F``, ``A S2r S1 F``
    and ``A S1r S2r F`` (``r``: reversed, priced with ``prefix`` as in :func:`_best_moves`):
    segment insertion (Or-opt) for segments of any length in both orientations, and the pure
    3-opt segment exchange, all valid for asymmetric matrices. The first new arc leaves
    ``a = path[x - 1]`` for one of its neighbours, at position ``target[b, x - 1, r]``, which fixes
    a second cut ``u`` (``y`` from ``d = path[y]``; ``z`` from ``e = path[z - 1]``; ``y`` from
    ``c = path[y - 1]``); the third cut ``w`` is free. Each delta is a sum ``P[x, u] + Q[x, w] +
    R[u, w]`` of pair terms, so one broadcast add over ``(batch, m - 2, K, m)`` prices a block.
    An illegal cut order carries at most two sentinels, which :func:`_search_matrix` keeps inside
    the integer type.
    """
    batch, m = mp.shape[:2]
    dtype = mp.dtype
    inf = _INF32 // 2 if dtype == np.int32 else _INF
    rows = np.arange(m)
    after = np.where(rows[None, :] > rows[:, None], 0, inf).astype(dtype)  # 0 iff w > u
    before = np.ascontiguousarray(after.T)  # 0 iff w < u
    bidx = np.arange(batch)[:, None, None]
    xs = np.arange(1, m - 1)[None, :, None]
    into = np.zeros((batch, m), dtype=dtype)  # into[:, s] = fwd[s - 1], the arc entering s
    into[:, 1:] = fwd
    pre = np.zeros((batch, m), dtype=dtype)  # pre[:, s] = prefix[s - 1]
    pre[:, 1:] = prefix[:, :-1]
    up = np.zeros_like(mp)  # up[b, u, w] = mp[b, u - 1, w]
    up[:, 1:] = mp[:, :-1]
    diag = np.zeros_like(mp)  # diag[b, u, w] = mp[b, u - 1, w - 1]
    diag[:, 1:, 1:] = mp[:, :-1, :-1]
    cut_in = into[:, :, None] + into[:, None, :]  # fwd[x - 1] + fwd[u - 1]
    out = []

    def block(p: SearchArray, q: SearchArray, r: SearchArray, cut: npt.NDArray[np.intp]) -> None:
        total = r[bidx, cut] + p[bidx, xs, cut][..., None] + q[:, 1 : m - 1, None, :]
        out.append(total.reshape(batch, -1))

    yt = target + 1  # from c = path[y - 1] or e = path[z - 1]; at most m - 1
    # A S2 S1 F: a->d [x-1, y], e->b [z-1, x], c->f [y-1, z]
    p0 = up - cut_in + after
    block(p0, up.transpose(0, 2, 1) - into[:, None, :], up + after, target)
    # A S2 S1r F: a->d [x-1, y], e->c [z-1, y-1], b->f [x, z], S1 reversed
    p1 = p0 + pre[:, None, :] - prefix[:, :, None]
    block(p1, mp - into[:, None, :], diag.transpose(0, 2, 1) + after, target)
    # A S2r S1 F: a->e [x-1, z-1], d->b [y, x], c->f [y-1, z], S2 reversed; u = z, w = y
    p2 = diag - cut_in + pre[:, None, :]
    r2 = up.transpose(0, 2, 1) - into[:, None, :] - prefix[:, None, :] + before
    block(p2, mp.transpose(0, 2, 1) + after, r2, yt)
    # A S1r S2r F: a->c [x-1, y-1], b->e [x, z-1], d->f [y, z], both reversed
    p3 = diag - cut_in + pre[:, None, :] - prefix[:, :, None] - prefix[:, None, :] + after
    left = np.zeros_like(mp)  # left[b, x, z] = mp[b, x, z - 1]
    left[:, :, 1:] = mp[:, :, :-1]
    block(p3, left - into[:, None, :] + pre[:, None, :], mp + after, yt)
    return out


def _apply_move(
    path: npt.NDArray[np.intp],
    move: int,
    table: _MoveTable,
    nbr: npt.NDArray[np.intp] | None = None,
) -> npt.NDArray[np.intp]:
    """Return ``path`` with the move at flat index ``move`` (see :func:`_best_moves`) applied."""
    m = path.shape[0]
    if move >= table.size:
        if nbr is None:
            raise ValueError("a 3-opt segment move needs the neighbour lists it was priced with")
        return _apply_swap(path, move - table.size, nbr)
    block = bisect.bisect_right(table.offsets, move) - 1
    local = move - table.offsets[block]
    if block == 0:
        i, j = divmod(local, m - 2)
        i, j = i + 1, j + 1
        return np.concatenate((path[:i], path[i : j + 1][::-1], path[j + 1 :]))
    length, reverse = table.blocks[block]
    t, i = divmod(local, m - 1 - length)
    i += 1
    e = i + length - 1
    segment = path[i : e + 1][::-1] if reverse else path[i : e + 1]
    if t < i:
        return np.concatenate((path[: t + 1], segment, path[t + 1 : i], path[e + 1 :]))
    return np.concatenate((path[:i], path[e + 1 : t + 1], segment, path[t + 1 :]))


def _apply_swap(
    path: npt.NDArray[np.intp], local: int, nbr: npt.NDArray[np.intp]
) -> npt.NDArray[np.intp]:
    """Apply the move at index ``local`` of the blocks of :func:`_swap_blocks`."""
    m = path.shape[0]
    variant, rest = divmod(local, (m - 2) * nbr.shape[1] * m)
    x, rest = divmod(rest, nbr.shape[1] * m)
    rank, w = divmod(rest, m)
    x += 1
    u = int(np.flatnonzero(path[1 : m - 1] == nbr[path[x - 1], rank])[0]) + 1
    if variant <= 1:
        y, z = u, w
    elif variant == 2:
        y, z = w, u + 1
    else:
        y, z = u + 1, w
    first, second = path[x:y], path[y:z]
    if variant == 1:
        first = first[::-1]
    elif variant == 2:
        second = second[::-1]
    elif variant == 3:
        return np.concatenate((path[:x], first[::-1], second[::-1], path[z:]))
    return np.concatenate((path[:x], second, first, path[z:]))


def _descend(
    mat: SearchArray,
    paths: list[npt.NDArray[np.intp]],
    costs: list[int],
    deadline: float,
    nbr: npt.NDArray[np.intp] | None = None,
) -> None:
    """Best-improvement local search on every path (in place) until each is locally optimal.

    Each step applies the best 2-opt or Or-opt move; a path with none that improves is offered
    the best 3-opt segment move of :func:`_swap_blocks` when ``nbr`` is given (these are about
    three times as costly to price, so they are priced only at 2-opt/Or-opt local optima).

    Paths that reach their local optimum drop out of the batch; the others keep moving until
    done or the deadline passes. Costs are updated by the exact integer deltas.
    """
    active = [b for b in range(len(paths)) if paths[b].shape[0] >= 4]
    if not active:
        return
    table = _move_table(paths[0].shape[0], mat.dtype == np.int32)
    while active and time.monotonic() < deadline:
        deltas, moves = _best_moves(mat, np.stack([paths[b] for b in active]))
        still, stuck = [], []
        for b, delta, move in zip(active, deltas.tolist(), moves.tolist(), strict=True):
            if delta < 0:
                paths[b] = _apply_move(paths[b], move, table)
                costs[b] += delta
                still.append(b)
            else:
                stuck.append(b)
        if stuck and nbr is not None and paths[0].shape[0] >= 5:
            deltas, moves = _best_moves(mat, np.stack([paths[b] for b in stuck]), nbr)
            for b, delta, move in zip(stuck, deltas.tolist(), moves.tolist(), strict=True):
                if delta < 0:
                    paths[b] = _apply_move(paths[b], move, table, nbr)
                    costs[b] += delta
                    still.append(b)
            still.sort()
        active = still


def _neighbours(mat: IntArray, start: int, end: int) -> npt.NDArray[np.intp] | None:
    """``nbr[v]``: the :data:`_NEIGHBOURS` inner nodes closest to ``v`` by outgoing arc (ties by
    index), or ``None`` when the path is too short for the 3-opt moves."""
    inner = np.array(_inner_nodes(mat.shape[0], start, end), dtype=np.intp)
    k = min(_NEIGHBOURS, inner.shape[0] - 1)
    if k < 1 or inner.shape[0] < 3:
        return None
    cost = mat[:, inner].copy()
    cost[inner, np.arange(inner.shape[0])] = _INF
    nearest = np.argsort(cost, axis=1, kind="stable")[:, :k]
    return inner[nearest]


def _search_matrix(mat: IntArray, m: int) -> SearchArray:
    """The matrix in the narrowest integer type in which every move delta on ``m`` positions is
    exact: int32 (half the memory traffic of the move arithmetic) when arcs are short enough.

    The bound covers the pair terms of :func:`_swap_blocks`, each a few arcs plus up to three
    prefix sums, so that their sum plus two half-size sentinels stays below 2**31."""
    if int(mat.max()) * (6 * m + 16) < 1 << 29:
        return mat.astype(np.int32)
    return mat


def _local_search(
    mat: SearchArray, path: npt.NDArray[np.intp], cost: int, deadline: float
) -> tuple[npt.NDArray[np.intp], int]:
    """Descend from one path to a local optimum (or until the deadline)."""
    paths, costs = [path], [cost]
    _descend(mat, paths, costs, deadline)
    return paths[0], costs[0]


def _perturb(path: npt.NDArray[np.intp], rng: np.random.Generator) -> npt.NDArray[np.intp]:
    """Kick the path out of its local optimum by swapping two short segments around a third.

    ``A B C D E`` becomes ``A D C B E`` (``B`` reversed half the time): four arcs change, so no
    single move of the local search, whose 3-opt segment moves change three arcs, can undo the
    kick. The classic double bridge (swapping two adjacent segments) is one of those 3-opt moves
    and was undone at once. Segments are capped at ``_KICK_SPAN`` nodes so the kick stays local
    and re-optimises in a few moves. Routes of three inner nodes get the adjacent swap instead,
    routes of two are simply reversed.
    """
    m = path.shape[0]
    k = m - 2
    if k < 3:
        if k < 2:
            return path
        return np.concatenate((path[:1], path[1 : m - 1][::-1], path[m - 1 :]))
    span = _KICK_SPAN
    if k >= 4:
        x = int(rng.integers(1, m - 3))
        y = int(rng.integers(x + 1, min(x + span, m - 3) + 1))
        z = int(rng.integers(y + 1, min(y + span, m - 2) + 1))
        w = int(rng.integers(z + 1, min(z + span, m - 1) + 1))
        first = path[x:y][::-1] if rng.random() < 0.5 else path[x:y]
        return np.concatenate((path[:x], path[z:w], path[y:z], first, path[w:]))
    x = int(rng.integers(1, m - 2))
    y = int(rng.integers(x + 1, min(x + span, m - 2) + 1))
    z = int(rng.integers(y + 1, min(y + span, m - 1) + 1))
    if rng.random() < 0.5:
        return np.concatenate((path[:x], path[y:z], path[x:y][::-1], path[z:]))
    return np.concatenate((path[:x], path[y:z], path[x:y], path[z:]))


def _randomised_nearest_neighbour(
    mat: IntArray, start: int, end: int, rng: np.random.Generator
) -> npt.NDArray[np.intp]:
    """A full path built like :func:`nearest_neighbour`, but each step walks to one of the
    :data:`_RANDOM_START_CHOICES` closest unvisited nodes, chosen uniformly.

    Diverse starting routes that are still short, so they descend in far fewer moves than
    random orders.
    """
    n = mat.shape[0]
    unvisited = np.ones(n, dtype=bool)
    unvisited[start] = unvisited[end] = False
    left = int(unvisited.sum())
    path = np.empty(left + 2, dtype=np.intp)
    path[0], path[-1] = start, end
    current = start
    for step in range(1, left + 1):
        row = np.where(unvisited, mat[current], _INF)
        k = min(_RANDOM_START_CHOICES, left - step + 1)
        closest = np.argpartition(row, k - 1)[:k]
        current = int(closest[int(rng.integers(k))])
        unvisited[current] = False
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
) -> tuple[Order, int]:
    """Improve a route by iterated local search until a stopping rule fires.

    Local search: best-improvement over all 2-opt moves (segment reversal, priced correctly for
    asymmetric matrices) and all Or-opt moves (relocating a segment of 1-3 nodes, in either
    orientation), all evaluated in one vectorised numpy pass; at their local optima, 3-opt moves
    that exchange or relocate segments of any length (either reversed or not), restricted by
    neighbour lists. :data:`_TRAJECTORIES` independent
    trajectories run side by side, one from ``order`` and the others from randomised
    nearest-neighbour routes; each
    step kicks every trajectory (a four-arc segment exchange), descends all of them as one
    batch, and lets each trajectory keep its kicked route when it is not worse (accepting equal
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
        ``max(100, 8 * inner nodes)``, 480 kicks at 60 bins; ``0`` disables the rule.
    target
        Stop as soon as the best cost is at most this many millimetres, e.g. a known lower bound,
        which proves the route optimal; ``None`` for no target.

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
    path = np.array([start, *order, end], dtype=np.intp)
    cost = _path_cost(mat, path)
    if path.shape[0] <= 3:
        return tuple(order), cost
    rng = np.random.default_rng(seed)
    work = _search_matrix(mat, path.shape[0])
    current = [path] + [
        _randomised_nearest_neighbour(mat, start, end, rng) for _ in range(_TRAJECTORIES - 1)
    ]
    current_costs = [_path_cost(mat, p) for p in current]
    nbr = _neighbours(mat, start, end)
    _descend(work, current, current_costs, deadline, nbr)
    # The first trajectory descends from ``order``, so the best is never worse than the input.
    leader = int(np.argmin(current_costs))
    best_path, best_cost = current[leader], current_costs[leader]
    kicks = since_improvement = 0
    while time.monotonic() < deadline:
        if max_iterations is not None and kicks >= max_iterations:
            break
        if stall and since_improvement >= stall:
            break
        if target is not None and best_cost <= target:
            break
        batch = _TRAJECTORIES
        if max_iterations is not None:
            batch = min(batch, max_iterations - kicks)
        kicks += batch
        since_improvement += batch
        paths = [_perturb(current[t], rng) for t in range(batch)]
        costs = [_path_cost(mat, p) for p in paths]
        _descend(work, paths, costs, deadline, nbr)
        for t in range(batch):
            if costs[t] <= current_costs[t]:
                current[t], current_costs[t] = paths[t], costs[t]
        leader = int(np.argmin(current_costs))
        if current_costs[leader] < best_cost:
            best_path, best_cost = current[leader], current_costs[leader]
            since_improvement = 0
    return tuple(int(v) for v in best_path[1:-1]), best_cost


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
    parent = np.zeros(n, dtype=np.intp)
    for _ in range(n - 1):
        v = int(np.argmin(key))
        work[:, v] = np.inf  # v joins the tree: never a candidate again
        row = work[v]
        closer = row < key
        parent[closer] = v
        np.minimum(key, row, out=key)
        key[v] = np.inf
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
        path = np.array([start, *nearest_neighbour(mat, start, end), end], dtype=np.intp)
        upper_bound = _local_search(mat, path, _path_cost(mat, path), time.monotonic() + 0.005)[1]
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
