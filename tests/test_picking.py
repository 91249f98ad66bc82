"""Wave planning: every line served once or reported, capacities and stock hold, distances are
the routes' own, and tiny waves match an exhaustive search over every batching."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator

import pytest

from picking.batching import Batcher, BatchPlan
from picking.model import (
    Cart,
    Order,
    OrderLine,
    SkuSize,
    Timing,
    Wave,
    fits,
    order_fits,
    order_load,
    pack_totes,
)
from picking.wave import (
    COLUMN_SEARCH_ANY_CART_MAX_ORDERS,
    Unserved,
    WavePlan,
    _items,
    _serve,
    _Stock,
    plan,
)
from routing import tsp
from routing.errors import InvalidInput
from routing.oracle import DistanceOracle
from tests.factories import henn_waescher, random_graph_layout


@pytest.fixture(scope="module")
def hw() -> DistanceOracle:
    return DistanceOracle(henn_waescher())


def random_wave(
    oracle: DistanceOracle, rng: random.Random, n_orders: int, cart: Cart, lines: int = 6
) -> Wave:
    """Orders of 1-``lines`` lines over SKUs in one to three bins each, with scarce stock."""
    bins = list(oracle.bin_ids)
    stock: dict[str, dict[str, int]] = {}
    for k in range(40):
        stock[f"S{k}"] = {b: rng.randint(1, 6) for b in rng.sample(bins, rng.randint(1, 3))}
    orders = []
    for i in range(n_orders):
        skus = rng.sample([*stock, "NOPE"], rng.randint(1, lines))
        orders.append(
            Order(f"o{i}", tuple(OrderLine(s, rng.randint(1, 4)) for s in skus), priority=i % 2)
        )
    return Wave(tuple(orders), cart, stock)


def walk_mm(oracle: DistanceOracle, plan_: WavePlan) -> Iterator[tuple[int, int]]:
    """(reported, recomputed) distance of every batch: start -> stops in order -> end."""
    for batch in plan_.batches:
        r = batch.route
        stops = [r.start_depot, *(s.bin_id for s in r.stops), r.end_depot]
        locs = [
            oracle.depot_location(x) if x in oracle.depot_ids else oracle.bin_location(x)
            for x in stops
        ]
        yield batch.distance_mm, sum(oracle.distance(a, b) for a, b in itertools.pairwise(locs))


def check_plan(oracle: DistanceOracle, wave: Wave, result: WavePlan) -> None:
    """Every invariant a plan must keep, recomputed from the wave."""
    served: dict[tuple[str, int], int] = defaultdict(int)
    taken: Counter[tuple[str, str]] = Counter()
    seen_orders: list[str] = []
    skus = {(o.id, j): x.sku for o in wave.orders for j, x in enumerate(o.lines)}
    for batch in result.batches:
        seen_orders += batch.order_ids
        on_cart: Counter[tuple[str, int]] = Counter()
        for p in batch.picks:
            on_cart[p.order_id, p.line_index] += p.quantity
        load = sum(
            (
                order_load(wave.cart, (OrderLine(skus[key], units),), wave.sizes)
                for key, units in on_cart.items()
            ),
            start=order_load(wave.cart, (), wave.sizes),
        )
        # Totes are checked below, per order; here every other limit of the cart.
        assert fits(wave.cart, dataclasses.replace(load, totes=0, orders=len(batch.order_ids)))
        if wave.cart.totes:
            used = [t for totes in batch.totes.values() for t in totes]
            assert len(used) == len(set(used)) and all(0 <= t < wave.cart.totes for t in used)
            # Each pick goes into a tote of its own order, and every tote holds what it gets.
            in_tote: dict[int, list[OrderLine]] = defaultdict(list)
            for p in batch.picks:
                assert p.tote in batch.totes[p.order_id], (p, batch.totes)
                in_tote[p.tote].append(OrderLine(p.sku, p.quantity))
            tote = Cart(
                capacity_units=wave.cart.tote_units,
                capacity_volume_l=wave.cart.tote_volume_l,
                capacity_weight_kg=wave.cart.tote_weight_kg,
            )
            for contents in in_tote.values():
                assert fits(tote, order_load(tote, tuple(contents), wave.sizes)), contents
        stop_bins = [s.bin_id for s in batch.route.stops]
        assert [p.bin_id for p in batch.picks] == sorted(
            (p.bin_id for p in batch.picks), key=stop_bins.index
        )
        for p in batch.picks:
            assert p.order_id in batch.order_ids
            served[(p.order_id, p.line_index)] += p.quantity
            taken[(p.sku, p.bin_id)] += p.quantity
    reported = {(u.order_id, u.line_index) for u in result.unserved}
    for order_id, carts in Counter(seen_orders).items():
        # Only an order that fits no cart may be on several, and only where the cart allows.
        order = next(o for o in wave.orders if o.id == order_id)
        mine = tuple(x for j, x in enumerate(order.lines) if (order.id, j) not in reported)
        whole = order_fits(wave.cart, order_load(wave.cart, mine, wave.sizes))
        assert carts == 1 or (wave.cart.orders_may_span_carts and not whole), order_id
    for order in wave.orders:
        for j, line in enumerate(order.lines):
            key = (order.id, j)
            assert (key in served) != (key in reported), f"{key} served and reported, or neither"
            if key in served:
                assert served[key] == line.quantity
    for (sku, bin_id), units in taken.items():
        assert units <= wave.stock[sku][bin_id]
    walked = list(walk_mm(oracle, result))
    assert all(reported_mm == actual for reported_mm, actual in walked)
    assert result.distance_mm == sum(b.distance_mm for b in result.batches)


@pytest.mark.parametrize("seed", range(4))
def test_random_waves_keep_every_invariant(hw: DistanceOracle, seed: int) -> None:
    """Scarce, multi-bin stock and an unknown SKU: lines are served once or reported."""
    rng = random.Random(seed)
    cart = Cart(capacity_units=20, max_orders=4, max_lines=12)
    wave = random_wave(hw, rng, 25, cart)
    result = plan(hw, wave, time_limit_s=0.5, seed=seed)
    check_plan(hw, wave, result)
    reasons = {u.reason for u in result.unserved}
    assert Unserved.UNKNOWN_SKU in reasons
    assert all("orders[" in u.message for u in result.unserved)


def test_graph_layout_waves_keep_every_invariant() -> None:
    """The same on a general graph layout with one-way segments."""
    rng = random.Random(3)
    oracle = DistanceOracle(random_graph_layout(rng, n_bins=60))
    wave = random_wave(oracle, rng, 15, Cart(capacity_units=15))
    result = plan(oracle, wave, time_limit_s=0.5)
    check_plan(oracle, wave, result)


def partitions(items: list[int]) -> Iterator[list[list[int]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in partitions(rest):
        for k in range(len(part)):
            yield [*part[:k], [first, *part[k]], *part[k + 1 :]]
        yield [[first], *part]


def test_tiny_waves_match_exhaustive_search(hw: DistanceOracle) -> None:
    """Up to 6 orders: the plan's total equals the best over every capacity-feasible batching,
    each batch priced by Held-Karp on the oracle's matrix (independent of the ladder DP)."""
    rng = random.Random(9)
    depot = hw.depot_location("DEPOT")
    for trial in range(8):
        n = rng.randint(3, 6)
        bins = rng.sample(list(hw.bin_ids), 3 * n)
        stock = {f"S{k}": {b: 10} for k, b in enumerate(bins)}
        orders = tuple(
            Order(f"o{i}", tuple(OrderLine(f"S{k}", 1) for k in picks))
            for i in range(n)
            for picks in (rng.sample(range(3 * n), rng.randint(1, 3)),)
        )
        cart = Cart(capacity_units=rng.randint(3, 6))
        wave = Wave(orders, cart, stock)
        result = plan(hw, wave, time_limit_s=0.5, seed=trial)
        check_plan(hw, wave, result)

        def price(members: list[int], stock: dict[str, dict[str, int]] = stock,
                  orders: tuple[Order, ...] = orders) -> int:  # fmt: skip
            locs = {
                hw.bin_location(next(iter(stock[x.sku]))) for i in members for x in orders[i].lines
            }
            matrix = hw.matrix([depot, depot, *sorted(locs)])
            return tsp.held_karp(matrix, 0, 1)[1]

        best = min(
            sum(price(b) for b in part)
            for part in partitions(list(range(n)))
            if all(sum(len(orders[i].lines) for i in b) <= cart.capacity_units for b in part)
        )
        assert result.distance_mm == best, f"trial {trial}"


def test_a_line_is_picked_from_the_bin_nearest_its_cart(hw: DistanceOracle) -> None:
    """A SKU in a bin by the depot and one beside the cart's other picks: the latter wins."""
    wave = Wave(
        (Order("far", (OrderLine("A", 1), OrderLine("B", 2))),),
        Cart(capacity_units=10),
        {"A": {"A09-B1-040L": 5}, "B": {"A01-B1-001L": 9, "A09-B1-041R": 2}},
    )
    result = plan(hw, wave, time_limit_s=0.3)
    assert {p.bin_id for p in result.batches[0].picks} == {"A09-B1-040L", "A09-B1-041R"}
    assert result.status.value == "feasible"  # a bin choice is not proven optimal


def test_a_line_is_split_over_bins_when_one_lacks_units(hw: DistanceOracle) -> None:
    wave = Wave(
        (Order("o", (OrderLine("A", 5),)),),
        Cart(capacity_units=10),
        {"A": {"A02-B1-010L": 3, "A05-B1-010L": 3}},
    )
    result = plan(hw, wave, time_limit_s=0.3)
    assert sorted(p.quantity for p in result.batches[0].picks) == [2, 3]
    check_plan(hw, wave, result)


def test_unservable_lines_and_orders_are_reported(hw: DistanceOracle) -> None:
    """Unknown SKU, too few units, and an order larger than a cart each get their reason."""
    wave = Wave(
        (
            Order("a", (OrderLine("X", 1), OrderLine("A", 4))),
            Order("b", (OrderLine("A", 2), OrderLine("B", 1))),
            Order("huge", (OrderLine("B", 30),)),
        ),
        Cart(capacity_units=10),
        {"A": {"A01-B1-005L": 5}, "B": {"A02-B1-005L": 40}},
    )
    result = plan(hw, wave, time_limit_s=0.3)
    reasons = {(u.order_id, u.line_index): u.reason for u in result.unserved}
    assert reasons == {
        ("a", 0): Unserved.UNKNOWN_SKU,
        ("b", 0): Unserved.OUT_OF_STOCK,  # order a took 4 of the 5 units first
        ("huge", 0): Unserved.LARGER_THAN_CART,
    }
    message = next(u.message for u in result.unserved if u.order_id == "b")
    assert "orders[1].lines[0]" in message and "1 left" in message
    check_plan(hw, wave, result)


def test_totes_and_volume(hw: DistanceOracle) -> None:
    """Orders get totes of their own; a big order spans several; volume limits hold."""
    rng = random.Random(4)
    bins = list(hw.bin_ids)
    stock = {f"S{k}": {bins[k * 7]: 50} for k in range(30)}
    sizes = {sku: SkuSize(volume_l=rng.choice([0.5, 1.0, 2.0]), weight_kg=1.0) for sku in stock}
    orders = tuple(
        Order(
            f"o{i}", tuple(OrderLine(f"S{k}", rng.randint(1, 5)) for k in rng.sample(range(30), 3))
        )
        for i in range(12)
    )
    cart = Cart(totes=4, tote_units=10, tote_volume_l=12.0, orders_may_span_totes=True,
                capacity_weight_kg=40)  # fmt: skip
    wave = Wave(orders, cart, stock, sizes)
    result = plan(hw, wave, time_limit_s=0.5)
    check_plan(hw, wave, result)
    for batch in result.batches:
        assert sum(len(t) for t in batch.totes.values()) <= 4
        for order_id, totes in batch.totes.items():
            order = next(o for o in orders if o.id == order_id)
            need = order_load(cart, order.lines, sizes).totes
            assert len(totes) == need >= 1
    with pytest.raises(InvalidInput) as missing:
        plan(hw, Wave(orders, cart, stock), time_limit_s=0.1)
    assert "orders[0].lines[0].sku" in {v.field for v in missing.value.violations}


def test_whole_units_are_packed_into_totes() -> None:
    """Three 25 l units take three 40 l totes (75 l over 40 l totes rounds up to two, which
    cannot hold them); a 50 l unit fits in no tote; with units only, the fewest totes."""
    sizes = {"A": SkuSize(volume_l=25.0), "B": SkuSize(volume_l=1.0), "C": SkuSize(volume_l=50.0)}
    cart = Cart(totes=4, tote_volume_l=40.0, orders_may_span_totes=True)
    packed = pack_totes(cart, (OrderLine("B", 10), OrderLine("A", 3)), sizes)
    assert packed is not None and len(packed) == 3  # A's units first, B's 10 l beside them
    assert sorted(sum(n for k, n in t if k == 1) for t in packed) == [1, 1, 1]
    assert order_load(cart, (OrderLine("A", 3),), sizes).totes == 3
    assert pack_totes(cart, (OrderLine("C", 1),), sizes) is None
    assert pack_totes(cart, (OrderLine("A", 5),), sizes) is None  # five totes
    rng = random.Random(3)
    units_only = Cart(totes=50, tote_units=7, orders_may_span_totes=True)
    for _ in range(50):
        lines = tuple(OrderLine("A", rng.randint(1, 12)) for _ in range(rng.randint(1, 6)))
        packed = pack_totes(units_only, lines, {})
        total = sum(x.quantity for x in lines)
        assert packed is not None and len(packed) == -(-total // 7)
        assert all(sum(n for _, n in t) <= 7 for t in packed)
        for k, line in enumerate(lines):
            assert sum(n for t in packed for j, n in t if j == k) == line.quantity


def test_totes_hold_whole_units(hw: DistanceOracle) -> None:
    """An order of three 25 l units fills all three 40 l totes of a cart, so the 1 l order goes
    on another cart; each pick goes into a tote of its own; a 50 l unit is larger than a cart."""
    sizes = {"A": SkuSize(volume_l=25.0), "B": SkuSize(volume_l=1.0), "C": SkuSize(volume_l=50.0)}
    stock = {"A": {"A02-B1-010L": 9}, "B": {"A02-B1-011L": 9}, "C": {"A03-B1-001L": 9}}
    cart = Cart(totes=3, tote_volume_l=40.0, orders_may_span_totes=True)
    orders = (
        Order("bulky", (OrderLine("A", 3),)),
        Order("small", (OrderLine("B", 1),)),
        Order("huge", (OrderLine("C", 1),)),
    )
    wave = Wave(orders, cart, stock, sizes)
    result = plan(hw, wave, time_limit_s=0.3)
    check_plan(hw, wave, result)
    [bulky] = [b for b in result.batches if "bulky" in b.order_ids]
    assert bulky.order_ids == ("bulky",) and len(bulky.totes["bulky"]) == 3
    assert [p.quantity for p in bulky.picks] == [1, 1, 1]  # one unit into each tote
    assert len(result.batches) == 2
    assert [(u.order_id, u.reason) for u in result.unserved] == [
        ("huge", Unserved.LARGER_THAN_CART)
    ]


def test_an_order_larger_than_a_cart_is_split_over_carts_where_it_may_span_them(
    hw: DistanceOracle,
) -> None:
    """21 units on carts of 10: three parts, one line split by units; without the flag the
    order is reported. The parts share carts with small orders where there is room."""
    orders = (
        Order("big", (OrderLine("A", 12), OrderLine("B", 5), OrderLine("C", 4))),
        Order("s1", (OrderLine("D", 2),)),
        Order("s2", (OrderLine("E", 3),)),
    )
    stock = {
        "A": {"A03-B1-010L": 8, "A03-B1-020R": 8},
        "B": {"A05-B1-030L": 9},
        "C": {"A07-B1-005R": 9},
        "D": {"A07-B1-006R": 9},
        "E": {"A03-B1-011L": 9},
    }
    spanning = Cart(capacity_units=10, orders_may_span_carts=True)
    wave = Wave(orders, spanning, stock)
    result = plan(hw, wave, time_limit_s=0.5)
    check_plan(hw, wave, result)
    assert not result.unserved
    carrying = [b for b in result.batches if "big" in b.order_ids]
    assert len(carrying) == 3  # 21 units: two full parts and one of a unit
    # The 12 units of A fill one part and start the next.
    assert sum(p.quantity for b in carrying for p in b.picks if p.sku == "A") == 12
    assert sum(any(p.sku == "A" for p in b.picks) for b in carrying) == 2
    assert len(result.batches) == 3  # s1 and s2 (5 units) ride with the one-unit part

    whole = plan(hw, Wave(orders, Cart(capacity_units=10), stock), time_limit_s=0.3)
    assert {u.order_id for u in whole.unserved} == {"big"}
    assert {u.reason for u in whole.unserved} == {Unserved.LARGER_THAN_CART}


def test_a_split_order_is_late_once_by_its_last_cart(hw: DistanceOracle) -> None:
    """An order over three carts, due at the wave's start, with one picker: it is done when its
    last cart is, and late by that time only (not by each cart's end, summed)."""
    orders = (
        Order("big", tuple(OrderLine(s, 7) for s in "ABC"), pick_by_s=0.0),
        Order("small", (OrderLine("D", 1),), pick_by_s=1e6),
    )
    stock = {s: {f"A0{k + 2}-B1-0{k + 1}0L": 9} for k, s in enumerate("ABCD")}
    timing = Timing(pickers=1, pick_time_s=5.0, lateness_penalty_m_per_s=2.0)
    wave = Wave(orders, Cart(capacity_units=8, orders_may_span_carts=True), stock, timing=timing)
    result = plan(hw, wave, time_limit_s=0.3)
    check_plan(hw, wave, result)
    carrying = [b for b in result.batches if "big" in b.order_ids]
    assert len(carrying) == 3
    # The small order, not due for long, rides on one of them: every cart is walked before
    # the big order is done.
    done_s = sum(b.distance_mm / 1000 + 5.0 * len(b.picks) for b in result.batches)
    assert len(result.batches) == 3
    assert result.lateness_penalty_mm == round(done_s * 2.0 * 1000)


def test_a_split_order_is_dealt_into_parts_aisle_by_aisle(hw: DistanceOracle) -> None:
    """30 one-unit lines in three aisles, listed shuffled, on carts of 10: each part is one
    aisle's ten lines, so each cart walks one aisle."""
    rng = random.Random(5)
    aisles = ("A02", "A05", "A08")
    stock = {f"{a}-{k}": {f"{a}-B1-{k + 1:03d}L": 1} for a in aisles for k in range(10)}
    lines = [OrderLine(sku, 1) for sku in stock]
    rng.shuffle(lines)
    wave = Wave(
        (Order("big", tuple(lines)),), Cart(capacity_units=10, orders_may_span_carts=True), stock
    )
    result = plan(hw, wave, time_limit_s=0.3)
    check_plan(hw, wave, result)
    assert sorted({p.bin_id[:3] for p in b.picks} for b in result.batches) == [
        {"A02"},
        {"A05"},
        {"A08"},
    ]


def test_a_unit_too_large_for_any_cart_is_reported_and_the_rest_split(hw: DistanceOracle) -> None:
    sizes = {"A": SkuSize(weight_kg=3.0), "HEAVY": SkuSize(weight_kg=50.0)}
    wave = Wave(
        (Order("big", (OrderLine("A", 9), OrderLine("HEAVY", 1))),),
        Cart(capacity_weight_kg=12.0, orders_may_span_carts=True),
        {"A": {"A02-B1-010L": 20}, "HEAVY": {"A04-B1-010L": 2}},
        sizes,
    )
    result = plan(hw, wave, time_limit_s=0.3)
    check_plan(hw, wave, result)
    (unserved,) = result.unserved
    assert (unserved.line_index, unserved.reason) == (1, Unserved.LARGER_THAN_CART)
    assert "orders[0].lines[1]" in unserved.message
    assert sorted(sum(p.quantity for p in b.picks) for b in result.batches) == [1, 4, 4]


@pytest.mark.parametrize("seed", range(3))
def test_random_waves_with_orders_over_several_carts_keep_every_invariant(
    hw: DistanceOracle, seed: int
) -> None:
    """Orders of up to 40 units on carts of 12 units, 4 orders and 6 lines: the large ones
    are split, lines served once (in shares that add up) or reported, every cart fits."""
    rng = random.Random(seed)
    bins = list(hw.bin_ids)
    stock = {f"S{k}": {b: 30 for b in rng.sample(bins, rng.randint(1, 2))} for k in range(30)}
    orders = tuple(
        Order(f"o{i}", tuple(OrderLine(s, rng.randint(1, 8)) for s in rng.sample([*stock], 5)))
        for i in range(15)
    )
    cart = Cart(capacity_units=12, max_orders=4, max_lines=6, orders_may_span_carts=True)
    wave = Wave(orders, cart, stock)
    result = plan(hw, wave, time_limit_s=0.5, seed=seed)
    check_plan(hw, wave, result)
    assert Unserved.LARGER_THAN_CART not in {u.reason for u in result.unserved}
    assert max(Counter(o for b in result.batches for o in b.order_ids).values()) > 1


def test_orders_over_several_carts_need_orders_over_several_totes(hw: DistanceOracle) -> None:
    cart = Cart(totes=4, tote_units=5, orders_may_span_carts=True)
    wave = Wave((Order("o", (OrderLine("A", 1),)),), cart, {"A": {"A01-B1-001L": 1}})
    with pytest.raises(InvalidInput) as error:
        plan(hw, wave)
    assert [v.field for v in error.value.violations] == ["cart.orders_may_span_carts"]
    spanning = dataclasses.replace(wave, cart=dataclasses.replace(cart, orders_may_span_totes=True))
    check_plan(hw, spanning, plan(hw, spanning, time_limit_s=0.2))


def test_the_lateness_penalty_matches_a_plain_schedule() -> None:
    """Random batches of orders (some split into parts, some without a pick-by time) on
    random pickers: the penalty, and the penalty the local search weighs for a move or swap
    without making it, equal a plain earliest-due-date schedule's, each order late once by
    its last part."""
    from picking.batching import Batcher, Item
    from picking.model import Load

    def cost(locs: frozenset[int]) -> int:
        return 1000 * (10 + sum(locs)) if locs else 0

    def plain(items: list[Item], batches: list[list[int]], timing: Timing) -> int:
        rows = []
        for b, members in enumerate(batches):
            dues = [d for i in members if (d := items[i].due_s) is not None]
            walk = cost(frozenset().union(*(items[i].locs for i in members))) / 1000
            work = walk / timing.walk_speed_m_s + sum(items[i].picks for i in members) * 10.0
            rows.append((min(dues, default=math.inf), b, work))
        free, done_by = [0.0] * timing.pickers, dict[int, float]()
        for _, b, work in sorted(rows):
            free.sort()
            free[0] += work
            for i in batches[b]:
                key = items[i].order if items[i].order >= 0 else -1 - i
                done_by[key] = max(done_by.get(key, 0.0), free[0])
        late = 0.0
        for i, item in enumerate(items):
            key = item.order if item.order >= 0 else -1 - i
            if item.due_s is not None and key in done_by:
                late += max(0.0, done_by.pop(key) - item.due_s)
        return round(late * timing.lateness_penalty_m_per_s * 1000)

    rng = random.Random(11)
    for _ in range(40):
        n = rng.randint(2, 14)
        items = [
            Item(
                Load(units=1, orders=1),
                frozenset({rng.randrange(30)}),
                (0.0, 0.0),
                due_s=rng.choice([None, rng.uniform(0, 300)]),
                picks=rng.randint(1, 4),
                order=rng.choice([-1, -1, 0, 1]),
            )
            for _ in range(n)
        ]
        # Parts of one order share its pick-by time.
        dues = {k: rng.choice([None, rng.uniform(0, 300)]) for k in (0, 1)}
        items = [dataclasses.replace(x, due_s=dues[x.order]) if x.order >= 0 else x for x in items]
        timing = Timing(pickers=rng.randint(1, 3), walk_speed_m_s=rng.choice([0.5, 1.0]),
                        lateness_penalty_m_per_s=rng.choice([0.5, 2.0]))  # fmt: skip
        batcher = Batcher(items, Cart(capacity_units=100), cost, timing=timing)
        labels = [rng.randrange(4) for _ in items]
        batches = [[i for i in range(n) if labels[i] == b] for b in range(4)]
        batches = [b for b in batches if b]
        assert batcher.penalty_of(batches) == plain(items, batches, timing)
        state = batcher._rebuild(batches)
        i, j = rng.sample(range(n), 2)
        a, b = state.where[i], state.where[j]
        moves = [(i, b), (j, a)] if rng.random() < 0.5 else [(i, b)]
        after = [[x for x in m if x not in dict(moves)] for m in batches]
        for x, target in moves:
            after[target].append(x)
        weighed = batcher._penalty_after(state, moves)
        assert weighed == plain(items, [m for m in after if m], timing)
        assert state.copy_assignment() == [sorted(m) for m in batches]  # left as it was


def test_local_search_with_pick_by_times_leaves_no_improving_move_or_swap() -> None:
    """Exact (monotone) prices and pick-by times: moves and swaps are ruled out by bounds on
    the walk and on how far the penalty can fall; at the local optimum, no relocation or swap
    of one order makes walk plus penalty shorter (checked by trying every one)."""
    from picking.batching import Batcher, Item
    from picking.model import Load

    class Span:
        """A cart walks out to its farthest bin and back: more bins never cost less."""

        exact = True

        def __call__(self, locs: frozenset[int]) -> int:
            return 2000 * max(locs) + 5000 if locs else 0

    rng = random.Random(12)
    for _ in range(15):
        n = rng.randint(6, 14)
        items = [
            Item(
                Load(units=rng.randint(1, 4), orders=1),
                frozenset(rng.sample(range(60), rng.randint(1, 3))),
                (rng.uniform(0, 10), 0.0),
                due_s=rng.choice([None, rng.uniform(100, 900)]),
                picks=rng.randint(1, 3),
            )
            for _ in range(n)
        ]
        batcher = Batcher(items, Cart(capacity_units=9), Span(), timing=Timing(pickers=2))
        assert batcher.monotone and batcher.has_due
        state = batcher._rebuild([[i] for i in range(n)])
        batcher._local_search(state, math.inf)
        plan_ = state.copy_assignment()
        assert len(plan_) <= 6  # every cart is a candidate for every order
        best = batcher.objective(batcher._rebuild(plan_))

        units = [x.load.units for x in items]

        def fits(members: list[int], units: list[int] = units) -> bool:
            return sum(units[i] for i in members) <= 9

        for a, cart in enumerate(plan_):
            for i in cart:
                for b, other in enumerate(plan_):
                    if b == a:
                        continue
                    moved = [list(c) for c in plan_]
                    moved[a].remove(i)
                    moved[b].append(i)
                    if fits(moved[b]):
                        assert batcher.objective(batcher._rebuild([c for c in moved if c])) >= best
                    for j in other:
                        swapped = [list(c) for c in plan_]
                        swapped[a][swapped[a].index(i)] = j
                        swapped[b][swapped[b].index(j)] = i
                        if fits(swapped[a]) and fits(swapped[b]):
                            assert batcher.objective(batcher._rebuild(swapped)) >= best


def test_pick_by_times_cost_a_penalty_and_are_scheduled_first(hw: DistanceOracle) -> None:
    """With one picker, the order due soonest goes out in the first cart."""
    rng = random.Random(5)
    wave = random_wave(hw, rng, 12, Cart(capacity_units=8), lines=3)
    due = [Order(o.id, o.lines, pick_by_s=(60.0 if k == 7 else None)) for k, o in
           enumerate(wave.orders)]  # fmt: skip
    timed = Wave(tuple(due), wave.cart, wave.stock, timing=Timing(pickers=1))
    result = plan(hw, timed, time_limit_s=0.5)
    check_plan(hw, timed, result)
    assert plan(hw, wave, time_limit_s=0.2).lateness_penalty_mm == 0
    first = min(result.batches, key=lambda b: b.distance_mm if "o7" in b.order_ids else 1e18)
    assert "o7" in first.order_ids
    late_s = max(0.0, first.distance_mm / 1000 + 10.0 * len(first.picks) - 60.0)
    assert result.lateness_penalty_mm == round(late_s * 1000)


def test_same_seed_same_plan(hw: DistanceOracle) -> None:
    """With an iteration cap, the plan depends on the seed only."""
    wave = random_wave(hw, random.Random(6), 20, Cart(capacity_units=12))
    a = plan(hw, wave, time_limit_s=30, seed=3, max_iterations=15)
    b = plan(hw, wave, time_limit_s=30, seed=3, max_iterations=15)
    assert [x.order_ids for x in a.batches] == [x.order_ids for x in b.batches]
    assert [x.picks for x in a.batches] == [x.picks for x in b.batches]


def test_the_plan_beats_first_come_first_served_s_shape(hw: DistanceOracle) -> None:
    """On a Henn-Waescher style wave the plan walks clearly less than FCFS + S-shape."""
    rng = random.Random(8)
    bins = list(hw.bin_ids)
    stock = {f"S{k}": {b: 100} for k, b in enumerate(bins)}
    orders = tuple(
        Order(f"o{i}", tuple(OrderLine(f"S{k}", 1) for k in picks))
        for i in range(30)
        for picks in (rng.sample(range(len(bins)), rng.randint(5, 25)),)
    )
    wave = Wave(orders, Cart(capacity_units=45), stock)
    result = plan(hw, wave, time_limit_s=2, max_iterations=200)
    check_plan(hw, wave, result)
    assert result.distance_mm < 0.85 * result.baseline_distance_mm


def test_invalid_waves_name_every_field(hw: DistanceOracle) -> None:
    wave = Wave(
        (Order("", ()), Order("x", (OrderLine("", 0),)), Order("x", (OrderLine("A", 1),))),
        Cart(capacity_units=-1, tote_units=3),
        {},
        timing=Timing(
            pickers=0, walk_speed_m_s=float("nan"), lateness_penalty_m_per_s=float("inf")
        ),
        sizes={"A": SkuSize(float("nan"), 1.0)},
    )
    with pytest.raises(InvalidInput) as error:
        plan(hw, wave)
    fields = {v.field for v in error.value.violations}
    assert {
        "orders[0].id",
        "orders[0].lines",
        "orders[1].lines[0].sku",
        "orders[1].lines[0].quantity",
        "orders[2].id",
        "cart.capacity_units",
        "cart.totes",
        "timing.pickers",
        "timing.walk_speed_m_s",
        "timing.lateness_penalty_m_per_s",
        "sku_sizes['A']",
    } <= fields


def batcher_for(hw: DistanceOracle, wave: Wave, seed: int) -> Batcher:
    """The batcher :func:`picking.wave.plan` would start with on ``wave``, priced from DEPOT."""
    from picking.pricing import RouteCoster

    depot = hw.depot_location("DEPOT")
    lines, _, planned = _serve(hw, wave, _Stock(hw, wave.stock), depot)
    items = _items(hw, wave, planned, lines)
    return Batcher(items, wave.cart, RouteCoster(hw, depot, depot), seed=seed)


def test_a_rejected_kick_is_rolled_back_exactly(hw: DistanceOracle) -> None:
    """The search undoes a rejected kick from its journal: every batch as it was."""
    from picking.batching import _State

    batcher = batcher_for(hw, random_wave(hw, random.Random(11), 30, Cart(capacity_units=15)), 2)
    state = batcher._savings()

    def snapshot(s: _State) -> list[tuple[object, ...]]:
        return sorted(
            (sorted(m), s.loads[b], s.keys[b], s.costs[b], tuple(s.sums[b]))
            for b, m in enumerate(s.members)
            if m
        )

    before, where = snapshot(state), list(state.where)
    for _ in range(20):
        state.checkpoint()
        kicked = batcher._kick(state)
        batcher._local_search(state, float("inf"), [j for b in kicked for j in state.members[b]])
        state.rollback()
        assert snapshot(state) == before and state.where == where


def test_what_a_batch_remembers_follows_every_change(hw: DistanceOracle) -> None:
    """Prices without one order and centroids, remembered per batch, match a fresh computation
    after kicks, local search, eliminations, rollbacks and kept changes."""
    batcher = batcher_for(hw, random_wave(hw, random.Random(5), 30, Cart(capacity_units=20)), 4)
    items, coster = batcher.items, batcher.cost
    state = batcher._savings()
    rng = random.Random(6)
    for step in range(40):
        state.checkpoint()
        if step % 5 == 0:
            batcher._eliminate(state, float("inf"))
        kicked = batcher._kick(state)
        batcher._local_search(state, float("inf"), [j for b in kicked for j in state.members[b]])
        if rng.random() < 0.5:
            state.rollback()
        for b, members in enumerate(state.members):
            if not members:
                continue
            n = len(members)
            assert state.centroid(b) == (state.sums[b][0] / n, state.sums[b][1] / n)
            for i in members:
                locs = frozenset(x for j in members - {i} for x in items[j].locs)
                price = coster(locs) if n > 1 else 0
                assert state.without(b, i) == (batcher.price.key(locs), price)


def test_a_cart_too_many_is_packed_away_by_displacing_a_smaller_order() -> None:
    """Carts [6+3], [5], [5+1] of 10 units: the lone 5 fits nowhere, so it displaces the 1 from
    [5+1], which then fits on [6+3]; two full carts, where local search alone is stuck at three
    (every single move or swap leaves three carts)."""
    from picking.batching import Batcher, Item
    from picking.model import Load

    sizes = [6, 3, 5, 5, 1]
    items = [
        Item(Load(units=u, orders=1), frozenset({k}), (float(k), 0.0)) for k, u in enumerate(sizes)
    ]

    def cost(locs: frozenset[int]) -> int:
        return 100 + len(locs) if locs else 0  # a fixed walk per cart

    cart = Cart(capacity_units=10)
    stuck = Batcher(items, cart, cost, seed=1)
    state = stuck._rebuild([[0, 1], [2], [3, 4]])
    stuck._local_search(state, float("inf"))
    assert sum(1 for m in state.members if m) == 3

    result = Batcher(items, cart, cost, seed=1).solve(
        deadline=float("inf"), max_iterations=0, initial=[[0, 1], [2], [3, 4]]
    )
    assert sorted(sorted(b) for b in result.batches) == [[0, 1, 4], [2, 3]]
    assert result.distance_mm == 2 * 100 + 5


def test_an_order_takes_a_full_carts_place_by_ejecting_one_to_a_cart_with_room() -> None:
    """Carts of 10 units, each walking to its farthest location and back: A = [i 4u @100,
    a 6u @10], B = [b 5u @100, j 5u @50], S = [s 3u @6], 412 in all. Moving i to B's far end
    saves A's walk, but B is full and A has no room for j: no move or swap shortens the plan.
    Ejection puts i in j's place and j on S: [a], [b, i], [s, j], 320."""
    from picking.batching import Batcher, Item
    from picking.model import Load

    sizes, spots = [4, 6, 5, 5, 3], [100, 10, 100, 50, 6]  # i, a, b, j, s
    items = [
        Item(Load(units=u, orders=1), frozenset({x}), (float(x), 0.0))
        for u, x in zip(sizes, spots, strict=True)
    ]

    class FarthestAndBack:
        """Exact and fast, as the one-block DP: a walk never shortens with more locations."""

        exact = fast = True

        def __call__(self, locs: frozenset[int]) -> int:
            return 2 * max(locs, default=0)

    start = [[0, 1], [2, 3], [4]]
    cart = Cart(capacity_units=10)
    without = Batcher(items, cart, FarthestAndBack(), seed=1)
    without.ejection = False
    state = without._rebuild(start)
    without._local_search(state, float("inf"))
    assert sorted(sorted(m) for m in state.members if m) == start
    assert state.distance == 412

    ejecting = Batcher(items, cart, FarthestAndBack(), seed=1)
    assert ejecting.ejection
    state = ejecting._rebuild(start)
    ejecting._local_search(state, float("inf"))
    assert sorted(sorted(m) for m in state.members if m) == [[0, 2], [1], [3, 4]]
    assert state.distance == 320
    assert all(fits(cart, load) for load in state.loads)


def test_prices_beyond_the_exact_dp_are_routes_close_to_the_shortest() -> None:
    """With more cross aisles than batches are priced exactly for, a batch's price is a quick
    search (one trajectory): never below the shortest route (the ladder DP), and close to it."""
    from picking.pricing import RouteCoster
    from routing.ladder import route_length

    oracle = DistanceOracle(henn_waescher(aisles=6, cross_aisles=5))
    rect = oracle.rectangular
    assert rect is not None
    depot = oracle.depot_location("DEPOT")
    point = (rect.depot_cross[depot - oracle.n_bins], rect.depot_x_mm[depot - oracle.n_bins])
    coster = RouteCoster(oracle, depot, depot)
    assert not coster.exact
    rng = random.Random(9)
    gaps = []
    for _ in range(10):
        locs = sorted(rng.sample(range(oracle.n_bins), rng.randint(12, 16)))
        solved = route_length(
            rect.ladder,
            [rect.bin_aisle[x] for x in locs],
            [rect.bin_y_mm[x] for x in locs],
            point,
            point,
        )
        assert solved is not None
        price = coster(locs)
        assert price >= solved[0]
        gaps.append(price / solved[0] - 1)
    assert sum(gaps) / len(gaps) < 0.03


@pytest.mark.parametrize("layout", ["one block", "two blocks", "graph"])
def test_prices_by_key_are_the_prices_of_the_bins(layout: str) -> None:
    """Batching keys batches by integers (bit masks on one block, a bit per bin elsewhere):
    the key of a union is the OR of the keys, and a key's price is its bins' route."""
    from picking.pricing import KeyedPrices, RouteCoster

    oracle = DistanceOracle(
        henn_waescher(aisles=6)
        if layout == "one block"
        else henn_waescher(aisles=6, cross_aisles=3)
        if layout == "two blocks"
        else random_graph_layout(random.Random(4))
    )
    depot = oracle.depot_location(oracle.depot_ids[0])
    coster = RouteCoster(oracle, depot, depot)
    keyed = coster.keyed()
    assert keyed is coster.keyed()  # one cache for every batcher of the wave
    assert (type(keyed) is not KeyedPrices) == (layout == "one block")
    rng = random.Random(3)
    for _ in range(40):
        a = frozenset(rng.sample(range(oracle.n_bins), rng.randint(0, 8)))
        b = frozenset(rng.sample(range(oracle.n_bins), rng.randint(1, 8)))
        assert keyed.key(a) | keyed.key(b) == keyed.key(a | b)
        assert keyed(keyed.key(a | b)) == coster(a | b)
    plain = KeyedPrices(lambda locs: sum(locs))
    assert plain(plain.key([5, 7]) | plain.key([7, 9])) == 21


def test_the_units_only_fit_check_agrees_with_the_full_one() -> None:
    """Batcher._fits (one integer sum for carts limiting units only) answers as model.fits."""
    from picking.batching import Batcher, Item
    from picking.model import Load

    rng = random.Random(5)
    loads = [Load(units=rng.randint(0, 40), orders=1, lines=rng.randint(1, 5)) for _ in range(60)]
    items = [Item(load, frozenset({k}), (0.0, 0.0)) for k, load in enumerate(loads)]
    for cart in (Cart(capacity_units=50), Cart(capacity_units=50, max_lines=6)):
        batcher = Batcher(items, cart, lambda locs: len(locs))
        for _ in range(500):
            load, add, remove = rng.sample(loads, 3)
            batch = load + remove  # ``remove`` is on the batch
            assert batcher._fits(batch, add, remove) == fits(cart, batch + add - remove)
            assert batcher._fits(batch, add) == fits(cart, batch + add)


def test_orders_weigh_fewer_carts_where_carts_hold_many_orders() -> None:
    """With fast prices an order weighs the nearest carts up to a budget of swap partners;
    with slow ones, the few nearest always."""
    from picking.batching import (
        CANDIDATE_BATCHES,
        CANDIDATE_BATCHES_SLOW_PRICES,
        SWAP_PARTNERS,
        Batcher,
        Item,
    )
    from picking.model import Load
    from picking.pricing import RouteCoster

    class Fast:
        exact = fast = True

        def __call__(self, locs: frozenset[int]) -> int:
            return 100 + len(locs) if locs else 0

    items = [Item(Load(units=1, orders=1), frozenset({k}), (float(k), 0.0)) for k in range(100)]
    weighed = {}
    for capacity in (4, 10, 50):
        batcher = Batcher(items, Cart(capacity_units=capacity), Fast())
        weighed[capacity] = batcher.candidate_batches
        state = batcher._rebuild([[k] for k in range(100)])
        near = batcher._candidates(state, 50)
        assert len(near) == batcher.candidate_batches
        # The nearest batches by centroid: orders 50 +- 1, 2, ... (ties either way).
        assert max(abs(state.centroid(b)[0] - 50) for b in near) <= (len(near) + 1) // 2
    assert weighed[4] == CANDIDATE_BATCHES  # 4 orders a cart
    assert weighed[10] == round(SWAP_PARTNERS / 10)
    assert weighed[50] == CANDIDATE_BATCHES_SLOW_PRICES  # the floor
    # One block prices fast, and so do two and three (many batches at once); four slowly (a
    # route search).
    for cross_aisles, weighs, exact in (
        (2, CANDIDATE_BATCHES, True),
        (3, CANDIDATE_BATCHES, True),
        (4, CANDIDATE_BATCHES, True),
        (5, CANDIDATE_BATCHES_SLOW_PRICES, False),
    ):
        oracle = DistanceOracle(henn_waescher(cross_aisles=cross_aisles))
        depot = oracle.depot_location("DEPOT")
        coster = RouteCoster(oracle, depot, depot)
        assert coster.exact == exact
        batcher = Batcher(items, Cart(capacity_units=4), coster)
        assert batcher.candidate_batches == weighs


def test_doing_without_a_cart_changes_nothing_past_the_deadline() -> None:
    """Past its deadline the attempt is rolled back: every order stays where it was."""
    from picking.batching import Batcher, Item
    from picking.model import Load

    items = [
        Item(Load(units=u, orders=1), frozenset({k}), (float(k), 0.0))
        for k, u in enumerate([6, 3, 5, 5, 1])
    ]
    batcher = Batcher(items, Cart(capacity_units=10), lambda locs: 100 + len(locs) if locs else 0)
    state = batcher._rebuild([[0, 1], [2], [3, 4]])
    assert not batcher._eliminate(state, deadline=0.0)
    assert sorted(sorted(m) for m in state.members if m) == [[0, 1], [2], [3, 4]]
    assert batcher._eliminate(state, deadline=float("inf"))
    assert sorted(sorted(m) for m in state.members if m) == [[0, 1, 4], [2, 3]]


def random_storage_wave(oracle: DistanceOracle, seed: int, n: int, capacity: int) -> Wave:
    """Orders of 5-25 single-unit lines, every SKU in one bin, on a units-only cart."""
    rng = random.Random(seed)
    bins = list(oracle.bin_ids)
    orders = tuple(
        Order(f"o{i}", tuple(OrderLine(b, 1) for b in rng.sample(bins, rng.randint(5, 25))))
        for i in range(n)
    )
    return Wave(orders, Cart(capacity_units=capacity), {b: {b: 100} for b in bins})


@pytest.fixture
def offered(monkeypatch: pytest.MonkeyPatch) -> list[list[list[int]] | None]:
    """The plans the column search's process offers to :func:`plan`, in order."""
    import picking.wave as wave_module

    plans: list[list[list[int]] | None] = []
    shorter = wave_module._shorter

    def spy(batches: list[list[int]], other: list[list[int]] | None, *args: object) -> object:
        plans.append(other)
        return shorter(batches, other, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(wave_module, "_shorter", spy)
    return plans


@pytest.mark.parametrize("capacity", [75, 30])  # the local search alone; set partitioning
def test_a_wave_planned_on_two_processes_takes_the_shorter_plan(
    hw: DistanceOracle, offered: list[list[list[int]] | None], capacity: int
) -> None:
    """The column search runs in a forked process and its plan comes back in shared memory."""
    wave = random_storage_wave(hw, 3, 30, capacity)
    result = plan(hw, wave, time_limit_s=2.0, seed=1, processes=2)
    check_plan(hw, wave, result)
    assert len(offered) == 1 and offered[0] is not None
    assert sorted(i for cart in offered[0] for i in cart) == list(range(30))
    # The plan is at most as long as the helper's, priced the same way.
    one_process = plan(hw, wave, time_limit_s=2.0, seed=1, max_iterations=200)
    assert result.distance_mm <= one_process.distance_mm * 1.05


@pytest.mark.parametrize("orders", [30, COLUMN_SEARCH_ANY_CART_MAX_ORDERS + 10])
def test_large_carts_get_a_second_local_search_on_larger_waves(
    hw: DistanceOracle,
    monkeypatch: pytest.MonkeyPatch,
    offered: list[list[list[int]] | None],
    orders: int,
) -> None:
    """Ten orders a cart: the forked process runs the local search, not the column search,
    unless the wave is small."""
    from picking import columns

    def unwanted(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the column search ran")

    monkeypatch.setattr(columns, "search", unwanted)
    wave = random_storage_wave(hw, 3, orders, 150)  # orders of 5-25 units: 10 a cart
    plan_in_time(hw, wave)
    if orders <= COLUMN_SEARCH_ANY_CART_MAX_ORDERS:
        assert offered == [None]  # the column search ran, and failed
        return
    assert len(offered) == 1 and offered[0] is not None
    assert sorted(i for cart in offered[0] for i in cart) == list(range(orders))
    units = sum(len(o.lines) for o in wave.orders)
    assert len(offered[0]) <= -(-units // 150) + 1


def plan_in_time(oracle: DistanceOracle, wave: Wave) -> WavePlan:
    """A valid plan on two processes within its second, whatever the column search does."""
    started = time.monotonic()
    result = plan(oracle, wave, time_limit_s=1.0, seed=1, processes=2)
    assert time.monotonic() - started < 1.0 + 0.5
    check_plan(oracle, wave, result)
    return result


@pytest.mark.parametrize("failure", ["raises", "drops an order"])
def test_a_failing_column_search_leaves_the_plan_whole(
    hw: DistanceOracle, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    from picking import columns

    def broken(batcher: Batcher, *args: object, publish: Callable[[BatchPlan], None]) -> None:
        if failure == "raises":
            raise RuntimeError("the column search failed")
        n = len(batcher.items)
        publish(
            dataclasses.replace(
                batcher.solve(deadline=0.0, max_iterations=0),
                batches=[[i] for i in range(1, n)],  # order 0 missing, and much shorter alone
                distance_mm=0,
            )
        )

    monkeypatch.setattr(columns, "search", broken)
    wave = random_storage_wave(hw, 4, 20, 60)
    result = plan_in_time(hw, wave)
    assert sum(len(b.order_ids) for b in result.batches) == 20


def test_a_late_column_search_still_hands_over_its_best_plan(
    hw: DistanceOracle, monkeypatch: pytest.MonkeyPatch, offered: list[list[list[int]] | None]
) -> None:
    """A helper past its deadline is stopped, and the plan it published last is offered."""
    from picking import columns

    def late(batcher: Batcher, *args: object, publish: Callable[[BatchPlan], None]) -> None:
        alone = batcher.solve(deadline=0.0, max_iterations=0)
        publish(dataclasses.replace(alone, batches=[[i] for i in range(len(batcher.items))]))
        publish(dataclasses.replace(alone, batches=[list(range(len(batcher.items)))]))
        time.sleep(60)  # far past the deadline: stopped

    monkeypatch.setattr(columns, "search", late)
    wave = random_storage_wave(hw, 4, 6, 1000)
    plan_in_time(hw, wave)
    assert offered == [[list(range(6))]]  # the last plan published, all orders on one cart


@pytest.fixture
def two_blocks() -> DistanceOracle:
    return DistanceOracle(henn_waescher(cross_aisles=3))


@pytest.fixture
def twin_plans(monkeypatch: pytest.MonkeyPatch) -> list[WavePlan | None]:
    """The plans the twin process (:class:`picking.wave._Twin`) hands back, in order."""
    import picking.wave as wave_module

    plans: list[WavePlan | None] = []
    result = wave_module._Twin.result

    def spy(self: object, deadline: float) -> WavePlan | None:
        got = result(self, deadline)  # type: ignore[arg-type]
        plans.append(got)
        return got

    monkeypatch.setattr(wave_module._Twin, "result", spy)
    return plans


def test_where_the_column_search_does_not_apply_a_twin_plans_the_wave_again(
    two_blocks: DistanceOracle,
    monkeypatch: pytest.MonkeyPatch,
    twin_plans: list[WavePlan | None],
) -> None:
    """Two blocks: the second process plans the whole wave with another seed, and of the two
    plans, both valid, the one that walks less comes back."""
    import picking.wave as wave_module

    mine: list[WavePlan] = []
    here = wave_module._plan

    def spy(*args: object) -> WavePlan:
        mine.append(here(*args))  # type: ignore[arg-type]
        return mine[-1]

    monkeypatch.setattr(wave_module, "_plan", spy)
    for seed in (6, 8):
        wave = random_storage_wave(two_blocks, seed, 30, 60)
        result = plan_in_time(two_blocks, wave)
        twin = twin_plans[-1]
        assert twin is not None
        check_plan(two_blocks, wave, twin)
        shorter = min((mine[-1], twin), key=lambda p: p.distance_mm)
        assert result.distance_mm == shorter.distance_mm
        assert [b.order_ids for b in result.batches] == [b.order_ids for b in shorter.batches]
    assert len(twin_plans) == len(mine) == 2


@pytest.mark.parametrize("failure", ["raises", "is late"])
def test_a_failing_twin_leaves_the_plan_in_time(
    two_blocks: DistanceOracle,
    monkeypatch: pytest.MonkeyPatch,
    twin_plans: list[WavePlan | None],
    failure: str,
) -> None:
    import picking.wave as wave_module

    original = wave_module.plan

    def twin(*args: object, seed: int = 0, **kwargs: object) -> WavePlan:
        if seed == 3:  # the twin of seed 1
            if failure == "raises":
                raise RuntimeError("the twin failed")
            time.sleep(60)  # far past the deadline: stopped
        return original(*args, seed=seed, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(wave_module, "plan", twin)
    wave = random_storage_wave(two_blocks, 7, 20, 60)
    started = time.monotonic()
    result = original(two_blocks, wave, time_limit_s=1.0, seed=1, processes=2)
    assert time.monotonic() - started < 1.0 + 0.5
    check_plan(two_blocks, wave, result)
    assert twin_plans == [None]


def test_no_column_search_where_the_sweep_cannot_price(hw: DistanceOracle) -> None:
    """Two blocks, a cart with an order limit, pick-by times: no helper process starts."""
    from picking.pricing import RouteCoster
    from picking.wave import _column_search

    def helper(oracle: DistanceOracle, wave: Wave) -> object:
        start = oracle.depot_location("DEPOT")
        lines, _, planned = _serve(oracle, wave, _Stock(oracle, wave.stock), start)
        items = _items(oracle, wave, planned, lines)
        coster = RouteCoster(oracle, start, start)
        found = _column_search(oracle, wave, items, coster, 0, time.monotonic() + 0.5)
        if found is not None:
            found.result(time.monotonic())
        return found

    wave = random_storage_wave(hw, 5, 12, 60)
    assert helper(hw, wave) is not None
    two_blocks = DistanceOracle(henn_waescher(cross_aisles=3))
    assert helper(two_blocks, random_storage_wave(two_blocks, 5, 12, 60)) is None
    limited = dataclasses.replace(wave, cart=Cart(capacity_units=60, max_orders=3))
    assert helper(hw, limited) is None
    due = dataclasses.replace(
        wave, orders=tuple(dataclasses.replace(o, pick_by_s=600.0) for o in wave.orders)
    )
    assert helper(hw, due) is None
