"""Random and mutated requests for every RPC of the warehouse API, and a driver that sends them.

Whatever a caller sends, a server of this API must answer with a status that says what the caller
did wrong (INVALID_ARGUMENT, NOT_FOUND, ...) or with a result; never INTERNAL, never a crash,
never a hang (architecture.md, "API principles"). This module makes the requests that check it:

* :meth:`Fuzzer.random_request` builds any request message from its descriptor alone (recursive,
  depth- and size-limited), with values chosen to hit edges: empty, unicode and very long
  strings, ids that exist on the demo server, integer extremes, NaN and infinities, unknown enum
  numbers, out-of-range ``Duration``/``Timestamp``/``Date``/``TimeOfDay`` values.
* :meth:`Fuzzer.mutate` takes one of :func:`valid_requests` and changes, clears or duplicates a
  few fields, so the request gets past the first checks and reaches the deeper code.
* :func:`all_rpcs` lists every RPC of every ``warehouse.v1`` service from the generated
  descriptors (plus ``grpc.health.v1.Health/Check``), so a new RPC is fuzzed without edits here.
* :func:`call` sends one request with a short deadline; :func:`limit_solve_time` caps
  ``options.time_limit`` first, so a fuzzed solve takes a fraction of a second.

One implementation serves two drivers: ``tests/test_fuzz.py`` draws through hypothesis
(:func:`request_strategy` hands the generator a hypothesis-controlled ``random.Random``, so runs
are reproducible with ``derandomize`` and failures shrink), and ``benchmarks/fuzz_bench.py``
draws from a seeded ``random.Random``, which is much faster for tens of thousands of requests.
"""

from __future__ import annotations

import csv
import importlib
import math
import pkgutil
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeAlias

import grpc
import yaml
from google.protobuf import json_format, message_factory, text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / "deploy" / "demo"

#: A unary request, or the messages of a client stream in order.
Request: TypeAlias = Message | list[Message]

#: Client deadline of one fuzzed call: a request that takes longer counts as a hang.
DEADLINE_S = 5.0
#: Upper bound put on ``options.time_limit`` of fuzzed solves (see :func:`limit_solve_time`).
SOLVE_CAP_S = 0.2
#: Nesting depth below which no message field is set.
MAX_DEPTH = 5
#: Most fields set in one random message tree; bounds the size of requests and the number of
#: choices hypothesis has to make per example.
VALUE_BUDGET = 120

FD = FieldDescriptor
#: Descriptors as the generator handles them. The stubs type the upb classes the runtime returns
#: apart from the ``google.protobuf.descriptor`` ones and make every link optional; the generator
#: only walks descriptors the generated code holds, so it takes them untyped.
Field: TypeAlias = Any
MessageType: TypeAlias = Any


# --------------------------------------------------------------------------------------------
# RPCs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rpc:
    """One method of one service, as the generated descriptors declare it."""

    service: str
    method: str
    request_type: type[Message]
    response_type: type[Message]
    client_streaming: bool
    server_streaming: bool

    @property
    def path(self) -> str:
        """The HTTP/2 path gRPC calls it by: ``/warehouse.v1.RoutingService/PlanRoute``."""
        return f"/{self.service}/{self.method}"

    @property
    def name(self) -> str:
        """Short name for test ids and tables: ``RoutingService.PlanRoute``."""
        return f"{self.service.rsplit('.', 1)[-1]}.{self.method}"


def message_class(descriptor: MessageType) -> type[Message]:
    """The generated Python class of a message type."""
    cls: type[Message] = message_factory.GetMessageClass(descriptor)
    return cls


def _rpcs_of(service: Any, methods: Sequence[str] | None = None) -> list[Rpc]:
    return [
        Rpc(
            service=service.full_name,
            method=m.name,
            request_type=message_class(m.input_type),
            response_type=message_class(m.output_type),
            client_streaming=bool(m.client_streaming),
            server_streaming=bool(m.server_streaming),
        )
        for m in service.methods
        if methods is None or m.name in methods
    ]


@cache
def all_rpcs() -> tuple[Rpc, ...]:
    """Every RPC of every service in the ``warehouse.v1`` package, then ``Health/Check``.

    The package is scanned for ``*_pb2`` modules, so a service or method added to the protos is
    included as soon as its code is generated. Health's ``Watch`` streams until cancelled, so
    only ``Check`` is fuzzed.
    """
    import warehouse.v1 as package

    rpcs: list[Rpc] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            rpcs.extend(_rpcs_of(service))
    rpcs.extend(_rpcs_of(health_pb2.DESCRIPTOR.services_by_name["Health"], ["Check"]))
    return tuple(rpcs)


def rpc_by_name(name: str) -> Rpc:
    """The RPC called ``Service.Method`` (see :attr:`Rpc.name`)."""
    for rpc in all_rpcs():
        if rpc.name == name:
            return rpc
    raise KeyError(name)


# --------------------------------------------------------------------------------------------
# What the demo server knows (deploy/demo): ids that get a request past NOT_FOUND
# --------------------------------------------------------------------------------------------


def _yaml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def _stock_rows(path: Path) -> list[tuple[str, str, int]]:
    with path.open() as f:
        return [(r["bin_id"], r["sku"], int(r["quantity"])) for r in csv.DictReader(f)]


@dataclass(frozen=True)
class DemoData:
    """Layouts, stock and network of ``deploy/demo``, as the server loads them at start."""

    layouts: dict[str, dict[str, Any]]
    bin_stock: dict[str, list[tuple[str, str, int]]]
    fc_stock: dict[str, list[tuple[str, str, int]]]
    network: dict[str, Any]


@cache
def demo_data() -> DemoData:
    """Read ``deploy/demo`` once."""
    layouts = {}
    for path in sorted(DEMO_DIR.glob("*.yaml")):
        spec = _yaml(path)
        layouts[spec.get("id") or path.stem] = spec
    bin_stock = {p.name.split(".")[0]: _stock_rows(p) for p in DEMO_DIR.glob("*.stock.csv")}
    networks = DEMO_DIR / "networks"
    fc_stock = {p.name.split(".")[0]: _stock_rows(p) for p in networks.glob("*.stock.csv")}
    return DemoData(layouts, bin_stock, fc_stock, _yaml(networks / "demo.network.yaml"))


@cache
def known_ids() -> dict[str, tuple[str, ...]]:
    """Ids that exist on the demo server, by kind; the fuzzer prefers them for matching fields."""
    demo = demo_data()
    rows = [r for rs in demo.bin_stock.values() for r in rs]
    graph = demo.layouts.get("graph-example", {}).get("graph", {})
    network = demo.network
    return {
        "site": (*demo.layouts, *demo.fc_stock, "FUZZ-FC"),
        "bin": (
            *("A03-B1-012L", "A07-B1-040R", "A01-B1-001L", "A10-B1-045R", "A00-B1-000L"),
            *(r[0] for r in rows[:3]),
            *(b["id"] for b in graph.get("bins", [])[:3]),
        ),
        "sku": ("SKU-0001", "SKU-0002", "SKU-0300", "SKU-9999", *(r[1] for r in rows[:3])),
        "depot": ("DEPOT", "DESK", "PACK"),
        "graph": (
            *(j["id"] for j in graph.get("junctions", [])[:2]),
            *(s["id"] for s in graph.get("segments", [])[:2]),
        ),
        "network": (network.get("id", "demo"), "inline"),
        "fc": tuple(fc["id"] for fc in network["fcs"]),
        "carrier_service": tuple(s["id"] for s in network["services"]),
        "postal": ("10001", "18106", "94105", "00501", "99999", "000", "181", "18106-1234", "1e5"),
        "currency": ("USD", "usd", "EUR", "JPY", "XXX"),
        "health": ("", "warehouse.v1.RoutingService", "grpc.health.v1.Health", "nope"),
        "event": ("e1", "e2", "fuzz-event"),
        "reservation": ("r-fuzz", "r-fc", "r1"),
        "snapshot": ("s1", "fuzz-snapshot"),
        "source": ("wms", "wms-2"),
        "format": (
            "A{aisle:02d}-B{block}-{position:03d}{side}",
            "{aisle}",
            "{",
            "{}",
            "{0}",
            "{aisle!r:>99999}",
            "{nope}",
            "{aisle.__class__}",
            "{aisle:%}",
            "%s%n",
        ),
        "token": ("demo", "graph-example", "zzz", "!!", "AAAA", "bm90IGEgdG9rZW4="),
    }


#: Field-name fragments and the kind of id they name, first match wins.
_FIELD_HINTS = (
    ("bin_id_format", "format"),
    ("page_token", "token"),
    ("bin", "bin"),
    ("sku", "sku"),
    ("warehouse_id", "site"),
    ("site", "site"),
    ("depot", "depot"),
    ("network", "network"),
    ("locked_fc", "fc"),
    ("service_capacity", "carrier_service"),
    ("zone_charts", "fc"),
    ("watermarks", "source"),
    ("stock", "fc"),
    ("fcs", "fc"),
    ("postal", "postal"),
    ("first", "postal"),
    ("last", "postal"),
    ("currency", "currency"),
    ("service", "health"),
    ("event_id", "event"),
    ("reservation", "reservation"),
    ("snapshot", "snapshot"),
    ("source", "source"),
    ("junction", "graph"),
    ("segment", "graph"),
    ("start", "graph"),
    ("end", "graph"),
)

_WEIRD_STRINGS = (
    " ",
    "  demo  ",
    "\t\n",
    "\x00",
    "demo\x00",
    "ü",
    "日本語の倉庫",
    "🚚📦",
    "Ω≈ç√∫",
    "\u202e\u200b",
    "../../etc/passwd",
    "' OR 1=1 --",
    "%s%s%n",
    "{0}{1}",
    "-1",
    "NaN",
    "null",
    "A03-B1-012l",
)

_I32 = (0, 1, -1, 2, 3, 10, 24, 60, 100, 1000, 2**15, 2**31 - 1, -(2**31))
_I64 = (*_I32, 10**12, 10**12 + 1, 2**53 + 1, 2**63 - 1, -(2**63))
_U32 = (0, 1, 2, 3, 10, 100, 2**31, 2**32 - 1)
_U64 = (*_U32, 2**53 + 1, 2**63, 2**64 - 1)
_DOUBLES = (
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    2.0,
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -1e308,
    5e-324,
    1e-9,
    3.5e38,
    1e12,
    -90.0,
    180.5,
)
_INT_POOLS: dict[int, tuple[tuple[int, ...], int, int]] = {
    FD.CPPTYPE_INT32: (_I32, -(2**31), 2**31 - 1),
    FD.CPPTYPE_INT64: (_I64, -(2**63), 2**63 - 1),
    FD.CPPTYPE_UINT32: (_U32, 0, 2**32 - 1),
    FD.CPPTYPE_UINT64: (_U64, 0, 2**64 - 1),
}
_UNKNOWN_ENUMS = (-1, 7, 99, 2**31 - 1, -(2**31))


def _real_oneof(field: Field) -> Any:
    """The oneof a field belongs to, or None (a proto3 ``optional`` has a synthetic oneof)."""
    oneof: Any = field.containing_oneof
    if oneof is not None and len(oneof.fields) == 1 and oneof.name == "_" + field.name:
        return None
    return oneof


def _is_map(field: Field) -> bool:
    return bool(field.cpp_type == FD.CPPTYPE_MESSAGE and field.message_type.GetOptions().map_entry)


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


class Fuzzer:
    """Makes random and mutated messages from one source of randomness.

    ``rnd`` is any ``random.Random``: a seeded one in the benchmark, the one hypothesis controls
    in the test. Only ``random()``, ``randint()`` and ``choice()`` are used, so every decision is
    a small draw that hypothesis can replay and shrink.
    """

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.budget = VALUE_BUDGET

    # -- scalars ------------------------------------------------------------------------------

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return self.rnd.random() < p

    def string(self, field_name: str = "") -> str:
        """A string: an id the demo server knows (by field name), empty, weird or very long."""
        ids = known_ids()
        r = self.rnd.random()
        hint = next((kind for frag, kind in _FIELD_HINTS if frag in field_name), None)
        if r < 0.35 and hint is not None:
            return self.rnd.choice(ids[hint])
        if r < 0.45:
            return self.rnd.choice(self.rnd.choice(list(ids.values())))
        if r < 0.55:
            return ""
        if r < 0.75:
            alphabet = "abcxyzAZ09-_. "
            return "".join(self.rnd.choice(alphabet) for _ in range(self.rnd.randint(1, 8)))
        if r < 0.9:
            return self.rnd.choice(_WEIRD_STRINGS)
        unit = self.rnd.choice(("x", "ü", "A03-B1-012L", "{aisle}"))
        return unit * self.rnd.choice((201, 1025, 70_000))

    def integer(self, field: Field) -> int:
        """An integer in the field's range: an edge value, a small one or anything."""
        pool, low, high = _INT_POOLS[field.cpp_type]
        r = self.rnd.random()
        if r < 0.45:
            return self.rnd.choice(pool)
        if r < 0.85:
            return self.rnd.randint(max(low, -5), 50)
        if r < 0.95:
            return self.rnd.randint(max(low, -(10**6)), 10**6)
        return self.rnd.randint(low, high)

    def double(self) -> float:
        """A double: an edge value (NaN, infinities, -0.0, huge, tiny) or an ordinary one."""
        if self.chance(0.5):
            return self.rnd.choice(_DOUBLES)
        return round(self.rnd.random() * self.rnd.choice((1.0, 100.0, 10_000.0)), 3)

    def enum(self, field: Field) -> int:
        """A declared enum number, or (open proto3 enums) an undeclared one."""
        if self.chance(0.15):
            return self.rnd.choice(_UNKNOWN_ENUMS)
        number: int = self.rnd.choice(field.enum_type.values).number
        return number

    def scalar(self, field: Field, name: str = "") -> Any:
        """A random value for a non-message field, or the key/value of a map entry (``name``:
        the map field's name, which says what the keys are)."""
        self.budget -= 1
        ct = field.cpp_type
        if ct == FD.CPPTYPE_STRING:
            text = self.string(name or field.name)
            return text.encode() if field.type == FD.TYPE_BYTES else text
        if ct in _INT_POOLS:
            return self.integer(field)
        if ct in (FD.CPPTYPE_DOUBLE, FD.CPPTYPE_FLOAT):
            return self.double()
        if ct == FD.CPPTYPE_BOOL:
            return self.chance(0.5)
        if ct == FD.CPPTYPE_ENUM:
            return self.enum(field)
        raise TypeError(f"no scalar for {field.full_name}")

    # -- messages -----------------------------------------------------------------------------

    def message(self, descriptor: MessageType, depth: int = 0) -> Message:
        """A random message of this type; fields nested deeper than :data:`MAX_DEPTH` stay unset."""
        msg = message_class(descriptor)()
        self.fill(msg, depth)
        return msg

    def fill(self, msg: Message, depth: int = 0) -> None:
        """Set random fields of ``msg`` (well-known time types get their edge values)."""
        special = _SPECIAL.get(msg.DESCRIPTOR.full_name)
        if special is not None and self.chance(0.75):
            self.budget -= 1
            special(self, msg)
            return
        p = max(0.15, 0.6 - 0.1 * depth)
        descriptor = msg.DESCRIPTOR
        chosen = {
            oneof.name: self.rnd.choice([*oneof.fields, None])
            for oneof in descriptor.oneofs
            if _real_oneof(oneof.fields[0]) is not None
        }
        for field in descriptor.fields:
            if self.budget <= 0:
                return
            oneof = _real_oneof(field)
            if oneof is not None:
                if chosen.get(oneof.name) is not field:
                    continue
            elif not self.chance(p):
                continue
            self.set_random(msg, field, depth)

    def set_random(self, msg: Message, field: Field, depth: int) -> None:
        """Give one field of ``msg`` a random value (0-4 items when repeated)."""
        if field.cpp_type == FD.CPPTYPE_MESSAGE and depth >= MAX_DEPTH:
            return
        if _is_map(field):
            for _ in range(self.rnd.choice((0, 1, 1, 2, 3))):
                self.map_put(msg, field, depth)
            return
        if field.is_repeated:
            items = self.rnd.choice((0, 1, 1, 2, 3, 4))
            for i in range(items):
                self.append(msg, field, depth, duplicate=i > 0 and self.chance(0.15))
            return
        if field.cpp_type == FD.CPPTYPE_MESSAGE:
            getattr(msg, field.name).CopyFrom(self.message(field.message_type, depth + 1))
            # An empty sub-message still counts as set: HasField is true.
            getattr(msg, field.name).SetInParent()
            return
        self.set_scalar(msg, field, self.scalar(field))

    def set_scalar(self, msg: Message, field: Field, value: Any) -> None:
        """``msg.<field> = value``; an enum number a closed enum refuses becomes a declared one."""
        try:
            setattr(msg, field.name, value)
        except ValueError:
            setattr(msg, field.name, field.enum_type.values[0].number)

    def append(self, msg: Message, field: Field, depth: int, duplicate: bool) -> None:
        """Add one item to a repeated field: random, or a copy of the last one."""
        items = getattr(msg, field.name)
        if field.cpp_type == FD.CPPTYPE_MESSAGE:
            if duplicate and len(items):
                items.add().CopyFrom(items[-1])
            elif depth < MAX_DEPTH:
                items.add().CopyFrom(self.message(field.message_type, depth + 1))
        elif duplicate and len(items):
            items.append(items[-1])
        else:
            value = self.scalar(field)
            try:
                items.append(value)
            except ValueError:
                items.append(field.enum_type.values[0].number)

    def map_put(self, msg: Message, field: Field, depth: int) -> None:
        """Put one random entry into a map field."""
        entry = field.message_type
        key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
        target = getattr(msg, field.name)
        key = self.scalar(key_field, field.name)
        if value_field.cpp_type == FD.CPPTYPE_MESSAGE:
            target[key].CopyFrom(self.message(value_field.message_type, depth + 1))
        else:
            target[key] = self.scalar(value_field, field.name)

    # -- requests -----------------------------------------------------------------------------

    def random_request(self, rpc: Rpc) -> Request:
        """A request built from the descriptor alone (1-4 messages for a client stream)."""
        self.budget = VALUE_BUDGET
        descriptor = rpc.request_type.DESCRIPTOR
        if rpc.client_streaming:
            return [self.message(descriptor) for _ in range(self.rnd.randint(1, 4))]
        return self.message(descriptor)

    def mutate(self, seed: Request) -> Request:
        """A copy of ``seed`` with one to three random changes."""
        self.budget = VALUE_BUDGET
        if isinstance(seed, list):
            return self._mutate_stream(seed)
        msg = _copy(seed)
        for _ in range(self.rnd.choice((1, 1, 2, 3))):
            self.mutate_once(msg)
        return msg

    def _mutate_stream(self, seed: list[Message]) -> list[Message]:
        messages = [_copy(m) for m in seed]
        for _ in range(self.rnd.choice((1, 1, 2))):
            r = self.rnd.random()
            i = self.rnd.randint(0, len(messages) - 1)
            if r < 0.6 or len(messages) == 1:
                self.mutate_once(messages[i])
            elif r < 0.7:
                del messages[i]
            elif r < 0.8:
                messages.insert(i, _copy(messages[i]))
            elif r < 0.9:
                j = self.rnd.randint(0, len(messages) - 1)
                messages[i], messages[j] = messages[j], messages[i]
            else:
                messages.insert(i, self.message(messages[0].DESCRIPTOR))
        return messages

    def mutate_once(self, msg: Message) -> None:
        """Change one field somewhere in ``msg``: a new value, cleared, or items duplicated."""
        slots = list(_slots(msg, 0))
        if not slots:
            return
        parent, field, depth = self.rnd.choice(slots)
        r = self.rnd.random()
        if _is_map(field):
            target = getattr(parent, field.name)
            if r < 0.25:
                parent.ClearField(field.name)
            elif r < 0.5 and len(target):
                del target[self.rnd.choice(sorted(target))]
            else:
                self.map_put(parent, field, depth)
        elif field.is_repeated:
            items = getattr(parent, field.name)
            n = len(items)
            if r < 0.15:
                parent.ClearField(field.name)
            elif r < 0.35 and n:
                i = self.rnd.randint(0, n - 1)
                if field.cpp_type == FD.CPPTYPE_MESSAGE:
                    items.add().CopyFrom(items[i])
                else:
                    items.append(items[i])
            elif r < 0.5 and n:
                del items[self.rnd.randint(0, n - 1)]
            elif r < 0.65 and n and field.cpp_type != FD.CPPTYPE_MESSAGE:
                value = self.scalar(field)
                try:
                    items[self.rnd.randint(0, n - 1)] = value
                except ValueError:
                    items.append(items[0])
            else:
                self.append(parent, field, depth, duplicate=False)
        elif r < 0.25:
            parent.ClearField(field.name)
        elif field.cpp_type == FD.CPPTYPE_MESSAGE:
            sub = getattr(parent, field.name)
            sub.Clear()
            self.fill(sub, depth + 1)
            sub.SetInParent()
        else:
            self.set_scalar(parent, field, self.scalar(field))

    def request(self, rpc: Rpc, mutated: bool, seeds: Sequence[Request] = ()) -> Request:
        """A random request, or a mutation of one of ``seeds`` (random when there are none);
        solve time limits capped by :func:`limit_solve_time`."""
        if mutated and seeds:
            request = self.mutate(self.rnd.choice(seeds))
        else:
            request = self.random_request(rpc)
        limit_solve_time(request)
        return request


def _copy(msg: Message) -> Message:
    out = type(msg)()
    out.CopyFrom(msg)
    return out


def _fields(msg: Message) -> list[Field]:
    """The fields ``msg``'s type declares."""
    return list(msg.DESCRIPTOR.fields)


def _slots(msg: Message, depth: int) -> Iterator[tuple[Message, Field, int]]:
    """Every field of ``msg`` and of the sub-messages that are set, with its nesting depth."""
    for field in _fields(msg):
        yield msg, field, depth
        if field.cpp_type != FD.CPPTYPE_MESSAGE:
            continue
        value = getattr(msg, field.name)
        if _is_map(field):
            if field.message_type.fields_by_name["value"].cpp_type == FD.CPPTYPE_MESSAGE:
                for key in sorted(value):
                    yield from _slots(value[key], depth + 1)
        elif field.is_repeated:
            for item in value:
                yield from _slots(item, depth + 1)
        elif msg.HasField(field.name):
            yield from _slots(value, depth + 1)


# -- well-known types with edge values of their own --------------------------------------------


def _duration(f: Fuzzer, msg: Any) -> None:
    if f.chance(0.5):
        msg.seconds = f.rnd.choice((0, 0, 1, 2, 30, 60, 900, 901, 86_400, 86_401))
        msg.nanos = f.rnd.choice((0, 0, 100_000_000, 500_000_000))
        return
    msg.seconds = f.rnd.choice((0, -1, -900, 315_576_000_000, 315_576_000_001, 2**63 - 1, -(2**63)))
    msg.nanos = f.rnd.choice((0, 1, -1, 999_999_999, 1_000_000_000, -999_999_999, 2**31 - 1))


def _timestamp(f: Fuzzer, msg: Any) -> None:
    msg.seconds = f.rnd.choice(
        (0, int(time.time()), -1, -62_135_596_800, -62_135_596_801, 253_402_300_799,
         253_402_300_800, 2**63 - 1, -(2**63))
    )  # fmt: skip
    msg.nanos = f.rnd.choice((0, 1, -1, 999_999_999, 1_000_000_000, 2**31 - 1))


def _date(f: Fuzzer, msg: Any) -> None:
    if f.chance(0.4):
        msg.year, msg.month, msg.day = f.rnd.choice(
            ((2026, 12, 1), (2026, 11, 27), (2026, 12, 31), (2027, 1, 1), (2024, 2, 29))
        )
        return
    msg.year = f.rnd.choice((0, 1, 1970, 2026, 9999, 10_000, -1, 2**31 - 1, -(2**31)))
    msg.month = f.rnd.choice((0, 1, 2, 12, 13, -1, 2**31 - 1))
    msg.day = f.rnd.choice((0, 1, 28, 29, 30, 31, 32, -1, 2**31 - 1))


def _time_of_day(f: Fuzzer, msg: Any) -> None:
    msg.hours = f.rnd.choice((0, 9, 17, 23, 24, 25, -1, 2**31 - 1))
    msg.minutes = f.rnd.choice((0, 30, 59, 60, -1))
    msg.seconds = f.rnd.choice((0, 59, 60, 61, -1))
    msg.nanos = f.rnd.choice((0, 999_999_999, 1_000_000_000, -1))


_SPECIAL: dict[str, Callable[[Fuzzer, Any], None]] = {
    "google.protobuf.Duration": _duration,
    "google.protobuf.Timestamp": _timestamp,
    "google.type.Date": _date,
    "google.type.TimeOfDay": _time_of_day,
}


def limit_solve_time(request: Request, cap_s: float = SOLVE_CAP_S) -> None:
    """Cap ``time_limit`` of every ``SolveOptions`` in ``request`` at ``cap_s``, in place.

    Unset, zero and valid limits above the cap become the cap, so no fuzzed solve runs for
    the service's default of several seconds. Limits the server must refuse (negative, above
    900 s, nanos out of range) are left alone: refusing them is part of what is fuzzed.
    """
    if isinstance(request, list):
        for item in request:
            limit_solve_time(item, cap_s)
        return
    if request.DESCRIPTOR.full_name == "warehouse.v1.SolveOptions":
        limit: Any = request.time_limit  # type: ignore[attr-defined]
        total = limit.seconds + limit.nanos / 1e9
        valid = 0 <= limit.nanos < 1_000_000_000 and 0 <= limit.seconds <= 900
        if not request.HasField("time_limit") or (valid and (total == 0 or total > cap_s)):
            limit.FromNanoseconds(round(cap_s * 1e9))
        return
    for field in _fields(request):
        if field.cpp_type != FD.CPPTYPE_MESSAGE:
            continue
        value = getattr(request, field.name)
        if field.message_type.full_name == "warehouse.v1.SolveOptions" and not field.is_repeated:
            limit_solve_time(value, cap_s)  # set it even when absent: absent means the default
        elif _is_map(field):
            if field.message_type.fields_by_name["value"].cpp_type == FD.CPPTYPE_MESSAGE:
                for key in value:
                    limit_solve_time(value[key], cap_s)
        elif field.is_repeated:
            for item in value:
                limit_solve_time(item, cap_s)
        elif request.HasField(field.name):
            limit_solve_time(value, cap_s)


# --------------------------------------------------------------------------------------------
# Valid requests: the starting points of mutations
# --------------------------------------------------------------------------------------------


def _parse(rpc: Rpc, spec: dict[str, Any]) -> Message:
    return json_format.ParseDict(spec, rpc.request_type())


def _seed_specs() -> dict[str, list[Any]]:
    """Valid requests per RPC as proto JSON (README examples, tests/test_services_*.py)."""
    demo = demo_data()
    rows = demo.bin_stock["demo"]
    (bin1, sku1, _), (bin2, sku2, _), (bin3, sku3, _) = rows[:3]
    demo_bins = [r[0] for r in rows[:20]]
    rect = {**demo.layouts["demo"], "id": "fuzz-rect"}
    graph = {**demo.layouts["graph-example"], "id": "fuzz-graph"}
    inline_network = {**demo.network, "id": "inline"}
    route = {"warehouseId": "demo", "binIds": ["A03-B1-012L", "A07-B1-040R"]}
    graph_route = {
        "warehouseId": "graph-example",
        "binIds": ["A1-03", "A2-06", "CORNER", "A1-03"],
        "startDepot": "DESK",
        "endDepot": "PACK",
        "includePath": True,
    }
    options = {"timeLimit": "0.2s", "label": "fuzz", "seed": "7"}
    wave = {
        "warehouseId": "demo",
        "orders": [
            {"id": "o1", "lines": [{"sku": sku1, "quantity": "1"}]},
            {
                "id": "o2",
                "lines": [{"sku": sku2, "quantity": "2"}, {"sku": sku3, "quantity": "1"}],
                "priority": 1,
                "pickBy": "600s",
            },
        ],
        "cart": {"capacityUnits": "8", "totes": 2, "toteUnits": "4", "ordersMaySpanTotes": True},
        "options": options,
        "maxIterations": 2,
    }
    allocate = {
        "networkId": "demo",
        "orders": [
            {
                "id": "o1",
                "destination": {"postalCode": "10001"},
                "lines": [{"sku": "SKU-0001", "quantity": "2"}],
            }
        ],
        "skus": [
            {"id": "SKU-0001", "weightKg": 0.8, "lengthCm": 30, "widthCm": 20, "heightCm": 10}
        ],
    }
    sku_unit = {"weightKg": 1.5, "lengthCm": 20, "widthCm": 20, "heightCm": 20}
    events = [
        {"eventId": "e1", "source": "wms", "sequence": "1", "kind": "STOCK_EVENT_KIND_RECEIPT",
         "sku": "SKU-0001", "binId": "A03-B1-012L", "quantity": "5"},
        {"eventId": "e2", "source": "wms", "sequence": "2", "kind": "STOCK_EVENT_KIND_PICK",
         "sku": "SKU-0001", "binId": "A03-B1-012L", "quantity": "1"},
        {"eventId": "e3", "source": "wms", "sequence": "3", "kind": "STOCK_EVENT_KIND_MOVE",
         "sku": "SKU-0001", "binId": "A03-B1-012L", "toBinId": "A07-B1-040R", "quantity": "1"},
        {"eventId": "e4", "source": "wms", "sequence": "4", "kind": "STOCK_EVENT_KIND_ADJUSTMENT",
         "sku": sku1, "binId": bin1, "quantity": "-1", "occurTime": "2026-11-27T10:00:00Z"},
    ]  # fmt: skip
    return {
        "RoutingService.PlanRoute": [
            route,
            {
                **route,
                "binIds": demo_bins,
                "baseline": "BASELINE_S_SHAPE",
                "includePath": True,
                "options": options,
            },
            graph_route,
            {**route, "options": {"validateOnly": True}},
        ],
        "RoutingService.PlanRoutes": [
            {"requests": [route, graph_route], "label": "batch"},
            {"requests": [{**route, "options": options}, {"warehouseId": "demo"}]},
        ],
        "LayoutService.PutLayout": [
            {"layout": rect},
            {"layout": graph, "validateOnly": True},
            {
                "layout": {
                    "id": "fuzz-small",
                    "rectangular": {
                        "aisles": 3,
                        "cellsPerFace": [5, 4],
                        "crossAisles": 3,
                        "twoSided": False,
                        "binIdFormat": "{aisle}-{block}-{position}",
                    },
                }
            },
            {
                "layout": {
                    "id": "fuzz-bins",
                    "rectangular": {
                        "aisles": 2,
                        "bins": [
                            {
                                "id": "b1",
                                "aisle": 0,
                                "block": 0,
                                "offsetM": 1.0,
                                "side": "SIDE_LEFT",
                            },
                            {
                                "id": "b2",
                                "aisle": 1,
                                "block": 0,
                                "offsetM": 3.5,
                                "side": "SIDE_RIGHT",
                            },
                        ],
                        "depots": [{"id": "D", "crossAisle": 0, "xM": 0.0}],
                    },
                }
            },
        ],
        "LayoutService.GetLayout": [
            {"warehouseId": "demo"},
            {"warehouseId": "graph-example", "view": "LAYOUT_VIEW_BASIC"},
        ],
        "LayoutService.ListLayouts": [{"pageSize": 1}, {"view": "LAYOUT_VIEW_FULL"}],
        "LayoutService.DeleteLayout": [{"warehouseId": "fuzz-rect"}, {"warehouseId": "fuzz-graph"}],
        "InventoryService.ReplaceStock": [
            [
                {
                    "header": {
                        "siteId": "demo",
                        "level": "STOCK_LEVEL_BIN",
                        "snapshotId": "fuzz-snapshot",
                        "watermarks": {"wms": "3"},
                    }
                },
                {"rows": [{"binId": b, "sku": s, "quantity": str(q)} for b, s, q in rows[:3]]},
                {"rows": [{"binId": bin1, "sku": sku1, "quantity": "1"}], "end": True},
            ],
            [
                {
                    "header": {
                        "siteId": "FUZZ-FC",
                        "level": "STOCK_LEVEL_FULFILLMENT_CENTER",
                        "snapshotId": "s1",
                    },
                    "rows": [{"sku": "SKU-0001", "quantity": "5"}],
                    "end": True,
                },
            ],
        ],
        "InventoryService.ApplyEvents": [
            {"siteId": "demo", "events": events},
            {
                "siteId": "ABE1",
                "events": [
                    {
                        "eventId": "fc-e1",
                        "source": "wms",
                        "sequence": "9",
                        "kind": "STOCK_EVENT_KIND_RECEIPT",
                        "sku": "SKU-0001",
                        "quantity": "3",
                    }
                ],
            },
        ],
        "InventoryService.GetStock": [
            {"siteIds": ["demo"], "skus": [sku1]},
            {"siteIds": ["demo"], "binIds": [bin1, bin2]},
            {"skus": ["SKU-0001", "SKU-0002"]},
        ],
        "InventoryService.GetSiteState": [{"siteId": "demo"}, {"siteId": "ABE1"}],
        "InventoryService.Reserve": [
            {
                "siteId": "demo",
                "reservationId": "r-fuzz",
                "ttl": "60s",
                "lines": [{"sku": sku1, "binId": bin1, "quantity": "1"}],
            },
            {
                "siteId": "ABE1",
                "reservationId": "r-fc",
                "ttl": "30s",
                "lines": [{"sku": "SKU-0001", "quantity": "1"}],
            },
        ],
        "InventoryService.ReleaseReservation": [
            {"siteId": "demo", "reservationId": "r-fuzz"},
            {"siteId": "ABE1", "reservationId": "r-fc"},
        ],
        "PickingService.PlanWave": [
            wave,
            {
                **wave,
                "stock": {
                    "lines": [
                        {"sku": sku1, "binId": bin1, "onHand": "4"},
                        {"sku": sku2, "binId": bin2, "onHand": "9"},
                        {"sku": sku3, "binId": bin3, "onHand": "1"},
                    ]
                },
                "skuSizes": [{"sku": sku1, "volumeL": 2.0, "weightKg": 1.0}],
                "includePath": True,
            },
            {
                **wave,
                "reserve": True,
                "reservationTtl": "60s",
                "reservationId": "r-wave",
                "timing": {
                    "walkSpeedMS": 1.2,
                    "pickTime": "8s",
                    "pickers": 2,
                    "latenessPenaltyMPerS": 0.5,
                },
                "cart": {
                    "capacityUnits": "10",
                    "capacityVolumeL": 40,
                    "capacityWeightKg": 30,
                    "maxOrders": 2,
                    "maxLines": 4,
                },
            },
        ],
        "AllocationService.Allocate": [
            allocate,
            {
                **allocate,
                "planDate": {"year": 2026, "month": 12, "day": 1},
                "planTime": {"hours": 18},
                "policy": {
                    "allowSplit": False,
                    "maxPackagesPerOrder": 2,
                    "unfilledLinePenalty": {"minorUnits": "50000"},
                },
                "orders": [
                    {
                        "id": "o1",
                        "destination": {"latitude": 40.7, "longitude": -74.0},
                        "lines": [
                            {"sku": "SKU-0001", "quantity": "1"},
                            {"sku": "SKU-0002", "quantity": "3"},
                        ],
                        "promiseDate": {"year": 2026, "month": 12, "day": 4},
                        "serviceLevel": "SERVICE_LEVEL_EXPEDITED",
                        "priority": 2,
                        "residential": False,
                    },
                    {
                        "id": "o2",
                        "destination": {"postalCode": "94105"},
                        "lockedFc": "RIV1",
                        "lines": [{"sku": "SKU-0001", "quantity": "1"}],
                    },
                ],
                "skus": [{"id": "SKU-0001", **sku_unit}, {"id": "SKU-0002", **sku_unit}],
                "options": options,
            },
            {
                "network": inline_network,
                "orders": allocate["orders"],
                "skus": allocate["skus"],
                "stock": {"ABE1": {"lines": [{"sku": "SKU-0001", "onHand": "3"}]}, "DFW1": {}},
            },
        ],
        "Health.Check": [{"service": ""}, {"service": "warehouse.v1.RoutingService"}],
    }


@cache
def valid_requests() -> dict[str, tuple[Request, ...]]:
    """Valid requests by :attr:`Rpc.name`; a stream is a list of messages."""
    out: dict[str, tuple[Request, ...]] = {}
    for name, specs in _seed_specs().items():
        rpc = rpc_by_name(name)
        out[name] = tuple(
            [_parse(rpc, m) for m in spec] if isinstance(spec, list) else _parse(rpc, spec)
            for spec in specs
        )
    return out


# --------------------------------------------------------------------------------------------
# Sending
# --------------------------------------------------------------------------------------------


def call(
    channel: grpc.Channel, rpc: Rpc, request: Request, timeout_s: float = DEADLINE_S
) -> grpc.StatusCode:
    """Send ``request`` (the messages of a stream in order) with a ``timeout_s`` deadline; the
    status code it ends with. Responses of a server stream are read to the end."""
    serialize = rpc.request_type.SerializeToString
    deserialize = rpc.response_type.FromString
    messages = request if isinstance(request, list) else [request]
    try:
        if rpc.client_streaming and rpc.server_streaming:
            for _ in channel.stream_stream(rpc.path, serialize, deserialize)(
                iter(messages), timeout=timeout_s
            ):
                pass
        elif rpc.client_streaming:
            channel.stream_unary(rpc.path, serialize, deserialize)(
                iter(messages), timeout=timeout_s
            )
        elif rpc.server_streaming:
            for _ in channel.unary_stream(rpc.path, serialize, deserialize)(
                messages[0], timeout=timeout_s
            ):
                pass
        else:
            channel.unary_unary(rpc.path, serialize, deserialize)(messages[0], timeout=timeout_s)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code
    return grpc.StatusCode.OK


#: Codes no request may get: the server failed (or hung, or is not there), not the caller.
FAILURES = frozenset(
    {
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)


def as_text(request: Request, limit: int = 4000) -> str:
    """``request`` in protobuf text format (stream messages separated by ``---``), cut at
    ``limit`` characters, for failure messages and reports."""
    messages = request if isinstance(request, list) else [request]
    text = "\n---\n".join(text_format.MessageToString(m, as_utf8=True) for m in messages)
    return text if len(text) <= limit else text[:limit] + f"\n... ({len(text):,} characters)"


def restore_demo(channel: grpc.Channel) -> None:
    """Put the demo layouts and the demo stock back as ``deploy/demo`` has them.

    Fuzzed PutLayout, DeleteLayout and ReplaceStock calls may replace or delete them; restoring
    before each RPC's run keeps mutated requests reaching the solvers instead of NOT_FOUND.
    """
    from warehouse.v1 import inventory_pb2, layout_pb2

    demo = demo_data()
    timeout = 30.0
    # A fuzzed PutLayout may have given an FC of the demo network a layout, which would make
    # its FC-level stock invalid: those go first.
    delete = channel.unary_unary(
        "/warehouse.v1.LayoutService/DeleteLayout",
        layout_pb2.DeleteLayoutRequest.SerializeToString,
        lambda data: data,
    )
    for site in demo.fc_stock:
        try:
            delete(layout_pb2.DeleteLayoutRequest(warehouse_id=site), timeout=timeout)
        except grpc.RpcError as exc:
            if not isinstance(exc, grpc.Call) or exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
    for spec in demo.layouts.values():
        layout = json_format.ParseDict(spec, layout_pb2.Layout())
        channel.unary_unary(
            "/warehouse.v1.LayoutService/PutLayout",
            layout_pb2.PutLayoutRequest.SerializeToString,
            layout_pb2.Layout.FromString,
        )(layout_pb2.PutLayoutRequest(layout=layout), timeout=timeout)
    sites = [(s, inventory_pb2.STOCK_LEVEL_BIN, rows) for s, rows in demo.bin_stock.items()]
    sites += [
        (s, inventory_pb2.STOCK_LEVEL_FULFILLMENT_CENTER, r) for s, r in demo.fc_stock.items()
    ]
    replace = channel.stream_unary(
        "/warehouse.v1.InventoryService/ReplaceStock",
        inventory_pb2.ReplaceStockRequest.SerializeToString,
        inventory_pb2.ReplaceStockResponse.FromString,
    )
    for site, level, rows in sites:
        message = inventory_pb2.ReplaceStockRequest(
            header=inventory_pb2.SnapshotHeader(
                site_id=site, level=level, snapshot_id=f"fuzz-restore-{time.time_ns()}"
            ),
            rows=[inventory_pb2.SnapshotRow(bin_id=b, sku=s, quantity=q) for b, s, q in rows],
            end=True,
        )
        replace(iter([message]), timeout=timeout)


# --------------------------------------------------------------------------------------------
# hypothesis
# --------------------------------------------------------------------------------------------


def _draw(rpc: Rpc, rnd: random.Random, mutated: bool) -> Request:
    return Fuzzer(rnd).request(rpc, mutated, valid_requests().get(rpc.name, ()))


def request_strategy(rpc: Rpc) -> st.SearchStrategy[Request]:
    """Requests for ``rpc``, random or mutated, drawn by :class:`Fuzzer` from a random.Random
    that hypothesis controls (reproducible under ``derandomize``, shrinkable)."""
    return st.builds(
        _draw, st.just(rpc), st.randoms(note_method_calls=False, use_true_random=False),
        st.booleans(),
    )  # fmt: skip
