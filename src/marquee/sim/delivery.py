"""Demand at the edge from Marquee itself: members play what the ranker recommends, at the bitrates playback picks.

A :class:`Region` is a simulated world's members behind one ISP site. Each day, every member has a Poisson number
of sessions (mean ``sessions_per_day`` scaled by the member's activity); each session is shown a row from the
service's ranker (its persona's row: the ranker is fitted on the real log the world was calibrated on), plus the
titles released that day promoted at the head of the row; the world's choice model decides what is played and for
how long (:meth:`marquee.sim.World.respond`). Each play is streamed on the session's device at the rungs an ABR
scheme chose over a real network trace for that device (a pool of full-length playback sessions per device class,
simulated once with :func:`marquee.playback.simulate`), one chunk every ``chunk_s`` seconds, each chunk a byte
range of one file of the title's rendition at that rung (:class:`marquee.cdn.openconnect.FileCatalog`).

What the site can know the night before, and so how a fill plan can be ranked:

- :meth:`Region.yesterday_bytes`: bytes each file served yesterday (yesterday's popularity);
- :meth:`Region.predicted_bytes`: the ranker's predicted demand for tomorrow: the service knows tomorrow's rows
  (and which titles it will promote), and learns from yesterday's log how often a title at each rank is played,
  how far plays go and at which rungs; expected bytes per file follow;
- :meth:`Region.day_bytes` of tomorrow itself: the oracle that knows tomorrow.

Simplifications, stated: a chunk is requested at its play time (the start-up burst and buffer-ahead are ignored),
chunk sizes are nominal (bitrate x chunk length), every title has the same ladder, and stalls do not shift later
requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from marquee._validate import ints, positive
from marquee.cdn.capacity import Demand
from marquee.cdn.openconnect import FileCatalog
from marquee.cdn.requests import Requests, requests_from_arrays
from marquee.errors import ConfigError
from marquee.playback import SessionConfig, Video, load_traces, load_video, simulate
from marquee.playback.scheme import SCHEMES
from marquee.random import as_generator
from marquee.sim.context import DEVICES
from marquee.sim.playback import DEFAULT_NETWORKS, PLAYBACK_DEVICE
from marquee.sim.world import EPOCH, World

__all__ = [
    "DayDemand",
    "DeliveryConfig",
    "FillStudy",
    "Region",
    "fill_plan",
    "fill_study",
    "persona_rows",
    "release_scenario",
]

RowPolicy = Callable[[np.ndarray], np.ndarray]


def persona_rows(world: World, ranker: object, k: int = 10) -> RowPolicy:
    """Rows for world members from a ranker fitted on the real log the world was calibrated on (by persona)."""
    ids = world.persona_ids_
    pos = ranker.members_.lookup(ids)  # type: ignore[attr-defined]
    if np.any(pos < 0):
        raise ConfigError("the ranker does not know every persona: fit it on the log the world was fitted on")
    personas, inverse = np.unique(pos, return_inverse=True)
    rows = ranker.recommend_index(personas, k)[0]  # type: ignore[attr-defined]
    table = rows[inverse]
    return lambda member_idx: table[np.asarray(member_idx)]


@dataclass(frozen=True)
class DeliveryConfig:
    """Args:
    sessions_per_day: mean sessions per member per day (a member's own mean scales with their activity).
    row_k: titles in the row each session is shown.
    promote_k: how many of the day's new releases are put at the head of every row.
    scheme: the ABR scheme of every play (a name from :data:`marquee.playback.SCHEMES`).
    pool_per_device: playback sessions simulated per device class (plays draw one at random).
    pool_minutes: length of each pooled playback session; longer plays cycle it.
    chunk_s: seconds of video per chunk request.
    range_bytes: bytes per file range on the appliances (~10 MB at Netflix).
    prior_plays: pseudo-plays shrinking a title's learned appeal towards what its rank alone predicts.
    """

    sessions_per_day: float = 1.0
    row_k: int = 10
    promote_k: int = 2
    scheme: str = "robustmpc"
    pool_per_device: int = 48
    pool_minutes: float = 30.0
    chunk_s: float = 4.0
    range_bytes: int = 10_000_000
    prior_plays: float = 5.0

    def __post_init__(self) -> None:
        positive(self, "sessions_per_day", "pool_minutes", "chunk_s", "prior_plays")
        ints(self, "row_k", "pool_per_device", "range_bytes")
        ints(self, "promote_k", minimum=0)
        if self.scheme not in SCHEMES or SCHEMES[self.scheme].needs_future:
            raise ConfigError(f"scheme {self.scheme!r} is not an online ABR scheme; use one of "
                              f"{', '.join(n for n, c in SCHEMES.items() if not c.needs_future)}")


@dataclass(frozen=True, eq=False)
class DayDemand:
    """One day's plays (``(n_plays,)`` columns) and, per play, where its chunks come from.

    ``start_s`` is seconds since the day's midnight; ``rank`` is the row position played (for learning take
    rates); ``pool`` indexes the device's pooled playback session.
    """

    day: int
    n_sessions: int
    session_member: np.ndarray
    member_idx: np.ndarray
    title: np.ndarray
    device: np.ndarray
    rank: np.ndarray
    start_s: np.ndarray
    watch_s: np.ndarray
    pool: np.ndarray

    @property
    def n_plays(self) -> int:
        return int(self.title.size)


class Region:
    """The members of a world behind one site, with the service's rows and the playback pool."""

    def __init__(self, world: World, rows: RowPolicy, config: DeliveryConfig | None = None, *,
                 releases: dict[int, np.ndarray] | None = None, video: Video | None = None, seed: int = 0) -> None:
        world._check_fitted()
        self.world = world
        self.rows = rows
        self.config = config or DeliveryConfig()
        self.releases = {int(d): np.asarray(t, dtype=np.int64) for d, t in (releases or {}).items()}
        base = video or load_video("envivio")
        self.ladder_kbps = np.asarray(base.bitrates_kbps, dtype=np.float64)
        runtime_s = np.asarray(world.runtime_, dtype=np.float64) * 60.0
        self.catalog = FileCatalog.build(runtime_s, self.ladder_kbps, self.config.range_bytes)
        self.runtime_s = runtime_s
        self.chunk_bytes = np.floor(self.ladder_kbps * 1000.0 / 8.0 * self.config.chunk_s).astype(np.int64)
        self._pool = self._playback_pool(base, seed)
        self._pool_array = np.stack([self._pool[code] for code in range(len(DEVICES))])  # (devices, pool, chunks)
        activity = world.activity_.astype(np.float64)
        self._rate = self.config.sessions_per_day * activity / activity.mean()

    # ---- playback pool ----------------------------------------------------------------------------------------
    def _playback_pool(self, base: Video, seed: int) -> dict[int, np.ndarray]:
        """(pool, chunks) rung indices per world device code, from the real ABR over real traces."""
        c = self.config
        n_chunks = max(1, int(np.ceil(c.pool_minutes * 60.0 / base.chunk_seconds)))
        reps = -(-n_chunks // base.chunk_bytes.shape[0])
        long = Video(
            name=f"{base.name} x{reps}", bitrates_kbps=base.bitrates_kbps, chunk_seconds=base.chunk_seconds,
            chunk_bytes=np.tile(base.chunk_bytes, (reps, 1)),
            quality=None if base.quality is None else np.tile(base.quality, (reps, 1)),
        )
        rng = as_generator(seed)
        pool: dict[int, np.ndarray] = {}
        nets: dict[str, object] = {}
        for code, name in enumerate(DEVICES):
            pdev = PLAYBACK_DEVICE[name]
            net_name = DEFAULT_NETWORKS[pdev]
            net = nets.setdefault(net_name, load_traces(net_name))
            picks = rng.integers(0, len(net), c.pool_per_device)  # type: ignore[arg-type]
            played = simulate([net[int(j)] for j in picks], long, SCHEMES[c.scheme](),  # type: ignore[index]
                              SessionConfig(n_chunks=n_chunks), device=pdev)
            pool[code] = played.rung.astype(np.int16)
        return pool

    # ---- one day --------------------------------------------------------------------------------------------------
    def released(self, day: int) -> np.ndarray:
        """Titles released on ``day``."""
        return self.releases.get(int(day), np.zeros(0, dtype=np.int64))

    def _unreleased(self, day: int) -> np.ndarray:
        later = [t for d, t in self.releases.items() if d > day]
        return np.concatenate(later) if later else np.zeros(0, dtype=np.int64)

    def day_rows(self, member_idx: np.ndarray, day: int) -> np.ndarray:
        """(n, row_k) the rows shown on ``day``: today's releases first, then the ranker's row without any title
        not yet released (or already promoted); -1 pads a row the ranker left short."""
        k = self.config.row_k
        base = np.asarray(self.rows(member_idx), dtype=np.int64)
        promoted = self.released(day)[: self.config.promote_k]
        hidden = np.concatenate([self._unreleased(day), promoted])
        keep = (base >= 0) & ~np.isin(base, hidden)
        order = np.argsort(~keep, axis=1, kind="stable")  # kept titles first, in the ranker's order
        compact = np.take_along_axis(base, order, axis=1)
        compact[np.arange(base.shape[1])[None, :] >= keep.sum(axis=1, keepdims=True)] = -1
        out = np.full((base.shape[0], k), -1, dtype=np.int64)
        out[:, : promoted.size] = promoted
        width = min(k - promoted.size, compact.shape[1])
        out[:, promoted.size: promoted.size + width] = compact[:, :width]
        return out

    def day(self, day: int, seed: int | None = None) -> DayDemand:
        """Sample ``day``'s sessions and plays."""
        rng = as_generator(seed if seed is not None else 1_000 + day)
        w = self.world
        counts = rng.poisson(self._rate)
        members = np.repeat(np.arange(w.n_members), counts)
        sessions = w.sessions(members, rng, day=day)
        rows = self._rows_fast(sessions.member_idx, day)
        resp = w.respond(sessions, rows, rng)
        played = resp.played
        title = resp.title_idx[played]
        start = (sessions.timestamp[played] - (EPOCH + day * 86400)).astype(np.float64)
        watch = np.maximum(resp.completion[played], 0.0) * self.runtime_s[title]
        device = sessions.device[played].astype(np.int64)
        pool = rng.integers(0, self.config.pool_per_device, device.size)
        return DayDemand(day, len(sessions), members, members[played], title, device, resp.position[played], start, watch,
                         pool)

    def _rows_fast(self, member_idx: np.ndarray, day: int) -> np.ndarray:
        personas, inverse = np.unique(np.asarray(member_idx), return_inverse=True)
        return self.day_rows(personas, day)[inverse]

    # ---- chunk requests -------------------------------------------------------------------------------------------
    def requests(self, demand: DayDemand, *, start_s: float = -np.inf, end_s: float = np.inf
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Chunk requests ``(time_s, file, bytes)`` of the day's plays, sorted by time, in ``[start_s, end_s)``."""
        time, file, size, _, _ = self._requests(demand, start_s, end_s)
        return time, file, size

    def chunk_requests(self, demand: DayDemand, *, offset_s: float = 0.0) -> Requests:
        """The day's chunk requests as a cache trace: one object per chunk of a rendition (its bytes), time
        shifted by ``offset_s``. What a reactive cache at the edge sees, cached at chunk granularity."""
        time, file, size, slot, _ = self._requests(demand, -np.inf, np.inf)
        return _chunk_trace(time + offset_s, file, size, slot, f"region day {demand.day}")

    def chunk_demand(self, demand: DayDemand) -> Demand:
        """The day's chunk requests through a site as a :class:`~marquee.cdn.capacity.Demand` (each request's
        member is its unit), for capacity planning."""
        time, file, size, _, play = self._requests(demand, -np.inf, np.inf)
        return Demand(time, file, size, demand.member_idx[play], self.world.n_members,
                      name=f"day {demand.day}, {self.world.n_members:,} members")

    def _requests(self, demand: DayDemand, start_s: float, end_s: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(time, file, size, slot within the file in chunks, play) of the chunks in ``[start_s, end_s)``, by time."""
        cat = self.catalog
        time, file, size, slot, play = _emit(
            demand.start_s, demand.watch_s, demand.title, demand.device, demand.pool, self._pool_array,
            float(self.config.chunk_s), self.chunk_bytes, cat.first_file, cat.n_ranges, int(cat.range_bytes),
            float(max(start_s, -1e18)), float(min(end_s, 1e18)),
        )
        return time, file, size, slot, play

    def blocks(self, demand: DayDemand, block_s: float = 3600.0):
        """The day's chunk requests ``(time, file, size)`` a block of ``block_s`` seconds at a time, in time order
        (a region of a million members requests too many chunks to hold at once)."""
        if demand.n_plays == 0:
            return
        lo = float(np.floor(demand.start_s.min() / block_s) * block_s)
        hi = float((demand.start_s + np.ceil(demand.watch_s / self.config.chunk_s) * self.config.chunk_s).max())
        t = lo
        while t < hi:
            time, file, size, _, _ = self._requests(demand, t, t + block_s)
            if time.size:
                yield time, file, size
            t += block_s

    def day_bytes(self, demand: DayDemand) -> np.ndarray:
        """(n_files,) bytes requested from each file over the day (the oracle's knowledge of that day)."""
        cat = self.catalog
        return _file_bytes(demand.start_s, demand.watch_s, demand.title, demand.device, demand.pool,
                           self._pool_array, float(self.config.chunk_s), self.chunk_bytes, cat.first_file,
                           cat.n_ranges, int(cat.range_bytes), cat.n_files)

    def yesterday_bytes(self, yesterday: DayDemand) -> np.ndarray:
        """(n_files,) what yesterday's popularity knows: each file's bytes yesterday."""
        return self.day_bytes(yesterday)

    def predicted_bytes(self, day: int, yesterday: DayDemand) -> np.ndarray:
        """(n_files,) expected bytes per file on ``day`` from tomorrow's rows and yesterday's take rates.

        Per rank, the share of sessions that played the title shown there (yesterday); per title, the sessions
        expected tomorrow times the take rate of the rank it will be shown at, summed over members; per file, the
        share of plays that reach it (yesterday's completion curve) times its bytes at the rung mix of yesterday.
        """
        c = self.config
        k = c.row_k
        n_titles = self.world.n_titles
        take = np.bincount(yesterday.rank, minlength=k)[:k] / max(yesterday.n_sessions, 1)
        # Each title's appeal beyond its rank: yesterday's plays over those the rank alone predicts (shrunk
        # towards 1 with `prior_plays` pseudo-plays; a title not shown yesterday, e.g. a new release, gets 1).
        shown = self._rows_fast(yesterday.session_member, yesterday.day)
        ok = shown >= 0
        by_rank = np.bincount(shown[ok], weights=np.broadcast_to(take[None, :], shown.shape)[ok], minlength=n_titles)
        plays = np.bincount(yesterday.title, minlength=n_titles)
        prior = c.prior_plays
        lift = (plays + prior) / (by_rank + prior)
        rows = self.day_rows(np.arange(self.world.n_members), day)
        weights = np.broadcast_to(self._rate[:, None] * take[None, :], rows.shape)
        valid = rows >= 0
        expected = np.bincount(rows[valid], weights=weights[valid], minlength=n_titles) * lift
        # How far plays go: survival of the watched share of the runtime, from yesterday.
        share = np.sort(np.clip(yesterday.watch_s / self.runtime_s[yesterday.title], 0.0, 1.0)) \
            if yesterday.n_plays else np.array([1.0])
        cat = self.catalog
        t = cat.title.astype(np.int64)
        r = cat.rung.astype(np.int64)
        rate_bps = self.ladder_kbps[r] * 1000.0 / 8.0
        mid = (cat.range_index * cat.range_bytes + cat.size / 2.0) / rate_bps  # seconds into the title
        reach = 1.0 - np.searchsorted(share, mid / self.runtime_s[t], side="right") / share.size
        # Which rungs plays stream at: yesterday's chunk shares per rung.
        by_file = self.day_bytes(yesterday)
        rung_share = np.bincount(cat.rung.astype(np.int64), weights=by_file / self.chunk_bytes[r],
                                 minlength=self.ladder_kbps.size)
        rung_share /= max(rung_share.sum(), 1.0)
        return expected[t] * rung_share[r] * reach * cat.size


def fill_plan(score: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Files worth storing, best first: by expected bytes served per byte stored (a greedy knapsack).

    Files with no expected demand are left out of the plan.
    """
    score = np.asarray(score, dtype=np.float64)
    density = score / np.maximum(np.asarray(size, dtype=np.float64), 1.0)
    order = np.argsort(-density, kind="stable")
    return order[density[order] > 0]


@dataclass(frozen=True)
class FillStudy:
    """Byte hit ratios of fill plans and reactive policies on one day, per cache size, with intervals.

    ``hit[name][j]`` is the :class:`~marquee.metrics.intervals.Interval` of the byte hit ratio of plan or policy
    ``name`` at ``capacity_bytes[j]``; ``margin[(a, b)][j]`` the paired difference ``a - b``; ``of_oracle[j]``
    predicted / oracle. Intervals are percentile bootstraps over members (Poisson weights; the cache contents
    held fixed): the uncertainty of the demand.
    """

    day: int
    capacity_bytes: tuple[int, ...]
    catalog_bytes: int
    requested_bytes: int
    new_release_share: float
    hit: dict[str, list]
    margin: dict[tuple[str, str], list]
    of_oracle: list
    best_reactive: list[str]
    hourly: dict[str, list] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "day": self.day,
            "capacity_bytes": list(self.capacity_bytes),
            "catalog_bytes": self.catalog_bytes,
            "requested_bytes": self.requested_bytes,
            "new_release_share": self.new_release_share,
            "hit": {k: [i.to_dict() for i in v] for k, v in self.hit.items()},
            "margin": {f"{a}-{b}": [i.to_dict() for i in v] for (a, b), v in self.margin.items()},
            "predicted_of_oracle": [i.to_dict() for i in self.of_oracle],
            "best_reactive": self.best_reactive,
            "hourly_byte_hit_ratio": {k: [h.tolist() for h in v] for k, v in self.hourly.items()},
        }


def fill_study(
    region: Region,
    day: int,
    capacity_share: tuple[float, ...] = (0.02, 0.05, 0.1),
    *,
    policies: tuple[str, ...] = ("lru", "fifo", "arc", "s3fifo", "sieve", "lfu", "gdsf", "wtinylfu"),
    seed: int = 0,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    ceiling_draws: int = 4,
) -> FillStudy:
    """Fill plans ranked by yesterday's popularity, the ranker's prediction and the oracle, against reactive
    policies of the same capacity, on ``day`` (a release day when ``region.releases`` has titles for it).

    Each plan fills an empty site (one appliance of the capacity, the published fill rate) the night before; the
    reactive policies cache chunks as they are requested, warmed on the day before. With ``ceiling_draws``, the
    plan ``"expected"`` ranks files by the mean of that many independent draws of the same day: the ceiling of any
    predictor that knows the demand's distribution but not tomorrow's draw.
    """
    from marquee.cdn.openconnect import ApplianceKind, Site, SiteConfig, serve
    from marquee.cdn.replay import run
    from marquee.metrics.intervals import Interval

    if day < 1:
        raise ConfigError("a fill study needs the day before: day must be at least 1")
    yesterday = region.day(day - 1, seed=seed * 7919 + day - 1)
    today = region.day(day, seed=seed * 7919 + day)
    cat = region.catalog
    scores = {
        "yesterday": region.yesterday_bytes(yesterday),
        "predicted": region.predicted_bytes(day, yesterday),
        "oracle": region.day_bytes(today),
    }
    if ceiling_draws:
        # What a predictor that knows the true demand distribution (not tomorrow's draw of it) can reach: the
        # mean of independent draws of the same day. The gap from it to the oracle is the draw's own noise.
        scores["expected"] = sum(region.day_bytes(region.day(day, seed=10**6 + seed * 100 + k))
                                 for k in range(ceiling_draws))
    time, file, size, slot, play = region._requests(today, -np.inf, np.inf)
    member = today.member_idx[play]
    n_members = region.world.n_members
    warm = region.chunk_requests(yesterday)
    now = _chunk_trace(time + 86_400.0, file, size, slot, f"region day {day}")  # today's requests, emitted once
    trace = requests_from_arrays(
        np.concatenate([warm.time, now.time]), np.concatenate([warm.ids[warm.obj], now.ids[now.obj]]),
        np.concatenate([warm.size, now.size]), source=f"region days {day - 1}-{day}",
    )
    is_today = np.arange(len(trace)) >= len(warm)
    total_by_member = np.bincount(member, weights=size, minlength=n_members)
    rng = as_generator(seed)
    weights = rng.poisson(1.0, size=(n_bootstrap, n_members)).astype(np.float64)
    alpha = (1.0 - level) / 2.0

    def interval(values: np.ndarray) -> Interval:
        est = float(values[0])
        lo, hi = np.quantile(values[1:], [alpha, 1.0 - alpha])
        return Interval(est, float(lo), float(hi), level)

    capacities = tuple(int(share * cat.total_bytes) for share in capacity_share)
    names = (*scores, *policies)
    hit: dict[str, list] = {n: [] for n in names}
    hourly: dict[str, list] = {n: [] for n in names}
    hour = np.clip((time // 3600.0).astype(np.int64), 0, 23)
    offered_hourly = np.bincount(hour, weights=size, minlength=24)
    margin: dict[tuple[str, str], list] = {("predicted", "yesterday"): [], ("predicted", "best_reactive"): []}
    if "expected" in scores:
        margin[("predicted", "expected")] = []
    of_oracle: list = []
    best: list[str] = []
    for cap in capacities:
        site = Site(SiteConfig(flash=0, storage=1, replicas=1,
                               storage_kind=ApplianceKind("cache", cap, serve_gbps=1e6, fill_gbps=1.2)))
        ratios = {}
        for name, score in scores.items():
            placement = site.fill(cat, fill_plan(score, cat.size))
            served = serve(cat, [(site, placement)], time, file, size)
            hit_bytes = np.where(served.level == 0, size, 0)
            hit_by_member = np.bincount(member, weights=hit_bytes, minlength=n_members)
            ratios[name] = _boot_ratio(hit_by_member, total_by_member, weights)
            hourly[name].append(np.bincount(hour, weights=hit_bytes, minlength=24) / np.maximum(offered_hourly, 1))
        for name in policies:
            mask = run(trace, name, cap, keep_hits=True).hit
            hits = mask[is_today]
            hit_bytes = np.where(hits, size, 0)
            hit_by_member = np.bincount(member, weights=hit_bytes, minlength=n_members)
            ratios[name] = _boot_ratio(hit_by_member, total_by_member, weights)
            hourly[name].append(np.bincount(hour, weights=hit_bytes, minlength=24) / np.maximum(offered_hourly, 1))
        for name in names:
            hit[name].append(interval(ratios[name]))
        top = max(policies, key=lambda n: ratios[n][0])
        best.append(top)
        margin[("predicted", "yesterday")].append(interval(ratios["predicted"] - ratios["yesterday"]))
        margin[("predicted", "best_reactive")].append(interval(ratios["predicted"] - ratios[top]))
        of_oracle.append(interval(ratios["predicted"] / ratios["oracle"]))
        if "expected" in scores:
            margin[("predicted", "expected")].append(interval(ratios["predicted"] - ratios["expected"]))
    released = np.isin(cat.title, region.released(day))
    return FillStudy(
        day=day, capacity_bytes=capacities, catalog_bytes=cat.total_bytes, requested_bytes=int(size.sum()),
        new_release_share=float(scores["oracle"][released].sum() / max(scores["oracle"].sum(), 1.0)),
        hit=hit, margin=margin, of_oracle=of_oracle, best_reactive=best, hourly=hourly,
    )


def _chunk_trace(time: np.ndarray, file: np.ndarray, size: np.ndarray, slot: np.ndarray, source: str) -> Requests:
    """Chunk requests as a cache trace: one object per (file, chunk slot), sized in bytes."""
    key = file.astype(np.uint64) * np.uint64(1 << 16) + slot.astype(np.uint64)
    return requests_from_arrays(time, key, size, source=source)


def _boot_ratio(num: np.ndarray, den: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(1 + n_bootstrap,) the ratio of sums, then its bootstrap replicates."""
    point = num.sum() / max(den.sum(), 1.0)
    return np.concatenate([[point], (weights @ num) / np.maximum(weights @ den, 1.0)])


@njit(cache=True)
def _chunk_window(start, watch, chunk_s, lo, hi):
    """First and one-past-last chunk index of a play whose request times fall in ``[lo, hi)``."""
    n_chunks = int(np.ceil(watch / chunk_s))
    c0 = max(0, int(np.floor((lo - start) / chunk_s)))
    while c0 < n_chunks and start + c0 * chunk_s < lo:
        c0 += 1
    c1 = min(n_chunks, int(np.ceil((hi - start) / chunk_s)) + 1)
    while c1 > c0 and start + (c1 - 1) * chunk_s >= hi:
        c1 -= 1
    return c0, c1


@njit(cache=True)
def _emit(start_s, watch_s, title, device, pool_idx, pool, chunk_s, chunk_bytes, first_file, n_ranges, range_bytes,
          lo, hi):
    """Every chunk request of the plays inside ``[lo, hi)``, sorted by time.

    Compiled, and written straight into time order: a counting sort on whole seconds over three passes (count,
    place, write), so no unsorted copy ever exists. A day of a million members is ~10^9 chunks, an hour of it
    tens of millions. Plays are in time order within a second. Times that are not whole seconds (a chunk length
    that is not) fall back to a stable sort.
    """
    n = start_s.shape[0]
    n_pool_chunks = pool.shape[2]
    total = 0
    t_min = np.inf
    t_max = -np.inf
    whole = True
    for p in range(n):
        c0, c1 = _chunk_window(start_s[p], watch_s[p], chunk_s, lo, hi)
        if c1 > c0:
            total += c1 - c0
            t_min = min(t_min, start_s[p] + c0 * chunk_s)
            t_max = max(t_max, start_s[p] + (c1 - 1) * chunk_s)
            if start_s[p] != np.floor(start_s[p]):
                whole = False
    if chunk_s != np.floor(chunk_s):
        whole = False
    time = np.empty(total, np.float64)
    file = np.empty(total, np.int32)
    size = np.empty(total, np.int32)
    slot = np.empty(total, np.int32)
    play = np.empty(total, np.int32)
    if total == 0:
        return time, file, size, slot, play
    pos = np.zeros(1, np.int64)
    if whole:
        span = int(t_max - t_min) + 1
        pos = np.zeros(span + 1, np.int64)
        for p in range(n):
            c0, c1 = _chunk_window(start_s[p], watch_s[p], chunk_s, lo, hi)
            for c in range(c0, c1):
                pos[int(start_s[p] + c * chunk_s - t_min) + 1] += 1
        for b in range(span):
            pos[b + 1] += pos[b]
    k = 0
    for p in range(n):
        c0, c1 = _chunk_window(start_s[p], watch_s[p], chunk_s, lo, hi)
        ti = title[p]
        for c in range(c0, c1):
            t = start_s[p] + c * chunk_s
            if whole:
                b = int(t - t_min)
                at = pos[b]
                pos[b] += 1
            else:
                at = k
                k += 1
            r = pool[device[p], pool_idx[p], c % n_pool_chunks]
            sz = chunk_bytes[r]
            off = c * sz
            j = min(off // range_bytes, n_ranges[ti, r] - 1)
            time[at] = t
            file[at] = first_file[ti, r] + j
            size[at] = sz
            slot[at] = (off - j * range_bytes) // sz
            play[at] = p
    if not whole:
        order = np.argsort(time, kind="mergesort")
        return time[order], file[order], size[order], slot[order], play[order]
    return time, file, size, slot, play


@njit(cache=True)
def _file_bytes(start_s, watch_s, title, device, pool_idx, pool, chunk_s, chunk_bytes, first_file, n_ranges,
                range_bytes, n_files):
    """(n_files,) bytes requested from each file by the plays, without emitting the requests."""
    out = np.zeros(n_files, np.float64)
    n_pool_chunks = pool.shape[2]
    for p in range(start_s.shape[0]):
        ti = title[p]
        for c in range(int(np.ceil(watch_s[p] / chunk_s))):
            r = pool[device[p], pool_idx[p], c % n_pool_chunks]
            sz = chunk_bytes[r]
            j = min((c * sz) // range_bytes, n_ranges[ti, r] - 1)
            out[first_file[ti, r] + j] += sz
    return out


#: Where the titles released on day 1 of :func:`release_scenario` sit in the world's popularity order: a hit, a
#: mid-list title and a niche one.
RELEASE_RANKS = (5, 40, 150)


def release_scenario(interactions, n_members: int, config: DeliveryConfig | None = None, *, seed: int = 0,
                     ranker: object | None = None) -> Region:
    """A region for a new-release day: a world of ``n_members`` calibrated on ``interactions`` (a real log with
    its catalog), rows from ``ranker`` (EASE fitted on that log by default), and three titles (a hit, a mid-list
    title, a niche one: :data:`RELEASE_RANKS` of the world's popularity) held back until day 1, then promoted."""
    if ranker is None:
        from marquee.rank import EASE

        ranker = EASE().fit(interactions)
    world = World(n_members=n_members, seed=seed).fit(interactions)
    popular = np.argsort(-world.title_bias_, kind="stable")
    ranks = [r for r in RELEASE_RANKS if r < popular.size]
    config = config or DeliveryConfig(promote_k=1)
    return Region(world, persona_rows(world, ranker, k=config.row_k + len(ranks) + 10), config,
                  releases={1: popular[ranks]}, seed=seed)
