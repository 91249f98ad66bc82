"""Distance oracle against an independent shortest-path reference."""

from __future__ import annotations

import itertools
import random

import networkx as nx
import numpy as np
import pytest

from routing.errors import NotFound
from routing.oracle import DistanceOracle
from routing.rectangular import RectangularLayout
from tests.factories import henn_waescher, random_graph_layout, reference_graph


def _reference_matrix(oracle: DistanceOracle, locs: list[int]) -> np.ndarray:
    g = reference_graph(oracle.layout)
    nodes = [
        ("b", oracle.location_id(i)) if i < oracle.n_bins else ("d", oracle.location_id(i))
        for i in locs
    ]
    out = np.zeros((len(locs), len(locs)), dtype=np.int64)
    for i, a in enumerate(nodes):
        dist = nx.single_source_dijkstra_path_length(g, a)
        for j, b in enumerate(nodes):
            out[i, j] = dist[b]
    return out


@pytest.mark.parametrize("seed", range(40))
def test_matrix_matches_dijkstra_on_split_graph(seed: int) -> None:
    """Bin-to-bin distances equal Dijkstra on a graph where every bin splits its segment."""
    layout = random_graph_layout(random.Random(seed))
    oracle = DistanceOracle(layout)
    locs = list(range(oracle.n_locations))
    np.testing.assert_array_equal(oracle.matrix(locs), _reference_matrix(oracle, locs))


def test_rectangular_matrix_matches_reference() -> None:
    """A two-block rectangular layout with a depot between aisles agrees with the reference."""
    from routing.rectangular import RectangularDepot

    layout = RectangularLayout(
        "r",
        aisles=4,
        cells_per_face=(3, 2),
        aisle_spacing_m=3.0,
        cross_aisles=3,
        depots=(RectangularDepot("D", 0, 4.5), RectangularDepot("E", 2, 0.0)),
    )
    oracle = DistanceOracle(layout)
    rng = np.random.default_rng(1)
    locs = [
        *sorted(rng.choice(oracle.n_locations, 20, replace=False).tolist()),
        oracle.n_locations - 1,
    ]
    np.testing.assert_array_equal(oracle.matrix(locs), _reference_matrix(oracle, locs))


def test_henn_waescher_distances_by_hand() -> None:
    """Depot to the first cell, across to the next aisle and to the far end of an aisle."""
    oracle = DistanceOracle(henn_waescher())
    depot = oracle.depot_location("DEPOT")
    first = oracle.bin_location("A01-B1-001L")
    other_side = oracle.bin_location("A01-B1-001R")
    next_aisle = oracle.bin_location("A02-B1-001L")
    far = oracle.bin_location("A01-B1-045L")
    m = oracle.matrix([depot, first, other_side, next_aisle, far])
    assert m[0, 1] == 2000  # 1.5 m gap + half a cell
    assert m[1, 2] == 0  # facing bins: the picker does not move
    assert m[1, 3] == 2000 + 5000 + 2000
    assert m[0, 4] == 1500 + 44500
    assert (m == m.T).all()


def test_one_way_segment_is_asymmetric() -> None:
    """On a one-way aisle the walk back goes round the loop."""
    from routing.layout import Bin, Depot, GraphLayout, Junction, Segment, Spot

    layout = GraphLayout(
        "loop",
        (Junction("a", 0, 0), Junction("b", 10, 0), Junction("c", 10, 5), Junction("d", 0, 5)),
        (
            Segment("ab", "a", "b", one_way=True),
            Segment("bc", "b", "c"),
            Segment("cd", "c", "d"),
            Segment("da", "d", "a"),
        ),
        (Bin("x", Spot(segment="ab", offset_m=2)), Bin("y", Spot(segment="ab", offset_m=8))),
        (Depot("home", Spot(junction="a")),),
    )
    oracle = DistanceOracle(layout)
    m = oracle.matrix([0, 1, 2])
    assert m[0, 1] == 6000
    assert m[1, 0] == 2000 + 5000 + 10000 + 5000 + 2000
    assert m[2, 0] == 2000
    assert m[0, 2] == 30000 - 2000


def test_matrix_is_read_only_and_unknown_bin_is_named() -> None:
    """Matrices cannot be written; an unknown bin names its field and value."""
    oracle = DistanceOracle(henn_waescher(aisles=2))
    m = oracle.matrix([0, 1])
    with pytest.raises(ValueError):
        m[0, 1] = 5
    with pytest.raises(NotFound) as err:
        oracle.bin_locations(["A01-B1-001L", "nope"], "bin_ids")
    assert err.value.field == "bin_ids[1]"
    assert err.value.name == "nope"


@pytest.mark.parametrize("seed", range(10))
def test_path_length_equals_distance(seed: int) -> None:
    """Waypoints of a path add up (rectilinear legs) to the reported distance."""
    oracle = DistanceOracle(
        RectangularLayout("r", aisles=5, cells_per_face=6, cross_aisles=3, aisle_spacing_m=2.5)
    )
    rng = random.Random(seed)
    a, b = rng.randrange(oracle.n_locations), rng.randrange(oracle.n_locations)
    points = oracle.path(a, b)
    walked = sum(abs(p.x_m - q.x_m) + abs(p.y_m - q.y_m) for p, q in itertools.pairwise(points))
    assert round(walked * 1000) == oracle.distance(a, b)
    assert (points[0].x_m, points[0].y_m) == oracle.point(a)
    assert (points[-1].x_m, points[-1].y_m) == oracle.point(b)
