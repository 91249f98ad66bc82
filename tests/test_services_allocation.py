"""AllocationService over gRPC: a tiny two-FC network inline, the demo network from its files."""

from __future__ import annotations

import csv
import datetime as dt
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.type import date_pb2  # type: ignore[import-untyped]
from warehouse.v1 import (
    allocation_pb2,
    allocation_pb2_grpc,
    common_pb2,
    inventory_pb2,
    inventory_pb2_grpc,
)

from allocation import model
from allocation.rates import quote
from services.networks import NetworkRegistry
from services.server import WarehouseServer
from tests.conftest import DEMO_DIR, StartServer
from tests.test_services_layout import _violations

PLAN = dt.date(2026, 12, 1)
PENALTY = 50_000

# -- a tiny network, written once in domain form and sent as its proto ------------------------

EAST = model.FulfillmentCenter(
    "T-EAST", model.Location("18106", 40.6, -75.5), cutoff_s=17 * 3600.0, handling_cost=100
)
WEST = model.FulfillmentCenter(
    "T-WEST", model.Location("92551", 33.9, -117.2), cutoff_s=20 * 3600.0, handling_cost=120
)
CHARTS = {
    "T-EAST": (
        model.ZoneRange("100", "199", 2),
        model.ZoneRange("200", "699", 4),
        model.ZoneRange("700", "999", 8),
    ),
    "T-WEST": (
        model.ZoneRange("000", "699", 8),
        model.ZoneRange("700", "899", 4),
        model.ZoneRange("900", "999", 2),
    ),
}
GROUND = model.CarrierService(
    "T-GROUND",
    model.RateCard(
        zones=(2, 4, 8),
        prices=tuple((500 + 40 * w, 700 + 60 * w, 900 + 90 * w) for w in range(1, 21)),
        dim_divisor=139.0,
    ),
    transit_days=(1, 3, 5),
    carrier="TEST",
    level=0,
    fuel_pct=10.0,
    surcharges=(model.Surcharge("residential", 300, residential_only=True),),
    zone_charts=CHARTS,
)
TWO_DAY = model.CarrierService(
    "T-2DAY",
    model.RateCard(
        zones=(2, 4, 8),
        prices=tuple((1500 + 100 * w, 1800 + 150 * w, 2200 + 200 * w) for w in range(1, 21)),
        dim_divisor=139.0,
    ),
    transit_days=(2, 2, 2),
    carrier="TEST",
    level=1,
    fuel_pct=12.5,
    zone_charts=CHARTS,
)
SKUS = {
    "A": model.Sku("A", 0.5, 20, 15, 10),
    "B": model.Sku("B", 2.0, 25, 20, 15),
    "C": model.Sku("C", 1.0, 10, 10, 10),
}


def network_message(
    fcs: tuple[model.FulfillmentCenter, ...] = (EAST, WEST),
    services: tuple[model.CarrierService, ...] = (GROUND, TWO_DAY),
) -> allocation_pb2.Network:
    out = allocation_pb2.Network(id="tiny", currency_code="USD")
    for fc in fcs:
        m = out.fcs.add(id=fc.id, handling_cost=fc.handling_cost)
        m.location.postal_code = fc.location.postal_code
        assert fc.location.latitude is not None and fc.location.longitude is not None
        m.location.latitude, m.location.longitude = fc.location.latitude, fc.location.longitude
        if fc.cutoff_s is not None:
            m.cutoff.hours = int(fc.cutoff_s // 3600)
    for s in services:
        card = s.rate_card
        m_s = out.services.add(
            id=s.id,
            carrier=s.carrier,
            level=s.level + 1,
            transit_days=s.transit_days,
            fuel_pct=s.fuel_pct,
        )
        m_s.rate_card.zones.extend(card.zones)
        m_s.rate_card.weight_unit = allocation_pb2.WEIGHT_UNIT_POUND
        m_s.rate_card.weight_step = card.weight_step
        m_s.rate_card.dim_divisor = card.dim_divisor
        for row in card.prices:
            m_s.rate_card.prices.add(prices=row)
        for x in s.surcharges:
            m_s.surcharges.add(name=x.name, amount=x.amount, residential_only=x.residential_only)
        for fc_id, rows in s.zone_charts.items():
            for r in rows:
                m_s.zone_charts[fc_id].ranges.add(first=r.first, last=r.last, zone=r.zone)
    return out


def date(day: dt.date) -> date_pb2.Date:
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


def order(
    order_id: str, postal_code: str, *lines: tuple[str, int], **kw: object
) -> allocation_pb2.AllocationOrder:
    return allocation_pb2.AllocationOrder(
        id=order_id,
        destination=allocation_pb2.Location(postal_code=postal_code),
        lines=[allocation_pb2.AllocationOrderLine(sku=s, quantity=q) for s, q in lines],
        **kw,  # type: ignore[arg-type]
    )


def stock(**units: dict[str, int]) -> dict[str, inventory_pb2.StockOverride]:
    return {
        fc.replace("_", "-"): inventory_pb2.StockOverride(
            lines=[inventory_pb2.StockLine(sku=s, on_hand=q) for s, q in lines.items()]
        )
        for fc, lines in units.items()
    }


def request(
    orders: list[allocation_pb2.AllocationOrder], **kw: object
) -> allocation_pb2.AllocateRequest:
    fields: dict[str, object] = {
        "network": network_message(),
        "orders": orders,
        "skus": [
            allocation_pb2.SkuUnit(
                id=s.id,
                weight_kg=s.weight_kg,
                length_cm=s.length_cm,
                width_cm=s.width_cm,
                height_cm=s.height_cm,
            )
            for s in SKUS.values()
        ],
        "policy": allocation_pb2.AllocationPolicy(
            unfilled_line_penalty=allocation_pb2.Money(minor_units=PENALTY)
        ),
        "plan_date": date(PLAN),
        "plan_time": {"hours": 10},
        "options": common_pb2.SolveOptions(label="batch-1"),
    }
    return allocation_pb2.AllocateRequest(**{**fields, **kw})  # type: ignore[arg-type]


def domain_order(message: allocation_pb2.AllocationOrder) -> model.Order:
    return model.Order(
        message.id,
        model.Location(message.destination.postal_code),
        tuple(model.OrderLine(x.sku, x.quantity) for x in message.lines),
        residential=message.residential if message.HasField("residential") else True,
    )


def as_date(value: date_pb2.Date) -> dt.date:
    return dt.date(value.year, value.month, value.day)


@pytest.fixture
def allocation(server: WarehouseServer) -> Iterator[allocation_pb2_grpc.AllocationServiceStub]:
    with grpc.insecure_channel(server.address) as channel:
        yield allocation_pb2_grpc.AllocationServiceStub(channel)


def seed_fc(channel: grpc.Channel, fc: str, units: dict[str, int]) -> int:
    """Replace an FC site's stock over gRPC; return its version."""
    header = inventory_pb2.SnapshotHeader(
        site_id=fc, level=inventory_pb2.STOCK_LEVEL_FULFILLMENT_CENTER, snapshot_id=f"{fc}-1"
    )
    rows = [inventory_pb2.SnapshotRow(sku=s, quantity=q) for s, q in units.items()]
    stub = inventory_pb2_grpc.InventoryServiceStub(channel)
    reply = stub.ReplaceStock(
        iter([inventory_pb2.ReplaceStockRequest(header=header, rows=rows, end=True)])
    )
    return int(reply.version)


# -- tests ------------------------------------------------------------------------------------


def test_shipment_costs_recompute_from_the_rate_cards(
    allocation: allocation_pb2_grpc.AllocationServiceStub,
) -> None:
    """Each order ships from its near FC; every cost, weight and date is the rate card's quote."""
    orders = [
        order("o1", "10001", ("A", 2)),
        order("o2", "94105", ("A", 1), ("B", 1), residential=False),
    ]
    req = request(orders, stock=stock(T_EAST={"A": 10}, T_WEST={"A": 5, "B": 5}))
    response = allocation.Allocate(req, timeout=30)
    assert response.label == "batch-1" and response.network_id == "tiny"
    assert as_date(response.plan_date) == PLAN
    problem = model.AllocationProblem(
        orders=tuple(domain_order(o) for o in orders),
        skus=SKUS,
        fcs=(EAST, WEST),
        services=(GROUND, TWO_DAY),
        stock={},
        now_s=10 * 3600.0,
    )
    fcs = {fc.id: fc for fc in problem.fcs}
    services = {s.id: s for s in problem.services}
    placed = {}
    total = 0
    for i, entry in enumerate(response.orders):
        assert entry.order_id == orders[i].id and not entry.unfilled_lines
        [shipment] = entry.shipments
        placed[entry.order_id] = (shipment.fc, shipment.service)
        weight = sum(SKUS[x.sku].weight_kg * x.quantity for x in shipment.lines)
        volume = sum(SKUS[x.sku].volume_cm3 * x.quantity for x in shipment.lines)
        q = quote(
            problem,
            problem.orders[i],
            fcs[shipment.fc],
            services[shipment.service],
            weight,
            volume,
        )
        assert q is not None
        assert (shipment.cost.minor_units, shipment.cost.currency_code) == (q.cost, "USD")
        assert (shipment.zone, shipment.billable_weight) == (q.zone, q.billable_weight)
        assert as_date(shipment.expected_delivery_date) == PLAN + dt.timedelta(q.delivery_day)
        assert as_date(shipment.ship_date) == PLAN and shipment.delivery_days == q.delivery_day
        assert sorted((x.line_index, x.sku) for x in shipment.lines) == [
            (j, x.sku) for j, x in enumerate(orders[i].lines)
        ]
        assert entry.cost.minor_units == q.cost
        total += q.cost
    assert placed == {"o1": ("T-EAST", "T-GROUND"), "o2": ("T-WEST", "T-GROUND")}
    assert response.totals.shipping_cost.minor_units == total
    assert response.totals.objective.minor_units == total and response.totals.packages == 2
    assert response.status == common_pb2.SOLVE_STATUS_OPTIMAL and response.gap == 0
    assert response.objective_bound.minor_units == total
    assert response.savings.minor_units == (
        response.baseline.objective.minor_units - response.totals.objective.minor_units
    )
    assert response.method and response.solve_time.ToNanoseconds() > 0


def test_stock_comes_from_the_inventory_unless_the_request_brings_its_own(
    server: WarehouseServer, allocation: allocation_pb2_grpc.AllocationServiceStub
) -> None:
    """FC sites seeded over InventoryService feed the plan; an FC listed in `stock` uses that."""
    with grpc.insecure_channel(server.address) as channel:
        east_version = seed_fc(channel, "T-EAST", {"A": 3})
        seed_fc(channel, "T-WEST", {"A": 10})
        req = request([order("o1", "10001", ("A", 2))])
        first = allocation.Allocate(req, timeout=30)
        assert first.orders[0].shipments[0].fc == "T-EAST"
        east = first.stock_sources[0]
        assert (east.fc, east.from_request, east.inventory_version) == (
            "T-EAST",
            False,
            east_version,
        )
        assert all(s.inventory_version >= 1 for s in first.stock_sources)
        picked = inventory_pb2_grpc.InventoryServiceStub(channel).ApplyEvents(
            inventory_pb2.ApplyEventsRequest(
                site_id="T-EAST",
                events=[
                    inventory_pb2.StockEvent(
                        event_id="e1",
                        source="wms",
                        sequence=1,
                        kind=inventory_pb2.STOCK_EVENT_KIND_PICK,
                        sku="A",
                        quantity=2,
                    )
                ],
            )
        )
        assert picked.applied == 1
    second = allocation.Allocate(req, timeout=30)
    assert second.orders[0].shipments[0].fc == "T-WEST"  # one unit left in the east
    assert second.stock_sources[0].inventory_version == picked.version
    req.stock["T-EAST"].lines.add(sku="A", on_hand=5)
    what_if = allocation.Allocate(req, timeout=30)
    assert what_if.orders[0].shipments[0].fc == "T-EAST"
    assert [(s.fc, s.from_request) for s in what_if.stock_sources] == [
        ("T-EAST", True),
        ("T-WEST", False),
    ]
    assert what_if.stock_sources[0].inventory_version == 0


def test_validate_only_names_every_bad_field(
    allocation: allocation_pb2_grpc.AllocationServiceStub,
) -> None:
    """validate_only fails like a solve would, with a field violation per problem."""
    ok = request(
        [order("o1", "10001", ("A", 1)), order("o2", "94105", ("B", 1))],
        stock=stock(T_EAST={"A": 1}),
    )
    ok.options.validate_only = True
    checked = allocation.Allocate(ok, timeout=30)
    assert checked.label == "batch-1" and not checked.orders
    assert checked.status == common_pb2.SOLVE_STATUS_UNSPECIFIED
    assert [(s.fc, s.from_request) for s in checked.stock_sources] == [
        ("T-EAST", True),
        ("T-WEST", False),
    ]
    bad = allocation_pb2.AllocateRequest()
    bad.CopyFrom(ok)
    bad.orders[1].lines[0].quantity = 0
    bad.orders[0].promise_date.CopyFrom(date(PLAN - dt.timedelta(1)))
    bad.skus[1].weight_kg = -1
    bad.stock["T-EAST"].lines.add(sku="A", on_hand=2)
    bad.plan_time.hours = 25
    with pytest.raises(grpc.RpcError) as error:
        allocation.Allocate(bad, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(_violations(error.value)) == {
        "orders[1].lines[0].quantity",
        "orders[0].promise_date",
        "skus[1].weight_kg",
        "stock['T-EAST'].lines[1]",
        "plan_time",
    }


def test_unknown_references_are_invalid_arguments_naming_the_field(
    allocation: allocation_pb2_grpc.AllocationServiceStub,
) -> None:
    """An unknown SKU, locked FC or stock FC fails the call, naming where it was sent."""
    req = request(
        [order("o1", "10001", ("A", 1)), order("o2", "94105", ("NOPE", 1), locked_fc="MARS")],
        stock=stock(T_EAST={"A": 1}, PLUTO={"A": 1}),
    )
    with pytest.raises(grpc.RpcError) as error:
        allocation.Allocate(req, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = _violations(error.value)
    assert set(found) == {"orders[1].lines[0].sku", "orders[1].locked_fc", "stock['PLUTO']"}
    assert "NOPE" in found["orders[1].lines[0].sku"] and "MARS" in found["orders[1].locked_fc"]


def test_an_unknown_network_is_not_found_and_an_inline_one_is_validated(
    allocation: allocation_pb2_grpc.AllocationServiceStub,
) -> None:
    """A network id nobody loaded is NOT_FOUND; a bad inline network names its fields."""
    req = request([order("o1", "10001", ("A", 1))])
    req.network_id = "atlantis"
    with pytest.raises(grpc.RpcError) as missing:
        allocation.Allocate(req, timeout=30)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "atlantis" in str(missing.value.details())
    req.ClearField("network_id")
    with pytest.raises(grpc.RpcError) as none:
        allocation.Allocate(req, timeout=30)
    assert set(_violations(none.value)) == {"network_id"}
    req.network.CopyFrom(network_message())
    req.network.fcs[1].cutoff.minutes = 75
    req.network.services[0].rate_card.prices[3].prices.append(1)
    req.network.services[1].zone_charts["T-WEST"].ranges[0].last = "1"
    with pytest.raises(grpc.RpcError) as bad:
        allocation.Allocate(req, timeout=30)
    assert set(_violations(bad.value)) == {
        "network.fcs[1].cutoff",
        "network.services[0].rate_card.prices[3]",
        "network.services[1].zone_charts['T-WEST'].ranges[0]",
    }


def test_unfilled_lines_carry_their_reasons(
    server: WarehouseServer, allocation: allocation_pb2_grpc.AllocationServiceStub
) -> None:
    """Out of stock, undeliverable and too-late lines are reported, penalised and counted."""
    orders = [
        order("stocked", "10001", ("A", 1)),
        order("nowhere", "10001", ("C", 1)),
        order("unzoned", "ABCDE", ("A", 1)),
        order("today", "10001", ("A", 1), promise_date=date(PLAN)),
    ]
    response = allocation.Allocate(
        request(orders, stock=stock(T_EAST={"A": 10}, T_WEST={})), timeout=30
    )
    reasons = {
        o.order_id: [(u.line_index, u.sku, u.reason) for u in o.unfilled_lines]
        for o in response.orders
    }
    assert reasons == {
        "stocked": [],
        "nowhere": [(0, "C", allocation_pb2.UNFILLED_REASON_OUT_OF_STOCK)],
        "unzoned": [(0, "A", allocation_pb2.UNFILLED_REASON_UNDELIVERABLE_DESTINATION)],
        "today": [(0, "A", allocation_pb2.UNFILLED_REASON_NO_SERVICE_MEETS_PROMISE)],
    }
    assert response.orders[2].unfilled_lines[0].message.startswith("orders[2].lines[0]")
    assert response.totals.unfilled_lines == 3 and response.totals.packages == 1
    assert response.totals.penalty.minor_units == 3 * PENALTY
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    assert 'warehouse_allocation_unfilled_lines_total{reason="out_of_stock"} 1.0' in text
    assert 'warehouse_allocation_orders_total{outcome="unfilled"} 3.0' in text
    assert f'warehouse_allocations_total{{method="{response.method}",status="optimal"}} 1.0' in text


def test_promise_dates_choose_the_service_and_cutoffs_the_ship_date(
    allocation: allocation_pb2_grpc.AllocationServiceStub,
) -> None:
    """A two-day promise across the country takes two-day service; past the cutoff it cannot."""
    promise = PLAN + dt.timedelta(2)
    orders = [
        order("relaxed", "94105", ("A", 1)),
        order("promised", "94105", ("A", 1), promise_date=date(promise)),
    ]
    req = request(orders, stock=stock(T_EAST={"A": 10}, T_WEST={}))
    morning = allocation.Allocate(req, timeout=30)
    relaxed, promised = (o.shipments[0] for o in morning.orders)
    assert (relaxed.service, as_date(relaxed.expected_delivery_date)) == (
        "T-GROUND",
        PLAN + dt.timedelta(5),
    )
    assert promised.service == "T-2DAY" and as_date(promised.expected_delivery_date) <= promise
    assert promised.cost.minor_units > relaxed.cost.minor_units
    req.plan_time.hours = 18  # the east FC's 17:00 pickup has left: it ships tomorrow
    evening = allocation.Allocate(req, timeout=30)
    late, missed = evening.orders
    assert as_date(late.shipments[0].ship_date) == PLAN + dt.timedelta(1)
    assert as_date(late.shipments[0].expected_delivery_date) == PLAN + dt.timedelta(6)
    assert not missed.shipments
    assert [u.reason for u in missed.unfilled_lines] == [
        allocation_pb2.UNFILLED_REASON_NO_SERVICE_MEETS_PROMISE
    ]


def test_allocations_run_in_the_worker_pool(start_server: StartServer) -> None:
    """With solver processes, the allocation is solved in one of them and comes back whole."""
    server = start_server(workers=1)
    req = request(
        [order("o1", "10001", ("A", 2)), order("o2", "94105", ("C", 1))],
        stock=stock(T_EAST={"A": 10}, T_WEST={}),
    )
    with grpc.insecure_channel(server.address) as channel:
        response = allocation_pb2_grpc.AllocationServiceStub(channel).Allocate(req, timeout=60)
    assert [len(o.shipments) for o in response.orders] == [1, 0]
    assert response.orders[1].unfilled_lines[0].reason == (
        allocation_pb2.UNFILLED_REASON_OUT_OF_STOCK
    )
    assert response.totals.shipping_cost.minor_units == response.orders[0].cost.minor_units > 0


def fc_stock(fc: str) -> dict[str, int]:
    with (DEMO_DIR / "networks" / f"{fc}.stock.csv").open() as f:
        return {r["sku"]: int(r["quantity"]) for r in csv.DictReader(f)}


def test_the_demo_network_allocates_from_its_seeded_fc_stock(
    server: WarehouseServer, allocation: allocation_pb2_grpc.AllocationServiceStub
) -> None:
    """The demo network and FC stock load at start; a SKU only Riverside holds ships from there."""
    assert server.loaded_networks == ["demo"]
    assert server.seeded_fc_stock == ["ABE1", "DFW1", "RIV1"]
    stocks = {fc: fc_stock(fc) for fc in ("ABE1", "DFW1", "RIV1")}
    west_only = next(
        sku for sku in stocks["RIV1"] if sku not in stocks["ABE1"] and sku not in stocks["DFW1"]
    )
    req = allocation_pb2.AllocateRequest(
        network_id="demo",
        orders=[
            order("ny", "10001", ("SKU-0001", 1)),
            order("ny-rare", "10001", (west_only, 1)),
        ],
        skus=[
            allocation_pb2.SkuUnit(id=s, weight_kg=0.8, length_cm=30, width_cm=20, height_cm=10)
            for s in ("SKU-0001", west_only)
        ],
        plan_date=date(PLAN),
        plan_time={"hours": 9},
    )
    response = allocation.Allocate(req, timeout=30)
    assert [o.shipments[0].fc for o in response.orders] == ["ABE1", "RIV1"]
    assert [s.fc for s in response.stock_sources] == ["ABE1", "DFW1", "RIV1"]
    assert all(s.inventory_version >= 1 and not s.from_request for s in response.stock_sources)
    assert response.orders[0].shipments[0].cost.currency_code == "USD"


def test_a_bad_network_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    """A bad network file fails the load naming file and field; an id-less file takes its name."""
    good = (DEMO_DIR / "networks" / "demo.network.yaml").read_text()
    (tmp_path / "east.network.yaml").write_text(good.replace("id: demo\n", ""))
    registry = NetworkRegistry()
    assert registry.load_dir(tmp_path) == ["east"]
    assert [fc.id for fc in registry.get("east").fcs] == ["ABE1", "DFW1", "RIV1"]
    (tmp_path / "bad.network.yaml").write_text(
        good.replace("cutoff: {hours: 19}", "cutoff: {hours: 31}")
    )
    with pytest.raises(ValueError, match=r"bad\.network\.yaml: fcs\[1\]\.cutoff"):
        NetworkRegistry().load_dir(tmp_path)
