"""Shortest pick-walk lengths of many bin sets at once on a rectangular warehouse.

Order batching asks for the length of dozens of candidate batches at every step (an order
moved to each nearby cart, swapped with each of their orders). :func:`routing.ladder.route_length`
answers one set at a time with a plug DP over dictionaries of states, about a millisecond a
set on two blocks of 20 aisles. Here the same DP runs on every set of a request together: the
columns are the aisles (and depot points) any set of the request picks in, so the junction
steps and their transitions are shared, and only the costs differ. Each step is then a handful
of numpy operations over a (states x sets) array: gather the predecessors' costs, add the cost
of each decision, take the minimum per successor state. Steps depend only on the states they
start from and the junction's kind, so they are built once and remembered.

What differs between sets is folded into the costs. A sub-aisle is offered every vertical
option of :mod:`routing.ladder` (none, through once or twice, in from either end, both ends
up to the largest gap), and the options a set's picks rule out (leaving a sub-aisle with
picks unwalked, a gap with fewer than two points) cost "infinity"; the walk may close at any
step into a finished state that can only go on through sub-aisles without picks. Aisles no
set picks in are left out, except the nearest on either side of a depot, which is exact (see
:func:`routing.ladder._without_idle_aisles`). The results equal
:func:`routing.ladder.route_length` to the millimetre (tested against it and against brute
force); a set with a pick on a cross aisle itself is priced by that function instead.

With three cross aisles (two blocks) a column has 23 states at its boundary and about 1,100
transitions, with four (three blocks) 111 and 9,600; with five 567 and 70,000, too many for
a dense array to beat a route search (:data:`MAX_CROSS_AISLES`).
On two blocks of 20 aisles, sets of 20-35 bins take 0.17 ms alone and 0.05 ms each in
requests of 32, against 1.1 ms one by one; on 100 aisles, where a request's sets together
touch most aisles, 0.26 ms alone and 0.25-0.32 ms each in requests, against 2.1 ms; on three
blocks of 20 aisles 0.37-0.45 ms against 6.6 ms (``benchmarks/results/bulk.md``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from routing import ladder as _ladder
from routing.errors import InvalidInput
from routing.ladder import Ladder, route_length

__all__ = ["MAX_CROSS_AISLES", "ManyRoutes"]

#: Most cross aisles this pricer takes (three blocks).
MAX_CROSS_AISLES = 4
# The cost of an option a set rules out: far above any walk (2**40 mm is a million
# kilometres), and low enough that sums of one per step stay far inside 64 bits.
_INF = 1 << 40
# Sets per DP run, by cross aisles: with more at once each set took longer (two blocks of 20
# aisles: 2-3x at 64 sets against 32; three blocks: 2.4x at 32 against 16), so larger requests
# run in chunks.
_CHUNKS = {2: 32, 3: 32, 4: 16}
# Options of a sub-aisle of any kind, in :mod:`routing.ladder`'s order: none, through once,
# through twice, in from the bottom, in from the top, both ends up to the widest gap.
_N_OPTIONS = len(_ladder._OPTIONS[_ladder.ANY_KIND])
_FINISHED = -1
# Gap widths whose walked lengths a step keeps (regular layouts have a few).
_ACROSS_KEPT = 16

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class _Step:
    """One junction of the shared sweep: how each successor state is reached."""

    row: int  # the junction's cross aisle
    aisle: bool  # whether a sub-aisle lies above the junction, whose options apply
    source: IntArray  # predecessor state index per transition, grouped by successor
    option: IntArray  # the sub-aisle's option per transition (when the junction has one)
    right: IntArray  # per transition (a column), how often the gap to the next column is walked
    starts: IntArray  # first transition of each successor state
    after: int  # the successor states' list (an index into _STATE_LISTS)
    #: ``right`` times a gap's width (a column), by width, for the first widths asked for.
    across: dict[int, IntArray] = field(default_factory=dict)

    def walked(self, width: int) -> IntArray:
        """The length each transition walks to a next column ``width`` away (a column)."""
        out = self.across.get(width)
        if out is None:
            out = (self.right * width)[:, None]
            if len(self.across) < _ACROSS_KEPT:
                self.across[width] = out
        return out


class ManyRoutes:
    """Lengths of the shortest walks from ``start`` through each of many bin sets to ``end``.

    Parameters
    ----------
    ladder
        The warehouse skeleton, at most :data:`MAX_CROSS_AISLES` cross aisles.
    bin_aisle, bin_y_mm
        Aisle index and y of every bin location (``routing.rectangular`` geometry).
    start, end
        Depot points ``(cross-aisle index, x_mm)``, as in :func:`routing.ladder.route_length`.
    """

    def __init__(
        self,
        ladder: Ladder,
        bin_aisle: Sequence[int],
        bin_y_mm: Sequence[int],
        start: tuple[int, int],
        end: tuple[int, int],
    ) -> None:
        if ladder.n_cross_aisles > MAX_CROSS_AISLES:
            raise InvalidInput.single(
                "ladder.cross_y_mm",
                f"at most {MAX_CROSS_AISLES} cross aisles, got {ladder.n_cross_aisles}",
            )
        self.ladder, self.start, self.end = ladder, start, end
        m = ladder.n_cross_aisles
        cross_y = ladder.cross_y_mm
        xs = sorted(set(ladder.aisle_x_mm) | {start[1], end[1]})
        column_of_x = {x: c for c, x in enumerate(xs)}
        self._n_columns = len(xs)
        self._xs = xs
        self._aisle_columns = {column_of_x[x] for x in ladder.aisle_x_mm}
        self._start_node = (column_of_x[start[1]], start[0])
        self._end_node = (column_of_x[end[1]], end[0])
        # Columns every request keeps: the depots', and the nearest aisle on either side of
        # each (see routing.ladder._without_idle_aisles); the others only where a set picks.
        keep = {self._start_node[0], self._end_node[0]}
        for depot in (start[1], end[1]):
            left = [column_of_x[x] for x in ladder.aisle_x_mm if x <= depot]
            right = [column_of_x[x] for x in ladder.aisle_x_mm if x >= depot]
            keep.update(columns[k] for columns, k in ((left, -1), (right, 0)) if columns)
        self._always = np.array(sorted(keep), dtype=np.int64)
        #: The steps of each column by (states before it, column, whether it is the last).
        self._columns: dict[tuple[int, int, bool], tuple[_Step, ...]] = {}
        self._bin_aisle = np.asarray(bin_aisle, dtype=np.int64)
        self._bin_y = np.asarray(bin_y_mm, dtype=np.int64)
        self._bin_column = np.array(
            [column_of_x[ladder.aisle_x_mm[a]] for a in bin_aisle], dtype=np.int64
        )
        # Block of each bin (the last block edge at or below it), and whether it lies on a
        # cross aisle (such sets go to the scalar DP).
        self._bin_block = np.clip(
            np.searchsorted(np.asarray(cross_y), self._bin_y, side="right") - 1, 0, m - 2
        )
        self._on_junction = set(np.flatnonzero(np.isin(self._bin_y, cross_y)).tolist())
        self._block_lo = np.asarray(cross_y[:-1], dtype=np.int64)
        self._block_len = np.diff(np.asarray(cross_y, dtype=np.int64))

    def lengths(self, sets: Sequence[Collection[int]]) -> list[int]:
        """The shortest walk's length in mm through each set of bin locations (none: 0 when
        start and end coincide)."""
        out = [0] * len(sets)
        batch: list[int] = []
        for k, locs in enumerate(sets):
            if locs and self._on_junction.isdisjoint(locs):
                batch.append(k)
            else:
                out[k] = self._scalar(locs)
        size = _CHUNKS[self.ladder.n_cross_aisles]
        for first in range(0, len(batch), size):
            chunk = batch[first : first + size]
            for k, length in zip(chunk, self._dp([sets[k] for k in chunk]), strict=True):
                out[k] = length
        return out

    def _scalar(self, locs: Collection[int]) -> int:
        ordered = sorted(locs)
        solved = route_length(
            self.ladder,
            [int(self._bin_aisle[x]) for x in ordered],
            [int(self._bin_y[x]) for x in ordered],
            self.start,
            self.end,
        )
        assert solved is not None
        return solved[0]

    def _option_costs(self, sets: Sequence[Collection[int]]) -> tuple[IntArray, IntArray]:
        """Cost of each option per (column, block, option, set), and the columns any set
        picks in."""
        n = len(sets)
        m = self.ladder.n_cross_aisles
        sizes = np.fromiter((len(s) for s in sets), dtype=np.int64, count=n)
        locs = np.fromiter((x for s in sets for x in s), dtype=np.int64, count=int(sizes.sum()))
        owner = np.repeat(np.arange(n, dtype=np.int64), sizes)
        column, block, y = self._bin_column[locs], self._bin_block[locs], self._bin_y[locs]
        cell = (column * (m - 1) + block) * n + owner
        order = np.lexsort((y, cell))
        cell, y, block = cell[order], y[order], block[order]
        first = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
        last = np.r_[first[1:], len(cell)] - 1
        low, high = y[first], y[last]
        lo = self._block_lo[block[first]]
        length = self._block_len[block[first]]
        # Widest gap between consecutive points of a cell (0 between equal ys, and none across
        # cells); a cell with one distinct point has no inner gap.
        gaps = np.r_[np.diff(y), 0]
        gaps[last] = 0
        widest = np.maximum.reduceat(gaps, first)
        costs = np.empty((self._n_columns, m - 1, _N_OPTIONS, n), dtype=np.int64)
        lengths = self._block_len[None, :, None]
        costs[:, :, 0, :] = 0
        costs[:, :, 1, :] = lengths
        costs[:, :, 2, :] = 2 * lengths
        costs[:, :, 3:, :] = _INF
        flat = costs.reshape(self._n_columns * (m - 1), _N_OPTIONS, n)
        cells, sets_of = np.divmod(cell[first], n)
        flat[cells, 0, sets_of] = _INF
        flat[cells, 3, sets_of] = 2 * (high - lo)
        flat[cells, 4, sets_of] = 2 * (lo + length - low)
        flat[cells, 5, sets_of] = np.where(high > low, 2 * (length - widest), _INF)
        return costs, np.unique(column)

    def _dp(self, sets: Sequence[Collection[int]]) -> list[int]:
        n = len(sets)
        options, used = self._option_costs(sets)
        # Columns no set picks in are left out (exact, as in routing.ladder): the DP's work
        # follows the aisles the request touches, not the width of the warehouse.
        kept = np.union1d(used, self._always).tolist()
        xs, columns = self._xs, self._columns
        cost = np.zeros((1, n), dtype=np.int64)
        states = 0  # _STATE_LISTS[0]: nothing walked yet
        least = np.minimum.reduceat
        final = len(kept) - 1
        for k, c in enumerate(kept):
            h_len = xs[kept[k + 1]] - xs[c] if k < final else 0
            steps = columns.get((states, c, k == final)) or self._column(states, c, k == final)
            for step in steps:
                # take(): 4x as fast as fancy indexing on arrays this small
                values = cost.take(step.source, axis=0)
                if h_len:
                    values += step.walked(h_len)
                if step.aisle:
                    values += options[c, step.row].take(step.option, axis=0)
                cost = least(values, step.starts, axis=0)
            states = steps[-1].after
        return [int(v) for v in cost[_STATE_LISTS[states].index(_FINISHED)]]

    def _column(self, states: int, c: int, last: bool) -> tuple[_Step, ...]:
        """The steps of column ``c`` from the states of ``_STATE_LISTS[states]``."""
        m = self.ladder.n_cross_aisles
        nodes = (self._start_node, self._end_node)
        steps: list[_Step] = []
        for r in range(m):
            required = (c, r) in nodes
            odd = required and nodes[0] != nodes[1]
            aisle = c in self._aisle_columns and r < m - 1
            steps.append(
                _step(steps[-1].after if steps else states, (m, r, aisle, odd, required, last))
            )
        out = self._columns[states, c, last] = tuple(steps)
        return out


#: Every list of states a step has started from or led to (ascending), and the index of each.
_STATE_LISTS: list[tuple[int, ...]] = [(0,)]
_STATE_LIST_INDEX: dict[tuple[int, ...], int] = {(0,): 0}
#: Steps by (the list of states they start from, their signature: cross aisles, row, whether
#: the junction has a sub-aisle below it, odd degree, required, last column).
_StepSignature = tuple[int, int, bool, bool, bool, bool]
_STEPS: dict[tuple[int, _StepSignature], _Step] = {}


def _step(states: int, sig: _StepSignature) -> _Step:
    """The transitions of one junction from the states of ``_STATE_LISTS[states]``; built
    from :func:`routing.ladder._transitions` once and remembered (a few dozen kinds of step
    cover every request on a layout)."""
    step = _STEPS.get((states, sig))
    if step is not None:
        return step
    m, r, has_aisle, odd, required, last = sig
    kind = _ladder.ANY_KIND if has_aisle else 0
    ladder_sig: _ladder._Signature = (m, r, kind, int(odd), required, last, False)
    moves: list[tuple[int, int, int]] = []  # (successor, source index, code)
    for index, state in enumerate(_STATE_LISTS[states]):
        if state == _FINISHED:
            if not required:  # nothing more to walk: no option, no edge
                moves.append((_FINISHED, index, 0))
            continue
        for successor, code, _ in _ladder._transitions(state, ladder_sig):
            moves.append((successor, index, code))
    successors = tuple(sorted({s for s, _, _ in moves}))
    after = _STATE_LIST_INDEX.get(successors)
    if after is None:
        after = _STATE_LIST_INDEX[successors] = len(_STATE_LISTS)
        _STATE_LISTS.append(successors)
    new_index = {s: k for k, s in enumerate(successors)}
    moves.sort(key=lambda move: new_index[move[0]])
    ids = np.array([new_index[s] for s, _, _ in moves], dtype=np.int64)
    option, right = np.divmod(np.array([k for _, _, k in moves], dtype=np.int64), 3)
    step = _STEPS[states, sig] = _Step(
        row=r,
        aisle=has_aisle,
        source=np.array([i for _, i, _ in moves], dtype=np.int64),
        option=option,
        right=right,
        starts=np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]),
        after=after,
    )
    return step
