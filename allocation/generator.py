"""Realistic, seeded US allocation problems for tests and benchmarks.

:func:`generate` draws one day's orders over a network of the first ``n_fcs`` of :data:`HUBS`
(well-known US fulfillment locations) shipping with three national-carrier-style services:

* ``GROUND`` (level 0, 1-5 days by zone), ``TWO_DAY`` (level 1) and ``OVERNIGHT`` (level 2),
  priced by the pound (1-150 lb, zones 2-8) from anchor prices near published 2025 list rates,
  with a 139 in³/lb dimensional divisor, fuel surcharges of 18 % (ground) and 20 % (express), a
  residential surcharge and an additional-handling charge above 50 lb.
* Zones by distance bands (0-150, 150-300, 300-600, 600-1000, 1000-1400, 1400-1800 and over 1800
  miles for zones 2-8) and, equivalently, a zone chart per FC listing every ZIP3 of
  :mod:`allocation.geography`, so destinations resolve by ZIP3 or by coordinates alike.
* Destinations drawn by population over the ZIP3s; 1-6 lines per order (mostly 1-2) of SKUs
  drawn by a long-tailed popularity; about 80 % of orders without a promise, about 10 % asking
  for two-day service, a few for overnight.
* Tight on purpose: the FCs that are the cheapest origin for the most orders get less package
  and unit capacity than those orders need (the others more), some express capacity per FC,
  a fraction of SKUs is stocked below demand, and many slow movers sit at 1-3 FCs only.

The same seed gives the same problem. Prices and geography are approximations for realistic
data, not any carrier's tariff.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from allocation.geography import zip3_location, zip3_weights
from allocation.model import (
    CM3_PER_IN3,
    LB_PER_KG,
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
from allocation.rates import distance_km

#: Kilometres per statute mile.
KM_PER_MILE = 1.609344
#: Upper mile limits of zones 2-7; zone 8 is everything farther (up to half the globe).
ZONE_MILES = (150.0, 300.0, 600.0, 1000.0, 1400.0, 1800.0, 12_500.0)
#: Zones of every rate card.
ZONES = (2, 3, 4, 5, 6, 7, 8)
#: Heaviest billable weight priced, in pounds.
MAX_LB = 150
#: Cubic inches per pound of dimensional weight.
DIM_DIVISOR = 139.0
#: Weights (lb) of the anchor prices below; prices between them are interpolated.
ANCHOR_LB = (1.0, 10.0, 50.0, 150.0)
#: Anchor base prices in cents, by anchor weight (rows) and zone 2-8 (columns).
GROUND_ANCHORS = (
    (1050, 1085, 1130, 1175, 1235, 1290, 1350),
    (1500, 1720, 1950, 2200, 2480, 2750, 3000),
    (3500, 4250, 5200, 6200, 7250, 8400, 9500),
    (9000, 11000, 13500, 16000, 18500, 21500, 24500),
)
TWO_DAY_ANCHORS = (
    (2450, 2650, 2850, 3150, 3400, 3650, 3900),
    (4100, 5000, 6300, 7600, 8800, 9900, 11000),
    (11500, 14500, 18500, 22500, 26500, 30000, 33500),
    (32000, 40000, 51000, 62000, 73000, 83000, 93000),
)
OVERNIGHT_ANCHORS = (
    (4100, 4700, 5600, 6300, 6900, 7600, 8300),
    (7000, 8800, 11000, 13000, 15000, 16800, 18500),
    (19500, 25500, 32500, 39000, 45000, 50500, 56000),
    (52000, 68000, 88000, 106000, 122000, 137000, 152000),
)
#: Number of lines of a multi-line order: 1..6 with these probabilities.
LINES_P = (0.42, 0.26, 0.14, 0.09, 0.05, 0.04)
#: Units of a line: 1..4 with these probabilities (heavy SKUs always 1).
QUANTITY_P = (0.80, 0.13, 0.05, 0.02)
#: Most billable pounds of one line of several units.
MAX_LINE_LB = 60.0
#: Promise days of orders that carry a promise.
PROMISE_DAYS = (2, 3, 4, 5)
PROMISE_P = (0.2, 0.3, 0.3, 0.2)


@dataclass(frozen=True)
class Hub:
    """A fulfillment location: where it is, its handling cost per package (cents) and its last
    carrier pickup (seconds after midnight, US Eastern, the plan's clock)."""

    id: str
    name: str
    postal_code: str
    latitude: float
    longitude: float
    handling_cost: int
    cutoff_s: float


def _hm(hours: int, minutes: int = 0) -> float:
    return float(hours * 3600 + minutes * 60)


#: FC locations in the order :func:`generate` takes them. Columbus's pickup (12:30) is before
#: the default plan time, so with eight or more FCs one ships a day later.
HUBS: tuple[Hub, ...] = (
    Hub("ABE1", "Allentown PA", "18106", 40.56, -75.60, 210, _hm(17)),
    Hub("ATL1", "Atlanta GA", "30291", 33.57, -84.54, 165, _hm(17, 30)),
    Hub("DFW1", "Dallas TX", "75019", 32.96, -96.99, 145, _hm(19)),
    Hub("JOL1", "Joliet IL", "60436", 41.49, -88.13, 190, _hm(18)),
    Hub("RIV1", "Riverside CA", "92551", 33.89, -117.23, 260, _hm(21)),
    Hub("RNO1", "Reno NV", "89434", 39.55, -119.72, 180, _hm(20, 30)),
    Hub("MEM1", "Memphis TN", "38118", 35.05, -89.93, 130, _hm(22)),
    Hub("CMH1", "Columbus OH", "43125", 39.86, -82.88, 150, _hm(12, 30)),
    Hub("SEA1", "Kent WA", "98032", 47.39, -122.24, 280, _hm(20)),
    Hub("DEN1", "Denver CO", "80249", 39.78, -104.78, 200, _hm(19, 30)),
)


def zone_bands() -> DistanceBands:
    """Zones 2-8 by great-circle distance, from :data:`ZONE_MILES`."""
    return DistanceBands(tuple(m * KM_PER_MILE for m in ZONE_MILES), first_zone=ZONES[0])


def rate_card(anchors: Sequence[Sequence[int]]) -> RateCard:
    """A 1-150 lb card by the pound, prices interpolated linearly between anchor weights."""
    weights = np.arange(1, MAX_LB + 1, dtype=np.float64)
    table = np.asarray(anchors, dtype=np.float64)
    columns = [np.rint(np.interp(weights, ANCHOR_LB, table[:, j])) for j in range(len(ZONES))]
    prices = np.stack(columns, axis=1).astype(np.int64)
    return RateCard(
        zones=ZONES,
        prices=tuple(tuple(int(p) for p in row) for row in prices),
        weight_unit="lb",
        weight_step=1.0,
        dim_divisor=DIM_DIVISOR,
    )


def zone_charts(
    fcs: Sequence[FulfillmentCenter], bands: DistanceBands
) -> dict[str, tuple[ZoneRange, ...]]:
    """Per FC, every ZIP3 of the geography in the zone its distance band gives, runs of equal
    zone merged into one range."""
    zips, _ = zip3_weights()
    charts: dict[str, tuple[ZoneRange, ...]] = {}
    for fc in fcs:
        rows: list[ZoneRange] = []
        for zip3 in zips:
            z = bands.zone(distance_km(fc.location, zip3_location(zip3)))
            if z is None:
                continue
            if rows and rows[-1].zone == z:
                rows[-1] = ZoneRange(rows[-1].first, zip3, z)
            else:
                rows.append(ZoneRange(zip3, zip3, z))
        charts[fc.id] = tuple(rows)
    return charts


def carrier_services(
    fcs: Sequence[FulfillmentCenter], *, overnight: bool = True
) -> tuple[CarrierService, ...]:
    """Ground, two-day and (optionally) overnight service from every FC, with zone charts for
    ``fcs`` and the equivalent distance bands."""
    bands = zone_bands()
    charts = zone_charts(fcs, bands)
    heavy = 51.0
    ground = CarrierService(
        id="GROUND",
        carrier="NATIONAL",
        rate_card=rate_card(GROUND_ANCHORS),
        transit_days=(1, 2, 3, 4, 4, 5, 5),
        level=0,
        fuel_pct=18.0,
        surcharges=(
            Surcharge("residential", 595, residential_only=True),
            Surcharge("additional_handling_weight", 4250, min_billable_weight=heavy),
        ),
        zone_charts=charts,
        distance_bands=bands,
    )
    express = (
        Surcharge("residential", 630, residential_only=True),
        Surcharge("additional_handling_weight", 4600, min_billable_weight=heavy),
    )
    two_day = CarrierService(
        id="TWO_DAY",
        carrier="NATIONAL",
        rate_card=rate_card(TWO_DAY_ANCHORS),
        transit_days=(2,) * len(ZONES),
        level=1,
        fuel_pct=20.0,
        surcharges=express,
        zone_charts=charts,
        distance_bands=bands,
    )
    services = [ground, two_day]
    if overnight:
        services.append(
            CarrierService(
                id="OVERNIGHT",
                carrier="NATIONAL",
                rate_card=rate_card(OVERNIGHT_ANCHORS),
                transit_days=(1,) * len(ZONES),
                level=2,
                fuel_pct=20.0,
                surcharges=express,
                zone_charts=charts,
                distance_bands=bands,
            )
        )
    return tuple(services)


def hub_fcs(n_fcs: int) -> tuple[FulfillmentCenter, ...]:
    """The first ``n_fcs`` hubs as FCs without capacity limits."""
    if not 1 <= n_fcs <= len(HUBS):
        raise ValueError(f"n_fcs must be 1..{len(HUBS)}, got {n_fcs}")
    return tuple(
        FulfillmentCenter(
            id=h.id,
            location=Location(h.postal_code, h.latitude, h.longitude),
            cutoff_s=h.cutoff_s,
            handling_cost=h.handling_cost,
        )
        for h in HUBS[:n_fcs]
    )


def demo_network(
    n_fcs: int = 5, *, overnight: bool = True
) -> tuple[tuple[FulfillmentCenter, ...], tuple[CarrierService, ...]]:
    """FCs (no capacity limits) and carrier services of a network of the first ``n_fcs`` hubs."""
    fcs = hub_fcs(n_fcs)
    return fcs, carrier_services(fcs, overnight=overnight)


def generate_skus(rng: np.random.Generator, n_skus: int) -> tuple[Sku, ...]:
    """SKUs of 0.1-20 kg (log-normal around 0.8 kg, 3 % heavy and bulky) whose box densities
    straddle the dimensional-weight break-even, so about a third bill by volume."""
    weight = np.clip(rng.lognormal(math.log(0.8), 1.0, n_skus), 0.1, 20.0)
    density = np.clip(rng.lognormal(math.log(0.25), 0.5, n_skus), 0.03, 1.5)
    bulky = rng.random(n_skus) < 0.03
    weight[bulky] = rng.uniform(8.0, 20.0, int(bulky.sum()))
    density[bulky] = rng.uniform(0.08, 0.15, int(bulky.sum()))
    volume = weight * 1000.0 / density
    a = rng.uniform(0.4, 1.0, n_skus)
    b = rng.uniform(0.15, 1.0, n_skus) * a
    length = np.cbrt(volume / (a * b))
    return tuple(
        Sku(
            f"SKU{k:05d}",
            round(float(weight[k]), 3),
            round(float(length[k]), 1),
            round(float(length[k] * a[k]), 1),
            round(float(length[k] * b[k]), 1),
        )
        for k in range(n_skus)
    )


def generate(
    n_orders: int = 2000,
    *,
    n_fcs: int = 5,
    n_skus: int = 2000,
    single_item: bool = False,
    seed: int = 0,
    stock_ratio: float = 1.3,
    scarce_fraction: float = 0.08,
    capacity_slack: float = 1.15,
    capacity_tightness: float = 0.8,
    express_share: float = 0.15,
    locked_fraction: float = 0.005,
    overnight: bool = True,
    service_capacity: bool = True,
    now_s: float = _hm(13),
    policy: Policy | None = None,
) -> AllocationProblem:
    """One day's orders over the first ``n_fcs`` hubs, the same for the same arguments.

    ``single_item``: every order one line of one unit. ``stock_ratio``: each SKU's stock over
    its demand (times log-normal noise, plus 1-3 units of safety stock per holding FC);
    ``scarce_fraction`` of SKUs hold only 30-90 % of their demand, so their stock runs out.
    Capacity follows each FC's *natural demand*, the orders for which it is the cheapest ground
    origin: the busiest third of the FCs get ``capacity_tightness`` times their natural demand,
    the others share the rest of ``capacity_slack`` times the order count (units alike, with
    5 % more room). ``express_share``: each FC's two-day capacity as a share of its packages
    (overnight a third of it). ``locked_fraction``: orders already released to the nearest FC
    that holds all their SKUs. ``policy`` defaults to splits into at most 3 packages and a
    $1,000 penalty per unfilled line.
    """
    if n_orders < 1 or n_skus < 1:
        raise ValueError("n_orders and n_skus must be at least 1")
    rng = np.random.default_rng(seed)
    fcs = hub_fcs(n_fcs)
    services = carrier_services(fcs, overnight=overnight)
    skus = generate_skus(rng, n_skus)
    weights = np.array([s.weight_kg for s in skus])
    unit_lb = np.maximum(
        weights * LB_PER_KG, np.array([s.volume_cm3 for s in skus]) / CM3_PER_IN3 / DIM_DIVISOR
    )

    zips, shares = zip3_weights()
    zip_locations = [zip3_location(z) for z in zips]
    distances = np.array([[distance_km(fc.location, loc) for fc in fcs] for loc in zip_locations])

    dest = rng.choice(len(zips), size=n_orders, p=np.asarray(shares))
    plus2 = rng.integers(0, 100, n_orders)
    if single_item:
        n_lines = np.ones(n_orders, dtype=np.int64)
    else:
        n_lines = rng.choice(len(LINES_P), size=n_orders, p=LINES_P) + 1
    popularity = 1.0 / np.arange(1, n_skus + 1) ** 0.9
    popularity /= popularity.sum()
    order_of_sku = rng.permutation(n_skus)
    total_lines = int(n_lines.sum())
    line_sku = order_of_sku[rng.choice(n_skus, size=total_lines, p=popularity)]
    if single_item:
        line_qty = np.ones(total_lines, dtype=np.int64)
    else:
        line_qty = rng.choice(len(QUANTITY_P), size=total_lines, p=QUANTITY_P) + 1
        line_qty[weights[line_sku] > 10.0] = 1
        most = np.maximum(1, (MAX_LINE_LB // unit_lb[line_sku]).astype(np.int64))
        line_qty = np.minimum(line_qty, most)
    kind = rng.random(n_orders)
    promise = rng.choice(PROMISE_DAYS, size=n_orders, p=PROMISE_P)
    residential = rng.random(n_orders) < 0.85
    priority = (rng.random(n_orders) < 0.05).astype(np.int64)
    locked = rng.random(n_orders) < locked_fraction

    starts = np.concatenate(([0], np.cumsum(n_lines)))
    order_lines: list[list[tuple[int, int]]] = []
    kept: list[int] = []
    for i in range(n_orders):
        seen: set[int] = set()
        picked: list[tuple[int, int]] = []
        for j in range(int(starts[i]), int(starts[i + 1])):
            k = int(line_sku[j])
            if k not in seen:
                seen.add(k)
                picked.append((k, int(line_qty[j])))
                kept.append(j)
        order_lines.append(picked)
    keep = np.asarray(kept, dtype=np.int64)
    line_order = np.repeat(np.arange(n_orders), n_lines)[keep]
    line_sku, line_qty = line_sku[keep], line_qty[keep]

    demand = np.bincount(line_sku, weights=line_qty, minlength=n_skus).astype(np.int64)
    order_units = np.bincount(line_order, weights=line_qty, minlength=n_orders)
    order_lb = np.bincount(line_order, weights=unit_lb[line_sku] * line_qty, minlength=n_orders)
    cheapest_fc = _cheapest_fc(fcs, services[0], distances[dest], order_lb)
    natural = np.bincount(cheapest_fc, minlength=n_fcs).astype(np.float64)
    natural_units = np.bincount(cheapest_fc, weights=order_units, minlength=n_fcs)
    factor = _capacity_factors(natural, capacity_slack, capacity_tightness)
    size_share = (natural + 1.0) / (natural.sum() + n_fcs)
    holders = _stock_holders(rng, n_skus, n_fcs, demand, size_share)
    stock = _stock(rng, demand, holders, size_share, stock_ratio, scarce_fraction)

    floor = 0.02 * n_orders
    capped: list[FulfillmentCenter] = []
    for f, fc in enumerate(fcs):
        cap = max(1, math.ceil(max(floor, factor[f] * natural[f])))
        units = max(1, math.ceil(max(floor, 1.05 * factor[f] * natural_units[f])))
        express: dict[str, int] = {}
        if service_capacity:
            express["TWO_DAY"] = max(1, math.ceil(express_share * cap))
            if overnight:
                express["OVERNIGHT"] = max(1, math.ceil(express_share * cap / 3))
        capped.append(
            replace(
                fc,
                capacity_packages=cap,
                capacity_units=units,
                service_capacity=express,
            )
        )

    sku_ids = [s.id for s in skus]
    fc_ids = [fc.id for fc in fcs]
    orders: list[Order] = []
    for i in range(n_orders):
        zip3 = zips[int(dest[i])]
        at = zip_locations[int(dest[i])]
        lines = order_lines[i]
        u = float(kind[i])
        level = 2 if (overnight and u < 0.01) else 1 if u < 0.10 else 0
        promise_days = int(promise[i]) if 0.10 <= u < 0.22 else None
        locked_fc = ""
        if locked[i]:
            by_distance = np.argsort(distances[int(dest[i])], kind="stable")
            for f in by_distance:
                if all(stock[int(f)].get(k, 0) > 0 for k, _ in lines):
                    locked_fc = fc_ids[int(f)]
                    break
        orders.append(
            Order(
                id=f"O{i:06d}",
                destination=Location(f"{zip3}{int(plus2[i]):02d}", at.latitude, at.longitude),
                lines=tuple(OrderLine(sku_ids[k], q) for k, q in lines),
                promise_days=promise_days,
                service_level=level,
                priority=int(priority[i]),
                locked_fc=locked_fc,
                residential=bool(residential[i]),
            )
        )
    return AllocationProblem(
        orders=tuple(orders),
        skus={s.id: s for s in skus},
        fcs=tuple(capped),
        services=services,
        stock={fc_ids[f]: {sku_ids[k]: q for k, q in stock[f].items()} for f in range(n_fcs)},
        policy=policy if policy is not None else Policy(max_packages_per_order=3),
        currency="USD",
        now_s=now_s,
    )


def _cheapest_fc(
    fcs: Sequence[FulfillmentCenter],
    ground: CarrierService,
    distances: np.ndarray,
    order_lb: np.ndarray,
) -> np.ndarray:
    """Per order, the FC whose ground price of the whole order plus handling is least (zones
    from the distance bands, stock ignored)."""
    assert ground.distance_bands is not None
    card = ground.rate_card
    prices = np.asarray(card.prices, dtype=np.float64)
    column = np.searchsorted(np.asarray(ground.distance_bands.upper_km), distances)
    column = np.minimum(column, len(card.zones) - 1)
    row = np.clip(np.ceil(order_lb - 1e-9).astype(np.int64) - 1, 0, len(prices) - 1)
    handling = np.array([fc.handling_cost for fc in fcs], dtype=np.float64)
    cost = prices[row[:, None], column] + handling[None, :]
    return np.asarray(cost.argmin(axis=1), dtype=np.int64)


def _capacity_factors(natural: np.ndarray, slack: float, tightness: float) -> np.ndarray:
    """Capacity over natural demand per FC: ``tightness`` for the busiest third, one common
    factor for the rest so that all capacity adds up to ``slack`` times total demand."""
    n = len(natural)
    total = float(natural.sum())
    factor = np.full(n, slack)
    if n < 2 or total == 0:
        return factor
    busiest = np.argsort(-natural, kind="stable")[: max(1, round(n / 3))]
    rest = np.ones(n, dtype=bool)
    rest[busiest] = False
    rest_demand = float(natural[rest].sum())
    factor[busiest] = tightness
    if rest_demand > 0:
        factor[rest] = (slack * total - tightness * natural[busiest].sum()) / rest_demand
    return factor


def _stock_holders(
    rng: np.random.Generator,
    n_skus: int,
    n_fcs: int,
    demand: np.ndarray,
    size_share: np.ndarray,
) -> list[np.ndarray]:
    """Which FCs stock each SKU: the fastest 15 % everywhere, half the rest at 1-3 FCs, the
    others at half or more of the FCs; larger FCs are likelier holders."""
    rank = np.empty(n_skus, dtype=np.int64)
    rank[np.argsort(-demand, kind="stable")] = np.arange(n_skus)
    narrow = rng.random(n_skus) < 0.5
    p = size_share / size_share.sum()
    holders: list[np.ndarray] = []
    for k in range(n_skus):
        if rank[k] < 0.15 * n_skus:
            count = n_fcs
        elif narrow[k]:
            count = int(rng.integers(1, min(3, n_fcs) + 1))
        else:
            count = int(rng.integers((n_fcs + 1) // 2, n_fcs + 1))
        holders.append(np.sort(rng.choice(n_fcs, size=count, replace=False, p=p)))
    return holders


def _stock(
    rng: np.random.Generator,
    demand: np.ndarray,
    holders: Sequence[np.ndarray],
    size_share: np.ndarray,
    stock_ratio: float,
    scarce_fraction: float,
) -> list[dict[int, int]]:
    """Units per FC and SKU, split over the holders by FC size: demand times the ratio and
    log-normal noise plus 1-3 units of safety stock per holder, or for scarce SKUs 30-90 % of
    demand and no more."""
    n_skus = len(demand)
    noise = rng.lognormal(0.0, 0.3, n_skus)
    safety = rng.integers(1, 4, n_skus) * np.array([len(h) for h in holders])
    plenty = np.ceil(demand * stock_ratio * noise).astype(np.int64) + safety
    short = np.rint(demand * rng.uniform(0.3, 0.9, n_skus)).astype(np.int64)
    total = np.where(rng.random(n_skus) < scarce_fraction, short, plenty)
    stock: list[dict[int, int]] = [{} for _ in range(len(size_share))]
    for k in range(n_skus):
        at = holders[k]
        share = size_share[at] / size_share[at].sum()
        for f, q in zip(at, rng.multinomial(int(total[k]), share), strict=True):
            if q > 0:
                stock[int(f)][k] = int(q)
    return stock


def order_weight(problem: AllocationProblem, order: Order) -> tuple[float, float]:
    """Total weight (kg) and volume (cm³) of every unit of an order."""
    skus: Mapping[str, Sku] = problem.skus
    weight = sum(skus[x.sku].weight_kg * x.quantity for x in order.lines)
    volume = sum(skus[x.sku].volume_cm3 * x.quantity for x in order.lines)
    return weight, volume
