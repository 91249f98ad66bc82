"""Shortest pick-walk lengths of many bin sets at once on a rectangular warehouse.

Order batching asks for the length of dozens of candidate batches at every step (an order
moved to each nearby cart, swapped with each of their orders). :func:`routing.ladder.route_length`
answers one set at a time with a plug DP over dictionaries of states, about a millisecond a
set on two blocks. Here the same DP runs on every set of a request together: the columns are
the warehouse's aisles (and depot points) for every set, idle aisles included, so the junction
steps and their transitions are shared, and only the costs differ. Each step is then a handful
of numpy operations over a (states x sets) array: gather the predecessors' costs, add the cost
of each decision, take the minimum per successor state.

What differs between sets is folded into the costs. A sub-aisle is offered every vertical
option of :mod:`routing.ladder` (none, through once or twice, in from either end, both ends
up to the largest gap), and the options a set's picks rule out (leaving a sub-aisle with
picks unwalked, a gap with fewer than two points) cost "infinity"; the walk may close at any
step into a finished state that can only go on through sub-aisles without picks. The results
equal :func:`routing.ladder.route_length` to the millimetre (tested on random sets); a set
with a pick on a cross aisle itself is priced by that function instead.

With three cross aisles (two blocks) a column has 23 states at its boundary and about 1,100
transitions; with more the state space grows too fast for a dense array (:data:`MAX_CROSS_AISLES`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from routing import ladder as _ladder
from routing.errors import InvalidInput
from routing.ladder import Ladder, route_length

__all__ = ["MAX_CROSS_AISLES", "ManyRoutes"]

#: Most cross aisles this pricer takes (two blocks).
MAX_CROSS_AISLES = 3
# The cost of an option a set rules out: far above any walk (2**40 mm is a million
# kilometres), and low enough that sums of one per step stay far inside 64 bits.
_INF = 1 << 40
# Sets per DP run: with 64 or more at once each set took 2-3x as long as with 32 (two blocks
# of 20 aisles, ``benchmarks.bulk_bench``'s sets), so larger requests run in chunks.
_CHUNK = 32
# Options of a sub-aisle of any kind, in :mod:`routing.ladder`'s order: none, through once,
# through twice, in from the bottom, in from the top, both ends up to the widest gap.
_N_OPTIONS = len(_ladder._OPTIONS[_ladder.ANY_KIND])
_FINISHED = -1

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class _Step:
    """One junction of the shared sweep: how each successor state is reached."""

    column: int
    block: int  # the sub-aisle below the junction whose options apply, -1 for none
    source: IntArray  # predecessor state index per transition, grouped by successor
    option: IntArray  # the sub-aisle's option per transition
    across: IntArray  # per transition (a column), the length walked to the next column
    starts: IntArray  # first transition of each successor state


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
        self._n_columns = n_cols = len(xs)
        aisle_columns = {column_of_x[x] for x in ladder.aisle_x_mm}
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
        start_node = (column_of_x[start[1]], start[0])
        end_node = (column_of_x[end[1]], end[0])
        states: dict[int, int] = {0: 0}
        steps: list[_Step] = []
        for c in range(n_cols):
            last = c == n_cols - 1
            h_len = 0 if last else xs[c + 1] - xs[c]
            for r in range(m):
                node = (c, r)
                parity = int(start_node != end_node and node in (start_node, end_node))
                required = node in (start_node, end_node)
                has_aisle = c in aisle_columns and r < m - 1
                kind = _ladder.ANY_KIND if has_aisle else 0
                sig: _ladder._Signature = (m, r, kind, parity, required, last, False)
                moves: list[tuple[int, int, int]] = []  # (successor, source index, code)
                for state, index in states.items():
                    if state == _FINISHED:
                        if not required:  # nothing more to walk: no option, no edge
                            moves.append((_FINISHED, index, 0))
                        continue
                    for successor, code, _ in _ladder._transitions(state, sig):
                        moves.append((successor, index, code))
                successors = sorted({s for s, _, _ in moves})
                new_index = {s: k for k, s in enumerate(successors)}
                moves.sort(key=lambda move: new_index[move[0]])
                ids = np.array([new_index[s] for s, _, _ in moves], dtype=np.int64)
                option, right = np.divmod(np.array([k for _, _, k in moves], dtype=np.int64), 3)
                steps.append(
                    _Step(
                        column=c,
                        block=r if has_aisle else -1,
                        source=np.array([i for _, i, _ in moves], dtype=np.int64),
                        option=option,
                        across=(right * h_len)[:, None],
                        starts=np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]),
                    )
                )
                states = new_index
        self._steps = steps
        self._finished = states.get(_FINISHED, -1)

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
        for first in range(0, len(batch), _CHUNK):
            chunk = batch[first : first + _CHUNK]
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

    def _option_costs(self, sets: Sequence[Collection[int]]) -> IntArray:
        """Cost of each unified option per (column, block, option, set)."""
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
        return costs

    def _dp(self, sets: Sequence[Collection[int]]) -> list[int]:
        n = len(sets)
        options = self._option_costs(sets)
        cost = np.zeros((1, n), dtype=np.int64)
        least = np.minimum.reduceat
        for step in self._steps:  # take(): 4x as fast as fancy indexing on these small arrays
            values = cost.take(step.source, axis=0)
            values += step.across
            if step.block >= 0:
                values += options[step.column, step.block].take(step.option, axis=0)
            cost = least(values, step.starts, axis=0)
        return [int(v) for v in cost[self._finished]]
