"""Plan a wave: which bin serves each order line, which orders share a cart, each cart's route.

:func:`plan` is the entry point. It works in four steps:

1. **Stock**: lines are served in order of priority, pick-by time and position; a line whose
   SKU has too few units in all is reported (``OUT_OF_STOCK``, or ``UNKNOWN_SKU`` when no bin
   holds it at all), and an order whose remaining lines fit no cart is reported whole
   (``LARGER_THAN_CART``), unless orders may span carts: then it is dealt into parts that
   each fit a cart (:func:`_split`), which are batched like orders. Each served line first
   takes units from the bins nearest the depot, splitting over bins when one holds too few.
2. **Batching**: :class:`picking.batching.Batcher` (savings, then iterated local search, every
   batch priced by its shortest route). Where prices are exact, no order has a pick-by time
   and carts hold at most about four orders, the search's plan then goes to set partitioning
   (:mod:`picking.partition`: column generation and a MIP), and the search resumes from its
   result if time is left. On a one-block layout with a second process allowed
   (``processes``), a forked process meanwhile plans the wave by column generation with exact
   pricing, price-and-dives and local search (:func:`picking.columns.search`; on carts of more
   than seven orders in waves of more than 60 orders, by local search with another seed), and
   the shorter of the two plans goes on: on the 100-order benchmark waves of 5-8 orders a cart
   the local search alone stops 3-5 % above the LP bound, the two processes' median plan (of
   twelve) 0.3-0.8 % above the bound with subset-row cuts on Henn-Waescher's at 60 and 75
   items and 1.0-2.9 % on Muter-Oencan's at 36 and 48 (where no plan known comes within 1.6 %
   of the bound at 48), and 0.1-1.3 % above the best plan known of each wave; on 40-order
   waves, whose bound branch and price raises, 31 of 35 plans provably within 1 % of the
   optimum (``benchmarks/results/classes_40.md``). With smaller carts it evens out set
   partitioning's runs: on Muter-Oencan's wave at 24 items 2,690-2,700 m in nine runs, where
   set partitioning alone ended 2,689-2,767 m. Elsewhere (more blocks, graph layouts, pick-by
   times, carts limited otherwise than in units) the forked process plans the whole wave
   again, bins and routes included, with another seed (:class:`_Twin`), and the better plan is
   returned: a median 0.30 % shorter on an irregular graph layout and 0.19 % with pick-by
   times on one block; on two blocks, whose carts are priced many at once so that the search
   converges in the time, a median 0.00 % (up to 1.0 %) (``benchmarks/results/twin.md``).
3. **Bin selection**: with the batches known, every line of a SKU held in several bins tries each
   other bin with enough units left in the wave, and keeps the one that shortens its batch's
   route most, so a line is picked from the bin closest to the rest of its cart; batching then
   continues from the new bins, and the two alternate until the time is up.
4. **Routes**: every batch's route is solved in full by :func:`routing.route.solve` (exact on
   rectangular layouts), and reported with its picks in walking order.

Beside the plan, the same served lines are planned the way many WMSs do it today: orders (a
split order's parts in turn) first-come-first-served onto carts in request order, each line
from the first bin (by id) that holds enough, every cart walked with the S-shape policy
(rectangular layouts) or in pick list order (graph layouts).
"""

from __future__ import annotations

import ctypes
import enum
import multiprocessing
import os
import signal
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import SynchronizedArray
from typing import TypeVar

import numpy as np

from picking import columns
from picking.batching import Batcher, BatchPlan, Item
from picking.model import (
    Cart,
    Load,
    Order,
    OrderLine,
    ToteContents,
    Wave,
    fits,
    order_fits,
    order_load,
    pack_totes,
    validate,
)
from picking.partition import Partitioner
from picking.pricing import RouteCoster
from routing import route
from routing.oracle import DistanceOracle
from routing.route import Baseline, PickList, RouteResult, RouteStatus
from routing.sweep import handles

#: Share of the search time spent batching before the first bin re-selection.
FIRST_ROUND_SHARE = 0.6
#: The same where the rest goes to set partitioning (:mod:`picking.partition`).
PARTITION_FIRST_SHARE = 0.4
#: Orders up to which a wave is batched by set partitioning after the first round of search,
#: where prices are exact and no order has a pick-by time (pricing tries every order).
PARTITION_MAX_ORDERS = 400
#: ... and whose carts hold at most this many orders on average (orders over the fewest carts
#: their load needs). Measured on the 100-order waves of ``benchmarks.picking_bench`` (10 s,
#: two seeds, against the search alone): 1.2 % shorter at 2 orders a cart, 3.2 % at 3, 3.6 %
#: at 4 (Muter-Oencan, 24 items); beyond (Henn-Waescher at 60 and 75 items, Muter-Oencan at 36
#: and 48) 0.8-1.4 % longer, as larger carts take longer to price and the search alone gets
#: less time.
PARTITION_MAX_ORDERS_PER_CART = 4.0
#: Orders a cart holds on average (orders over the fewest carts their load needs) above which
#: the forked process runs the local search with another seed rather than the column search,
#: whose LP is then very fractional and whose pricing slow. Measured with two processes on the
#: 100-order benchmark waves (10 s, six seeds, median): at Muter-Oencan's 48 items (7.7
#: orders a cart) 1,591.7 m against 1,602.6 m with the column search; at 36 items (5.9 a
#: cart) the column search's 1,995.9 m against 2,036.3 m, at Henn-Waescher's 75 items (4.8)
#: 10,678 m against 10,929 m. Again once orders weighed more carts in local search
#: (:data:`picking.batching.CANDIDATE_BATCHES`): 1,584.7 m against 1,591.0 m at 48 items, and
#: the column search's 1,981.8 m against 2,018.7 m at 36.
COLUMN_SEARCH_MAX_ORDERS_PER_CART = 7.0
#: ... except on waves of at most this many orders, whose LP is small enough whatever the
#: carts hold. Measured on fresh Muter-Oencan waves at 48 items (10 s, two processes, the
#: column search against the local search): on 40 orders 5 shorter and 5 equal of 10 runs
#: (five waves, two seeds; up to 1.1 % shorter), on 60 orders 4 of 5 shorter (median 0.31 %),
#: on 100 orders 3 of 5 longer (median 0.30 %).
COLUMN_SEARCH_ANY_CART_MAX_ORDERS = 60
#: Share of the time limit the second process (column search or twin) stops before the plan's
#: own deadline, so that its plan is back in time (its last steps overrun by milliseconds).
COLUMN_SEARCH_MARGIN_SHARE = 0.02
#: Longest wait past the time limit for the twin's plan (:class:`_Twin`; it is due
#: ``COLUMN_SEARCH_MARGIN_SHARE`` of the limit before it).
_TWIN_WAIT_S = 0.05
#: prctl option: the signal a process gets when its parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1
#: Longest wait for the column search's process to finish writing a plan (writing takes
#: microseconds).
_HELPER_LOCK_WAIT_S = 0.05
#: Whether a split order's lines are dealt into parts in walking order of their bins (aisle by
#: aisle) rather than as the order lists them (see :func:`_split`). Measured on 60-order waves
#: with 11-12 orders larger than a cart (``benchmarks/results/split.md``, 5 s, four waves
#: each): parts as listed walked a median 30 % more on Henn-Waescher's block and 20 % more on
#: two blocks, with as many carts.
SPLIT_IN_WALKING_ORDER = True
#: Share of the time limit kept for the last bin re-selection, after batching ends.
RESELECT_SHARE = 0.05
#: Share of the time limit kept for solving the final routes (exact ones take milliseconds;
#: on layouts where they take longer, each gets its share and falls back to its best route).
FINISH_SHARE = 0.15
#: The same where batches are priced exactly (rectangular layouts, up to four cross aisles):
#: there every final route is exact in milliseconds (with four, the 36 routes of a 100-order
#: wave took 0.12 s in all), and the rest of the time goes to batching.
EXACT_FINISH_SHARE = 0.03


class Unserved(enum.Enum):
    """Why an order line is not in the plan."""

    UNKNOWN_SKU = "unknown_sku"
    OUT_OF_STOCK = "out_of_stock"
    LARGER_THAN_CART = "larger_than_cart"


@dataclass(frozen=True)
class UnservedLine:
    """An order line left out, with the reason and a message naming it."""

    order_id: str
    line_index: int
    sku: str
    quantity: int
    reason: Unserved
    message: str


@dataclass(frozen=True)
class PickLine:
    """Units of one order line taken from one bin, into one tote (0 without totes)."""

    order_id: str
    line_index: int
    sku: str
    bin_id: str
    quantity: int
    tote: int = 0


@dataclass(frozen=True)
class Batch:
    """One cart: its orders, their totes, the picks in walking order and the route."""

    order_ids: tuple[str, ...]
    totes: Mapping[str, tuple[int, ...]]
    picks: tuple[PickLine, ...]
    route: RouteResult

    @property
    def distance_mm(self) -> int:
        """Length of the cart's route."""
        return self.route.distance_mm


@dataclass(frozen=True)
class WavePlan:
    """The plan of a wave, its baseline and the evidence for both."""

    batches: tuple[Batch, ...]
    unserved: tuple[UnservedLine, ...]
    distance_mm: int
    baseline_distance_mm: int
    baseline_batches: int
    lateness_penalty_mm: int
    status: RouteStatus
    solve_time_s: float
    iterations: int


@dataclass
class _Line:
    """A served order line, or the share of it in one part of a split order (``part``), and
    where its units come from (bin location -> units)."""

    order: int
    index: int
    sku: str
    quantity: int
    bins: dict[int, int]
    part: int = 0


#: What the batcher batches: an order (index in the wave) and its part (0 unless split).
_Part = tuple[int, int]


#: A bin: a location (the plan) or a bin id (the baseline).
K = TypeVar("K", int, str)


def _draw(left: dict[K, int], quantity: int, preference: Iterable[K]) -> dict[K, int]:
    """Take ``quantity`` units out of ``left`` (bin -> units), from the bins in ``preference``
    order; the units taken per bin. All of them must be there."""
    out: dict[K, int] = {}
    for key in preference:
        have = left.get(key, 0)
        if have <= 0:
            continue
        take = min(have, quantity)
        out[key] = take
        left[key] = have - take
        quantity -= take
        if quantity == 0:
            return out
    raise AssertionError("more units drawn than are left")


class _Stock:
    """Units left per SKU and bin location while the wave takes them."""

    def __init__(self, oracle: DistanceOracle, stock: Mapping[str, Mapping[str, int]]) -> None:
        self.left: dict[str, dict[int, int]] = {}
        for sku, bins in stock.items():
            # A SKU with no unit left is known (out of stock), not unknown.
            self.left[sku] = {
                oracle.bin_location(bin_id, f"stock[{sku!r}]"): int(units)
                for bin_id, units in bins.items()
                if units > 0
            }

    def total(self, sku: str) -> int:
        return sum(self.left.get(sku, {}).values())

    def take(self, sku: str, quantity: int, preference: list[int]) -> dict[int, int]:
        """Take ``quantity`` units from bins in ``preference`` order (all must be there)."""
        return _draw(self.left[sku], quantity, preference)

    def give_back(self, sku: str, bins: Mapping[int, int]) -> None:
        left = self.left[sku]
        for loc, units in bins.items():
            left[loc] = left.get(loc, 0) + units


def plan(
    oracle: DistanceOracle,
    wave: Wave,
    *,
    time_limit_s: float = 5.0,
    seed: int = 0,
    max_iterations: int | None = None,
    with_path: bool = False,
    processes: int = 1,
) -> WavePlan:
    """Plan ``wave`` on ``oracle``'s layout within ``time_limit_s``; see the module docstring.

    With ``processes`` >= 2, waves not under an iteration cap are also planned in a second
    process: by column generation (:func:`picking.columns.search`) where the layout and cart
    allow it (:func:`_columns_apply`), the shorter batching going on; elsewhere the whole plan
    again with another seed (:class:`_Twin`), the better plan kept.

    Raises
    ------
    InvalidInput
        A malformed wave (:func:`picking.model.validate`).
    NotFound
        An unknown depot, or a stock bin the layout does not have.
    """
    started = time.perf_counter()
    final_deadline = time.monotonic() + time_limit_s
    validate(wave)
    start = oracle.depot_location(wave.start_depot or oracle.depot_ids[0], "start_depot")
    end = oracle.depot_location(wave.end_depot, "end_depot") if wave.end_depot else start
    coster = RouteCoster(oracle, start, end)
    columns_apply = _columns_apply(oracle, wave, coster)
    twin = None
    if processes > 1 and max_iterations is None and len(wave.orders) > 1 and not columns_apply:
        twin_deadline = final_deadline - COLUMN_SEARCH_MARGIN_SHARE * time_limit_s
        twin = _Twin.start(oracle, wave, seed + 2, with_path, twin_deadline)
    other = None
    try:
        mine = _plan(
            oracle,
            wave,
            coster,
            time_limit_s,
            final_deadline,
            seed,
            max_iterations,
            with_path,
            processes > 1 and columns_apply,
        )
        if twin is not None:
            other = twin.result(max(final_deadline, time.monotonic() + _TWIN_WAIT_S))
    finally:
        if twin is not None:  # stopped, whatever happened here
            twin.stop()
    best = mine
    if other is not None and (
        other.distance_mm + other.lateness_penalty_mm < mine.distance_mm + mine.lateness_penalty_mm
    ):
        best = other
    return replace(best, solve_time_s=time.perf_counter() - started)


def _plan(
    oracle: DistanceOracle,
    wave: Wave,
    coster: RouteCoster,
    time_limit_s: float,
    final_deadline: float,
    seed: int,
    max_iterations: int | None,
    with_path: bool,
    by_columns: bool,
) -> WavePlan:
    """:func:`plan` in this process, with the column search in a second one if ``by_columns``
    (and no iteration cap)."""
    started = time.perf_counter()
    start, end = coster.start, coster.end
    stock = _Stock(oracle, wave.stock)
    lines, unserved, planned = _serve(oracle, wave, stock, start)
    baseline_mm, baseline_batches = _baseline(oracle, wave, planned, lines, start, end)
    finish = EXACT_FINISH_SHARE if coster.exact else FINISH_SHARE
    deadline = final_deadline - finish * time_limit_s
    items = _items(oracle, wave, planned, lines)
    batcher = Batcher(items, wave.cart, coster, timing=wave.timing, seed=seed)
    batches: list[list[int]] = []
    iterations = 0
    if items:
        # Batch, choose bins for the batches found, batch again from there, choose again.
        partitioning = (
            coster.exact
            and not batcher.has_due
            and len(items) <= PARTITION_MAX_ORDERS
            and len(items) <= PARTITION_MAX_ORDERS_PER_CART * batcher.fewest_carts
        )
        second_deadline = deadline - RESELECT_SHARE * time_limit_s
        helper = None
        if by_columns and max_iterations is None:
            helper_deadline = second_deadline - COLUMN_SEARCH_MARGIN_SHARE * time_limit_s
            helper = _column_search(oracle, wave, items, coster, seed, helper_deadline)
        try:
            share = PARTITION_FIRST_SHARE if partitioning else FIRST_ROUND_SHARE
            first_deadline = time.monotonic() + share * max(deadline - time.monotonic(), 0)
            result = batcher.solve(deadline=first_deadline, max_iterations=max_iterations)
            batches, iterations = result.batches, result.iterations
            if _reselect_bins(oracle, batches, lines, planned, stock, coster, deadline):
                items = _items(oracle, wave, planned, lines)
                batcher = Batcher(items, wave.cart, coster, timing=wave.timing, seed=seed + 1)
            if partitioning:
                # Column generation stops early when pricing finds no cart; the search goes on
                # from its plan with the time left (always, under an iteration cap, so that runs
                # repeat).
                partitioner = Partitioner(items, wave.cart, coster, batcher.fewest_carts)
                batches = partitioner.solve(batches, second_deadline).batches
            time_left = time.monotonic() < second_deadline - 0.05 * time_limit_s
            if not partitioning or time_left or max_iterations is not None:
                result = batcher.solve(
                    deadline=second_deadline, max_iterations=max_iterations, initial=batches
                )
                batches, iterations = result.batches, iterations + result.iterations
            if helper is not None:
                # Waiting for it may take up to half the time kept for the last bin re-selection.
                latest = (second_deadline + deadline) / 2
                batches = _shorter(batches, helper.result(latest), items, coster)
        finally:
            if helper is not None:  # stopped, whatever happened here
                helper.stop()
        _reselect_bins(oracle, batches, lines, planned, stock, coster, deadline)
    penalty = batcher.penalty_of(batches) if items else 0
    out = _finish(oracle, wave, batches, planned, lines, start, end, with_path, final_deadline)
    distance = sum(b.distance_mm for b in out)
    single_choice = all(len(stock.left.get(x.sku, {})) <= 1 and len(x.bins) == 1 for x in lines)
    proven = (
        len(out) <= 1 and single_choice and all(b.route.status is RouteStatus.OPTIMAL for b in out)
    )
    return WavePlan(
        batches=tuple(out),
        unserved=tuple(unserved),
        distance_mm=distance,
        baseline_distance_mm=baseline_mm,
        baseline_batches=baseline_batches,
        lateness_penalty_mm=penalty,
        status=RouteStatus.OPTIMAL if proven and penalty == 0 else RouteStatus.FEASIBLE,
        solve_time_s=time.perf_counter() - started,
        iterations=iterations,
    )


class _Forked:
    """A search running in a forked process."""

    def __init__(self, process: multiprocessing.process.BaseProcess) -> None:
        self.process = process

    def stop(self) -> None:
        """End the process (killed if still running); idempotent."""
        self.process.join(0.1)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class _Helper(_Forked):
    """A plan computed in a forked process. The process writes every plan better than the
    last into shared memory (the cart of each order), so that the best plan found so far can
    be read when the process is late, and exits when its search is done."""

    def __init__(
        self, process: multiprocessing.process.BaseProcess, shared: SynchronizedArray[int]
    ) -> None:
        super().__init__(process)
        self.shared = shared

    def result(self, deadline: float) -> list[list[int]] | None:
        """The helper's best plan, waiting until ``deadline`` at most for its search to end
        (None: it published none); the process is stopped either way."""
        try:
            self.process.join(max(deadline - time.monotonic(), 0.0))
            lock = self.shared.get_lock()
            if not lock.acquire(timeout=_HELPER_LOCK_WAIT_S):  # mid-write: take none
                return None
            try:
                carts = list(self.shared.get_obj())
            finally:
                lock.release()
        finally:
            self.stop()
        if min(carts, default=-1) < 0:
            return None
        batches: dict[int, list[int]] = {}
        for order, cart in enumerate(carts):
            batches.setdefault(cart, []).append(order)
        return [batches[cart] for cart in sorted(batches)]


def _columns_apply(oracle: DistanceOracle, wave: Wave, coster: RouteCoster) -> bool:
    """Whether :func:`picking.columns.search` can plan the wave: exact one-block prices of a
    closed walk (:func:`routing.sweep.handles`), carts limited in units only, no pick-by times,
    and a platform that forks."""
    rect = oracle.rectangular
    return (
        rect is not None
        and coster.exact
        and coster.start == coster.end
        and handles(rect, coster.start - oracle.n_bins)
        and replace(wave.cart, orders_may_span_carts=False)
        == Cart(capacity_units=wave.cart.capacity_units)
        and all(order.pick_by_s is None for order in wave.orders)
        and "fork" in multiprocessing.get_all_start_methods()
    )


class _Twin(_Forked):
    """The whole plan of the wave (bins, batches, routes) with another seed, made in a forked
    process and sent back when done; used where the column search does not apply."""

    def __init__(self, process: multiprocessing.process.BaseProcess, inbox: Connection) -> None:
        super().__init__(process)
        self.inbox = inbox

    @classmethod
    def start(
        cls, oracle: DistanceOracle, wave: Wave, seed: int, with_path: bool, deadline: float
    ) -> _Twin | None:
        """Start planning by ``deadline`` (``time.monotonic()``); None where the platform does
        not fork, the caller may not, or there is no time."""
        time_limit_s = deadline - time.monotonic()
        if time_limit_s <= 0 or "fork" not in multiprocessing.get_all_start_methods():
            return None
        context = multiprocessing.get_context("fork")
        inbox, outbox = context.Pipe(duplex=False)

        parent = os.getpid()

        def run() -> None:
            _die_with(parent)
            outbox.send(
                plan(oracle, wave, time_limit_s=time_limit_s, seed=seed, with_path=with_path)
            )

        process = context.Process(target=run, daemon=True)
        try:
            process.start()
        except (AssertionError, OSError):  # a daemonic caller may not fork, or no memory left
            return None
        outbox.close()  # the child's copy remains: the inbox sees EOF if the child dies
        return cls(process, inbox)

    def result(self, deadline: float) -> WavePlan | None:
        """The twin's plan if it arrives by ``deadline``; None otherwise or if it failed."""
        try:
            if self.inbox.poll(max(deadline - time.monotonic(), 0.0)):
                received = self.inbox.recv()
                return received if isinstance(received, WavePlan) else None
        except (EOFError, OSError):
            pass
        return None

    def stop(self) -> None:
        """End the process (killed if still running) and close the pipe; idempotent."""
        super().stop()
        self.inbox.close()


def _die_with(parent: int) -> None:
    """Have this forked process killed when ``parent`` dies (Linux; elsewhere nothing).

    A forked process holds copies of its parent's file descriptors, among them the one a
    process pool watches to see that a worker died: a second search left running after its
    worker was killed would hide the crash until its own deadline.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _column_search(
    oracle: DistanceOracle,
    wave: Wave,
    items: list[Item],
    coster: RouteCoster,
    seed: int,
    deadline: float,
) -> _Helper | None:
    """Start :func:`picking.columns.search` on the wave in a forked process, where it applies
    (:func:`_columns_apply`); None where it does not. Where carts hold more than
    :data:`COLUMN_SEARCH_MAX_ORDERS_PER_CART` orders on average, on waves of more than
    :data:`COLUMN_SEARCH_ANY_CART_MAX_ORDERS` orders, the process runs the local search with
    another seed instead."""
    rect = oracle.rectangular
    depot = coster.start - oracle.n_bins
    if rect is None or not _columns_apply(oracle, wave, coster):
        return None
    batcher = Batcher(items, wave.cart, coster, seed=seed + 2)
    local_only = (
        len(items) > COLUMN_SEARCH_ANY_CART_MAX_ORDERS
        and len(items) > COLUMN_SEARCH_MAX_ORDERS_PER_CART * batcher.fewest_carts
    )
    context = multiprocessing.get_context("fork")
    shared = context.Array("q", [-1] * len(items))  # the cart of each order; -1: no plan yet

    def publish(plan: BatchPlan) -> None:
        carts = [0] * len(items)
        for cart, orders in enumerate(plan.batches):
            for order in orders:
                carts[order] = cart
        with shared.get_lock():
            shared[:] = carts

    parent = os.getpid()

    def run() -> None:
        _die_with(parent)
        if local_only:
            publish(batcher.solve(deadline=deadline))
        else:
            columns.search(batcher, rect, depot, deadline, publish=publish)

    process = context.Process(target=run, daemon=True)
    try:
        process.start()
    except (AssertionError, OSError):  # a daemonic caller may not fork, or no memory left
        return None
    return _Helper(process, shared)


def _shorter(
    batches: list[list[int]],
    other: list[list[int]] | None,
    items: list[Item],
    coster: RouteCoster,
) -> list[list[int]]:
    """The shorter of two plans of ``items`` (``batches`` on a tie or when ``other`` is None)."""

    def length(plan: list[list[int]]) -> int:
        return sum(coster(frozenset().union(*(items[i].locs for i in b))) for b in plan)

    whole = other is not None and sorted(i for b in other for i in b) == list(range(len(items)))
    if other is None or not whole or length(other) >= length(batches):
        return batches
    return other


def _priority_order(orders: tuple[Order, ...]) -> list[int]:
    return sorted(
        range(len(orders)),
        key=lambda i: (
            -orders[i].priority,
            orders[i].pick_by_s if orders[i].pick_by_s is not None else float("inf"),
            i,
        ),
    )


def _serve(
    oracle: DistanceOracle, wave: Wave, stock: _Stock, start: int
) -> tuple[list[_Line], list[UnservedLine], list[_Part]]:
    """Decide which lines are served and take their units from the bins nearest the depot;
    split the orders that fit no cart where they may span carts (:func:`_split`)."""
    lines: list[_Line] = []
    unserved: list[UnservedLine] = []
    planned: list[_Part] = []
    near: dict[str, list[int]] = {}
    cart = wave.cart
    for o in _priority_order(wave.orders):
        order = wave.orders[o]
        servable: list[tuple[int, OrderLine]] = []
        wanted: dict[str, int] = defaultdict(int)
        for j, line in enumerate(order.lines):
            where = f"orders[{o}].lines[{j}]"
            have = stock.total(line.sku) - wanted[line.sku]
            if line.sku not in stock.left:
                unserved.append(
                    UnservedLine(
                        order.id, j, line.sku, line.quantity, Unserved.UNKNOWN_SKU,
                        f"{where}: no bin holds SKU {line.sku!r}",
                    )
                )  # fmt: skip
            elif have < line.quantity:
                unserved.append(
                    UnservedLine(
                        order.id, j, line.sku, line.quantity, Unserved.OUT_OF_STOCK,
                        f"{where}: {line.quantity} of SKU {line.sku!r} asked, {max(have, 0)} left",
                    )
                )  # fmt: skip
            elif cart.orders_may_span_carts and not _unit_fits(wave, line.sku):
                unserved.append(
                    UnservedLine(
                        order.id, j, line.sku, line.quantity, Unserved.LARGER_THAN_CART,
                        f"{where}: one unit of SKU {line.sku!r} fits no cart",
                    )
                )  # fmt: skip
            else:
                wanted[line.sku] += line.quantity
                servable.append((j, line))
        if not servable:
            continue
        load = order_load(cart, tuple(x for _, x in servable), wave.sizes)
        whole = order_fits(cart, load)
        if not whole and not cart.orders_may_span_carts:
            unserved += [
                UnservedLine(
                    order.id, j, x.sku, x.quantity, Unserved.LARGER_THAN_CART,
                    f"orders[{o}]: {load.units} units in {load.lines} lines fit no cart",
                )
                for j, x in servable
            ]  # fmt: skip
            continue
        taken = []
        for j, x in servable:
            if x.sku not in near:
                locs = list(stock.left[x.sku])
                dist = oracle.matrix([start, *locs])[0, 1:]
                near[x.sku] = [locs[k] for k in np.argsort(dist, kind="stable")]
            taken.append(_Line(o, j, x.sku, x.quantity, stock.take(x.sku, x.quantity, near[x.sku])))
        if not whole:
            taken = _split(oracle, wave, taken)
        lines += taken
        planned += {(o, x.part) for x in taken}
    planned.sort()
    return lines, unserved, planned


def _unit_fits(wave: Wave, sku: str) -> bool:
    """Whether one unit of ``sku`` fits on an empty cart."""
    return order_fits(wave.cart, order_load(wave.cart, (OrderLine(sku, 1),), wave.sizes))


def _split(oracle: DistanceOracle, wave: Wave, lines: list[_Line]) -> list[_Line]:
    """The lines of an order that fits no cart, dealt into parts that each fit one.

    The lines go in walking order of their first bin (aisle by aisle, front to back), each
    part filled before the next is opened, and a line is split by units where the part has
    room for only some of them: the parts are compact on the floor, and as few as the cart's
    limits allow where only units, volume or weight bind. Every unit fits an empty cart
    (:func:`_serve` reported the lines where one does not).
    """
    cart, sizes = wave.cart, wave.sizes
    ordered = (
        sorted(lines, key=lambda x: (oracle.point(next(iter(x.bins))), x.index))
        if SPLIT_IN_WALKING_ORDER
        else lines
    )
    out: list[_Line] = []
    part = 0  # the current part's number
    held: tuple[OrderLine, ...] = ()  # its lines so far
    for line in ordered:
        bins, left = dict(line.bins), line.quantity
        while left:
            # The most of the line's units the part still takes (fitting is monotone in units).
            low, high = 0, left
            while low < high:
                mid = (low + high + 1) // 2
                if order_fits(cart, order_load(cart, (*held, OrderLine(line.sku, mid)), sizes)):
                    low = mid
                else:
                    high = mid - 1
            if low == 0:  # full: open the next part
                assert held, "a unit that fits no cart reached _split"
                part += 1
                held = ()
                continue
            share = _draw(bins, low, list(bins))
            out.append(_Line(line.order, line.index, line.sku, low, share, part))
            held = (*held, OrderLine(line.sku, low))
            left -= low
    return out


def _items(
    oracle: DistanceOracle, wave: Wave, planned: list[_Part], lines: list[_Line]
) -> list[Item]:
    """The batcher's view of every planned order (or part): load, bins, centroid, due time,
    picks."""
    by_part = _by_part(lines)
    items = []
    for key in planned:
        mine = by_part[key]
        order = wave.orders[key[0]]
        load = order_load(wave.cart, tuple(OrderLine(x.sku, x.quantity) for x in mine), wave.sizes)
        locs = frozenset(loc for x in mine for loc in x.bins)
        points = np.array([oracle.point(loc) for loc in sorted(locs)], dtype=float)
        centre = points.mean(axis=0)
        items.append(
            Item(
                load=load,
                locs=locs,
                point=(float(centre[0]), float(centre[1])),
                due_s=order.pick_by_s,
                picks=sum(len(x.bins) for x in mine),
                order=key[0],
            )
        )
    return items


def _by_part(lines: list[_Line]) -> dict[_Part, list[_Line]]:
    """The served lines of every order (or part)."""
    out: dict[_Part, list[_Line]] = defaultdict(list)
    for line in lines:
        out[line.order, line.part].append(line)
    return out


def _reselect_bins(
    oracle: DistanceOracle,
    batches: list[list[int]],
    lines: list[_Line],
    planned: list[_Part],
    stock: _Stock,
    coster: RouteCoster,
    deadline: float,
) -> bool:
    """Move lines to the bins that shorten their batch's route most; whether any moved.

    Where prices are exact and fast (:attr:`RouteCoster.exact`), every bin with enough units is
    priced. Elsewhere a price takes milliseconds, so the bins are ranked by their distance to
    the rest of the cart (and the depot) and only the nearest is priced against the current one.
    Stops at ``deadline``.
    """
    batch_of = {planned[i]: b for b, members in enumerate(batches) for i in members}
    in_batch: dict[int, list[_Line]] = defaultdict(list)
    for line in lines:
        in_batch[batch_of[line.order, line.part]].append(line)
    moved = False
    for members in in_batch.values():
        for line in members:
            if time.monotonic() >= deadline:
                return moved
            options = stock.left.get(line.sku, {})
            if len(line.bins) != 1:
                continue
            (current,) = line.bins
            choices = sorted(
                loc for loc, units in options.items() if loc != current and units >= line.quantity
            )
            if not choices:
                continue
            others = frozenset(loc for x in members if x is not line for loc in x.bins)
            if not coster.exact:
                near = [coster.start, *others]
                to_cart = oracle.matrix([*choices, *near])[: len(choices), len(choices) :]
                choices = [choices[int(np.argmin(to_cart.min(axis=1)))]]
            prices = coster.many([others | {loc} for loc in (current, *choices)])
            best_loc, best_cost = current, prices[0]
            for loc, cost in zip(choices, prices[1:], strict=True):
                if cost < best_cost:
                    best_loc, best_cost = loc, cost
            if best_loc != current:
                stock.give_back(line.sku, line.bins)
                line.bins = stock.take(line.sku, line.quantity, [best_loc])
                moved = True
    return moved


def _finish(
    oracle: DistanceOracle,
    wave: Wave,
    batches: list[list[int]],
    planned: list[_Part],
    lines: list[_Line],
    start: int,
    end: int,
    with_path: bool,
    deadline: float,
) -> list[Batch]:
    """Route every batch in full and list its picks in walking order, with totes.

    Each route gets an equal share of the time left before ``deadline`` (at least 5 ms).
    """
    by_part = _by_part(lines)
    out = []
    for k, members in enumerate(batches):
        mine = [line for i in members for line in by_part[planned[i]]]
        locs = sorted({loc for x in mine for loc in x.bins})
        result = route.solve(
            oracle,
            PickList(
                tuple(oracle.location_id(loc) for loc in locs),
                oracle.location_id(start),
                oracle.location_id(end),
            ),
            time_limit_s=max((deadline - time.monotonic()) / (len(batches) - k), 0.005),
            with_path=with_path,
        )
        totes, into = _totes(wave, [by_part[planned[i]] for i in members])
        rank = {stop.bin_id: k for k, stop in enumerate(result.stops)}
        stops = sorted(
            ((x, oracle.location_id(loc), units) for x in mine for loc, units in x.bins.items()),
            key=lambda s: (rank[s[1]], wave.orders[s[0].order].id, s[0].index),
        )
        picks = []
        for x, bin_id, units in stops:
            order_id = wave.orders[x.order].id
            for tote, n in _take(into.get((x.order, x.part, x.index)), units):
                picks.append(PickLine(order_id, x.index, x.sku, bin_id, n, tote))
        out.append(Batch(tuple(totes), totes, tuple(picks), result))
    return out


def _totes(
    wave: Wave, parts: list[list[_Line]]
) -> tuple[dict[str, tuple[int, ...]], dict[tuple[int, int, int], list[list[int]]]]:
    """The totes of every order on one cart, numbered in the order its parts are listed (two
    parts of one order keep the totes each was packed into), and for each line, keyed by
    order, part and line index, the [tote, units] it fills, from :func:`pack_totes`. Without
    totes, every order has none and no line is keyed."""
    totes: dict[str, tuple[int, ...]] = {}
    into: dict[tuple[int, int, int], list[list[int]]] = {}
    first = 0
    for part in parts:
        packed: list[ToteContents] | None = []
        if wave.cart.totes:
            lines = tuple(OrderLine(x.sku, x.quantity) for x in part)
            packed = pack_totes(wave.cart, lines, wave.sizes)
        assert packed is not None, "the batcher only plans parts that fit in a cart's totes"
        for t, contents in enumerate(packed):
            for k, units in contents:
                x = part[k]
                into.setdefault((x.order, x.part, x.index), []).append([first + t, units])
        order_id = wave.orders[part[0].order].id
        totes[order_id] = totes.get(order_id, ()) + tuple(range(first, first + len(packed)))
        first += len(packed)
    return totes, into


def _take(chunks: list[list[int]] | None, units: int) -> Iterator[tuple[int, int]]:
    """(tote, units) for ``units`` of a line taken from one bin: from the front of the line's
    remaining [tote, units] ``chunks`` (consumed), or all into tote 0 without totes."""
    if chunks is None:
        yield 0, units
        return
    while units > 0:
        n = min(chunks[0][1], units)
        yield chunks[0][0], n
        chunks[0][1] -= n
        if chunks[0][1] == 0:
            chunks.pop(0)
        units -= n


def _baseline(
    oracle: DistanceOracle,
    wave: Wave,
    planned: list[_Part],
    lines: list[_Line],
    start: int,
    end: int,
) -> tuple[int, int]:
    """First-come-first-served carts of the served lines, first bin by id, S-shape (or pick
    list order) walks."""
    left = {
        sku: dict(sorted((b, u) for b, u in bins.items() if u > 0))
        for sku, bins in wave.stock.items()
    }
    by_part = _by_part(lines)
    carts: list[list[str]] = []
    load = Load()
    for key in planned:
        bins: list[str] = []
        taken = tuple(OrderLine(x.sku, x.quantity) for x in by_part[key])
        for line in taken:
            held = left[line.sku]
            bins += _draw(held, line.quantity, list(held))
        mine = order_load(wave.cart, taken, wave.sizes)
        if not carts or not fits(wave.cart, load + mine):
            carts.append([])
            load = Load()
        carts[-1] += bins
        load = load + mine
    total = 0
    baseline = Baseline.S_SHAPE if oracle.rectangular is not None else Baseline.AS_GIVEN
    for bins in carts:
        if not bins:
            continue
        total += route.baseline_distance(
            oracle,
            PickList(tuple(bins), oracle.location_id(start), oracle.location_id(end)),
            baseline=baseline,
        )
    return total, len(carts)
