"""The price of a batch: the length of the shortest route through its bins, remembered.

Batching and bin selection ask for the same bin sets again and again (a move tried, undone, tried
from the other side), so every answer is cached by the set of bin locations. On rectangular
layouts with up to four cross aisles the price is exact: in one block Ratliff and Rosenthal's DP
(:mod:`routing.single_block`, 0.02-0.07 ms a batch), in two and three the column DP of
:mod:`routing.ladder` run on many batches at once (:mod:`routing.many_routes`): batching asks
for the batches an order's moves may need together (:meth:`KeyedPrices.prefetch`). On two
blocks that takes about 0.05 ms a batch in requests of 32 and 0.17 ms for one alone, against
1.1 ms for :func:`routing.ladder.route_length`; on three 0.37-0.45 ms, where a route search
took 0.53 ms and came out 2.0 % long (``benchmarks/results/bulk.md``); both get the search
settings of fast prices. With more cross aisles the DP takes 70-400 ms
for 10-30 picks (5 cross aisles, 100 aisles), far too slow to price thousands of candidate
batches, so there, as on graph layouts, the price is Held-Karp for short lists and a short local
search beyond (one kick). On rectangular layouts that search follows one trajectory, from the
nearest-neighbour route: on the 100,000-bin warehouse it takes 0.7-1.7 ms for 15-45 bins and
comes out 1.1-2.0 % above a long search on average, where four trajectories come within
0.3-0.9 % but take 1.3-1.7x as long (``benchmarks/results/pricing.md``); 1,000-order waves
planned in 50 s with four walked 2-6 % further (mean 4.6 %, five paired runs on three waves):
the search there is far from done, and pricing more candidates matters more than pricing each
closely. Graph layouts keep the four of
:func:`routing.tsp.improve` (see :data:`RECTANGULAR_SEARCH_TRAJECTORIES`). A batch's final
route is solved again in full by :func:`routing.route.solve`.

Batching itself keys batches by integers (:meth:`RouteCoster.keyed`, :class:`KeyedPrices`): a
batch's key is the OR of its orders', so a move or swap tried is a few integer operations
instead of new sets of locations to build and hash. On one block the key is the batch's picks
as bits per aisle and depth, priced straight from the bits
(:meth:`routing.single_block.SingleBlockPricer.mask_length`) and shared by batches that differ
only in bins facing each other; elsewhere it is a bit per bin, priced from its bins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from routing import tsp
from routing.ladder import route_length
from routing.many_routes import MAX_CROSS_AISLES as MANY_MAX_CROSS_AISLES
from routing.many_routes import ManyRoutes
from routing.oracle import DistanceOracle
from routing.single_block import SingleBlockPricer

#: Cross aisles up to which rectangular layouts are priced by the exact column DP one batch at
#: a time (with :data:`MANY_ROUTES`, up to :data:`routing.many_routes.MAX_CROSS_AISLES`).
EXACT_LADDER_MAX_CROSS_AISLES = 3
#: Whether two- and three-block layouts price batches with
#: :class:`routing.many_routes.ManyRoutes`, many at a time where batching asks for them
#: together (:meth:`KeyedPrices.prefetch`), instead of :func:`routing.ladder.route_length` one
#: by one (two blocks) or a route search (three). Measured by ``benchmarks.bulk_bench``.
MANY_ROUTES = True
#: Bins up to which the other prices are exact (Held-Karp).
EXACT_GRAPH_BINS = 11
#: Local-search rounds spent on a graph-layout price beyond that.
GRAPH_SEARCH_ITERATIONS = 1
#: Search trajectories of such a price on rectangular layouts: the nearest-neighbour route's
#: only. Graph layouts keep :func:`routing.tsp.improve`'s several: one-way aisles leave deep
#: local optima (on 100-order waves in the irregular benchmark hall, plans with a single
#: trajectory ranged from 0.6 % shorter to 2.8 % longer).
RECTANGULAR_SEARCH_TRAJECTORIES = 1


class KeyedPrices:
    """Prices of batches keyed by integers, for a search that combines batches all the time.

    A batch's key is the OR of its orders' keys (:meth:`key`), so joining and splitting
    batches is integer arithmetic, and a key is hashed in a fraction of the time of a set of
    locations. Here every location gets a bit the first time it is seen, and a key is priced
    once, by ``cost`` on its locations; :meth:`RouteCoster.keyed` has a closer keying on one
    block.
    """

    def __init__(
        self,
        cost: Callable[[frozenset[int]], int],
        many: Callable[[list[frozenset[int]]], list[int]] | None = None,
    ) -> None:
        self._cost, self._many = cost, many
        self._bit: dict[int, int] = {}
        self._locations: list[int] = []
        self._cache: dict[int, int] = {}
        #: Whether :meth:`prefetch` prices keys together (faster than one by one).
        self.bulk = many is not None

    def key(self, locs: Iterable[int]) -> int:
        """The key of a batch through ``locs``."""
        key = 0
        for x in locs:
            bit = self._bit.get(x)
            if bit is None:
                bit = self._bit[x] = len(self._locations)
                self._locations.append(x)
            key |= 1 << bit
        return key

    def __call__(self, key: int) -> int:
        """The price of the batch of ``key``."""
        cost = self._cache.get(key)
        if cost is None:
            cost = self._cache[key] = self._price(key)
        return cost

    def prefetch(self, keys: Iterable[int]) -> None:
        """Price every key of ``keys`` not priced yet, all together, where prices come in
        bulk (:attr:`bulk`); otherwise leave them to be priced when asked for."""
        if self._many is None:
            return
        cache = self._cache
        missing = list({key for key in keys if key not in cache})
        if missing:
            costs = self._many([self._locations_of(key) for key in missing])
            cache.update(zip(missing, costs, strict=True))

    def _price(self, key: int) -> int:
        return self._cost(self._locations_of(key))

    def _locations_of(self, key: int) -> frozenset[int]:
        locations = []
        while key:
            low = key & -key
            locations.append(self._locations[low.bit_length() - 1])
            key ^= low
        return frozenset(locations)


class _MaskPrices(KeyedPrices):
    """:class:`KeyedPrices` on one block: a key is the batch's picks per aisle and depth
    (:meth:`routing.single_block.SingleBlockPricer.mask`), priced from its bits; bins facing
    each other share a bit, and so do the batches that differ only in them."""

    def __init__(self, coster: RouteCoster, pricer: SingleBlockPricer) -> None:
        super().__init__(coster)
        self._coster, self._pricer = coster, pricer

    def key(self, locs: Iterable[int]) -> int:
        return self._pricer.mask(locs)

    def _price(self, key: int) -> int:
        self._coster.evaluations += 1
        return self._pricer.mask_length(key)


class RouteCoster:
    """Shortest-route length in mm from ``start`` through a set of bin locations to ``end``."""

    def __init__(self, oracle: DistanceOracle, start: int, end: int) -> None:
        self.oracle, self.start, self.end = oracle, start, end
        rect = oracle.rectangular
        cross = rect.ladder.n_cross_aisles if rect is not None else 0
        exact = cross <= EXACT_LADDER_MAX_CROSS_AISLES or (
            MANY_ROUTES and cross <= MANY_MAX_CROSS_AISLES
        )
        self.rect = rect if exact else None
        self._trajectories = RECTANGULAR_SEARCH_TRAJECTORIES if rect is not None else None
        #: Whether prices are exact (the column DP).
        self.exact = self.rect is not None
        self._cache: dict[frozenset[int], int] = {frozenset(): int(oracle.distance(start, end))}
        self.evaluations = 0
        self._single_block: SingleBlockPricer | None = None
        self._many: ManyRoutes | None = None
        if self.rect is not None:
            n = oracle.n_bins
            self._start_point = (
                self.rect.depot_cross[start - n],
                self.rect.depot_x_mm[start - n],
            )
            self._end_point = (self.rect.depot_cross[end - n], self.rect.depot_x_mm[end - n])
            if self.rect.ladder.n_cross_aisles == 2:
                self._single_block = SingleBlockPricer(
                    self.rect.ladder,
                    self.rect.bin_aisle,
                    self.rect.bin_y_mm,
                    self._start_point,
                    self._end_point,
                )
            elif MANY_ROUTES and self.rect.ladder.n_cross_aisles <= MANY_MAX_CROSS_AISLES:
                self._many = ManyRoutes(
                    self.rect.ladder,
                    self.rect.bin_aisle,
                    self.rect.bin_y_mm,
                    self._start_point,
                    self._end_point,
                )
        #: Whether :meth:`many` prices sets together, faster than one by one (two blocks).
        self.bulk = self._many is not None
        #: Whether prices take tens of microseconds, not milliseconds: one block, and two
        #: blocks where batches are priced together (:meth:`many`).
        self.fast = self._single_block is not None or self._many is not None
        self._keyed: KeyedPrices | None = None

    def keyed(self) -> KeyedPrices:
        """These prices keyed by integers (:class:`KeyedPrices`), one cache for every caller."""
        if self._keyed is None:
            pricer = self._single_block
            if pricer is not None and pricer.masks:
                self._keyed = _MaskPrices(self, pricer)
            else:
                self._keyed = KeyedPrices(self, self.many if self.bulk else None)
        return self._keyed

    def __call__(self, locs: Iterable[int]) -> int:
        key = locs if isinstance(locs, frozenset) else frozenset(locs)
        cost = self._cache.get(key)
        if cost is None:
            cost = self._solve(key)
            self._cache[key] = cost
        return cost

    def many(self, sets: list[frozenset[int]]) -> list[int]:
        """The prices of ``sets``, those not remembered priced together where the layout
        allows (:attr:`bulk`: two blocks, :class:`routing.many_routes.ManyRoutes`), else one
        by one."""
        cache = self._cache
        missing = [key for key in dict.fromkeys(sets) if key not in cache]
        if self._many is not None and len(missing) > 1:
            self.evaluations += len(missing)
            cache.update(zip(missing, self._many.lengths(missing), strict=True))
        return [self(key) for key in sets]

    def _solve(self, locs: frozenset[int]) -> int:
        self.evaluations += 1
        if self._single_block is not None:
            return self._single_block.length(locs)
        if self._many is not None:
            return self._many.lengths([locs])[0]
        ordered = sorted(locs)
        rect = self.rect
        if rect is not None:
            solved = route_length(
                rect.ladder,
                [rect.bin_aisle[x] for x in ordered],
                [rect.bin_y_mm[x] for x in ordered],
                self._start_point,
                self._end_point,
            )
            if solved is not None:
                return solved[0]
        matrix = self.oracle.matrix([self.start, self.end, *ordered])
        if len(ordered) <= EXACT_GRAPH_BINS:
            return tsp.held_karp(matrix, 0, 1)[1]
        order = tsp.nearest_neighbour(matrix, 0, 1)
        return tsp.improve(
            matrix,
            0,
            1,
            order,
            deadline=float("inf"),
            seed=0,
            max_iterations=GRAPH_SEARCH_ITERATIONS,
            trajectories=self._trajectories,
        )[1]
