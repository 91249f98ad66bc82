"""Warehouse layouts as graphs of junctions and walkable segments.

Every layout, however it is described, becomes a :class:`GraphLayout`: junctions (aisle ends,
cross-aisle crossings, depots, lift doors) joined by segments (aisle and cross-aisle pieces, ramps,
one-way lanes), with every storage location (:class:`Bin`) and every depot sitting either on a
junction or on a segment at an offset from the segment's start. Rectangular multi-block warehouses
are a generator for such graphs (:mod:`routing.rectangular`).

Validation collects every problem at once (duplicate ids, unknown references, negative lengths,
offsets off the segment, areas that cannot be reached from a depot) as
:class:`~routing.errors.FieldViolation` objects whose field paths match the API's
(``bins[12].segment``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from routing.errors import FieldViolation, InvalidInput

#: Largest coordinate or length, in metres: a floor plan larger than this is a unit mistake,
#: and the bound keeps every sum of millimetres well inside 64 bits.
MAX_METRES = 1_000_000.0


class Side(enum.Enum):
    """Which face of the aisle a bin is on. The picker stands on the centre line either way."""

    NONE = "none"
    LEFT = "left"
    RIGHT = "right"


@dataclass(frozen=True)
class Junction:
    """A point where segments meet, in metres on the floor plan."""

    id: str
    x_m: float
    y_m: float


@dataclass(frozen=True)
class Segment:
    """A walkable piece of aisle between two junctions.

    ``length_m`` defaults to the Euclidean distance between the junctions; give it explicitly
    for curved paths, ramps or lifts. A ``one_way`` segment may only be walked from ``start`` to
    ``end`` (narrow aisles with a traffic rule).
    """

    id: str
    start: str
    end: str
    length_m: float | None = None
    one_way: bool = False


@dataclass(frozen=True)
class Spot:
    """Where something stands: on a junction, or on a segment ``offset_m`` from its start."""

    junction: str = ""
    segment: str = ""
    offset_m: float = 0.0


@dataclass(frozen=True)
class Bin:
    """A storage location the picker walks to."""

    id: str
    spot: Spot
    side: Side = Side.NONE


@dataclass(frozen=True)
class Depot:
    """Where routes start or end (pick-and-drop station, packing desk, cart park)."""

    id: str
    spot: Spot


@dataclass(frozen=True)
class GraphLayout:
    """A warehouse as a graph; the general layout every other description compiles to.

    Construction validates the whole layout and raises :class:`InvalidInput` with every
    violation found.
    """

    id: str
    junctions: tuple[Junction, ...]
    segments: tuple[Segment, ...]
    bins: tuple[Bin, ...]
    depots: tuple[Depot, ...]
    name: str = ""
    #: Length of every segment in metres, resolved from the explicit or Euclidean length.
    segment_lengths_m: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        violations, lengths = _check_graph(self)
        if violations:
            raise InvalidInput(violations)
        object.__setattr__(self, "segment_lengths_m", lengths)


def _duplicates(field_name: str, ids: Iterable[str]) -> list[FieldViolation]:
    seen: dict[str, int] = {}
    out: list[FieldViolation] = []
    for i, ident in enumerate(ids):
        if not ident:
            out.append(FieldViolation(f"{field_name}[{i}].id", "must not be empty"))
        elif ident in seen:
            out.append(
                FieldViolation(
                    f"{field_name}[{i}].id",
                    f"duplicate id {ident!r} (first used at {field_name}[{seen[ident]}])",
                )
            )
        else:
            seen[ident] = i
    return out


def _check_spot(
    path: str,
    spot: Spot,
    junction_index: dict[str, int],
    segment_index: dict[str, int],
    lengths: Sequence[float],
) -> list[FieldViolation]:
    if bool(spot.junction) == bool(spot.segment):
        return [FieldViolation(path, "give exactly one of junction or segment")]
    if spot.junction:
        if spot.junction not in junction_index:
            return [FieldViolation(f"{path}.junction", f"unknown junction {spot.junction!r}")]
        return []
    if spot.segment not in segment_index:
        return [FieldViolation(f"{path}.segment", f"unknown segment {spot.segment!r}")]
    length = lengths[segment_index[spot.segment]]
    if not (math.isfinite(spot.offset_m) and 0.0 <= spot.offset_m <= length + 1e-9):
        return [
            FieldViolation(
                f"{path}.offset_m",
                f"{spot.offset_m!r} is off segment {spot.segment!r} (length {length:g} m)",
            )
        ]
    return []


def _check_graph(layout: GraphLayout) -> tuple[list[FieldViolation], tuple[float, ...]]:
    """Return every violation in ``layout`` and the resolved segment lengths."""
    v: list[FieldViolation] = []
    if not layout.id:
        v.append(FieldViolation("id", "must not be empty"))
    v += _duplicates("junctions", (j.id for j in layout.junctions))
    v += _duplicates("segments", (s.id for s in layout.segments))
    v += _duplicates("bins", (b.id for b in layout.bins))
    v += _duplicates("depots", (d.id for d in layout.depots))
    if not layout.depots:
        v.append(FieldViolation("depots", "a layout needs at least one depot"))
    junction_index = {j.id: i for i, j in enumerate(layout.junctions)}
    segment_index = {s.id: i for i, s in enumerate(layout.segments)}
    for i, j in enumerate(layout.junctions):
        if not (abs(j.x_m) <= MAX_METRES and abs(j.y_m) <= MAX_METRES):
            v.append(
                FieldViolation(
                    f"junctions[{i}]", f"coordinates must be finite, within {MAX_METRES:g} m: {j!r}"
                )
            )

    lengths: list[float] = []
    for i, s in enumerate(layout.segments):
        length = 0.0
        for end_name in ("start", "end"):
            ref = getattr(s, end_name)
            if ref not in junction_index:
                v.append(FieldViolation(f"segments[{i}].{end_name}", f"unknown junction {ref!r}"))
        if s.length_m is not None:
            if not 0 <= s.length_m <= MAX_METRES:
                v.append(
                    FieldViolation(
                        f"segments[{i}].length_m",
                        f"must be a length in [0, {MAX_METRES:g}] m, got {s.length_m}",
                    )
                )
            else:
                length = s.length_m
        elif s.start in junction_index and s.end in junction_index:
            j0 = layout.junctions[junction_index[s.start]]
            j1 = layout.junctions[junction_index[s.end]]
            length = math.hypot(j0.x_m - j1.x_m, j0.y_m - j1.y_m)
        lengths.append(length)

    for i, b in enumerate(layout.bins):
        v += _check_spot(f"bins[{i}]", b.spot, junction_index, segment_index, lengths)
    for i, d in enumerate(layout.depots):
        v += _check_spot(f"depots[{i}]", d.spot, junction_index, segment_index, lengths)
    if not v:
        v += _check_reachability(layout, junction_index, segment_index)
    return v, tuple(lengths)


def _spot_nodes(
    spot: Spot,
    junction_index: dict[str, int],
    segment_ends: np.ndarray,
    segment_index: dict[str, int],
) -> tuple[int, int]:
    if spot.junction:
        j = junction_index[spot.junction]
        return j, j
    s = segment_index[spot.segment]
    return int(segment_ends[s, 0]), int(segment_ends[s, 1])


def _check_reachability(
    layout: GraphLayout, junction_index: dict[str, int], segment_index: dict[str, int]
) -> list[FieldViolation]:
    """Every bin and depot must be reachable from, and able to return to, every depot.

    One strongly connected component of the segment graph must hold every junction that a bin or
    depot touches; anything outside it is reported as a disconnected area.
    """
    n = len(layout.junctions)
    if n == 0:
        return [FieldViolation("junctions", "a layout needs at least one junction")]
    ends = np.array(
        [(junction_index[s.start], junction_index[s.end]) for s in layout.segments], dtype=np.int64
    ).reshape(-1, 2)
    one_way = np.array([s.one_way for s in layout.segments], dtype=bool)
    rows = np.concatenate([ends[:, 0], ends[~one_way, 1]])
    cols = np.concatenate([ends[:, 1], ends[~one_way, 0]])
    graph = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=True, connection="strong")
    first = layout.depots[0]
    home = labels[_spot_nodes(first.spot, junction_index, ends, segment_index)[0]]
    out: list[FieldViolation] = []

    def outside(spot: Spot) -> bool:
        a, b = _spot_nodes(spot, junction_index, ends, segment_index)
        if spot.segment and layout.segments[segment_index[spot.segment]].one_way:
            return bool(labels[a] != home or labels[b] != home)
        return bool(labels[a] != home and labels[b] != home)

    for i, d in enumerate(layout.depots):
        if outside(d.spot):
            out.append(
                FieldViolation(
                    f"depots[{i}]", f"depot {d.id!r} cannot be reached from depot {first.id!r}"
                )
            )
    unreachable = [i for i, b in enumerate(layout.bins) if outside(b.spot)]
    for i in unreachable[:20]:
        out.append(
            FieldViolation(
                f"bins[{i}]",
                f"bin {layout.bins[i].id!r} lies in an area disconnected from depot {first.id!r}",
            )
        )
    if len(unreachable) > 20:
        out.append(FieldViolation("bins", f"{len(unreachable) - 20} more disconnected bins"))
    return out
