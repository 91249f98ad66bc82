"""The distance oracle: shortest walking distance between any two points of one layout.

All-pairs shortest paths are computed once over the junctions only (hundreds to a few thousand
nodes). A bin or depot sits on a segment, so the distance from point ``a`` to point ``b`` is the
best of at most four combinations "leave ``a`` through one end of its segment, walk junction to
junction, enter ``b``'s segment through one of its ends", or the direct walk when both lie on the
same segment. For a pick list that is a handful of numpy gathers, never a bin-by-bin matrix of the
whole warehouse: a 100,000-bin layout costs a few arrays of 100,000 entries.

Distances are integer millimetres; the API speaks metres.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from routing.errors import NotFound
from routing.layout import GraphLayout
from routing.rectangular import RectangularGraph, RectangularLayout, to_graph

#: Cost of a move that is not allowed (leaving a one-way segment backwards). Large enough to never
#: win, small enough that adding three of them cannot overflow int64.
UNREACHABLE_MM = 2**40

IntArray = npt.NDArray[np.int64]


def _mm(metres: float) -> int:
    return round(metres * 1000)


@dataclass(frozen=True)
class Waypoint:
    """A corner of the walking path, in metres on the floor plan."""

    x_m: float
    y_m: float
    junction: str = ""


class DistanceOracle:
    """Shortest walking distances for one immutable layout, shared by every service.

    Locations are numbered bins first (``0 .. n_bins-1``, in layout order) then depots.
    """

    def __init__(self, layout: GraphLayout | RectangularLayout) -> None:
        self.rectangular: RectangularGraph | None = None
        if isinstance(layout, RectangularLayout):
            self.rectangular = to_graph(layout)
            layout = self.rectangular.graph
        self.layout = layout
        self.layout_id = layout.id
        self.bin_ids: tuple[str, ...] = tuple(b.id for b in layout.bins)
        self.depot_ids: tuple[str, ...] = tuple(d.id for d in layout.depots)
        self.n_bins = len(self.bin_ids)
        self._bin_index = {ident: i for i, ident in enumerate(self.bin_ids)}
        self._depot_index = {ident: i for i, ident in enumerate(self.depot_ids)}

        junction_index = {j.id: i for i, j in enumerate(layout.junctions)}
        segment_index = {s.id: i for i, s in enumerate(layout.segments)}
        self._junction_xy = np.array(
            [(j.x_m, j.y_m) for j in layout.junctions], dtype=np.float64
        ).reshape(-1, 2)
        n_seg = len(layout.segments)
        self._seg_ends = np.array(
            [(junction_index[s.start], junction_index[s.end]) for s in layout.segments],
            dtype=np.int64,
        ).reshape(-1, 2)
        self._seg_len = np.array([_mm(x) for x in layout.segment_lengths_m], dtype=np.int64)
        self._seg_one_way = np.array([s.one_way for s in layout.segments], dtype=bool)
        self._dist, self._pred = self._junction_paths(len(layout.junctions), n_seg)

        spots = [b.spot for b in layout.bins] + [d.spot for d in layout.depots]
        self._loc_seg = np.full(len(spots), -1, dtype=np.int64)
        self._loc_off = np.zeros(len(spots), dtype=np.int64)
        self._loc_junction = np.full(len(spots), -1, dtype=np.int64)
        for i, spot in enumerate(spots):
            if spot.segment:
                s = segment_index[spot.segment]
                self._loc_seg[i] = s
                self._loc_off[i] = min(_mm(spot.offset_m), int(self._seg_len[s]))
            else:
                self._loc_junction[i] = junction_index[spot.junction]
        self._build_ends()
        for array in vars(self).values():
            if isinstance(array, np.ndarray):
                array.setflags(write=False)

    # -- construction -----------------------------------------------------------------------

    def _junction_paths(self, n: int, n_seg: int) -> tuple[IntArray, npt.NDArray[np.int32]]:
        """All-pairs shortest paths over junctions (Dijkstra from every junction)."""
        ends, length, one_way = self._seg_ends, self._seg_len, self._seg_one_way
        tails = np.concatenate([ends[:, 0], ends[~one_way, 1]])
        heads = np.concatenate([ends[:, 1], ends[~one_way, 0]])
        weights = np.concatenate([length, length[~one_way]]).astype(np.float64)
        keep = tails != heads
        tails, heads, weights = tails[keep], heads[keep], weights[keep]
        # Parallel segments: keep the shortest; zero lengths become a tiny weight because sparse
        # graphs treat explicit zeros as missing edges.
        order = np.lexsort((weights, heads, tails))
        tails, heads, weights = tails[order], heads[order], weights[order]
        first = np.ones(len(tails), dtype=bool)
        first[1:] = (tails[1:] != tails[:-1]) | (heads[1:] != heads[:-1])
        tails, heads, weights = tails[first], heads[first], np.maximum(weights[first], 1e-6)
        graph = csr_matrix((weights, (tails, heads)), shape=(n, n))
        dist, pred = shortest_path(graph, method="D", directed=True, return_predecessors=True)
        finite = np.isfinite(dist)
        out = np.full((n, n), UNREACHABLE_MM, dtype=np.int64)
        out[finite] = np.rint(dist[finite]).astype(np.int64)
        return out, pred.astype(np.int32)

    def _build_ends(self) -> None:
        """Per location: the junctions it can be left to / entered from, and at what cost."""
        n_loc = len(self._loc_seg)
        on_seg = self._loc_seg >= 0
        seg = np.where(on_seg, self._loc_seg, 0)
        tail = self._seg_ends[seg, 0]
        head = self._seg_ends[seg, 1]
        off = self._loc_off
        rest = self._seg_len[seg] - off
        one_way = self._seg_one_way[seg] & on_seg
        junction = self._loc_junction
        exit_node = np.empty((n_loc, 2), dtype=np.int64)
        exit_cost = np.empty((n_loc, 2), dtype=np.int64)
        entry_node = np.empty((n_loc, 2), dtype=np.int64)
        entry_cost = np.empty((n_loc, 2), dtype=np.int64)
        # Two-way segment: leave or enter through either end.
        exit_node[:, 0], exit_cost[:, 0] = tail, off
        exit_node[:, 1], exit_cost[:, 1] = head, rest
        entry_node[:] = exit_node
        entry_cost[:] = exit_cost
        # One-way segment: leave forwards through the head, enter from the tail only.
        exit_node[one_way, 0], exit_cost[one_way, 0] = head[one_way], rest[one_way]
        exit_cost[one_way, 1] = UNREACHABLE_MM
        entry_cost[one_way, 1] = UNREACHABLE_MM
        # On a junction: both "ends" are the junction itself at no cost.
        at = ~on_seg
        for arr in (exit_node, entry_node):
            arr[at, 0] = junction[at]
            arr[at, 1] = junction[at]
        for arr in (exit_cost, entry_cost):
            arr[at] = 0
        self._exit_node, self._exit_cost = exit_node, exit_cost
        self._entry_node, self._entry_cost = entry_node, entry_cost

    # -- lookups ----------------------------------------------------------------------------

    @property
    def n_locations(self) -> int:
        """Bins plus depots."""
        return len(self._loc_seg)

    @property
    def bin_index(self) -> Mapping[str, int]:
        """Location index of every bin by id (also answers "is this a bin here?" quickly)."""
        return self._bin_index

    def bin_location(self, bin_id: str, field: str = "bin_ids") -> int:
        """Location index of a bin; :class:`NotFound` names ``field`` when it is unknown."""
        try:
            return self._bin_index[bin_id]
        except KeyError:
            raise NotFound("bin", bin_id, field) from None

    def bin_locations(self, bin_ids: Sequence[str], field: str = "bin_ids") -> IntArray:
        """Location indices of ``bin_ids``; the first unknown one raises :class:`NotFound`."""
        index = self._bin_index
        out = np.empty(len(bin_ids), dtype=np.int64)
        for i, ident in enumerate(bin_ids):
            loc = index.get(ident)
            if loc is None:
                raise NotFound("bin", ident, f"{field}[{i}]")
            out[i] = loc
        return out

    def depot_location(self, depot_id: str, field: str = "depot") -> int:
        """Location index of a depot; :class:`NotFound` names ``field`` when it is unknown."""
        try:
            return self.n_bins + self._depot_index[depot_id]
        except KeyError:
            raise NotFound("depot", depot_id, field) from None

    def location_id(self, loc: int) -> str:
        """Bin or depot id of a location."""
        return self.bin_ids[loc] if loc < self.n_bins else self.depot_ids[loc - self.n_bins]

    # -- distances --------------------------------------------------------------------------

    def matrix(self, locs: Sequence[int] | IntArray) -> IntArray:
        """Shortest-path distances in mm between every ordered pair of ``locs`` (k x k, read-only).

        May be asymmetric when the layout has one-way segments.
        """
        loc = np.asarray(locs, dtype=np.int64)
        xn, xc = self._exit_node[loc], self._exit_cost[loc]
        nn, nc = self._entry_node[loc], self._entry_cost[loc]
        dist = self._dist
        best: IntArray | None = None
        for a in (0, 1):
            for b in (0, 1):
                cand = xc[:, a, None] + dist[xn[:, a, None], nn[None, :, b]] + nc[None, :, b]
                best = cand if best is None else np.minimum(best, cand)
        assert best is not None
        seg = self._loc_seg[loc]
        same = (seg[:, None] == seg[None, :]) & (seg[:, None] >= 0)
        if same.any():
            off = self._loc_off[loc]
            delta = off[None, :] - off[:, None]
            one_way = self._seg_one_way[np.maximum(seg, 0)][:, None]
            direct = np.where(one_way, np.where(delta >= 0, delta, UNREACHABLE_MM), np.abs(delta))
            best = np.where(same, np.minimum(best, direct), best)
        np.fill_diagonal(best, 0)
        best.setflags(write=False)
        return best

    def distance(self, a: int, b: int) -> int:
        """Shortest-path distance in mm from location ``a`` to location ``b``."""
        return int(self.matrix([a, b])[0, 1])

    # -- geometry ---------------------------------------------------------------------------

    def point(self, loc: int) -> tuple[float, float]:
        """Floor-plan coordinates (metres) of a location, interpolated along its segment."""
        seg = int(self._loc_seg[loc])
        if seg < 0:
            x, y = self._junction_xy[self._loc_junction[loc]]
            return float(x), float(y)
        u, v = self._seg_ends[seg]
        length = int(self._seg_len[seg])
        t = float(self._loc_off[loc]) / length if length else 0.0
        (x0, y0), (x1, y1) = self._junction_xy[u], self._junction_xy[v]
        return float(x0 + t * (x1 - x0)), float(y0 + t * (y1 - y0))

    def path(self, a: int, b: int) -> list[Waypoint]:
        """The walking path from location ``a`` to ``b`` as waypoints (both ends included)."""
        start = Waypoint(*self.point(a))
        finish = Waypoint(*self.point(b))
        seg_a, seg_b = int(self._loc_seg[a]), int(self._loc_seg[b])
        target = self.distance(a, b)
        if seg_a >= 0 and seg_a == seg_b:
            delta = int(self._loc_off[b] - self._loc_off[a])
            direct = delta if self._seg_one_way[seg_a] else abs(delta)
            if (delta >= 0 or not self._seg_one_way[seg_a]) and direct == target:
                return [start, finish]
        for i in (0, 1):
            for j in (0, 1):
                u, v = int(self._exit_node[a, i]), int(self._entry_node[b, j])
                cost = self._exit_cost[a, i] + self._dist[u, v] + self._entry_cost[b, j]
                if cost == target:
                    return [start, *self._junction_walk(u, v), finish]
        raise AssertionError("shortest path inconsistent with the distance matrix")

    def _junction_walk(self, u: int, v: int) -> list[Waypoint]:
        nodes = [v]
        while nodes[-1] != u:
            nodes.append(int(self._pred[u, nodes[-1]]))
        ids = self.layout.junctions
        return [
            Waypoint(float(self._junction_xy[n, 0]), float(self._junction_xy[n, 1]), ids[n].id)
            for n in reversed(nodes)
        ]
