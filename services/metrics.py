"""Prometheus metrics: the gRPC ecosystem's server metrics plus planning, allocation, inventory
feed and store metrics.

Metric names follow go-grpc-prometheus / py-grpc-prometheus (``grpc_server_handled_total`` with
``grpc_code`` ...), so the usual gRPC Grafana dashboards work unchanged; deploy/prometheus and
deploy/grafana hold this project's rules and dashboards. Label values come from fixed sets, or
are a network's ISO 4217 currency code, never an order, event or site id: the number of series
stays bounded. Every server gets its own
:class:`~prometheus_client.CollectorRegistry`, so tests can run several servers in one process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from threading import Thread
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app

from allocation.result import Allocation
from picking.wave import WavePlan
from routing.route import RouteResult
from services.interceptors import (
    Handler,
    MethodInterceptor,
    status_code,
    wrap_handler,
)

#: Latency buckets from 1 ms to 5 min: exact solves take milliseconds, batches minutes.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
SAVING_BUCKETS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0)
#: Carts (batches) and totes per wave.
WAVE_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

#: Inventory event outcomes and the reasons each can have, created at zero at start so that
#: "no event applied for N minutes" is a zero rate, not a missing series.
INVENTORY_EVENT_LABELS = (
    ("applied", "none"),
    ("duplicate", "repeated"),
    ("duplicate", "in_snapshot"),
    ("rejected", "invalid"),
    ("rejected", "unknown_bin"),
    ("rejected", "insufficient_stock"),
    ("rejected", "id_reused"),
)
#: How a ReplaceStock stream ended: switched to, a resend of a committed snapshot, a stream
#: that stopped without ``end`` (nothing changed), or an error while loading.
SNAPSHOT_OUTCOMES = ("committed", "duplicate", "aborted", "failed")
#: The store calls timed in ``warehouse_store_operation_seconds``.
STORE_OPERATIONS = (
    "apply_events",
    "snapshot_commit",
    "reserve",
    "release",
    "read_stock",
    "read_fc_stock",
    "read_state",
)

_LABELS = ("grpc_type", "grpc_service", "grpc_method")


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per scrape, so a slow scraper never blocks the next."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape on stderr."""

    def log_message(self, format: str, *args: object) -> None:
        return None


class ServerMetrics:
    """Every metric of one server, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.started = Counter(
            "grpc_server_started_total", "RPCs started on the server.", _LABELS, registry=r
        )
        self.handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, regardless of success or failure.",
            (*_LABELS, "grpc_code"),
            registry=r,
        )
        self.handling = Histogram(
            "grpc_server_handling_seconds",
            "Time from receiving an RPC to sending its status.",
            _LABELS,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.received = Counter(
            "grpc_server_msg_received_total",
            "Messages received by the server.",
            _LABELS,
            registry=r,
        )
        self.sent = Counter(
            "grpc_server_msg_sent_total", "Messages sent by the server.", _LABELS, registry=r
        )
        self.solve_seconds = Histogram(
            "warehouse_route_solve_seconds",
            "Solver wall-clock time per pick route.",
            ("solver",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.routes = Counter(
            "warehouse_routes_planned_total",
            "Pick routes planned.",
            ("solver", "status"),
            registry=r,
        )
        self.distance = Counter(
            "warehouse_route_distance_meters_total",
            "Walking distance of the planned routes.",
            registry=r,
        )
        self.baseline_distance = Counter(
            "warehouse_route_baseline_distance_meters_total",
            "Walking distance the baseline policy would have needed for the same pick lists.",
            ("baseline",),
            registry=r,
        )
        self.saved = Counter(
            "warehouse_route_distance_saved_meters_total",
            "Walking distance saved versus the baseline policy.",
            ("baseline",),
            registry=r,
        )
        self.saving_ratio = Histogram(
            "warehouse_route_saving_ratio",
            "Share of the baseline distance saved per route.",
            ("baseline",),
            buckets=SAVING_BUCKETS,
            registry=r,
        )
        self.waves = Counter(
            "warehouse_waves_planned_total", "Picking waves planned.", ("status",), registry=r
        )
        self.wave_batches = Histogram(
            "warehouse_wave_batches",
            "Carts (batches) per planned wave.",
            buckets=WAVE_SIZE_BUCKETS,
            registry=r,
        )
        self.wave_baseline_batches = Histogram(
            "warehouse_wave_baseline_batches",
            "Carts first-come-first-served batching would need for the same wave.",
            buckets=WAVE_SIZE_BUCKETS,
            registry=r,
        )
        self.wave_totes = Histogram(
            "warehouse_wave_totes",
            "Totes used per planned wave, over all its carts.",
            buckets=WAVE_SIZE_BUCKETS,
            registry=r,
        )
        self.wave_solve_seconds = Histogram(
            "warehouse_wave_solve_seconds",
            "Solver wall-clock time per wave (batching, bin selection and routes).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.wave_distance = Counter(
            "warehouse_wave_distance_meters_total",
            "Walking distance of the planned waves.",
            registry=r,
        )
        self.wave_baseline_distance = Counter(
            "warehouse_wave_baseline_distance_meters_total",
            "Walking distance first-come-first-served carts with S-shape routes would need.",
            registry=r,
        )
        self.wave_unserved = Counter(
            "warehouse_wave_unserved_lines_total",
            "Order lines left out of planned waves, by reason.",
            ("reason",),
            registry=r,
        )
        self.allocations = Counter(
            "warehouse_allocations_total",
            "Order allocations solved, by solver method and status.",
            ("method", "status"),
            registry=r,
        )
        self.allocation_solve_seconds = Histogram(
            "warehouse_allocation_solve_seconds",
            "Solver wall-clock time per allocation.",
            ("method",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.allocation_cost = Counter(
            "warehouse_allocation_shipping_cost_total",
            "Shipping cost of the allocations, in minor units of the currency (cents for USD).",
            ("currency",),
            registry=r,
        )
        self.allocation_baseline_cost = Counter(
            "warehouse_allocation_baseline_shipping_cost_total",
            "Shipping cost the nearest-FC baseline would have had for the same orders, in minor "
            "units of the currency.",
            ("currency",),
            registry=r,
        )
        self.allocation_packages = Counter(
            "warehouse_allocation_packages_total", "Packages allocated.", registry=r
        )
        self.allocation_orders = Counter(
            "warehouse_allocation_orders_total",
            "Orders allocated, by outcome: complete, partial (some lines unfilled) or unfilled.",
            ("outcome",),
            registry=r,
        )
        self.allocation_unfilled = Counter(
            "warehouse_allocation_unfilled_lines_total",
            "Order lines left unfilled by allocations, by reason.",
            ("reason",),
            registry=r,
        )
        self.inventory_events = Counter(
            "warehouse_inventory_events_total",
            "Inventory events received, by outcome (applied, duplicate, rejected) and reason.",
            ("outcome", "reason"),
            registry=r,
        )
        for outcome, reason in INVENTORY_EVENT_LABELS:
            self.inventory_events.labels(outcome, reason)
        self.snapshots = Counter(
            "warehouse_inventory_snapshots_total",
            "Stock snapshots received (ReplaceStock), by outcome: committed, duplicate, aborted "
            "(the stream stopped without end) or failed.",
            ("outcome",),
            registry=r,
        )
        for outcome in SNAPSHOT_OUTCOMES:
            self.snapshots.labels(outcome)
        self.snapshot_rows = Counter(
            "warehouse_inventory_snapshot_rows_total",
            "Stock rows of the committed snapshots.",
            registry=r,
        )
        self.store_seconds = Histogram(
            "warehouse_store_operation_seconds",
            "Time of the inventory store's calls (one transaction each), by operation.",
            ("operation",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        for operation in STORE_OPERATIONS:
            self.store_seconds.labels(operation)
        self._http: WSGIServer | None = None
        self._thread: Thread | None = None

    def observe_route(self, result: RouteResult) -> None:
        """Record one solved route."""
        baseline = result.baseline.value
        self.solve_seconds.labels(result.solver).observe(result.solve_time_s)
        self.routes.labels(result.solver, result.status.value).inc()
        self.distance.inc(result.distance_mm / 1000)
        self.baseline_distance.labels(baseline).inc(result.baseline_distance_mm / 1000)
        saved_mm = max(result.baseline_distance_mm - result.distance_mm, 0)
        self.saved.labels(baseline).inc(saved_mm / 1000)
        if result.baseline_distance_mm > 0:
            self.saving_ratio.labels(baseline).observe(saved_mm / result.baseline_distance_mm)

    def observe_wave(self, result: WavePlan) -> None:
        """Record one planned wave."""
        self.waves.labels(result.status.value).inc()
        self.wave_batches.observe(len(result.batches))
        self.wave_baseline_batches.observe(result.baseline_batches)
        self.wave_totes.observe(sum(len(t) for b in result.batches for t in b.totes.values()))
        self.wave_solve_seconds.observe(result.solve_time_s)
        self.wave_distance.inc(result.distance_mm / 1000)
        self.wave_baseline_distance.inc(result.baseline_distance_mm / 1000)
        for line in result.unserved:
            self.wave_unserved.labels(line.reason.value).inc()

    def observe_allocation(self, result: Allocation, currency: str, orders: int) -> None:
        """Record one allocation of ``orders`` orders, its money in ``currency``."""
        self.allocations.labels(result.method, result.status.value).inc()
        self.allocation_solve_seconds.labels(result.method).observe(result.solve_time_s)
        self.allocation_cost.labels(currency).inc(result.totals.cost)
        self.allocation_baseline_cost.labels(currency).inc(result.baseline.cost)
        self.allocation_packages.inc(result.totals.packages)
        shipped = {s.order_id for s in result.shipments}
        short = {u.order_id for u in result.unfilled}
        self.allocation_orders.labels("complete").inc(orders - len(short))
        self.allocation_orders.labels("partial").inc(len(short & shipped))
        self.allocation_orders.labels("unfilled").inc(len(short - shipped))
        for line in result.unfilled:
            self.allocation_unfilled.labels(line.reason.value).inc()

    def observe_snapshot(self, outcome: str, rows: int = 0) -> None:
        """Record one snapshot stream's ``outcome`` (one of :data:`SNAPSHOT_OUTCOMES`)."""
        self.snapshots.labels(outcome).inc()
        if outcome == "committed":
            self.snapshot_rows.inc(rows)

    @contextmanager
    def store_call(self, operation: str) -> Iterator[None]:
        """Time the block as one store call of ``operation`` (one of :data:`STORE_OPERATIONS`)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.store_seconds.labels(operation).observe(time.perf_counter() - started)

    def serve(self, port: int, address: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` over HTTP on ``port`` (0 picks one); return the bound port."""
        self._http = make_server(
            address,
            port,
            make_wsgi_app(self.registry),
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        # A short poll interval lets close() return at once instead of after half a second.
        self._thread = Thread(
            target=self._http.serve_forever, args=(0.05,), name="metrics-http", daemon=True
        )
        self._thread.start()
        return int(self._http.server_port)

    def close(self) -> None:
        """Stop the HTTP endpoint."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _grpc_type(handler: grpc.RpcMethodHandler[Any, Any]) -> str:
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


def _code(context: grpc.ServicerContext, error: BaseException | None) -> str:
    code = status_code(context)
    if code is not None and code != grpc.StatusCode.OK:
        return str(code.name)
    if error is None:
        return "OK"
    if isinstance(error, GeneratorExit):
        return "CANCELLED"
    return "UNKNOWN"


class MetricsInterceptor(MethodInterceptor):
    """Records the ``grpc_server_*`` metrics of every call (install it first, outermost)."""

    def __init__(self, metrics: ServerMetrics) -> None:
        super().__init__()
        self._m = metrics

    def wrap(self, full: str, handler: Handler) -> Handler:
        """``handler`` recording its calls; the metric children are looked up once per method."""
        service, _, method = full.lstrip("/").rpartition("/")
        labels = (_grpc_type(handler), service, method)
        m = self._m
        started_total = m.started.labels(*labels)
        handling = m.handling.labels(*labels)
        handled: dict[str, Counter] = {}

        @contextmanager
        def observe(context: grpc.ServicerContext) -> Iterator[None]:
            started_total.inc()
            started = time.perf_counter()
            error: BaseException | None = None
            try:
                yield
            except BaseException as exc:
                error = exc
                raise
            finally:
                handling.observe(time.perf_counter() - started)
                code = _code(context, error)
                counter = handled.get(code)
                if counter is None:  # status codes are a fixed set of 17
                    counter = handled[code] = m.handled.labels(*labels, code)
                counter.inc()

        return wrap_handler(
            handler,
            observe,
            on_request=m.received.labels(*labels).inc,
            on_response=m.sent.labels(*labels).inc,
        )
