"""Single-item orders as a min-cost flow: exact, and fast enough for a whole day.

When every order is one unit of one SKU, each order is one package from one FC, and what it
uses of the FC's stock of that SKU and of the FC's capacity is one unit each. If no service
capacity can bind, the cheapest service per FC is always the right one, and the problem is a
transportation problem: orders (grouped into classes of equal SKU, costs and penalty) send one
unit each through the stock of an FC (``FC x SKU`` node, capacity its stock) and the FC
(capacity its daily limit) to the sink, or straight to the sink at the unfilled-line penalty.
Integer costs and capacities make the optimal flow integral, so the allocation it gives is
optimal for the problem, not just its relaxation.
"""

from __future__ import annotations

import numpy as np
from ortools.graph.python import min_cost_flow

from allocation.patterns import Pattern
from allocation.quotes import Compiled


def applies(compiled: Compiled) -> bool:
    """Whether the flow model is exact here: single-unit orders, and no service limit that
    the orders an FC could serve might exceed."""
    single = all(n == 1 and bool((group.qty == 1).all()) for n, group in compiled.groups.items())
    if not single:
        return False
    could = compiled.groups[1].stockable[:, 0, :].sum(axis=0)
    return all(
        not 0 < cap < could[f]
        for f, fc in enumerate(compiled.problem.fcs)
        for cap in fc.service_capacity.values()
    )


def solve(compiled: Compiled) -> tuple[list[Pattern], int]:
    """The optimal patterns of every order and the optimal objective (minor units)."""
    group = compiled.groups[1]
    problem = compiled.problem
    n_f = compiled.n_fcs
    best = group.best[:, 1, :]
    service = group.cost[:, 1, :, :].argmin(axis=2)
    finite = np.isfinite(best)
    cost = np.where(finite, best, -1).astype(np.int64)
    penalty = group.penalty.astype(np.int64)
    sku = group.sku[:, 0]
    key = np.column_stack([sku, penalty, cost])
    classes, klass, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    klass = klass.reshape(-1)
    n_c = len(classes)
    n_k = len(compiled.sku_ids)
    # Nodes: classes, then the FC x SKU stock nodes some class can use, then FCs, then the sink.
    usable_class, usable_fc = np.nonzero(classes[:, 2:] >= 0)
    usable_sku = classes[usable_class, 0]
    pairs = np.unique(usable_fc * n_k + usable_sku)
    stock_node = np.full(n_f * n_k, -1, dtype=np.int64)
    stock_node[pairs] = n_c + np.arange(len(pairs))
    fc_node = n_c + len(pairs)
    sink = fc_node + n_f
    total = int(counts.sum())
    fc_caps = []
    for fc in problem.fcs:
        limits = [x for x in (fc.capacity_packages, fc.capacity_units) if x > 0]
        fc_caps.append(min(limits) if limits else total)
    tails = np.concatenate(
        [usable_class, np.arange(n_c), stock_node[pairs], fc_node + np.arange(n_f)]
    )
    heads = np.concatenate(
        [
            stock_node[usable_fc * n_k + usable_sku],
            np.full(n_c, sink),
            fc_node + pairs // n_k,
            np.full(n_f, sink),
        ]
    )
    caps = np.concatenate(
        [counts[usable_class], counts, compiled.stock[pairs // n_k, pairs % n_k], fc_caps]
    )
    costs = np.concatenate(
        [
            classes[usable_class, 2 + usable_fc],
            classes[:, 1],
            np.zeros(len(pairs) + n_f, dtype=np.int64),
        ]
    )
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[:n_c] = counts
    supplies[sink] = -total
    flow.set_nodes_supplies(np.arange(sink + 1), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow ended with status {status}")
    sent = flow.flows(arcs[: len(usable_class)])
    # Hand each class's flow to FCs out to its orders, lowest position first.
    members = np.argsort(klass, kind="stable")
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    taken = np.zeros(n_c, dtype=np.int64)
    patterns: list[Pattern] = [()] * len(problem.orders)
    for arc in np.nonzero(sent)[0].tolist():
        c, f = int(usable_class[arc]), int(usable_fc[arc])
        start = int(first[c] + taken[c])
        taken[c] += sent[arc]
        for i in members[start : start + int(sent[arc])].tolist():
            patterns[int(group.orders[i])] = ((f, int(service[i, f]), 1),)
    return patterns, int(flow.optimal_cost())
