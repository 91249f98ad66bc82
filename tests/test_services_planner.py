"""The route planner's worker pool, without gRPC: parity with in-thread solves and recovery."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from routing.route import PickList, RouteResult
from services import planner as planner_module
from services.errors import DeadlineExceeded
from services.layouts import LayoutRegistry
from services.planner import RouteJob, RoutePlanner
from services.store import LayoutStore
from tests.conftest import grid_layout

GRID_BINS = [f"a{a}-{k}" for a in range(8) for k in range(10)]


@pytest.fixture
def registry(tmp_path: Path) -> LayoutRegistry:
    """A registry with the 80-bin grid layout ``grid``."""
    registry = LayoutRegistry(LayoutStore.open(tmp_path / "w.db"))
    registry.put(grid_layout("grid"))
    return registry


@pytest.fixture
def pooled(registry: LayoutRegistry) -> Iterator[RoutePlanner]:
    """A planner with one warm worker process."""
    planner = RoutePlanner(registry, workers=1)
    planner.warm_up(["grid"])
    yield planner
    planner.close()


def _job(n: int, time_limit_s: float = 0.05) -> RouteJob:
    return RouteJob("grid", PickList(tuple(GRID_BINS[:n])), time_limit_s=time_limit_s)


def test_short_lists_give_the_same_route_in_either_mode(registry: LayoutRegistry) -> None:
    """A short list is solved exactly in the calling thread, whether or not there is a pool."""
    inline = RoutePlanner(registry).plan(_job(10))
    with_pool = RoutePlanner(registry, workers=1)
    try:
        pooled = with_pool.plan(_job(10))
    finally:
        with_pool.close()
    assert (pooled.stops, pooled.distance_mm, pooled.solver) == (
        inline.stops,
        inline.distance_mm,
        inline.solver,
    )


def test_crashed_worker_is_replaced(pooled: RoutePlanner) -> None:
    """After a worker dies, at most one call fails and the next ones are served again."""
    for child in multiprocessing.active_children():
        os.kill(child.pid or 0, signal.SIGKILL)
    time.sleep(0.2)
    outcomes = [pooled.plan_many([_job(30)])[0] for _ in range(3)]
    assert isinstance(outcomes[-1], RouteResult) and isinstance(outcomes[-2], RouteResult)


def test_expired_deadline_fails_before_solving(registry: LayoutRegistry) -> None:
    """A deadline already past is DeadlineExceeded, without running the solver."""
    outcome = RoutePlanner(registry).plan_many([_job(30)], deadline=time.monotonic() - 1)[0]
    assert isinstance(outcome, DeadlineExceeded)


def test_exact_jobs_run_here_only_alone_on_an_idle_planner(
    pooled: RoutePlanner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lone exact job on an idle planner is solved in the calling thread; a batch of them,
    or one arriving while another solve is in progress, goes to the workers, for the same
    routes (exact solves would otherwise hold the serving process's interpreter lock)."""
    jobs = [_job(n) for n in (5, 8, 10)]
    expected = [RoutePlanner(pooled.registry).plan(job) for job in jobs]
    here: list[RouteJob] = []
    attempt = planner_module._attempt
    release = threading.Event()
    release.set()

    def counted(registry: LayoutRegistry, job: RouteJob, deadline: float | None) -> object:
        here.append(job)
        release.wait(timeout=30)
        return attempt(registry, job, deadline)

    monkeypatch.setattr(planner_module, "_attempt", counted)

    def same(results: list[RouteResult | Exception], reference: list[RouteResult]) -> bool:
        return [(r.stops, r.distance_mm) for r in results if isinstance(r, RouteResult)] == [
            (r.stops, r.distance_mm) for r in reference
        ]

    assert same(pooled.plan_many(jobs), expected)
    assert here == []
    assert same([pooled.plan(jobs[0])], expected[:1])
    assert here == [jobs[0]]
    # While that lone job is held in this process, another arrives: it goes to the worker.
    release.clear()
    first = threading.Thread(target=pooled.plan, args=(jobs[0],))
    first.start()
    try:
        waited = time.monotonic() + 10
        while len(here) < 2 and time.monotonic() < waited:
            time.sleep(0.01)
        assert same([pooled.plan(jobs[1])], expected[1:2])
    finally:
        release.set()
        first.join()
    assert here == [jobs[0], jobs[0]]
