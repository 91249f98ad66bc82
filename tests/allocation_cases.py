"""Small allocation problems and an exhaustive solver to check the real one against."""

from __future__ import annotations

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
)
from allocation.rates import quote

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
