"""The picking benchmark's best-known plans: a kept plan counts only once it checks out.

The benchmark compares the planner's median run with the shortest plan known of each wave,
kept between runs in ``benchmarks/results/picking_best_known.json``. A wrong kept plan would
make the planner look worse (or, with a wrong length, better) than it is, so every kept plan
is checked again on the wave: each order on exactly one cart, carts within capacity, lengths
priced again.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from benchmarks.picking_bench import (
    KnownPlan,
    best_plan,
    check_plan,
    fingerprint,
    load_known,
    muter_oencan,
    random_storage_wave,
    save_known,
)
from picking.model import Wave
from picking.wave import plan
from routing.oracle import DistanceOracle


@pytest.fixture(scope="module")
def oracle() -> DistanceOracle:
    return DistanceOracle(muter_oencan())


@pytest.fixture(scope="module")
def wave(oracle: DistanceOracle) -> Wave:
    return random_storage_wave(oracle, random.Random(5), 14, (2, 10), 24)


@pytest.fixture(scope="module")
def planned(oracle: DistanceOracle, wave: Wave) -> KnownPlan:
    """The planner's plan of ``wave``, as the benchmark keeps it."""
    result = plan(oracle, wave, time_limit_s=0.5, seed=1)
    carts = tuple(b.order_ids for b in result.batches)
    return KnownPlan(fingerprint(wave), result.distance_mm, carts, "planner")


def test_a_plan_checks_out_at_the_length_the_planner_reports(
    oracle: DistanceOracle, wave: Wave, planned: KnownPlan
) -> None:
    assert check_plan(oracle, wave, planned.carts) == planned.distance_mm


@pytest.mark.parametrize("fault", ["missing", "twice", "over capacity"])
def test_a_plan_that_is_not_a_partition_within_capacity_is_refused(
    oracle: DistanceOracle, wave: Wave, planned: KnownPlan, fault: str
) -> None:
    carts = [list(cart) for cart in planned.carts]
    if fault == "missing":
        carts[0] = carts[0][1:]
    elif fault == "twice":
        carts[1].append(carts[0][0])
    else:  # every order on one cart: more units than a cart holds
        carts = [[o for cart in carts for o in cart]]
    with pytest.raises(AssertionError):
        check_plan(oracle, wave, carts)


def test_the_shortest_plan_of_the_wave_wins(
    oracle: DistanceOracle, wave: Wave, planned: KnownPlan
) -> None:
    alone = tuple((o.id,) for o in wave.orders)  # one order a cart: valid, and longer
    length = check_plan(oracle, wave, alone)
    assert length > planned.distance_mm
    longer = KnownPlan(planned.wave, length, alone, "one order a cart")
    assert best_plan(oracle, wave, [longer, planned]) == planned
    assert best_plan(oracle, wave, [planned, longer]) == planned
    # Of equal ones the first stays (the benchmark lists the kept plan first).
    same = dataclasses.replace(planned, found_by="an equal plan")
    assert best_plan(oracle, wave, [planned, same]).found_by == planned.found_by
    assert best_plan(oracle, wave, [same, planned]).found_by == "an equal plan"
    # A plan of another wave does not count, however short it claims to be.
    other = dataclasses.replace(planned, wave="0" * 16, distance_mm=1, found_by="other wave")
    assert best_plan(oracle, wave, [longer, other]) == longer


def test_a_plan_kept_at_a_length_it_does_not_have_is_refused(
    oracle: DistanceOracle, wave: Wave, planned: KnownPlan
) -> None:
    wrong = dataclasses.replace(planned, distance_mm=planned.distance_mm - 100, found_by="wrong")
    with pytest.raises(AssertionError, match="wrong"):
        best_plan(oracle, wave, [planned, wrong])


def test_a_plan_claimed_longer_counts_at_its_shortest_routes(
    oracle: DistanceOracle, wave: Wave, planned: KnownPlan
) -> None:
    """A planner run whose final route for a cart was not proven shortest (out of time)
    reports more than its carts' shortest routes: it counts at those, and is kept so."""
    slow = dataclasses.replace(planned, distance_mm=planned.distance_mm + 100, found_by="slow")
    best = best_plan(oracle, wave, [slow])
    assert best.found_by == "slow" and best.distance_mm == planned.distance_mm


def test_kept_plans_read_back_as_written(tmp_path: Path) -> None:
    plans = {
        "MO 100 c48": KnownPlan("abc", 1_553_800, (("o1", "o2"), ("o3",)), "a search"),
        "HW 100 c30": KnownPlan("def", 9_000, (("o1",),), "planner, 10 s, seed 4"),
    }
    path = tmp_path / "known.json"
    save_known(path, plans)
    assert load_known(path) == plans
    assert load_known(tmp_path / "missing.json") == {}
