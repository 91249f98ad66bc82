"""Generated days for ``warehouse replan``: a realistic day on disk from a seed.

:func:`write_sample_day` writes every file of "a day on disk" (the ``day.yaml`` manifest, the FC
network, SKUs, orders, one layout per FC and the FCs' bin stock) for a day drawn by
:func:`allocation.generator.generate`, so that a replan can be shown, tested and benchmarked
without customer data. The same arguments give byte-identical files.

What it writes
--------------
* ``network.yaml``: the generator's FCs (with its tight package, unit and express capacities)
  and its ground, two-day and overnight services, converted by
  :func:`services.networks.network_message` and written in the proto JSON mapping. Destinations
  are written as postal codes only, and :mod:`allocation.quotes` zones a destination without
  coordinates by the zone charts alone (distance bands need the destination's coordinates), so
  the charts are required; the distance bands are kept for callers that give coordinates. The
  three services share one chart and one set of bands, written once as YAML anchors.
* ``orders.csv`` / ``.jsonl`` / ``.parquet``: the generator's orders with their 5-digit ZIPs,
  promise days, service levels, priorities and residential flags (its ``locked_fc`` has no place
  in the day format and is dropped).
* ``layouts/<FC>.yaml``: a rectangular one-block warehouse per FC (16-30 aisles, 30-75 cells
  per face, two-sided, depot in the middle of the front cross aisle), sized from the
  number of bins the FC's stock needs.
* ``stock.csv``: each FC's stock spread over bins of its layout, one SKU per bin; about 30 % of
  the SKUs with two units or more sit in 2-3 bins, and the most demanded SKUs sit nearest the
  depot (class-based storage: the nearest fifth of the used bins for the first fifth of the
  slots, the next three tenths for the next, the rest at random).
* ``skus.csv`` and ``day.yaml``.
"""

from __future__ import annotations

import csv
import datetime
import io
import itertools
import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import yaml
from google.protobuf import descriptor, json_format
from google.protobuf.message import Message
from warehouse.v1 import layout_pb2

from allocation.generator import HUBS, generate
from allocation.model import SERVICE_LEVELS, AllocationProblem, Order
from services.layouts import compile_layout
from services.networks import network_message
from services.replan.day import ORDER_LEVEL_COLUMNS

#: Batching iterations per wave in the sample day's settings.
SAMPLE_MAX_ITERATIONS = 2
#: Order file formats :func:`write_sample_day` writes.
ORDERS_FORMATS = ("csv", "jsonl", "parquet")
#: Columns of ``orders.csv`` (and ``orders.parquet``), one row per order line.
ORDER_COLUMNS = ("order_id", "sku", "quantity", *ORDER_LEVEL_COLUMNS)
#: Columns of ``skus.csv``.
SKU_COLUMNS = ("sku", "weight_kg", "length_cm", "width_cm", "height_cm")
#: Columns of ``stock.csv``.
STOCK_COLUMNS = ("warehouse_id", "bin_id", "sku", "quantity")
#: Plan date of a sample day unless another is given.
DEFAULT_PLAN_DATE = datetime.date(2026, 11, 28)
#: SKUs in the catalogue of a sample day unless another count is given.
DEFAULT_SKUS = 2000
#: Id of the sample network.
NETWORK_ID = "sample"
#: Depot id of every sample layout.
DEPOT_ID = "DEPOT"
#: Aisles, blocks and cells per face a sample layout may have. One block (front and back
#: cross aisles only), where every cart's route is priced exactly in well under a millisecond;
#: a second block makes each pricing several times dearer, and a day's picking with it.
AISLES = (16, 30)
BLOCKS = (1,)
CELLS_PER_FACE = (30, 75)
#: Share of a layout's bins the stock is meant to fill, drawn per FC from this range.
TARGET_FILL = (0.70, 0.85)
#: Share of the SKUs with two units or more that are stored in 2-3 bins.
MULTI_BIN_SHARE = 0.30
#: Share of the multi-bin SKUs (with three units or more) stored in three bins.
THREE_BIN_SHARE = 0.35
#: Cut points of the storage classes, as shares of the used bins nearest the depot.
STORAGE_CLASSES = (0.2, 0.5)
#: The picking cart: 8 totes of 40 litres, at most 8 orders, an order may fill several totes.
CART: Mapping[str, Any] = {
    "totes": 8,
    "tote_volume_l": 40,
    "max_orders": 8,
    "orders_may_span_totes": True,
}
_STREAM_LAYOUT = 1


@dataclass(frozen=True)
class LayoutShape:
    """The size of a rectangular sample warehouse: ``aisles`` two-sided aisles cut into
    ``blocks`` blocks of ``cells_per_face`` cells per face."""

    aisles: int
    blocks: int
    cells_per_face: int

    @property
    def bins(self) -> int:
        """Bins of the warehouse (two faces per aisle)."""
        return self.aisles * self.blocks * self.cells_per_face * 2


def sample_problem(
    *, orders: int, warehouses: int, seed: int, skus: int = DEFAULT_SKUS
) -> AllocationProblem:
    """The generated allocation problem a sample day of these arguments is written from.

    Raises
    ------
    ValueError
        ``orders`` or ``skus`` below 1, or ``warehouses`` outside 1..10 (the generator's hubs).
    """
    return generate(orders, n_fcs=warehouses, n_skus=skus, seed=seed)


def write_sample_day(
    out_dir: Path,
    *,
    orders: int = 5000,
    warehouses: int = 3,
    seed: int = 1,
    orders_format: str = "csv",
    plan_date: datetime.date = DEFAULT_PLAN_DATE,
    skus: int = DEFAULT_SKUS,
) -> Path:
    """Write a generated day into ``out_dir`` (created if needed) and return its ``day.yaml``.

    ``orders`` orders over the first ``warehouses`` of the generator's hubs, drawn with
    ``seed`` from a catalogue of ``skus`` SKUs; ``orders_format`` is ``csv``, ``jsonl`` or
    ``parquet`` (needs pyarrow). Files already in ``out_dir`` with the same names are
    replaced; the same arguments give byte-identical files.

    Raises
    ------
    ValueError
        An unknown ``orders_format``, sizes the generator refuses, or an FC whose stock needs
        more bins than the largest sample layout holds (fewer ``skus`` fit).
    """
    if orders_format not in ORDERS_FORMATS:
        raise ValueError(f"orders_format must be one of {ORDERS_FORMATS}, got {orders_format!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    problem = sample_problem(orders=orders, warehouses=warehouses, seed=seed, skus=skus)
    rng = np.random.default_rng([seed, _STREAM_LAYOUT])
    demand = _demand(problem)
    layouts: dict[str, layout_pb2.Layout] = {}
    stock_rows: list[tuple[str, str, str, int]] = []
    for fc in problem.fcs:
        slots = _slots(rng, problem.stock.get(fc.id, {}), demand)
        layout = _layout(fc.id, _shape(rng, len(slots), fc.id))
        layouts[fc.id] = layout
        stock_rows += _place(rng, layout, slots)

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "layouts").mkdir(exist_ok=True)
    network_yaml, rate_cards = _network_files(problem)
    _write_text(out_dir / "network.yaml", network_yaml)
    _write_text(out_dir / "rate_cards.csv", rate_cards)
    _write_text(out_dir / "skus.csv", _skus_csv(problem))
    orders_name = f"orders.{orders_format}"
    if orders_format == "csv":
        _write_text(out_dir / orders_name, _orders_csv(problem))
    elif orders_format == "jsonl":
        _write_text(out_dir / orders_name, _orders_jsonl(problem))
    else:
        _write_orders_parquet(out_dir / orders_name, problem)
    _write_text(out_dir / "stock.csv", _csv(STOCK_COLUMNS, sorted(stock_rows)))
    layout_paths: dict[str, str] = {}
    for fc_id, layout in layouts.items():
        layout_paths[fc_id] = f"layouts/{fc_id}.yaml"
        _write_text(out_dir / layout_paths[fc_id], _layout_yaml(layout))
    manifest = out_dir / "day.yaml"
    _write_text(
        manifest,
        _manifest(problem, seed, plan_date, orders_name, layout_paths, len(stock_rows)),
    )
    return manifest


# -- stock and layouts ----------------------------------------------------------------------


def _demand(problem: AllocationProblem) -> dict[str, int]:
    """Units ordered per SKU in the day."""
    units: dict[str, int] = {}
    for order in problem.orders:
        for line in order.lines:
            units[line.sku] = units.get(line.sku, 0) + line.quantity
    return units


def _slots(
    rng: np.random.Generator, stock: Mapping[str, int], demand: Mapping[str, int]
) -> list[tuple[str, int]]:
    """An FC's stock as (SKU, units) per bin, most demanded SKUs first: one bin per SKU, or
    2-3 bins for :data:`MULTI_BIN_SHARE` of the SKUs with two units or more."""
    ranked = sorted(stock, key=lambda k: (-demand.get(k, 0), -stock[k], k))
    multi = rng.random(len(ranked)) < MULTI_BIN_SHARE
    three = rng.random(len(ranked)) < THREE_BIN_SHARE
    slots: list[tuple[str, int]] = []
    for i, sku in enumerate(ranked):
        units = stock[sku]
        count = 1
        if multi[i] and units >= 2:
            count = 3 if three[i] and units >= 3 else 2
        # Every bin gets at least one unit; the rest falls evenly at random.
        split = 1 + rng.multinomial(units - count, np.full(count, 1.0 / count))
        slots += [(sku, int(q)) for q in split]
    return slots


def _shape(rng: np.random.Generator, needed: int, fc_id: str) -> LayoutShape:
    """A warehouse shape holding ``needed`` bins at a randomly drawn fill of
    :data:`TARGET_FILL`: the first shape, in random order of aisles and blocks, whose cells per
    face fit :data:`CELLS_PER_FACE`, else the smallest shape that holds them all."""
    fill = rng.uniform(*TARGET_FILL)
    pairs = [(a, b) for a in range(AISLES[0], AISLES[1] + 1) for b in BLOCKS]
    for index in rng.permutation(len(pairs)):
        aisles, blocks = pairs[int(index)]
        cells = math.ceil(needed / (fill * aisles * blocks * 2))
        if CELLS_PER_FACE[0] <= cells <= CELLS_PER_FACE[1]:
            return LayoutShape(aisles, blocks, cells)
    shapes = [
        LayoutShape(a, b, c)
        for a, b in pairs
        for c in range(CELLS_PER_FACE[0], CELLS_PER_FACE[1] + 1)
    ]
    fitting = [s for s in shapes if s.bins >= needed]
    if not fitting:
        largest = max(s.bins for s in shapes)
        raise ValueError(
            f"stock of {fc_id} needs {needed} bins (one SKU per bin) but the largest sample "
            f"layout has {largest}; generate fewer SKUs"
        )
    return min(fitting, key=lambda s: (s.bins, s.aisles, s.blocks))


def _layout(fc_id: str, shape: LayoutShape) -> layout_pb2.Layout:
    """The ``Layout`` of an FC's sample warehouse: 1 m cells, aisles 4 m apart centre to
    centre, 3 m cross aisles, the depot in the middle of the front cross aisle."""
    name = next((h.name for h in HUBS if h.id == fc_id), fc_id)
    spacing_m = 4.0
    layout = layout_pb2.Layout(
        id=fc_id,
        display_name=(
            f"{name} ({shape.aisles} aisles x {shape.blocks} blocks x "
            f"{shape.cells_per_face} cells per face, {shape.bins} bins)"
        ),
    )
    rect = layout.rectangular
    rect.aisles = shape.aisles
    rect.cells_per_face.append(shape.cells_per_face)
    rect.cell_length_m = 1.0
    rect.aisle_spacing_m = spacing_m
    rect.cross_aisles = shape.blocks + 1
    rect.cross_aisle_width_m = 3.0
    rect.end_gap_m = 1.5
    rect.two_sided = True
    rect.depots.add(id=DEPOT_ID, cross_aisle=0, x_m=spacing_m * ((shape.aisles - 1) // 2))
    return layout


def _place(
    rng: np.random.Generator, layout: layout_pb2.Layout, slots: Sequence[tuple[str, int]]
) -> list[tuple[str, str, str, int]]:
    """Stock rows (warehouse, bin, SKU, units) putting ``slots`` (most demanded first) in
    distinct bins of ``layout``, nearest the depot by storage class."""
    oracle = compile_layout(layout)
    if len(slots) > oracle.n_bins:
        raise ValueError(f"{layout.id}: {len(slots)} bins of stock, layout has {oracle.n_bins}")
    depot_x, depot_y = oracle.point(oracle.depot_location(DEPOT_ID))
    # The depot is on the front cross aisle: walk along it, then up the bin's aisle.
    walk = np.array(
        [abs(x - depot_x) + abs(y - depot_y) for x, y in map(oracle.point, range(oracle.n_bins))]
    )
    nearest = np.lexsort((np.arange(oracle.n_bins), walk))
    n = len(slots)
    cuts = [0, *(math.ceil(share * n) for share in STORAGE_CLASSES), oracle.n_bins]
    order = np.concatenate([rng.permutation(nearest[lo:hi]) for lo, hi in itertools.pairwise(cuts)])
    return [
        (layout.id, oracle.bin_ids[int(b)], sku, units)
        for (sku, units), b in zip(slots, order[:n], strict=True)
    ]


# -- file contents --------------------------------------------------------------------------


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="")


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _skus_csv(problem: AllocationProblem) -> str:
    rows = [
        (s.id, s.weight_kg, s.length_cm, s.width_cm, s.height_cm)
        for s in sorted(problem.skus.values(), key=lambda s: s.id)
    ]
    return _csv(SKU_COLUMNS, rows)


def _order_fields(order: Order) -> dict[str, Any]:
    """The order-level fields of an order in the day format (None: not given)."""
    return {
        "postal_code": order.destination.postal_code,
        "promise_days": order.promise_days,
        "service_level": SERVICE_LEVELS[order.service_level],
        "priority": order.priority,
        "residential": order.residential,
    }


def _orders_csv(problem: AllocationProblem) -> str:
    rows: list[tuple[object, ...]] = []
    for order in problem.orders:
        f = _order_fields(order)
        promise = "" if f["promise_days"] is None else f["promise_days"]
        residential = "true" if f["residential"] else "false"
        for line in order.lines:
            rows.append(
                (
                    order.id,
                    line.sku,
                    line.quantity,
                    f["postal_code"],
                    "",
                    "",
                    promise,
                    f["service_level"],
                    f["priority"],
                    residential,
                )
            )
    return _csv(ORDER_COLUMNS, rows)


def _orders_jsonl(problem: AllocationProblem) -> str:
    out: list[str] = []
    for order in problem.orders:
        f = _order_fields(order)
        record: dict[str, Any] = {
            "order_id": order.id,
            "postal_code": f["postal_code"],
            "lines": [{"sku": x.sku, "quantity": x.quantity} for x in order.lines],
        }
        if f["promise_days"] is not None:
            record["promise_days"] = f["promise_days"]
        record |= {k: f[k] for k in ("service_level", "priority", "residential")}
        out.append(json.dumps(record, separators=(", ", ": ")) + "\n")
    return "".join(out)


def _write_orders_parquet(path: Path, problem: AllocationProblem) -> None:
    """The CSV's columns as a Parquet table: text ids and postal codes, empty coordinates,
    nullable whole promise days, boolean ``residential``."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    columns: dict[str, list[Any]] = {name: [] for name in ORDER_COLUMNS}
    for order in problem.orders:
        f = _order_fields(order)
        for line in order.lines:
            columns["order_id"].append(order.id)
            columns["sku"].append(line.sku)
            columns["quantity"].append(line.quantity)
            columns["latitude"].append(None)
            columns["longitude"].append(None)
            for key in ("postal_code", "promise_days", "service_level", "priority", "residential"):
                columns[key].append(f[key])
    types = {
        "order_id": pa.string(),
        "sku": pa.string(),
        "quantity": pa.int64(),
        "postal_code": pa.string(),
        "latitude": pa.float64(),
        "longitude": pa.float64(),
        "promise_days": pa.int64(),
        "service_level": pa.string(),
        "priority": pa.int64(),
        "residential": pa.bool_(),
    }
    schema = pa.schema([(name, types[name]) for name in ORDER_COLUMNS])
    table = pa.Table.from_pydict(columns, schema=schema)
    pq.write_table(table, path)


def _json_numbers(message_type: descriptor.Descriptor, value: dict[str, Any]) -> None:
    """Turn the 64-bit integers of a proto JSON mapping, which are strings there, back into
    numbers (in place), so the YAML reads like a hand-written file; parsing takes either."""
    wide = {
        descriptor.FieldDescriptor.TYPE_INT64,
        descriptor.FieldDescriptor.TYPE_UINT64,
        descriptor.FieldDescriptor.TYPE_SINT64,
        descriptor.FieldDescriptor.TYPE_FIXED64,
        descriptor.FieldDescriptor.TYPE_SFIXED64,
    }
    for field in message_type.fields:
        if field.json_name not in value:
            continue
        item = value[field.json_name]
        sub = field.message_type
        if sub is not None and sub.GetOptions().map_entry:
            target = sub.fields_by_name["value"]
            for key in list(item):
                if target.message_type is not None and isinstance(item[key], dict):
                    _json_numbers(target.message_type, item[key])
                elif target.type in wide:
                    item[key] = int(item[key])
        elif sub is not None:
            for element in item if isinstance(item, list) else [item]:
                if isinstance(element, dict):
                    _json_numbers(sub, element)
        elif field.type in wide:
            value[field.json_name] = [int(v) for v in item] if isinstance(item, list) else int(item)


def _message_dict(message: Message) -> dict[str, Any]:
    """The proto JSON mapping of ``message`` with 64-bit integers as numbers."""
    document = json_format.MessageToDict(message)
    _json_numbers(cast(descriptor.Descriptor, message.DESCRIPTOR), document)
    return document


def _yaml(document: Any, anchors: Mapping[int, str] | None = None) -> str:
    """YAML of a document: keys in their order, lists of scalars on one line, and the objects
    of ``anchors`` (by ``id``) that occur more than once named by it."""
    names = dict(anchors or {})

    class Dumper(yaml.SafeDumper):
        def generate_anchor(self, node: yaml.Node) -> str:
            for key, represented in self.represented_objects.items():
                if represented is node and key in names:
                    return names[key]
            return str(super().generate_anchor(node))

    return yaml.dump(
        document,
        Dumper=Dumper,
        sort_keys=False,
        default_flow_style=None,
        width=100,
        allow_unicode=True,
    )


def _comment(text: str) -> str:
    """``text`` as a YAML comment block, each paragraph (blank-line separated) refilled."""
    out: list[str] = []
    for paragraph in text.strip().split("\n\n"):
        if out:
            out.append("#")
        filled = textwrap.fill(" ".join(paragraph.split()), width=98, break_on_hyphens=False)
        out += [f"# {line}" for line in filled.split("\n")]
    return "\n".join(out) + "\n"


def _network_files(problem: AllocationProblem) -> tuple[str, str]:
    """``network.yaml`` (FCs and services without prices) and ``rate_cards.csv`` (every
    service's price table, as carriers publish them)."""
    names = [next(h.name for h in HUBS if h.id == fc.id) for fc in problem.fcs]
    message = network_message(
        problem.fcs,
        problem.services,
        network_id=NETWORK_ID,
        display_name=f"Sample network ({', '.join(names)})",
        currency=problem.currency,
    )
    for fc, name in zip(message.fcs, names, strict=True):
        fc.display_name = name
    zones = sorted({z for s in message.services for z in s.rate_card.zones})
    price_rows: list[list[object]] = []
    for service in message.services:
        card = service.rate_card
        column = {z: k for k, z in enumerate(card.zones)}
        step = card.weight_step or 1.0
        for n, row in enumerate(card.prices, start=1):
            price_rows.append(
                [service.id, f"{n * step:g}", *(row.prices[column[z]] for z in zones)]
            )
        card.ClearField("prices")
        card.ClearField("zones")
    rate_cards = _csv(["service", "weight", *map(str, zones)], price_rows)
    document = _message_dict(message)
    # One chart, one set of bands and one list of surcharges serve several services: written
    # once, referred to by YAML aliases.
    anchors: dict[int, str] = {}
    shared: dict[str, list[Any]] = {}
    for service in document.get("services", []):
        for key in ("zoneCharts", "distanceBands", "surcharges"):
            if key not in service:
                continue
            same = next((s for s in shared.setdefault(key, []) if s == service[key]), None)
            if same is None:
                shared[key].append(service[key])
                anchors[id(service[key])] = f"{key}_{service['id']}"
            else:
                service[key] = same
    levels = ", ".join(
        f"{s.id} ({SERVICE_LEVELS[s.level]}, {_days(s.transit_days)})" for s in problem.services
    )
    header = f"""
A generated FC network (services/replan/sample.py over allocation/generator.py): {len(names)}
fulfillment centers ({", ".join(f"{fc.id} {n}" for fc, n in zip(problem.fcs, names, strict=True))})
shipping with a national-carrier-style {levels}, priced by the pound (1-150 lb, zones 2-8) near
published 2025 list rates, 139 in3/lb dimensional divisor; not any carrier's tariff. Capacities
are tight on purpose: the FCs that are cheapest for the most orders cannot ship them all.

Zones come from a zone chart per FC by destination ZIP3, which orders given by postal code
only need, and from the equivalent distance bands for orders given by coordinates; every
service shares them (YAML anchors). Cutoffs are on one clock, US Eastern.

Prices are in rate_cards.csv next to this file: one row per service and weight (the row's
upper billable weight in the card's unit), one column per zone, in cents.

The file is the proto JSON mapping of warehouse.v1.Network (protos/warehouse/v1/allocation.proto).
"""
    return _comment(header) + _yaml(document, anchors), rate_cards


def _days(days: Sequence[int]) -> str:
    """``1-5 days`` or ``2 days``."""
    low, high = min(days), max(days)
    return f"{low} day{'s' * (high != 1)}" if low == high else f"{low}-{high} days"


def _layout_yaml(layout: layout_pb2.Layout) -> str:
    rect = layout.rectangular
    blocks = rect.cross_aisles - 1
    cells, cell_m = rect.cells_per_face[0], rect.cell_length_m
    header = f"""
Sample warehouse of FC {layout.id}: {rect.aisles} two-sided pick aisles
{rect.aisle_spacing_m:g} m apart, {rect.cross_aisles} cross aisles ({blocks} blocks) of
{cells} cells of {cell_m:g} m per face; the depot is on the front cross aisle at
x = {rect.depots[0].x_m:g} m.

Bin ids follow the default scheme A{{aisle:02d}}-B{{block}}-{{position:03d}}{{side}}:
A03-B1-012L is aisle 3, block 1, cell 12 from the block's front, left face.

The file is the proto JSON mapping of warehouse.v1.Layout (protos/warehouse/v1/layout.proto).
"""
    return _comment(header) + _yaml(_message_dict(layout))


def _manifest(
    problem: AllocationProblem,
    seed: int,
    plan_date: datetime.date,
    orders_name: str,
    layouts: Mapping[str, str],
    stock_rows: int,
) -> str:
    now = int(problem.now_s)
    policy = problem.policy
    lines = sum(len(o.lines) for o in problem.orders)
    promised = sum(1 for o in problem.orders if o.promise_days is not None)
    express = sum(1 for o in problem.orders if o.service_level > 0)
    fc_ids = ", ".join(f.id for f in problem.fcs)
    document: dict[str, Any] = {
        "name": f"sample-{len(problem.orders)}-orders-{len(problem.fcs)}-fcs-seed-{seed}",
        "plan_date": plan_date.isoformat(),
        "plan_time": f"{now // 3600:02d}:{now % 3600 // 60:02d}",
        "seed": seed,
        "network": "network.yaml",
        "rate_cards": "rate_cards.csv",
        "skus": "skus.csv",
        "orders": orders_name,
        "stock": "stock.csv",
        "layouts": dict(layouts),
        "policy": {
            "allow_split": policy.allow_split,
            "max_packages_per_order": policy.max_packages_per_order,
            "unfilled_line_penalty": policy.unfilled_line_penalty,
        },
        "allocation": {"orders_per_region": 25_000, "time_limit_s": 120},
        "picking": {
            "orders_per_wave": 40,
            # Savings carts and two rounds of improvement per wave: a 20,000-order day plans
            # in about four minutes on two cores. Each tenfold more iterations walks about
            # 1 % less and takes several times longer (benchmarks/results/replan.md).
            "max_iterations": SAMPLE_MAX_ITERATIONS,
            "time_limit_s": 60,
            "cart": dict(CART),
        },
    }
    header = f"""
A generated day for `warehouse replan` (services/replan/sample.py, seed {seed}; the same
arguments write the same bytes). {len(problem.orders):,} orders ({lines:,} lines) from US ZIP codes,
{promised:,} with a delivery promise and {express:,} asking for two-day or overnight service,
{len(problem.skus):,} SKUs, {len(problem.fcs)} fulfillment centers ({fc_ids}), each with its
own warehouse layout and its stock in {stock_rows:,} bins.

Allocation picks the FC and carrier service of every order at the least shipping cost that
keeps the promises, against tight FC capacities and some SKUs stocked below demand; picking
then batches each FC's orders into carts of {CART["totes"]} totes of {CART["tote_volume_l"]} l
(at most {CART["max_orders"]} orders) and routes them through its warehouse. Paths are
relative to this file.
"""
    return _comment(header) + _yaml(document)
