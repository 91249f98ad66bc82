"""The nearest FC with stock: how most order systems allocate today, as the yardstick.

Orders are taken one at a time in the order given. Each ships whole from the nearest FC that
holds all its lines and has capacity left; when none does and the order may split, each line
goes to the nearest FC that can add it to what it already ships of the order (within the
packages limit); when it may not split, the nearest FC that can ship the most of its lines
ships them. Every package takes the cheapest service that meets the order's promise and still
has capacity. Stock and capacity are used up as orders go.
"""

from __future__ import annotations

import numpy as np

from allocation.patterns import Package, Pattern
from allocation.quotes import Compiled, Group


class _Left:
    """Stock and capacity not yet used up."""

    def __init__(self, compiled: Compiled) -> None:
        problem = compiled.problem
        big = np.iinfo(np.int64).max // 4
        self.stock = compiled.stock.copy()
        self.packages = np.array([fc.capacity_packages or big for fc in problem.fcs])
        self.units = np.array([fc.capacity_units or big for fc in problem.fcs])
        self.service = np.array(
            [
                [fc.service_capacity.get(s, 0) or big for s in compiled.service_ids]
                for fc in problem.fcs
            ]
        )

    def service_for(self, group: Group, i: int, f: int, mask: int) -> int | None:
        """Cheapest service for the package that has capacity left, or None."""
        costs = group.cost[i, mask, f]
        best = None
        for s in np.argsort(costs, kind="stable"):
            if not np.isfinite(costs[s]):
                break
            if self.service[f, s] >= 1:
                best = int(s)
                break
        return best

    def fits(self, group: Group, i: int, f: int, mask: int) -> int | None:
        """The service a package of ``mask`` from ``f`` would take, if stock and room allow."""
        if self.packages[f] < 1 or self.units[f] < group.units[i, mask]:
            return None
        for line in range(group.n):
            if mask >> line & 1 and self.stock[f, group.sku[i, line]] < group.qty[i, line]:
                return None
        return self.service_for(group, i, f, mask)

    def take(self, group: Group, i: int, package: Package) -> None:
        """Use up what a package takes."""
        f, s, mask = package
        self.packages[f] -= 1
        self.units[f] -= group.units[i, mask]
        self.service[f, s] -= 1
        for line in range(group.n):
            if mask >> line & 1:
                self.stock[f, group.sku[i, line]] -= group.qty[i, line]


def nearest_fc(compiled: Compiled) -> list[Pattern]:
    """The baseline's pattern for every order, by position in the problem."""
    limit = compiled.problem.policy.packages_limit
    left = _Left(compiled)
    where: dict[int, tuple[Group, int]] = {}
    for group in compiled.groups.values():
        for i, o in enumerate(group.orders):
            where[int(o)] = (group, i)
    patterns: list[Pattern] = []
    for o in range(len(compiled.problem.orders)):
        group, i = where[o]
        near = [int(f) for f in np.argsort(compiled.nearness[o], kind="stable")]
        pattern = _allocate(left, group, i, near, limit)
        for package in pattern:
            left.take(group, i, package)
        patterns.append(pattern)
    return patterns


def _allocate(left: _Left, group: Group, i: int, near: list[int], limit: int) -> Pattern:
    full = (1 << group.n) - 1
    for f in near:
        s = left.fits(group, i, f, full)
        if s is not None:
            return ((f, s, full),)
    if limit != 1:
        masks: dict[int, int] = {}
        for line in range(group.n):
            for f in near:
                if f not in masks and 0 < limit <= len(masks):
                    continue
                mask = masks.get(f, 0) | 1 << line
                if left.fits(group, i, f, mask) is not None:
                    masks[f] = mask
                    break
        packages = []
        for f, mask in masks.items():
            s = left.fits(group, i, f, mask)
            assert s is not None
            packages.append((f, s, mask))
        return tuple(sorted(packages))
    best: Package | None = None
    for f in near:
        mask = 0
        for line in range(group.n):
            if left.fits(group, i, f, mask | 1 << line) is not None:
                mask |= 1 << line
        s = left.fits(group, i, f, mask) if mask else None
        if s is not None and (best is None or bin(mask).count("1") > bin(best[2]).count("1")):
            best = (f, s, mask)
    return (best,) if best is not None else ()
