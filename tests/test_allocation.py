"""Shipping allocation: optimal on tiny problems (against exhaustive search), within every limit,
every cost read straight off the rate cards, a reason for every unfilled line, and validation.

Expected values come from :mod:`tests.allocation_cases` (exhaustive search and a limit checker
that share nothing with the solver but :func:`allocation.rates.quote`) or are written out here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import pytest

import allocation.solve
from allocation import flow, master
from allocation.baseline import nearest_fc
from allocation.generator import generate
from allocation.model import (
    AllocationProblem,
    FulfillmentCenter,
    Location,
    Order,
    OrderLine,
    Policy,
    RateCard,
    Sku,
    ZoneRange,
)
from allocation.patterns import Prices, cheapest, pattern_cost
from allocation.quotes import MAX_LINES, compile_problem
from allocation.rates import quote, zone
from allocation.result import Allocation, Reason, Shipment, Status, UnfilledLine
from allocation.solve import build, solve
from routing.errors import InvalidInput
from tests.allocation_cases import (
    assorted,
    brute_force,
    ground,
    own_cheapest,
    package_quote,
    tiny,
    two_day,
    violations,
)

Maker = Callable[[int], AllocationProblem]

#: Tiny problems by name: policies, capacities and the pricing rules, all brute-forceable.
TINY: dict[str, Maker] = {
    "split": lambda seed: tiny(seed),
    "no_split": lambda seed: tiny(seed, policy=Policy(allow_split=False)),
    "two_packages": lambda seed: tiny(seed, policy=Policy(max_packages_per_order=2)),
    "fc_capacity": lambda seed: tiny(seed, capacity=2),
    "service_capacity": lambda seed: tiny(seed, service_capacity=1),
    "assorted": lambda seed: assorted(seed),
    "assorted_no_split": lambda seed: assorted(seed, policy=Policy(allow_split=False)),
    "assorted_two_packages": lambda seed: assorted(seed, policy=Policy(max_packages_per_order=2)),
    "assorted_capacity": lambda seed: assorted(seed, orders=6, capacity=2),
    "assorted_service_capacity": lambda seed: assorted(seed, orders=6, service_capacity=1),
    "assorted_units": lambda seed: assorted(seed, units=3),
}
#: Single-unit orders: the min-cost flow engine.
SINGLE: dict[str, Maker] = {
    "single_item": lambda seed: tiny(seed, orders=8, single_item=True),
    "single_item_capacity": lambda seed: tiny(seed, orders=8, capacity=2, single_item=True),
    "assorted_single_item": lambda seed: assorted(seed, orders=8, single_item=True),
}
SEEDS = range(8)


def cases(makers: dict[str, Maker], seeds: range = SEEDS) -> list[tuple[str, int]]:
    return [(name, seed) for name in makers for seed in seeds]


def order_of(problem: AllocationProblem, order_id: str) -> Order:
    return next(o for o in problem.orders if o.id == order_id)


def check_answer(problem: AllocationProblem, answer: Allocation) -> None:
    """Every invariant an answer must keep, recomputed from the problem."""
    assert violations(problem, answer.shipments) == []
    check_costs(problem, answer.shipments)
    check_lines(problem, answer)
    for s in answer.shipments:
        level = next(x.level for x in problem.services if x.id == s.service)
        assert level >= order_of(problem, s.order_id).service_level, s
    penalty = problem.policy.unfilled_line_penalty
    assert answer.totals.cost == sum(s.cost for s in answer.shipments)
    assert answer.totals.penalty == sum(
        penalty * (1 + order_of(problem, u.order_id).priority) for u in answer.unfilled
    )
    assert answer.totals.packages == len(answer.shipments)
    assert answer.totals.unfilled_lines == len(answer.unfilled)
    check_bound(answer)
    compiled = compile_problem(problem)
    _, _, base = build(compiled, nearest_fc(compiled))
    assert answer.baseline == base
    assert answer.totals.objective <= base.objective


def check_costs(problem: AllocationProblem, shipments: tuple[Shipment, ...]) -> None:
    """Zone, billable weight, cost and delivery day of every package are the rate cards'."""
    for s in shipments:
        q = package_quote(problem, s)
        assert q is not None, f"{s}: no service takes it"
        assert (q.service, q.zone, q.billable_weight, q.cost, q.delivery_day) == (
            s.service,
            s.zone,
            s.billable_weight,
            s.cost,
            s.delivery_day,
        ), s
        card = next(x.rate_card for x in problem.services if x.id == s.service)
        assert s.weight_unit == card.weight_unit


def check_lines(problem: AllocationProblem, answer: Allocation) -> None:
    """Every order line is shipped whole exactly once or reported unfilled exactly once."""
    seen: dict[tuple[str, int], int] = {}
    for s in answer.shipments:
        order = order_of(problem, s.order_id)
        index = {x.sku: j for j, x in enumerate(order.lines)}
        for line in s.lines:
            j = index[line.sku]
            assert line == order.lines[j], s
            seen[s.order_id, j] = seen.get((s.order_id, j), 0) + 1
    for u in answer.unfilled:
        line = order_of(problem, u.order_id).lines[u.line]
        assert (u.sku, u.quantity) == (line.sku, line.quantity), u
        seen[u.order_id, u.line] = seen.get((u.order_id, u.line), 0) + 1
    every = {(o.id, j): 1 for o in problem.orders for j in range(len(o.lines))}
    assert seen == every


def check_bound(answer: Allocation) -> None:
    """The bound is below the objective; status and gap say how far."""
    objective = answer.totals.objective
    assert answer.bound <= objective + 1e-6
    assert (answer.status is Status.OPTIMAL) == (objective - answer.bound < 1 - 1e-6)
    if objective > 0:
        assert answer.gap == pytest.approx((objective - answer.bound) / objective, abs=1e-12)
    else:
        assert answer.gap == 0.0


def check_reasons(problem: AllocationProblem, answer: Allocation) -> None:
    """Each unfilled line's reason holds for the stock the answer leaves: the line alone could
    not reach the destination, not be shipped in time from any FC holding it, had no unit left
    at any FC that could ship it, or had units left there that went unused."""
    left = {(fc, k): q for fc, units in problem.stock.items() for k, q in units.items()}
    for s in answer.shipments:
        for line in s.lines:
            left[s.fc, line.sku] -= line.quantity
    for u in answer.unfilled:
        order = order_of(problem, u.order_id)
        sku = problem.skus[u.sku]
        weight, volume = u.quantity * sku.weight_kg, u.quantity * sku.volume_cm3
        fcs = [fc for fc in problem.fcs if not order.locked_fc or fc.id == order.locked_fc]
        can = [
            fc.id
            for fc in fcs
            if any(quote(problem, order, fc, x, weight, volume) for x in problem.services)
        ]
        stocked = {fc.id for fc in fcs if problem.stock.get(fc.id, {}).get(u.sku, 0) >= u.quantity}
        room = [f for f in can if left.get((f, u.sku), 0) >= u.quantity]
        if u.reason is Reason.UNDELIVERABLE_DESTINATION:
            assert all(
                zone(x, fc, order.destination) not in x.rate_card.zones
                for x in problem.services
                for fc in problem.fcs
            ), u
        elif u.reason is Reason.NO_SERVICE_MEETS_PROMISE:
            assert not stocked & set(can), u
        elif u.reason is Reason.OUT_OF_STOCK:
            assert room == [], u
        else:
            assert room != [], u


@pytest.mark.parametrize(("name", "seed"), cases(TINY))
def test_tiny_problems_are_solved_to_the_optimum(name: str, seed: int) -> None:
    """The pattern MIP's objective equals exhaustive search's, proven optimal."""
    problem = TINY[name](seed)
    answer = solve(problem, time_limit_s=20)
    assert answer.method == "pattern_mip"
    assert answer.totals.objective == brute_force(problem)
    assert answer.status is Status.OPTIMAL
    check_answer(problem, answer)
    check_reasons(problem, answer)


@pytest.mark.parametrize(("name", "seed"), cases(SINGLE))
def test_single_item_problems_are_solved_to_the_optimum_by_flow(name: str, seed: int) -> None:
    """Single-unit orders go to the min-cost flow, whose objective is exhaustive search's."""
    problem = SINGLE[name](seed)
    answer = solve(problem, time_limit_s=20)
    assert answer.method == "min_cost_flow"
    assert answer.totals.objective == brute_force(problem)
    assert answer.status is Status.OPTIMAL
    check_answer(problem, answer)
    check_reasons(problem, answer)


def test_single_items_with_service_limits_leave_the_flow() -> None:
    """A binding service limit is beyond the flow model: the pattern MIP solves it exactly."""
    problem = tiny(3, orders=8, single_item=True, service_capacity=1)
    answer = solve(problem, time_limit_s=20)
    assert answer.method == "pattern_mip"
    assert answer.totals.objective == brute_force(problem)
    check_answer(problem, answer)


#: Tiny problems for column generation, and larger ones where it may miss the optimum.
COLUMN_GENERATION: dict[str, Maker] = {
    **TINY,
    "six_orders": lambda seed: tiny(seed, orders=6),
    "assorted_crowded": lambda seed: assorted(seed, orders=8, capacity=3, max_lines=2),
}
COLUMN_GENERATION_CASES = [
    *cases(TINY),
    *(("six_orders", seed) for seed in (1, 4, 5, 6, 9, 11)),  # exhaustive search is quick
    *cases({"assorted_crowded": COLUMN_GENERATION["assorted_crowded"]}, range(16)),
]


@pytest.mark.parametrize(("name", "seed"), COLUMN_GENERATION_CASES)
def test_column_generation_brackets_the_tiny_optimum(
    monkeypatch: pytest.MonkeyPatch, name: str, seed: int
) -> None:
    """With enumeration off: bound <= optimum <= objective, and OPTIMAL only when equal."""
    monkeypatch.setattr(allocation.solve, "ENUMERATE_UP_TO", 0)
    problem = COLUMN_GENERATION[name](seed)
    best = brute_force(problem)
    answer = solve(problem, time_limit_s=20)
    assert answer.method == "column_generation"
    assert answer.bound <= best + 1e-6
    assert best <= answer.totals.objective
    if answer.status is Status.OPTIMAL:
        assert answer.totals.objective == best
    check_answer(problem, answer)
    check_reasons(problem, answer)


def generated(engine: str) -> AllocationProblem:
    """A 300-order generated day for each engine; ``_locked``: ten FCs, one past its cutoff,
    and a fifth of the orders locked."""
    if engine == "column_generation":
        return generate(300, seed=1)
    if engine == "column_generation_locked":
        return generate(300, n_fcs=10, seed=4, locked_fraction=0.2)
    single = generate(300, single_item=True, seed=2)
    if engine == "pattern_mip":
        return single
    unlimited = tuple(dataclasses.replace(fc, service_capacity={}) for fc in single.fcs)
    return dataclasses.replace(single, fcs=unlimited)


ENGINES = ["column_generation", "column_generation_locked", "pattern_mip", "min_cost_flow"]


@pytest.fixture(scope="module")
def day() -> AllocationProblem:
    return generated("column_generation")


@pytest.fixture(scope="module")
def day_answer(day: AllocationProblem) -> Allocation:
    return solve(day, time_limit_s=60)


@pytest.mark.parametrize("engine", ENGINES)
def test_generated_days_keep_every_invariant(
    engine: str, day: AllocationProblem, day_answer: Allocation
) -> None:
    """Limits, rate-card costs, totals, lines, levels, reasons and the baseline, per engine."""
    if engine == "column_generation":
        problem, answer = day, day_answer
    else:
        problem = generated(engine)
        answer = solve(problem, time_limit_s=60)
    assert answer.method == engine.removesuffix("_locked")
    check_answer(problem, answer)
    check_reasons(problem, answer)
    assert answer.shipments
    if engine == "column_generation_locked":
        locked = {o.id for o in problem.orders if o.locked_fc}
        assert len(locked) > 30
        assert len({s.order_id for s in answer.shipments} & locked) > 30
        assert {s.fc for s in answer.shipments} >= {"CMH1"}  # ships a day late, still used


def test_flow_and_pattern_mip_agree_on_a_generated_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """Single-item day: the flow's optimum is the pattern MIP's (both proven optimal)."""
    problem = generated("min_cost_flow")
    by_flow = solve(problem, time_limit_s=60)
    monkeypatch.setattr(flow, "applies", lambda compiled: False)
    by_mip = solve(problem, time_limit_s=60)
    assert (by_flow.method, by_mip.method) == ("min_cost_flow", "pattern_mip")
    assert by_flow.status is by_mip.status is Status.OPTIMAL
    assert by_flow.totals.objective == by_mip.totals.objective
    check_answer(problem, by_mip)


def test_a_cut_short_solve_still_keeps_every_limit(
    day: AllocationProblem, day_answer: Allocation
) -> None:
    """With no time at all the answer is still feasible and its bound below any answer's."""
    rushed = solve(day, time_limit_s=0.0)
    check_answer(day, rushed)
    assert rushed.bound <= day_answer.totals.objective
    assert day_answer.bound <= rushed.totals.objective


def test_the_answer_beats_the_nearest_fc_baseline(
    day: AllocationProblem, day_answer: Allocation
) -> None:
    """The baseline keeps every limit; the answer costs less, and its gap is under 1 %."""
    compiled = compile_problem(day)
    shipments, unfilled, totals = build(compiled, nearest_fc(compiled))
    assert violations(day, shipments) == []
    check_costs(day, shipments)
    assert len(shipments) + len(unfilled) > 0
    assert totals == day_answer.baseline
    assert day_answer.totals.objective < totals.objective
    assert day_answer.gap < 0.01


@pytest.mark.parametrize(("name", "seed"), cases({**TINY, **SINGLE}, range(4)))
def test_tiny_baselines_keep_every_limit(name: str, seed: int) -> None:
    """The nearest-FC baseline alone: limits and rate-card costs hold."""
    problem = {**TINY, **SINGLE}[name](seed)
    compiled = compile_problem(problem)
    shipments, _, totals = build(compiled, nearest_fc(compiled))
    assert violations(problem, shipments) == []
    check_costs(problem, shipments)
    assert totals.objective >= brute_force(problem)


def test_same_problem_same_answer(day: AllocationProblem, day_answer: Allocation) -> None:
    """Solving again, with another seed, gives the same shipments and unfilled lines."""
    again = solve(day, time_limit_s=60, seed=17)
    assert again.shipments == day_answer.shipments
    assert again.unfilled == day_answer.unfilled
    assert again.totals == day_answer.totals


@pytest.mark.parametrize("seed", range(6))
def test_compiled_prices_match_the_rate_cards(seed: int, day: AllocationProblem) -> None:
    """Every package's compiled cost is quote()'s where the FC may ship it, else inf."""
    problems = [assorted(seed, orders=8, max_lines=4), assorted(seed + 100, orders=8)]
    if seed == 0:
        problems += [day, generate(100, n_fcs=10, seed=9, locked_fraction=0.2)]
    finite = 0
    for problem in problems:
        compiled = compile_problem(problem)
        assert sum(len(g.orders) for g in compiled.groups.values()) == len(problem.orders)
        for n, group in compiled.groups.items():
            assert group.cost.shape[1:] == (1 << n, len(problem.fcs), len(problem.services))
            for i, o in enumerate(group.orders.tolist()):
                order = problem.orders[o]
                assert len(order.lines) == n
                for mask in range(1 << n):
                    lines = [x for j, x in enumerate(order.lines) if mask >> j & 1]
                    assert group.units[i, mask] == sum(x.quantity for x in lines)
                    weight = volume = 0.0
                    for x in lines:
                        weight += x.quantity * problem.skus[x.sku].weight_kg
                        volume += x.quantity * problem.skus[x.sku].volume_cm3
                    for f, fc in enumerate(problem.fcs):
                        held = problem.stock.get(fc.id, {})
                        usable = (
                            mask > 0
                            and all(held.get(x.sku, 0) >= x.quantity for x in lines)
                            and order.locked_fc in ("", fc.id)
                        )
                        for s, service in enumerate(problem.services):
                            q = quote(problem, order, fc, service, weight, volume)
                            want = q.cost if q is not None and usable else math.inf
                            got = group.cost[i, mask, f, s]
                            assert got == want, (order.id, mask, fc.id, service.id)
                            finite += want < math.inf
    assert finite > 30


@pytest.mark.parametrize(("name", "seed"), cases({**TINY, **SINGLE}, range(6)))
def test_own_cheapest_pattern_is_the_exhaustive_minimum(name: str, seed: int) -> None:
    """At zero prices each order's cheapest pattern costs what exhaustive search finds."""
    problem = {**TINY, **SINGLE}[name](seed)
    compiled = compile_problem(problem)
    zero = Prices.zero(compiled.n_fcs, len(compiled.sku_ids), len(compiled.service_ids))
    limit = problem.policy.packages_limit
    for group in compiled.groups.values():
        total, patterns = cheapest(group, zero, limit)
        for i, o in enumerate(group.orders.tolist()):
            assert total[i] == own_cheapest(problem, o), problem.orders[o].id
            pattern = patterns[i]
            assert pattern_cost(group, i, pattern) == total[i]
            assert len({f for f, _, _ in pattern}) == len(pattern)
            covered = 0
            for _, _, mask in pattern:
                assert mask and not covered & mask
                covered |= mask
            if limit:
                assert len(pattern) <= limit


# Hand-built problems: two FCs, Los Angeles and New York, ground and two-day.
WEST = Location("", 34.05, -118.24)
EAST = Location("", 40.71, -74.01)
NEAR_WEST = Location("", 34.42, -119.70)  # Santa Barbara
NEAR_EAST = Location("", 40.22, -74.76)  # Trenton
SKUS = {k: Sku(k, 1.0, 20.0, 15.0, 10.0) for k in "ABCD"}


def hand_problem(
    *orders: Order,
    stock: dict[str, dict[str, int]],
    west_capacity: int = 0,
    east_chart: tuple[ZoneRange, ...] = (),
) -> AllocationProblem:
    """Orders over FCs WEST and EAST with ground (zone chart ``east_chart`` at EAST) and
    two-day, both also zoned by distance."""
    fcs = (
        FulfillmentCenter("WEST", WEST, capacity_packages=west_capacity, handling_cost=100),
        FulfillmentCenter("EAST", EAST, handling_cost=100),
    )
    services = (dataclasses.replace(ground(), zone_charts={"EAST": east_chart}), two_day())
    return AllocationProblem(orders, SKUS, fcs, services, stock)


def one(sku: str, quantity: int = 1) -> tuple[OrderLine, ...]:
    return (OrderLine(sku, quantity),)


def test_every_unfilled_line_gets_its_reason() -> None:
    """Each reason for a line left unfilled, and the lines that do ship alongside."""
    problem = hand_problem(
        Order("vip", NEAR_WEST, one("B"), priority=2),
        Order("late", NEAR_WEST, one("B")),  # WEST's one package went to vip
        Order("gone", NEAR_EAST, one("C")),  # nobody holds C
        Order("today", NEAR_EAST, one("A"), promise_days=0),
        Order("overnight", NEAR_EAST, one("A"), service_level=2),
        Order("nowhere", Location("999"), one("A")),  # no coordinates, ZIP3 in no chart
        Order("blank", Location(""), one("A")),
        Order("charted", Location("11201"), one("A")),  # no coordinates, but in EAST's chart
        Order("mixed", NEAR_EAST, (OrderLine("A", 1), OrderLine("C", 2)), priority=1),
        Order("first", NEAR_EAST, one("A", 3), priority=1),
        Order("second", NEAR_EAST, one("A", 3)),  # 1 A left when the others are shipped
        stock={"WEST": {"B": 5}, "EAST": {"A": 5}},
        west_capacity=1,
        east_chart=(ZoneRange("100", "149", 3),),
    )
    answer = solve(problem, time_limit_s=10)
    reasons = {(u.order_id, u.line): u.reason for u in answer.unfilled}
    assert reasons == {
        ("late", 0): Reason.OVER_CAPACITY,
        ("gone", 0): Reason.OUT_OF_STOCK,
        ("today", 0): Reason.NO_SERVICE_MEETS_PROMISE,
        ("overnight", 0): Reason.NO_SERVICE_MEETS_PROMISE,
        ("nowhere", 0): Reason.UNDELIVERABLE_DESTINATION,
        ("blank", 0): Reason.UNDELIVERABLE_DESTINATION,
        ("mixed", 1): Reason.OUT_OF_STOCK,
        ("second", 0): Reason.OUT_OF_STOCK,
    }
    assert UnfilledLine("mixed", 1, "C", 2, Reason.OUT_OF_STOCK) in answer.unfilled
    shipped = {(s.order_id, s.fc, s.service) for s in answer.shipments}
    assert shipped == {
        ("vip", "WEST", "GROUND"),
        ("charted", "EAST", "GROUND"),
        ("mixed", "EAST", "GROUND"),
        ("first", "EAST", "GROUND"),
    }
    charted = next(s for s in answer.shipments if s.order_id == "charted")
    assert charted.zone == 3
    assert answer.status is Status.OPTIMAL
    check_answer(problem, answer)
    check_reasons(problem, answer)


def test_locked_orders_ship_only_from_their_fc() -> None:
    """A lock beats the cheaper FC; a lock to an FC without the SKU leaves the line unfilled."""
    problem = hand_problem(
        Order("locked", NEAR_WEST, one("A"), locked_fc="EAST"),
        Order("free", NEAR_WEST, one("A")),
        Order("stuck", NEAR_EAST, one("D"), locked_fc="WEST"),
        stock={"WEST": {"A": 5}, "EAST": {"A": 5, "D": 5}},
    )
    answer = solve(problem, time_limit_s=10)
    fcs = {s.order_id: s.fc for s in answer.shipments}
    assert fcs == {"locked": "EAST", "free": "WEST"}
    costs = {s.order_id: s.cost for s in answer.shipments}
    assert costs["locked"] > costs["free"]
    assert [(u.order_id, u.reason) for u in answer.unfilled] == [("stuck", Reason.OUT_OF_STOCK)]
    check_answer(problem, answer)


@pytest.mark.parametrize(
    ("level", "promise", "service"),
    [
        (0, None, "GROUND"),
        (1, None, "TWO_DAY"),  # expedited: ground is too slow a level, dearer or not
        (0, 5, "GROUND"),  # coast to coast, ground takes 5 days
        (0, 4, "TWO_DAY"),
        (0, 1, None),  # nothing arrives the next day
        (2, None, None),  # no overnight service
    ],
)
def test_levels_and_promises_pick_the_service(
    level: int, promise: int | None, service: str | None
) -> None:
    """West to east coast: the cheapest service that is fast enough, or none."""
    problem = hand_problem(
        Order("o", NEAR_EAST, one("A"), promise_days=promise, service_level=level),
        stock={"WEST": {"A": 1}},
    )
    answer = solve(problem, time_limit_s=10)
    assert [s.service for s in answer.shipments] == ([service] if service else [])
    if service is None:
        assert [u.reason for u in answer.unfilled] == [Reason.NO_SERVICE_MEETS_PROMISE]
    else:
        assert answer.shipments[0].delivery_day == (5 if service == "GROUND" else 2)
    check_answer(problem, answer)


def test_invalid_problems_name_every_field() -> None:
    """Bad quantity, unknown SKU and locked FC, repeated order id and a short rate-card row."""
    base = tiny(0)
    orders = list(base.orders)
    orders[1] = dataclasses.replace(
        orders[1], lines=(OrderLine(orders[1].lines[0].sku, 0), *orders[1].lines[1:])
    )
    orders[0] = dataclasses.replace(orders[0], lines=(OrderLine("NOPE", 1),))
    orders[2] = dataclasses.replace(orders[2], locked_fc="FC9")
    orders[3] = dataclasses.replace(orders[3], id=orders[2].id)
    card = base.services[0].rate_card
    prices = (*card.prices[:3], card.prices[3][:-1], *card.prices[4:])
    services = (
        dataclasses.replace(base.services[0], rate_card=dataclasses.replace(card, prices=prices)),
        *base.services[1:],
    )
    bad = dataclasses.replace(base, orders=tuple(orders), services=services)
    with pytest.raises(InvalidInput) as error:
        solve(bad, time_limit_s=1)
    fields = {v.field for v in error.value.violations}
    assert fields == {
        "orders[0].lines[0].sku",
        "orders[1].lines[0].quantity",
        "orders[2].locked_fc",
        "orders[3].id",
        "services[0].rate_card.prices[3]",
    }
    assert "NOPE" in str(error.value) and "FC9" in str(error.value)


def test_orders_may_have_at_most_max_lines_lines() -> None:
    """MAX_LINES lines over two FCs ship in two packages; one line more is invalid input."""
    skus = {f"K{i:02d}": Sku(f"K{i:02d}", 0.3, 10.0, 10.0, 10.0) for i in range(MAX_LINES + 1)}
    ids = sorted(skus)
    half = MAX_LINES // 2
    stock = {"WEST": {k: 1 for k in ids[:half]}, "EAST": {k: 1 for k in ids[half:]}}
    lines = tuple(OrderLine(k, 1) for k in ids[:MAX_LINES])
    problem = dataclasses.replace(
        hand_problem(Order("big", NEAR_WEST, lines), stock=stock), skus=skus
    )
    answer = solve(problem, time_limit_s=10)
    assert sorted(len(s.lines) for s in answer.shipments) == [half, MAX_LINES - half]
    check_answer(problem, answer)
    too_many = dataclasses.replace(
        problem,
        orders=(
            Order("ok", NEAR_WEST, one("K00")),
            Order("big", NEAR_WEST, (*lines, OrderLine(ids[-1], 1))),
        ),
    )
    with pytest.raises(InvalidInput) as error:
        solve(too_many, time_limit_s=10)
    assert [v.field for v in error.value.violations] == ["orders[1].lines"]


def test_a_heavier_package_than_the_card_prices_is_not_shipped() -> None:
    """Off the card's weight rows: the line stays unfilled; one row lighter, it ships."""
    light = RateCard((2, 3, 4, 5, 6, 7, 8), ((500,) * 7, (600,) * 7), "kg", 1.0, 0.0)
    problem = hand_problem(
        Order("light", NEAR_WEST, one("A", 2)),
        Order("heavy", NEAR_WEST, one("B", 3)),
        stock={"WEST": {"A": 2, "B": 3}},
    )
    services = tuple(dataclasses.replace(s, rate_card=light) for s in problem.services)
    problem = dataclasses.replace(problem, services=services)
    answer = solve(problem, time_limit_s=10)
    assert [(s.order_id, s.billable_weight) for s in answer.shipments] == [("light", 2.0)]
    assert [u.order_id for u in answer.unfilled] == ["heavy"]
    check_answer(problem, answer)


def test_a_day_solved_in_chunks_keeps_every_limit_and_a_valid_bound(
    monkeypatch: pytest.MonkeyPatch, day: AllocationProblem, day_answer: Allocation
) -> None:
    """Cut into chunks, a day still keeps every limit; its bound stays below the one-LP answer
    and its answer above the one-LP bound, and it still beats the baseline."""
    monkeypatch.setattr(master, "CHUNK_ORDERS", 70)
    chunked = solve(day, time_limit_s=60)
    check_answer(day, chunked)
    assert chunked.bound <= day_answer.totals.objective + 1e-6
    assert day_answer.bound <= chunked.totals.objective + 1e-6
    assert chunked.totals.objective < chunked.baseline.objective


@pytest.mark.parametrize("single_item", [True, False])
def test_totals_from_the_price_tables_equal_those_of_the_built_shipments(
    single_item: bool,
) -> None:
    """The vectorised totals (used to compare with the baseline) add up exactly what the built
    shipments and unfilled lines do, for the baseline's patterns and a partial plan."""
    from allocation.solve import totals_of

    problem = generate(300, n_fcs=3, single_item=single_item, seed=7, scarce_fraction=0.3)
    compiled = compile_problem(problem)
    base = nearest_fc(compiled)
    partial = [p if o % 3 else () for o, p in enumerate(base)]
    for patterns in (base, partial):
        shipments, unfilled, totals = build(compiled, patterns)
        assert totals_of(compiled, patterns) == totals
        assert totals.unfilled_lines == len(unfilled) > 0
        assert totals.cost == sum(s.cost for s in shipments)
