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

INF = float("inf")


class _Left:
    """Stock and capacity not yet used up (plain lists: this runs once per order)."""

    def __init__(self, compiled: Compiled) -> None:
        problem = compiled.problem
        big = 1 << 60
        self.stock: list[list[int]] = compiled.stock.tolist()
        self.packages = [fc.capacity_packages or big for fc in problem.fcs]
        self.units = [fc.capacity_units or big for fc in problem.fcs]
        self.service = [
            [fc.service_capacity.get(s, 0) or big for s in compiled.service_ids]
            for fc in problem.fcs
        ]

    def fits(self, order: _Order, f: int, mask: int) -> int | None:
        """The service a package of ``mask`` from ``f`` would take, if stock and room allow:
        the cheapest that still has capacity."""
        if self.packages[f] < 1 or self.units[f] < order.units[mask]:
            return None
        stock = self.stock[f]
        for line, (k, q) in enumerate(order.lines):
            if mask >> line & 1 and stock[k] < q:
                return None
        costs = order.costs[mask][f]
        room = self.service[f]
        best = None
        for s, cost in enumerate(costs):
            if cost != INF and room[s] >= 1 and (best is None or cost < costs[best]):
                best = s
        return best

    def take(self, order: _Order, package: Package) -> None:
        """Use up what a package takes."""
        f, s, mask = package
        self.packages[f] -= 1
        self.units[f] -= order.units[mask]
        self.service[f][s] -= 1
        stock = self.stock[f]
        for line, (k, q) in enumerate(order.lines):
            if mask >> line & 1:
                stock[k] -= q


class _Order:
    """One order as plain lists: its lines (SKU index, quantity), units and package costs
    per subset of lines."""

    def __init__(self, group: Group, i: int) -> None:
        self.n = group.n
        self.lines = list(zip(group.sku[i].tolist(), group.qty[i].tolist(), strict=True))
        self.units: list[int] = group.units[i].tolist()
        self.costs: list[list[list[float]]] = group.cost[i].tolist()


def nearest_fc(compiled: Compiled) -> list[Pattern]:
    """The baseline's pattern for every order, by position in the problem."""
    limit = compiled.problem.policy.packages_limit
    left = _Left(compiled)
    near = np.argsort(compiled.nearness, axis=1, kind="stable").tolist()
    patterns: list[Pattern] = []
    for o in range(len(compiled.problem.orders)):
        order = _Order(*compiled.position(o))
        pattern = _allocate(left, order, near[o], limit)
        for package in pattern:
            left.take(order, package)
        patterns.append(pattern)
    return patterns


def _allocate(left: _Left, order: _Order, near: list[int], limit: int) -> Pattern:
    full = (1 << order.n) - 1
    for f in near:
        s = left.fits(order, f, full)
        if s is not None:
            return ((f, s, full),)
    if limit != 1:
        masks: dict[int, int] = {}
        for line in range(order.n):
            for f in near:
                if f not in masks and 0 < limit <= len(masks):
                    continue
                mask = masks.get(f, 0) | 1 << line
                if left.fits(order, f, mask) is not None:
                    masks[f] = mask
                    break
        packages = []
        for f, mask in masks.items():
            s = left.fits(order, f, mask)
            assert s is not None
            packages.append((f, s, mask))
        return tuple(sorted(packages))
    best: Package | None = None
    for f in near:
        mask = 0
        for line in range(order.n):
            if left.fits(order, f, mask | 1 << line) is not None:
                mask |= 1 << line
        s = left.fits(order, f, mask) if mask else None
        if s is not None and (best is None or bin(mask).count("1") > bin(best[2]).count("1")):
            best = (f, s, mask)
    return (best,) if best is not None else ()
