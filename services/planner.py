"""The route-planning data plane: looks up the layout, validates, solves; no gRPC in here.

Exact solves (rectangular layouts, short lists) take about a millisecond and run in the calling
thread. The heuristic search runs until its time limit and holds the GIL, so with ``workers > 0``
it runs in a pool of worker processes instead, keeping the gRPC handlers free and using every
core. Each worker opens the same SQLite store and keeps its own warm cache of compiled layouts,
so only the pick list and the result cross the process boundary.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TypeVar

from routing import route, tsp
from routing.errors import FieldViolation, InvalidInput, NotFound
from routing.oracle import DistanceOracle
from routing.route import Baseline, PickList, RouteResult
from services.errors import DeadlineExceeded, SolverUnavailable
from services.layouts import LayoutRegistry
from services.store import LayoutStore

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: What a call whose solve died with its worker process is told (UNAVAILABLE, see errors.py).
WORKER_CRASHED = (
    "the solver process running this call stopped unexpectedly; nothing was changed and a new "
    "worker pool is starting: retry with backoff"
)
#: What a call reaching the worker pool after the server closed it is told (UNAVAILABLE).
PLANNER_CLOSED = "the server is shutting down; nothing was changed: retry with backoff"


@dataclass(frozen=True)
class RouteJob:
    """One pick list to plan on one warehouse."""

    warehouse_id: str
    pick_list: PickList
    baseline: Baseline = Baseline.AUTO
    time_limit_s: float = 1.0
    seed: int = 0
    with_path: bool = False


@dataclass(frozen=True)
class Validated:
    """A job that passed validation, with the depots it resolved to."""

    start_depot: str
    end_depot: str


class RoutePlanner:
    """Validates and solves :class:`RouteJob` objects against a :class:`LayoutRegistry`.

    Parameters
    ----------
    registry
        Layouts and their compiled oracles.
    workers
        Solver processes; 0 solves in the calling thread.
    """

    def __init__(self, registry: LayoutRegistry, workers: int = 0) -> None:
        self.registry = registry
        self._workers = workers
        self._pool_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._solving = 0  # plan_many calls in progress
        self._pool: ProcessPoolExecutor | None = self._new_pool() if workers > 0 else None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.registry.store.db.target,),
        )

    def _submit(self, fn: Callable[..., R], *args: object) -> tuple[ProcessPoolExecutor, Future[R]]:
        """Hand ``fn(*args)`` to a worker; a pool already broken by a crashed worker is replaced
        once. Returns the pool with the future, to replace that pool if it breaks later.

        Raises
        ------
        SolverUnavailable
            The planner is closed (the server is stopping), or the new pool broke too.
        """
        for attempt in (1, 2):
            pool = self._pool
            if pool is None:
                break
            try:
                return pool, pool.submit(fn, *args)
            except BrokenProcessPool as exc:
                if attempt == 2:
                    raise SolverUnavailable(WORKER_CRASHED) from exc
                self._replace_pool(pool)  # a worker died while idle: once more on a new pool
            except RuntimeError:
                break  # close() shut the pool down since it was read
        raise SolverUnavailable(PLANNER_CLOSED)

    def _result(self, pool: ProcessPoolExecutor, future: Future[R], deadline: float | None) -> R:
        """What ``future`` (of ``pool``) returns, waiting no longer than ``deadline``.

        Raises
        ------
        DeadlineExceeded
            The worker did not answer before ``deadline``.
        SolverUnavailable
            A worker of ``pool`` died while the job was running or waiting (the pool is
            replaced, so the next call is served again), or the planner was closed.
        """
        timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            future.cancel()
            raise DeadlineExceeded("the solve did not finish before the deadline") from None
        except BrokenProcessPool as exc:
            self._replace_pool(pool)
            closed = self._pool is None
            raise SolverUnavailable(PLANNER_CLOSED if closed else WORKER_CRASHED) from exc

    def _replace_pool(self, broken: ProcessPoolExecutor) -> None:
        """Swap ``broken`` for a new pool, unless another call did already or the planner is
        closed (its workers are stopped on purpose then)."""
        with self._pool_lock:
            if self._pool is broken:
                log.error("a solver worker died; starting a new worker pool")
                broken.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()

    def worker_pids(self) -> list[int]:
        """Process ids of the live worker processes (none before the first job or without a
        pool)."""
        pool = self._pool
        # ProcessPoolExecutor keeps its processes by pid; there is no public accessor.
        processes = getattr(pool, "_processes", None) or {}
        return sorted(pid for pid, process in list(processes.items()) if process.is_alive())

    def warm_up(self, warehouse_ids: list[str]) -> None:
        """Start every worker and compile ``warehouse_ids`` in each, so first calls are fast."""
        if self._pool is None:
            return
        workers = self._workers
        futures = [self._pool.submit(_warm, warehouse_ids, 0.2) for _ in range(workers)]
        for future in futures:
            future.result()

    def validate(self, job: RouteJob) -> Validated:
        """Check ``job`` without solving.

        Raises
        ------
        InvalidInput, NotFound
            What is wrong, naming the request field.
        """
        oracle = self.registry.oracle(job.warehouse_id)
        route.validate(oracle, job.pick_list, baseline=job.baseline)
        start = job.pick_list.start_depot or oracle.depot_ids[0]
        return Validated(start, job.pick_list.end_depot or start)

    def plan(self, job: RouteJob, deadline: float | None = None) -> RouteResult:
        """Solve ``job`` within ``min(job.time_limit_s, deadline - now)``.

        ``deadline`` is in ``time.monotonic()`` seconds (one clock for every process).

        Raises
        ------
        InvalidInput, NotFound
            What is wrong, naming the request field.
        DeadlineExceeded
            No time was left to start, or a worker did not answer before ``deadline``.
        """
        outcome = self.plan_many([job], deadline)[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def plan_many(
        self, jobs: list[RouteJob], deadline: float | None = None
    ) -> list[RouteResult | Exception]:
        """Solve every job (in parallel when there are workers); failures are returned per job.

        With workers, a lone exact job runs in the calling thread when no other solve is in
        progress (a worker's round trip would double its latency). Every other job goes to the
        workers, exact ones in one batch per worker: an exact solve takes the interpreter lock
        for a millisecond or more, and a stream of them in the serving process kept the thread
        that takes in new calls waiting for that lock, so under a flood of calls gRPC's queue in
        front of it grew until deadlines passed. Jobs still waiting for a worker when
        ``deadline`` passes fail with :class:`DeadlineExceeded`; the others keep their answers.
        """
        if self._workers == 0:
            return [_attempt(self.registry, job, deadline) for job in jobs]
        with self._count_lock:
            idle = self._solving == 0
            self._solving += 1
        try:
            return self._plan_in_workers(jobs, deadline, here=idle and len(jobs) == 1)
        finally:
            with self._count_lock:
                self._solving -= 1

    def _plan_in_workers(
        self, jobs: list[RouteJob], deadline: float | None, *, here: bool
    ) -> list[RouteResult | Exception]:
        """:meth:`plan_many` with workers; ``here``: an exact job may run in this thread."""
        outcomes: list[RouteResult | Exception | None] = [None] * len(jobs)
        exact: list[int] = []
        # Each task: the positions of its jobs, and the pool and future of their solve.
        tasks: list[tuple[list[int], tuple[ProcessPoolExecutor, Future[list[_Outcome]]]]] = []
        for i, job in enumerate(jobs):
            try:
                fast = self._fast(job)
                if not fast:
                    self.validate(job)
            except (InvalidInput, NotFound) as exc:
                outcomes[i] = exc
                continue
            if fast:
                exact.append(i)
            else:
                tasks.append(([i], self._submit(_solve_in_worker, [job], deadline)))
        if here and exact:
            outcomes[exact[0]] = _attempt(self.registry, jobs[exact[0]], deadline)
        else:
            for chunk in (exact[k :: self._workers] for k in range(self._workers)):
                if chunk:
                    batch = [jobs[i] for i in chunk]
                    tasks.append((chunk, self._submit(_solve_in_worker, batch, deadline)))
        for positions, (pool, future) in tasks:
            try:
                results = self._result(pool, future, deadline)
            except (DeadlineExceeded, SolverUnavailable) as exc:
                for i in positions:
                    outcomes[i] = exc
                continue
            for i, result in zip(positions, results, strict=True):
                outcomes[i] = result.rebuild() if isinstance(result, _Failure) else result
        done = [o for o in outcomes if o is not None]
        assert len(done) == len(jobs), "every job has an outcome"
        return done

    def run(
        self,
        fn: Callable[..., T],
        warehouse_id: str | None,
        *args: object,
        deadline: float | None = None,
    ) -> T:
        """``fn(oracle, *args)`` on the warehouse's oracle (``fn(*args)`` when
        ``warehouse_id`` is None: work that needs no layout), in a worker process when there
        are workers (``fn`` and its arguments must pickle), else in this thread.

        Raises
        ------
        InvalidInput, NotFound
            From ``fn``, as raised.
        DeadlineExceeded
            The worker did not answer before ``deadline`` (``time.monotonic()`` seconds).
        SolverUnavailable
            The worker died during the call (the pool is replaced for the next calls), or the
            planner is closed.
        """
        if self._workers == 0:
            if warehouse_id is None:
                return fn(*args)
            return fn(self.registry.oracle(warehouse_id), *args)
        result = self._result(*self._submit(_run_in_worker, fn, warehouse_id, args), deadline)
        if isinstance(result, _Failure):
            raise result.rebuild()
        return result  # type: ignore[return-value]

    def _fast(self, job: RouteJob) -> bool:
        """Whether ``job`` goes to an exact solver (shipping it to a worker would cost more)."""
        return _exact(self.registry.oracle(job.warehouse_id), job)

    def close(self) -> None:
        """Stop the worker processes at once, solves still running included.

        The server closes the planner once every call has answered or been cancelled at the end
        of the grace period: a solve still running then has nobody waiting for it, and waiting
        for it would stretch a shutdown by up to that solve's whole time limit.
        """
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=5.0)
            if process.is_alive():
                process.kill()
                process.join()


# -- solving, in this process or a worker ----------------------------------------------------


#: Rectangular layouts up to this many cross aisles are solved inline: the exact DP answers in
#: milliseconds there, while its state space, and time, grows steeply with every further cross
#: aisle (see benchmarks/results/routing.md).
_INLINE_CROSS_AISLES = 4


def _exact(oracle: DistanceOracle, job: RouteJob) -> bool:
    """Whether ``job`` goes to an exact solver that answers in milliseconds."""
    if oracle.rectangular is not None:
        return oracle.rectangular.ladder.n_cross_aisles <= _INLINE_CROSS_AISLES
    return len(set(job.pick_list.bin_ids)) <= tsp.HELD_KARP_MAX_NODES


def _solve(registry: LayoutRegistry, job: RouteJob, deadline: float | None) -> RouteResult:
    """Solve ``job``; the search gets ``min(time limit, time to deadline - reserve)``.

    An exact solve starts whenever there is time left; a heuristic search needs at least twice
    the fixed reserve, because its construction and lower bound take that long whatever its
    limit, and would otherwise end past the deadline.
    """
    oracle = registry.oracle(job.warehouse_id)
    limit = job.time_limit_s
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0 or (left < 2 * _FINISH_S and not _exact(oracle, job)):
            raise DeadlineExceeded("the deadline leaves no time to solve")
        # The search stops at its limit; the lower bound, the path and the way back come after.
        reserve = max(_FINISH_S, _FINISH_SHARE * left)
        limit = min(limit, left - reserve if left > 2 * reserve else left / 2)
    return route.solve(
        oracle,
        job.pick_list,
        time_limit_s=limit,
        seed=job.seed,
        baseline=job.baseline,
        with_path=job.with_path,
    )


def _attempt(
    registry: LayoutRegistry, job: RouteJob, deadline: float | None
) -> RouteResult | Exception:
    try:
        return _solve(registry, job, deadline)
    except (InvalidInput, NotFound, DeadlineExceeded) as exc:
        return exc


#: Time kept after the search for the rest of a solve (lower bound, path, result transfer):
#: the larger of a fixed amount and a share of the time left. The lower bound of a 60-pick
#: list alone takes about 15 ms on one idle core.
_FINISH_S = 0.05
_FINISH_SHARE = 0.1

_worker_registry: LayoutRegistry | None = None


@dataclass(frozen=True)
class _Failure:
    """A domain error in picklable form (the exceptions' constructors take structured data)."""

    violations: tuple[FieldViolation, ...] = ()
    not_found: tuple[str, str, str] | None = None
    deadline: bool = False

    def rebuild(self) -> Exception:
        if self.deadline:
            return DeadlineExceeded("the deadline leaves no time to solve")
        if self.not_found is not None:
            return NotFound(*self.not_found)
        return InvalidInput(list(self.violations))


#: What a worker returns for one route job.
_Outcome = RouteResult | _Failure


def _init_worker(database: str) -> None:
    global _worker_registry
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_registry = LayoutRegistry(LayoutStore.open(database))


def _warm(warehouse_ids: list[str], hold_s: float) -> int:
    assert _worker_registry is not None
    for warehouse_id in warehouse_ids:
        _worker_registry.oracle(warehouse_id)
    time.sleep(hold_s)  # keep this worker busy so the next warm-up task starts another one
    return os.getpid()


def _run_in_worker(
    fn: Callable[..., object], warehouse_id: str | None, args: tuple[object, ...]
) -> object:
    assert _worker_registry is not None
    try:
        if warehouse_id is None:
            return fn(*args)
        return fn(_worker_registry.oracle(warehouse_id), *args)
    except InvalidInput as exc:
        return _Failure(violations=exc.violations)
    except NotFound as exc:
        return _Failure(not_found=(exc.kind, exc.name, exc.field))


def _solve_in_worker(jobs: list[RouteJob], deadline: float | None) -> list[_Outcome]:
    """Solve ``jobs`` in order in this worker; failures are returned per job."""
    assert _worker_registry is not None
    out: list[_Outcome] = []
    for job in jobs:
        try:
            out.append(_solve(_worker_registry, job, deadline))
        except InvalidInput as exc:
            out.append(_Failure(violations=exc.violations))
        except NotFound as exc:
            out.append(_Failure(not_found=(exc.kind, exc.name, exc.field)))
        except DeadlineExceeded:
            out.append(_Failure(deadline=True))
    return out
