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
    n_c = len(classes)
    # Nodes: classes, then FC x SKU stock nodes, then FCs, then the sink.
    usable_class, usable_fc = np.nonzero(classes[:, 2:] >= 0)
    pairs = np.unique(np.column_stack([usable_fc, classes[usable_class, 0]]), axis=0)
    pairs = pairs.reshape(-1, 2)
    stock_node = {(int(f), int(k)): n_c + j for j, (f, k) in enumerate(pairs)}
    fc_node = n_c + len(pairs)
    sink = fc_node + n_f
    tails: list[int] = []
    heads: list[int] = []
    caps: list[int] = []
    costs: list[int] = []
    for c in range(n_c):
        k = int(classes[c, 0])
        for f in range(n_f):
            if classes[c, 2 + f] >= 0:
                tails.append(c)
                heads.append(stock_node[f, k])
                caps.append(int(counts[c]))
                costs.append(int(classes[c, 2 + f]))
        tails.append(c)
        heads.append(sink)
        caps.append(int(counts[c]))
        costs.append(int(classes[c, 1]))
    for (f, k), node in stock_node.items():
        tails.append(node)
        heads.append(fc_node + f)
        caps.append(int(compiled.stock[f, k]))
        costs.append(0)
    total = int(counts.sum())
    for f, fc in enumerate(problem.fcs):
        limits = [x for x in (fc.capacity_packages, fc.capacity_units) if x > 0]
        tails.append(fc_node + f)
        heads.append(sink)
        caps.append(min(limits) if limits else total)
        costs.append(0)
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(
        np.array(tails), np.array(heads), np.array(caps), np.array(costs)
    )
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[:n_c] = counts
    supplies[sink] = -total
    flow.set_nodes_supplies(np.arange(sink + 1), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow ended with status {status}")
    sent = flow.flows(arcs)
    members: list[list[int]] = [[] for _ in range(n_c)]
    for i in reversed(range(len(group.orders))):
        members[int(klass[i])].append(i)
    patterns: list[Pattern] = [()] * len(problem.orders)
    for arc in range(len(tails)):
        c = tails[arc]
        if c >= n_c or heads[arc] == sink or sent[arc] == 0:
            continue
        f = int(pairs[heads[arc] - n_c, 0])
        for _ in range(int(sent[arc])):
            i = members[c].pop()
            patterns[int(group.orders[i])] = ((f, int(service[i, f]), 1),)
    return patterns, int(flow.optimal_cost())
