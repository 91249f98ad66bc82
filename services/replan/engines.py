"""Where a replan's solves run: in worker processes on this machine, or on remote servers.

Both engines take the same :class:`~services.replan.tasks.Task` (a serialised public-API
request) and return the serialised response, so a plan does not depend on where it was made:

- :class:`LocalEngine` (the default) runs every solve in a process pool sized to the machine's
  cores, with the same conversions and solvers the servers use (:func:`execute`). No server
  is needed.
- :class:`RemoteEngine` calls AllocationService and PickingService at an address, e.g. a
  Kubernetes headless Service as ``dns:///warehouse.ns.svc:50051``, balancing calls round-robin
  over every address the name resolves to. At most ``concurrency`` calls are in flight; a call
  answered UNAVAILABLE or RESOURCE_EXHAUSTED (a server restarting or full) is retried after an
  exponential backoff with full jitter; every call carries a deadline.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc
from warehouse.v1 import (
    allocation_pb2,
    allocation_pb2_grpc,
    layout_pb2,
    layout_pb2_grpc,
    picking_pb2,
    picking_pb2_grpc,
)

from routing.errors import InvalidInput, NotFound
from routing.oracle import DistanceOracle
from services.replan.tasks import Task

#: gRPC codes worth another try: the server is (re)starting, draining or full.
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})
#: Round-robin over every address a name resolves to (client-side load balancing).
SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
#: Largest message either way (the servers accept 64 MiB by default).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class TaskFailed(Exception):
    """A solve that could not be done; the message says why (kept in the run's failures)."""


class Engine(Protocol):
    """Runs tasks; ``submit`` returns a future of the serialised response."""

    name: str

    def submit(self, task: Task) -> cf.Future[bytes]:
        """Start ``task``."""
        ...

    def close(self) -> None:
        """Stop, cancelling what has not started."""
        ...


# -- in-process -----------------------------------------------------------------------------

_layouts: dict[str, bytes] = {}
_oracles: dict[str, DistanceOracle] = {}


def init_worker(layouts: Mapping[str, bytes]) -> None:
    """Give this process the serialised layouts :func:`execute` plans waves on (each compiled
    on first use): the local engine's worker initializer, and what a caller solving in its own
    process (a benchmark) runs first."""
    _layouts.clear()
    _layouts.update(layouts)
    _oracles.clear()


def _oracle(warehouse_id: str) -> DistanceOracle:
    """The worker's compiled layout (compiled on first use and kept)."""
    from services.layouts import compile_layout

    if warehouse_id not in _oracles:
        if warehouse_id not in _layouts:
            raise NotFound("warehouse", warehouse_id, "warehouse_id")
        _oracles[warehouse_id] = compile_layout(
            layout_pb2.Layout.FromString(_layouts[warehouse_id])
        )
    return _oracles[warehouse_id]


def allocate(request: allocation_pb2.AllocateRequest) -> allocation_pb2.AllocateResponse:
    """What AllocationService.Allocate answers for a request that carries its network and the
    stock of every FC (no store is read)."""
    from allocation.solve import solve
    from services import allocation_service as service
    from services import convert
    from services.networks import network_to_domain

    network = network_to_domain(request.network)
    day0 = service.plan_day(request)
    skus = service.order_skus(request)
    stock, problems = service.request_stock(None, request, network, skus)
    for fc in network.fcs:
        stock.setdefault(fc.id, {})
    problem = service.to_problem(request, network, stock, day0, known_problems=problems)
    limit = convert.time_limit_s(request.options, service.DEFAULT_TIME_LIMIT_S)
    result = solve(problem, time_limit_s=limit, seed=request.options.seed)
    response = service.to_response(problem, result, day0, request.options.label)
    response.network_id = network.id
    return response


def plan_wave(request: picking_pb2.PlanWaveRequest) -> picking_pb2.PlanWaveResponse:
    """What PickingService.PlanWave answers for a request that carries its stock."""
    from picking import model, wave
    from services import convert
    from services import picking_service as service
    from services.stock import stock_for_plan

    oracle = _oracle(request.warehouse_id)
    for i, line in enumerate(request.stock.lines):
        if line.bin_id not in oracle.bin_index:
            raise NotFound("bin", line.bin_id, f"stock.lines[{i}].bin_id")
    skus = sorted({x.sku for o in request.orders for x in o.lines if x.sku})
    stock = stock_for_plan(None, request.warehouse_id, skus, request.stock)
    plan = service.to_wave(request, stock.available)
    model.validate(plan)
    result = wave.plan(
        oracle,
        plan,
        time_limit_s=convert.time_limit_s(request.options, service.DEFAULT_TIME_LIMIT_S),
        seed=request.options.seed,
        max_iterations=request.max_iterations or None,
        with_path=request.include_path,
    )
    response = service.to_response(result, request.options.label)
    response.stock_from_request = True
    return response


def execute(kind: str, request: bytes) -> bytes:
    """Solve one serialised request in this process; raise :class:`TaskFailed` with the
    reason when the request is invalid."""
    try:
        if kind == "allocate":
            return allocate(allocation_pb2.AllocateRequest.FromString(request)).SerializeToString(
                deterministic=True
            )
        if kind == "pick":
            return plan_wave(picking_pb2.PlanWaveRequest.FromString(request)).SerializeToString(
                deterministic=True
            )
    except (InvalidInput, NotFound) as exc:
        raise TaskFailed(f"{type(exc).__name__}: {exc}") from None
    raise TaskFailed(f"unknown task kind {kind!r}")


class LocalEngine:
    """Solves in a pool of ``workers`` processes (default: one per core)."""

    name = "local"

    def __init__(self, layouts: Mapping[str, layout_pb2.Layout], workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self._pool = cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
            initargs=({w: m.SerializeToString() for w, m in layouts.items()},),
        )

    def submit(self, task: Task) -> cf.Future[bytes]:
        return self._pool.submit(execute, task.kind, task.request)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# -- remote ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: try ``attempts`` times in all, sleeping a random
    time in ``[0, min(max_backoff_s, initial_backoff_s * 2**k)]`` before try ``k + 1``."""

    attempts: int = 6
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 15.0

    def backoff_s(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based)."""
        return rng.uniform(0.0, min(self.max_backoff_s, self.initial_backoff_s * 2**attempt))


@dataclass(frozen=True)
class Connection:
    """Where the servers are and how to talk to them."""

    address: str
    token: str = ""
    tls_ca: bytes | None = None
    tls_cert: bytes | None = None
    tls_key: bytes | None = None
    tls_server_name: str = ""

    def channel(self) -> grpc.Channel:
        """A channel balancing round-robin over the address's resolved endpoints."""
        options: list[tuple[str, object]] = [
            ("grpc.service_config", SERVICE_CONFIG),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        if self.tls_ca is None:
            return grpc.insecure_channel(self.address, options=options)
        if self.tls_server_name:
            options.append(("grpc.ssl_target_name_override", self.tls_server_name))
        credentials = grpc.ssl_channel_credentials(self.tls_ca, self.tls_key, self.tls_cert)
        return grpc.secure_channel(self.address, credentials, options=options)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata: the bearer token, when there is one."""
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()


class RemoteEngine:
    """Calls the services at ``connection.address`` with at most ``concurrency`` calls in
    flight, retrying on :data:`RETRYABLE` codes under ``retry``."""

    name = "remote"

    def __init__(
        self,
        connection: Connection,
        *,
        concurrency: int = 4,
        retry: RetryPolicy | None = None,
        seed: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.connection = connection
        self.retry = retry or RetryPolicy()
        self._channel = connection.channel()
        self._allocate = allocation_pb2_grpc.AllocationServiceStub(self._channel).Allocate
        self._plan_wave = picking_pb2_grpc.PickingServiceStub(self._channel).PlanWave
        self._pool = cf.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="replan")
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._sleep = sleep
        #: Retries made so far (for the run's summary).
        self.retries = 0

    def submit(self, task: Task) -> cf.Future[bytes]:
        return self._pool.submit(self._call, task)

    def _call(self, task: Task) -> bytes:
        metadata = self.connection.metadata
        for attempt in range(self.retry.attempts):
            try:
                response: allocation_pb2.AllocateResponse | picking_pb2.PlanWaveResponse
                if task.kind == "allocate":
                    response = self._allocate(
                        allocation_pb2.AllocateRequest.FromString(task.request),
                        timeout=task.deadline_s,
                        metadata=metadata,
                    )
                else:
                    response = self._plan_wave(
                        picking_pb2.PlanWaveRequest.FromString(task.request),
                        timeout=task.deadline_s,
                        metadata=metadata,
                    )
                return response.SerializeToString(deterministic=True)
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else None
                details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
                if code not in RETRYABLE or attempt + 1 == self.retry.attempts:
                    name = code.name if code is not None else "error"
                    tries = f" after {attempt + 1} tries" if attempt else ""
                    raise TaskFailed(f"{name}{tries}: {details}") from None
                with self._rng_lock:
                    pause = self.retry.backoff_s(attempt, self._rng)
                    self.retries += 1
                self._sleep(pause)
        raise AssertionError("unreachable")

    def ensure_layouts(
        self, layouts: Mapping[str, layout_pb2.Layout], *, replace: bool = False
    ) -> list[str]:
        """Make sure the servers plan on the day's layouts; return the ids put.

        A layout the servers lack is put; one that differs is put only with ``replace`` (it
        changes what every other caller plans on), otherwise :class:`TaskFailed` says which.
        """
        stub = layout_pb2_grpc.LayoutServiceStub(self._channel)
        put = []
        for warehouse_id, layout in sorted(layouts.items()):
            try:
                current = stub.GetLayout(
                    layout_pb2.GetLayoutRequest(
                        warehouse_id=warehouse_id, view=layout_pb2.LAYOUT_VIEW_FULL
                    ),
                    timeout=30,
                    metadata=self.connection.metadata,
                )
            except grpc.RpcError as exc:
                if not isinstance(exc, grpc.Call) or exc.code() != grpc.StatusCode.NOT_FOUND:
                    code = exc.code().name if isinstance(exc, grpc.Call) else "error"
                    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
                    raise TaskFailed(f"layout {warehouse_id!r}: {code}: {details}") from None
                current = None
            if current is not None and _same_floor(current, layout):
                continue
            if current is not None and not replace:
                raise TaskFailed(
                    f"layout {warehouse_id!r} on the servers differs from the day's; "
                    "pass --replace-layouts to put the day's"
                )
            try:
                stub.PutLayout(
                    layout_pb2.PutLayoutRequest(layout=layout),
                    timeout=60,
                    metadata=self.connection.metadata,
                )
            except grpc.RpcError as exc:
                code = exc.code().name if isinstance(exc, grpc.Call) else "error"
                details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
                raise TaskFailed(f"putting layout {warehouse_id!r}: {code}: {details}") from None
            put.append(warehouse_id)
        return put

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._channel.close()


def _same_floor(a: layout_pb2.Layout, b: layout_pb2.Layout) -> bool:
    """Whether two layouts describe the same floor (output-only fields and names aside)."""

    def floor(layout: layout_pb2.Layout) -> bytes:
        copy = layout_pb2.Layout()
        copy.CopyFrom(layout)
        for name in ("version", "update_time", "bin_count", "display_name"):
            copy.ClearField(name)
        return copy.SerializeToString(deterministic=True)

    return floor(a) == floor(b)


def engine_names() -> Sequence[str]:
    """The engines ``--engine`` accepts."""
    return ("local", "remote")
