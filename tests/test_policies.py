"""Tests for routing.policies: baseline routing policies on single- and multi-block ladders."""

from __future__ import annotations

import random

import pytest

from routing.errors import InvalidInput
from routing.ladder import Ladder, LadderRoute, shortest_route
from routing.policies import Policy, policy_route
from tests.test_ladder import Reference, random_instance

ONE_BLOCK = Ladder((0, 5_000, 10_000, 15_000), (0, 10_000))
PICKS_AISLE = [0, 1, 3]
PICKS_Y = [2_000, 5_000, 8_000]


def test_s_shape_single_block_hand_computed() -> None:
    """S-shape: up aisle 0, down aisle 1, return visit into aisle 3 (odd count), back home."""
    route = policy_route(ONE_BLOCK, PICKS_AISLE, PICKS_Y, (0, 0), (0, 0), Policy.S_SHAPE)
    # 10 000 up + 5 000 across the back + 10 000 down + 10 000 across the front
    # + 2 * 8 000 into aisle 3 + 15 000 home.
    assert route == LadderRoute(66_000, (0, 1, 2))


def test_return_single_block_hand_computed() -> None:
    """Return: every aisle entered and left from the front, left to right."""
    route = policy_route(ONE_BLOCK, PICKS_AISLE, PICKS_Y, (0, 0), (0, 0), Policy.RETURN)
    assert route == LadderRoute(2 * 15_000 + 2 * (2_000 + 5_000 + 8_000), (0, 1, 2))


def test_midpoint_single_block_hand_computed() -> None:
    """Midpoint: outer aisles traversed, the middle pick (at the midpoint) taken from the front."""
    route = policy_route(ONE_BLOCK, PICKS_AISLE, PICKS_Y, (0, 0), (0, 0), Policy.MIDPOINT)
    assert route == LadderRoute(10_000 + 15_000 + 10_000 + 10_000 + 10_000 + 5_000, (0, 2, 1))


def test_combined_single_block_reaches_optimum_here() -> None:
    """Combined picks traverse/return per aisle and finds the optimum on this small case."""
    route = policy_route(ONE_BLOCK, PICKS_AISLE, PICKS_Y, (0, 0), (0, 0), Policy.COMBINED)
    best = shortest_route(ONE_BLOCK, PICKS_AISLE, PICKS_Y, (0, 0), (0, 0))
    assert best is not None
    assert route.length_mm == best.length_mm == 54_000


@pytest.mark.parametrize("policy", list(Policy))
def test_policies_never_beat_the_optimum(policy: Policy) -> None:
    """Every policy walks a permutation no shorter than the exact optimum, on random instances."""
    rng = random.Random(list(Policy).index(policy))
    for _ in range(120):
        ladder, pick_aisle, pick_y, start, end = random_instance(rng, max_picks=8)
        route = policy_route(ladder, pick_aisle, pick_y, start, end, policy)
        best = shortest_route(ladder, pick_aisle, pick_y, start, end)
        assert best is not None
        assert sorted(route.order) == list(range(len(pick_aisle)))
        assert route.length_mm >= best.length_mm
        ref = Reference(ladder, pick_aisle, pick_y, start, end)
        assert route.length_mm >= ref.walk_mm(route.order)


@pytest.mark.parametrize("policy", list(Policy))
def test_policies_on_larger_multi_block_instances(policy: Policy) -> None:
    """On 20-aisle, 4-cross-aisle instances every policy visits every pick and is >= optimum."""
    rng = random.Random(17)
    ladder = Ladder(tuple(range(0, 60_000, 3_000)), (0, 10_000, 20_000, 30_000))
    for _ in range(5):
        pick_aisle = [rng.randrange(20) for _ in range(40)]
        pick_y = [rng.randint(0, 30_000) for _ in range(40)]
        start = (rng.randrange(4), rng.randint(0, 57_000))
        route = policy_route(ladder, pick_aisle, pick_y, start, start, policy)
        best = shortest_route(ladder, pick_aisle, pick_y, start, start)
        assert best is not None
        assert sorted(route.order) == list(range(40))
        assert route.length_mm >= best.length_mm


@pytest.mark.parametrize("policy", list(Policy))
def test_policies_without_picks_walk_straight_to_end(policy: Policy) -> None:
    """With no picks every policy walks the shortest way from start to end."""
    ladder = Ladder((0, 4_000), (0, 10_000, 20_000))
    route = policy_route(ladder, [], [], (0, 1_000), (2, 3_000), policy)
    assert route == LadderRoute(24_000, ())


def test_policy_validation_names_argument() -> None:
    """Bad pick data raises InvalidInput naming the argument."""
    with pytest.raises(InvalidInput, match=r"pick_aisle\[0\]"):
        policy_route(ONE_BLOCK, [9], [0], (0, 0), (0, 0), Policy.S_SHAPE)
    with pytest.raises(ValueError, match="policy"):
        policy_route(ONE_BLOCK, [0], [0], (0, 0), (0, 0), "s_shape")  # type: ignore[arg-type]
