"""The stock a plan starts from: the inventory state, or the request's own stock for what-if runs.

PickingService and AllocationService call :func:`stock_for_plan` with the SKUs of their orders.
When the request carries a :class:`warehouse.v1.StockOverride`, its lines win and the store is
not read; otherwise the site's available units (on hand less active reservations) are read at
one version, which the plan reports so that everyone can tell which state it used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from warehouse.v1 import inventory_pb2 as pb

from routing.errors import FieldViolation, InvalidInput
from services.inventory import InventoryStore


@dataclass(frozen=True)
class PlanStock:
    """Available units per SKU and bin (bin ``""`` at an FC) that a plan may use.

    ``version`` is the inventory version read, or None when the request's own stock was used.
    """

    site: str
    version: int | None
    available: dict[str, dict[str, int]]

    @property
    def from_request(self) -> bool:
        """Whether the request's own stock was used."""
        return self.version is None

    def units(self, sku: str) -> int:
        """Units of ``sku`` available at the site in all."""
        return sum(self.available.get(sku, {}).values())


def stock_for_plan(
    store: InventoryStore | None,
    site: str,
    skus: Sequence[str],
    override: pb.StockOverride | None = None,
    *,
    field: str = "stock",
    reservation_id: str = "",
) -> PlanStock:
    """The stock of ``skus`` at ``site`` for a plan; ``override`` (when given) wins.

    Every SKU the site holds is a key, even with no unit available (so a plan can tell "out of
    stock" from "unknown"). Units held by ``reservation_id`` count as available: a wave replanned
    under its own reservation may keep its units.

    Raises
    ------
    InvalidInput
        An override line with an empty SKU, a negative quantity or a repeated SKU and bin.
    ValueError
        No override and no store to read.
    """
    wanted = set(skus)
    available: dict[str, dict[str, int]] = {}
    if override is not None:
        problems: list[FieldViolation] = []
        for i, line in enumerate(override.lines):
            where = f"{field}.lines[{i}]"
            if not line.sku:
                problems.append(FieldViolation(f"{where}.sku", "must not be empty"))
            if line.on_hand < 0:
                problems.append(FieldViolation(f"{where}.on_hand", f"negative: {line.on_hand}"))
            if line.bin_id in available.get(line.sku, {}):
                problems.append(
                    FieldViolation(where, f"SKU {line.sku!r} in bin {line.bin_id!r} again")
                )
            elif line.sku in wanted:
                bins = available.setdefault(line.sku, {})
                if line.on_hand > 0:
                    bins[line.bin_id] = line.on_hand
        if problems:
            raise InvalidInput(problems)
        return PlanStock(site, None, dict(available))
    if store is None:
        raise ValueError(f"no stock for {site!r}: neither an override nor a store")
    if not wanted:
        state = store.state(site)
        return PlanStock(site, 0 if state is None else state.version, {})
    stock = store.stock(site, skus=sorted(wanted), exclude_reservation=reservation_id)
    if stock is None:  # nothing recorded at this site yet: nothing available, version 0
        return PlanStock(site, 0, {})
    for held in stock.lines:
        bins = available.setdefault(held.sku, {})
        if held.available > 0:
            bins[held.bin] = held.available
    return PlanStock(site, stock.version, dict(available))
