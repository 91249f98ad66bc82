"""The allocation problem: orders, fulfillment centers, carrier services and their rate cards.

Plain frozen data, validated by :func:`validate`; :func:`allocation.solve.solve` allocates it.

Shipments and packages
----------------------
The lines of one order that one FC ships leave in one package, with one carrier service; an
order split over FCs becomes several packages. A line ships whole from one FC. A package's
volume is the sum of its units' volumes, so its dimensional weight is that volume over the rate
card's divisor; its billable weight is the larger of actual and dimensional weight, rounded up
to the rate card's step.

Cost
----
All money is an integer in minor units (cents for USD) of the problem's ``currency``. A
package costs ``round((base + surcharges) * (1 + fuel_pct / 100)) + handling_cost``: the base
price from the rate card by zone and billable weight, the surcharges that apply to it (all fuel
surcharged, as carriers bill them), and the shipping FC's handling cost per package. A line left
unfilled costs ``policy.unfilled_line_penalty * (1 + order.priority)``; the objective is the
cost of every package plus these penalties.

Days
----
Days count from the plan day (day 0). An FC whose ``cutoff_s`` has passed at ``now_s`` ships
on day 1; a package is delivered ``transit_days`` (of its service and zone) after it ships. An
order with ``promise_days`` may only use an FC and service that deliver by then.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from routing.errors import FieldViolation, InvalidInput

#: Longest id of an order, SKU, FC or service.
MAX_ID_LENGTH = 200
#: Pounds per kilogram, for rate cards priced by the pound.
LB_PER_KG = 2.2046226218
#: Cubic centimetres per cubic inch, for dimensional weight in inches.
CM3_PER_IN3 = 16.387064
#: Weight units a rate card may use.
WEIGHT_UNITS = ("lb", "kg")
#: Service levels, slowest first: an order asking for a level may use it or a faster one.
SERVICE_LEVELS = ("standard", "expedited", "overnight")

_ZIP3 = re.compile(r"^\d{3}")


@dataclass(frozen=True)
class Location:
    """A place: a postal code (a US ZIP or ZIP3; its first three digits are used), coordinates,
    or both. Zone charts need the ZIP3, distance bands the coordinates."""

    postal_code: str = ""
    latitude: float | None = None
    longitude: float | None = None

    @property
    def zip3(self) -> str:
        """The first three digits of the postal code ("" when it has none)."""
        match = _ZIP3.match(self.postal_code)
        return match.group(0) if match else ""

    @property
    def has_coordinates(self) -> bool:
        """Whether latitude and longitude are both known."""
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True)
class Sku:
    """One unit of a SKU as it ships: weight and the dimensions that set its volume."""

    id: str
    weight_kg: float
    length_cm: float = 0.0
    width_cm: float = 0.0
    height_cm: float = 0.0

    @property
    def volume_cm3(self) -> float:
        """Volume of one unit."""
        return self.length_cm * self.width_cm * self.height_cm


@dataclass(frozen=True)
class OrderLine:
    """Units of one SKU an order asks for."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class Order:
    """A customer order to ship.

    ``promise_days``: delivered at the latest this many days after the plan day (None: no
    promise). ``service_level``: the slowest level it may use (an index into
    :data:`SERVICE_LEVELS`). ``locked_fc``: already released to this FC, which must ship all of
    it. ``priority`` scales the penalty of leaving its lines unfilled.
    """

    id: str
    destination: Location
    lines: tuple[OrderLine, ...]
    promise_days: int | None = None
    service_level: int = 0
    priority: int = 0
    locked_fc: str = ""
    residential: bool = True


@dataclass(frozen=True)
class FulfillmentCenter:
    """A site that ships orders; a limit of 0 means none.

    ``cutoff_s``: seconds after midnight of the plan day when its last pickup leaves (None: it
    ships today whatever the time). ``service_capacity`` limits packages per day per service.
    """

    id: str
    location: Location
    capacity_packages: int = 0
    capacity_units: int = 0
    cutoff_s: float | None = None
    handling_cost: int = 0
    service_capacity: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ZoneRange:
    """Destination ZIP3s ``first``..``last`` (inclusive, three digits each) are in ``zone``."""

    first: str
    last: str
    zone: int


@dataclass(frozen=True)
class DistanceBands:
    """Zones by great-circle distance: up to ``upper_km[i]`` is zone ``first_zone + i``."""

    upper_km: tuple[float, ...]
    first_zone: int = 2

    def zone(self, km: float) -> int | None:
        """The zone of a distance, or None beyond the last band."""
        for i, upper in enumerate(self.upper_km):
            if km <= upper:
                return self.first_zone + i
        return None


@dataclass(frozen=True)
class Surcharge:
    """A fixed amount per package, on residential deliveries only or on every package, and
    only from a billable weight upward (0: any weight)."""

    name: str
    amount: int
    residential_only: bool = False
    min_billable_weight: float = 0.0


@dataclass(frozen=True)
class RateCard:
    """Base price by zone and billable weight.

    ``prices[i][j]`` is the price of a package of billable weight up to ``(i + 1) * weight_step``
    (in ``weight_unit``) to zone ``zones[j]``; heavier packages are not accepted. ``dim_divisor``
    is cubic inches per pound (``lb`` cards) or cubic centimetres per kilogram (``kg`` cards);
    0 bills actual weight only.
    """

    zones: tuple[int, ...]
    prices: tuple[tuple[int, ...], ...]
    weight_unit: str = "lb"
    weight_step: float = 1.0
    dim_divisor: float = 0.0

    @property
    def max_weight(self) -> float:
        """Heaviest billable weight the card prices."""
        return len(self.prices) * self.weight_step


@dataclass(frozen=True)
class CarrierService:
    """A carrier's service (say, ground or two-day) as the FCs that offer it can use it.

    The zone from an FC to a destination comes from ``zone_charts[fc]`` when the destination has
    a ZIP3 the chart lists, else from ``distance_bands`` when both places have coordinates; a
    destination with neither is not served. ``transit_days[j]`` goes with ``rate_card.zones[j]``.
    ``fcs`` names the FCs that offer the service (empty: all).
    """

    id: str
    rate_card: RateCard
    transit_days: tuple[int, ...]
    carrier: str = ""
    level: int = 0
    fuel_pct: float = 0.0
    surcharges: tuple[Surcharge, ...] = ()
    zone_charts: Mapping[str, tuple[ZoneRange, ...]] = field(default_factory=dict)
    distance_bands: DistanceBands | None = None
    fcs: tuple[str, ...] = ()

    def offered_at(self, fc: str) -> bool:
        """Whether ``fc`` may ship with this service."""
        return not self.fcs or fc in self.fcs


@dataclass(frozen=True)
class Policy:
    """How orders may be shipped.

    ``max_packages_per_order``: 0 for no limit. ``allow_split`` False means at most one package
    per order. ``unfilled_line_penalty`` (minor units, times ``1 + priority``) is what leaving a
    line unfilled costs in the objective; set it above any shipping cost to fill every line that
    can be filled.
    """

    allow_split: bool = True
    max_packages_per_order: int = 0
    unfilled_line_penalty: int = 100_000

    @property
    def packages_limit(self) -> int:
        """Most packages one order may ship in (0: no limit)."""
        return 1 if not self.allow_split else self.max_packages_per_order


@dataclass(frozen=True)
class AllocationProblem:
    """One day's orders to allocate over an FC network.

    ``stock`` maps FC -> SKU -> units available. ``now_s`` is the time of planning, in seconds
    after midnight of the plan day, for the FCs' cutoffs.
    """

    orders: tuple[Order, ...]
    skus: Mapping[str, Sku]
    fcs: tuple[FulfillmentCenter, ...]
    services: tuple[CarrierService, ...]
    stock: Mapping[str, Mapping[str, int]]
    policy: Policy = Policy()
    currency: str = "USD"
    now_s: float = 0.0

    def ship_day(self, fc: FulfillmentCenter) -> int:
        """Day on which ``fc`` ships what it is given now: 0, or 1 past its cutoff."""
        return 1 if fc.cutoff_s is not None and self.now_s > fc.cutoff_s else 0


def validate(problem: AllocationProblem) -> None:
    """Check a problem's shape and cross-references; every problem is named by its field path.

    Raises
    ------
    InvalidInput
        Empty or repeated ids, quantities below 1, an unknown SKU, FC or service, negative
        limits or costs, malformed rate cards or zone charts.
    """
    problems: list[FieldViolation] = []
    add = problems.append
    if not problem.orders:
        add(FieldViolation("orders", "must not be empty"))
    if not problem.fcs:
        add(FieldViolation("fcs", "must not be empty"))
    if not problem.services:
        add(FieldViolation("services", "must not be empty"))
    if not re.fullmatch(r"[A-Z]{3}", problem.currency):
        add(FieldViolation("currency", f"must be an ISO 4217 code, got {problem.currency!r}"))
    if not math.isfinite(problem.now_s):
        add(FieldViolation("now", f"must be finite, got {problem.now_s}"))
    pol = problem.policy
    if pol.max_packages_per_order < 0:
        add(
            FieldViolation(
                "policy.max_packages_per_order", f"negative: {pol.max_packages_per_order}"
            )
        )
    if pol.unfilled_line_penalty < 0:
        add(
            FieldViolation("policy.unfilled_line_penalty", f"negative: {pol.unfilled_line_penalty}")
        )

    for key, sku in problem.skus.items():
        where = f"skus[{key!r}]"
        _check_id(problems, f"{where}.id", sku.id)
        if sku.id != key:
            add(FieldViolation(f"{where}.id", f"{sku.id!r} is filed under {key!r}"))
        for name in ("weight_kg", "length_cm", "width_cm", "height_cm"):
            value = getattr(sku, name)
            if not (math.isfinite(value) and value >= 0):
                add(FieldViolation(f"{where}.{name}", f"must be >= 0, got {value}"))

    fc_ids = _unique_ids(problems, "fcs", [fc.id for fc in problem.fcs])
    service_ids = _unique_ids(problems, "services", [s.id for s in problem.services])
    for i, fc in enumerate(problem.fcs):
        where = f"fcs[{i}]"
        _check_location(problems, f"{where}.location", fc.location)
        for name in ("capacity_packages", "capacity_units", "handling_cost"):
            value = getattr(fc, name)
            if value < 0:
                add(FieldViolation(f"{where}.{name}", f"negative: {value}"))
        if fc.cutoff_s is not None and not (0 <= fc.cutoff_s <= 86_400):
            add(FieldViolation(f"{where}.cutoff", f"must be within the day, got {fc.cutoff_s}"))
        for sid, cap in fc.service_capacity.items():
            if sid not in service_ids:
                add(FieldViolation(f"{where}.service_capacity[{sid!r}]", "unknown service"))
            if cap < 0:
                add(FieldViolation(f"{where}.service_capacity[{sid!r}]", f"negative: {cap}"))
    for i, service in enumerate(problem.services):
        _check_service(problems, f"services[{i}]", service, fc_ids)

    seen: dict[str, int] = {}
    for i, order in enumerate(problem.orders):
        where = f"orders[{i}]"
        if _check_id(problems, f"{where}.id", order.id):
            if order.id in seen:
                add(FieldViolation(f"{where}.id", f"{order.id!r} repeats orders[{seen[order.id]}]"))
            else:
                seen[order.id] = i
        _check_location(problems, f"{where}.destination", order.destination)
        if not order.lines:
            add(FieldViolation(f"{where}.lines", "must not be empty"))
        if order.promise_days is not None and order.promise_days < 0:
            add(FieldViolation(f"{where}.promise", f"before the plan day: {order.promise_days}"))
        if not 0 <= order.service_level < len(SERVICE_LEVELS):
            add(FieldViolation(f"{where}.service_level", f"unknown level {order.service_level}"))
        if order.priority < 0:
            add(FieldViolation(f"{where}.priority", f"negative: {order.priority}"))
        if order.locked_fc and order.locked_fc not in fc_ids:
            add(FieldViolation(f"{where}.locked_fc", f"unknown FC {order.locked_fc!r}"))
        skus_seen: set[str] = set()
        for j, line in enumerate(order.lines):
            at = f"{where}.lines[{j}]"
            if line.sku not in problem.skus:
                add(FieldViolation(f"{at}.sku", f"unknown SKU {line.sku!r}"))
            elif line.sku in skus_seen:
                add(FieldViolation(f"{at}.sku", f"{line.sku!r} appears twice in the order"))
            skus_seen.add(line.sku)
            if line.quantity < 1:
                add(FieldViolation(f"{at}.quantity", f"must be >= 1, got {line.quantity}"))

    for site, units in problem.stock.items():
        if site not in fc_ids:
            add(FieldViolation(f"stock[{site!r}]", "unknown FC"))
        for sku_id, qty in units.items():
            if qty < 0:
                add(FieldViolation(f"stock[{site!r}][{sku_id!r}]", f"negative: {qty}"))
    if problems:
        raise InvalidInput(problems)


def _check_id(problems: list[FieldViolation], where: str, value: str) -> bool:
    if not value or len(value) > MAX_ID_LENGTH:
        problems.append(FieldViolation(where, f"must be 1-{MAX_ID_LENGTH} characters"))
        return False
    return True


def _unique_ids(problems: list[FieldViolation], where: str, ids: list[str]) -> set[str]:
    seen: dict[str, int] = {}
    for i, value in enumerate(ids):
        if not _check_id(problems, f"{where}[{i}].id", value):
            continue
        if value in seen:
            problems.append(
                FieldViolation(f"{where}[{i}].id", f"{value!r} repeats {where}[{seen[value]}]")
            )
        else:
            seen[value] = i
    return set(seen)


def _check_location(problems: list[FieldViolation], where: str, loc: Location) -> None:
    if (loc.latitude is None) != (loc.longitude is None):
        problems.append(FieldViolation(where, "latitude and longitude go together"))
    if loc.latitude is not None and not -90 <= loc.latitude <= 90:
        problems.append(FieldViolation(f"{where}.latitude", f"out of range: {loc.latitude}"))
    if loc.longitude is not None and not -180 <= loc.longitude <= 180:
        problems.append(FieldViolation(f"{where}.longitude", f"out of range: {loc.longitude}"))


def _check_service(
    problems: list[FieldViolation], where: str, service: CarrierService, fc_ids: set[str]
) -> None:
    add = problems.append
    card = service.rate_card
    if card.weight_unit not in WEIGHT_UNITS:
        add(FieldViolation(f"{where}.rate_card.weight_unit", f"not one of {WEIGHT_UNITS}"))
    if not (math.isfinite(card.weight_step) and card.weight_step > 0):
        add(FieldViolation(f"{where}.rate_card.weight_step", f"must be > 0: {card.weight_step}"))
    if not (math.isfinite(card.dim_divisor) and card.dim_divisor >= 0):
        add(FieldViolation(f"{where}.rate_card.dim_divisor", f"must be >= 0: {card.dim_divisor}"))
    if not card.zones or len(set(card.zones)) != len(card.zones):
        add(FieldViolation(f"{where}.rate_card.zones", "must list distinct zones"))
    if not card.prices:
        add(FieldViolation(f"{where}.rate_card.prices", "must have at least one weight row"))
    for i, row in enumerate(card.prices):
        if len(row) != len(card.zones):
            add(
                FieldViolation(
                    f"{where}.rate_card.prices[{i}]",
                    f"has {len(row)} prices for {len(card.zones)} zones",
                )
            )
        elif any(p < 0 for p in row):
            add(FieldViolation(f"{where}.rate_card.prices[{i}]", "negative price"))
    if len(service.transit_days) != len(card.zones) or any(d < 0 for d in service.transit_days):
        add(FieldViolation(f"{where}.transit_days", "one day count >= 0 per rate card zone"))
    if not 0 <= service.level < len(SERVICE_LEVELS):
        add(FieldViolation(f"{where}.level", f"unknown level {service.level}"))
    if not (math.isfinite(service.fuel_pct) and service.fuel_pct >= 0):
        add(FieldViolation(f"{where}.fuel_pct", f"must be >= 0: {service.fuel_pct}"))
    for i, s in enumerate(service.surcharges):
        if s.amount < 0:
            add(FieldViolation(f"{where}.surcharges[{i}].amount", f"negative: {s.amount}"))
    for fc in service.fcs:
        if fc not in fc_ids:
            add(FieldViolation(f"{where}.fcs", f"unknown FC {fc!r}"))
    for fc, rows in service.zone_charts.items():
        if fc not in fc_ids:
            add(FieldViolation(f"{where}.zone_charts[{fc!r}]", "unknown FC"))
        for i, r in enumerate(rows):
            at = f"{where}.zone_charts[{fc!r}][{i}]"
            if not (_is_zip3(r.first) and _is_zip3(r.last) and r.first <= r.last):
                add(FieldViolation(at, f"needs two ZIP3s in order, got {r.first!r}..{r.last!r}"))
    if service.distance_bands is not None:
        bands = service.distance_bands.upper_km
        if not bands or any(b <= 0 for b in bands) or list(bands) != sorted(bands):
            add(FieldViolation(f"{where}.distance_bands", "upper limits must rise from > 0"))
    if not service.zone_charts and service.distance_bands is None:
        add(FieldViolation(where, "needs zone charts or distance bands"))


def _is_zip3(value: str) -> bool:
    return len(value) == 3 and value.isdigit()
