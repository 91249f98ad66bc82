"""PickingService over gRPC: waves planned from the demo warehouse's seeded inventory."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from warehouse.v1 import (
    common_pb2,
    inventory_pb2,
    inventory_pb2_grpc,
    picking_pb2,
    picking_pb2_grpc,
)

from services.server import WarehouseServer
from tests.conftest import DEMO_DIR, StartServer
from tests.test_services_layout import _violations


def demo_stock() -> dict[str, dict[str, int]]:
    stock: dict[str, dict[str, int]] = defaultdict(dict)
    with (DEMO_DIR / "demo.stock.csv").open() as f:
        for row in csv.DictReader(f):
            stock[row["sku"]][row["bin_id"]] = int(row["quantity"])
    return stock


STOCK = demo_stock()
MULTI_BIN = sorted(sku for sku, bins in STOCK.items() if len(bins) > 1)
SINGLE_BIN = sorted(sku for sku, bins in STOCK.items() if len(bins) == 1)


def wave_request(n_orders: int = 12, **kw: object) -> picking_pb2.PlanWaveRequest:
    skus = MULTI_BIN[:10] + SINGLE_BIN[:30]
    orders = [
        picking_pb2.WaveOrder(
            id=f"order-{i}",
            lines=[
                picking_pb2.WaveOrderLine(sku=skus[(3 * i + k) % len(skus)], quantity=1)
                for k in range(1 + i % 4)
            ],
        )
        for i in range(n_orders)
    ]
    orders[-1].lines.append(picking_pb2.WaveOrderLine(sku="NO-SUCH-SKU", quantity=1))
    fields: dict[str, object] = {
        "warehouse_id": "demo",
        "orders": orders,
        "cart": picking_pb2.Cart(
            capacity_units=8, totes=4, orders_may_span_totes=True, tote_units=3
        ),
        "options": common_pb2.SolveOptions(time_limit=Duration(nanos=400_000_000), label="wave-1"),
    }
    return picking_pb2.PlanWaveRequest(**{**fields, **kw})  # type: ignore[arg-type]


@pytest.fixture
def picking(server: WarehouseServer) -> Iterator[picking_pb2_grpc.PickingServiceStub]:
    with grpc.insecure_channel(server.address) as channel:
        yield picking_pb2_grpc.PickingServiceStub(channel)


def test_plan_a_wave_from_live_inventory(picking: picking_pb2_grpc.PickingServiceStub) -> None:
    """Every line is planned once or reported; picks walk forward; totals add up."""
    request = wave_request()
    response = picking.PlanWave(request, timeout=30)
    assert response.label == "wave-1" and response.inventory_version >= 1
    assert not response.stock_from_request
    planned: dict[tuple[str, int], int] = defaultdict(int)
    for batch in response.batches:
        arrivals = [p.cumulative_distance_m for p in batch.picks]
        assert arrivals == sorted(arrivals) and arrivals[-1] <= batch.distance_m
        assert sum(p.quantity for p in batch.picks) <= 8
        assert sum(len(t.totes) for t in batch.totes) <= 4
        own = {t.order_id: set(t.totes) for t in batch.totes}
        in_tote: Counter[int] = Counter()
        for p in batch.picks:
            assert p.bin_id in STOCK[p.sku]
            assert p.tote in own[p.order_id]  # each pick says which of its order's totes
            in_tote[p.tote] += p.quantity
            planned[(p.order_id, p.line_index)] += p.quantity
        assert max(in_tote.values()) <= 3  # tote_units
    assert response.distance_m == pytest.approx(sum(b.distance_m for b in response.batches))
    [unserved] = response.unserved
    assert (unserved.sku, unserved.reason) == (
        "NO-SUCH-SKU",
        picking_pb2.UNSERVED_REASON_UNKNOWN_SKU,
    )
    expected = {
        (o.id, j): line.quantity
        for o in request.orders
        for j, line in enumerate(o.lines)
        if line.sku != "NO-SUCH-SKU"
    }
    assert dict(planned) == expected
    assert 0 < response.distance_m < response.baseline_distance_m
    assert response.saving_ratio == pytest.approx(
        1 - response.distance_m / response.baseline_distance_m
    )


def what_if(quantity: int, on_hand: int) -> picking_pb2.PlanWaveRequest:
    """One order of ``quantity`` units of SKU W, on carts of 5, from a stock given in the
    request: ``on_hand`` units in bin A04-B1-020R."""
    return picking_pb2.PlanWaveRequest(
        warehouse_id="demo",
        orders=[
            picking_pb2.WaveOrder(
                id="o", lines=[picking_pb2.WaveOrderLine(sku="W", quantity=quantity)]
            )
        ],
        cart=picking_pb2.Cart(capacity_units=5),
        stock=inventory_pb2.StockOverride(
            lines=[inventory_pb2.StockLine(sku="W", bin_id="A04-B1-020R", on_hand=on_hand)]
        ),
    )


def test_what_if_stock_wins_and_is_not_reserved(
    picking: picking_pb2_grpc.PickingServiceStub,
) -> None:
    request = what_if(2, 5)
    response = picking.PlanWave(request, timeout=30)
    assert response.stock_from_request and response.inventory_version == 0
    assert [(p.bin_id, p.quantity) for p in response.batches[0].picks] == [("A04-B1-020R", 2)]
    request.reserve = True
    with pytest.raises(grpc.RpcError) as error:
        picking.PlanWave(request, timeout=30)
    assert "reserve" in _violations(error.value)
    request.reserve = False
    request.stock.lines[0].bin_id = "NOWHERE"
    with pytest.raises(grpc.RpcError) as unknown:
        picking.PlanWave(request, timeout=30)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert "stock.lines[0].bin_id" in str(unknown.value.details())


def test_an_order_over_several_carts(picking: picking_pb2_grpc.PickingServiceStub) -> None:
    """12 units on carts of 5: reported unless orders may span carts, then on three carts."""
    request = what_if(12, 20)
    whole = picking.PlanWave(request, timeout=30)
    assert [u.reason for u in whole.unserved] == [picking_pb2.UNSERVED_REASON_LARGER_THAN_CART]
    request.cart.orders_may_span_carts = True
    split = picking.PlanWave(request, timeout=30)
    assert not split.unserved and [list(b.order_ids) for b in split.batches] == [["o"]] * 3
    assert sorted(p.quantity for b in split.batches for p in b.picks) == [2, 5, 5]
    request.cart.totes = 2
    with pytest.raises(grpc.RpcError) as error:
        picking.PlanWave(request, timeout=30)
    assert "cart.orders_may_span_carts" in _violations(error.value)


def test_reserving_a_plan_holds_its_units(server: WarehouseServer) -> None:
    """A reserved plan's units leave `available`; a plan that needs them too is not reserved."""
    with grpc.insecure_channel(server.address) as channel:
        picking = picking_pb2_grpc.PickingServiceStub(channel)
        inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
        sku = SINGLE_BIN[0]
        ((bin_id, units),) = STOCK[sku].items()
        order = picking_pb2.WaveOrder(
            id="o", lines=[picking_pb2.WaveOrderLine(sku=sku, quantity=units)]
        )
        request = picking_pb2.PlanWaveRequest(
            warehouse_id="demo", orders=[order], cart=picking_pb2.Cart(), reserve=True,
            reservation_id="wave-A",
        )  # fmt: skip
        first = picking.PlanWave(request, timeout=30)
        assert first.reserved and first.reservation_id == "wave-A"
        stock = inventory.GetStock(inventory_pb2.GetStockRequest(site_ids=["demo"], skus=[sku]))
        [line] = stock.sites[0].lines
        assert (line.bin_id, line.reserved, line.available) == (bin_id, units, 0)
        assert first.inventory_version == stock.sites[0].version
        second = picking.PlanWave(request, timeout=30)  # same id, same lines: a repeat
        assert second.reserved
        request.reservation_id = "wave-B"
        third = picking.PlanWave(request, timeout=30)
        assert [u.reason for u in third.unserved] == [picking_pb2.UNSERVED_REASON_OUT_OF_STOCK]
        assert not third.batches and not third.reserved


def test_bad_waves_are_rejected_naming_the_field(
    picking: picking_pb2_grpc.PickingServiceStub,
) -> None:
    request = wave_request()
    request.cart.capacity_units = -1
    request.orders[1].id = request.orders[0].id
    request.orders[2].lines[0].quantity = 0
    with pytest.raises(grpc.RpcError) as error:
        picking.PlanWave(request, timeout=30)
    assert {"cart.capacity_units", "orders[1].id", "orders[2].lines[0].quantity"} <= set(
        _violations(error.value)
    )
    with pytest.raises(grpc.RpcError) as missing:
        picking.PlanWave(wave_request(warehouse_id="nowhere"), timeout=30)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    checked = picking.PlanWave(
        wave_request(options=common_pb2.SolveOptions(validate_only=True, label="x")), timeout=30
    )
    assert checked.label == "x" and not checked.batches


def test_an_iteration_budget_bounds_the_search_and_is_checked(
    picking: picking_pb2_grpc.PickingServiceStub,
) -> None:
    long = common_pb2.SolveOptions(time_limit=Duration(seconds=20), label="w", seed=3)
    first = picking.PlanWave(wave_request(options=long, max_iterations=4), timeout=60)
    again = picking.PlanWave(wave_request(options=long, max_iterations=4), timeout=60)
    assert 0 < first.iterations <= 2 * 4  # two batching rounds, each within the budget
    # Bounded by work, not time: the same request gives the same plan.
    assert [list(b.order_ids) for b in first.batches] == [list(b.order_ids) for b in again.batches]
    assert first.distance_m == again.distance_m
    with pytest.raises(grpc.RpcError) as error:
        picking.PlanWave(wave_request(max_iterations=-1), timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_iterations" in (error.value.details() or "")


def test_waves_are_planned_in_the_worker_pool(start_server: StartServer) -> None:
    """With solver processes, the wave is planned in one of them and comes back whole."""
    server = start_server(workers=1)
    with grpc.insecure_channel(server.address) as channel:
        response = picking_pb2_grpc.PickingServiceStub(channel).PlanWave(wave_request(), timeout=60)
    assert response.batches and response.distance_m > 0
