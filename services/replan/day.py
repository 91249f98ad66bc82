"""A day's work on disk: the manifest ``day.yaml`` and the files it names, read and checked.

:func:`load_day` reads everything a replan needs (orders, SKUs, inventory snapshot, layouts,
FC network and rate cards, policy and settings) into a :class:`Day`, checking it all first: a
bad value is reported with its file, row and column (``orders.csv:17: quantity: 'x' is not a
whole number``), every problem at once, and nothing is planned. The format is documented in
docs/replan.md.

The day's :attr:`Day.fingerprint` hashes every input byte and setting, so a checkpoint made
from other inputs is never resumed.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from warehouse.v1 import allocation_pb2, layout_pb2, picking_pb2

from routing.errors import InvalidInput
from services.networks import Network, network_to_domain

#: Orders file formats by suffix.
ORDER_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
#: Service levels by their name in the orders file.
SERVICE_LEVELS = {
    "standard": allocation_pb2.SERVICE_LEVEL_STANDARD,
    "expedited": allocation_pb2.SERVICE_LEVEL_EXPEDITED,
    "overnight": allocation_pb2.SERVICE_LEVEL_OVERNIGHT,
}
#: At most this many problems are listed; the rest are counted.
MAX_PROBLEMS = 50


class DayError(ValueError):
    """The day's files are not valid; ``problems`` lists each one with file, row and field."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:MAX_PROBLEMS]
        more = len(problems) - len(shown)
        text = "\n".join(shown) + (f"\n... and {more} more" if more else "")
        super().__init__(text)
        self.problems = problems


@dataclass(frozen=True)
class DayOrder:
    """One customer order as the orders file gives it."""

    id: str
    lines: tuple[tuple[str, int], ...]
    postal_code: str = ""
    latitude: float | None = None
    longitude: float | None = None
    promise_days: int | None = None
    service_level: str = ""
    priority: int = 0
    residential: bool | None = None


@dataclass(frozen=True)
class AllocationSettings:
    """How the day's allocation is split: at most ``orders_per_region`` orders per solve.

    One solve is best: regions share stock and capacity in proportion to their demand, and
    the repair after them recovers only part of what that costs (on the generated 20,000-order
    day, four regions cost 7.5 % more than one solve; benchmarks/results/replan.md). Split only
    days too large for one solve in the time at hand, or for the servers (25,000 orders per
    call).
    """

    orders_per_region: int = 25_000
    time_limit_s: float = 120.0


@dataclass(frozen=True)
class PickingSettings:
    """How each warehouse's orders become waves, and the work and time each wave may take.

    ``max_iterations`` bounds the batching search, so a wave's plan is the same on any machine
    and from either engine as long as ``time_limit_s`` (a safety net) is not reached.
    """

    orders_per_wave: int = 40
    max_iterations: int = 20
    time_limit_s: float = 60.0
    cart: picking_pb2.Cart = field(
        default_factory=lambda: picking_pb2.Cart(totes=8, tote_volume_l=40.0, max_orders=8)
    )


@dataclass(frozen=True)
class Day:
    """Everything one replan reads, checked; built by :func:`load_day`."""

    name: str
    plan_date: dt.date
    #: ``(hours, minutes)`` of planning on the FCs' cutoff clock, or None (00:00).
    plan_time: tuple[int, int] | None
    seed: int
    network: allocation_pb2.Network
    domain_network: Network
    skus: Mapping[str, allocation_pb2.SkuUnit]
    orders: tuple[DayOrder, ...]
    #: Units per warehouse (FC id), SKU and bin; bin ``""`` for FC-level stock.
    stock: Mapping[str, Mapping[str, Mapping[str, int]]]
    layouts: Mapping[str, layout_pb2.Layout]
    policy: allocation_pb2.AllocationPolicy
    allocation: AllocationSettings
    picking: PickingSettings
    fingerprint: str

    def fc_stock(self, fc: str) -> dict[str, int]:
        """Units per SKU at ``fc``, over all its bins."""
        return {sku: sum(bins.values()) for sku, bins in self.stock.get(fc, {}).items()}


class _Problems:
    """Problems found while reading, each prefixed with where it is."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise DayError(self.items)


def _text(value: object) -> str:
    """A cell as stripped text; None, NaN and empty are ``""``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _int(value: object, where: str, column: str, problems: _Problems, minimum: int = 0) -> int:
    text = _text(value)
    try:
        number = int(text)
    except ValueError:
        problems.add(where, f"{column}: {text!r} is not a whole number")
        return 0
    if number < minimum:
        problems.add(where, f"{column}: {number} is below {minimum}")
    return number


def _float(value: object, where: str, column: str, problems: _Problems) -> float | None:
    text = _text(value)
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        problems.add(where, f"{column}: {text!r} is not a number")
        return None
    if not math.isfinite(number):
        problems.add(where, f"{column}: {text!r} is not a finite number")
        return None
    return number


def _bool(value: object, where: str, column: str, problems: _Problems) -> bool | None:
    text = _text(value).lower()
    if not text:
        return None
    if text in {"true", "1", "yes"}:
        return True
    if text in {"false", "0", "no"}:
        return False
    problems.add(where, f"{column}: {text!r} is not true or false")
    return None


def _csv_rows(path: Path, required: Iterable[str]) -> Iterator[tuple[str, dict[str, str]]]:
    """``(where, row)`` for every data row of a CSV file with a header naming ``required``."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise DayError([f"{path.name}: header lacks column(s) {', '.join(missing)}"])
        for row in reader:
            yield f"{path.name}:{reader.line_num}", row


# -- orders ---------------------------------------------------------------------------------


def _order_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, row)`` for every order line, whatever the file format."""
    kind = ORDER_FORMATS.get(path.suffix.lower())
    if kind == "csv":
        yield from _csv_rows(path, ("order_id", "sku", "quantity"))
    elif kind == "parquet":
        import pyarrow.parquet as pq  # type: ignore[import-untyped]  # only for Parquet input

        table = pq.read_table(path)
        missing = [c for c in ("order_id", "sku", "quantity") if c not in table.column_names]
        if missing:
            raise DayError([f"{path.name}: lacks column(s) {', '.join(missing)}"])
        for k, row in enumerate(table.to_pylist()):
            yield f"{path.name}: row {k + 1}", row
    elif kind == "jsonl":
        with path.open(encoding="utf-8") as f:
            for n, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                where = f"{path.name}:{n}"
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise DayError([f"{where}: not JSON: {exc.msg}"]) from None
                if not isinstance(record, dict) or not isinstance(record.get("lines"), list):
                    raise DayError([f"{where}: expected an object with a list of lines"])
                for k, line in enumerate(record["lines"]):
                    if not isinstance(line, dict):
                        raise DayError([f"{where}: lines[{k}]: expected an object"])
                    row = {key: value for key, value in record.items() if key != "lines"}
                    row.update(line)
                    yield f"{where}: lines[{k}]", row
    else:
        raise DayError([f"{path.name}: orders must be .csv, .jsonl or .parquet"])


#: Order-level columns: they repeat on every line of an order and must agree.
ORDER_LEVEL_COLUMNS = (
    "postal_code",
    "latitude",
    "longitude",
    "promise_days",
    "service_level",
    "priority",
    "residential",
)


def read_orders(path: Path, skus: Mapping[str, object], problems: _Problems) -> list[DayOrder]:
    """The orders of ``path`` in the order of their first line."""
    lines: dict[str, list[tuple[str, int]]] = {}
    heads: dict[str, tuple[str, dict[str, str]]] = {}
    for where, row in _order_rows(path):
        order_id = _text(row.get("order_id"))
        if not order_id:
            problems.add(where, "order_id: must not be empty")
            continue
        sku = _text(row.get("sku"))
        if sku not in skus:
            problems.add(where, f"sku: {sku!r} is not in the SKU file")
        quantity = _int(row.get("quantity"), where, "quantity", problems, minimum=1)
        head = {c: _text(row.get(c)) for c in ORDER_LEVEL_COLUMNS}
        if order_id in heads:
            first_where, first = heads[order_id]
            for c in ORDER_LEVEL_COLUMNS:
                if head[c] != first[c]:
                    problems.add(
                        where,
                        f"{c}: {head[c]!r} differs from {first[c]!r} on the order's first line "
                        f"({first_where})",
                    )
        else:
            heads[order_id] = (where, head)
        lines.setdefault(order_id, []).append((sku, quantity))
    orders = []
    for order_id, (where, head) in heads.items():
        latitude = _float(head["latitude"], where, "latitude", problems)
        longitude = _float(head["longitude"], where, "longitude", problems)
        if not head["postal_code"] and (latitude is None or longitude is None):
            problems.add(where, "postal_code: give a postal code or latitude and longitude")
        level = head["service_level"].lower()
        if level and level not in SERVICE_LEVELS:
            problems.add(
                where, f"service_level: {level!r} is not one of {', '.join(SERVICE_LEVELS)}"
            )
        orders.append(
            DayOrder(
                id=order_id,
                lines=tuple(lines[order_id]),
                postal_code=head["postal_code"],
                latitude=latitude,
                longitude=longitude,
                promise_days=(
                    _int(head["promise_days"], where, "promise_days", problems)
                    if head["promise_days"]
                    else None
                ),
                service_level=level,
                priority=(
                    _int(head["priority"], where, "priority", problems, minimum=-(2**31))
                    if head["priority"]
                    else 0
                ),
                residential=_bool(head["residential"], where, "residential", problems),
            )
        )
    return orders


# -- the other files ------------------------------------------------------------------------


def read_skus(path: Path, problems: _Problems) -> dict[str, allocation_pb2.SkuUnit]:
    """SKU sizes by id."""
    skus: dict[str, allocation_pb2.SkuUnit] = {}
    columns = ("sku", "weight_kg", "length_cm", "width_cm", "height_cm")
    for where, row in _csv_rows(path, columns):
        sku = _text(row["sku"])
        if not sku:
            problems.add(where, "sku: must not be empty")
            continue
        if sku in skus:
            problems.add(where, f"sku: {sku!r} repeats an earlier row")
        values = [_float(row[c], where, c, problems) for c in columns[1:]]
        for column, value in zip(columns[1:], values, strict=True):
            if value is not None and value <= 0:
                problems.add(where, f"{column}: must be positive, got {value:g}")
        weight, length, width, height = (v or 0.0 for v in values)
        skus[sku] = allocation_pb2.SkuUnit(
            id=sku, weight_kg=weight, length_cm=length, width_cm=width, height_cm=height
        )
    return skus


def read_stock(
    path: Path, bins: Mapping[str, frozenset[str]], fcs: frozenset[str], problems: _Problems
) -> dict[str, dict[str, dict[str, int]]]:
    """Units per warehouse, SKU and bin; ``bins`` lists each laid-out warehouse's bins."""
    stock: dict[str, dict[str, dict[str, int]]] = {}
    for where, row in _csv_rows(path, ("warehouse_id", "bin_id", "sku", "quantity")):
        warehouse = _text(row["warehouse_id"])
        bin_id = _text(row["bin_id"])
        sku = _text(row["sku"])
        quantity = _int(row["quantity"], where, "quantity", problems)
        if warehouse not in fcs:
            problems.add(where, f"warehouse_id: {warehouse!r} is not an FC of the network")
            continue
        if not sku:
            problems.add(where, "sku: must not be empty")
            continue
        if warehouse in bins:
            if bin_id not in bins[warehouse]:
                problems.add(where, f"bin_id: {bin_id!r} is not a bin of layout {warehouse!r}")
                continue
        elif bin_id:
            problems.add(where, f"bin_id: {bin_id!r} given but {warehouse!r} has no layout")
            continue
        held = stock.setdefault(warehouse, {}).setdefault(sku, {})
        if bin_id in held:
            problems.add(where, f"SKU {sku!r} in bin {bin_id!r} of {warehouse!r} again")
        held[bin_id] = quantity
    return stock


def read_rate_cards(path: Path, network: allocation_pb2.Network, problems: _Problems) -> None:
    """Fill the rate cards of ``network``'s services from a CSV price table.

    Header ``service,weight,<zone>,<zone>,...``; one row per service and weight step, the
    ``weight`` being the row's upper billable weight in the card's unit, in order
    (``weight_step``, ``2 * weight_step``, ... without gaps), prices in minor units. A service
    priced here must not carry prices in the network file as well.
    """
    services = {s.id: s for s in network.services}
    rows: dict[str, list[tuple[str, float, list[int]]]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        if header[:2] != ["service", "weight"] or len(header) < 3:
            raise DayError([f"{path.name}: header must be service,weight,<zone>,<zone>,..."])
        zones = []
        for name in header[2:]:
            zone = _int(name, f"{path.name}:1", "zone", problems)
            zones.append(zone)
        for row in reader:
            where = f"{path.name}:{reader.line_num}"
            if len(row) != len(header):
                problems.add(where, f"expected {len(header)} cells, got {len(row)}")
                continue
            service = row[0].strip()
            if service not in services:
                problems.add(where, f"service: {service!r} is not a service of the network")
                continue
            weight = _float(row[1], where, "weight", problems) or 0.0
            prices = [
                _int(cell, where, f"zone {zone}", problems)
                for zone, cell in zip(zones, row[2:], strict=True)
            ]
            rows.setdefault(service, []).append((where, weight, prices))
    for service, priced in rows.items():
        card = services[service].rate_card
        if card.prices:
            problems.add(path.name, f"{service}: priced in the network file as well")
            continue
        step = card.weight_step or 1.0
        for k, (where, weight, prices) in enumerate(priced, start=1):
            if not math.isclose(weight, k * step):
                problems.add(
                    where, f"weight: expected {k * step:g} (step {step:g}), got {weight:g}"
                )
                break
            card.prices.add(prices=prices)
        card.ClearField("zones")
        card.zones.extend(zones)


def _layout(path: Path, fc: str, problems: _Problems) -> tuple[layout_pb2.Layout, frozenset[str]]:
    """The layout of ``fc`` and its bin ids (compiled to check it)."""
    from services.layouts import compile_layout

    where = f"{path.name}"
    layout = layout_pb2.Layout()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        json_format.ParseDict(document, layout)
    except (OSError, yaml.YAMLError, json_format.ParseError) as exc:
        problems.add(where, str(exc))
        return layout, frozenset()
    if layout.id != fc:
        problems.add(where, f"id: {layout.id!r} should be the FC id {fc!r}")
        return layout, frozenset()
    try:
        oracle = compile_layout(layout)
    except InvalidInput as exc:
        for v in exc.violations:
            problems.add(where, f"{v.field}: {v.description}")
        return layout, frozenset()
    return layout, frozenset(oracle.bin_index)


def _settings(kind: type[Any], raw: object, where: str, problems: _Problems) -> Any:
    """A settings dataclass from a manifest mapping, naming unknown or bad keys."""
    if raw is None:
        return kind()
    if not isinstance(raw, dict):
        problems.add(where, "expected a mapping")
        return kind()
    known = set(kind.__dataclass_fields__)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            problems.add(f"{where}.{key}", f"unknown setting; known: {', '.join(sorted(known))}")
        elif key == "cart":
            try:
                values[key] = json_format.ParseDict(value, picking_pb2.Cart())
            except json_format.ParseError as exc:
                problems.add(f"{where}.cart", str(exc))
        elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            problems.add(f"{where}.{key}", f"must be a positive number, got {value!r}")
        else:
            values[key] = int(value) if key != "time_limit_s" else float(value)
    return kind(**values)


def load_day(manifest: Path) -> Day:
    """Read and check the day described by ``manifest`` (``day.yaml``).

    Raises
    ------
    DayError
        Every problem found, each naming its file, row and column.
    """
    problems = _Problems()
    root = manifest.parent
    digest = hashlib.sha256()
    try:
        raw_manifest = manifest.read_bytes()
        spec = yaml.safe_load(raw_manifest)
    except (OSError, yaml.YAMLError) as exc:
        raise DayError([f"{manifest}: {exc}"]) from None
    if not isinstance(spec, dict):
        raise DayError([f"{manifest.name}: expected a mapping"])
    digest.update(raw_manifest)
    for key in ("network", "skus", "orders", "stock"):
        if not isinstance(spec.get(key), str):
            problems.add(manifest.name, f"{key}: name the file (relative to the manifest)")
    layouts_spec = spec.get("layouts") or {}
    if not isinstance(layouts_spec, dict):
        problems.add(manifest.name, "layouts: expected a mapping of FC id to layout file")
        layouts_spec = {}
    problems.raise_if_any()

    def path_of(name: str) -> Path:
        path = root / name
        if not path.is_file():
            raise DayError([f"{manifest.name}: {name}: no such file"])
        digest.update(name.encode() + b"\0" + path.read_bytes())
        return path

    try:
        plan_date = dt.date.fromisoformat(str(spec.get("plan_date", "")))
    except ValueError:
        problems.add(manifest.name, f"plan_date: {spec.get('plan_date')!r} is not YYYY-MM-DD")
        plan_date = dt.date.today()
    network_message = allocation_pb2.Network()
    try:
        document = yaml.safe_load(path_of(spec["network"]).read_text(encoding="utf-8"))
        json_format.ParseDict(document, network_message)
        if isinstance(spec.get("rate_cards"), str):
            read_rate_cards(path_of(spec["rate_cards"]), network_message, problems)
            problems.raise_if_any()
        network = network_to_domain(network_message, prefix="")
    except (yaml.YAMLError, json_format.ParseError) as exc:
        raise DayError([f"{spec['network']}: {exc}"]) from None
    except InvalidInput as exc:
        where = spec["network"]
        raise DayError([f"{where}: {v.field}: {v.description}" for v in exc.violations]) from None
    fc_ids = frozenset(fc.id for fc in network.fcs)
    skus = read_skus(path_of(spec["skus"]), problems)
    orders = read_orders(path_of(spec["orders"]), skus, problems)
    layouts: dict[str, layout_pb2.Layout] = {}
    bins: dict[str, frozenset[str]] = {}
    for fc, name in sorted(layouts_spec.items()):
        if fc not in fc_ids:
            problems.add(f"{manifest.name}: layouts", f"{fc!r} is not an FC of the network")
            continue
        layouts[fc], bins[fc] = _layout(path_of(str(name)), fc, problems)
    stock = read_stock(path_of(spec["stock"]), bins, fc_ids, problems)
    policy = allocation_pb2.AllocationPolicy()
    policy_spec = dict(spec.get("policy") or {})
    penalty = policy_spec.get("unfilled_line_penalty")
    if isinstance(penalty, int) and not isinstance(penalty, bool):
        # A plain number is minor units of the network's currency.
        policy_spec["unfilled_line_penalty"] = {
            "currency_code": network.currency,
            "minor_units": penalty,
        }
    try:
        json_format.ParseDict(policy_spec, policy)
    except json_format.ParseError as exc:
        problems.add(f"{manifest.name}: policy", str(exc))
    allocation = _settings(
        AllocationSettings, spec.get("allocation"), f"{manifest.name}: allocation", problems
    )
    picking = _settings(PickingSettings, spec.get("picking"), f"{manifest.name}: picking", problems)
    plan_time = None
    if isinstance(spec.get("plan_time"), int) and 0 <= spec["plan_time"] < 24 * 60:
        # YAML 1.1 reads an unquoted 13:00 as the sexagesimal number 780.
        plan_time = divmod(spec["plan_time"], 60)
    elif spec.get("plan_time") is not None:
        try:
            at = dt.time.fromisoformat(str(spec["plan_time"]))
            plan_time = (at.hour, at.minute)
        except ValueError:
            problems.add(manifest.name, f"plan_time: {spec['plan_time']!r} is not HH:MM")
    seed = spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        problems.add(manifest.name, f"seed: must be a whole number >= 0, got {seed!r}")
        seed = 0
    problems.raise_if_any()
    if not orders:
        raise DayError([f"{spec['orders']}: no orders"])
    return Day(
        name=str(spec.get("name") or root.name),
        plan_date=plan_date,
        plan_time=plan_time,
        seed=seed,
        network=network_message,
        domain_network=network,
        skus=skus,
        orders=tuple(orders),
        stock=stock,
        layouts=layouts,
        policy=policy,
        allocation=allocation,
        picking=picking,
        fingerprint=digest.hexdigest(),
    )
