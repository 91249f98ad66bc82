"""Ratliff & Rosenthal's route DP for one-block warehouses, over many carts at once.

:class:`routing.single_block.SingleBlockPricer` prices one cart at a time; column generation
(:mod:`picking.columns`) prices tens of thousands per round, so :func:`sweep_prices` runs the
same DP as numpy operations over a batch of carts, each given as its picks per aisle (bit masks
over the block's bin depths, :func:`aisle_picks`). It covers the case of the benchmark classes:
one block, a closed walk from a depot at the front of the first aisle (:func:`check_layout`);
its prices equal the scalar DP's (``tests/test_columns.py``).

The walk is built aisle by aisle from the left. Each aisle is left empty (no picks), walked
through once or twice, entered from the front or the back to its farthest pick, or from both
ends leaving one gap between picks; then 0, 1 or 2 cross-aisle edges go on to the next aisle
at the back and at the front, keeping every degree even and the walk connected.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache

import numpy as np
import numpy.typing as npt

from routing.rectangular import RectangularGraph

IntArray = npt.NDArray[np.int64]

#: Bin depths up to which :func:`extents` reads from tables over every mask.
TABLE_DEPTHS = 16

#: Bin depths an aisle may have: its picks are the bits of one int64.
MAX_DEPTHS = 62

#: Sweep state after an aisle: the multiplicity class of the cross-aisle edges leaving it to
#: the right at the back and at the front (0 none, 1 odd, 2 even and non-zero) and whether
#: their two pieces are already connected; ``CLOSED``: the tour is complete (one connected
#: piece, every degree even).
Sweep = tuple[int, int, bool]
START: Sweep = (0, 0, False)
CLOSED: Sweep = (-1, -1, False)

#: The ways to walk one aisle: (degree added at its back end, at its front end, whether the
#: walk joins the two ends).
EMPTY, ONCE, TWICE, FROM_FRONT, FROM_BACK, GAP = range(6)
VERTICALS: tuple[tuple[int, int, bool], ...] = (
    (0, 0, False),  # EMPTY: not entered (the aisle must hold no pick)
    (1, 1, True),  # ONCE: walked through
    (2, 2, True),  # TWICE: walked through and back
    (0, 2, False),  # FROM_FRONT: in and out at the front, to the farthest pick
    (2, 0, False),  # FROM_BACK: in and out at the back
    (2, 2, False),  # GAP: from both ends, leaving one gap between picks
)


def sweep_moves(aisle: int, aisles: int, state: Sweep) -> Iterator[tuple[int, Sweep, int]]:
    """Every move of the sweep from ``state`` through ``aisle`` (of ``aisles``, the depot at
    the front of the first): the way the aisle is walked (an index of :data:`VERTICALS`), the
    state after it, and the cross-aisle edges on to the next aisle (front and back together).
    """
    if state == CLOSED:  # nothing may follow
        yield EMPTY, CLOSED, 0
        return
    in_back, in_front, connected = state
    last = aisle + 1 == aisles
    for vertical, (add_back, add_front, joins) in enumerate(VERTICALS):
        back_deg = _degree(in_back, add_back)
        front_deg = _degree(in_front, add_front)
        joined = joins or (in_back > 0 and in_front > 0 and connected)
        for out_back in (1,) if back_deg == 1 else (0, 2):
            for out_front in (1,) if front_deg == 1 else (0, 2):
                if last and (out_back or out_front):
                    continue
                if aisle == 0 and front_deg == 0 and out_front == 0:
                    continue  # the depot must be on the walk
                at_back = back_deg > 0 or out_back > 0
                at_front = front_deg > 0 or out_front > 0
                if not (at_back or at_front):
                    continue  # the walk would have ended without closing
                if at_back and at_front and not joined and not (out_back and out_front):
                    continue  # a piece would end while another goes on (or ends too)
                if not (out_back or out_front):
                    yield vertical, CLOSED, 0
                else:
                    after = (out_back, out_front, bool(out_back and out_front and joined))
                    yield vertical, after, out_back + out_front


@cache
def _arrivals(
    aisle: int, aisles: int, states: tuple[Sweep, ...]
) -> tuple[tuple[Sweep, int, tuple[tuple[Sweep, int], ...]], ...]:
    """The moves through ``aisle`` from ``states``, grouped by the state they reach: each with
    its cross-aisle edges (they depend on that state only) and the (state, vertical) pairs
    that reach it."""
    ways: dict[Sweep, list[tuple[Sweep, int]]] = {}
    edges: dict[Sweep, int] = {}
    for state in states:
        for vertical, nxt, crossings in sweep_moves(aisle, aisles, state):
            ways.setdefault(nxt, []).append((state, vertical))
            assert edges.setdefault(nxt, crossings) == crossings
    return tuple((nxt, edges[nxt], tuple(pairs)) for nxt, pairs in ways.items())


def _degree(incoming: int, added: int) -> int:
    """Degree class (0 none, 1 odd, 2 even and non-zero) of a junction."""
    if incoming == 0 and added == 0:
        return 0
    return 1 if (incoming + added) % 2 else 2


def handles(rect: RectangularGraph, depot: int) -> bool:
    """Whether the sweep prices walks on ``rect`` from ``depot`` (a depot index): one block,
    at most 62 bin depths (the bits of :func:`aisle_picks`), the depot on the front cross
    aisle at the first aisle."""
    return (
        len(rect.ladder.cross_y_mm) == 2
        and len(depths(rect)) <= MAX_DEPTHS
        and rect.depot_cross[depot] == 0
        and rect.depot_x_mm[depot] == rect.ladder.aisle_x_mm[0]
    )


def check_layout(rect: RectangularGraph, depot: int) -> None:
    """Raise ``ValueError`` unless :func:`handles` holds."""
    if not handles(rect, depot):
        raise ValueError(
            "the sweep needs one block of at most 62 bin depths and the depot at the front "
            "of the first aisle"
        )


def depths(rect: RectangularGraph) -> list[int]:
    """The block's distinct bin depths (mm from the front), in order: the bits of
    :func:`aisle_picks`."""
    return sorted(set(rect.bin_y_mm))


def aisle_picks(rect: RectangularGraph, order_locs: Sequence[frozenset[int]]) -> IntArray:
    """Each order's picks per aisle, as bit masks over the block's distinct bin depths."""
    ys = depths(rect)
    if len(ys) > MAX_DEPTHS:
        raise ValueError(f"aisle_picks keeps an aisle's picks in a {MAX_DEPTHS}-bit mask")
    slot = {y: k for k, y in enumerate(ys)}
    per_order = np.zeros((len(order_locs), len(rect.ladder.aisle_x_mm)), dtype=np.int64)
    for i, locs in enumerate(order_locs):
        for x in locs:
            per_order[i, rect.bin_aisle[x]] |= 1 << slot[rect.bin_y_mm[x]]
    return per_order


@cache
def _extent_tables(ys: tuple[int, ...]) -> tuple[IntArray, IntArray, IntArray]:
    """:func:`extents` of every mask over ``ys``, indexed by the mask."""
    masks = np.arange(1 << len(ys), dtype=np.int64)
    return _computed_extents(masks, ys)


def extents(occupied: IntArray, ys: Sequence[int]) -> tuple[IntArray, IntArray, IntArray]:
    """Per mask of ``occupied`` (bits over the depths ``ys``): the lowest and highest pick's
    depth (-1 for none) and the widest gap between two consecutive picks (0 for fewer than two).

    Up to :data:`TABLE_DEPTHS` depths it reads tables over every mask. Beyond, where the
    depths are evenly spaced (every generated layout), it is bit arithmetic: the extreme bits
    from the float exponent, the widest gap from the longest run of clear bits between them;
    elsewhere a pass over the depths.
    """
    if len(ys) <= TABLE_DEPTHS:
        low, high, wide = _extent_tables(tuple(ys))
        return low[occupied], high[occupied], wide[occupied]
    return _computed_extents(occupied, ys)


def _computed_extents(occupied: IntArray, ys: Sequence[int]) -> tuple[IntArray, IntArray, IntArray]:
    """:func:`extents` without the tables."""
    steps = set(np.diff(ys).tolist())
    if len(ys) > 52 or len(steps) > 1:  # float64 holds 52 bits exactly
        lowest = np.full(occupied.shape, -1, dtype=np.int64)
        highest = np.full(occupied.shape, -1, dtype=np.int64)
        widest = np.zeros(occupied.shape, dtype=np.int64)
        for k, y in enumerate(ys):
            hit = (occupied >> k) & 1 == 1
            widest = np.where(hit & (highest >= 0), np.maximum(widest, y - highest), widest)
            lowest = np.where(hit & (lowest < 0), y, lowest)
            highest = np.where(hit, y, highest)
        return lowest, highest, widest
    depth = np.asarray([*ys, -1], dtype=np.int64)  # bit index -> depth; -1 (no bit) -> -1
    high_bit = np.frexp(occupied.astype(np.float64))[1] - 1
    low_bit = np.frexp((occupied & -occupied).astype(np.float64))[1] - 1
    lowest, highest = depth[low_bit], depth[high_bit]
    # Clear bits strictly between the extreme ones; the longest run of them is the gap.
    inside = ((np.int64(1) << np.maximum(high_bit, 0)) - 1) & ~((occupied & -occupied) * 2 - 1)
    run = inside & ~occupied
    longest = np.zeros(occupied.shape, dtype=np.int64)
    while run.any():
        longest += run != 0
        run &= run >> 1
    step = next(iter(steps), 0)
    widest = np.where(high_bit > low_bit, (longest + 1) * step, 0)
    return lowest, highest, widest


def sweep_prices(rect: RectangularGraph, depot: int, occupied: IntArray) -> IntArray:
    """Shortest closed walk from the depot through the picks of each batch, in mm.

    ``occupied[b, a]`` holds batch ``b``'s picks in aisle ``a`` as made by :func:`aisle_picks`;
    ``depot`` is a depot index (see :func:`check_layout`). The DP of the module docstring,
    vectorised over the batches.
    """
    check_layout(rect, depot)
    aisle_x = rect.ladder.aisle_x_mm
    front, back = rect.ladder.cross_y_mm
    length = back - front
    aisles = len(aisle_x)
    size = len(occupied)
    lowest, highest, widest = extents(occupied, depths(rect))
    never = np.int64(1) << 50
    states: dict[Sweep, IntArray] = {START: np.zeros(size, dtype=np.int64)}
    for a in range(aisles):
        picks = occupied[:, a] != 0
        verticals = (
            np.where(picks, never, 0),
            np.int64(length),
            np.int64(2 * length),
            np.where(picks, 2 * (highest[:, a] - front), never),
            np.where(picks, 2 * (back - lowest[:, a]), never),
            np.where(widest[:, a] > 0, 2 * (length - widest[:, a]), never),
        )
        step = 0 if a + 1 == aisles else aisle_x[a + 1] - aisle_x[a]
        sums: dict[tuple[Sweep, int], IntArray] = {}
        after: dict[Sweep, IntArray] = {}
        for nxt, crossings, ways in _arrivals(a, aisles, tuple(states)):
            best = None
            for state, vertical in ways:
                total = sums.get((state, vertical))
                if total is None:
                    total = sums[state, vertical] = states[state] + verticals[vertical]
                best = total.copy() if best is None else np.minimum(best, total, out=best)
            assert best is not None
            after[nxt] = best + crossings * step if crossings else best
        states = after
    return states[CLOSED]
