"""One process serving every service: Layout, Routing, Inventory, Picking and Allocation, health,
reflection.

Run it with ``python -m services.server`` (or ``warehouse serve``); ``--help`` lists the
settings, each also readable from a ``WAREHOUSE_*`` environment variable.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence
from concurrent import futures
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from warehouse.v1 import (
    allocation_pb2,
    allocation_pb2_grpc,
    inventory_pb2,
    inventory_pb2_grpc,
    layout_pb2,
    layout_pb2_grpc,
    picking_pb2,
    picking_pb2_grpc,
    routing_pb2,
    routing_pb2_grpc,
)

from services import auth, config
from services.allocation_service import AllocationService
from services.config import Settings
from services.db import open_database
from services.interceptors import ErrorInterceptor
from services.inventory import InventoryStore
from services.inventory_service import InventoryService, load_stock_files
from services.layout_service import LayoutService
from services.layouts import LayoutRegistry
from services.metrics import MetricsInterceptor, ServerMetrics
from services.networks import NETWORKS_SUBDIR, NetworkRegistry
from services.picking_service import PickingService
from services.planner import RoutePlanner
from services.routing_service import RoutingService, SolveSlots
from services.schema import MIGRATIONS
from services.store import LayoutStore

log = logging.getLogger("services.server")

SERVICE_NAMES = (
    layout_pb2.DESCRIPTOR.services_by_name["LayoutService"].full_name,
    routing_pb2.DESCRIPTOR.services_by_name["RoutingService"].full_name,
    inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name,
    picking_pb2.DESCRIPTOR.services_by_name["PickingService"].full_name,
    allocation_pb2.DESCRIPTOR.services_by_name["AllocationService"].full_name,
)


class WarehouseServer:
    """Every service of the warehouse API on one port.

    ``start()`` opens the store, loads the layout and network files, starts the metrics endpoint
    and the gRPC server; ``stop()`` reports NOT_SERVING, then waits up to the grace period for
    calls in flight.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Security files first: a wrong one fails the start before anything is opened.
        self.credentials = auth.server_credentials(settings)
        self.auth = auth.AuthPolicy.from_settings(settings)
        self.metrics = ServerMetrics()
        self.db = open_database(settings.database, MIGRATIONS)
        self.store = LayoutStore(self.db)
        self.inventory = InventoryStore(self.db, event_retention_s=settings.event_retention_s)
        self.registry = LayoutRegistry(self.store, refresh_s=settings.layout_refresh_s)
        self.planner = RoutePlanner(self.registry, workers=settings.workers)
        self.networks = NetworkRegistry()
        self.slots = SolveSlots(settings.max_concurrent_solves)
        self.health = health.HealthServicer()
        self.port = 0
        self.metrics_port = 0
        self.health_port = 0
        self.loaded_layouts: list[str] = []
        self.seeded_stock: list[str] = []
        self.loaded_networks: list[str] = []
        self.seeded_fc_stock: list[str] = []
        self._stopped = threading.Event()
        self._maintenance = threading.Thread(
            target=self._maintain, name="inventory-maintenance", daemon=True
        )
        options = [
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            # gRPC sets SO_REUSEPORT by default: a second server on a busy port would silently
            # share it instead of failing to start.
            ("grpc.so_reuseport", 0),
            # Clients balancing round-robin over a headless Service resolve names again when a
            # connection ends: closing connections after a while lets them find new replicas.
            ("grpc.max_connection_age_ms", 5 * 60 * 1000),
            ("grpc.max_connection_age_grace_ms", 60 * 1000),
        ]
        self._server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=settings.threads, thread_name_prefix="grpc-handler"
            ),
            interceptors=[
                MetricsInterceptor(self.metrics),
                *([auth.AuthInterceptor(self.auth)] if self.auth.enabled else []),
                ErrorInterceptor(),
            ],
            options=options,
            # No call waits for a handler thread: one arriving while every thread is busy is
            # refused at once with RESOURCE_EXHAUSTED, instead of queueing until its deadline
            # has passed (the solve limit below the thread count keeps threads for cheap calls).
            maximum_concurrent_rpcs=settings.threads,
        )

        self._probes: grpc.Server | None = None
        if settings.health_port >= 0:
            self._probes = grpc.server(
                futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="grpc-probe"),
                options=[("grpc.so_reuseport", 0)],
            )
            # Check only: a Watch stream would hold one of the two threads for good.
            check = grpc.unary_unary_rpc_method_handler(
                self.health.Check,
                request_deserializer=health_pb2.HealthCheckRequest.FromString,
                response_serializer=health_pb2.HealthCheckResponse.SerializeToString,
            )
            self._probes.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(health.SERVICE_NAME, {"Check": check}),)
            )

    def start(self) -> int:
        """Start serving; return the bound gRPC port."""
        s = self.settings
        # Bind first: a busy port fails the start before any work (nothing is served until
        # self._server.start() below).
        if self.credentials is not None:
            self.port = self._server.add_secure_port(s.listen_address, self.credentials)
        else:
            self.port = self._server.add_insecure_port(s.listen_address)
        if self._probes is not None:
            host = s.listen_address.rsplit(":", 1)[0]
            self.health_port = self._probes.add_insecure_port(f"{host}:{s.health_port}")
        auth.warn_if_exposed(
            s.listen_address, tls=self.credentials is not None, auth=self.auth.enabled
        )
        if s.layouts_dir is not None:
            self.loaded_layouts = self.registry.load_dir(s.layouts_dir)
            self.seeded_stock = load_stock_files(self.inventory, self.registry, s.layouts_dir)
            # FC networks and their FCs' stock files live in a subdirectory: every YAML file of
            # the layouts directory itself is a layout.
            networks_dir = s.layouts_dir / NETWORKS_SUBDIR
            self.loaded_networks = self.networks.load_dir(networks_dir)
            if networks_dir.is_dir():
                self.seeded_fc_stock = load_stock_files(self.inventory, self.registry, networks_dir)
        self.planner.warm_up(self.loaded_layouts)
        layout_pb2_grpc.add_LayoutServiceServicer_to_server(
            LayoutService(self.registry), self._server
        )
        routing_pb2_grpc.add_RoutingServiceServicer_to_server(
            RoutingService(
                self.planner,
                self.slots,
                self.metrics,
                default_time_limit_s=s.default_time_limit_s,
                deadline_margin_s=s.deadline_margin_s,
            ),
            self._server,
        )
        inventory_pb2_grpc.add_InventoryServiceServicer_to_server(
            InventoryService(
                self.inventory,
                self.registry,
                self.metrics,
                max_reservation_ttl_s=s.max_reservation_ttl_s,
            ),
            self._server,
        )
        picking_pb2_grpc.add_PickingServiceServicer_to_server(
            PickingService(
                self.planner,
                self.inventory,
                self.slots,
                self.metrics,
                deadline_margin_s=s.deadline_margin_s,
                max_reservation_ttl_s=s.max_reservation_ttl_s,
                wave_processes=s.wave_processes if s.workers > 0 else 1,
            ),
            self._server,
        )
        allocation_pb2_grpc.add_AllocationServiceServicer_to_server(
            AllocationService(
                self.planner,
                self.inventory,
                self.networks,
                self.slots,
                self.metrics,
                deadline_margin_s=s.deadline_margin_s,
            ),
            self._server,
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )
        if s.metrics_port >= 0:
            self.metrics_port = self.metrics.serve(s.metrics_port, s.metrics_address)
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server.start()
        if self._probes is not None:
            self._probes.start()
        self._maintenance.start()
        return self.port

    def _maintain(self) -> None:
        """Remove expired reservations, old event ids and abandoned snapshot loads, periodically."""
        while not self._stopped.wait(self.settings.maintenance_interval_s):
            try:
                done = self.inventory.maintain()
            except Exception:  # a failed round is retried at the next interval
                log.exception("inventory maintenance failed")
                continue
            if done.reservations_expired or done.events_pruned or done.loads_discarded:
                log.info("inventory maintenance: %s", done)

    @property
    def address(self) -> str:
        """``host:port`` clients connect to."""
        host = self.settings.listen_address.rsplit(":", 1)[0]
        if host in ("", "0.0.0.0", "[::]"):
            host = "127.0.0.1"
        return f"{host}:{self.port}"

    def stop(self, grace_s: float | None = None) -> None:
        """Report NOT_SERVING, finish calls in flight (up to the grace period), release all."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        grace = self.settings.grace_period_s if grace_s is None else grace_s
        self._server.stop(grace).wait()
        if self._probes is not None:  # answered NOT_SERVING through the grace period
            self._probes.stop(None)
        self.planner.close()
        self.metrics.close()
        if self._maintenance.is_alive():
            self._maintenance.join()
        self.db.close()

    def wait(self) -> None:
        """Block until the server stops."""
        self._server.wait_for_termination()


#: How to try AllocationService on the demo network (printed when it is loaded).
_ALLOCATE_HINT = (
    '\n  grpcurl -plaintext -d \'{{"networkId": "demo", "orders": [{{"id": "o1", '
    '"destination": {{"postalCode": "10001"}}, "lines": [{{"sku": "SKU-0001", "quantity": 2}}]}}], '
    '"skus": [{{"id": "SKU-0001", "weightKg": 0.8, "lengthCm": 30, "widthCm": 20, '
    '"heightCm": 10}}]}}\' {address} warehouse.v1.AllocationService/Allocate'
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m services.server``: serve until SIGTERM or SIGINT."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = config.load(sys.argv[1:] if argv is None else argv)
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("%s received: shutting down", signal.Signals(signum).name)
        stop_requested.set()

    # Installed before start(), so a signal while layouts load still ends in a clean stop.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        server = WarehouseServer(settings)
    except auth.SecurityConfigError as exc:
        print(f"warehouse serve: error: {exc}", file=sys.stderr)
        return 2
    server.start()
    metrics = (
        f"http://{settings.metrics_address}:{server.metrics_port}/metrics"
        if settings.metrics_port >= 0
        else "disabled"
    )
    print(
        f"warehouse server listening on {server.address} "
        f"(layouts: {', '.join(server.loaded_layouts) or 'none'}; "
        f"stock seeded: {', '.join(server.seeded_stock + server.seeded_fc_stock) or 'none'}; "
        f"networks: {', '.join(server.loaded_networks) or 'none'}; metrics: {metrics}"
        + (f"; health probes: port {server.health_port}" if settings.health_port >= 0 else "")
        + ")\n"
        f"try next: see README.md 'First call', or\n"
        f'  grpcurl -plaintext -d \'{{"warehouse_id": "demo", "bin_ids": '
        f'["A03-B1-012L", "A07-B1-040R"]}}\' {server.address} '
        f"warehouse.v1.RoutingService/PlanRoute\n"
        f'  grpcurl -plaintext -d \'{{"site_ids": ["demo"], "skus": ["SKU-0001"]}}\' '
        f"{server.address} warehouse.v1.InventoryService/GetStock"
        + (
            _ALLOCATE_HINT.format(address=server.address)
            if "demo" in server.loaded_networks
            else ""
        )
        + "\nor replan a whole generated day (docs/replan.md):\n"
        "  .venv/bin/warehouse sample-day /tmp/day && "
        ".venv/bin/warehouse replan /tmp/day/day.yaml --out /tmp/day/plan",
        flush=True,
    )
    stop_requested.wait()
    log.info(
        "health NOT_SERVING; waiting up to %.1f s for calls in flight", settings.grace_period_s
    )
    server.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
