"""Small allocation problems and an exhaustive solver to check the real one against."""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Iterator

from allocation.model import (
    AllocationProblem,
    CarrierService,
    DistanceBands,
    FulfillmentCenter,
    Location,
    Order,
    OrderLine,
    Policy,
    RateCard,
    Sku,
    Surcharge,
    ZoneRange,
)
from allocation.rates import Quote, quote
from allocation.result import Shipment

BANDS = DistanceBands((250, 500, 1000, 1500, 2000, 2500, 6000))


def rate_card(base: int, per_lb: int, per_zone: int, rows: int = 40) -> RateCard:
    """A rate card by the pound for zones 2-8 whose price rises with weight and zone."""
    zones = tuple(range(2, 9))
    prices = tuple(
        tuple(base + per_lb * w + per_zone * (z - 2) * (1 + w // 5) for z in zones)
        for w in range(rows)
    )
    return RateCard(zones, prices, "lb", 1.0, 139.0)


def ground() -> CarrierService:
    """A ground service: cheap, one to five days by zone."""
    return CarrierService(
        "GROUND",
        rate_card(900, 60, 120),
        (1, 2, 3, 4, 4, 5, 5),
        carrier="PARCEL",
        fuel_pct=18.0,
        surcharges=(Surcharge("residential", 595, residential_only=True),),
        distance_bands=BANDS,
    )


def two_day() -> CarrierService:
    """An express service: two days anywhere, dearer."""
    return CarrierService(
        "TWO_DAY",
        rate_card(2200, 150, 300),
        (2,) * 7,
        carrier="PARCEL",
        level=1,
        fuel_pct=20.0,
        distance_bands=BANDS,
    )


def tiny(
    seed: int,
    *,
    orders: int = 4,
    fcs: int = 3,
    max_lines: int = 3,
    capacity: int = 0,
    service_capacity: int = 0,
    policy: Policy | None = None,
    single_item: bool = False,
) -> AllocationProblem:
    """A random problem small enough for :func:`brute_force`."""
    rng = random.Random(seed)
    sites = tuple(
        FulfillmentCenter(
            f"FC{i}",
            Location("", 35 + 3 * i, -120 + 22 * i),
            capacity_packages=capacity,
            handling_cost=100 + 50 * i,
            service_capacity={"GROUND": service_capacity} if service_capacity else {},
        )
        for i in range(fcs)
    )
    skus = {
        f"S{i}": Sku(f"S{i}", rng.uniform(0.2, 4), 20, 15, rng.uniform(5, 30)) for i in range(6)
    }
    made = []
    for o in range(orders):
        count = 1 if single_item else rng.randint(1, max_lines)
        lines = tuple(
            OrderLine(k, 1 if single_item else rng.randint(1, 2))
            for k in rng.sample(sorted(skus), count)
        )
        made.append(
            Order(
                f"O{o}",
                Location("", rng.uniform(30, 47), rng.uniform(-122, -72)),
                lines,
                promise_days=rng.choice([None, None, 2, 3]),
                priority=rng.choice([0, 0, 1]),
            )
        )
    stock = {fc.id: {k: rng.randint(0, 4) for k in skus} for fc in sites}
    return AllocationProblem(
        tuple(made), skus, sites, (ground(), two_day()), stock, policy or Policy()
    )


Choice = tuple[tuple[int, int, tuple[int, ...], int], ...]


def _choices(problem: AllocationProblem, o: int) -> Iterator[tuple[int, Choice]]:
    """Every way to ship order ``o``: cost (penalties included) and packages
    ``(fc, service, line indices, units)``."""
    order = problem.orders[o]
    n, n_f = len(order.lines), len(problem.fcs)
    limit = problem.policy.packages_limit
    penalty = problem.policy.unfilled_line_penalty * (1 + order.priority)
    for where in itertools.product(range(-1, n_f), repeat=n):
        by_fc: dict[int, list[int]] = {}
        for j, f in enumerate(where):
            if f >= 0:
                by_fc.setdefault(f, []).append(j)
        if 0 < limit < len(by_fc):
            continue
        if order.locked_fc and any(problem.fcs[f].id != order.locked_fc for f in by_fc):
            continue
        options = []
        for f, lines in sorted(by_fc.items()):
            weight = volume = 0.0
            for j in lines:
                line = order.lines[j]
                weight += line.quantity * problem.skus[line.sku].weight_kg
                volume += line.quantity * problem.skus[line.sku].volume_cm3
            units = sum(order.lines[j].quantity for j in lines)
            quotes = []
            for s, service in enumerate(problem.services):
                q = quote(problem, order, problem.fcs[f], service, weight, volume)
                if q is not None:
                    quotes.append((q.cost, (f, s, tuple(lines), units)))
            options.append(quotes)
        unfilled = n - sum(len(x) for x in by_fc.values())
        for combo in itertools.product(*options):
            yield (
                sum(c for c, _ in combo) + unfilled * penalty,
                tuple(p for _, p in combo),
            )


def brute_force(problem: AllocationProblem) -> int:
    """The optimal objective, by trying every combination of every order's shipments."""
    per_order = [sorted(_choices(problem, o)) for o in range(len(problem.orders))]
    cheapest_rest = [0] * (len(per_order) + 1)
    for o in range(len(per_order) - 1, -1, -1):
        cheapest_rest[o] = cheapest_rest[o + 1] + per_order[o][0][0]
    stock = {(fc, sku): q for fc, units in problem.stock.items() for sku, q in units.items()}
    fcs = problem.fcs
    packages = [0] * len(fcs)
    units_used = [0] * len(fcs)
    service_used: dict[tuple[int, str], int] = {}
    best = [sum(x[-1][0] for x in per_order) + 1]

    def fits(f: int, s: int, lines: tuple[int, ...], units: int, o: int) -> bool:
        fc = fcs[f]
        if fc.capacity_packages and packages[f] + 1 > fc.capacity_packages:
            return False
        if fc.capacity_units and units_used[f] + units > fc.capacity_units:
            return False
        sid = problem.services[s].id
        cap = fc.service_capacity.get(sid, 0)
        if cap and service_used.get((f, sid), 0) + 1 > cap:
            return False
        order = problem.orders[o]
        return all(
            stock.get((fc.id, order.lines[j].sku), 0) >= order.lines[j].quantity for j in lines
        )

    def apply(o: int, choice: Choice, sign: int) -> None:
        order = problem.orders[o]
        for f, s, lines, units in choice:
            packages[f] += sign
            units_used[f] += sign * units
            key = (f, problem.services[s].id)
            service_used[key] = service_used.get(key, 0) + sign
            for j in lines:
                k = (fcs[f].id, order.lines[j].sku)
                stock[k] = stock.get(k, 0) - sign * order.lines[j].quantity

    def search(o: int, spent: int) -> None:
        if spent + cheapest_rest[o] >= best[0]:
            return
        if o == len(per_order):
            best[0] = spent
            return
        for cost, choice in per_order[o]:
            if spent + cost + cheapest_rest[o + 1] >= best[0]:
                break
            apply(o, choice, 1)
            if all(u >= 0 for u in stock.values()) and _within(
                problem, packages, units_used, service_used
            ):
                search(o + 1, spent + cost)
            apply(o, choice, -1)

    search(0, 0)
    return best[0]


def _within(
    problem: AllocationProblem,
    packages: list[int],
    units: list[int],
    service_used: dict[tuple[int, str], int],
) -> bool:
    for f, fc in enumerate(problem.fcs):
        if fc.capacity_packages and packages[f] > fc.capacity_packages:
            return False
        if fc.capacity_units and units[f] > fc.capacity_units:
            return False
        for (g, sid), used in service_used.items():
            cap = fc.service_capacity.get(sid, 0)
            if g == f and cap and used > cap:
                return False
    return True


def violations(problem: AllocationProblem, shipments: tuple[Shipment, ...]) -> list[str]:
    """Every limit the shipments break: stock, FC capacity, service capacity, promises, policy."""
    found: list[str] = []
    fcs = {fc.id: fc for fc in problem.fcs}
    orders = {o.id: o for o in problem.orders}
    used: dict[tuple[str, str], int] = {}
    packages: dict[str, int] = {}
    units: dict[str, int] = {}
    by_service: dict[tuple[str, str], int] = {}
    per_order: dict[str, list[Shipment]] = {}
    for s in shipments:
        packages[s.fc] = packages.get(s.fc, 0) + 1
        by_service[s.fc, s.service] = by_service.get((s.fc, s.service), 0) + 1
        per_order.setdefault(s.order_id, []).append(s)
        for line in s.lines:
            used[s.fc, line.sku] = used.get((s.fc, line.sku), 0) + line.quantity
            units[s.fc] = units.get(s.fc, 0) + line.quantity
        order = orders[s.order_id]
        if order.promise_days is not None and s.delivery_day > order.promise_days:
            found.append(
                f"{s.order_id}: delivered on day {s.delivery_day},"
                f" promised by day {order.promise_days}"
            )
        if order.locked_fc and s.fc != order.locked_fc:
            found.append(f"{s.order_id}: locked to {order.locked_fc}, shipped from {s.fc}")
    for (site, sku), qty in used.items():
        held = problem.stock.get(site, {}).get(sku, 0)
        if qty > held:
            found.append(f"{site} ships {qty} of {sku}, holds {held}")
    for fc_id, fc in fcs.items():
        if fc.capacity_packages and packages.get(fc_id, 0) > fc.capacity_packages:
            found.append(f"{fc_id}: {packages[fc_id]} packages > {fc.capacity_packages}")
        if fc.capacity_units and units.get(fc_id, 0) > fc.capacity_units:
            found.append(f"{fc_id}: {units[fc_id]} units > {fc.capacity_units}")
        for sid, cap in fc.service_capacity.items():
            if cap and by_service.get((fc_id, sid), 0) > cap:
                found.append(f"{fc_id}/{sid}: {by_service[fc_id, sid]} packages > {cap}")
    limit = problem.policy.packages_limit
    for order_id, sent in per_order.items():
        if len({s.fc for s in sent}) != len(sent):
            found.append(f"{order_id}: two packages from one FC")
        if limit and len(sent) > limit:
            found.append(f"{order_id}: {len(sent)} packages, limit {limit}")
        lines = [(x.sku, x.quantity) for s in sent for x in s.lines]
        asked = {(x.sku, x.quantity) for x in orders[order_id].lines}
        if len(lines) != len(set(lines)) or not set(lines) <= asked:
            found.append(f"{order_id}: lines shipped twice or not asked for")
    return found


#: The plan time of :func:`assorted` problems: 13:00, past FC1's noon cutoff.
ASSORTED_NOW_S = 13 * 3600.0


def regional() -> CarrierService:
    """A regional overnight service priced by the kilogram: zones 2-4 only (by chart or by
    distance), up to 4 kg in half-kilogram steps, at FC0 and FC2 only, with a weight surcharge,
    a residential surcharge and a fuel percentage that makes rounding matter."""
    prices = tuple(tuple(700 + 90 * w + 160 * z for z in range(3)) for w in range(8))
    charts = (
        ZoneRange("100", "199", 2),
        ZoneRange("150", "249", 3),  # overlaps the row above, which wins
        ZoneRange("250", "349", 4),
        ZoneRange("350", "449", 6),  # a zone the card does not price
    )
    return CarrierService(
        "REGIONAL",
        RateCard((2, 3, 4), prices, "kg", 0.5, 5000.0),
        (1, 1, 2),
        carrier="LOCAL",
        level=2,
        fuel_pct=7.5,
        surcharges=(
            Surcharge("heavy", 250, min_billable_weight=2.0),
            Surcharge("residential", 180, residential_only=True),
        ),
        zone_charts={"FC2": charts},
        distance_bands=DistanceBands((400, 900, 1500)),
        fcs=("FC0", "FC2"),
    )


def assorted(
    seed: int,
    *,
    orders: int = 4,
    max_lines: int = 3,
    capacity: int = 0,
    units: int = 0,
    service_capacity: int = 0,
    policy: Policy | None = None,
    single_item: bool = False,
) -> AllocationProblem:
    """A :func:`tiny` problem that exercises every pricing rule: FC1 is past its cutoff, FC2
    has a ZIP3 but no coordinates (zone charts only), a kilogram card with a zone chart, a
    service only some FCs offer, zones and weights off the card, business addresses, service
    levels 0-2, promises of 1-3 days and orders locked to an FC. ``units`` limits the units
    each FC ships."""
    base = tiny(
        seed,
        orders=orders,
        fcs=3,
        max_lines=max_lines,
        capacity=capacity,
        service_capacity=service_capacity,
        policy=policy,
        single_item=single_item,
    )
    rng = random.Random(10_007 * seed + 1)
    fcs = [dataclasses.replace(fc, capacity_units=units) for fc in base.fcs]
    fcs[1] = dataclasses.replace(fcs[1], cutoff_s=12 * 3600.0)
    fcs[2] = dataclasses.replace(fcs[2], location=Location("171"))
    fc2_chart = (ZoneRange("000", "299", 3), ZoneRange("300", "599", 5), ZoneRange("600", "899", 7))
    charted = [dataclasses.replace(s, zone_charts={"FC2": fc2_chart}) for s in base.services]
    services = (*charted, regional())
    made = []
    for order in base.orders:
        to = order.destination
        zip5 = f"{rng.randint(100, 999)}{rng.randint(0, 99):02d}"
        coordinates = rng.random() < 0.6
        made.append(
            dataclasses.replace(
                order,
                destination=Location(
                    zip5,
                    to.latitude if coordinates else None,
                    to.longitude if coordinates else None,
                ),
                promise_days=rng.choice([None, None, None, 1, 2, 3]),
                service_level=rng.choice([0, 0, 0, 0, 1, 2]),
                locked_fc=rng.choice(["", "", "", "", "", "FC0", "FC2"]),
                residential=rng.random() < 0.7,
            )
        )
    return dataclasses.replace(
        base, orders=tuple(made), fcs=tuple(fcs), services=services, now_s=ASSORTED_NOW_S
    )


def package_quote(problem: AllocationProblem, shipment: Shipment) -> Quote | None:
    """What :func:`allocation.rates.quote` says a shipment costs, its weight and volume rebuilt
    from its lines (summed in line order, as the solver does)."""
    order = next(o for o in problem.orders if o.id == shipment.order_id)
    fc = next(f for f in problem.fcs if f.id == shipment.fc)
    service = next(s for s in problem.services if s.id == shipment.service)
    weight = volume = 0.0
    for line in shipment.lines:
        weight += line.quantity * problem.skus[line.sku].weight_kg
        volume += line.quantity * problem.skus[line.sku].volume_cm3
    return quote(problem, order, fc, service, weight, volume)


def own_cheapest(problem: AllocationProblem, o: int) -> int:
    """The cheapest way to ship order ``o`` alone (penalties included): every package from an
    FC that holds all its lines, capacities ignored; by exhaustive enumeration."""
    order = problem.orders[o]
    held = problem.stock

    def stocked(choice: Choice) -> bool:
        return all(
            held.get(problem.fcs[f].id, {}).get(order.lines[j].sku, 0) >= order.lines[j].quantity
            for f, _, lines, _ in choice
            for j in lines
        )

    return min(cost for cost, choice in _choices(problem, o) if stocked(choice))
