"""Iterated local search for one pick route in plain Python: sequential 3-opt with gain pruning.

The engine behind :func:`routing.tsp.improve`. A route is a path ``P`` over the *positions*
``0 .. m - 1`` of the input path (0 is the start, ``m - 1`` the end, both fixed), with costs
``D[u][v]`` copied into nested Python lists: at pick-route sizes (tens of nodes) indexing lists
costs a few tens of nanoseconds, while a numpy call costs a microsecond or more, so a search that
only looks at the few places a kick changed beats a vectorised full scan of all moves (about
0.15 ms against 1 ms per kick at 60 bins, measured while replacing that scan).

Local search (first improvement, don't-look bits): for each queued node ``a`` the arc
``a -> b = succ(a)`` is removed and a new arc ``a -> c`` tried for ``c`` in ``a``'s candidate
list (:func:`candidate_lists`: the nearest and the alpha-nearest successors), nearest first,
while the partial gain stays positive (Lin-Kernighan's gain criterion, which
prunes nearly every candidate at a local optimum). Each ``c`` closes one of

* 2-opt: reverse ``b .. c``;
* segment insertion: ``b .. pred(c)`` moves, in either orientation, next to a neighbour of one of
  its ends (Or-opt for any segment length, and the 3-opt segment exchange);
* rotation: ``c`` lies before ``a``, and ``c .. a`` is split in two parts that swap places.

Reversals are priced with prefix sums of forward and backward arc costs, so everything is exact
for asymmetric matrices (one-way aisles). Only the neighbourhood of changed arcs is revisited.
"""

from __future__ import annotations

import random
import time
from itertools import pairwise
from typing import Final

import numpy as np
import numpy.typing as npt

Matrix = list[list[int]]

NEIGHBOURS: Final = 10
"""Candidate successors per node, nearest first.

Measured on 60-bin lists in the irregular benchmark hall with 500 fruitless kicks as the stopping
rule: 6 neighbours left a mean gap to LKH-3 of 0.4-0.5 %, 10 about 0.04-0.09 %, 14 about 0.03-0.05 %
for noticeably more time. The gain criterion ends most scans after one or two candidates.
"""

ALPHA_NEIGHBOURS: Final = 4
"""Alpha-nearest successors (:func:`alpha_nearness`) added to the :data:`NEIGHBOURS` nearest.

Measured on the 100 60-bin lists of the irregular benchmark hall at 300 fruitless kicks, gap to
LKH-3: over four seeds, 10 nearest alone left 0.123 % mean gap, 10 nearest plus 4 alpha-nearest
0.112 % in the same median search time (about 46 ms; on seed 0 alone 0.116 % against 0.082 %).
At seed 0, 10 + 3 gave 0.086 %, 10 + 6 0.114 %, 8 + 4 0.26 %, 6 + 6 0.32 %. Alpha-nearest lists
alone were worse than nearest ones (5, 6, 8: 0.50, 0.43, 0.16 %), although they hold the arcs of
good routes more often (of the arcs of the best routes found, 93.5 % were among a node's 5
alpha-nearest against 92 % among its 5 nearest; 96 % with subgradient node penalties): the
moves also pass through short arcs that no good route uses. Ranking by alpha of the symmetrised
matrix (``min`` or mean of both directions, 30 subgradient iterations) was much worse still
(0.6 % and 1.1 % at 6), and subgradient penalties on the directed alpha (10 or 30 iterations,
two seeds: 0.127 % and 0.142 % against 0.120 % without) cost 2-8 ms for nothing, so the penalties
are zero.
"""

_CLOCK_EVERY: Final = 16
"""Calls of the move search between two reads of the clock in :func:`local_search`.

A call takes a few microseconds at 60 bins, so the deadline is overshot by well under a
millisecond, while reading the clock at every call took about 1 % of the search time.
"""

_FAR: Final = 1 << 62
"""Sentinel larger than any alpha value or arc, with room to add an arc without overflow."""


class _Route:
    """A path with the lookups the moves need: positions, successors and ``twist``, the prefix
    sums of "arc walked backward minus arc walked forward" (``twist[t]`` over positions
    0 .. t), which price the reversal of any stretch in O(1)."""

    __slots__ = ("cost", "path", "pos", "skew", "succ", "twist")

    def __init__(self, d: Matrix, path: list[int], skew: Matrix | None = None) -> None:
        """``skew`` (see :func:`skew_of`, computed when omitted) can be shared by the routes of
        one search."""
        m = len(path)
        self.path = path
        self.skew = skew_of(d) if skew is None else skew
        self.pos = [0] * m
        self.succ = [0] * m
        self.twist = [0] * m
        self.cost = sum(d[u][v] for u, v in pairwise(path))
        self.update(d, 1, m)

    def copy(self) -> _Route:
        """An independent copy (a kicked trial must not disturb the route it came from)."""
        twin = _Route.__new__(_Route)
        twin.path, twin.pos, twin.succ = self.path[:], self.pos[:], self.succ[:]
        twin.twist, twin.cost, twin.skew = self.twist[:], self.cost, self.skew
        return twin

    def update(self, d: Matrix, lo: int, hi: int) -> list[int]:
        """Refresh the lookups after positions ``lo .. hi - 1`` (``lo >= 1``) were rewritten.

        Returns the nodes at either end of an arc that changed, which must be looked at again.
        """
        path, pos, succ, twist, skew = self.path, self.pos, self.succ, self.twist, self.skew
        touched: list[int] = []
        last = min(hi, len(path) - 1)
        old = twist[last]
        t = twist[lo - 1]
        u = path[lo - 1]
        for i in range(lo, last + 1):
            v = path[i]
            pos[v] = i
            if succ[u] != v:
                succ[u] = v
                touched.append(u)
                touched.append(v)
            t += skew[u][v]
            twist[i] = t
            u = v
        shift = t - old
        if shift:
            twist[last + 1 :] = [x + shift for x in twist[last + 1 :]]
        return touched

    def reversal(self, i: int, j: int) -> int:
        """Change of the internal cost of positions ``i .. j`` when that stretch is reversed."""
        return self.twist[j] - self.twist[i]


def skew_of(d: Matrix) -> Matrix:
    """``skew[u][v] = d[v][u] - d[u][v]``: what walking arc ``u -> v`` backward adds, one lookup
    instead of two in :meth:`_Route.update`'s loop (its largest cost after the move search)."""
    cost = np.array(d, dtype=np.int64)
    skew: Matrix = (cost.T - cost).tolist()
    return skew


def _neighbour_lists(d: Matrix, k: int = 1 << 30) -> list[list[int]]:
    """``out[u]``: the ``k`` nodes ``v`` other than ``u`` and the start, nearest by arc
    ``u -> v`` first (ties by index)."""
    cost = np.array(d, dtype=np.int64)
    m = cost.shape[0]
    big = np.iinfo(np.int64).max
    cost[:, 0] = big
    np.fill_diagonal(cost, big)
    nearest: list[list[int]] = np.argsort(cost, axis=1, kind="stable")[:, : min(k, m - 2)].tolist()
    return nearest


def _spanning_tree(sym: npt.NDArray[np.int64]) -> tuple[list[int], list[int]]:
    """Minimum spanning tree of a dense symmetric matrix by Prim's algorithm from node 0.

    Returns ``(parent, order)``: ``parent[v]`` for every node (``parent[0] == 0``) and the nodes
    in the order they joined the tree, so every node comes after its parent.
    """
    m = sym.shape[0]
    big = np.iinfo(np.int64).max
    key = sym[0].copy()
    key[0] = big
    parent = np.zeros(m, dtype=np.intp)
    done = np.zeros(m, dtype=bool)
    done[0] = True
    order = [0]
    for _ in range(m - 1):
        v = int(np.argmin(key))
        order.append(v)
        done[v] = True
        key[v] = big
        row = np.where(done, big, sym[v])
        parent[row < key] = v
        np.minimum(key, row, out=key)
    return parent.tolist(), order


def alpha_nearness(d: Matrix) -> npt.NDArray[np.int64]:
    """``alpha[u, v]``: how much arc ``u -> v`` costs more than the path it would replace in a
    minimum spanning tree (Helsgaun's alpha-nearness with zero node penalties).

    The path is closed into a tour by a free arc ``end -> start``. The tree is the minimum
    spanning tree of ``min(D, D^T)`` (which is the tree of the usual 2n-node symmetric graph of
    an asymmetric instance once its in/out pairs are contracted); ``alpha[u, v] = D'[u][v] - beta``
    where ``beta`` is the longest tree edge on the path between ``u`` and ``v`` (``D'`` with the
    free arc), so it is never negative and ``min(alpha[u, v], alpha[v, u]) == 0`` on tree edges.
    Unlike the symmetrised ranking, the directed cost keeps a one-way aisle walked against its
    direction far down the list. The diagonal is meaningless (very large).
    """
    cost = np.array(d, dtype=np.int64)
    m = cost.shape[0]
    cost[m - 1, 0] = 0
    sym = np.minimum(cost, cost.T)
    parent, order = _spanning_tree(sym)
    beta = np.full((m, m), -_FAR, dtype=np.int64)
    seen = [order[0]]
    for v in order[1:]:
        p = parent[v]
        idx = np.array(seen, dtype=np.intp)
        longest = np.maximum(beta[idx, p], sym[v, p])
        beta[idx, v] = longest
        beta[v, idx] = longest
        seen.append(v)
    alpha: npt.NDArray[np.int64] = cost - beta
    return alpha


def candidate_lists(d: Matrix) -> list[list[int]]:
    """``out[u]``: the :data:`NEIGHBOURS` nearest successors of ``u`` together with its
    :data:`ALPHA_NEIGHBOURS` alpha-nearest ones (:func:`alpha_nearness`, ties by cost), never
    ``u`` or the start, sorted by the arc cost ``u -> v`` (ties by index).

    Sorting the union by raw cost keeps the gain criterion's early exit exact: once ``D[u][c]``
    reaches the partial gain, every later candidate does too.
    """
    m = len(d)
    nearest = _neighbour_lists(d, NEIGHBOURS)
    alpha = alpha_nearness(d)
    cost = np.array(d, dtype=np.int64)
    alpha[:, 0] = _FAR
    np.fill_diagonal(alpha, _FAR)
    close = np.lexsort((cost, alpha), axis=-1)[:, : min(ALPHA_NEIGHBOURS, m - 2)].tolist()
    out: list[list[int]] = []
    for u, row in enumerate(d):
        both = sorted(set(nearest[u]).union(close[u]))  # by index, then stably by cost
        both.sort(key=row.__getitem__)
        out.append(both)
    return out


def _improve_from(
    d: Matrix, route: _Route, a: int, nbr: list[list[int]]
) -> tuple[int, int, int] | None:
    """Apply the first improving move that removes the arc leaving ``a``.

    Returns ``(lo, hi, delta)``: the positions ``lo .. hi - 1`` it rewrote and the change of
    cost; None if there was no improving move.

    Position names: ``p`` = pos(a), ``b`` = P[p + 1], ``c`` a candidate successor of ``a`` at
    ``q``, ``e`` = P[q - 1] its predecessor.
    """
    path, pos, twist = route.path, route.pos, route.twist
    m = len(path)
    p = pos[a]
    if p >= m - 1:  # the end has no outgoing arc
        return None
    b = path[p + 1]
    row_a = d[a]
    g1 = row_a[b]
    for c in nbr[a]:
        dac = row_a[c]
        if dac >= g1:
            return None
        q = pos[c]
        if q > p + 1:
            e = path[q - 1]
            # 2-opt: reverse b .. c (c inner); new arcs a -> c and b -> succ(c).
            if q < m - 1:
                s = path[q + 1]
                delta = dac + d[b][s] - g1 - d[c][s] + twist[q] - twist[p + 1]
                if delta < 0:
                    path[p + 1 : q + 1] = path[p + 1 : q + 1][::-1]
                    return p + 1, q + 1, delta
            gain = g1 - dac + d[e][c]
            # Segment b .. e forward between pred(g) and g: new arcs e -> g, pred(g) -> b.
            row_e = d[e]
            for g in nbr[e]:
                deg = row_e[g]
                if deg >= gain:
                    break
                r = pos[g]
                if p + 1 <= r <= q:
                    continue
                f = path[r - 1]
                delta = deg + d[f][b] - d[f][g] - gain
                if delta < 0:
                    seg = path[p + 1 : q]
                    if r > q:
                        path[p + 1 : r] = path[q:r] + seg
                        return p + 1, r, delta
                    path[r:q] = seg + path[r : p + 1]
                    return r, q, delta
            # Segment b .. e reversed between pred(g) and g: new arcs b -> g, pred(g) -> e.
            row_b = d[b]
            rev = twist[q - 1] - twist[p + 1]  # route.reversal(p + 1, q - 1), inlined
            for g in nbr[b]:
                dbg = row_b[g]
                if dbg >= gain:
                    break
                r = pos[g]
                if p + 1 <= r <= q:
                    continue
                f = path[r - 1]
                delta = dbg + d[f][e] - d[f][g] - gain + rev
                if delta < 0:
                    seg = path[p + 1 : q][::-1]
                    if r > q:
                        path[p + 1 : r] = path[q:r] + seg
                        return p + 1, r, delta
                    path[r:q] = seg + path[r : p + 1]
                    return r, q, delta
        elif 1 <= q <= p:
            # c .. a would close a cycle through a -> c: cut it at h -> i and rejoin it as
            # pred(c) -> i .. a -> c .. h -> b.
            e = path[q - 1]
            gain = g1 - dac + d[e][c]
            row_e = d[e]
            for i in nbr[e]:
                dei = row_e[i]
                if dei >= gain:
                    break
                r = pos[i]
                if not q < r <= p:
                    continue
                h = path[r - 1]
                delta = dei + d[h][b] - d[h][i] - gain
                if delta < 0:
                    path[q : p + 1] = path[r : p + 1] + path[q:r]
                    return q, p + 1, delta
    return None


def local_search(
    d: Matrix,
    route: _Route,
    queue: list[int],
    nbr: list[list[int]],
    deadline: float,
    nearest: list[int] | None = None,
) -> None:
    """Improve ``route`` in place until no queued node has an improving move.

    ``queue`` holds the nodes to look at (don't-look bits off); after a move, both ends of every
    arc it changed are queued again. Stops early at ``deadline`` (``time.monotonic``), leaving a
    valid route that is not longer than before.

    ``nearest[a]`` (computed when omitted) is the cost of ``a``'s first candidate arc: when it is
    not shorter than the arc leaving ``a``, the gain criterion rejects every candidate, so ``a``
    is dismissed here without a call (about half the nodes looked at, and most calls are
    fruitless: measured 12 % off the search time at 60 bins).
    """
    path, pos = route.path, route.pos
    last = len(path) - 1
    if nearest is None:
        nearest = [d[u][c[0]] if c else 0 for u, c in enumerate(nbr)]
    queued = [False] * len(path)
    for v in queue:
        queued[v] = True
    stack = queue[::-1]
    calls = 1  # the clock is read before the first call, then every _CLOCK_EVERY calls
    while stack:
        a = stack.pop()
        queued[a] = False
        p = pos[a]
        if p >= last or nearest[a] >= d[a][path[p + 1]]:
            continue
        calls -= 1
        if not calls:
            if time.monotonic() >= deadline:
                return
            calls = _CLOCK_EVERY
        rewritten = _improve_from(d, route, a, nbr)
        if rewritten is not None:
            lo, hi, delta = rewritten
            route.cost += delta
            for v in route.update(d, lo, hi):
                if not queued[v]:
                    queued[v] = True
                    stack.append(v)


def kick(d: Matrix, route: _Route, rng: random.Random, span: int) -> list[int]:
    """Swap two segments of at most ``span`` nodes around a third, ``A B C D E -> A D C B E``
    (``B`` reversed half the time), in place; returns the nodes next to a changed arc.

    Four arcs change, so no single move of the local search (at most three) undoes the kick,
    while its segments stay short enough to be repaired in a few moves. The new cost is priced
    from the changed arcs in O(1) (about 8 % of the time per kick at 60 bins went into re-summing
    the path). Routes of fewer than four inner nodes are shuffled instead.
    """
    path = route.path
    m = len(path)
    if m < 6:
        inner = path[1 : m - 1]
        rng.shuffle(inner)
        path[1 : m - 1] = inner
    else:
        x = rng.randint(1, m - 4)
        y = rng.randint(x + 1, min(x + span, m - 3))
        z = rng.randint(y + 1, min(y + span, m - 2))
        w = rng.randint(z + 1, min(z + span, m - 1))
        # Priced from the four arcs that change (and B's reversal), not by re-summing the path:
        # a -> b, e -> f, g -> h, k -> l become a -> h, k -> f and then g -> b, e -> l (B kept)
        # or g -> e, b -> l (B reversed).
        a, b, e, f = path[x - 1], path[x], path[y - 1], path[y]
        g, h, k, last = path[z - 1], path[z], path[w - 1], path[w]
        delta = d[a][h] + d[k][f] - d[a][b] - d[e][f] - d[g][h] - d[k][last]
        if rng.random() < 0.5:
            first = path[x:y][::-1]
            delta += route.reversal(x, y - 1) + d[g][e] + d[b][last]
        else:
            first = path[x:y]
            delta += d[g][b] + d[e][last]
        path[x:w] = path[z:w] + path[y:z] + first
        route.cost += delta
        return route.update(d, x, w)
    route.cost = sum(d[u][v] for u, v in pairwise(path))
    return route.update(d, 1, m - 1)


def search(
    d: Matrix,
    starts: list[list[int]],
    *,
    rng: random.Random,
    deadline: float,
    span: int,
    max_iterations: int | None,
    stall: int,
    target: int | None,
) -> tuple[list[int], int]:
    """Iterated local search from several starting paths, kicked in turn.

    Each trajectory keeps its kicked route when it is not longer (equal routes let it drift over
    plateaus). The stopping rules are those of :func:`routing.tsp.improve`; ``starts[0]`` is
    descended first, so the result is never worse than it.
    """
    m = len(starts[0])
    nbr = candidate_lists(d)
    skew = skew_of(d)
    nearest = [d[u][c[0]] for u, c in enumerate(nbr)]
    inner = list(range(m - 1))
    current: list[_Route] = []
    for path in starts:
        route = _Route(d, path[:], skew)
        local_search(d, route, inner, nbr, deadline, nearest)
        current.append(route)
        if time.monotonic() >= deadline:
            break
    best = min(current, key=lambda r: r.cost)
    best_path, best_cost = best.path[:], best.cost
    kicks = since = 0
    t = 0
    while time.monotonic() < deadline:
        if max_iterations is not None and kicks >= max_iterations:
            break
        if stall and since >= stall:
            break
        if target is not None and best_cost <= target:
            break
        kicks += 1
        since += 1
        here = current[t]
        trial = here.copy()
        local_search(d, trial, kick(d, trial, rng, span), nbr, deadline, nearest)
        if trial.cost <= here.cost:
            current[t] = trial
            if trial.cost < best_cost:
                best_path, best_cost = trial.path[:], trial.cost
                since = 0
        t = (t + 1) % len(current)
    return best_path, best_cost
