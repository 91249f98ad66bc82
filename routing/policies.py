"""Baseline pick-routing policies that warehouse management systems use today.

These are the classic heuristics the optimiser is compared against, so an operator sees the saving:

* S-shape (traversal), return, midpoint and largest gap for one block: Hall (1993), "Distance
  approximations for routing manual pickers in a warehouse", IIE Transactions 25(4); Petersen
  (1997), "An evaluation of order picking routeing policies", IJOPM 17(11).
* Multi-block S-shape, largest gap and combined: Roodbergen & de Koster (2001), "Routing methods
  for warehouses with multiple cross aisles", International Journal of Production Research 39(9).

Conventions shared by every policy (documented generalisations where the literature assumes a
single depot in the middle of the front cross aisle):

* *Front* is the cross aisle nearest the start: when the start lies in the back half of the
  cross aisles, the warehouse is mirrored front-to-back (lengths and order are unchanged by this).
* A pick exactly on a cross aisle belongs to the sub-aisle above it (the last cross aisle's picks
  to the sub-aisle below it).
* Where a policy says "go to" a point, the picker walks the shortest way along the ladder; every
  other move (traversing a sub-aisle, entering and leaving one) is the policy's own walk. After the
  last pick the picker walks the shortest way to ``end``. ``length_mm`` is the length of that whole
  walk, so it is never below the exact optimum of :func:`routing.ladder.shortest_route`.
* Aisles are served starting from the extreme pick aisle nearest the picker (the literature starts
  at the left-most one, which is the same thing for a depot at the left).

Multi-block schemes (Roodbergen & de Koster 2001): the picker goes from the start to the front of
the extreme pick aisle nearest it and walks that aisle up to the front of the farthest block with
picks, picking on the way; blocks are then served one by one from the farthest back to the front.
S-shape traverses every sub-aisle with picks of a block (the last one is a return visit when the
traversal count would leave the picker on the wrong side); largest gap visits each sub-aisle's back
part from the back cross aisle and its front part from the front, traversing the extreme sub-aisles;
combined chooses per sub-aisle between traversal and return with a small DP over the picker's side.
Midpoint in multi-block uses the largest-gap scheme with every split at the sub-aisle's midpoint.
Return in multi-block serves the blocks from the front back, each sub-aisle entered and left from
its block's front cross aisle.
"""

from __future__ import annotations

import enum
from bisect import bisect_left
from collections.abc import Sequence

from routing.errors import InvalidInput
from routing.ladder import Ladder, LadderRoute, check_route_inputs

__all__ = ["Policy", "policy_route"]

# A point on the ladder: ("c", cross-aisle index, x) on a cross aisle, ("a", aisle index, y) inside
# a sub-aisle.
_Point = tuple[str, int, int]


class Policy(enum.Enum):
    """Baseline routing policy."""

    S_SHAPE = "s_shape"
    RETURN = "return"
    MIDPOINT = "midpoint"
    LARGEST_GAP = "largest_gap"
    COMBINED = "combined"


class _Walker:
    """Walks the ladder, summing the distance and recording picks in the order they are reached."""

    def __init__(self, ladder: Ladder, points: list[_Point], start: _Point) -> None:
        self.ladder = ladder
        self.points = points
        self.pos = start
        self.length_mm = 0
        self.order: list[int] = []
        self.visited = [False] * len(points)
        self.at_point: dict[_Point, list[int]] = {}
        for i, p in enumerate(points):
            self.at_point.setdefault(p, []).append(i)

    def goto(self, target: _Point) -> None:
        """Walk to ``target`` the shortest way along the ladder."""
        self.length_mm += self.distance(self.pos, target)
        self.pos = target

    def pick(self, i: int) -> None:
        """Walk to pick ``i`` and pick everything at that point."""
        if self.visited[i]:
            return
        self.goto(self.points[i])
        for j in self.at_point[self.points[i]]:
            if not self.visited[j]:
                self.visited[j] = True
                self.order.append(j)

    def _cross_distance(self, r1: int, x1: int, r2: int, x2: int) -> int:
        """Shortest walk between two cross-aisle points (via the best aisle when rows differ)."""
        if r1 == r2:
            return abs(x1 - x2)
        lo, hi = min(x1, x2), max(x1, x2)
        xs = self.ladder.aisle_x_mm
        k = bisect_left(xs, lo)
        if k < len(xs) and xs[k] <= hi:
            detour = hi - lo
        else:
            near = (xs[max(k - 1, 0)], xs[min(k, len(xs) - 1)])
            detour = min(abs(x1 - xa) + abs(xa - x2) for xa in near)
        return abs(self.ladder.cross_y_mm[r1] - self.ladder.cross_y_mm[r2]) + detour

    def _exits(self, p: _Point) -> list[tuple[int, int, int]]:
        """(cross index, x, cost) of the ways out of a point onto the cross aisles."""
        kind, i, v = p
        if kind == "c":
            return [(i, v, 0)]
        cross_y = self.ladder.cross_y_mm
        b = bisect_left(cross_y, v) - 1
        x = self.ladder.aisle_x_mm[i]
        return [(b, x, v - cross_y[b]), (b + 1, x, cross_y[b + 1] - v)]

    def distance(self, p: _Point, q: _Point) -> int:
        """Shortest walking distance between two ladder points."""
        if p == q:
            return 0
        if p[0] == "a" and q[0] == "a" and p[1] == q[1]:
            cross_y = self.ladder.cross_y_mm
            if bisect_left(cross_y, p[2]) == bisect_left(cross_y, q[2]):
                return abs(p[2] - q[2])
        return min(
            cp + self._cross_distance(rp, xp, rq, xq) + cq
            for rp, xp, cp in self._exits(p)
            for rq, xq, cq in self._exits(q)
        )


class _Plan:
    """One policy run on a (possibly mirrored) ladder whose front is the start's side."""

    def __init__(
        self,
        ladder: Ladder,
        pick_aisle: Sequence[int],
        pick_y_mm: Sequence[int],
        start: tuple[int, int],
    ) -> None:
        self.ladder = ladder
        cross_y = ladder.cross_y_mm
        self.m = len(cross_y)
        self.pick_aisle = list(pick_aisle)
        self.pick_y = list(pick_y_mm)
        points: list[_Point] = []
        self.block_of: list[int] = []
        for a, y in zip(pick_aisle, pick_y_mm, strict=True):
            k = bisect_left(cross_y, y)
            if k < self.m and cross_y[k] == y:
                points.append(("c", k, ladder.aisle_x_mm[a]))
                self.block_of.append(min(k, self.m - 2))
            else:
                points.append(("a", a, y))
                self.block_of.append(k - 1)
        self.walker = _Walker(ladder, points, ("c", start[0], start[1]))

    # -- helpers -----------------------------------------------------------------------------

    def x(self, aisle: int) -> int:
        """x of an aisle's centre line."""
        return self.ladder.aisle_x_mm[aisle]

    def open_picks(self, aisle: int, block: int) -> list[int]:
        """Unvisited picks of one sub-aisle, front to back."""
        w = self.walker
        found = [
            i
            for i in range(len(self.pick_aisle))
            if not w.visited[i] and self.pick_aisle[i] == aisle and self.block_of[i] == block
        ]
        return sorted(found, key=lambda i: (self.pick_y[i], i))

    def pick_aisles(self, block: int) -> list[int]:
        """Sub-aisles of ``block`` with unvisited picks, from the extreme nearest the picker."""
        w = self.walker
        aisles = sorted(
            {
                self.pick_aisle[i]
                for i in range(len(self.pick_aisle))
                if not w.visited[i] and self.block_of[i] == block
            }
        )
        return self._from_nearest_end(aisles)

    def _from_nearest_end(self, aisles: list[int]) -> list[int]:
        """``aisles`` (sorted) reversed when the right-most one is nearer the picker."""
        if not aisles:
            return aisles
        here = self._current_x()
        if abs(self.x(aisles[-1]) - here) < abs(self.x(aisles[0]) - here):
            return aisles[::-1]
        return aisles

    def _current_x(self) -> int:
        """x of the picker now."""
        kind, i, v = self.walker.pos
        return v if kind == "c" else self.x(i)

    def side_of(self, block: int) -> int:
        """Cross aisle (``block`` = front or ``block + 1`` = back) the picker enters from."""
        kind, i, v = self.walker.pos
        r = i if kind == "c" else bisect_left(self.ladder.cross_y_mm, v)
        return block if r <= block else block + 1

    def traverse(self, aisle: int, block: int, upward: bool) -> None:
        """Walk a whole sub-aisle from one cross aisle to the other, picking on the way."""
        picks = self.open_picks(aisle, block)
        self.walker.goto(("c", block if upward else block + 1, self.x(aisle)))
        for i in picks if upward else picks[::-1]:
            self.walker.pick(i)
        self.walker.goto(("c", block + 1 if upward else block, self.x(aisle)))

    def visit_from(self, aisle: int, cross: int, picks: list[int]) -> None:
        """Enter a sub-aisle from cross aisle ``cross``, pick ``picks`` and leave the same way."""
        if not picks:
            return
        self.walker.goto(("c", cross, self.x(aisle)))
        front_first = cross <= self.block_of[picks[0]]
        for i in picks if front_first else picks[::-1]:
            self.walker.pick(i)
        self.walker.goto(("c", cross, self.x(aisle)))

    def farthest_block(self) -> int:
        """Highest block index with unvisited picks, -1 when every pick is done."""
        w = self.walker
        blocks = [self.block_of[i] for i in range(len(self.pick_aisle)) if not w.visited[i]]
        return max(blocks, default=-1)

    def climb_to(self, farthest: int) -> None:
        """Go to the front of the nearest extreme pick aisle and walk it up to ``farthest``."""
        aisles = self._from_nearest_end(sorted(set(self.pick_aisle)))
        first = aisles[0]
        self.walker.goto(("c", 0, self.x(first)))
        for b in range(farthest):
            self.traverse(first, b, upward=True)

    # -- policies ----------------------------------------------------------------------------

    def s_shape(self) -> None:
        """Roodbergen-de Koster multi-block S-shape (classic S-shape on one block)."""
        farthest = self.farthest_block()
        if farthest < 0:
            return
        self.climb_to(farthest)
        for b in range(farthest, -1, -1):
            aisles = self.pick_aisles(b)
            if not aisles:
                continue
            side = self.side_of(b)
            for k, a in enumerate(aisles):
                last = k == len(aisles) - 1
                if last and side == b:
                    # A traversal would leave the picker at the back: visit it as a return.
                    self.visit_from(a, side, self.open_picks(a, b))
                else:
                    self.traverse(a, b, upward=side == b)
                    side = b + 1 if side == b else b

    def return_policy(self) -> None:
        """Every sub-aisle entered and left from its block's front, blocks front to back."""
        for b in range(self.m - 1):
            for a in self.pick_aisles(b):
                self.visit_from(a, b, self.open_picks(a, b))

    def split_policy(self, midpoint: bool) -> None:
        """Largest gap (or midpoint): back parts from the back, front parts from the front."""
        farthest = self.farthest_block()
        if farthest < 0:
            return
        self.climb_to(farthest)
        for b in range(farthest, -1, -1):
            aisles = self.pick_aisles(b)
            if not aisles:
                continue
            if self.side_of(b) == b:
                if len(aisles) == 1:
                    self.visit_from(aisles[0], b, self.open_picks(aisles[0], b))
                    continue
                self.traverse(aisles[0], b, upward=True)
                aisles = aisles[1:]
            middle = aisles[:-1]
            parts = {a: self._split(a, b, midpoint) for a in middle}
            for a in middle:
                self.visit_from(a, b + 1, parts[a][1])
            self.traverse(aisles[-1], b, upward=False)
            for a in middle[::-1]:
                self.visit_from(a, b, parts[a][0])

    def _split(self, aisle: int, block: int, midpoint: bool) -> tuple[list[int], list[int]]:
        """Picks of a sub-aisle visited from the front and from the back."""
        picks = self.open_picks(aisle, block)
        lo, hi = self.ladder.cross_y_mm[block], self.ladder.cross_y_mm[block + 1]
        if midpoint:
            front = [i for i in picks if 2 * self.pick_y[i] <= lo + hi]
            return front, [i for i in picks if 2 * self.pick_y[i] > lo + hi]
        ys = [lo, *(self.pick_y[i] for i in picks), hi]
        gap = max(range(len(ys) - 1), key=lambda k: ys[k + 1] - ys[k])
        return picks[:gap], picks[gap:]

    def combined(self) -> None:
        """Roodbergen-de Koster combined: per block, traverse or return each sub-aisle."""
        farthest = self.farthest_block()
        if farthest < 0:
            return
        self.climb_to(farthest)
        for b in range(farthest, -1, -1):
            aisles = self.pick_aisles(b)
            if aisles:
                self._combined_block(b, aisles)

    def _combined_block(self, b: int, aisles: list[int]) -> None:
        """Traverse or return per sub-aisle, chosen by a DP over the picker's side."""
        lo, hi = self.ladder.cross_y_mm[b], self.ladder.cross_y_mm[b + 1]
        here = self._current_x()
        entry = self.side_of(b)
        inf = 1 << 62
        # cost[s]: best length so far ending on side s (0 front, 1 back); choice[k][s] = came-from.
        cost = [inf, inf]
        cost[0 if entry == b else 1] = 0
        choices: list[tuple[int, int]] = []
        prev_x = here
        for a in aisles:
            picks = self.open_picks(a, b)
            depth = (self.pick_y[picks[-1]] - lo, hi - self.pick_y[picks[0]])
            move = abs(self.x(a) - prev_x)
            new = [inf, inf]
            came = [0, 0]
            for s_in in (0, 1):
                if cost[s_in] >= inf:
                    continue
                for s_out in (0, 1):
                    step = (hi - lo) if s_in != s_out else 2 * depth[s_in]
                    total = cost[s_in] + move + step
                    if total < new[s_out]:
                        new[s_out] = total
                        came[s_out] = s_in
            cost = new
            choices.append((came[0], came[1]))
            prev_x = self.x(a)
        side = 0 if cost[0] <= cost[1] + (hi - lo) else 1
        sides = [side]
        for k in range(len(aisles) - 1, 0, -1):
            side = choices[k][side]
            sides.append(side)
        sides.reverse()
        side_in = 0 if entry == b else 1
        for a, side_out in zip(aisles, sides, strict=True):
            if side_in == side_out:
                self.visit_from(a, b + side_in, self.open_picks(a, b))
            else:
                self.traverse(a, b, upward=side_in == 0)
            side_in = side_out


def policy_route(
    ladder: Ladder,
    pick_aisle: Sequence[int],
    pick_y_mm: Sequence[int],
    start: tuple[int, int],
    end: tuple[int, int],
    policy: Policy,
) -> LadderRoute:
    """Route the picks with a baseline policy.

    Parameters
    ----------
    ladder
        The warehouse skeleton.
    pick_aisle, pick_y_mm
        Aisle index and y of each pick (as for :func:`routing.ladder.shortest_route`).
    start, end
        Depot points ``(cross-aisle index, x_mm)``.
    policy
        Which baseline to follow; see the module docstring for the exact rules.

    Returns
    -------
    LadderRoute
        The walking distance of the policy's walk from ``start`` to ``end`` and the order in which
        it reaches the picks (picks at one point consecutive).

    Raises
    ------
    InvalidInput
        (a ``ValueError``) naming the bad argument and its value.
    """
    pick_aisle, pick_y_mm, start, end = check_route_inputs(
        ladder, pick_aisle, pick_y_mm, start, end
    )
    if not isinstance(policy, Policy):
        raise InvalidInput.single("policy", f"must be a Policy, got {policy!r}")
    m = len(ladder.cross_y_mm)
    if 2 * start[0] > m - 1:
        ladder = Ladder(ladder.aisle_x_mm, tuple(-y for y in reversed(ladder.cross_y_mm)))
        pick_y_mm = [-y for y in pick_y_mm]
        start = (m - 1 - start[0], start[1])
        end = (m - 1 - end[0], end[1])
    plan = _Plan(ladder, pick_aisle, pick_y_mm, start)
    if policy is Policy.S_SHAPE:
        plan.s_shape()
    elif policy is Policy.RETURN:
        plan.return_policy()
    elif policy is Policy.MIDPOINT:
        plan.split_policy(midpoint=True)
    elif policy is Policy.LARGEST_GAP:
        plan.split_policy(midpoint=False)
    else:
        plan.combined()
    walker = plan.walker
    for i in range(len(walker.points)):
        if not walker.visited[i]:
            raise AssertionError(f"{policy.name} left pick {i} unvisited")  # pragma: no cover
    walker.goto(("c", end[0], end[1]))
    return LadderRoute(walker.length_mm, tuple(walker.order))
