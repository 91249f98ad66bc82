"""Conversion between ``warehouse.v1`` messages and the routing domain, in one place.

Domain constructors validate; their field paths (``bins[3].segment``) are relative to the
domain object, so the converters re-root them at the request field the caller sent
(``layout.graph.bins[3].segment``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from google.protobuf import duration_pb2, timestamp_pb2
from warehouse.v1 import common_pb2, layout_pb2, routing_pb2

from routing.errors import FieldViolation, InvalidInput
from routing.layout import Bin, Depot, GraphLayout, Junction, Segment, Side, Spot
from routing.oracle import Waypoint
from routing.rectangular import (
    DEFAULT_BIN_ID_FORMAT,
    RectangularBin,
    RectangularDepot,
    RectangularLayout,
)
from routing.route import Baseline, PickList, RouteResult, RouteStatus

#: Largest number of junctions a layout may compile to: all-pairs shortest paths over junctions
#: take 12 bytes per pair, so 5,000 junctions are 300 MB.
MAX_JUNCTIONS = 5_000
#: Largest number of bins a rectangular layout may generate.
MAX_BINS = 2_000_000
#: Largest number of pick lists in one PlanRoutes call.
MAX_BATCH = 10_000

_SIDE_TO_DOMAIN = {
    layout_pb2.SIDE_UNSPECIFIED: Side.NONE,
    layout_pb2.SIDE_NONE: Side.NONE,
    layout_pb2.SIDE_LEFT: Side.LEFT,
    layout_pb2.SIDE_RIGHT: Side.RIGHT,
}

_BASELINE_TO_DOMAIN = {
    routing_pb2.BASELINE_UNSPECIFIED: Baseline.AUTO,
    routing_pb2.BASELINE_AS_GIVEN: Baseline.AS_GIVEN,
    routing_pb2.BASELINE_S_SHAPE: Baseline.S_SHAPE,
    routing_pb2.BASELINE_RETURN: Baseline.RETURN,
    routing_pb2.BASELINE_MIDPOINT: Baseline.MIDPOINT,
    routing_pb2.BASELINE_LARGEST_GAP: Baseline.LARGEST_GAP,
    routing_pb2.BASELINE_COMBINED: Baseline.COMBINED,
}
_BASELINE_TO_PROTO = {v: k for k, v in _BASELINE_TO_DOMAIN.items()}

_STATUS_TO_PROTO = {
    RouteStatus.OPTIMAL: common_pb2.SOLVE_STATUS_OPTIMAL,
    RouteStatus.FEASIBLE: common_pb2.SOLVE_STATUS_FEASIBLE,
}


# -- layouts ----------------------------------------------------------------------------------


@contextmanager
def layout_errors(layout: layout_pb2.Layout, field: str = "layout") -> Iterator[None]:
    """Re-root the field paths of an :class:`InvalidInput` raised inside at ``field``.

    ``id`` becomes ``layout.id``; everything else ``layout.<kind>.<path>``.
    """
    try:
        yield
    except InvalidInput as exc:
        kind = layout.WhichOneof("kind") or ""
        raise InvalidInput(
            [
                FieldViolation(
                    f"{field}.{v.field}" if v.field == "id" else f"{field}.{kind}.{v.field}",
                    v.description,
                )
                for v in exc.violations
            ]
        ) from None


def layout_to_domain(
    layout: layout_pb2.Layout, field: str = "layout"
) -> GraphLayout | RectangularLayout:
    """Build the domain layout of a ``Layout`` message.

    Raises
    ------
    InvalidInput
        Every violation found, named by its path in the request (``layout.graph.bins[3]``).
    """
    kind = layout.WhichOneof("kind")
    if kind is None:
        raise InvalidInput.single(field, "give either rectangular or graph")
    _check_size(layout, f"{field}.{kind}")
    with layout_errors(layout, field):
        if kind == "rectangular":
            return _rectangular(layout)
        return _graph(layout)


def _check_size(layout: layout_pb2.Layout, field: str) -> None:
    """Refuse layouts too large to compile before allocating anything for them."""

    def over(count: int, limit: int, name: str, what: str) -> None:
        if count > limit:
            raise InvalidInput.single(f"{field}.{name}", f"at most {limit:,} {what}, got {count:,}")

    if layout.HasField("graph"):
        g = layout.graph
        over(len(g.junctions), MAX_JUNCTIONS, "junctions", "junctions")
        over(len(g.segments), 4 * MAX_JUNCTIONS, "segments", "segments")
        over(len(g.bins), MAX_BINS, "bins", "bins")
        over(len(g.depots), MAX_JUNCTIONS, "depots", "depots")
        return
    rect = layout.rectangular
    cross = rect.cross_aisles if rect.HasField("cross_aisles") else 2
    over(rect.aisles, MAX_JUNCTIONS, "aisles", "aisles")
    over(cross, MAX_JUNCTIONS, "cross_aisles", "cross aisles")
    if max(rect.aisles, 1) * max(cross, 1) > MAX_JUNCTIONS:
        raise InvalidInput.single(
            f"{field}.aisles", f"aisles x cross_aisles must be <= {MAX_JUNCTIONS}"
        )
    over(len(rect.cells_per_face), MAX_JUNCTIONS, "cells_per_face", "counts")
    over(len(rect.depots), MAX_JUNCTIONS, "depots", "depots")
    over(len(rect.bins), MAX_BINS, "bins", "bins")
    cells = [max(c, 0) for c in rect.cells_per_face] or [10]
    per_face = sum(cells) if len(cells) > 1 else cells[0] * max(cross - 1, 0)
    if not rect.bins and max(rect.aisles, 1) * per_face * 2 > MAX_BINS:
        raise InvalidInput.single(
            f"{field}.cells_per_face", f"the layout would have more than {MAX_BINS} bins"
        )


def _rectangular(layout: layout_pb2.Layout) -> RectangularLayout:
    r = layout.rectangular
    cells = tuple(r.cells_per_face)
    return RectangularLayout(
        id=layout.id,
        name=layout.display_name,
        aisles=r.aisles,
        cells_per_face=(cells[0] if len(cells) == 1 else cells) if cells else 10,
        cell_length_m=r.cell_length_m if r.HasField("cell_length_m") else 1.0,
        aisle_spacing_m=r.aisle_spacing_m if r.HasField("aisle_spacing_m") else 3.0,
        cross_aisles=r.cross_aisles if r.HasField("cross_aisles") else 2,
        cross_aisle_width_m=r.cross_aisle_width_m if r.HasField("cross_aisle_width_m") else 2.0,
        end_gap_m=r.end_gap_m if r.HasField("end_gap_m") else None,
        two_sided=r.two_sided if r.HasField("two_sided") else True,
        depots=tuple(RectangularDepot(d.id, d.cross_aisle, d.x_m) for d in r.depots)
        or (RectangularDepot("DEPOT"),),
        bin_id_format=r.bin_id_format or DEFAULT_BIN_ID_FORMAT,
        bins=tuple(
            RectangularBin(b.id, b.aisle, b.block, b.offset_m, _side(b.side, f"bins[{i}]"))
            for i, b in enumerate(r.bins)
        ),
    )


def _side(value: int, where: str) -> Side:
    """The domain side of a ``Side`` enum value; an unknown number is invalid input."""
    for known, side in _SIDE_TO_DOMAIN.items():
        if known == value:
            return side
    raise InvalidInput.single(f"{where}.side", f"unknown side {value}")


def _graph(layout: layout_pb2.Layout) -> GraphLayout:
    g = layout.graph
    return GraphLayout(
        id=layout.id,
        name=layout.display_name,
        junctions=tuple(Junction(j.id, j.x_m, j.y_m) for j in g.junctions),
        segments=tuple(
            Segment(s.id, s.start, s.end, s.length_m if s.HasField("length_m") else None, s.one_way)
            for s in g.segments
        ),
        bins=tuple(
            Bin(
                b.id,
                Spot(b.junction, b.segment, b.offset_m),
                _side(b.side, f"bins[{i}]"),
            )
            for i, b in enumerate(g.bins)
        ),
        depots=tuple(Depot(d.id, Spot(d.junction, d.segment, d.offset_m)) for d in g.depots),
    )


# -- routes -----------------------------------------------------------------------------------


def duration_s(duration: duration_pb2.Duration) -> float:
    """Seconds of a ``Duration``."""
    return duration.seconds + duration.nanos / 1e9


def timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    """A ``Timestamp`` of a Unix time in seconds."""
    out = timestamp_pb2.Timestamp()
    out.FromNanoseconds(round(seconds * 1e9))
    return out


def seconds_to_duration(seconds: float) -> duration_pb2.Duration:
    """A ``Duration`` of ``seconds`` (rounded to the microsecond)."""
    out = duration_pb2.Duration()
    out.FromMicroseconds(round(seconds * 1e6))
    return out


#: Longest time limit a request may ask for: a day's allocation takes minutes, not hours.
MAX_TIME_LIMIT_S = 900.0


def time_limit_s(options: common_pb2.SolveOptions, default_s: float) -> float:
    """The requested time limit in seconds, ``default_s`` when unset or zero.

    Raises
    ------
    InvalidInput
        ``options.time_limit`` is negative or above :data:`MAX_TIME_LIMIT_S` (a call without a
        deadline would otherwise hold a solve slot and a worker for as long as it asks).
    """
    if not options.HasField("time_limit"):
        return default_s
    seconds = duration_s(options.time_limit)
    if seconds < 0:
        raise InvalidInput.single("options.time_limit", f"must not be negative, got {seconds} s")
    if seconds > MAX_TIME_LIMIT_S:
        raise InvalidInput.single(
            "options.time_limit", f"at most {MAX_TIME_LIMIT_S:.0f} s, got {seconds:g} s"
        )
    return seconds or default_s


def pick_list(request: routing_pb2.PlanRouteRequest) -> PickList:
    """The domain pick list of a ``PlanRouteRequest``."""
    return PickList(tuple(request.bin_ids), request.start_depot, request.end_depot)


def baseline(value: routing_pb2.Baseline.ValueType) -> Baseline:
    """The domain baseline of a ``Baseline`` enum value.

    Raises
    ------
    InvalidInput
        An enum number this server does not know.
    """
    try:
        return _BASELINE_TO_DOMAIN[value]
    except KeyError:
        raise InvalidInput.single("baseline", f"unknown baseline {value}") from None


def validated_response(
    request: routing_pb2.PlanRouteRequest, start_depot: str, end_depot: str
) -> routing_pb2.PlanRouteResponse:
    """The answer to a ``validate_only`` request: label and depots, no route."""
    return routing_pb2.PlanRouteResponse(
        label=request.options.label, start_depot=start_depot, end_depot=end_depot
    )


def waypoint(point: Waypoint) -> common_pb2.Waypoint:
    """The proto form of a path point."""
    return common_pb2.Waypoint(x_m=point.x_m, y_m=point.y_m, junction=point.junction)


def route_response(result: RouteResult, label: str) -> routing_pb2.PlanRouteResponse:
    """The ``PlanRouteResponse`` of a solved route."""
    distance_m = result.distance_mm / 1000
    baseline_m = result.baseline_distance_mm / 1000
    response = routing_pb2.PlanRouteResponse(
        label=label,
        stops=[
            routing_pb2.Stop(
                bin_id=s.bin_id,
                request_index=s.request_index,
                cumulative_distance_m=s.cumulative_mm / 1000,
            )
            for s in result.stops
        ],
        distance_m=distance_m,
        baseline=_BASELINE_TO_PROTO[result.baseline],
        baseline_distance_m=baseline_m,
        saving_ratio=1 - distance_m / baseline_m if baseline_m > 0 else 0.0,
        status=_STATUS_TO_PROTO[result.status],
        solver=result.solver,
        solve_time=seconds_to_duration(result.solve_time_s),
        path=[waypoint(w) for w in result.path],
        start_depot=result.start_depot,
        end_depot=result.end_depot,
    )
    if result.lower_bound_mm is not None:
        response.lower_bound_m = result.lower_bound_mm / 1000
    return response
