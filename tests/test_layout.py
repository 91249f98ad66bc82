"""Layout validation names what is wrong; rectangular layouts compile to the expected graph."""

from __future__ import annotations

import pytest

from routing.errors import InvalidInput
from routing.layout import Bin, Depot, GraphLayout, Junction, Segment, Spot
from routing.rectangular import RectangularBin, RectangularDepot, RectangularLayout, to_graph

J = (Junction("a", 0, 0), Junction("b", 10, 0), Junction("c", 20, 0))
S = (Segment("ab", "a", "b"), Segment("bc", "b", "c"))
D = (Depot("home", Spot(junction="a")),)


def _fields(exc: pytest.ExceptionInfo[InvalidInput]) -> dict[str, str]:
    return {v.field: v.description for v in exc.value.violations}


def test_valid_graph_resolves_euclidean_lengths() -> None:
    """A segment without a length takes the distance between its junctions."""
    layout = GraphLayout("w", J, (*S, Segment("ac", "a", "c", 25.0)), (), D)
    assert layout.segment_lengths_m == (10.0, 10.0, 25.0)


def test_duplicate_ids_are_reported_with_positions() -> None:
    """Duplicate junction and bin ids name both positions."""
    bins = (Bin("x", Spot(junction="a")), Bin("x", Spot(junction="b")))
    with pytest.raises(InvalidInput) as exc:
        GraphLayout("w", (*J, Junction("a", 5, 5)), S, bins, D)
    fields = _fields(exc)
    assert "junctions[3].id" in fields and "'a'" in fields["junctions[3].id"]
    assert "bins[1].id" in fields and "bins[0]" in fields["bins[1].id"]


def test_unknown_references_negative_length_and_offset() -> None:
    """Every bad reference is reported at once, each with its field path and value."""
    segments = (Segment("ab", "a", "zz"), Segment("bc", "b", "c", -1.0))
    bins = (
        Bin("x", Spot(segment="nope")),
        Bin("y", Spot(junction="q")),
        Bin("z", Spot(segment="ab", offset_m=1.0, junction="a")),
    )
    depots = (Depot("d", Spot(segment="bc", offset_m=3.0)),)
    with pytest.raises(InvalidInput) as exc:
        GraphLayout("w", J, segments, bins, depots)
    fields = _fields(exc)
    assert "'zz'" in fields["segments[0].end"]
    assert "-1.0" in fields["segments[1].length_m"]
    assert "'nope'" in fields["bins[0].segment"]
    assert "'q'" in fields["bins[1].junction"]
    assert "exactly one" in fields["bins[2]"]


def test_offset_beyond_segment_is_rejected() -> None:
    """A bin further along than its segment is long names the offset and the length."""
    with pytest.raises(InvalidInput) as exc:
        GraphLayout("w", J, S, (Bin("x", Spot(segment="ab", offset_m=10.5)),), D)
    assert "10.5" in _fields(exc)["bins[0].offset_m"]


def test_disconnected_area_is_named() -> None:
    """A bin in an area no segment reaches is reported as disconnected."""
    junctions = (*J, Junction("island", 50, 50), Junction("island2", 60, 50))
    segments = (*S, Segment("ii", "island", "island2"))
    bins = (Bin("ok", Spot(junction="c")), Bin("lost", Spot(segment="ii", offset_m=1)))
    with pytest.raises(InvalidInput) as exc:
        GraphLayout("w", junctions, segments, bins, D)
    assert "disconnected" in _fields(exc)["bins[1]"]


def test_one_way_dead_end_is_unreachable() -> None:
    """A one-way segment into a dead end strands the bins behind it."""
    segments = (Segment("ab", "a", "b"), Segment("bc", "b", "c", one_way=True))
    with pytest.raises(InvalidInput) as exc:
        GraphLayout("w", J, segments, (Bin("x", Spot(junction="c")),), D)
    assert "bins[0]" in _fields(exc)


def test_unreachable_depot_is_named() -> None:
    """A second depot off the network is reported."""
    junctions = (*J, Junction("far", 99, 99))
    depots = (*D, Depot("far-depot", Spot(junction="far")))
    with pytest.raises(InvalidInput) as exc:
        GraphLayout("w", junctions, S, (), depots)
    assert "far-depot" in _fields(exc)["depots[1]"]


def test_rectangular_generates_named_bins_on_blocks() -> None:
    """Bins per face per block, both sides, ids from the naming scheme, at the right y."""
    layout = RectangularLayout(
        "r", aisles=3, cells_per_face=(2, 4), cross_aisles=3, cell_length_m=1.0, end_gap_m=1.0
    )
    rect = to_graph(layout)
    assert len(rect.graph.bins) == 3 * (2 + 4) * 2
    ids = {b.id for b in rect.graph.bins}
    assert "A01-B1-001L" in ids and "A03-B2-004R" in ids
    assert rect.ladder.cross_y_mm == (0, 4000, 10000)
    assert rect.ladder.aisle_x_mm == (0, 3000, 6000)
    i = [b.id for b in rect.graph.bins].index("A02-B2-001R")
    assert (rect.bin_aisle[i], rect.bin_y_mm[i]) == (1, 4000 + 1000 + 500)


def test_rectangular_depot_between_aisles_gets_its_own_junction() -> None:
    """A depot between two aisles splits the cross aisle there."""
    layout = RectangularLayout(
        "r",
        aisles=2,
        cells_per_face=1,
        aisle_spacing_m=4.0,
        depots=(RectangularDepot("mid", 1, 2.0),),
    )
    rect = to_graph(layout)
    junction = rect.graph.depots[0].spot.junction
    assert next(j for j in rect.graph.junctions if j.id == junction).x_m == 2.0
    assert rect.depot_cross == (1,) and rect.depot_x_mm == (2000,)


def test_rectangular_validation_names_fields() -> None:
    """Impossible parameters and an ambiguous naming scheme are reported by field."""
    with pytest.raises(InvalidInput) as exc:
        RectangularLayout("r", aisles=0, cross_aisles=1, aisle_spacing_m=-1)
    fields = _fields(exc)
    assert {"aisles", "cross_aisles", "aisle_spacing_m"} <= set(fields)
    with pytest.raises(InvalidInput) as exc:
        RectangularLayout("r", aisles=2, bin_id_format="BIN-{aisle}-{position}")
    assert "side" in _fields(exc)["bin_id_format"]
    with pytest.raises(InvalidInput) as exc:
        RectangularLayout("r", aisles=2, cells_per_face=(3, 3), cross_aisles=2)
    assert "cells_per_face" in _fields(exc)


def test_explicit_rectangular_bins() -> None:
    """Explicit bins replace generated ones; a bin outside its block is rejected."""
    layout = RectangularLayout(
        "r", aisles=2, cells_per_face=5, bins=(RectangularBin("P1", 1, 0, 2.5),)
    )
    rect = to_graph(layout)
    assert [b.id for b in rect.graph.bins] == ["P1"]
    assert rect.bin_y_mm == (2500,)
    with pytest.raises(InvalidInput) as exc:
        RectangularLayout("r", aisles=2, cells_per_face=5, bins=(RectangularBin("P1", 1, 0, 99),))
    assert "bins[0].offset_m" in _fields(exc)
    with pytest.raises(InvalidInput) as exc:
        to_graph(
            RectangularLayout(
                "r", aisles=2, bins=(RectangularBin("P", 0, 0, 1), RectangularBin("P", 1, 0, 1))
            )
        )
    assert any("duplicate" in d for d in _fields(exc).values())


@pytest.mark.parametrize(
    ("fmt", "says"),
    [
        ("{aisle}{block}{position}{side", "not a format string"),
        ("{aisle:q}{block}{position}{side}", "cannot name a bin"),
        ("{aisle!z}{block}{position}{side}", "cannot name a bin"),
    ],
)
def test_a_malformed_bin_id_format_is_invalid_input(fmt: str, says: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        RectangularLayout("r", aisles=2, bin_id_format=fmt)
    assert says in _fields(exc)["bin_id_format"]
