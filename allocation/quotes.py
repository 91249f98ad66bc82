"""Every package an order could ship, priced at once.

:func:`compile_problem` turns a problem into index arrays and, for each order, the cost of a
package holding any subset of its lines from any FC with any service: ``cost[o, mask, f, s]``
(``inf`` where the service cannot take it or the FC lacks the stock). Orders are grouped by
their number of lines so that subsets are bit masks of one width. The rules are those of
:func:`allocation.rates.quote`, applied with numpy; tests check the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from allocation.model import CM3_PER_IN3, LB_PER_KG, AllocationProblem, CarrierService
from allocation.rates import EARTH_RADIUS_KM

#: Most lines an order may have: its subsets are enumerated (2**n of them).
MAX_LINES = 12

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass
class Group:
    """The orders with ``n`` lines, and the price of every package they could ship.

    ``cost[i, mask, f, s]``: the package of order ``orders[i]`` holding the lines in ``mask``,
    from FC ``f`` by service ``s`` (``inf``: not possible). ``units[i, mask]``: units in it.
    ``stockable[i, l, f]``: FC ``f`` started with enough of line ``l``'s SKU.
    """

    n: int
    orders: Ints
    sku: Ints
    qty: Ints
    penalty: Floats
    units: Ints
    cost: Floats
    stockable: Bools

    @property
    def best(self) -> Floats:
        """Cheapest service per package: ``[i, mask, f]``."""
        return np.asarray(self.cost.min(axis=3))


@dataclass
class Compiled:
    """A problem as index arrays: FCs, services and SKUs by position, orders by line count."""

    problem: AllocationProblem
    fc_ids: list[str]
    service_ids: list[str]
    sku_ids: list[str]
    stock: Ints
    groups: dict[int, Group]
    reachable: Bools
    promisable: Bools
    nearness: Floats
    zones: Ints
    _size: Ints | None = None
    _slot: Ints | None = None

    @property
    def n_fcs(self) -> int:
        """Number of FCs."""
        return len(self.fc_ids)

    def position(self, order: int) -> tuple[Group, int]:
        """The group of order ``order`` (by position in the problem) and its place in it."""
        return self.groups[int(self.size[order])], int(self.slot[order])

    def restricted(self, orders: list[int]) -> dict[int, Group]:
        """The groups cut down to ``orders`` (positions in the problem)."""
        wanted = np.zeros(len(self.problem.orders), dtype=bool)
        wanted[orders] = True
        out: dict[int, Group] = {}
        for n, g in self.groups.items():
            keep = wanted[g.orders]
            if keep.any():
                out[n] = Group(
                    n,
                    g.orders[keep],
                    g.sku[keep],
                    g.qty[keep],
                    g.penalty[keep],
                    g.units[keep],
                    g.cost[keep],
                    g.stockable[keep],
                )
        return out

    @property
    def size(self) -> Ints:
        """Number of lines of every order."""
        if self._size is None:
            self._size = np.zeros(len(self.problem.orders), dtype=np.int64)
            self._slot = np.zeros(len(self.problem.orders), dtype=np.int64)
            for n, group in self.groups.items():
                self._size[group.orders] = n
                self._slot[group.orders] = np.arange(len(group.orders))
        return self._size

    @property
    def slot(self) -> Ints:
        """Place of every order in its group."""
        if self._slot is None:
            self.size  # noqa: B018 - fills both
        assert self._slot is not None
        return self._slot


def compile_problem(problem: AllocationProblem) -> Compiled:
    """Index the problem and price every package of every order.

    ``reachable[o]``: some service reaches the destination of order ``o`` from some FC (else it
    is undeliverable). ``zones[o, f, s]``: the zone of order ``o`` from FC ``f`` by service
    ``s`` (-1: none). ``promisable[o]``: some FC and service would deliver a package by its
    promise and at its level.
    """
    fc_ids = [fc.id for fc in problem.fcs]
    fc_at = {f: i for i, f in enumerate(fc_ids)}
    sku_ids = sorted(problem.skus)
    sku_at = {k: i for i, k in enumerate(sku_ids)}
    stock = np.zeros((len(fc_ids), len(sku_ids)), dtype=np.int64)
    for site, units in problem.stock.items():
        for sku_id, count in units.items():
            if sku_id in sku_at:
                stock[fc_at[site], sku_at[sku_id]] = count

    orders = problem.orders
    n_orders = len(orders)
    zones, ok, km = _zones(problem)
    reachable = np.asarray(ok.any(axis=(1, 2)))
    # How near each FC is to each order, for the nearest-FC baseline: the distance where both
    # have coordinates, else the lowest zone of any service (as a rough 600 km per zone).
    lowest = np.where(zones >= 0, zones, 1 << 20).min(axis=2).astype(np.float64)
    nearness = np.where(np.isfinite(km), km, np.where(lowest < 1 << 20, lowest * 600.0, np.inf))
    level = np.array([o.service_level for o in orders])
    promise = np.array([o.promise_days if o.promise_days is not None else 1 << 30 for o in orders])
    ship_day = np.array([problem.ship_day(fc) for fc in problem.fcs])
    # eligible[o, f, s]: the service can carry the order's packages at all (weight aside).
    eligible = ok.copy()
    transit = np.zeros(zones.shape, dtype=np.int64)
    for s, service in enumerate(problem.services):
        days = np.array(service.transit_days, dtype=np.int64)
        column = _columns(service.rate_card.zones, zones[:, :, s])
        transit[:, :, s] = np.where(column >= 0, days[np.maximum(column, 0)], 1 << 30)
        eligible[:, :, s] &= service.level >= level[:, None]
        for f, fc in enumerate(fc_ids):
            if not service.offered_at(fc):
                eligible[:, f, s] = False
    eligible &= ship_day[None, :, None] + transit <= promise[:, None, None]
    promisable = np.asarray(eligible.any(axis=(1, 2)))
    locked = np.array([fc_at[o.locked_fc] if o.locked_fc else -1 for o in orders])
    has_lock = locked >= 0
    lock_mask = np.ones((n_orders, len(fc_ids)), dtype=bool)
    lock_mask[has_lock] = False
    lock_mask[has_lock, locked[has_lock]] = True

    weight = np.array([problem.skus[k].weight_kg for k in sku_ids])
    volume = np.array([problem.skus[k].volume_cm3 for k in sku_ids])
    penalty_per_line = problem.policy.unfilled_line_penalty
    by_size: dict[int, list[int]] = {}
    for i, order in enumerate(orders):
        by_size.setdefault(len(order.lines), []).append(i)
    groups: dict[int, Group] = {}
    for n, members in sorted(by_size.items()):
        idx = np.array(members, dtype=np.int64)
        sku = np.array([[sku_at[x.sku] for x in orders[i].lines] for i in members], np.int64)
        qty = np.array([[x.quantity for x in orders[i].lines] for i in members], np.int64)
        residential = np.array([orders[i].residential for i in members])
        penalty = np.array(
            [penalty_per_line * (1 + orders[i].priority) for i in members], dtype=np.float64
        )
        w_mask, v_mask, u_mask = _subset_sums(qty * weight[sku], qty * volume[sku], qty)
        stockable = stock[:, sku].transpose(1, 2, 0) >= qty[:, :, None]
        # A subset may ship from f only if f holds every one of its lines.
        bits = _bits(n)
        holds = np.ones((len(members), 1 << n, len(fc_ids)), dtype=bool)
        for line in range(n):
            holds[:, bits[:, line]] &= stockable[:, line, None, :]
        holds &= lock_mask[idx][:, None, :]
        cost = np.full((len(members), 1 << n, len(fc_ids), len(problem.services)), np.inf)
        for s, service in enumerate(problem.services):
            price = _price(service, w_mask, v_mask, zones[idx, :, s], residential)
            price = price + np.array([fc.handling_cost for fc in problem.fcs])[None, None, :]
            usable = holds & eligible[idx, None, :, s] & np.isfinite(price)
            cost[:, :, :, s] = np.where(usable, price, np.inf)
        cost[:, 0] = np.inf
        groups[n] = Group(n, idx, sku, qty, penalty, u_mask, cost, stockable & lock_mask[idx, None])
    return Compiled(
        problem,
        fc_ids,
        [s.id for s in problem.services],
        sku_ids,
        stock,
        groups,
        reachable,
        promisable,
        nearness,
        zones,
    )


def _bits(n: int) -> Bools:
    """``bits[mask, l]``: whether line ``l`` is in ``mask``."""
    masks = np.arange(1 << n)
    return np.asarray((masks[:, None] >> np.arange(n)[None, :]) & 1, dtype=bool)


def _subset_sums(weight: Floats, volume: Floats, units: Ints) -> tuple[Floats, Floats, Ints]:
    """Weight, volume and units of every subset of each order's lines.

    Summed line by line in line order, as a shipment's lines are, so that floating-point sums
    match :func:`allocation.rates.quote` to the last bit.
    """
    count, n = weight.shape
    w = np.zeros((count, 1 << n))
    v = np.zeros((count, 1 << n))
    u = np.zeros((count, 1 << n), dtype=np.int64)
    for mask in range(1, 1 << n):
        top = mask.bit_length() - 1
        rest = mask & ~(1 << top)
        w[:, mask] = w[:, rest] + weight[:, top]
        v[:, mask] = v[:, rest] + volume[:, top]
        u[:, mask] = u[:, rest] + units[:, top]
    return w, v, u


def _price(
    service: CarrierService, weight_kg: Floats, volume_cm3: Floats, zones: Ints, residential: Bools
) -> Floats:
    """``price[i, mask, f]`` of a package by ``service`` (``inf`` when it is too heavy or the
    zone is not on the card), fuel and surcharges included, handling not."""
    card = service.rate_card
    if card.weight_unit == "lb":
        actual, volume = weight_kg * LB_PER_KG, volume_cm3 / CM3_PER_IN3
    else:
        actual, volume = weight_kg, volume_cm3
    dim = volume / card.dim_divisor if card.dim_divisor > 0 else np.zeros_like(volume)
    steps = np.maximum(1, np.ceil(np.maximum(actual, dim) / card.weight_step - 1e-9))
    billable = steps * card.weight_step
    row = steps.astype(np.int64) - 1
    prices = np.array(card.prices, dtype=np.int64)
    column = _columns(card.zones, zones)
    heavy = row >= len(prices)
    charge = prices[np.minimum(row, len(prices) - 1)[:, :, None], np.maximum(column, 0)[:, None, :]]
    for extra in service.surcharges:
        applies = billable >= extra.min_billable_weight
        if extra.residential_only:
            applies &= residential[:, None]
        charge = charge + np.where(applies, extra.amount, 0)[:, :, None]
    basis_points = round(service.fuel_pct * 100)
    total = (charge * (10_000 + basis_points) + 5_000) // 10_000
    bad = heavy[:, :, None] | (column < 0)[:, None, :]
    return np.where(bad, np.inf, total.astype(np.float64))


def _columns(card_zones: tuple[int, ...], zones: Ints) -> Ints:
    """Rate-card column of each zone (-1 where the zone is unknown or not on the card)."""
    lookup = np.full(max(max(card_zones), int(zones.max(initial=0))) + 2, -1, dtype=np.int64)
    for j, z in enumerate(card_zones):
        if z >= 0:
            lookup[z] = j
    return np.where(zones >= 0, lookup[np.maximum(zones, 0)], -1)


def _zones(problem: AllocationProblem) -> tuple[Ints, Bools, Floats]:
    """``zones[o, f, s]`` (-1: none), whether it is on the service's rate card, and the
    distance ``km[o, f]`` (``nan`` where coordinates are missing)."""
    orders = problem.orders
    zip3 = np.array([int(o.destination.zip3) if o.destination.zip3 else -1 for o in orders])
    lat = np.array(
        [o.destination.latitude if o.destination.has_coordinates else np.nan for o in orders],
        dtype=np.float64,
    )
    lon = np.array(
        [o.destination.longitude if o.destination.has_coordinates else np.nan for o in orders],
        dtype=np.float64,
    )
    n_f, n_s = len(problem.fcs), len(problem.services)
    zones = np.full((len(orders), n_f, n_s), -1, dtype=np.int64)
    distances = np.full((len(orders), n_f), np.nan)
    for f, fc in enumerate(problem.fcs):
        km = None
        if fc.location.has_coordinates:
            km = _distance_km(fc.location.latitude, fc.location.longitude, lat, lon)
            distances[:, f] = km
        for s, service in enumerate(problem.services):
            chart = np.full(1000, -1, dtype=np.int64)
            for row in reversed(service.zone_charts.get(fc.id, ())):
                chart[int(row.first) : int(row.last) + 1] = row.zone
            z = np.where(zip3 >= 0, chart[np.maximum(zip3, 0)], -1)
            bands = service.distance_bands
            if bands is not None and km is not None:
                upper = np.array(bands.upper_km)
                band = np.searchsorted(upper, np.nan_to_num(km, nan=np.inf), side="left")
                by_distance = np.where(
                    np.isfinite(km) & (band < len(upper)), bands.first_zone + band, -1
                )
                z = np.where(z >= 0, z, by_distance)
            zones[:, f, s] = z
    on_card = np.zeros(zones.shape, dtype=bool)
    for s, service in enumerate(problem.services):
        on_card[:, :, s] = _columns(service.rate_card.zones, zones[:, :, s]) >= 0
    return zones, on_card, distances


def _distance_km(lat0: float | None, lon0: float | None, lat: Floats, lon: Floats) -> Floats:
    """Great-circle distance from one place to many (``nan`` where coordinates are missing)."""
    assert lat0 is not None and lon0 is not None
    p1, p2 = np.radians(lat0), np.radians(lat)
    dp, dl = p2 - p1, np.radians(lon - lon0)
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h))))
