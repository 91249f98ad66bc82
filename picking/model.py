"""The picking problem: a wave of orders, the cart they travel on, the stock they are picked from.

Plain frozen data, validated by :func:`validate`; :mod:`picking.wave` plans it.

Capacity model
--------------
A cart carries orders whole. Its limits, each 0 when absent: units, volume and weight in all,
orders, and order lines. With ``totes > 0`` every order gets totes of its own (two orders never
share a tote, so they cannot be mixed up at packing): one tote, or as many as its units, volume
and weight need when ``orders_may_span_totes``, counted by packing its whole units into totes
(:func:`pack_totes`); every pick names the tote its units go into. An order that fits no cart
is reported, not planned, unless ``orders_may_span_carts``: then it is split into parts that
each fit a cart (lines, and a line's units where one line alone is too much), and each part is
batched like an order of its own. Orders that fit a cart stay whole even then: a split order
has to be brought together again at packing, which the walk does not show. An order over
several carts fills several totes, so with totes it needs ``orders_may_span_totes`` too.

Pick-by times
-------------
A penalty, not a hard limit: batches are walked by ``pickers`` pickers, each taking the batch with
the earliest pick-by time next; a batch takes its walking time plus ``pick_time_s`` per pick,
and every second an order finishes after its pick-by time costs ``lateness_penalty_m_per_s``
metres of walking in the objective. An order split over carts finishes with its last cart, so
it is late once, by that cart. A wave that cannot be on time still gets its best plan.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from routing.errors import FieldViolation, InvalidInput

#: Longest id of an order or SKU.
MAX_ID_LENGTH = 200


@dataclass(frozen=True)
class OrderLine:
    """Units of one SKU an order asks for."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class Order:
    """A customer order; ``pick_by_s`` is seconds after the wave starts (None: no deadline)."""

    id: str
    lines: tuple[OrderLine, ...]
    priority: int = 0
    pick_by_s: float | None = None


@dataclass(frozen=True)
class SkuSize:
    """Volume and weight of one unit, needed where the cart limits volume or weight."""

    volume_l: float = 0.0
    weight_kg: float = 0.0


@dataclass(frozen=True)
class Cart:
    """What one picker pushes through the aisles; every limit is 0 when there is none."""

    capacity_units: int = 0
    capacity_volume_l: float = 0.0
    capacity_weight_kg: float = 0.0
    max_orders: int = 0
    max_lines: int = 0
    totes: int = 0
    tote_units: int = 0
    tote_volume_l: float = 0.0
    tote_weight_kg: float = 0.0
    orders_may_span_totes: bool = False
    orders_may_span_carts: bool = False


@dataclass(frozen=True)
class Timing:
    """How long batches take, for pick-by times."""

    walk_speed_m_s: float = 1.0
    pick_time_s: float = 10.0
    pickers: int = 1
    lateness_penalty_m_per_s: float = 1.0


@dataclass(frozen=True)
class Wave:
    """Orders to plan together, with the stock to pick from.

    ``stock`` maps SKU -> bin -> units available to this wave (on hand less what others hold).
    ``start_depot``/``end_depot`` empty: the layout's first depot, and back to the start.
    """

    orders: tuple[Order, ...]
    cart: Cart
    stock: Mapping[str, Mapping[str, int]]
    sizes: Mapping[str, SkuSize] = field(default_factory=dict)
    timing: Timing = Timing()
    start_depot: str = ""
    end_depot: str = ""


@dataclass(frozen=True)
class Load:
    """What one order, or a batch of orders summed, puts on a cart."""

    units: int = 0
    volume_l: float = 0.0
    weight_kg: float = 0.0
    lines: int = 0
    totes: int = 0
    orders: int = 0

    def __add__(self, other: Load) -> Load:
        return Load(
            self.units + other.units,
            self.volume_l + other.volume_l,
            self.weight_kg + other.weight_kg,
            self.lines + other.lines,
            self.totes + other.totes,
            self.orders + other.orders,
        )

    def __sub__(self, other: Load) -> Load:
        return Load(
            self.units - other.units,
            self.volume_l - other.volume_l,
            self.weight_kg - other.weight_kg,
            self.lines - other.lines,
            self.totes - other.totes,
            self.orders - other.orders,
        )


def order_load(cart: Cart, lines: tuple[OrderLine, ...], sizes: Mapping[str, SkuSize]) -> Load:
    """The load of one order's lines on ``cart`` (totes: how many it needs, by
    :func:`pack_totes`, or one more than the cart has when they do not go into its totes; 0
    without totes)."""
    units = sum(x.quantity for x in lines)
    volume = sum(x.quantity * sizes[x.sku].volume_l for x in lines) if _needs_volume(cart) else 0.0
    weight = sum(x.quantity * sizes[x.sku].weight_kg for x in lines) if _needs_weight(cart) else 0.0
    totes = 0
    if cart.totes:
        packed = pack_totes(cart, lines, sizes)
        totes = cart.totes + 1 if packed is None else max(1, len(packed))
    return Load(units, volume, weight, len(lines), totes, 1)


#: One tote's contents: (position of the line in the order's lines, units) pairs.
ToteContents = list[tuple[int, int]]


def pack_totes(
    cart: Cart, lines: tuple[OrderLine, ...], sizes: Mapping[str, SkuSize]
) -> list[ToteContents] | None:
    """How one order's units go into ``cart``'s totes, within each tote's units, litres and
    kilograms; None when they need more totes than the cart has, or a unit fits in no tote.

    First fit decreasing over lines: the lines with the bulkiest unit first (by its share of a
    tote), each putting as many units as fit into the first tote with room, then opening
    totes. Units are whole, so a limit in litres or kilograms can need more totes than the
    order's total over a tote's size rounded up (three 15 l units take three 40 l totes); with
    a limit in units only, the totes are the fewest. The planner counts totes and tells the
    picker which tote each pick goes into from this one packing.
    """
    tote = (float(cart.tote_units), cart.tote_volume_l, cart.tote_weight_kg)
    active = [d for d, size in enumerate(tote) if size > 0]

    def unit(line: OrderLine) -> list[float]:  # one unit's size, per active limit
        size = sizes.get(line.sku)
        every = (1.0, size.volume_l if size else 0.0, size.weight_kg if size else 0.0)
        return [every[d] for d in active]

    def share(line: OrderLine) -> float:
        return max((u / tote[d] for d, u in zip(active, unit(line), strict=True)), default=0.0)

    rooms: list[list[float]] = []  # per tote, room left under each active limit
    totes: list[ToteContents] = []
    for k in sorted(range(len(lines)), key=lambda k: (-share(lines[k]), k)):
        line, left = lines[k], lines[k].quantity
        one = unit(line)
        for t, room in enumerate(itertools.chain(rooms, itertools.repeat(None))):
            if left <= 0:
                break
            if room is None:  # open a tote
                if len(totes) >= cart.totes:
                    return None
                room = [tote[d] for d in active]
                rooms.append(room)
                totes.append([])
            n = min(
                (math.floor(r / u + 1e-9) for r, u in zip(room, one, strict=True) if u > 0),
                default=left,
            )
            n = min(n, left)
            if n <= 0:
                if not totes[t]:  # not even one unit in an empty tote
                    return None
                continue
            for d, u in enumerate(one):
                room[d] -= n * u
            totes[t].append((k, n))
            left -= n
    return totes


def _needs_volume(cart: Cart) -> bool:
    return cart.capacity_volume_l > 0 or (cart.totes > 0 and cart.tote_volume_l > 0)


def _needs_weight(cart: Cart) -> bool:
    return cart.capacity_weight_kg > 0 or (cart.totes > 0 and cart.tote_weight_kg > 0)


def limits(cart: Cart, load: Load) -> tuple[tuple[float, float], ...]:
    """Every (limit of ``cart``, what ``load`` uses of it) pair; a limit of 0 means none."""
    return (
        (cart.totes, load.totes),
        (cart.capacity_units, load.units),
        (cart.capacity_volume_l, load.volume_l),
        (cart.capacity_weight_kg, load.weight_kg),
        (cart.max_orders, load.orders),
        (cart.max_lines, load.lines),
    )


def fits(cart: Cart, load: Load) -> bool:
    """Whether ``load`` (one order, or a batch summed) fits on one cart."""
    return all(cap <= 0 or used <= cap + 1e-9 for cap, used in limits(cart, load))


def order_fits(cart: Cart, load: Load) -> bool:
    """Whether one order fits on an empty cart (in one tote, unless it may span totes)."""
    if cart.totes and not cart.orders_may_span_totes and load.totes > 1:
        return False
    return fits(cart, load)


def validate(wave: Wave) -> None:
    """Check a wave's shape; every problem is named by its field path.

    Raises
    ------
    InvalidInput
        Empty or duplicate ids, quantities below 1, negative limits, a missing SKU size where
        the cart limits volume or weight, tote sizes without totes, orders that may span carts
        but not totes, bad timing.
    """
    problems: list[FieldViolation] = []
    cart = wave.cart
    for name in (
        "capacity_units",
        "capacity_volume_l",
        "capacity_weight_kg",
        "max_orders",
        "max_lines",
        "totes",
        "tote_units",
        "tote_volume_l",
        "tote_weight_kg",
    ):
        value = getattr(cart, name)
        if value < 0 or not math.isfinite(value):
            problems.append(FieldViolation(f"cart.{name}", f"must be >= 0, got {value}"))
    if not cart.totes and (cart.tote_units or cart.tote_volume_l or cart.tote_weight_kg):
        problems.append(FieldViolation("cart.totes", "tote sizes given but no totes"))
    if cart.orders_may_span_carts and cart.totes and not cart.orders_may_span_totes:
        problems.append(
            FieldViolation(
                "cart.orders_may_span_carts",
                "true needs orders_may_span_totes: an order over several carts fills several totes",
            )
        )
    if not wave.orders:
        problems.append(FieldViolation("orders", "must not be empty"))
    seen: dict[str, int] = {}
    needs = (_needs_volume(cart), _needs_weight(cart))
    for i, order in enumerate(wave.orders):
        where = f"orders[{i}]"
        if not order.id or len(order.id) > MAX_ID_LENGTH:
            problems.append(FieldViolation(f"{where}.id", f"must be 1-{MAX_ID_LENGTH} characters"))
        elif order.id in seen:
            problems.append(
                FieldViolation(f"{where}.id", f"{order.id!r} repeats orders[{seen[order.id]}]")
            )
        else:
            seen[order.id] = i
        if not order.lines:
            problems.append(FieldViolation(f"{where}.lines", "must not be empty"))
        if order.pick_by_s is not None and not math.isfinite(order.pick_by_s):
            problems.append(FieldViolation(f"{where}.pick_by", "must be a finite time"))
        for j, line in enumerate(order.lines):
            at = f"{where}.lines[{j}]"
            if not line.sku or len(line.sku) > MAX_ID_LENGTH:
                problems.append(
                    FieldViolation(f"{at}.sku", f"must be 1-{MAX_ID_LENGTH} characters")
                )
            if line.quantity < 1:
                problems.append(
                    FieldViolation(f"{at}.quantity", f"must be >= 1, got {line.quantity}")
                )
            size = wave.sizes.get(line.sku)
            if (needs[0] or needs[1]) and size is None:
                problems.append(
                    FieldViolation(
                        f"{at}.sku", f"no size for {line.sku!r}; the cart limits volume or weight"
                    )
                )
    for sku, size in wave.sizes.items():
        if not (0 <= size.volume_l < math.inf and 0 <= size.weight_kg < math.inf):
            problems.append(
                FieldViolation(f"sku_sizes[{sku!r}]", "volume and weight must be finite and >= 0")
            )
    t = wave.timing
    # Bounds far outside any warehouse, which also keep penalties in millimetres within 64 bits.
    for name, value, low, high in (
        ("walk_speed_m_s", t.walk_speed_m_s, 0.01, 100.0),
        ("pick_time_s", t.pick_time_s, 0.0, 86_400.0),
        ("pickers", t.pickers, 1, 100_000),
        ("lateness_penalty_m_per_s", t.lateness_penalty_m_per_s, 0.0, 1_000_000.0),
    ):
        if not low <= value <= high:
            problems.append(
                FieldViolation(f"timing.{name}", f"must be in [{low:g}, {high:g}], got {value}")
            )
    if problems:
        raise InvalidInput(problems)
