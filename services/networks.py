"""FC networks: fulfillment centers and the carrier services they ship with, by network id.

A network is a ``warehouse.v1.Network`` message. The server loads every ``<name>.network.yaml``
(or ``.yml``/``.json``) file of its networks directory at start (the proto JSON mapping written as
YAML or JSON, like layout files); an AllocateRequest names one of them or carries its own. Both
go through :func:`network_to_domain`, which converts to :mod:`allocation.model` objects and
validates them, naming every problem by its field path (``fcs[1].cutoff``,
``services[0].rate_card.prices[3]``).

Networks are configuration: they are read from the files at every start and are not stored.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from google.protobuf import json_format
from google.type import timeofday_pb2  # type: ignore[import-untyped]
from warehouse.v1 import allocation_pb2

from allocation import model
from routing.errors import FieldViolation, InvalidInput, NotFound

log = logging.getLogger(__name__)

#: Name endings of network files.
NETWORK_FILE_SUFFIXES = (".network.yaml", ".network.yml", ".network.json")
#: Subdirectory of the layouts directory holding the network files and the FCs' stock files.
NETWORKS_SUBDIR = "networks"
#: Seconds in a day (a cutoff or plan time of 24:00 is the end of the day).
DAY_S = 86_400

_LEVELS: dict[int, int] = {
    allocation_pb2.SERVICE_LEVEL_UNSPECIFIED: 0,
    allocation_pb2.SERVICE_LEVEL_STANDARD: 0,
    allocation_pb2.SERVICE_LEVEL_EXPEDITED: 1,
    allocation_pb2.SERVICE_LEVEL_OVERNIGHT: 2,
}
_UNITS: dict[int, str] = {
    allocation_pb2.WEIGHT_UNIT_UNSPECIFIED: "lb",
    allocation_pb2.WEIGHT_UNIT_POUND: "lb",
    allocation_pb2.WEIGHT_UNIT_KILOGRAM: "kg",
}
#: Domain weight units back to the proto enum.
WEIGHT_UNIT_TO_PROTO = {
    "lb": allocation_pb2.WEIGHT_UNIT_POUND,
    "kg": allocation_pb2.WEIGHT_UNIT_KILOGRAM,
}
_CHART_ROW = re.compile(r"^((?:.*\.)?zone_charts\['[^']*'\])\[(\d+)\]")


@dataclass(frozen=True)
class Network:
    """An FC network in domain form: what :class:`allocation.model.AllocationProblem` needs
    besides the orders, SKUs and stock."""

    id: str
    currency: str
    fcs: tuple[model.FulfillmentCenter, ...]
    services: tuple[model.CarrierService, ...]
    display_name: str = ""

    def fc(self, fc_id: str) -> model.FulfillmentCenter | None:
        """The FC of this id, or None."""
        return next((fc for fc in self.fcs if fc.id == fc_id), None)

    def service(self, service_id: str) -> model.CarrierService | None:
        """The carrier service of this id, or None."""
        return next((s for s in self.services if s.id == service_id), None)


# -- proto to domain ------------------------------------------------------------------------


def service_level(value: int) -> int:
    """The domain level (index into :data:`allocation.model.SERVICE_LEVELS`) of a proto
    ``ServiceLevel``; an unknown value maps out of range, for validation to name it."""
    return _LEVELS.get(value, value)


def location(message: allocation_pb2.Location) -> model.Location:
    """The domain location of a ``Location`` message."""
    return model.Location(
        postal_code=message.postal_code.strip(),
        latitude=message.latitude if message.HasField("latitude") else None,
        longitude=message.longitude if message.HasField("longitude") else None,
    )


def time_of_day_s(
    value: timeofday_pb2.TimeOfDay, field: str, problems: list[FieldViolation]
) -> float:
    """Seconds after midnight of a ``TimeOfDay``; a malformed one is added to ``problems``."""
    h, m, s, n = value.hours, value.minutes, value.seconds, value.nanos
    if not (0 <= h <= 24 and 0 <= m <= 59 and 0 <= s <= 59 and 0 <= n <= 999_999_999) or (
        h == 24 and (m or s or n)
    ):
        problems.append(
            FieldViolation(field, f"not a time of day: {h:02d}:{m:02d}:{s:02d}.{n:09d}")
        )
        return 0.0
    return float(h * 3600 + m * 60 + s + n / 1e9)


def _fc(
    message: allocation_pb2.FulfillmentCenter, where: str, problems: list[FieldViolation]
) -> model.FulfillmentCenter:
    return model.FulfillmentCenter(
        id=message.id,
        location=location(message.location),
        capacity_packages=message.capacity_packages,
        capacity_units=message.capacity_units,
        cutoff_s=(
            time_of_day_s(message.cutoff, f"{where}.cutoff", problems)
            if message.HasField("cutoff")
            else None
        ),
        handling_cost=message.handling_cost,
        service_capacity=dict(message.service_capacity),
    )


def _service(message: allocation_pb2.CarrierService) -> model.CarrierService:
    card = message.rate_card
    bands = message.distance_bands
    return model.CarrierService(
        id=message.id,
        carrier=message.carrier,
        level=service_level(message.level),
        rate_card=model.RateCard(
            zones=tuple(card.zones),
            prices=tuple(tuple(row.prices) for row in card.prices),
            weight_unit=_UNITS.get(card.weight_unit, f"WeightUnit {card.weight_unit}"),
            weight_step=card.weight_step or 1.0,
            dim_divisor=card.dim_divisor,
        ),
        transit_days=tuple(message.transit_days),
        fuel_pct=message.fuel_pct,
        surcharges=tuple(
            model.Surcharge(s.name, s.amount, s.residential_only, s.min_billable_weight)
            for s in message.surcharges
        ),
        zone_charts={
            fc: tuple(model.ZoneRange(r.first, r.last or r.first, r.zone) for r in chart.ranges)
            for fc, chart in sorted(message.zone_charts.items())
        },
        distance_bands=(
            model.DistanceBands(
                tuple(bands.upper_km), bands.first_zone if bands.HasField("first_zone") else 2
            )
            if message.HasField("distance_bands")
            else None
        ),
        fcs=tuple(message.fcs),
    )


def proto_field(path: str, prefix: str = "") -> str:
    """The request field of a domain field path of the network part of a problem.

    ``currency`` is ``currency_code`` and a zone chart row ``zone_charts['X'][3]`` is
    ``zone_charts['X'].ranges[3]``; everything is put under ``prefix`` (``network``).
    """
    if path == "currency":
        path = "currency_code"
    path = _CHART_ROW.sub(r"\1.ranges[\2]", path)
    return f"{prefix}.{path}" if prefix else path


def network_to_domain(message: allocation_pb2.Network, prefix: str = "network") -> Network:
    """Convert and validate a ``Network`` message; every problem is named under ``prefix``.

    Raises
    ------
    InvalidInput
        Every problem found: empty or repeated ids, bad rate cards or zone charts, unknown FCs
        or services referred to, malformed times of day.
    """
    problems: list[FieldViolation] = []
    fcs = tuple(_fc(fc, f"fcs[{i}]", problems) for i, fc in enumerate(message.fcs))
    network = Network(
        id=message.id,
        currency=message.currency_code or "USD",
        fcs=fcs,
        services=tuple(_service(s) for s in message.services),
        display_name=message.display_name,
    )
    problems += check_network(network)
    if problems:
        raise InvalidInput(
            [FieldViolation(proto_field(v.field, prefix), v.description) for v in problems]
        )
    return network


def check_network(network: Network) -> list[FieldViolation]:
    """What :func:`allocation.model.validate` finds wrong with the network part of a problem
    (domain field paths: ``fcs[0].capacity_units``)."""
    empty = model.AllocationProblem(
        orders=(),
        skus={},
        fcs=network.fcs,
        services=network.services,
        stock={},
        currency=network.currency,
    )
    try:
        model.validate(empty)
    except InvalidInput as exc:
        return [v for v in exc.violations if v.field != "orders"]
    return []


# -- the registry ---------------------------------------------------------------------------


def _network_name(path: Path) -> str | None:
    """``demo`` for ``demo.network.yaml``; None for a file that is not a network file."""
    lower = path.name.lower()
    for suffix in NETWORK_FILE_SUFFIXES:
        if lower.endswith(suffix):
            return path.name[: -len(suffix)]
    return None


def read_network_file(path: Path) -> Network:
    """Read, convert and validate one network file.

    Raises
    ------
    ValueError
        The file is not a valid network: names the file and the field.
    """
    name = _network_name(path) or path.stem
    try:
        with path.open(encoding="utf-8") as f:
            document = yaml.safe_load(f)
        if not isinstance(document, dict):
            raise ValueError(f"{path}: expected a mapping of warehouse.v1.Network fields")
        message = json_format.ParseDict(document, allocation_pb2.Network())
        network = network_to_domain(message, prefix="")
    except (yaml.YAMLError, json_format.ParseError, InvalidInput) as exc:
        raise ValueError(f"{path}: {exc}") from None
    return network if network.id else replace(network, id=name)


class NetworkRegistry:
    """FC networks by id, read from files at start (and given directly in tests)."""

    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self._networks: dict[str, Network] = {}
        for network in networks:
            self.add(network)

    def add(self, network: Network) -> None:
        """Register ``network`` (replacing one of the same id)."""
        problems = check_network(network)
        if not network.id or problems:
            raise InvalidInput(problems or [FieldViolation("id", "must not be empty")])
        self._networks[network.id] = network

    def get(self, network_id: str, field: str = "network_id") -> Network:
        """The network of this id.

        Raises
        ------
        InvalidInput
            An empty id.
        NotFound
            No network has this id.
        """
        if not network_id:
            raise InvalidInput.single(field, "must not be empty")
        network = self._networks.get(network_id)
        if network is None:
            raise NotFound("network", network_id, field)
        return network

    @property
    def ids(self) -> list[str]:
        """Every network id, sorted."""
        return sorted(self._networks)

    def load_dir(self, directory: Path) -> list[str]:
        """Load every network file in ``directory`` (none when it does not exist); return the
        ids loaded.

        Raises
        ------
        ValueError
            A file that is not a valid network, or two files with the same network id.
        """
        if not directory.is_dir():
            return []
        loaded: dict[str, Path] = {}
        for path in sorted(directory.iterdir()):
            if not path.is_file() or _network_name(path) is None:
                continue
            network = read_network_file(path)
            if network.id in loaded:
                raise ValueError(f"{path}: network {network.id!r} is also in {loaded[network.id]}")
            self.add(network)
            loaded[network.id] = path
            log.info(
                "loaded network %r (%d FCs, %d services) from %s",
                network.id,
                len(network.fcs),
                len(network.services),
                path,
            )
        return list(loaded)


# -- domain to proto ------------------------------------------------------------------------

#: Domain service levels (indices into :data:`allocation.model.SERVICE_LEVELS`) as proto enums.
SERVICE_LEVEL_TO_PROTO = {
    0: allocation_pb2.SERVICE_LEVEL_STANDARD,
    1: allocation_pb2.SERVICE_LEVEL_EXPEDITED,
    2: allocation_pb2.SERVICE_LEVEL_OVERNIGHT,
}


def _time_of_day(seconds: float) -> timeofday_pb2.TimeOfDay:
    """The ``TimeOfDay`` of ``seconds`` after midnight (86,400 is 24:00, the end of the day)."""
    whole = int(seconds)
    nanos = round((seconds - whole) * 1e9)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return timeofday_pb2.TimeOfDay(hours=hours, minutes=minutes, seconds=secs, nanos=nanos)


def network_message(
    fcs: Iterable[model.FulfillmentCenter],
    services: Iterable[model.CarrierService],
    *,
    network_id: str,
    display_name: str = "",
    currency: str = "USD",
) -> allocation_pb2.Network:
    """The ``Network`` message of domain FCs and carrier services: the inverse of
    :func:`network_to_domain`, so that a generated or edited network can be written as a
    network file (through the proto JSON mapping) and read back equal.

    FCs get no ``display_name`` (the domain has none); set it on the message if wanted. Every
    zone range is written with its ``last`` ZIP3 and distance bands with their ``first_zone``,
    so nothing is left to a default. The message is not validated: read it back with
    :func:`network_to_domain` for that.

    Raises
    ------
    ValueError
        A service level or rate-card weight unit that has no proto value (names the service).
    """
    message = allocation_pb2.Network(
        id=network_id, display_name=display_name, currency_code=currency
    )
    for fc in fcs:
        out = message.fcs.add(
            id=fc.id,
            capacity_packages=fc.capacity_packages,
            capacity_units=fc.capacity_units,
            handling_cost=fc.handling_cost,
        )
        out.location.postal_code = fc.location.postal_code
        if fc.location.latitude is not None:
            out.location.latitude = fc.location.latitude
        if fc.location.longitude is not None:
            out.location.longitude = fc.location.longitude
        if fc.cutoff_s is not None:
            out.cutoff.CopyFrom(_time_of_day(fc.cutoff_s))
        out.service_capacity.update(fc.service_capacity)
    for i, service in enumerate(services):
        card = service.rate_card
        if service.level not in SERVICE_LEVEL_TO_PROTO:
            raise ValueError(f"services[{i}].level: no proto service level {service.level}")
        if card.weight_unit not in WEIGHT_UNIT_TO_PROTO:
            raise ValueError(
                f"services[{i}].rate_card.weight_unit: no proto weight unit {card.weight_unit!r}"
            )
        out_service = message.services.add(
            id=service.id,
            carrier=service.carrier,
            level=SERVICE_LEVEL_TO_PROTO[service.level],
            transit_days=service.transit_days,
            fuel_pct=service.fuel_pct,
            fcs=service.fcs,
        )
        out_card = out_service.rate_card
        out_card.zones.extend(card.zones)
        out_card.weight_unit = WEIGHT_UNIT_TO_PROTO[card.weight_unit]
        out_card.weight_step = card.weight_step
        out_card.dim_divisor = card.dim_divisor
        for row in card.prices:
            out_card.prices.add(prices=row)
        for extra in service.surcharges:
            out_service.surcharges.add(
                name=extra.name,
                amount=extra.amount,
                residential_only=extra.residential_only,
                min_billable_weight=extra.min_billable_weight,
            )
        for fc_id, ranges in service.zone_charts.items():
            chart = out_service.zone_charts[fc_id]
            for r in ranges:
                chart.ranges.add(first=r.first, last=r.last, zone=r.zone)
        if service.distance_bands is not None:
            out_service.distance_bands.upper_km.extend(service.distance_bands.upper_km)
            out_service.distance_bands.first_zone = service.distance_bands.first_zone
    return message
