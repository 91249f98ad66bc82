"""What an allocation returns: shipments, unfilled lines with reasons, totals and the bound."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from allocation.model import OrderLine


class Status(enum.Enum):
    """How good the allocation is known to be."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"


class Reason(enum.Enum):
    """Why an order line is not shipped."""

    OUT_OF_STOCK = "out_of_stock"
    NO_SERVICE_MEETS_PROMISE = "no_service_meets_promise"
    OVER_CAPACITY = "over_capacity"
    UNDELIVERABLE_DESTINATION = "undeliverable_destination"


@dataclass(frozen=True)
class Shipment:
    """One package: the lines of one order that one FC ships with one service.

    ``billable_weight`` is in ``weight_unit`` of the service's rate card; ``cost`` includes
    fuel, surcharges and the FC's handling; ``delivery_day`` counts from the plan day.
    """

    order_id: str
    fc: str
    service: str
    lines: tuple[OrderLine, ...]
    zone: int
    billable_weight: float
    weight_unit: str
    cost: int
    delivery_day: int


@dataclass(frozen=True)
class UnfilledLine:
    """An order line that is not shipped, and why (``line`` indexes the order's lines)."""

    order_id: str
    line: int
    sku: str
    quantity: int
    reason: Reason


@dataclass(frozen=True)
class Totals:
    """Cost of the packages, the penalty of unfilled lines, and counts."""

    cost: int
    penalty: int
    packages: int
    unfilled_lines: int

    @property
    def objective(self) -> int:
        """What the solver minimises: shipping cost plus unfilled-line penalties."""
        return self.cost + self.penalty


@dataclass(frozen=True)
class Allocation:
    """The answer to one allocation problem.

    ``bound`` is a proven lower bound on the objective (the LP relaxation of the shipment-pattern
    model, or the objective itself when optimal); ``baseline`` is the nearest FC with stock on the
    same input. ``method`` names the engine that solved it.
    """

    shipments: tuple[Shipment, ...]
    unfilled: tuple[UnfilledLine, ...]
    totals: Totals
    baseline: Totals
    bound: float
    status: Status
    method: str
    solve_time_s: float

    @property
    def gap(self) -> float:
        """Relative distance of the objective above the bound (0 when optimal)."""
        objective = self.totals.objective
        if objective <= 0:
            return 0.0
        return max(0.0, (objective - self.bound) / objective)
