"""Benchmark warehouses: the literature's rectangular geometries and an irregular graph hall."""

from __future__ import annotations

import random

from routing.layout import Bin, Depot, GraphLayout, Junction, Segment, Side, Spot
from routing.rectangular import RectangularDepot, RectangularLayout


def henn_waescher(aisles: int = 10, cross_aisles: int = 2, cells: int = 45) -> RectangularLayout:
    """Henn & Waescher's order-batching geometry: 1 m cells, 5 m between aisle centres, 1.5 m
    from the last cell to the cross aisle, depot at the front of the first aisle. ``cells`` is
    per face and block; with more cross aisles the aisle length is split between the blocks."""
    per_block = max(cells // (cross_aisles - 1), 1)
    return RectangularLayout(
        f"hw-{aisles}x{cross_aisles}",
        aisles=aisles,
        cells_per_face=per_block,
        cell_length_m=1.0,
        aisle_spacing_m=5.0,
        cross_aisles=cross_aisles,
        end_gap_m=1.5,
        depots=(RectangularDepot("DEPOT", 0, 0.0),),
    )


def large_warehouse() -> RectangularLayout:
    """100,000 bins: 100 aisles, 4 blocks of 125 cells per face, two-sided."""
    return RectangularLayout(
        "large",
        aisles=100,
        cells_per_face=125,
        cell_length_m=0.9,
        aisle_spacing_m=3.2,
        cross_aisles=5,
        cross_aisle_width_m=3.0,
        depots=(RectangularDepot("DEPOT", 0, 158.4),),
    )


def irregular_hall(seed: int = 0) -> GraphLayout:
    """A hall that no rectangular model fits: 16 aisle columns of uneven spacing, 5 cross rows at
    uneven heights, blocked crossings (racks run through) and one-way narrow aisles alternating
    direction. About 3,000 bins on both faces of every aisle segment."""
    rng = random.Random(seed)
    xs = [0.0]
    for _ in range(15):
        xs.append(xs[-1] + rng.choice([3.0, 3.5, 4.0, 6.0]))
    ys = [0.0, 14.0, 30.0, 41.0, 60.0]
    junctions = [Junction(f"j{c}.{r}", x, y) for c, x in enumerate(xs) for r, y in enumerate(ys)]
    segments: list[Segment] = []
    for r in range(len(ys)):
        for c in range(len(xs) - 1):
            # Inner cross aisles are interrupted now and then; front and back stay open.
            if 0 < r < len(ys) - 1 and rng.random() < 0.25:
                continue
            segments.append(Segment(f"h{c}.{r}", f"j{c}.{r}", f"j{c + 1}.{r}"))
    bins: list[Bin] = []
    for c in range(len(xs)):
        for r in range(len(ys) - 1):
            one_way = 0 < c < len(xs) - 1 and c % 3 == 1
            up = (c // 3) % 2 == 0
            a, b = (
                (f"j{c}.{r}", f"j{c}.{r + 1}")
                if up or not one_way
                else (
                    f"j{c}.{r + 1}",
                    f"j{c}.{r}",
                )
            )
            seg = Segment(f"v{c}.{r}", a, b, one_way=one_way)
            segments.append(seg)
            length = ys[r + 1] - ys[r]
            for k in range(int(length) - 2):
                for side in (Side.LEFT, Side.RIGHT):
                    bins.append(
                        Bin(
                            f"{c:02d}-{r}-{k:02d}{side.value[0].upper()}",
                            Spot(segment=seg.id, offset_m=1.5 + k),
                            side,
                        )
                    )
    depots = (
        Depot("DOCK-A", Spot(junction="j0.0")),
        Depot("DOCK-B", Spot(segment="h7.0", offset_m=1.0)),
    )
    return GraphLayout("hall", tuple(junctions), tuple(segments), tuple(bins), depots)
