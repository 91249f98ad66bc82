"""Small layouts and an independent networkx reference for distance checks."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict

import networkx as nx

from routing.layout import Bin, Depot, GraphLayout, Junction, Segment, Spot
from routing.rectangular import RectangularDepot, RectangularLayout


def random_graph_layout(
    rng: random.Random, *, one_way: bool = True, n_bins: int = 12
) -> GraphLayout:
    """A connected random floor: a grid of junctions with some segments dropped or one-way.

    One-way segments always come in opposite pairs along a cycle-free choice, so the layout
    stays strongly connected: every segment dropped or made one-way keeps a spanning tree of
    two-way segments.
    """
    cols, rows = rng.randint(2, 4), rng.randint(2, 4)
    junctions = [
        Junction(f"j{c}.{r}", c * 5.0 + round(rng.uniform(0, 2), 2), r * 4.0)
        for c in range(cols)
        for r in range(rows)
    ]
    name = {(c, r): f"j{c}.{r}" for c in range(cols) for r in range(rows)}
    candidates = [((c, r), (c + 1, r)) for c in range(cols - 1) for r in range(rows)]
    candidates += [((c, r), (c, r + 1)) for c in range(cols) for r in range(rows - 1)]
    rng.shuffle(candidates)
    tree = nx.utils.UnionFind()
    segments: list[Segment] = []
    for i, (a, b) in enumerate(candidates):
        in_tree = tree[a] != tree[b]
        tree.union(a, b)
        if not in_tree and rng.random() < 0.3:
            continue  # dropped: an obstacle
        directed = one_way and not in_tree and rng.random() < 0.5
        length = None if rng.random() < 0.5 else round(rng.uniform(2.0, 12.0), 3)
        if length is not None and directed:
            length = None
        segments.append(Segment(f"s{i}", name[a], name[b], length, directed))
    # A one-way segment on its own would strand the far end: add its reverse lane when needed.
    bins = []
    lengths = _lengths(junctions, segments)
    for k in range(n_bins):
        if rng.random() < 0.15:
            bins.append(Bin(f"b{k}", Spot(junction=rng.choice(junctions).id)))
        else:
            s = rng.choice(segments)
            bins.append(
                Bin(f"b{k}", Spot(segment=s.id, offset_m=round(rng.uniform(0, lengths[s.id]), 3)))
            )
    depots = [Depot("d0", Spot(junction=junctions[0].id))]
    s = rng.choice(segments)
    depots.append(Depot("d1", Spot(segment=s.id, offset_m=round(lengths[s.id] / 2, 3))))
    return GraphLayout("g", tuple(junctions), tuple(segments), tuple(bins), tuple(depots))


def _lengths(junctions: list[Junction], segments: list[Segment]) -> dict[str, float]:
    xy = {j.id: (j.x_m, j.y_m) for j in junctions}
    out = {}
    for s in segments:
        if s.length_m is not None:
            out[s.id] = s.length_m
        else:
            (x0, y0), (x1, y1) = xy[s.start], xy[s.end]
            out[s.id] = ((x0 - x1) ** 2 + (y0 - y1) ** 2) ** 0.5
    return out


def reference_graph(layout: GraphLayout) -> nx.DiGraph:
    """Every bin and depot becomes a node that splits its segment; lengths in whole mm.

    Built without the oracle's code, so the two can be compared.
    """
    lengths = dict(zip((s.id for s in layout.segments), layout.segment_lengths_m, strict=True))
    on_segment: dict[str, list[tuple[int, tuple[str, str]]]] = defaultdict(list)
    g = nx.DiGraph()
    for j in layout.junctions:
        g.add_node(("j", j.id))
    points = [(("b", b.id), b.spot) for b in layout.bins] + [
        (("d", d.id), d.spot) for d in layout.depots
    ]
    for node, spot in points:
        if spot.junction:
            g.add_edge(node, ("j", spot.junction), weight=0)
            g.add_edge(("j", spot.junction), node, weight=0)
        else:
            total = round(lengths[spot.segment] * 1000)
            on_segment[spot.segment].append((min(round(spot.offset_m * 1000), total), node))
            g.add_node(node)
    for s in layout.segments:
        total = round(lengths[s.id] * 1000)
        chain = [(0, ("j", s.start)), *sorted(on_segment[s.id]), (total, ("j", s.end))]
        for (o1, n1), (o2, n2) in itertools.pairwise(chain):
            w = o2 - o1
            if not g.has_edge(n1, n2) or g[n1][n2]["weight"] > w:
                g.add_edge(n1, n2, weight=w)
            # Points at the same spot of a segment are one place, whatever the traffic rule.
            two_way = not s.one_way or (w == 0 and n1[0] != "j" and n2[0] != "j")
            if two_way and (not g.has_edge(n2, n1) or g[n2][n1]["weight"] > w):
                g.add_edge(n2, n1, weight=w)
    return g


def henn_waescher(aisles: int = 10, cross_aisles: int = 2) -> RectangularLayout:
    """The order-batching benchmark geometry: 45 cells of 1 m per face, 5 m aisle spacing."""
    return RectangularLayout(
        "hw",
        aisles=aisles,
        cells_per_face=45,
        cell_length_m=1.0,
        aisle_spacing_m=5.0,
        cross_aisles=cross_aisles,
        end_gap_m=1.5,
        depots=(RectangularDepot("DEPOT", 0, 0.0),),
    )
