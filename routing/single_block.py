"""Shortest pick-walk length in a one-block warehouse, fast enough to price thousands of batches.

A one-block warehouse (parallel pick aisles between a front and a back cross aisle) is the
classical case of Ratliff and Rosenthal (1983): sweeping the aisles from left to right, the part
of an optimal walk seen so far is summed up by the degree parity of the two cross-aisle junctions
of the current aisle, whether each is on the walk yet, and whether they are joined. That leaves
at most 19 states per aisle (7 for a closed walk), so the length is a short loop over
precomputed transition tables, or for a closed walk a few ``min`` calls per aisle.
:func:`routing.ladder.route_length` solves the same problem for any number of cross aisles and
also returns the visiting order, but its general plug DP takes 6-8x as long (0.15-0.4 ms a
batch against 0.02-0.07 ms, ``benchmarks/results/pricing.md``); order batching prices thousands
of batches per second.

Start and end are points on a cross aisle, equal (a closed walk) or not (an open walk, whose two
ends keep odd degree). Aisles without picks are dropped except the nearest on either side of a
depot point: any use of another idle aisle slides, no longer, onto a neighbouring kept aisle
(see :func:`routing.ladder._without_idle_aisles`). A depot between two aisles is a column of its
own whose junctions are required and which has no aisle to walk.

Batching prices a set of points given as a bit mask over (aisle, depth)
(:meth:`SingleBlockPricer.mask_length`): an aisle's lowest and highest pick and widest gap are
remembered per aisle mask, and the states after the first column (the depot's, which goes
through the tables) per column, so the points need no sorting and most columns are read from
memory.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from functools import cache
from itertools import pairwise

from routing.errors import InvalidInput
from routing.ladder import Ladder

# Junction status: not on the walk yet, on it with even degree so far, on it with odd degree.
_OFF, _EVEN, _ODD = 0, 1, 2
# Vertical options within an aisle, as indices into a column's cost tuple.
_NONE, _THROUGH, _TWICE, _FROM_FRONT, _FROM_BACK, _GAP = range(6)
# Column flags.
_PICKS = 1  # picks strictly inside the aisle: the aisle must be walked
_AISLE = 2  # a real aisle (a depot column between aisles has none)
_FRONT_REQUIRED = 4  # the front junction must be on the walk (a depot or a pick on it)
_BACK_REQUIRED = 8
_FRONT_ODD = 16  # the front junction ends with odd degree (one end of an open walk)
_BACK_ODD = 32
_INF = 1 << 62
# Aisle masks whose extents :meth:`SingleBlockPricer.mask_length` remembers, and first columns
# whose states :meth:`SingleBlockPricer._closed_length` remembers (all of them up to 18
# depths; with more, the memory stays bounded).
_MAX_EXTENTS = 1 << 18

# A state is (front status, back status, two components): both junctions on the walk but not
# yet joined. (0, 0, False) is "nothing yet"; _CLOSED is "walk finished further left".
_State = tuple[int, int, bool]
_CLOSED: _State = (-1, -1, False)
_STATES: tuple[_State, ...] = (
    *((f, b, False) for f in range(3) for b in range(3)),
    *((f, b, True) for f in (_EVEN, _ODD) for b in (_EVEN, _ODD)),
    _CLOSED,
)
_INDEX = {s: i for i, s in enumerate(_STATES)}
_EMPTY = _INDEX[(_OFF, _OFF, False)]
# The states of a closed walk, in the order :meth:`SingleBlockPricer._closed_length` keeps them.
_CLOSED_WALK = tuple(
    _INDEX[s]
    for s in (
        (_OFF, _OFF, False),
        _CLOSED,
        (_EVEN, _OFF, False),
        (_OFF, _EVEN, False),
        (_EVEN, _EVEN, False),
        (_EVEN, _EVEN, True),
        (_ODD, _ODD, False),
    )
)
# Transition tables: per state index, (successor index, cost multiplier or option index).
_Table = tuple[tuple[tuple[int, int], ...], ...]


def _by_state(moves: list[tuple[int, int, int]]) -> _Table:
    table: list[list[tuple[int, int]]] = [[] for _ in _STATES]
    for s, t, k in moves:
        table[s].append((t, k))
    return tuple(tuple(row) for row in table)


def _touch(status: int) -> int:
    """Status after adding an even number (> 0) of edge ends."""
    return _EVEN if status == _OFF else status


def _flip(status: int) -> int:
    """Status after adding an odd number of edge ends."""
    return _EVEN if status == _ODD else _ODD


def _ends(status: int, odd_target: bool) -> tuple[int, ...]:
    """Edges a junction may send right so that it leaves the sweep with the right parity."""
    if status == _OFF:
        return (0,)  # a spur to a junction off the walk visits nothing
    return (1,) if (status == _ODD) != odd_target else (0, 2)


@cache
def _horizontal(flags: int) -> _Table:
    """Cross-aisle edges from a column with ``flags`` to the next: multiplier of the gap."""
    out: list[tuple[int, int, int]] = []
    for s in _STATES:
        front, back, split = s
        if s == _CLOSED or (front, back) == (_OFF, _OFF):
            out.append((_INDEX[s], _INDEX[s], 0))
            continue
        for to_front in _ends(front, bool(flags & _FRONT_ODD)):
            for to_back in _ends(back, bool(flags & _BACK_ODD)):
                if to_front == 0 and to_back == 0:
                    if not split:  # the walk is complete: nothing more may be added
                        out.append((_INDEX[s], _INDEX[_CLOSED], 0))
                    continue
                if split and not (to_front and to_back):
                    continue  # a component would be cut off from the rest
                status = (_OFF, _ODD, _EVEN)
                nxt = (status[to_front], status[to_back], split)
                out.append((_INDEX[s], _INDEX[nxt], to_front + to_back))
    return _by_state(out)


def _vertical_options(flags: int) -> tuple[int, ...]:
    if not flags & _AISLE:
        return (_NONE,)
    if not flags & _PICKS:
        return (_NONE, _THROUGH, _TWICE)
    return (_THROUGH, _TWICE, _FROM_FRONT, _FROM_BACK, _GAP)


@cache
def _vertical(flags: int) -> _Table:
    """Edges inside the column's aisle and its required junctions: option index per move."""
    out: list[tuple[int, int, int]] = []
    required = flags & (_PICKS | _FRONT_REQUIRED | _BACK_REQUIRED)
    for s in _STATES:
        if s == _CLOSED:
            if not required:
                out.append((_INDEX[s], _INDEX[s], _NONE))
            continue
        front, back, split = s
        for option in _vertical_options(flags):
            f, b, sp = front, back, split
            if option == _THROUGH:
                f, b, sp = _flip(f), _flip(b), False
            elif option == _TWICE:
                f, b, sp = _touch(f), _touch(b), False
            elif option in (_FROM_FRONT, _GAP):
                sp = sp or (f == _OFF and b != _OFF)
                f = _touch(f)
            if option in (_FROM_BACK, _GAP):
                sp = sp or (b == _OFF and f != _OFF)
                b = _touch(b)
            if flags & _FRONT_REQUIRED and f == _OFF:
                f, sp = _EVEN, b != _OFF
            if flags & _BACK_REQUIRED and b == _OFF:
                b, sp = _EVEN, f != _OFF
            out.append((_INDEX[s], _INDEX[(f, b, sp)], option))
    return _by_state(out)


@cache
def _finished(flags: int) -> tuple[int, ...]:
    """States in which the walk may end after the last column."""
    ok = [_INDEX[_CLOSED]]
    for s in _STATES:
        front, back, split = s
        if s == _CLOSED or split or (front, back) == (_OFF, _OFF):
            continue
        if (front == _ODD) == bool(flags & _FRONT_ODD) and (back == _ODD) == bool(
            flags & _BACK_ODD
        ):
            ok.append(_INDEX[s])
    return tuple(ok)


def _relax(live: dict[int, int], table: _Table, costs: tuple[int, ...]) -> dict[int, int]:
    """One sweep step: the least length of every state reachable from ``live`` by ``table``."""
    after: dict[int, int] = {}
    get = after.get
    for s, v in live.items():
        for t, k in table[s]:
            c = v + costs[k]
            if c < get(t, _INF):
                after[t] = c
    return after


def _closed_step(
    states: tuple[int, ...], step: int, flags: int, costs: tuple[int, ...]
) -> tuple[int, ...]:
    """A closed walk's seven states (:data:`_CLOSED_WALK`) after the cross-aisle edges of
    length ``step`` and a column with ``flags`` and vertical ``costs``, by the tables."""
    live = {s: v for s, v in zip(_CLOSED_WALK, states, strict=True) if v < _INF}
    if step and live.keys() != {_EMPTY}:
        live = _relax(live, _horizontal(0), (0, step, 2 * step, 3 * step, 4 * step))
    live = _relax(live, _vertical(flags), costs)
    return tuple(live.get(s, _INF) for s in _CLOSED_WALK)


class SingleBlockPricer:
    """Length of the shortest walk from ``start`` through a set of points to ``end``.

    Parameters
    ----------
    ladder
        A one-block skeleton (exactly two cross aisles).
    point_aisle, point_y_mm
        Aisle index and y of every point a query may name (bins), indexed by point id.
    start, end
        Depot points ``(cross-aisle index, x_mm)``, cross-aisle index 0 (front) or 1 (back).

    Raises
    ------
    InvalidInput
        Naming the field and value when the ladder has more than one block, a point lies outside
        the block or a depot is not on a cross aisle.
    """

    def __init__(
        self,
        ladder: Ladder,
        point_aisle: Sequence[int],
        point_y_mm: Sequence[int],
        start: tuple[int, int],
        end: tuple[int, int],
    ) -> None:
        if ladder.n_cross_aisles != 2:
            raise InvalidInput.single(
                "ladder.cross_y_mm",
                f"needs exactly two cross aisles (one block), got {ladder.cross_y_mm!r}",
            )
        if len(point_aisle) != len(point_y_mm):
            raise InvalidInput.single(
                "point_y_mm",
                f"has {len(point_y_mm)} entries but point_aisle has {len(point_aisle)}",
            )
        self.front_y, self.back_y = ladder.cross_y_mm
        xs = ladder.aisle_x_mm
        for i, (a, y) in enumerate(zip(point_aisle, point_y_mm, strict=True)):
            if not 0 <= a < len(xs):
                raise InvalidInput.single(f"point_aisle[{i}]", f"no aisle {a!r}")
            if not self.front_y <= y <= self.back_y:
                raise InvalidInput.single(
                    f"point_y_mm[{i}]", f"must be in [{self.front_y}, {self.back_y}], got {y!r}"
                )
        for name, point in (("start", start), ("end", end)):
            if point[0] not in (0, 1):
                raise InvalidInput.single(name, f"cross-aisle index must be 0 or 1, got {point!r}")
        # Sort key per point: aisle first, then y (y < 2**32 mm).
        self._key = [int(a) << 32 | int(y) for a, y in zip(point_aisle, point_y_mm, strict=True)]
        # Bit per point for :meth:`mask`: aisle a's depths are bits a * width ... a * width +
        # width - 1 (both faces at one depth share a bit). None where a point lies on a cross
        # aisle (such picks are junctions the walk must reach, not depths in an aisle).
        self._depths = sorted(set(point_y_mm))
        self._width = max(len(self._depths), 1)
        self._bit: list[int] | None = None
        if all(self.front_y < y < self.back_y for y in point_y_mm):
            slot = {y: k for k, y in enumerate(self._depths)}
            self._bit = [
                1 << (int(a) * self._width + slot[y])
                for a, y in zip(point_aisle, point_y_mm, strict=True)
            ]
        self._extents: dict[int, tuple[int, int, int]] = {}
        # The closed walk's states after a first column that is not a plain aisle with picks
        # (the depot's), by its flags, lowest and highest inner y and widest gap.
        self._opening: dict[tuple[int, int, int, int], tuple[int, ...]] = {}
        self._xs = xs
        self._length = self.back_y - self.front_y
        # Columns every walk has: depots (required junctions, odd ends of an open walk) and the
        # nearest aisle on either side of each depot, keyed by x.
        base: dict[int, int] = {}
        for cross, x in {start, end}:
            flag = _FRONT_REQUIRED if cross == 0 else _BACK_REQUIRED
            if start != end:
                flag |= _FRONT_ODD if cross == 0 else _BACK_ODD
            base[x] = base.get(x, 0) | flag
            i = bisect.bisect_left(xs, x)  # the nearest aisle at or right of x
            for a in (i, i if i < len(xs) and xs[i] == x else i - 1):
                if 0 <= a < len(xs):
                    base.setdefault(xs[a], 0)
        aisles = set(xs)
        self._base = {x: flags | (_AISLE if x in aisles else 0) for x, flags in base.items()}
        self._closed = start == end
        #: The walk through no point: along the cross aisle, or through the best aisle.
        self.empty_length = (
            abs(start[1] - end[1])
            if start[0] == end[0]
            else self._length + min(abs(start[1] - ax) + abs(end[1] - ax) for ax in xs)
        )

    @property
    def masks(self) -> bool:
        """Whether :meth:`mask` applies (no point lies on a cross aisle)."""
        return self._bit is not None

    def mask(self, points: Iterable[int]) -> int:
        """The points as a bit mask over (aisle, depth), which :meth:`mask_length` prices.

        Points at the same depth of the same aisle (the two faces) share a bit: the walk is the
        same. Masks of a union are the OR of the masks, so batches are keyed and combined as
        integers rather than sets of points.
        """
        bit = self._bit
        if bit is None:
            raise ValueError("mask needs every point strictly inside the block")
        mask = 0
        for p in points:
            mask |= bit[p]
        return mask

    def mask_length(self, mask: int) -> int:
        """:meth:`length` of the points of a :meth:`mask`, without sorting them: each aisle's
        lowest and highest depth and widest gap come from its bits (remembered per aisle mask)."""
        if not mask:
            return self.empty_length
        columns: dict[int, list[int]] = {x: [f, 0, 0, 0] for x, f in self._base.items()}
        width, full, xs, extents = self._width, (1 << self._width) - 1, self._xs, self._extents
        aisle = 0
        while mask:
            picks = mask & full
            if picks:
                found = extents.get(picks)
                if found is None:
                    ys, rest = [], picks
                    while rest:
                        low = rest & -rest
                        ys.append(self._depths[low.bit_length() - 1])
                        rest ^= low
                    gap = max((b - a for a, b in pairwise(ys)), default=0)
                    if len(extents) >= _MAX_EXTENTS:
                        extents.clear()
                    found = extents[picks] = (ys[0], ys[-1], gap)
                x = xs[aisle]
                col = columns.get(x)
                if col is None:
                    columns[x] = [_AISLE | _PICKS, *found]
                else:
                    col[0] |= _PICKS
                    col[1], col[2], col[3] = found
            mask >>= width
            aisle += 1
        return self._length_of(columns)

    def length(self, points: Iterable[int]) -> int:
        """Walk length in mm through every point in ``points`` (ids into the constructor lists)."""
        keys = sorted(self._key[p] for p in points)
        if not keys:
            return self.empty_length
        xs, front_y, back_y = self._xs, self.front_y, self.back_y
        # Per column x: [flags, lowest inner y, highest inner y, widest gap between inner ys].
        columns: dict[int, list[int]] = {x: [f, 0, 0, 0] for x, f in self._base.items()}
        prev_aisle, prev_y, col = -1, 0, [0, 0, 0, 0]
        for k in keys:
            aisle, y = k >> 32, k & 0xFFFFFFFF
            if aisle != prev_aisle:
                x = xs[aisle]
                col = columns.get(x) or columns.setdefault(x, [_AISLE, 0, 0, 0])
                prev_aisle, prev_y = aisle, -1
            if y == front_y:
                col[0] |= _FRONT_REQUIRED
            elif y == back_y:
                col[0] |= _BACK_REQUIRED
            elif not col[0] & _PICKS:
                col[0] |= _PICKS
                col[1] = col[2] = prev_y = y
            elif y != prev_y:
                if y - prev_y > col[3]:
                    col[3] = y - prev_y
                col[2] = prev_y = y
        return self._length_of(columns)

    def _length_of(self, columns: dict[int, list[int]]) -> int:
        """The walk through ``columns`` (x -> [flags, lowest, highest inner y, widest gap])."""
        if self._closed:
            return self._closed_length(columns)
        front_y, back_y, length = self.front_y, self.back_y, self._length
        live = {_EMPTY: 0}  # state -> least length so far, for the states reached
        last_x = last_flags = 0
        for x in sorted(columns):
            flags, lo, hi, gap = columns[x]
            if live.keys() != {_EMPTY}:
                step = x - last_x
                live = _relax(
                    live, _horizontal(last_flags), (0, step, 2 * step, 3 * step, 4 * step)
                )
            costs = (
                0,
                length,
                2 * length,
                2 * (hi - front_y),
                2 * (back_y - lo),
                2 * (length - gap) if gap else _INF,
            )
            live, last_x, last_flags = _relax(live, _vertical(flags), costs), x, flags
        return min(live.get(s, _INF) for s in _finished(last_flags))

    def _closed_length(self, columns: dict[int, list[int]]) -> int:
        """:meth:`length` for a closed walk (the usual case), aisles with picks in closed form.

        In a closed walk every junction leaves the sweep with even degree, so only seven states
        occur (:data:`_CLOSED_WALK`): nothing yet, finished, only the front or the back junction
        on the walk, both joined, both apart, both odd. A column whose aisle holds picks and
        whose junctions are not required then takes a few ``min`` calls; other columns (depot,
        picks on a junction, idle aisles) go through the transition tables.
        """
        front_y, back_y, length = self.front_y, self.back_y, self._length
        empty, closed, front, back, joined, apart, odd = 0, _INF, _INF, _INF, _INF, _INF, _INF
        last_x = None
        for x in sorted(columns):
            flags, lo, hi, gap = columns[x]
            step = 0 if last_x is None else x - last_x
            last_x = x
            from_front, from_back = 2 * (hi - front_y), 2 * (back_y - lo)
            leave_gap = 2 * (length - gap) if gap else _INF
            if flags == _AISLE | _PICKS:
                # Cross-aisle edges from the previous column: 0 or 2 per junction, 1 when odd.
                # (Finishing before this aisle is no option, so "finished" is not carried.)
                two = 2 * step
                f = (front if front < joined else joined) + two
                b = (back if back < joined else joined) + two
                j, a, o = joined + 2 * two, apart + 2 * two, odd + two
                # The aisle: through once, twice, from the front, from the back, or both ends
                # leaving the largest gap.
                side = from_front if from_front < from_back else from_back
                if leave_gap < side:
                    side = leave_gap
                ef = empty if empty < f else f
                eb = empty if empty < b else b
                efb = ef if ef < b else b
                before = min(efb, j, a)
                empty = closed = _INF
                front, back = ef + from_front, eb + from_back
                joined = min(before + 2 * length, o + length, j + side)
                apart = min(efb + leave_gap, f + from_back, b + from_front, a + side)
                odd = min(before + length, o + side)
                continue
            costs = (0, length, 2 * length, from_front, from_back, leave_gap)
            if step == 0:  # the first column: its states depend on it alone
                opening = self._opening
                known = opening.get((flags, lo, hi, gap))
                if known is None:
                    if len(opening) >= _MAX_EXTENTS:
                        opening.clear()
                    known = opening[flags, lo, hi, gap] = _closed_step(
                        (0, _INF, _INF, _INF, _INF, _INF, _INF), 0, flags, costs
                    )
                empty, closed, front, back, joined, apart, odd = known
                continue
            empty, closed, front, back, joined, apart, odd = _closed_step(
                (empty, closed, front, back, joined, apart, odd), step, flags, costs
            )
        return min(closed, front, back, joined)
