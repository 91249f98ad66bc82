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

Every move rearranges whole blocks of the path (a reversed stretch, two swapped segments), so
positions and prefix sums are rebuilt block by block with slices and list comprehensions rather
than position by position (:func:`_reverse`, :func:`_exchange`): at 60 bins a search applies some
3,700 moves and 440 kicks, and their bookkeeping was a third of its time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
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

_CYCLE_SCAN: Final = 8
"""Rotations whose cycle ``c .. a`` spans fewer positions than this scan the cycle for the cut
instead of the candidate list of ``pred(c)``.

Most rotations close short cycles (at 60 bins about half have ``c = pred(a)``), while the list
scan of ``pred(c)``'s candidates walked some six entries per rotation, nearly all outside the
cycle (about 120,000 loop steps per search). Both scans pick the same cut.
"""

_FAR: Final = 1 << 62
"""Sentinel larger than any alpha value or arc, with room to add an arc without overflow."""


class _Route:
    """A path with the lookups the moves need: positions and ``twist``, the prefix sums of "arc
    walked backward minus arc walked forward" (``twist[t]`` over positions 0 .. t, up to one
    common offset: see :func:`_settle`), whose differences price the reversal of any stretch in
    O(1): reversing positions ``i .. j`` adds ``twist[j] - twist[i]``."""

    __slots__ = ("cost", "path", "pos", "skew", "twist")

    def __init__(self, d: Matrix, path: list[int], skew: Matrix | None = None) -> None:
        """``skew`` (see :func:`skew_of`, computed when omitted) can be shared by the routes of
        one search."""
        m = len(path)
        self.path = path
        self.skew = skew_of(d) if skew is None else skew
        self.pos = [0] * m
        self.twist = [0] * m
        self.cost = sum(d[u][v] for u, v in pairwise(path))
        self.refresh(1, m)

    def copy(self) -> _Route:
        """An independent copy (a kicked trial must not disturb the route it came from)."""
        twin = _Route.__new__(_Route)
        twin.path, twin.pos, twin.twist = self.path[:], self.pos[:], self.twist[:]
        twin.cost, twin.skew = self.cost, self.skew
        return twin

    def refresh(self, lo: int, hi: int) -> None:
        """Recompute the lookups after positions ``lo .. hi - 1`` (``lo >= 1``) were rewritten
        in any way (the moves of :func:`local_search` update them block-wise instead)."""
        path, pos, twist, skew = self.path, self.pos, self.twist, self.skew
        last = min(hi, len(path) - 1)
        old = twist[last]
        t = twist[lo - 1]
        u = path[lo - 1]
        for i in range(lo, last + 1):
            v = path[i]
            pos[v] = i
            t += skew[u][v]
            twist[i] = t
            u = v
        shift = t - old
        if shift:
            twist[last + 1 :] = [x + shift for x in twist[last + 1 :]]


def _reverse(
    path: list[int], pos: list[int], twist: list[int], skew: Matrix, lo: int, hi: int
) -> list[int]:
    """Reverse positions ``lo .. hi - 1`` of a route's ``path`` (``1 <= lo``, ``hi <= m - 1``),
    updating its ``pos`` and ``twist`` (not its cost); returns the nodes next to a changed arc,
    ``P[lo - 1 .. hi]`` in path order (every arc from position ``lo`` to ``hi`` changes).

    The reversed stretch's prefix sums are those of the old stretch read backward, offset by a
    constant (one list comprehension instead of a Python loop step per position).
    """
    j = hi - 1
    path[lo:hi] = path[j : lo - 1 : -1]
    for k in range(lo, hi):
        pos[path[k]] = k
    base = twist[lo - 1] + skew[path[lo - 1]][path[lo]] - twist[j]
    # The new prefix sum at hi minus the old one: the sums on one side must move by it.
    shift = base + twist[lo] + skew[path[j]][path[hi]] - twist[hi]
    if shift:
        base = _settle(twist, lo, hi, shift, base)
    twist[lo:hi] = [base + t for t in twist[j : lo - 1 : -1]]
    return path[lo - 1 : hi + 1]


def _settle(twist: list[int], lo: int, hi: int, shift: int, base: int) -> int:
    """Keep ``twist`` consistent around a rewritten stretch ``lo .. hi - 1`` whose new sums
    end ``shift`` above the old ones: add ``shift`` to the sums from ``hi`` on, or, when fewer
    sums come before ``lo``, subtract it from those instead and return ``base - shift`` for the
    stretch (otherwise ``base``).

    Only differences of ``twist`` are ever read, so either side may move; the shorter one costs
    fewer new integers (the largest cost of a move once it is found).
    """
    if lo < len(twist) - hi:
        twist[:lo] = [t - shift for t in twist[:lo]]
        return base - shift
    twist[hi:] = [t + shift for t in twist[hi:]]
    return base


def _exchange(
    path: list[int],
    pos: list[int],
    twist: list[int],
    skew: Matrix,
    lo: int,
    mid: int,
    hi: int,
    flip: int,
) -> list[int]:
    """Swap the adjacent blocks ``X = P[lo:mid]`` and ``Y = P[mid:hi]`` of a route's ``path``
    (``lo >= 1``, ``hi <= m - 1``) into ``Y X``, reversing ``Y`` when ``flip`` is 1 or ``X``
    when it is 2, and update its ``pos`` and ``twist`` (not its cost). Returns the nodes next
    to a changed arc in path order (three arcs, plus the inner arcs of a reversed block).

    Every block keeps the prefix sums of its old positions (read backward when reversed) offset
    by a constant, so the lookups are rebuilt by list comprehensions, not position by position.
    """
    xs, ys = path[lo:mid], path[mid:hi]
    tx, ty = twist[lo:mid], twist[mid:hi]
    if flip == 1:
        ys.reverse()
        ty.reverse()
    elif flip == 2:
        xs.reverse()
        tx.reverse()
    path[lo:hi] = ys + xs
    for k in range(lo, hi):
        pos[path[k]] = k
    # Reversed or not, a block's new prefix sums are its old ones (in its new order) minus the
    # first, plus the sum up to the arc that now enters it.
    head = twist[lo - 1] + skew[path[lo - 1]][ys[0]] - ty[0]
    tail = head + ty[-1] + skew[ys[-1]][xs[0]] - tx[0]
    shift = tail + tx[-1] + skew[xs[-1]][path[hi]] - twist[hi]
    if shift:
        head = _settle(twist, lo, hi, shift, head)
        tail = head + ty[-1] + skew[ys[-1]][xs[0]] - tx[0]
    twist[lo:hi] = [head + t for t in ty] + [tail + t for t in tx]
    if flip == 1:
        return [*path[lo - 1 : lo + len(ys) + 1], xs[-1], path[hi]]
    if flip == 2:
        return [path[lo - 1], ys[0], *path[lo + len(ys) - 1 : hi + 1]]
    return [path[lo - 1], ys[0], ys[-1], xs[0], xs[-1], path[hi]]


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
    work = sym.copy()
    work[:, 0] = big
    key = work[0].copy()
    order = [0]
    for _ in range(m - 1):
        v = int(key.argmin())
        order.append(v)
        work[:, v] = big  # v joins the tree: never a candidate again
        np.minimum(key, work[v], out=key)
        key[v] = big
    # The parent of the j-th node to join is the node joined before it with the cheapest edge,
    # the earliest joined on ties (what Prim's strict "closer" test keeps), found in one pass.
    joined = sym[np.ix_(order, order)]
    joined[np.tri(m, dtype=bool)] = big  # row i >= column j: joined at or after it
    parent = [0] * m
    for j, i in enumerate(joined[:, 1:].argmin(axis=0).tolist(), 1):
        parent[order[j]] = order[i]
    return parent, order


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
    # Nodes renumbered by the order they joined the tree, so that the nodes already seen are
    # always a leading block of rows and columns (slices, not fancy indexing).
    rank = np.empty(m, dtype=np.intp)
    rank[order] = np.arange(m)
    joined = np.full((m, m), -_FAR, dtype=np.int64)
    for j in range(1, m):
        v = order[j]
        p = parent[v]
        longest = np.maximum(joined[rank[p], :j], sym[v, p])
        joined[j, :j] = longest
        joined[:j, j] = longest
    beta = joined[np.ix_(rank, rank)]
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


def _ranks(nbr: list[list[int]]) -> list[list[int]]:
    """``out[u][v]``: the index of ``v`` in ``nbr[u]``, :data:`_FAR` when ``v`` is not in it."""
    m = len(nbr)
    out: list[list[int]] = []
    for row in nbr:
        rank_u = [_FAR] * m
        for k, v in enumerate(row):
            rank_u[v] = k
        out.append(rank_u)
    return out


def local_search(
    d: Matrix,
    route: _Route,
    queue: list[int],
    nbr: list[list[int]],
    deadline: float,
    nearest: list[int] | None = None,
    rank: list[list[int]] | None = None,
) -> None:
    """Improve ``route`` in place until no queued node has an improving move.

    ``queue`` holds the nodes to look at (don't-look bits off); for each node ``a`` taken from
    it the first improving move that removes the arc leaving ``a`` is applied (see the module
    docstring), and both ends of every arc it changed are queued again. Stops early at
    ``deadline`` (``time.monotonic``), leaving a valid route that is not longer than before.

    ``nearest[a]`` (computed when omitted) is the cost of ``a``'s first candidate arc: when it is
    not shorter than the arc leaving ``a``, the gain criterion rejects every candidate, so ``a``
    is dismissed at once (about half the nodes looked at).

    Position names in the move search: ``p`` = pos(a), ``b`` = P[p + 1], ``c`` a candidate
    successor of ``a`` at ``q``, ``e`` = P[q - 1] its predecessor. The move search is inlined in
    this loop (it runs some ten thousand times per search at 60 bins); the moves are applied by
    :func:`_reverse` and :func:`_exchange`.
    """
    path, pos, twist, skew = route.path, route.pos, route.twist, route.skew
    m = len(path)
    last = m - 1
    if nearest is None:
        nearest = [d[u][c[0]] if c else 0 for u, c in enumerate(nbr)]
    if rank is None:
        rank = _ranks(nbr)
    queued = [False] * m
    for v in queue:
        queued[v] = True
    end = path[last]
    stack = [v for v in reversed(queue) if v != end]
    queued[end] = True  # for good: the end has no outgoing arc to remove
    push = stack.append
    pop = stack.pop
    calls = 1  # the clock is read before the first search, then every _CLOCK_EVERY searches
    while stack:
        a = pop()
        queued[a] = False
        p = pos[a]
        p1 = p + 1
        b = path[p1]
        row_a = d[a]
        g1 = row_a[b]
        if nearest[a] >= g1:
            continue
        calls -= 1
        if not calls:
            if time.monotonic() >= deadline:
                return
            calls = _CLOCK_EVERY
        row_b = d[b]
        twist_b = twist[p1]
        # The move found: positions lo .. hi - 1 are rewritten (lo stays 0 when there is none),
        # as the reversal of that stretch (flip 3) or as an exchange of its blocks lo .. mid - 1
        # and mid .. hi - 1 (see _exchange for flip 0, 1, 2).
        lo = 0
        for c in nbr[a]:
            dac = row_a[c]
            if dac >= g1:
                break
            q = pos[c]
            e = path[q - 1]
            if q > p1:
                # 2-opt: reverse b .. c (c inner); new arcs a -> c and b -> succ(c).
                if q < last:
                    s = path[q + 1]
                    delta = dac + row_b[s] - g1 - d[c][s] + twist[q] - twist_b
                    if delta < 0:
                        lo, hi, flip = p1, q + 1, 3
                        break
                gain = g1 - dac + d[e][c]
                # Segment b .. e forward between pred(g) and g: new arcs e -> g, pred(g) -> b.
                row_e = d[e]
                for g in nbr[e]:
                    deg = row_e[g]
                    if deg >= gain:
                        break
                    r = pos[g]
                    if p1 <= r <= q:
                        continue
                    f = path[r - 1]
                    delta = deg + d[f][b] - d[f][g] - gain
                    if delta < 0:
                        if r > q:
                            lo, mid, hi, flip = p1, q, r, 0
                        else:
                            lo, mid, hi, flip = r, p1, q, 0
                        break
                if lo:
                    break
                # Segment b .. e reversed between pred(g) and g: new arcs b -> g, pred(g) -> e.
                rev = twist[q - 1] - twist_b  # what reversing b .. e adds
                for g in nbr[b]:
                    dbg = row_b[g]
                    if dbg >= gain:
                        break
                    r = pos[g]
                    if p1 <= r <= q:
                        continue
                    f = path[r - 1]
                    delta = dbg + d[f][e] - d[f][g] - gain + rev
                    if delta < 0:
                        if r > q:
                            lo, mid, hi, flip = p1, q, r, 2
                        else:
                            lo, mid, hi, flip = r, p1, q, 1
                        break
                if lo:
                    break
            else:  # c lies before a (never at p or p + 1: c is neither a nor b)
                # c .. a would close a cycle through a -> c: cut it at h -> i and rejoin it as
                # pred(c) -> i .. a -> c .. h -> b, for the first i in nbr[e] that improves.
                gain = g1 - dac + d[e][c]
                row_e = d[e]
                if p - q < _CYCLE_SCAN:
                    # A short cycle: scan its nodes and keep the improving i of lowest rank
                    # in nbr[e] (the one the scan of nbr[e] below would find first).
                    rank_e = rank[e]
                    best = _FAR
                    for r in range(q + 1, p1):
                        i = path[r]
                        k = rank_e[i]
                        if k < best:
                            dei = row_e[i]
                            if dei < gain:
                                h = path[r - 1]
                                change = dei + d[h][b] - d[h][i] - gain
                                if change < 0:
                                    best, mid, delta = k, r, change
                    if best < _FAR:
                        lo, hi, flip = q, p1, 0
                        break
                    continue
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
                        lo, mid, hi, flip = q, r, p1, 0
                        break
                if lo:
                    break
        if not lo:
            continue
        route.cost += delta
        # Apply the move (inlined like the search: a few thousand moves per search).
        if flip == 3:
            touched = _reverse(path, pos, twist, skew, lo, hi)
        else:
            touched = _exchange(path, pos, twist, skew, lo, mid, hi, flip)
        for v in touched:
            if not queued[v]:
                queued[v] = True
                push(v)


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
        before = set(pairwise(path))
        inner = path[1 : m - 1]
        rng.shuffle(inner)
        path[1 : m - 1] = inner
        route.cost = sum(d[u][v] for u, v in pairwise(path))
        route.refresh(1, m - 1)
        return [x for arc in pairwise(path) if arc not in before for x in arc]
    bits = rng.getrandbits
    x = _uniform(bits, 1, m - 4)
    y = _uniform(bits, x + 1, min(x + span, m - 3))
    z = _uniform(bits, y + 1, min(y + span, m - 2))
    w = _uniform(bits, z + 1, min(z + span, m - 1))
    # Priced from the four arcs that change (and B's reversal), not by re-summing the path:
    # a -> b, e -> f, g -> h, k -> l become a -> h, k -> f and then g -> b, e -> l (B kept)
    # or g -> e, b -> l (B reversed).
    twist, skew = route.twist, route.skew
    a, b, e, f = path[x - 1], path[x], path[y - 1], path[y]
    g, h, k, last = path[z - 1], path[z], path[w - 1], path[w]
    delta = d[a][h] + d[k][f] - d[a][b] - d[e][f] - d[g][h] - d[k][last]
    nodes_b, sums_b = path[x:y], twist[x:y]
    if rng.random() < 0.5:
        nodes_b.reverse()
        sums_b.reverse()
        delta += twist[y - 1] - twist[x] + d[g][e] + d[b][last]
        # Every inner arc of the reversed B changes too.
        touched = [a, h, k, f, g, *nodes_b, last]
    else:
        delta += d[g][b] + d[e][last]
        touched = [a, h, k, f, g, b, e, last]
    route.cost += delta
    # New order D C B: as in _exchange, each block keeps its old prefix sums (B's read
    # backward when reversed) offset by a constant.
    sums_c, sums_d = twist[y:z], twist[z:w]
    head_d = twist[x - 1] + skew[a][h] - sums_d[0]
    head_c = head_d + sums_d[-1] + skew[k][f] - sums_c[0]
    head_b = head_c + sums_c[-1] + skew[g][nodes_b[0]] - sums_b[0]
    shift = head_b + sums_b[-1] + skew[nodes_b[-1]][last] - twist[w]
    if shift:
        moved = _settle(twist, x, w, shift, head_d) - head_d
        head_d += moved
        head_c += moved
        head_b += moved
    twist[x:w] = (
        [head_d + t for t in sums_d] + [head_c + t for t in sums_c] + [head_b + t for t in sums_b]
    )
    path[x:w] = path[z:w] + path[y:z] + nodes_b
    pos = route.pos
    for i in range(x, w):
        pos[path[i]] = i
    return touched


def _uniform(bits: Callable[[int], int], lo: int, hi: int) -> int:
    """``random.Random.randint(lo, hi)`` given the generator's ``getrandbits``: the same draws
    from the same stream (CPython's rejection sampling on ``getrandbits``) without the three
    nested calls and argument checks of ``randint``."""
    n = hi - lo + 1
    k = n.bit_length()
    r = bits(k)
    while r >= n:
        r = bits(k)
    return lo + r


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
    rank = _ranks(nbr)
    inner = list(range(m - 1))
    current: list[_Route] = []
    for path in starts:
        route = _Route(d, path[:], skew)
        local_search(d, route, inner, nbr, deadline, nearest, rank)
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
        local_search(d, trial, kick(d, trial, rng, span), nbr, deadline, nearest, rank)
        if trial.cost <= here.cost:
            current[t] = trial
            if trial.cost < best_cost:
                best_path, best_cost = trial.path[:], trial.cost
                since = 0
        t = (t + 1) % len(current)
    return best_path, best_cost
