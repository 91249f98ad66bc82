"""Generated sample days (services/replan/sample.py) and the domain -> proto network conversion.

Small days (300 orders, 3 FCs, 600 SKUs) are written once per module and read back with plain
csv / json / yaml / pyarrow, not with the replan's own loader, so the files are checked against
the format of docs/replan.md itself.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format
from warehouse.v1 import layout_pb2

from allocation import model
from routing.oracle import DistanceOracle
from services.layouts import compile_layout
from services.networks import network_message, network_to_domain
from services.replan import sample
from services.replan.day import load_day
from services.replan.sample import (
    DEPOT_ID,
    ORDER_COLUMNS,
    sample_problem,
    write_sample_day,
)

ORDERS = 300
WAREHOUSES = 3
SEED = 5
SKUS = 600

#: An order as the files say it: (postal code, promise days, level, priority, residential,
#: ((sku, quantity), ...)).
OrderRecord = tuple[str, int | None, str, int, bool, tuple[tuple[str, int], ...]]


def _write(root: Path, name: str, **kwargs: Any) -> Path:
    args: dict[str, Any] = {"orders": ORDERS, "warehouses": WAREHOUSES, "seed": SEED, "skus": SKUS}
    return write_sample_day(root / name, **(args | kwargs))


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The manifest of the same day with orders as csv, jsonl and parquet."""
    root = tmp_path_factory.mktemp("days")
    return {fmt: _write(root, fmt, orders_format=fmt) for fmt in ("csv", "jsonl", "parquet")}


@pytest.fixture(scope="module")
def day(days: dict[str, Path]) -> Path:
    """The directory of the CSV day."""
    return days["csv"].parent


@pytest.fixture(scope="module")
def problem() -> model.AllocationProblem:
    """The generator's problem the days are written from."""
    return sample_problem(orders=ORDERS, warehouses=WAREHOUSES, seed=SEED, skus=SKUS)


@pytest.fixture(scope="module")
def manifest(days: dict[str, Path]) -> dict[str, Any]:
    """The CSV day's manifest."""
    document = yaml.safe_load(days["csv"].read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def oracles(day: Path, manifest: dict[str, Any]) -> dict[str, DistanceOracle]:
    """Every layout of the day, compiled, by FC id."""
    out: dict[str, DistanceOracle] = {}
    for fc_id, rel in manifest["layouts"].items():
        document = yaml.safe_load((day / rel).read_text(encoding="utf-8"))
        layout = json_format.ParseDict(document, layout_pb2.Layout())
        assert layout.id == fc_id
        out[fc_id] = compile_layout(layout)
    return out


@pytest.fixture(scope="module")
def stock_rows(day: Path) -> list[dict[str, str]]:
    """The rows of stock.csv."""
    with (day / "stock.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _csv_orders(path: Path) -> dict[str, OrderRecord]:
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == ORDER_COLUMNS
        for row in reader:
            rows[row["order_id"]].append(row)
    out: dict[str, OrderRecord] = {}
    for order_id, lines in rows.items():
        first = lines[0]
        level = ("postal_code", "promise_days", "service_level", "priority", "residential")
        assert all(all(x[k] == first[k] for k in level) for x in lines), order_id
        assert first["latitude"] == first["longitude"] == ""
        out[order_id] = (
            first["postal_code"],
            int(first["promise_days"]) if first["promise_days"] else None,
            first["service_level"],
            int(first["priority"]),
            {"true": True, "false": False}[first["residential"]],
            tuple((x["sku"], int(x["quantity"])) for x in lines),
        )
    return out


def _jsonl_orders(path: Path) -> dict[str, OrderRecord]:
    out: dict[str, OrderRecord] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        out[r["order_id"]] = (
            r["postal_code"],
            r.get("promise_days"),
            r["service_level"],
            r["priority"],
            r["residential"],
            tuple((x["sku"], x["quantity"]) for x in r["lines"]),
        )
    return out


def _parquet_orders(path: Path) -> dict[str, OrderRecord]:
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(path)
    assert tuple(table.column_names) == ORDER_COLUMNS
    assert str(table.schema.field("postal_code").type) == "string"
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in table.to_pylist():
        rows[row["order_id"]].append(row)
    return {
        order_id: (
            lines[0]["postal_code"],
            lines[0]["promise_days"],
            lines[0]["service_level"],
            lines[0]["priority"],
            lines[0]["residential"],
            tuple((x["sku"], x["quantity"]) for x in lines),
        )
        for order_id, lines in rows.items()
    }


def test_files_exist_and_parse(day: Path, manifest: dict[str, Any]) -> None:
    """The manifest names files that exist, with the documented fields and settings."""
    assert manifest["plan_date"] == "2026-11-28"
    assert manifest["seed"] == SEED
    for key in ("network", "skus", "orders", "stock"):
        assert (day / manifest[key]).is_file(), key
    assert manifest["orders"] == "orders.csv"
    assert sorted(manifest["layouts"]) == ["ABE1", "ATL1", "DFW1"]
    assert all((day / p).is_file() for p in manifest["layouts"].values())
    assert manifest["policy"] == {
        "allow_split": True,
        "max_packages_per_order": 3,
        "unfilled_line_penalty": 100_000,
    }
    assert manifest["allocation"]["orders_per_region"] == 25_000
    picking = manifest["picking"]
    assert (picking["orders_per_wave"], picking["max_iterations"]) == (40, 2)
    assert picking["cart"]["totes"] == 8 and picking["cart"]["max_orders"] == 8


def test_network_round_trips(day: Path, problem: model.AllocationProblem) -> None:
    """The network and rate card files read back into the generator's FCs and services, zone
    charts and prices included; the network file alone carries no prices."""
    network = load_day(day / "day.yaml").domain_network
    document = yaml.safe_load((day / "network.yaml").read_text())
    assert all("prices" not in s["rateCard"] for s in document["services"])
    assert network.id == "sample"
    assert network.currency == problem.currency
    assert network.fcs == problem.fcs
    assert network.services == problem.services
    assert all(s.zone_charts and s.distance_bands for s in network.services)


def test_network_message_inverts_network_to_domain() -> None:
    """A hand-made network with every optional feature survives domain -> proto -> domain."""
    fcs = (
        model.FulfillmentCenter(
            "A", model.Location("18106", 40.5, -75.5), 10, 20, 45_296.25, 100, {"S": 3}
        ),
        model.FulfillmentCenter("B", model.Location("75019"), cutoff_s=86_400.0),
        model.FulfillmentCenter("C", model.Location(latitude=1.0, longitude=2.0)),
    )
    service = model.CarrierService(
        id="S",
        rate_card=model.RateCard((1, 2), ((100, 200), (150, 250)), "kg", 0.5, 5000.0),
        transit_days=(1, 2),
        carrier="X",
        level=2,
        fuel_pct=12.5,
        surcharges=(model.Surcharge("heavy", 300, True, 1.0),),
        zone_charts={"A": (model.ZoneRange("000", "499", 1), model.ZoneRange("500", "500", 2))},
        distance_bands=model.DistanceBands((100.0, 2000.0), first_zone=1),
        fcs=("A", "B"),
    )
    message = network_message(fcs, (service,), network_id="n", display_name="N", currency="EUR")
    back = network_to_domain(message)
    assert (back.id, back.display_name, back.currency) == ("n", "N", "EUR")
    assert back.fcs == fcs
    assert back.services == (service,)


def test_layouts_compile_with_the_fc_ids(
    oracles: dict[str, DistanceOracle], problem: model.AllocationProblem
) -> None:
    """Every FC has a layout that compiles, with a depot, of the sample's size range."""
    assert sorted(oracles) == sorted(fc.id for fc in problem.fcs)
    for fc_id, oracle in oracles.items():
        assert oracle.layout_id == fc_id
        assert DEPOT_ID in oracle.depot_ids
        (lo_aisles, hi_aisles), (lo_cells, hi_cells) = sample.AISLES, sample.CELLS_PER_FACE
        blocks = sample.BLOCKS
        assert lo_aisles * min(blocks) * lo_cells * 2 <= oracle.n_bins
        assert oracle.n_bins <= hi_aisles * max(blocks) * hi_cells * 2


def test_stock_sits_in_layout_bins(
    stock_rows: list[dict[str, str]],
    oracles: dict[str, DistanceOracle],
    problem: model.AllocationProblem,
) -> None:
    """Every stocked bin exists, holds one SKU, rows are sorted, and the sums match the FCs'."""
    keys = [(r["warehouse_id"], r["bin_id"]) for r in stock_rows]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    totals: Counter[tuple[str, str]] = Counter()
    for r in stock_rows:
        assert r["bin_id"] in oracles[r["warehouse_id"]].bin_index, r
        assert int(r["quantity"]) >= 1
        totals[r["warehouse_id"], r["sku"]] += int(r["quantity"])
    expected = {(fc, sku): q for fc, units in problem.stock.items() for sku, q in units.items()}
    assert dict(totals) == expected


def test_some_skus_have_several_bins(stock_rows: list[dict[str, str]]) -> None:
    """A good share of SKUs is stored in 2-3 bins of an FC, none in more."""
    bins = Counter((r["warehouse_id"], r["sku"]) for r in stock_rows)
    assert max(bins.values()) == 3
    share = sum(1 for n in bins.values() if n > 1) / len(bins)
    assert 0.15 < share < 0.4


def test_demanded_skus_sit_near_the_depot(
    stock_rows: list[dict[str, str]],
    oracles: dict[str, DistanceOracle],
    problem: model.AllocationProblem,
) -> None:
    """Bins of SKUs ordered today are on average nearer the depot than those of the others."""
    ordered = {x.sku for o in problem.orders for x in o.lines}
    near: list[float] = []
    far: list[float] = []
    for r in stock_rows:
        oracle = oracles[r["warehouse_id"]]
        x, y = oracle.point(oracle.bin_index[r["bin_id"]])
        dx, dy = oracle.point(oracle.depot_location(DEPOT_ID))
        (near if r["sku"] in ordered else far).append(abs(x - dx) + abs(y - dy))
    assert sum(near) / len(near) < 0.8 * sum(far) / len(far)


def test_skus_file(day: Path, problem: model.AllocationProblem) -> None:
    """skus.csv lists the generator's SKUs with their weights and sizes."""
    with (day / "skus.csv").open(encoding="utf-8", newline="") as f:
        skus = {
            r["sku"]: model.Sku(
                r["sku"],
                float(r["weight_kg"]),
                float(r["length_cm"]),
                float(r["width_cm"]),
                float(r["height_cm"]),
            )
            for r in csv.DictReader(f)
        }
    assert skus == dict(problem.skus)


def test_order_formats_hold_the_same_orders(
    days: dict[str, Path], problem: model.AllocationProblem
) -> None:
    """CSV, JSON lines and Parquet hold the generator's orders, postal codes as 5-digit text."""
    from_csv = _csv_orders(days["csv"].parent / "orders.csv")
    assert from_csv == _jsonl_orders(days["jsonl"].parent / "orders.jsonl")
    assert from_csv == _parquet_orders(days["parquet"].parent / "orders.parquet")
    expected = {
        o.id: (
            o.destination.postal_code,
            o.promise_days,
            model.SERVICE_LEVELS[o.service_level],
            o.priority,
            o.residential,
            tuple((x.sku, x.quantity) for x in o.lines),
        )
        for o in problem.orders
    }
    assert from_csv == expected
    assert all(len(r[0]) == 5 and r[0].isdigit() for r in from_csv.values())
    assert any(r[1] is not None for r in from_csv.values())
    assert any(r[2] != "standard" for r in from_csv.values())


def test_same_seed_same_bytes(tmp_path: Path, days: dict[str, Path]) -> None:
    """The same arguments write identical files; another seed other orders."""
    for fmt in ("csv", "parquet"):
        again = _write(tmp_path, f"again-{fmt}", orders_format=fmt)
        assert _files(again.parent) == _files(days[fmt].parent)
    other = _write(tmp_path, "other", seed=SEED + 1)
    assert (other.parent / "orders.csv").read_bytes() != (
        days["csv"].parent / "orders.csv"
    ).read_bytes()


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    """An unknown orders format, or more stock than the largest layout holds, is a ValueError."""
    with pytest.raises(ValueError, match="orders_format"):
        write_sample_day(tmp_path / "x", orders=10, orders_format="xlsx")
    with pytest.raises(ValueError, match="bins"):
        write_sample_day(tmp_path / "y", orders=10, warehouses=1, skus=6000)
