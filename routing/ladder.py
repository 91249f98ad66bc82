"""Exact shortest pick tours on rectangular (multi-block) warehouses.

A rectangular warehouse is a *ladder*: parallel pick aisles crossed by two or more cross aisles.
The shortest walk that starts at one depot point, passes every pick and ends at another depot point
is found exactly by dynamic programming over the aisles, left to right:

* Ratliff & Rosenthal (1983), "Order-picking in a rectangular warehouse: a solvable case of the
  traveling salesman problem", Operations Research 31(3): a tour is an Eulerian connected
  multigraph on the ladder in which every edge is used at most twice; sweeping the aisles left to
  right, only the degree parity of the cross-aisle positions at the sweep line and how they are
  connected matter (seven equivalence classes for one block).
* Roodbergen & de Koster (2001), "Routing order pickers in a warehouse with a middle aisle",
  European Journal of Operational Research 133(1): the same idea for three cross aisles.
* Pansart, Catusse & Cambazard (2018), "Exact algorithms for the order picking problem",
  Computers & Operations Research 100: the general column DP for any number of cross aisles, whose
  state at a column boundary is, per cross aisle, the degree class (0 / odd / even > 0) of the
  partial subgraph plus the connectivity partition of the visited positions.

This module implements the general DP as a *broken-profile* ("plug") DP that decides one junction
at a time (its vertical sub-aisle above and its cross-aisle edge to the right), so the work per step
stays small for any number of cross aisles. With two cross aisles its column-boundary states are
exactly the Ratliff-Rosenthal equivalence classes. Transition tables depend only on an abstract
signature of the junction (not on distances), so they are cached across calls and a solve is a
tight loop of table look-ups and integer additions.

With three or more cross aisles two exact prunings keep the state count down: a narrow beam pass
first finds a feasible route, whose length bounds the exact pass (a state is dropped when its cost
plus a lower bound on the remaining decisions exceeds it), and a state is dropped when a state with
the same degree classes and a coarser connectivity partition costs no more (Pansart et al.). From
four cross aisles on that lower bound depends on the state's edge multiplicities at the sweep line:
it solves a relaxation (columns joined by gap profiles, keeping parity and the need to anchor every
vertical piece to a cross-aisle edge, dropping connectivity between rows) by a backward DP.

Open paths (start != end) are handled by asking for odd degree at the start and end junctions and
even degree elsewhere. Depots between aisles (or outside the aisle range) become extra columns with
no vertical segments whose junction must be visited. All lengths are integer millimetres.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from routing.errors import InvalidInput

__all__ = [
    "Ladder",
    "LadderRoute",
    "check_route_inputs",
    "shortest_route",
]


def _is_int(value: object) -> bool:
    """True for Python and numpy integers, not for bools (a common data-entry mistake)."""
    if type(value) is int:
        return True
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


@dataclass(frozen=True)
class Ladder:
    """Rectangular warehouse skeleton in millimetres.

    Parameters
    ----------
    aisle_x_mm
        x of each pick-aisle centre line, strictly increasing, at least one aisle.
    cross_y_mm
        y of each cross-aisle centre line, strictly increasing, at least two (index 0 is the front,
        the last index the back). Block ``b`` lies between ``cross_y_mm[b]`` and
        ``cross_y_mm[b + 1]``.

    Raises
    ------
    InvalidInput
        (a ``ValueError``) naming the field and value when the skeleton is malformed.
    """

    aisle_x_mm: tuple[int, ...]
    cross_y_mm: tuple[int, ...]

    def __post_init__(self) -> None:
        for name, values, minimum in (
            ("aisle_x_mm", self.aisle_x_mm, 1),
            ("cross_y_mm", self.cross_y_mm, 2),
        ):
            if not isinstance(values, tuple) or len(values) < minimum:
                raise InvalidInput.single(
                    name, f"needs a tuple of at least {minimum} ints, got {values!r}"
                )
            for i, v in enumerate(values):
                if not _is_int(v):
                    raise InvalidInput.single(f"{name}[{i}]", f"must be an int, got {v!r}")
                if i and v <= values[i - 1]:
                    raise InvalidInput.single(
                        f"{name}[{i}]", f"must be > {values[i - 1]} (strictly increasing), got {v}"
                    )

    @property
    def n_aisles(self) -> int:
        """Number of pick aisles."""
        return len(self.aisle_x_mm)

    @property
    def n_cross_aisles(self) -> int:
        """Number of cross aisles (blocks + 1)."""
        return len(self.cross_y_mm)


@dataclass(frozen=True)
class LadderRoute:
    """A pick route on a ladder.

    Parameters
    ----------
    length_mm
        Walking distance from start through every pick to end, in millimetres.
    order
        Permutation of all pick indices in visiting order; picks at the same point are consecutive.
    optimal
        Whether the length is proven minimal (false only for the beam route returned when the
        exact search ran out of time).
    """

    length_mm: int
    order: tuple[int, ...]
    optimal: bool = True


def check_route_inputs(
    ladder: Ladder,
    pick_aisle: Sequence[int],
    pick_y_mm: Sequence[int],
    start: tuple[int, int],
    end: tuple[int, int],
) -> tuple[list[int], list[int], tuple[int, int], tuple[int, int]]:
    """Validate a routing request on a ladder and return it as plain Python ints.

    Parameters
    ----------
    ladder
        The warehouse skeleton.
    pick_aisle, pick_y_mm
        Aisle index and y of each pick; equal lengths, ``cross_y_mm[0] <= y <= cross_y_mm[-1]``.
    start, end
        Depot points ``(cross-aisle index, x_mm)``.

    Returns
    -------
    tuple[list[int], list[int], tuple[int, int], tuple[int, int]]
        ``pick_aisle``, ``pick_y_mm``, ``start`` and ``end`` with numpy integers turned into ints.

    Raises
    ------
    InvalidInput
        (a ``ValueError``) naming the offending argument (``pick_y_mm[3]``, ``start``) and value.
    """
    if not isinstance(ladder, Ladder):
        raise InvalidInput.single("ladder", f"must be a Ladder, got {type(ladder).__name__}")
    if len(pick_aisle) != len(pick_y_mm):
        raise InvalidInput.single(
            "pick_y_mm",
            f"has {len(pick_y_mm)} entries but pick_aisle has {len(pick_aisle)}",
        )
    n_aisles = len(ladder.aisle_x_mm)
    y_lo, y_hi = ladder.cross_y_mm[0], ladder.cross_y_mm[-1]
    for i, a in enumerate(pick_aisle):
        if not _is_int(a) or not 0 <= a < n_aisles:
            raise InvalidInput.single(
                f"pick_aisle[{i}]", f"must be an aisle index in [0, {n_aisles}), got {a!r}"
            )
    for i, y in enumerate(pick_y_mm):
        if not _is_int(y) or not y_lo <= y <= y_hi:
            raise InvalidInput.single(
                f"pick_y_mm[{i}]", f"must be an int in [{y_lo}, {y_hi}], got {y!r}"
            )
    n_cross = len(ladder.cross_y_mm)
    for name, point in (("start", start), ("end", end)):
        if not isinstance(point, tuple) or len(point) != 2 or not all(_is_int(v) for v in point):
            raise InvalidInput.single(
                name, f"must be a (cross_aisle, x_mm) int pair, got {point!r}"
            )
        if not 0 <= point[0] < n_cross:
            raise InvalidInput.single(
                name, f"cross-aisle index must be in [0, {n_cross}), got {point[0]}"
            )
    return (
        [int(a) for a in pick_aisle],
        [int(y) for y in pick_y_mm],
        (int(start[0]), int(start[1])),
        (int(end[0]), int(end[1])),
    )


# --------------------------------------------------------------------------------------------
# Plug DP
#
# A state is m + 1 small ints packed into one int (``_slot_bits`` bits each, so hashing is cheap):
# slots 0..m-1 are the cross-aisle edges crossing the sweep line (rows < r: right of the current
# column, rows >= r: left of it), slot m is the vertical sub-aisle of the block below the current
# junction. Each slot is 0 (no edge) or multiplicity (1 or 2) + 3 * component label; labels are
# canonical (first appearance order), so they stay <= m + 1.
# --------------------------------------------------------------------------------------------

# Vertical options of one sub-aisle: (degree added at bottom, at top, connects bottom and top).
_NONE = (0, 0, False)
_SINGLE = (1, 1, True)
_DOUBLE = (2, 2, True)
_FROM_BOTTOM = (2, 0, False)
_FROM_TOP = (0, 2, False)
_GAP = (2, 2, False)

# Option lists per sub-aisle kind: 0 no sub-aisle, 1 sub-aisle without picks, 2 one distinct pick
# point, 3 two or more (so an inner largest gap exists), 4 every option, those a pick set rules
# out priced out of reach by the caller (:mod:`routing.many_routes`, which shares the steps
# between pick sets).
_OPTIONS: tuple[tuple[tuple[int, int, bool], ...], ...] = (
    (_NONE,),
    (_NONE, _SINGLE, _DOUBLE),
    (_SINGLE, _DOUBLE, _FROM_BOTTOM, _FROM_TOP),
    (_SINGLE, _DOUBLE, _FROM_BOTTOM, _FROM_TOP, _GAP),
    (_NONE, _SINGLE, _DOUBLE, _FROM_BOTTOM, _FROM_TOP, _GAP),
)
#: The kind whose sub-aisle is offered every option.
ANY_KIND = 4

_State = int
# (successor, or -1 for a finished route; decision code = option index * 3 + right multiplicity;
# index of the successor's multiplicity profile, see :func:`_profile`)
_Transition = tuple[_State, int, int]
_Signature = tuple[int, int, int, int, bool, bool, bool]

# Per junction signature: state -> (transitions to a successor, codes that finish the route).
_TABLES: dict[_Signature, dict[_State, tuple[list[_Transition], list[int]]]] = {}
# Per number of cross aisles (the packing depends on it): state -> its strict coarsenings.
_COARSER: dict[int, dict[_State, tuple[_State, ...]]] = {}
# Dominance pruning pays for itself only when a step holds more states than this.
_DOMINANCE_MIN_STATES = 48
# The caches are cleared before a solve when they hold more entries than this (memory bound).
_MAX_CACHED = 1_000_000
_FRESH_A = 1_000_001
_FRESH_B = 1_000_002
_NO_LIMIT = 1 << 62
# States kept per step by the heuristic pass whose length bounds the exact multi-block pass, by
# cross-aisle count (the last entry for any more). The exact pass's state space grows steeply
# with each cross aisle, and so does what a tighter bound saves it: with three cross aisles a
# beam of 6 answers 25-30 % sooner than one of 24 (the exact pass is small anyway), with four 24
# is best (6 took 36 % longer), and from five on 40 pays for itself.
_BEAM_WIDTHS = {3: 6, 4: 24, 5: 40}
# The column relaxation (:func:`_profile_bounds`) pays for itself from this many cross aisles on;
# its (left profile, right profile) tables have 9 ** m entries, so it stops at the maximum.
_PROFILE_BOUND_MIN_CROSS = 4
_PROFILE_BOUND_MAX_CROSS = 6


def _slot_bits(m: int) -> int:
    """Bits per packed slot: enough for multiplicity 2 with label m + 1."""
    return (2 + 3 * (m + 1)).bit_length()


def _canonical(slots: list[int], bits: int) -> _State:
    """Relabel components in first-appearance order and pack the slots into one int."""
    relabel: dict[int, int] = {}
    packed = 0
    for i, s in enumerate(slots):
        if s:
            label = s // 3
            new = relabel.get(label)
            if new is None:
                new = relabel[label] = len(relabel) + 1
            packed |= (s % 3 + 3 * new) << (bits * i)
    return packed


def _profile(state: _State, count: int, bits: int) -> int:
    """Base-3 index of the multiplicities (0, 1, 2) of slots ``0 .. count - 1``, slot i digit i."""
    mask = (1 << bits) - 1
    index = 0
    for i in range(count - 1, -1, -1):
        index = 3 * index + ((state >> (bits * i)) & mask) % 3
    return index


def _unpack(state: _State, m: int) -> list[int]:
    """The m + 1 slot values of a packed state."""
    bits = _slot_bits(m)
    mask = (1 << bits) - 1
    return [(state >> (bits * i)) & mask for i in range(m + 1)]


def _set_partitions(items: list[int]) -> list[list[list[int]]]:
    """Every partition of ``items`` into non-empty blocks."""
    if not items:
        return [[]]
    first, rest = items[0], items[1:]
    out: list[list[list[int]]] = []
    for partition in _set_partitions(rest):
        out.append([[first], *partition])
        for k in range(len(partition)):
            out.append([*partition[:k], [first, *partition[k]], *partition[k + 1 :]])
    return out


def _coarsenings(packed: _State, m: int) -> tuple[_State, ...]:
    """States with the same degree classes whose partition strictly merges ``state``'s components.

    Such a state dominates ``state`` when it is no more expensive: every completion that connects
    the finer partition also connects the coarser one.
    """
    state = _unpack(packed, m)
    bits = _slot_bits(m)
    labels = sorted({s // 3 for s in state if s})
    out: list[_State] = []
    for partition in _set_partitions(labels):
        if len(partition) == len(labels):
            continue
        mapping = {label: block[0] for block in partition for label in block}
        out.append(_canonical([s % 3 + 3 * mapping[s // 3] if s else 0 for s in state], bits))
    return tuple(out)


def _transitions(packed: _State, sig: _Signature) -> list[_Transition]:
    """All successor states of ``packed`` at one junction with signature ``sig``.

    A successor -1 means the single remaining component closed with nothing left to do: a complete
    solution. The third entry of each transition is the successor's profile (see :func:`_profile`)
    on the slots the next step's lower bound looks at.
    """
    m, r, kind, parity, required, last_column, work_left = sig
    bits = _slot_bits(m)
    state = _unpack(packed, m)
    left = state[r]
    h_left, l_left = left % 3, left // 3
    below = state[m]
    d_below, l_below = below % 3, below // 3
    out: list[_Transition] = []
    for oi, (d_bottom, d_top, connects) in enumerate(_OPTIONS[kind]):
        base = h_left + d_below + d_bottom
        for h_right in (0,) if last_column else (0, 1, 2):
            if (base + h_right) & 1 != parity:
                continue
            slots = list(state)
            if base + h_right == 0:
                if required:
                    continue
                slots[r] = 0
                slots[m] = d_top + 3 * _FRESH_B if d_top else 0
                out.append(
                    (ns := _canonical(slots, bits), 3 * oi + h_right, _profile(ns, r + 1, bits))
                )
                continue
            node = _FRESH_A
            merged = {l_left if h_left else -1, l_below if d_below else -1}
            for i in range(m + 1):
                s = slots[i]
                if s and s // 3 in merged:
                    slots[i] = s % 3 + 3 * node
            slots[r] = h_right + 3 * node if h_right else 0
            if d_top:
                slots[m] = d_top + 3 * (node if connects else _FRESH_B)
            else:
                slots[m] = 0
            if not any(s and s // 3 == node for s in slots):
                if work_left or any(slots):
                    continue
                out.append((-1, 3 * oi + h_right, 0))
                continue
            out.append((ns := _canonical(slots, bits), 3 * oi + h_right, _profile(ns, r + 1, bits)))
    return out


@dataclass(frozen=True)
class _Instance:
    """Column/row view of one request: what the DP and the reconstruction need."""

    m: int
    xs: list[int]
    column_aisle: list[int]
    kinds: list[list[int]]
    option_costs: list[list[list[int]]]
    block_points: list[list[list[int]]]
    parity: list[list[int]]
    required: list[list[bool]]
    start_node: tuple[int, int]
    end_node: tuple[int, int]


def _build_instance(
    ladder: Ladder,
    pick_aisle: Sequence[int],
    pick_y_mm: Sequence[int],
    start: tuple[int, int],
    end: tuple[int, int],
) -> tuple[_Instance, dict[tuple[int, int], list[int]], dict[tuple[int, int, int], list[int]]]:
    """Turn a validated request into columns (aisle and depot x) by rows (cross aisles).

    Returns
    -------
    tuple
        The instance, the picks at each junction ``(column, row)`` and the picks at each inner
        point ``(column, block, y)``.
    """
    cross_y = ladder.cross_y_mm
    m = len(cross_y)
    aisle_x = ladder.aisle_x_mm
    xs = sorted(set(aisle_x) | {start[1], end[1]})
    col_of_x = {x: c for c, x in enumerate(xs)}
    n_cols = len(xs)
    column_aisle = [-1] * n_cols
    for a, x in enumerate(aisle_x):
        column_aisle[col_of_x[x]] = a
    row_of_y = {y: r for r, y in enumerate(cross_y)}

    junction_picks: dict[tuple[int, int], list[int]] = {}
    inner_picks: dict[tuple[int, int, int], list[int]] = {}
    points: list[list[set[int]]] = [[set() for _ in range(m)] for _ in range(n_cols)]
    required = [[False] * m for _ in range(n_cols)]
    for i, (a, y) in enumerate(zip(pick_aisle, pick_y_mm, strict=True)):
        c = col_of_x[aisle_x[a]]
        r = row_of_y.get(y)
        if r is not None:
            junction_picks.setdefault((c, r), []).append(i)
            required[c][r] = True
        else:
            b = _block_of(cross_y, y)
            points[c][b].add(y)
            inner_picks.setdefault((c, b, y), []).append(i)

    start_node = (col_of_x[start[1]], start[0])
    end_node = (col_of_x[end[1]], end[0])
    parity = [[0] * m for _ in range(n_cols)]
    if start_node != end_node:
        parity[start_node[0]][start_node[1]] = 1
        parity[end_node[0]][end_node[1]] = 1
    required[start_node[0]][start_node[1]] = True
    required[end_node[0]][end_node[1]] = True

    kinds: list[list[int]] = []
    option_costs: list[list[list[int]]] = []
    block_points: list[list[list[int]]] = []
    for c in range(n_cols):
        col_kinds: list[int] = []
        col_costs: list[list[int]] = []
        col_points: list[list[int]] = []
        for r in range(m):
            ys = sorted(points[c][r])
            col_points.append(ys)
            if column_aisle[c] < 0 or r == m - 1:
                col_kinds.append(0)
                col_costs.append([0])
                continue
            lo, hi = cross_y[r], cross_y[r + 1]
            length = hi - lo
            if not ys:
                col_kinds.append(1)
                col_costs.append([0, length, 2 * length])
                continue
            costs = [length, 2 * length, 2 * (ys[-1] - lo), 2 * (hi - ys[0])]
            if len(ys) == 1:
                col_kinds.append(2)
            else:
                gap = max(ys[k + 1] - ys[k] for k in range(len(ys) - 1))
                costs.append(2 * (length - gap))
                col_kinds.append(3)
            col_costs.append(costs)
        kinds.append(col_kinds)
        option_costs.append(col_costs)
        block_points.append(col_points)
    inst = _Instance(
        m=m,
        xs=xs,
        column_aisle=column_aisle,
        kinds=kinds,
        option_costs=option_costs,
        block_points=block_points,
        parity=parity,
        required=required,
        start_node=start_node,
        end_node=end_node,
    )
    return inst, junction_picks, inner_picks


def _block_of(cross_y: tuple[int, ...], y: int) -> int:
    """Index of the block whose open interval contains ``y`` (y is not on a cross aisle)."""
    lo, hi = 0, len(cross_y) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if cross_y[mid] < y:
            lo = mid
        else:
            hi = mid
    return lo


def _remaining_lower_bounds(inst: _Instance) -> list[int]:
    """Lower bound on the cost of all decisions after each junction step (index = step).

    Every remaining sub-aisle with picks costs at least its cheapest option, and every column gap
    right of the current column is crossed at least twice when required points lie on both sides
    (at least once when the cut separates start from end and nothing else forces a return).
    """
    m = inst.m
    n_cols = len(inst.xs)
    start_c, end_c = inst.start_node[0], inst.end_node[0]
    needed_cols = [
        any(inst.required[c]) or any(k >= 2 for k in inst.kinds[c]) for c in range(n_cols)
    ]
    left_any = [False] * n_cols
    right_any = [False] * n_cols
    seen = False
    for c in range(n_cols):
        seen = seen or needed_cols[c]
        left_any[c] = seen
    seen = False
    for c in range(n_cols - 1, -1, -1):
        seen = seen or needed_cols[c]
        right_any[c] = seen
    gap_lb = [0] * n_cols
    for g in range(n_cols - 1):
        if not (left_any[g] and right_any[g + 1]):
            continue
        width = inst.xs[g + 1] - inst.xs[g]
        splits_depots = (start_c <= g) != (end_c <= g)
        gap_lb[g] = width if splits_depots else 2 * width
    suffix_gap = [0] * (n_cols + 1)
    for c in range(n_cols - 1, -1, -1):
        suffix_gap[c] = suffix_gap[c + 1] + gap_lb[c]
    n_steps = n_cols * m
    bound = [0] * (n_steps + 1)
    vertical = 0
    for idx in range(n_steps - 1, -1, -1):
        c, r = divmod(idx, m)
        bound[idx] = vertical + suffix_gap[c + 1]
        if inst.kinds[c][r] >= 2:
            vertical += min(inst.option_costs[c][r])
    return bound


# Column relaxation for the lower bound. A gap between two columns is described by its profile:
# the multiplicity (0, 1, 2) of the cross-aisle edge in each row, as a base-3 index (row r digit r).
# A junction sees its left and right multiplicities only through its class: 0 no horizontal edge,
# 1 anchored with even horizontal degree, 2 anchored with odd horizontal degree.
_RELAX_INF = 1 << 50
_CLASS_OF_DEGREE = (0, 2, 1, 2, 1)
# Vertical sweep states within one column: (degree arriving from the sub-aisle below, status of
# the component at the junction: 0 none, 1 anchored to a horizontal edge, 2 not anchored yet).
_SWEEP_STATES = ((0, 0), (1, 1), (1, 2), (2, 1), (2, 2))
_SWEEP_INDEX = {state: i for i, state in enumerate(_SWEEP_STATES)}
# Per number of cross aisles: (profile -> crossing count, (left profile, right profile) -> class).
_PROFILE_TABLES: dict[int, tuple[np.ndarray, np.ndarray]] = {}
# Per (sub-aisle kind, parity, required): see :func:`_sweep_cells`.
_SWEEP_CELLS: dict[tuple[int, int, bool], np.ndarray] = {}


def _profile_tables(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Crossing count per gap profile and junction-class vector per (left, right) profile pair."""
    tables = _PROFILE_TABLES.get(m)
    if tables is None:
        digits = np.zeros((3**m, m), dtype=np.int64)
        for r in range(m):
            digits[:, r] = (np.arange(3**m) // 3**r) % 3
        weights = 3 ** np.arange(m, dtype=np.int64)
        classes = np.asarray(_CLASS_OF_DEGREE, dtype=np.int64)
        pair = classes[digits[:, None, :] + digits[None, :, :]]
        tables = _PROFILE_TABLES[m] = (digits.sum(axis=1), pair @ weights)
    return tables


def _sweep_cells(kind: int, parity: int, required: bool) -> np.ndarray:
    """Which vertical options move the column sweep between which states, per junction class.

    Entry ``[k, i, j, o]`` is true when option ``o`` of a sub-aisle of ``kind`` takes the sweep
    from state ``i`` to state ``j`` at a junction of class ``k``, with its degree parity and (if
    required) a visit; a piece that can no longer reach an anchored junction is infeasible.
    """
    key = (kind, parity, required)
    cells = _SWEEP_CELLS.get(key)
    if cells is None:
        options = _OPTIONS[kind]
        cells = _SWEEP_CELLS[key] = np.zeros((3, 5, 5, len(options)), dtype=bool)
        for k in range(3):
            for si, (inc, status) in enumerate(_SWEEP_STATES):
                for oi, (d_bottom, d_top, connects) in enumerate(options):
                    degree = inc + d_bottom
                    if ((k == 2) + degree) & 1 != parity or (required and not k and not degree):
                        continue
                    if k:
                        status_here = 1
                    elif status == 0 and degree:
                        status_here = 2
                    else:
                        status_here = status
                    if connects:
                        nxt = (d_top, status_here)
                    elif status_here == 2:
                        continue
                    else:
                        nxt = (d_top, 2) if d_top else (0, 0)
                    cells[k, si, _SWEEP_INDEX[nxt], oi] = True
    return cells


def _column_floor(inst: _Instance, c: int) -> np.ndarray:
    """Least vertical cost of column ``c`` per junction-class vector (a relaxation of the tour).

    Constraints kept: every pick covered by an option of its sub-aisle, every junction's degree
    parity, every required junction touched, and every vertical piece joined (through the column)
    to a junction with a cross-aisle edge. The last holds in any tour that leaves the column; for
    the all-zero class vector (a tour inside the column) the sum of cheapest options is used.
    """
    inf = _RELAX_INF
    layer = np.array([[0, inf, inf, inf, inf]], dtype=np.int64)
    for r in range(inst.m):
        cells = _sweep_cells(inst.kinds[c][r], inst.parity[c][r], inst.required[c][r])
        costs = np.asarray(inst.option_costs[c][r], dtype=np.int64)
        step = np.where(cells, costs, inf).min(axis=3)
        layer = np.minimum((layer[None, :, :, None] + step[:, None, :, :]).min(axis=2), inf)
        layer = layer.reshape(-1, 5)
    floor = layer[:, 0].copy()
    floor[0] = sum(min(inst.option_costs[c][r]) for r in range(inst.m) if inst.kinds[c][r] >= 2)
    return floor


def _profile_bounds(inst: _Instance) -> list[list[int]]:
    """Lower bound on the cost after each junction step, per profile of the successor state.

    Entry ``idx`` is indexed by the successor's :func:`_profile` over slots ``0 .. r`` (step
    ``idx`` = column ``c``, row ``r``). Relaxation behind it: the tour is cut into columns and
    gaps; a gap costs its width times its crossing count, which is even (odd when the gap separates
    start from end) and positive when work lies on both sides; a column costs at least
    :func:`_column_floor` of the classes its gap profiles give its junctions. A backward DP over
    gap profiles solves this relaxation exactly; at a column boundary the successor's slots are the
    whole left profile, inside a column they fix the right profile's lower rows.
    """
    m = inst.m
    n_cols = len(inst.xs)
    size = 3**m
    inf = _RELAX_INF
    crossings, pair_class = _profile_tables(m)
    start_c, end_c = inst.start_node[0], inst.end_node[0]
    needed = [any(inst.required[c]) or any(k >= 2 for k in inst.kinds[c]) for c in range(n_cols)]
    first = needed.index(True) if any(needed) else n_cols
    last = n_cols - 1 - needed[::-1].index(True) if any(needed) else -1
    plain = _remaining_lower_bounds(inst)
    out: list[list[int]] = [[] for _ in range(n_cols * m)]
    after: np.ndarray | None = None  # best cost of columns c + 1 .. given the left profile there
    for c in range(n_cols - 1, -1, -1):
        if after is None:
            width = 0
            rest = np.full(size, inf, dtype=np.int64)
            rest[0] = 0
        else:
            width = inst.xs[c + 1] - inst.xs[c]
            split = int((start_c <= c) != (end_c <= c))
            ok = crossings % 2 == split
            if first <= c < last:
                ok &= crossings > 0
            rest = np.where(ok, after, inf)
        vertical_left = 0
        suffix = rest
        for r in range(m - 1, -1, -1):
            idx = c * m + r
            bound = rest if r == m - 1 else suffix + vertical_left
            out[idx] = np.maximum(np.minimum(bound, inf), plain[idx]).tolist()
            if r:
                digit = 3**r
                suffix = np.minimum(
                    suffix[:digit],
                    np.minimum(suffix[digit : 2 * digit] + width, suffix[2 * digit :] + 2 * width),
                )
            if inst.kinds[c][r] >= 2:
                vertical_left += min(inst.option_costs[c][r])
        floor = _column_floor(inst, c)
        after = np.minimum(
            (floor[pair_class] + (rest + width * crossings)[None, :]).min(axis=1), inf
        )
    return out


def _lower_bounds(inst: _Instance) -> list[list[int]]:
    """Per-step lower bounds indexed by successor profile, as :func:`_profile_bounds` returns.

    With three cross aisles the state space is so small that the column relaxation costs more
    than it saves, and beyond six its profile tables (9 ** m entries) grow too large, so there the
    profile-independent :func:`_remaining_lower_bounds` is spread out.
    """
    if _PROFILE_BOUND_MIN_CROSS <= inst.m <= _PROFILE_BOUND_MAX_CROSS:
        return _profile_bounds(inst)
    plain = _remaining_lower_bounds(inst)
    return [[plain[idx]] * 3 ** (idx % inst.m + 1) for idx in range(len(plain) - 1)]


def _bound_caches() -> None:
    """Clear the transition and dominance caches when they grow past ``_MAX_CACHED`` entries."""
    cached = sum(len(t) for t in _COARSER.values()) + sum(len(t) for t in _TABLES.values())
    if cached > _MAX_CACHED:
        _TABLES.clear()
        _COARSER.clear()


def _drop_dominated(states: dict[_State, int], m: int) -> None:
    """Remove states whose coarsening is present at no greater cost (Pansart et al. dominance)."""
    cache = _COARSER.setdefault(m, {})
    for st in list(states):
        coarser = cache.get(st)
        if coarser is None:
            coarser = cache[st] = _coarsenings(st, m)
        cost = states[st]
        for other in coarser:
            known = states.get(other)
            if known is not None and known <= cost:
                del states[st]
                break


def _beam_select(states: dict[_State, int], m: int, width: int) -> dict[_State, int]:
    """The ``width`` cheapest states, skipping any with a cheaper kept coarsening (dominated)."""
    cache = _COARSER.setdefault(m, {})
    kept: dict[_State, int] = {}
    for st in sorted(states, key=states.__getitem__):
        coarser = cache.get(st)
        if coarser is None:
            coarser = cache[st] = _coarsenings(st, m)
        if not any(other in kept for other in coarser):
            kept[st] = states[st]
            if len(kept) == width:
                break
    return kept


def _run_dp(
    inst: _Instance,
    max_states: int,
    *,
    beam: int = 0,
    upper: int = -1,
    bounds: list[list[int]] | None = None,
    deadline: float | None = None,
) -> tuple[int, list[tuple[int, int]]] | None:
    """Run the plug DP; return the optimum and the per-junction decisions.

    Parameters
    ----------
    inst
        The request in column/row form.
    max_states
        Return None when a step holds more states than this.
    beam
        When positive, keep only the ``beam`` cheapest states per step: a fast heuristic whose
        result is a feasible route (an upper bound), not a proven optimum.
    upper
        When non-negative, drop states whose cost plus a lower bound on the rest exceeds it; exact
        as long as ``upper`` is the length of some feasible route.
    bounds
        :func:`_lower_bounds` of ``inst`` (computed here when ``upper`` needs it and it is None).
    deadline
        :func:`time.monotonic` value after which the run gives up (returns None); checked once
        per column.

    Returns
    -------
    tuple[int, list[tuple[int, int]]] | None
        The best length found and the (option index, right multiplicity) decision per junction
        step; None when the state budget or the deadline was exceeded or (beam/bounded runs only)
        nothing was found.
    """
    m = inst.m
    n_cols = len(inst.xs)
    n_steps = n_cols * m
    work = [False] * (n_steps + 1)
    for c in range(n_cols - 1, -1, -1):
        for r in range(m - 1, -1, -1):
            idx = c * m + r
            work[idx] = work[idx + 1] or inst.required[c][r] or inst.kinds[c][r] >= 2
    if bounds is None and upper >= 0:
        bounds = _lower_bounds(inst)
    # Per step: drop a successor whose cost exceeds limit[its profile] (upper minus its bound).
    no_limit = [_NO_LIMIT] * 3**m
    states: dict[_State, int] = {0: 0}
    back: list[dict[_State, int]] = []
    best = -1
    best_at: tuple[int, _State, int] | None = None
    for c in range(n_cols):
        if deadline is not None and time.monotonic() > deadline:
            return None
        last = c == n_cols - 1
        h_len = 0 if last else inst.xs[c + 1] - inst.xs[c]
        kinds_c = inst.kinds[c]
        costs_c = inst.option_costs[c]
        for r in range(m):
            idx = c * m + r
            sig: _Signature = (
                m,
                r,
                kinds_c[r],
                inst.parity[c][r],
                inst.required[c][r],
                last,
                work[idx + 1],
            )
            table = _TABLES.get(sig)
            if table is None:
                table = _TABLES[sig] = {}
            delta = [cost + hr * h_len for cost in costs_c[r] for hr in (0, 1, 2)]
            limit = [upper - b for b in bounds[idx]] if bounds and upper >= 0 else no_limit
            new: dict[_State, int] = {}
            bp: dict[_State, int] = {}
            get = new.get
            for st, cost in states.items():
                entry = table.get(st)
                if entry is None:
                    moves = _transitions(st, sig)
                    entry = table[st] = (
                        [t for t in moves if t[0] >= 0],
                        [code for ns, code, _ in moves if ns < 0],
                    )
                for ns, code, profile in entry[0]:
                    total = cost + delta[code]
                    if total <= limit[profile]:
                        old = get(ns)
                        if old is None or total < old:
                            new[ns] = total
                            bp[ns] = st << 6 | code
                if entry[1]:
                    for code in entry[1]:
                        total = cost + delta[code]
                        if best < 0 or total < best:
                            best = total
                            best_at = (idx, st, code)
            if 0 < beam < len(new):
                new = _beam_select(new, m, beam)
            elif len(new) > _DOMINANCE_MIN_STATES:
                _drop_dominated(new, m)
            if len(new) > max_states:
                return None
            states = new
            back.append(bp)
    if best_at is None:
        return None
    idx_t, st, code = best_at
    decisions = [(0, 0)] * n_steps
    decisions[idx_t] = divmod(code, 3)
    for idx in range(idx_t - 1, -1, -1):
        link = back[idx][st]
        st, code = link >> 6, link & 63
        decisions[idx] = divmod(code, 3)
    return best, decisions


def _euler_order(
    inst: _Instance,
    ladder: Ladder,
    decisions: list[tuple[int, int]],
    junction_picks: dict[tuple[int, int], list[int]],
    inner_picks: dict[tuple[int, int, int], list[int]],
    expected_length: int,
) -> tuple[int, ...]:
    """Build the optimal multigraph from the decisions, walk an Euler trail, list picks."""
    m = inst.m
    cross_y = ladder.cross_y_mm
    node_id: dict[tuple[int, int, int], int] = {}
    node_picks: list[list[int]] = []

    def node(key: tuple[int, int, int], picks: list[int]) -> int:
        nid = node_id.get(key)
        if nid is None:
            nid = node_id[key] = len(node_picks)
            node_picks.append(picks)
        return nid

    edges: list[tuple[int, int]] = []
    total = 0

    def add(u: int, v: int, weight: int, mult: int) -> None:
        nonlocal total
        for _ in range(mult):
            edges.append((u, v))
            total += weight

    def junction(c: int, r: int) -> int:
        return node((c, r, -1), junction_picks.get((c, r), []))

    for c in range(len(inst.xs)):
        for r in range(m):
            oi, hr = decisions[c * m + r]
            if hr:
                add(junction(c, r), junction(c + 1, r), inst.xs[c + 1] - inst.xs[c], hr)
            d_bottom, d_top, connects = _OPTIONS[inst.kinds[c][r]][oi]
            if not d_bottom and not d_top:
                continue
            ys = inst.block_points[c][r]
            chain_y = [cross_y[r], *ys, cross_y[r + 1]]
            chain = [
                junction(c, r),
                *(node((c, r, y), inner_picks[(c, r, y)]) for y in ys),
                junction(c, r + 1),
            ]
            pieces = range(len(chain) - 1)
            if connects:
                keep = [(k, d_bottom) for k in pieces]
            elif d_bottom and d_top:
                gap = max(range(1, len(ys)), key=lambda k: chain_y[k + 1] - chain_y[k])
                keep = [(k, 2) for k in pieces if k != gap]
            elif d_bottom:
                keep = [(k, 2) for k in pieces if k < len(ys)]
            else:
                keep = [(k, 2) for k in pieces if k > 0]
            for k, mult in keep:
                add(chain[k], chain[k + 1], chain_y[k + 1] - chain_y[k], mult)
    if total != expected_length:
        raise AssertionError(f"multigraph length {total} != DP optimum {expected_length}")

    start = junction(*inst.start_node)
    end = junction(*inst.end_node)
    adjacency: list[list[int]] = [[] for _ in node_picks]
    for e, (u, v) in enumerate(edges):
        adjacency[u].append(e)
        adjacency[v].append(e)
    used = [False] * len(edges)
    pointer = [0] * len(node_picks)
    stack = [start]
    trail: list[int] = []
    while stack:
        u = stack[-1]
        adj = adjacency[u]
        while pointer[u] < len(adj) and used[adj[pointer[u]]]:
            pointer[u] += 1
        if pointer[u] == len(adj):
            trail.append(stack.pop())
            continue
        e = adj[pointer[u]]
        used[e] = True
        a, b = edges[e]
        stack.append(b if a == u else a)
    trail.reverse()
    if trail[-1] != end or not all(used):
        raise AssertionError("optimal multigraph has no Euler trail from start to end")
    seen = [False] * len(node_picks)
    order: list[int] = []
    for v in trail:
        if not seen[v]:
            seen[v] = True
            order.extend(sorted(node_picks[v]))
    return tuple(order)


def _without_idle_aisles(
    ladder: Ladder, pick_aisle: list[int], depot_x: tuple[int, ...]
) -> tuple[Ladder, list[int]]:
    """Drop aisles with no pick that are not the nearest aisle on either side of a depot.

    Exact: shifting the aisle segments a route uses in such an aisle sideways changes its length
    linearly (each cross-aisle edge touching the aisle grows on one side as much as it shrinks on
    the other, times its multiplicity), so the segments can be slid, without getting longer, onto
    a neighbouring kept aisle; parity and connectivity survive the merge. The DP's work grows with
    the number of columns, so a sparse pick list on a wide warehouse gets much cheaper.
    """
    xs = ladder.aisle_x_mm
    keep = set(pick_aisle)
    for x in depot_x:
        keep.add(min(range(len(xs)), key=lambda a: (xs[a] < x, abs(xs[a] - x))))
        keep.add(min(range(len(xs)), key=lambda a: (xs[a] > x, abs(xs[a] - x))))
    if len(keep) == len(xs):
        return ladder, pick_aisle
    kept = sorted(keep)
    new_index = {a: i for i, a in enumerate(kept)}
    return (
        Ladder(tuple(xs[a] for a in kept), ladder.cross_y_mm),
        [new_index[a] for a in pick_aisle],
    )


def shortest_route(
    ladder: Ladder,
    pick_aisle: Sequence[int],
    pick_y_mm: Sequence[int],
    start: tuple[int, int],
    end: tuple[int, int],
    *,
    max_states: int = 200_000,
    deadline: float | None = None,
) -> LadderRoute | None:
    """Exact shortest walk from ``start`` through every pick to ``end`` on a ladder.

    The optimum is proven: the DP enumerates every Eulerian multigraph class that a shortest walk
    can use (each ladder edge at most twice), so the result is minimal, not heuristic. With two
    cross aisles this is the Ratliff-Rosenthal DP; with more it is the Pansart-Catusse-Cambazard
    column DP (see the module docstring).

    Parameters
    ----------
    ladder
        The warehouse skeleton.
    pick_aisle
        Aisle index of each pick.
    pick_y_mm
        y of each pick, ``cross_y_mm[0] <= y <= cross_y_mm[-1]``; a pick exactly on a cross aisle
        sits at that junction.
    start, end
        Depot points ``(cross-aisle index, x_mm)``; x may lie between aisles or outside the aisle
        range (the cross aisle extends to it). ``start == end`` asks for a closed tour.
    max_states
        Give up (return None) when the DP holds more states than this at any step, so a caller can
        fall back to a heuristic.
    deadline
        :func:`time.monotonic` value by which to answer. With three or more cross aisles a fast
        beam pass runs first; when the exact pass cannot finish (time or ``max_states``) its route
        is returned with ``optimal=False`` (None if even the beam pass did not finish). With two
        cross aisles the DP runs to the end regardless (milliseconds for 60 picks: a final
        route of a wave given a few milliseconds still comes back shortest).

    Returns
    -------
    LadderRoute | None
        Length in millimetres and the visiting order (picks at one point consecutive); None
        when the state space exceeds ``max_states`` or the deadline leaves no route at all.

    Raises
    ------
    InvalidInput
        (a ``ValueError``) naming the bad argument and its value.
    """
    solved = _solve(ladder, pick_aisle, pick_y_mm, start, end, max_states, deadline)
    if solved is None:
        return None
    if isinstance(solved, LadderRoute):
        return solved
    inst, trimmed, junction_picks, inner_picks, length, decisions, optimal = solved
    order = _euler_order(inst, trimmed, decisions, junction_picks, inner_picks, length)
    return LadderRoute(length, order, optimal)


def route_length(
    ladder: Ladder,
    pick_aisle: Sequence[int],
    pick_y_mm: Sequence[int],
    start: tuple[int, int],
    end: tuple[int, int],
    *,
    max_states: int = 200_000,
    deadline: float | None = None,
) -> tuple[int, bool] | None:
    """``(length_mm, optimal)`` of :func:`shortest_route`, without building the visiting order.

    For callers that price many pick sets (order batching): the order is most of the work once
    the DP has run.
    """
    solved = _solve(ladder, pick_aisle, pick_y_mm, start, end, max_states, deadline)
    if solved is None:
        return None
    if isinstance(solved, LadderRoute):
        return solved.length_mm, solved.optimal
    return solved[4], solved[6]


#: What the DP leaves for the visiting order: instance, trimmed ladder, picks on junctions and
#: inside aisles, length, decisions, whether proven optimal.
_Solved = tuple[
    "_Instance",
    Ladder,
    dict[tuple[int, int], list[int]],
    dict[tuple[int, int, int], list[int]],
    int,
    list[tuple[int, int]],
    bool,
]


def _solve(
    ladder: Ladder,
    pick_aisle: Sequence[int],
    pick_y_mm: Sequence[int],
    start: tuple[int, int],
    end: tuple[int, int],
    max_states: int,
    deadline: float | None,
) -> _Solved | LadderRoute | None:
    """Run the DP; a LadderRoute when the answer is trivial, None when it gave up."""
    pick_aisle, pick_y_mm, start, end = check_route_inputs(
        ladder, pick_aisle, pick_y_mm, start, end
    )
    if not _is_int(max_states) or max_states < 1:
        raise InvalidInput.single("max_states", f"must be a positive int, got {max_states!r}")
    ladder, pick_aisle = _without_idle_aisles(ladder, pick_aisle, (start[1], end[1]))
    inst, junction_picks, inner_picks = _build_instance(ladder, pick_aisle, pick_y_mm, start, end)
    required_nodes = {
        (c, r) for c, row in enumerate(inst.required) for r, req in enumerate(row) if req
    }
    if not inner_picks and len(required_nodes) == 1:
        return LadderRoute(0, tuple(sorted(range(len(pick_aisle)))))
    _bound_caches()
    solved: tuple[int, list[tuple[int, int]]] | None
    optimal = True
    if inst.m == 2:
        # Ratliff and Rosenthal's DP has seven states a column and ends in milliseconds: it
        # runs to the end whatever the deadline, as a caller's fallback would be longer.
        solved = _run_dp(inst, max_states)
    else:
        bounds = _lower_bounds(inst)
        width = _BEAM_WIDTHS[min(inst.m, max(_BEAM_WIDTHS))]
        heuristic = _run_dp(inst, max_states, beam=width, bounds=bounds, deadline=deadline)
        upper = heuristic[0] if heuristic is not None else -1
        solved = _run_dp(inst, max_states, upper=upper, bounds=bounds, deadline=deadline)
        if solved is None and heuristic is not None:
            solved, optimal = heuristic, False
    if solved is None:
        return None
    length, decisions = solved
    return inst, ladder, junction_picks, inner_picks, length, decisions, optimal
