"""Rectangular multi-block warehouses: parallel pick aisles crossed by cross aisles.

A :class:`RectangularLayout` describes the classic warehouse of the order-picking literature
(Ratliff & Rosenthal 1983; Roodbergen & de Koster 2001): ``aisles`` parallel pick aisles,
``aisle_spacing_m`` apart (centre to centre), crossed by ``cross_aisles`` cross aisles (front and
back included), which cut every aisle into ``cross_aisles - 1`` blocks. Each block holds
``cells_per_face`` storage cells of ``cell_length_m`` on one or both faces of every aisle, with
``end_gap_m`` between the outermost cell and the cross-aisle centre line. Bins can instead be
listed explicitly. Depots sit anywhere on a cross aisle.

:func:`to_graph` turns it into a :class:`~routing.layout.GraphLayout` (every distance the rest
of the system uses comes from that graph); :class:`Ladder` geometry is kept beside it so the exact
rectangular dynamic programme can run on the same millimetre coordinates.
"""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass, field

from routing.errors import FieldViolation, InvalidInput
from routing.ladder import Ladder
from routing.layout import MAX_METRES, Bin, Depot, GraphLayout, Junction, Segment, Side, Spot


@dataclass(frozen=True)
class RectangularDepot:
    """A depot on cross aisle ``cross_aisle`` (0 = front) at ``x_m`` (aisle 0 is at x = 0)."""

    id: str
    cross_aisle: int = 0
    x_m: float = 0.0


@dataclass(frozen=True)
class RectangularBin:
    """An explicitly placed bin: aisle and block (0-based), metres from the block's front."""

    id: str
    aisle: int
    block: int
    offset_m: float
    side: Side = Side.NONE


DEFAULT_BIN_ID_FORMAT = "A{aisle:02d}-B{block}-{position:03d}{side}"


@dataclass(frozen=True)
class RectangularLayout:
    """A parametric rectangular warehouse (see the module docstring for the geometry).

    ``cells_per_face`` is either one count for every block or one count per block.
    ``bin_id_format`` names generated bins; it may use ``{aisle}``, ``{block}``, ``{position}``
    (all 1-based) and ``{side}`` (``L``/``R``, empty for one-sided aisles). When ``bins`` is not
    empty those explicit bins replace the generated ones.
    """

    id: str
    aisles: int
    cells_per_face: int | tuple[int, ...] = 10
    cell_length_m: float = 1.0
    aisle_spacing_m: float = 3.0
    cross_aisles: int = 2
    cross_aisle_width_m: float = 2.0
    end_gap_m: float | None = None
    two_sided: bool = True
    depots: tuple[RectangularDepot, ...] = (RectangularDepot("DEPOT"),)
    bin_id_format: str = DEFAULT_BIN_ID_FORMAT
    bins: tuple[RectangularBin, ...] = ()
    name: str = ""
    #: Cells per face of every block, resolved from ``cells_per_face``.
    block_cells: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        blocks = self.cross_aisles - 1
        cells = self.cells_per_face
        block_cells = (cells,) * max(blocks, 0) if isinstance(cells, int) else tuple(cells)
        object.__setattr__(self, "block_cells", block_cells)
        violations = self._violations()
        if violations:
            raise InvalidInput(violations)

    @property
    def blocks(self) -> int:
        """Number of blocks each aisle is cut into."""
        return self.cross_aisles - 1

    @property
    def gap_m(self) -> float:
        """Distance from the outermost cell to the cross-aisle centre line."""
        return self.cross_aisle_width_m / 2 if self.end_gap_m is None else self.end_gap_m

    def _format_violations(self) -> list[FieldViolation]:
        """What is wrong with ``bin_id_format`` (a malformed format string included)."""
        fmt = self.bin_id_format
        bad = (ValueError, AttributeError, TypeError, KeyError, IndexError)
        try:
            fields = {f.split(":")[0] for _, f, _, _ in string.Formatter().parse(fmt) if f}
        except bad as exc:
            return [FieldViolation("bin_id_format", f"{fmt!r} is not a format string: {exc}")]
        needed = {"aisle", "block", "position"} | ({"side"} if self.two_sided else set())
        if not needed <= fields:
            return [
                FieldViolation(
                    "bin_id_format", f"{fmt!r} must use {sorted(needed)} to give unique ids"
                )
            ]
        if not fields <= {"aisle", "block", "position", "side"}:
            return [FieldViolation("bin_id_format", f"{fmt!r} uses unknown fields {fields}")]
        try:
            fmt.format(aisle=1, block=1, position=1, side="L")
        except bad as exc:
            return [FieldViolation("bin_id_format", f"{fmt!r} cannot name a bin: {exc}")]
        return []

    def block_length_m(self, block: int) -> float:
        """Centre-line distance between the cross aisles in front of and behind ``block``."""
        return self.block_cells[block] * self.cell_length_m + 2 * self.gap_m

    def _violations(self) -> list[FieldViolation]:
        v: list[FieldViolation] = []
        if not self.id:
            v.append(FieldViolation("id", "must not be empty"))
        if self.aisles < 1:
            v.append(FieldViolation("aisles", f"must be >= 1, got {self.aisles}"))
        if self.cross_aisles < 2:
            v.append(
                FieldViolation(
                    "cross_aisles", f"must be >= 2 (front and back), got {self.cross_aisles}"
                )
            )
        elif len(self.block_cells) != self.blocks:
            v.append(
                FieldViolation(
                    "cells_per_face",
                    f"give one count or {self.blocks} (one per block), got {len(self.block_cells)}",
                )
            )
        if any(c < 0 for c in self.block_cells):
            v.append(FieldViolation("cells_per_face", f"must be >= 0, got {self.cells_per_face}"))
        for name in ("cell_length_m", "aisle_spacing_m", "cross_aisle_width_m"):
            value = getattr(self, name)
            if not 0 < value <= MAX_METRES:
                v.append(FieldViolation(name, f"must be in (0, {MAX_METRES:g}] m, got {value}"))
        if self.end_gap_m is not None and not 0 <= self.end_gap_m <= MAX_METRES:
            v.append(
                FieldViolation(
                    "end_gap_m", f"must be in [0, {MAX_METRES:g}] m, got {self.end_gap_m}"
                )
            )
        if not self.depots:
            v.append(FieldViolation("depots", "a layout needs at least one depot"))
        for i, d in enumerate(self.depots):
            if not abs(d.x_m) <= MAX_METRES:
                v.append(
                    FieldViolation(
                        f"depots[{i}].x_m", f"must be within {MAX_METRES:g} m, got {d.x_m}"
                    )
                )
            if not 0 <= d.cross_aisle < max(self.cross_aisles, 1):
                v.append(
                    FieldViolation(
                        f"depots[{i}].cross_aisle",
                        f"{d.cross_aisle} is not a cross aisle (0..{self.cross_aisles - 1})",
                    )
                )
        if not self.bins:
            v += self._format_violations()
        if v:
            return v
        for i, b in enumerate(self.bins):
            if not 0 <= b.aisle < self.aisles:
                v.append(FieldViolation(f"bins[{i}].aisle", f"{b.aisle} is not an aisle"))
            elif not 0 <= b.block < self.blocks:
                v.append(FieldViolation(f"bins[{i}].block", f"{b.block} is not a block"))
            elif not 0 <= b.offset_m <= self.block_length_m(b.block):
                v.append(
                    FieldViolation(
                        f"bins[{i}].offset_m",
                        f"{b.offset_m} is outside block {b.block} "
                        f"(0..{self.block_length_m(b.block):g} m)",
                    )
                )
        return v


@dataclass(frozen=True)
class RectangularGraph:
    """A rectangular layout compiled to a graph, with the geometry the exact DP needs.

    ``bin_aisle[i]`` and ``bin_y_mm[i]`` place ``graph.bins[i]``; ``depot_cross[k]`` and
    ``depot_x_mm[k]`` place ``graph.depots[k]``.
    """

    graph: GraphLayout
    ladder: Ladder
    bin_aisle: tuple[int, ...]
    bin_y_mm: tuple[int, ...]
    depot_cross: tuple[int, ...]
    depot_x_mm: tuple[int, ...]


def _mm(metres: float) -> int:
    return round(metres * 1000)


def to_graph(layout: RectangularLayout) -> RectangularGraph:
    """Compile ``layout`` to a :class:`GraphLayout` on a millimetre grid.

    Junctions sit at every aisle/cross-aisle crossing and at every depot; aisle segments run
    between consecutive cross aisles, cross-aisle segments between consecutive junctions along a
    cross aisle. All coordinates are rounded to whole millimetres first, so the graph distances
    and the :class:`Ladder` distances agree exactly.
    """
    aisle_x = [_mm(a * layout.aisle_spacing_m) for a in range(layout.aisles)]
    cross_y = [0]
    for b in range(layout.blocks):
        cross_y.append(cross_y[-1] + _mm(layout.block_length_m(b)))
    depot_x = [_mm(d.x_m) for d in layout.depots]

    junctions: list[Junction] = []
    segments: list[Segment] = []
    for c, y in enumerate(cross_y):
        stops = sorted(
            {(x, f"J{a}.{c}") for a, x in enumerate(aisle_x)}
            | {
                (depot_x[k], f"J{k}D.{c}")
                for k, d in enumerate(layout.depots)
                if d.cross_aisle == c and depot_x[k] not in aisle_x
            }
        )
        # Depots at the same point share a junction.
        unique: dict[int, str] = {}
        for x, name in stops:
            unique.setdefault(x, name)
        row = sorted(unique.items())
        junctions += [Junction(name, x / 1000, y / 1000) for x, name in row]
        segments += [
            Segment(f"C{c}:{n1}-{n2}", n1, n2, (x2 - x1) / 1000)
            for (x1, n1), (x2, n2) in itertools.pairwise(row)
        ]
    for a in range(layout.aisles):
        for b in range(layout.blocks):
            segments.append(
                Segment(
                    f"A{a}.{b}", f"J{a}.{b}", f"J{a}.{b + 1}", (cross_y[b + 1] - cross_y[b]) / 1000
                )
            )

    bin_aisle: list[int] = []
    bin_y: list[int] = []
    bins: list[Bin] = []

    def add_bin(ident: str, aisle: int, block: int, y_mm: int, side: Side) -> None:
        bins.append(
            Bin(
                ident,
                Spot(segment=f"A{aisle}.{block}", offset_m=(y_mm - cross_y[block]) / 1000),
                side,
            )
        )
        bin_aisle.append(aisle)
        bin_y.append(y_mm)

    if layout.bins:
        for rb in layout.bins:
            add_bin(rb.id, rb.aisle, rb.block, cross_y[rb.block] + _mm(rb.offset_m), rb.side)
    else:
        sides = [(Side.LEFT, "L"), (Side.RIGHT, "R")] if layout.two_sided else [(Side.NONE, "")]
        gap = _mm(layout.gap_m)
        for a in range(layout.aisles):
            for b in range(layout.blocks):
                for p in range(layout.block_cells[b]):
                    y = cross_y[b] + gap + _mm((p + 0.5) * layout.cell_length_m)
                    for side, letter in sides:
                        ident = layout.bin_id_format.format(
                            aisle=a + 1, block=b + 1, position=p + 1, side=letter
                        )
                        add_bin(ident, a, b, y, side)

    depot_junction = {}
    for k, d in enumerate(layout.depots):
        x = depot_x[k]
        a = aisle_x.index(x) if x in aisle_x else -1
        same = [
            j for j in range(k) if layout.depots[j].cross_aisle == d.cross_aisle and depot_x[j] == x
        ]
        name = f"J{a}.{d.cross_aisle}" if a >= 0 else f"J{same[0] if same else k}D.{d.cross_aisle}"
        depot_junction[k] = name
    depots = tuple(
        Depot(d.id, Spot(junction=depot_junction[k])) for k, d in enumerate(layout.depots)
    )
    try:
        graph = GraphLayout(
            layout.id, tuple(junctions), tuple(segments), tuple(bins), depots, name=layout.name
        )
    except InvalidInput as exc:
        # Only duplicate ids can fail here; say which part of the rectangular description caused it.
        raise InvalidInput(
            [
                FieldViolation("bins" if layout.bins else "bin_id_format", violation.description)
                for violation in exc.violations
            ]
        ) from None
    return RectangularGraph(
        graph=graph,
        ladder=Ladder(tuple(aisle_x), tuple(cross_y)),
        bin_aisle=tuple(bin_aisle),
        bin_y_mm=tuple(bin_y),
        depot_cross=tuple(d.cross_aisle for d in layout.depots),
        depot_x_mm=tuple(depot_x),
    )
