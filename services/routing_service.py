"""RoutingService: validate, convert, delegate to the :class:`RoutePlanner`, convert back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from warehouse.v1 import routing_pb2, routing_pb2_grpc

from routing.errors import InvalidInput
from routing.route import RouteResult
from services import convert
from services.errors import DeadlineExceeded, Overloaded, rpc_status
from services.metrics import ServerMetrics
from services.planner import RouteJob, RoutePlanner

#: Most bins in one pick list (PlanRoute, and each item of PlanRoutes). The solve's distance
#: matrix grows with the square of the list: 1,000 bins solve within about half a second of
#: their time limit, 5,000 take some 20 s over a 1 s limit and over 1 GB.
MAX_PICKS = 1_000

#: ``context.time_remaining()`` above this means "no deadline".
_NO_DEADLINE_S = 365 * 24 * 3600.0


def call_deadline(context: grpc.ServicerContext, margin_s: float) -> float | None:
    """The call's deadline minus ``margin_s``, in ``time.monotonic()`` seconds (None: none).

    Raises
    ------
    DeadlineExceeded
        The deadline leaves no more than the margin.
    """
    remaining = context.time_remaining()
    if remaining is None or remaining > _NO_DEADLINE_S:
        return None
    if remaining <= margin_s:
        raise DeadlineExceeded("the deadline leaves no time to solve")
    return time.monotonic() + remaining - margin_s


class SolveSlots:
    """At most ``limit`` solve calls at once.

    A call that finds every slot taken waits up to ``wait_s`` (never past its deadline) for one,
    so a momentary burst of millisecond solves queues instead of failing; after that it fails
    with :class:`Overloaded` (RESOURCE_EXHAUSTED), which tells the caller to back off.
    """

    def __init__(self, limit: int, wait_s: float = 0.1) -> None:
        self.limit = limit
        self.wait_s = wait_s
        self._semaphore = threading.BoundedSemaphore(limit)
        self._in_use = 0
        self._count_lock = threading.Lock()

    @property
    def in_use(self) -> int:
        """Slots held right now."""
        return self._in_use

    @contextmanager
    def take(self, deadline: float | None = None) -> Iterator[None]:
        """Hold one slot for the duration of the block (``deadline`` in monotonic seconds)."""
        wait = self.wait_s if deadline is None else min(self.wait_s, deadline - time.monotonic())
        if not self._semaphore.acquire(timeout=max(wait, 0.0)):
            raise Overloaded(f"{self.limit} solves are already running; retry with backoff")
        with self._count_lock:
            self._in_use += 1
        try:
            yield
        finally:
            with self._count_lock:
                self._in_use -= 1
            self._semaphore.release()


class RoutingService(routing_pb2_grpc.RoutingServiceServicer):
    """Plans pick routes.

    Parameters
    ----------
    planner
        Does the work; knows nothing of gRPC.
    slots
        The concurrency limit shared by every solve call.
    metrics
        Where solved routes are recorded.
    default_time_limit_s
        Time limit of requests that give none.
    deadline_margin_s
        Kept free before the call's deadline to convert and send the answer.
    """

    def __init__(
        self,
        planner: RoutePlanner,
        slots: SolveSlots,
        metrics: ServerMetrics,
        *,
        default_time_limit_s: float = 1.0,
        deadline_margin_s: float = 0.05,
    ) -> None:
        self._planner = planner
        self._slots = slots
        self._metrics = metrics
        self._default_time_limit_s = default_time_limit_s
        self._margin_s = deadline_margin_s

    def _deadline(self, context: grpc.ServicerContext) -> float | None:
        return call_deadline(context, self._margin_s)

    def _job(self, request: routing_pb2.PlanRouteRequest) -> RouteJob:
        if len(request.bin_ids) > MAX_PICKS:
            raise InvalidInput.single(
                "bin_ids", f"at most {MAX_PICKS:,} per route, got {len(request.bin_ids):,}"
            )
        return RouteJob(
            warehouse_id=request.warehouse_id,
            pick_list=convert.pick_list(request),
            baseline=convert.baseline(request.baseline),
            time_limit_s=convert.time_limit_s(request.options, self._default_time_limit_s),
            seed=request.options.seed,
            with_path=request.include_path,
        )

    def _validated(self, request: routing_pb2.PlanRouteRequest) -> routing_pb2.PlanRouteResponse:
        checked = self._planner.validate(self._job(request))
        return convert.validated_response(request, checked.start_depot, checked.end_depot)

    def _response(self, result: RouteResult, label: str) -> routing_pb2.PlanRouteResponse:
        self._metrics.observe_route(result)
        return convert.route_response(result, label)

    def PlanRoute(  # noqa: N802
        self, request: routing_pb2.PlanRouteRequest, context: grpc.ServicerContext
    ) -> routing_pb2.PlanRouteResponse:
        """Plan one pick route (see warehouse/v1/routing.proto)."""
        deadline = self._deadline(context)
        job = self._job(request)
        if request.options.validate_only:
            return self._validated(request)
        with self._slots.take(deadline):
            result = self._planner.plan(job, deadline)
        return self._response(result, request.options.label)

    def PlanRoutes(  # noqa: N802
        self, request: routing_pb2.PlanRoutesRequest, context: grpc.ServicerContext
    ) -> routing_pb2.PlanRoutesResponse:
        """Plan many pick routes; each is answered or fails on its own."""
        if len(request.requests) > convert.MAX_BATCH:
            raise InvalidInput.single(
                "requests",
                f"at most {convert.MAX_BATCH} pick lists per call, got {len(request.requests)}",
            )
        deadline = self._deadline(context)
        results: list[routing_pb2.PlanRouteResult | None] = [None] * len(request.requests)
        jobs: list[RouteJob] = []
        positions: list[int] = []
        for i, item in enumerate(request.requests):
            try:
                if item.options.validate_only:
                    results[i] = routing_pb2.PlanRouteResult(route=self._validated(item))
                else:
                    jobs.append(self._job(item))
                    positions.append(i)
            except Exception as exc:
                results[i] = routing_pb2.PlanRouteResult(error=rpc_status(exc, "PlanRoutes"))
        with self._slots.take(deadline):
            outcomes = self._planner.plan_many(jobs, deadline)
        for i, outcome in zip(positions, outcomes, strict=True):
            if isinstance(outcome, Exception):
                results[i] = routing_pb2.PlanRouteResult(error=rpc_status(outcome, "PlanRoutes"))
            else:
                label = request.requests[i].options.label
                results[i] = routing_pb2.PlanRouteResult(route=self._response(outcome, label))
        return routing_pb2.PlanRoutesResponse(
            label=request.label, results=[r for r in results if r is not None]
        )
