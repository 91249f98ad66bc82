"""Shipment patterns: how one order's lines split into packages, and the cheapest one for given
prices of stock and capacity.

A pattern is a tuple of packages ``(fc, service, mask)`` (FC and service by position, ``mask``
the order's lines in it, one package per FC); lines in no package are unfilled. The pricing
problem, cheapest pattern of every order when each unit of stock and capacity carries a price
(the duals of the master LP, or zero), is solved exactly by dynamic programming over the subsets
of an order's lines, for all orders of a line count at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocation.quotes import Floats, Group, Ints

Package = tuple[int, int, int]
Pattern = tuple[Package, ...]


@dataclass(frozen=True)
class Prices:
    """What one unit of each coupled resource costs on top of the rate cards (>= 0).

    ``stock[f, k]`` per unit of SKU ``k`` at FC ``f`` and ``lines[f, k]`` per line of it;
    ``packages[f]`` and ``units[f]`` per package and unit shipped by FC ``f``;
    ``service[f, s]`` per package by service ``s`` at ``f``.
    """

    stock: Floats
    lines: Floats
    packages: Floats
    units: Floats
    service: Floats

    @classmethod
    def zero(cls, n_fcs: int, n_skus: int, n_services: int) -> Prices:
        """No resource costs anything: every order's own cheapest pattern."""
        return cls(
            np.zeros((n_fcs, n_skus)),
            np.zeros((n_fcs, n_skus)),
            np.zeros(n_fcs),
            np.zeros(n_fcs),
            np.zeros((n_fcs, n_services)),
        )


def _submasks(n: int) -> list[Ints]:
    """``subs[mask]``: the non-empty subsets of ``mask``."""
    out = []
    for mask in range(1 << n):
        subs, sub = [], mask
        while sub:
            subs.append(sub)
            sub = (sub - 1) & mask
        out.append(np.array(subs, dtype=np.int64))
    return out


_SUBMASKS: dict[int, list[Ints]] = {}


def submasks(n: int) -> list[Ints]:
    """Cached :func:`_submasks`."""
    if n not in _SUBMASKS:
        _SUBMASKS[n] = _submasks(n)
    return _SUBMASKS[n]


def package_costs(group: Group, prices: Prices) -> tuple[Floats, Ints]:
    """Priced cost of every package ``[i, mask, f]`` and its best service.

    The cost is the rate-card cost plus the prices of the stock, packages, units and service
    capacity it uses; ``inf`` where no service can take it.
    """
    with np.errstate(invalid="ignore"):
        priced = group.cost + prices.service[None, None, :, :]
    service = priced.argmin(axis=3)
    cost = np.take_along_axis(priced, service[..., None], axis=3)[..., 0]
    cost = (
        cost
        + prices.packages[None, None, :]
        + group.units[:, :, None] * prices.units[None, None, :]
    )
    # Stock prices per line, summed over each subset.
    line = (
        group.qty[None, :, :] * prices.stock[:, group.sku] + prices.lines[:, group.sku]
    ).transpose(1, 2, 0)
    n = group.n
    stock = np.zeros_like(cost)
    for mask in range(1, 1 << n):
        top = mask.bit_length() - 1
        stock[:, mask] = stock[:, mask & ~(1 << top)] + line[:, top]
    return cost + stock, service


def cheapest(group: Group, prices: Prices, limit: int) -> tuple[Floats, list[Pattern]]:
    """Every order's cheapest pattern under ``prices`` and its priced cost.

    ``limit`` is the most packages an order may ship in (0: no limit). Unfilled lines cost the
    order's penalty each.
    """
    cost, service = package_costs(group, prices)
    n, count, n_fcs = group.n, len(group.orders), cost.shape[2]
    full = (1 << n) - 1
    popcount = np.array([bin(m).count("1") for m in range(1 << n)])
    subs = submasks(n)
    levels = limit if 0 < limit < min(n, n_fcs) else 0
    unlimited = levels == 0
    # value[c][i, mask]: cheapest way to cover mask with c packages from the FCs so far (with
    # no limit, c is always 0 and counts nothing).
    start = group.penalty[:, None] * popcount[None, :]
    value = [start] + [np.full((count, 1 << n), np.inf) for _ in range(levels)]
    choices: list[list[Ints]] = []
    for f in range(n_fcs):
        pc = cost[:, :, f]
        new = [v.copy() for v in value]
        chosen = [np.zeros((count, 1 << n), dtype=np.int64) for _ in range(levels + 1)]
        for c in range(0 if unlimited else 1, levels + 1):
            before = value[c] if unlimited else value[c - 1]
            for mask in range(1, 1 << n):
                sm = subs[mask]
                cand = before[:, mask ^ sm] + pc[:, sm]
                k = cand.argmin(axis=1)
                best = cand[np.arange(count), k]
                better = best < new[c][:, mask]
                new[c][better, mask] = best[better]
                chosen[c][better, mask] = sm[k[better]]
        value = new
        choices.append(chosen)
    final = np.stack([v[:, full] for v in value])
    level = final.argmin(axis=0)
    total = final[level, np.arange(count)]
    patterns: list[Pattern] = []
    for i in range(count):
        mask, c, packages = full, int(level[i]), []
        for f in range(n_fcs - 1, -1, -1):
            sub = int(choices[f][c][i, mask])
            if sub:
                packages.append((f, int(service[i, sub, f]), sub))
                mask ^= sub
                if not unlimited:
                    c -= 1
        patterns.append(tuple(sorted(packages)))
    return total, patterns


def pattern_cost(group: Group, i: int, pattern: Pattern) -> float:
    """Rate-card cost of a pattern for order ``i`` of the group, penalties included."""
    covered = 0
    total = 0.0
    for f, s, mask in pattern:
        total += float(group.cost[i, mask, f, s])
        covered |= mask
    unfilled = group.n - bin(covered).count("1")
    return total + unfilled * float(group.penalty[i])
