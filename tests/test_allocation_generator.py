"""The seeded US instance generator and its built-in ZIP3 geography.

Reference values (anchor prices, the cost of one package) are written out here from the
documented rules, not read back from the generator.
"""

from __future__ import annotations

from collections import Counter

import pytest

from allocation.generator import HUBS, generate, order_weight
from allocation.geography import REGIONS, zip3_location, zip3_weights
from allocation.model import AllocationProblem, Location, Order, validate
from allocation.rates import cheapest, distance_km, quote, zone


@pytest.fixture(scope="module")
def problem() -> AllocationProblem:
    return generate(1500, seed=7)


def test_same_seed_same_problem() -> None:
    """The same arguments give an equal problem; another seed a different one."""
    a = generate(300, seed=11)
    assert a == generate(300, seed=11)
    assert a != generate(300, seed=12)


@pytest.mark.parametrize(
    ("n_fcs", "single_item", "overnight"),
    [(3, False, True), (5, True, True), (10, False, False)],
)
def test_generated_problems_validate(n_fcs: int, single_item: bool, overnight: bool) -> None:
    """Problems of every shape pass validation and have the asked sizes."""
    p = generate(400, n_fcs=n_fcs, n_skus=500, single_item=single_item, overnight=overnight)
    validate(p)
    assert len(p.orders) == 400
    assert [fc.id for fc in p.fcs] == [h.id for h in HUBS[:n_fcs]]
    assert len(p.skus) == 500
    services = ["GROUND", "TWO_DAY", "OVERNIGHT"] if overnight else ["GROUND", "TWO_DAY"]
    assert [s.id for s in p.services] == services
    assert p.currency == "USD"


def test_chart_zones_match_distance_bands(problem: AllocationProblem) -> None:
    """Every destination gets the same zone from the ZIP3 chart as from coordinates."""
    checked = 0
    for order in problem.orders[:300]:
        to = order.destination
        by_zip = Location(postal_code=to.postal_code)
        by_place = Location(latitude=to.latitude, longitude=to.longitude)
        for service in problem.services:
            for fc in problem.fcs:
                from_chart = zone(service, fc, by_zip)
                assert from_chart is not None
                assert from_chart == zone(service, fc, by_place)
                checked += 1
    assert checked == 300 * len(problem.services) * len(problem.fcs)


def test_zones_follow_mileage(problem: AllocationProblem) -> None:
    """Zone 2 within 150 miles of the FC and zone 8 beyond 1,800 miles."""
    ground = problem.services[0]
    allentown = problem.fcs[0]
    for zip3 in ("180", "191", "980", "967"):
        miles = distance_km(allentown.location, zip3_location(zip3)) / 1.609344
        z = zone(ground, allentown, Location(postal_code=zip3 + "01"))
        assert (z == 2) == (miles <= 150)
        assert (z == 8) == (miles > 1800)


def test_single_item_orders_are_one_unit() -> None:
    """``single_item`` makes every order one line of one unit."""
    p = generate(500, single_item=True, seed=3)
    assert Counter((len(o.lines), o.lines[0].quantity) for o in p.orders) == {(1, 1): 500}


def test_multi_line_mix(problem: AllocationProblem) -> None:
    """Orders have 1-6 distinct SKUs, mostly one or two, with the documented promise mix."""
    sizes = Counter(len(o.lines) for o in problem.orders)
    assert set(sizes) <= set(range(1, 7))
    assert (sizes[1] + sizes[2]) / len(problem.orders) > 0.55
    assert sizes[4] + sizes[5] + sizes[6] > 0
    assert all(len({x.sku for x in o.lines}) == len(o.lines) for o in problem.orders)
    n = len(problem.orders)
    no_promise = sum(o.promise_days is None for o in problem.orders) / n
    assert 0.7 < no_promise < 0.95
    assert 0.05 < sum(o.service_level == 1 for o in problem.orders) / n < 0.15
    promised = {o.promise_days for o in problem.orders if o.promise_days is not None}
    assert promised == {2, 3, 4, 5}
    assert sum(o.residential for o in problem.orders) / n > 0.7


def test_most_orders_can_be_quoted(problem: AllocationProblem) -> None:
    """Nearly every order, whole, has some FC and service that can carry it."""
    served = 0
    for order in problem.orders:
        weight, volume = order_weight(problem, order)
        if any(cheapest(problem, order, fc, weight, volume) for fc in problem.fcs):
            served += 1
    assert served / len(problem.orders) > 0.98


def test_rate_card_anchors(problem: AllocationProblem) -> None:
    """Base prices sit near the 2025 list anchors, and express costs several times ground."""
    ground, two_day, overnight = (s.rate_card for s in problem.services)
    zone2, zone8 = ground.zones.index(2), ground.zones.index(8)
    assert ground.weight_unit == "lb" and ground.weight_step == 1.0
    assert ground.dim_divisor == 139.0 and len(ground.prices) == 150
    assert 1000 <= ground.prices[0][zone2] <= 1100
    assert 1300 <= ground.prices[0][zone8] <= 1400
    assert 1400 <= ground.prices[9][zone2] <= 1600
    assert 2800 <= ground.prices[9][zone8] <= 3200
    assert 3300 <= ground.prices[49][zone2] <= 3700
    assert 9000 <= ground.prices[49][zone8] <= 10000
    assert two_day.prices[0][zone2] >= 2 * ground.prices[0][zone2]
    assert overnight.prices[0][zone8] > two_day.prices[0][zone8]
    for card in (ground, two_day, overnight):
        for row, heavier in zip(card.prices, card.prices[1:], strict=False):
            assert all(a <= b for a, b in zip(row, heavier, strict=True))
            assert list(row) == sorted(row)


def test_one_package_costs_the_documented_amount(problem: AllocationProblem) -> None:
    """A 1 lb residential ground package to Philadelphia from Allentown: zone 2, $10.50
    plus $5.95 residential, 18 % fuel, plus Allentown's $2.10 handling."""
    order = next(o for o in problem.orders if o.residential and o.service_level == 0)
    nearby = Order(order.id, Location("19103"), order.lines, residential=True)
    q = quote(problem, nearby, problem.fcs[0], problem.services[0], 0.3, 500.0)
    assert q is not None
    assert (q.zone, q.billable_weight) == (2, 1.0)
    assert q.cost == round((1050 + 595) * 1.18) + 210


def test_capacity_and_stock_bind(problem: AllocationProblem) -> None:
    """Some FC cannot take every order it is the cheapest origin for, some SKUs are short of
    their demand, and some ordered SKUs sit at three FCs or fewer."""
    cheapest_at: Counter[str] = Counter()
    for order in problem.orders:
        weight, volume = order_weight(problem, order)
        quotes = [
            (q.cost, fc.id)
            for fc in problem.fcs
            if (q := cheapest(problem, order, fc, weight, volume)) is not None
        ]
        if quotes:
            cheapest_at[min(quotes)[1]] += 1
    assert any(cheapest_at[fc.id] > fc.capacity_packages for fc in problem.fcs)
    assert sum(fc.capacity_packages for fc in problem.fcs) >= len(problem.orders)

    demand: Counter[str] = Counter()
    for order in problem.orders:
        for line in order.lines:
            demand[line.sku] += line.quantity
    held: Counter[str] = Counter()
    holders: Counter[str] = Counter()
    for units in problem.stock.values():
        for sku, qty in units.items():
            held[sku] += qty
            holders[sku] += qty > 0
    assert sum(held[s] < d for s, d in demand.items()) >= 0.02 * len(demand)
    assert sum(holders[s] <= 3 for s in demand) >= 0.2 * len(demand)


def test_locked_orders_go_to_an_fc_holding_them() -> None:
    """A locked order names an FC that stocks every SKU it asks for."""
    p = generate(2000, seed=5, locked_fraction=0.05)
    locked = [o for o in p.orders if o.locked_fc]
    assert len(locked) > 50
    for order in locked:
        assert all(p.stock[order.locked_fc].get(x.sku, 0) > 0 for x in order.lines)


def test_zip3_geography() -> None:
    """ZIP3s are unique and ordered, shares sum to one, and places sit in their region."""
    zips, shares = zip3_weights()
    assert list(zips) == sorted(set(zips))
    assert sum(shares) == pytest.approx(1.0)
    assert zip3_location("100") == zip3_location("100")
    assert distance_km(zip3_location("100"), Location("", 40.78, -73.97)) < 40
    assert distance_km(zip3_location("900"), Location("", 34.05, -118.25)) < 60
    for region in REGIONS:
        centre = Location("", region.latitude, region.longitude)
        for zip3 in region.zip3s:
            place = zip3_location(zip3)
            assert place.zip3 == zip3
            assert distance_km(centre, place) <= 1.5 * region.radius_km
