"""What one package costs and when it arrives, read straight off the rate cards.

These are the reference rules, one package at a time. The solver prices packages in bulk with
numpy (:mod:`allocation.quotes`); tests check the two agree, and every reported shipment's cost
can be recomputed with :func:`quote`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from allocation.model import (
    CM3_PER_IN3,
    LB_PER_KG,
    AllocationProblem,
    CarrierService,
    FulfillmentCenter,
    Location,
    Order,
    RateCard,
)

#: Mean Earth radius, for great-circle distances.
EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Quote:
    """One package with one service: its zone, billable weight, cost and delivery day."""

    service: str
    zone: int
    billable_weight: float
    cost: int
    delivery_day: int


def distance_km(a: Location, b: Location) -> float:
    """Great-circle distance between two places with coordinates."""
    assert a.latitude is not None and a.longitude is not None
    assert b.latitude is not None and b.longitude is not None
    p1, p2 = math.radians(a.latitude), math.radians(b.latitude)
    dp, dl = p2 - p1, math.radians(b.longitude - a.longitude)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def zone(service: CarrierService, fc: FulfillmentCenter, destination: Location) -> int | None:
    """The zone of ``destination`` from ``fc`` for ``service``; None when it is not served.

    The FC's zone chart decides when it lists the destination's ZIP3; otherwise distance bands
    decide when both places have coordinates.
    """
    zip3 = destination.zip3
    if zip3:
        for row in service.zone_charts.get(fc.id, ()):
            if row.first <= zip3 <= row.last:
                return row.zone
    bands = service.distance_bands
    if bands is not None and fc.location.has_coordinates and destination.has_coordinates:
        return bands.zone(distance_km(fc.location, destination))
    return None


def billable_weight(card: RateCard, weight_kg: float, volume_cm3: float) -> float:
    """Billable weight in the card's unit: actual or dimensional, the larger, rounded up."""
    if card.weight_unit == "lb":
        actual, volume = weight_kg * LB_PER_KG, volume_cm3 / CM3_PER_IN3
    else:
        actual, volume = weight_kg, volume_cm3
    dim = volume / card.dim_divisor if card.dim_divisor > 0 else 0.0
    steps = max(1, math.ceil(max(actual, dim) / card.weight_step - 1e-9))
    return steps * card.weight_step


def with_fuel(amount: int, fuel_pct: float) -> int:
    """``amount`` with the fuel surcharge, rounded half up to a minor unit."""
    basis_points = round(fuel_pct * 100)
    return (amount * (10_000 + basis_points) + 5_000) // 10_000


def quote(
    problem: AllocationProblem,
    order: Order,
    fc: FulfillmentCenter,
    service: CarrierService,
    weight_kg: float,
    volume_cm3: float,
) -> Quote | None:
    """A package of ``order`` from ``fc`` by ``service``, or None when the service cannot take it.

    It cannot when the FC does not offer it, it is below the order's service level, the
    destination has no zone on its card, the package is heavier than the card prices, or it
    would arrive after the order's promise.
    """
    card = service.rate_card
    if not service.offered_at(fc.id) or service.level < order.service_level:
        return None
    z = zone(service, fc, order.destination)
    if z is None or z not in card.zones:
        return None
    column = card.zones.index(z)
    delivery = problem.ship_day(fc) + service.transit_days[column]
    if order.promise_days is not None and delivery > order.promise_days:
        return None
    billable = billable_weight(card, weight_kg, volume_cm3)
    row = round(billable / card.weight_step) - 1
    if row >= len(card.prices):
        return None
    charges = card.prices[row][column] + sum(
        s.amount
        for s in service.surcharges
        if (order.residential or not s.residential_only) and billable >= s.min_billable_weight
    )
    cost = with_fuel(charges, service.fuel_pct) + fc.handling_cost
    return Quote(service.id, z, billable, cost, delivery)


def cheapest(
    problem: AllocationProblem,
    order: Order,
    fc: FulfillmentCenter,
    weight_kg: float,
    volume_cm3: float,
) -> Quote | None:
    """The cheapest service for one package (the first listed among equals), or None."""
    best: Quote | None = None
    for service in problem.services:
        q = quote(problem, order, fc, service, weight_kg, volume_cm3)
        if q is not None and (best is None or q.cost < best.cost):
            best = q
    return best
