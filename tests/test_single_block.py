"""Tests for routing.single_block: one-block walk lengths against brute force and the ladder DP."""

from __future__ import annotations

import random

import pytest

from routing.errors import InvalidInput
from routing.ladder import Ladder, route_length
from routing.single_block import SingleBlockPricer
from tests.test_ladder import Reference

Instance = tuple[Ladder, list[int], list[int], tuple[int, int], tuple[int, int]]


def one_block(
    rng: random.Random, max_aisles: int, points: int, on_junctions: float = 0.1
) -> Instance:
    """A random one-block ladder with points inside aisles and (a share ``on_junctions``) on
    junctions, and odd depots."""
    aisle_x = tuple(sorted(rng.sample(range(0, 60_000, 1_000), rng.randint(1, max_aisles))))
    length = rng.choice((4_000, 10_000, 45_000))
    point_aisle = [rng.randrange(len(aisle_x)) for _ in range(points)]
    point_y = [
        rng.choice((0, length)) if rng.random() < on_junctions else rng.randint(1, length - 1)
        for _ in range(points)
    ]

    def depot() -> tuple[int, int]:
        x = rng.choice(aisle_x) if rng.random() < 0.4 else rng.randint(-5_000, 65_000)
        return (rng.randrange(2), x)

    start = depot()
    end = start if rng.random() < 0.5 else depot()
    return Ladder(aisle_x, (0, length)), point_aisle, point_y, start, end


def test_small_walks_match_brute_force() -> None:
    """Every length equals the best visiting order over shortest paths (networkx)."""
    rng = random.Random(11)
    for _ in range(300):
        ladder, point_aisle, point_y, start, end = one_block(rng, 6, 12)
        pricer = SingleBlockPricer(ladder, point_aisle, point_y, start, end)
        chosen = rng.sample(range(12), rng.randint(0, 6))
        ref = Reference(
            ladder, [point_aisle[p] for p in chosen], [point_y[p] for p in chosen], start, end
        )
        assert pricer.length(chosen) == ref.brute_force_mm()


def test_large_walks_match_the_ladder_dp() -> None:
    """Up to 40 points on up to 14 aisles: the same length as the general exact DP."""
    rng = random.Random(12)
    for _ in range(400):
        ladder, point_aisle, point_y, start, end = one_block(rng, 14, 60)
        pricer = SingleBlockPricer(ladder, point_aisle, point_y, start, end)
        chosen = rng.sample(range(60), rng.randint(1, 40))
        solved = route_length(
            ladder, [point_aisle[p] for p in chosen], [point_y[p] for p in chosen], start, end
        )
        assert solved is not None and solved[1]
        assert pricer.length(chosen) == solved[0]


def test_masks_price_as_the_points_do() -> None:
    """Batches priced from their bit masks (as batching keys them) have the lengths of the
    general exact DP; a mask of a union is the OR of the masks. Each pricer prices many
    batches, so what it remembers per aisle mask and first column is reused."""
    rng = random.Random(13)
    for _ in range(60):
        ladder, point_aisle, point_y, start, end = one_block(rng, 12, 50, on_junctions=0.0)
        if rng.random() < 0.5:  # few depths, many points sharing them (and both faces)
            point_y = [1 + y % 3 for y in point_y]
        pricer = SingleBlockPricer(ladder, point_aisle, point_y, start, end)
        assert pricer.masks
        for _ in range(10):
            chosen = rng.sample(range(50), rng.randint(0, 30))
            half = len(chosen) // 2
            mask = pricer.mask(chosen)
            assert mask == pricer.mask(chosen[:half]) | pricer.mask(chosen[half:])
            solved = route_length(
                ladder, [point_aisle[p] for p in chosen], [point_y[p] for p in chosen], start, end
            )
            expected = pricer.empty_length if not chosen else solved[0] if solved else None
            assert pricer.mask_length(mask) == expected == pricer.length(chosen)


def test_no_masks_where_a_point_is_on_a_cross_aisle() -> None:
    ladder = Ladder((0, 5_000), (0, 10_000))
    pricer = SingleBlockPricer(ladder, [0, 1], [4_000, 10_000], (0, 0), (0, 0))
    assert not pricer.masks
    with pytest.raises(ValueError, match="inside the block"):
        pricer.mask([0])


def test_repeated_points_and_order_do_not_matter() -> None:
    """A point named twice, or the points in another order, gives the same length."""
    ladder = Ladder((0, 5_000, 10_000), (0, 20_000))
    pricer = SingleBlockPricer(ladder, [0, 1, 2, 1], [3_000, 15_000, 7_000, 19_000], (0, 0), (0, 0))
    assert pricer.length([0, 1, 2, 3]) == pricer.length([3, 2, 1, 0, 0, 2])


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ((0, 2_000), (0, 2_000), 0),
        ((0, 2_000), (0, 9_000), 7_000),
        # Round the block through the aisle at x = 5,000: 3,000 + 20,000 + 1,000.
        ((0, 2_000), (1, 6_000), 24_000),
    ],
)
def test_no_points_is_the_walk_between_depots(
    start: tuple[int, int], end: tuple[int, int], expected: int
) -> None:
    ladder = Ladder((0, 5_000, 10_000), (0, 20_000))
    pricer = SingleBlockPricer(ladder, [0], [1_000], start, end)
    assert pricer.length([]) == pricer.empty_length == expected


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ladder": Ladder((0, 5_000), (0, 10_000, 20_000))}, "ladder.cross_y_mm"),
        ({"point_aisle": [0, 2]}, "point_aisle[1]"),
        ({"point_y_mm": [1_000, 30_000]}, "point_y_mm[1]"),
        ({"point_y_mm": [1_000]}, "point_y_mm"),
        ({"start": (2, 0)}, "start"),
        ({"end": (-1, 0)}, "end"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "ladder": Ladder((0, 5_000), (0, 20_000)),
        "point_aisle": [0, 1],
        "point_y_mm": [1_000, 2_000],
        "start": (0, 0),
        "end": (0, 0),
    }
    args.update(kwargs)
    with pytest.raises(InvalidInput, match=field.replace("[", r"\[").replace("]", r"\]")):
        SingleBlockPricer(**args)  # type: ignore[arg-type]
