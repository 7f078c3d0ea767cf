"""An Open-Connect-style site: appliances, files placed by consistent hashing, a nightly proactive fill, and serving.

Netflix serves video from its own appliances (OCAs) inside ISPs. What this module models, and where each part
comes from:

- **Files.** A title is stored as one file per rung of its encoding ladder, each cut into byte ranges of about
  10 MB (:class:`FileCatalog`); a client's chunk request names (title, rung, byte offset), so it lands on one range.
- **Appliances.** Two kinds (:class:`ApplianceKind`): *flash* (small, fast) and *storage* (large, with a serving
  throughput cap). Defaults are assumptions from Netflix's public descriptions of its appliances (2U storage boxes
  of a few hundred TB serving tens of Gbps, 1U flash boxes of tens of TB serving about 100 Gbps); they are not
  Netflix specifications: set your own.
- **Placement.** Within a site, each file goes to an appliance of its tier by consistent hashing (a ring with
  virtual nodes per appliance, the file's hash picks the first appliance clockwise that has room); the most
  popular files go to flash first, then storage; the top ``replicate_share`` of the plan by demand is stored on
  ``replicas`` distinct appliances (so a hot file can be served by several).
- **Proactive fill.** Each night, inside a fill window (12 hours by default), every appliance can take in at most
  ``fill_gbps`` (1.2 Gbps by default: the published defaults) of new bytes; the fill walks the plan (files ranked
  by predicted demand) and places what fits both the disks and each appliance's fill budget. Files already on an
  appliance cost nothing to keep; files that fall out of the plan are deleted.
- **Serving.** Requests are served in time order; an appliance serves at most ``serve_gbps`` in any time bin
  (``bin_s``, 60 s). A request is a hit when a holder of its file has room in the current bin; a *content miss*
  when no appliance of the site holds the file; a *health miss* when holders exist but all are saturated, as
  Netflix reports them. A miss goes to the next level (a peer site, then an upstream tier, then origin), each a
  site of its own with its own placement and caps; origin always serves.

The per-request loop is compiled (numba); so is the fill, whose per-file loop is over millions of files.
Consistent hashing and the fill are written here because no library does them over numpy columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from marquee._validate import positive
from marquee.errors import ConfigError

__all__ = [
    "FLASH",
    "STORAGE",
    "ApplianceKind",
    "DayServe",
    "FileCatalog",
    "Placement",
    "ServeResult",
    "Site",
    "SiteConfig",
    "serve",
    "serve_blocks",
]

GBPS = 1e9 / 8  # bytes per second in one Gbps


@dataclass(frozen=True)
class ApplianceKind:
    """One kind of appliance: disk bytes, serving cap and nightly fill rate."""

    name: str
    capacity_bytes: float
    serve_gbps: float
    fill_gbps: float

    def __post_init__(self) -> None:
        positive(self, "capacity_bytes", "serve_gbps", "fill_gbps")


#: Assumed defaults (see the module docstring): override per deployment.
STORAGE = ApplianceKind("storage", capacity_bytes=250e12, serve_gbps=36.0, fill_gbps=1.2)
FLASH = ApplianceKind("flash", capacity_bytes=24e12, serve_gbps=100.0, fill_gbps=1.2)


@dataclass(frozen=True)
class FileCatalog:
    """Every file a site may hold: ``(n_files,)`` columns of title, rung, range index and size in bytes.

    ``first_file[t, r]`` is the index of title ``t``'s first range at rung ``r``; a byte offset ``b`` into that
    rendition lands in file ``first_file[t, r] + b // range_bytes``.
    """

    title: np.ndarray
    rung: np.ndarray
    range_index: np.ndarray
    size: np.ndarray
    first_file: np.ndarray
    n_ranges: np.ndarray
    range_bytes: int

    @property
    def n_files(self) -> int:
        return int(self.size.shape[0])

    @property
    def total_bytes(self) -> int:
        return int(self.size.sum())

    @classmethod
    def build(cls, runtime_s: np.ndarray, bitrates_kbps: np.ndarray, range_bytes: int = 10_000_000) -> FileCatalog:
        """Files of titles with ``runtime_s (n_titles,)`` encoded at every rung of ``bitrates_kbps (n_rungs,)``."""
        runtime = np.asarray(runtime_s, dtype=np.float64)
        rates = np.asarray(bitrates_kbps, dtype=np.float64)
        if runtime.ndim != 1 or rates.ndim != 1 or runtime.size == 0 or rates.size == 0:
            raise ConfigError("runtime_s and bitrates_kbps must be non-empty 1-d arrays")
        if np.any(runtime <= 0) or np.any(rates <= 0):
            raise ConfigError("runtimes and bitrates must be positive")
        if range_bytes <= 0:
            raise ConfigError(f"range_bytes must be positive, got {range_bytes}")
        total = np.ceil(runtime[:, None] * rates[None, :] * 1000.0 / 8.0).astype(np.int64)  # bytes per rendition
        n_ranges = np.maximum(1, -(-total // range_bytes))
        first = np.zeros(n_ranges.size, dtype=np.int64)
        np.cumsum(n_ranges.ravel()[:-1], out=first[1:])
        first = first.reshape(n_ranges.shape)
        n_files = int(n_ranges.sum())
        rendition = np.repeat(np.arange(n_ranges.size), n_ranges.ravel())
        range_index = np.arange(n_files) - first.ravel()[rendition]
        last = range_index == n_ranges.ravel()[rendition] - 1
        size = np.where(last, total.ravel()[rendition] - range_index * range_bytes, range_bytes)
        return cls(
            title=(rendition // rates.size).astype(np.int32),
            rung=(rendition % rates.size).astype(np.int16),
            range_index=range_index.astype(np.int32),
            size=size.astype(np.int64),
            first_file=first,
            n_ranges=n_ranges,
            range_bytes=int(range_bytes),
        )

    def file_of(self, title: np.ndarray, rung: np.ndarray, offset_bytes: np.ndarray) -> np.ndarray:
        """The file holding byte ``offset_bytes`` of ``title`` at ``rung`` (all ``(n,)``)."""
        title = np.asarray(title)
        rung = np.asarray(rung)
        j = np.minimum(np.asarray(offset_bytes) // self.range_bytes, self.n_ranges[title, rung] - 1)
        return self.first_file[title, rung] + j


@dataclass(frozen=True)
class SiteConfig:
    """A site (cluster): how many appliances of each kind, replication, ring, fill window and time bins."""

    flash: int = 1
    storage: int = 2
    flash_kind: ApplianceKind = FLASH
    storage_kind: ApplianceKind = STORAGE
    replicas: int = 2
    replicate_share: float = 0.01
    vnodes: int = 64
    fill_window_h: float = 12.0
    bin_s: float = 60.0
    name: str = "site"

    def __post_init__(self) -> None:
        if self.flash < 0 or self.storage < 0 or self.flash + self.storage == 0:
            raise ConfigError(f"site {self.name!r} needs at least one appliance (flash={self.flash}, "
                              f"storage={self.storage})")
        if self.replicas < 1:
            raise ConfigError(f"replicas must be at least 1, got {self.replicas}")
        if not 0 <= self.replicate_share <= 1:
            raise ConfigError(f"replicate_share must be in [0, 1], got {self.replicate_share}")
        positive(self, "vnodes", "fill_window_h", "bin_s")


@dataclass(frozen=True, eq=False)
class Placement:
    """Which appliances hold each file: ``holders (n_files, replicas)`` appliance indices, -1 for none."""

    holders: np.ndarray
    used_bytes: np.ndarray
    filled_bytes: np.ndarray
    skipped_fill: int
    skipped_space: int

    @property
    def stored(self) -> np.ndarray:
        """(n_files,) bool: the site holds the file on at least one appliance."""
        return self.holders[:, 0] >= 0


@njit(cache=True)
def _hash64(x):
    # splitmix64: a fixed, well-mixed hash of file and appliance ids, so placement is reproducible across runs.
    z = (x + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _fill(order, file_size, n_replicated, prev_holders, ring_points, ring_owner, tier_start, tier_end, capacity,
          fill_budget, replicas):
    """Walk the plan (``order``: files by priority); place each on up to ``replicas`` appliances by the ring."""
    n_files = file_size.shape[0]
    n_app = capacity.shape[0]
    holders = np.full((n_files, replicas), -1, np.int64)
    used = np.zeros(n_app, np.int64)
    filled = np.zeros(n_app, np.int64)
    # What the previous night left: a file stays on its appliance at no fill cost if the new plan keeps it there.
    had = np.full((n_files, prev_holders.shape[1]), -1, np.int64)
    for f in range(min(n_files, prev_holders.shape[0])):
        for r in range(prev_holders.shape[1]):
            had[f, r] = prev_holders[f, r]
    seen = np.zeros(n_app, np.int64)  # rank + 1 of the file that last considered each appliance
    skipped_fill = 0
    skipped_space = 0
    n_tiers = tier_start.shape[0]
    for rank in range(order.shape[0]):
        f = order[rank]
        s = file_size[f]
        want = replicas if rank < n_replicated else 1
        got = 0
        blocked_by_fill = False
        h = _hash64(np.uint64(f))
        # Where the file already is, it stays (no fill cost) while there is room: placement is stable night to night.
        for r in range(had.shape[1]):
            a = had[f, r]
            if a < 0 or got >= want:
                continue
            seen[a] = rank + 1
            if used[a] + s <= capacity[a]:
                used[a] += s
                holders[f, got] = a
                got += 1
        for t in range(n_tiers):
            if got >= want:
                break
            if tier_end[t] <= tier_start[t]:
                continue
            pts = ring_points[t]
            own = ring_owner[t]
            n_pts = pts.shape[0]
            start = np.searchsorted(pts, h)
            # Walk the ring clockwise; each appliance of the tier is considered once (its first virtual node).
            for k in range(n_pts):
                if got >= want:
                    break
                a = own[(start + k) % n_pts]
                if seen[a] == rank + 1:
                    continue
                seen[a] = rank + 1
                if used[a] + s > capacity[a]:
                    continue
                kept = False
                for r in range(had.shape[1]):
                    if had[f, r] == a:
                        kept = True
                if not kept:
                    if filled[a] + s > fill_budget[a]:
                        blocked_by_fill = True
                        continue
                    filled[a] += s
                used[a] += s
                holders[f, got] = a
                got += 1
        if got == 0:
            if blocked_by_fill:
                skipped_fill += 1
            else:
                skipped_space += 1
    return holders, used, filled, skipped_fill, skipped_space


class Site:
    """One cluster of appliances; :meth:`fill` places a plan, :func:`serve` replays requests through sites."""

    def __init__(self, config: SiteConfig | None = None, **overrides) -> None:
        if config is None:
            config = SiteConfig(**overrides)
        elif overrides:
            raise ConfigError("give Site either a config or keyword options, not both")
        self.config = config
        kinds = [config.flash_kind] * config.flash + [config.storage_kind] * config.storage
        self.kinds: tuple[ApplianceKind, ...] = tuple(kinds)
        self.capacity = np.array([k.capacity_bytes for k in kinds], dtype=np.int64)
        self.serve_bytes_per_bin = np.array([k.serve_gbps * GBPS * config.bin_s for k in kinds], dtype=np.int64)
        self.fill_budget = np.array([k.fill_gbps * GBPS * config.fill_window_h * 3600 for k in kinds], dtype=np.int64)
        self.tier_start = np.array([0, config.flash], dtype=np.int64)
        self.tier_end = np.array([config.flash, config.flash + config.storage], dtype=np.int64)
        self._rings = [self._ring(int(a0), int(a1)) for a0, a1 in zip(self.tier_start, self.tier_end, strict=True)]

    def __repr__(self) -> str:
        return f"Site({self.config.name!r}: {self.config.flash} flash + {self.config.storage} storage)"

    @property
    def n_appliances(self) -> int:
        return int(self.capacity.shape[0])

    @property
    def capacity_bytes(self) -> int:
        return int(self.capacity.sum())

    def _ring(self, a0: int, a1: int) -> tuple[np.ndarray, np.ndarray]:
        owners = np.repeat(np.arange(a0, a1, dtype=np.int64), self.config.vnodes)
        keys = (owners.astype(np.uint64) << np.uint64(20)) + np.tile(
            np.arange(self.config.vnodes, dtype=np.uint64), max(a1 - a0, 0)
        ) + np.uint64(0x5EED)
        points = np.array([_hash64(np.uint64(k)) for k in keys], dtype=np.uint64)
        order = np.argsort(points, kind="stable")
        return points[order], owners[order]

    def fill(self, catalog: FileCatalog, plan: np.ndarray, previous: Placement | None = None) -> Placement:
        """Place the files of ``plan`` (file indices, most wanted first) for tonight, from ``previous`` contents.

        Files beyond what fits the disks or the night's fill budget are skipped (counted on the placement).
        """
        plan = np.asarray(plan, dtype=np.int64)
        if plan.ndim != 1:
            raise ConfigError("a fill plan is a 1-d array of file indices, most wanted first")
        if plan.size and (plan.min() < 0 or plan.max() >= catalog.n_files):
            raise ConfigError(f"a fill plan names files outside the catalog (0..{catalog.n_files - 1})")
        if np.unique(plan).size != plan.size:
            raise ConfigError("a fill plan names a file twice")
        prev = previous.holders if previous is not None else np.full((0, 1), -1, dtype=np.int64)
        n_replicated = int(np.floor(self.config.replicate_share * plan.size))
        ring_points = tuple(r[0] for r in self._rings)
        ring_owner = tuple(r[1] for r in self._rings)
        holders, used, filled, sk_fill, sk_space = _fill(
            plan, catalog.size, n_replicated, prev, ring_points, ring_owner, self.tier_start, self.tier_end,
            self.capacity, self.fill_budget, self.config.replicas,
        )
        return Placement(holders, used, filled, int(sk_fill), int(sk_space))


@dataclass(frozen=True, eq=False)
class ServeResult:
    """Per request: the level that served it (0 = the site, ..., ``n_levels`` = origin) and the first miss kind.

    ``miss_kind``: 0 hit at the site, 1 content miss, 2 health miss (at the first level).
    """

    level: np.ndarray
    miss_kind: np.ndarray
    bytes: np.ndarray
    time: np.ndarray
    level_names: tuple[str, ...]
    appliance_load: list[np.ndarray] = field(default_factory=list)

    def byte_share(self) -> dict[str, float]:
        total = float(self.bytes.sum())
        out = {}
        for k, name in enumerate((*self.level_names, "origin")):
            out[name] = float(self.bytes[self.level == k].sum()) / total if total else 0.0
        return out

    @property
    def byte_hit_ratio(self) -> float:
        """Share of bytes served by the first level (the site itself)."""
        total = float(self.bytes.sum())
        return float(self.bytes[self.level == 0].sum()) / total if total else 0.0

    def miss_breakdown(self) -> dict[str, float]:
        """Share of requests that were hits, content misses and health misses at the first level."""
        n = max(self.level.size, 1)
        return {k: float(np.count_nonzero(self.miss_kind == v)) / n
                for k, v in (("hit", 0), ("content_miss", 1), ("health_miss", 2))}

    def hourly(self, levels: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hours, offered bytes per hour, bytes served by the first ``levels`` levels per hour)."""
        hour = np.floor((self.time - self.time.min()) / 3600.0).astype(np.int64) if self.time.size else self.time
        n = int(hour.max()) + 1 if self.time.size else 0
        offered = np.bincount(hour, weights=self.bytes, minlength=n)
        served = np.bincount(hour, weights=np.where(self.level < levels, self.bytes, 0), minlength=n)
        return np.arange(n), offered, served


def _stack(catalog: FileCatalog, levels: list[tuple[Site, Placement]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The levels' placements as one (levels, files, replicas) array, their serving caps and appliance offsets."""
    width = max(p.holders.shape[1] for _, p in levels)
    holders_all = np.full((len(levels), catalog.n_files, width), -1, dtype=np.int64)
    for k, (_, p) in enumerate(levels):
        if p.holders.shape[0] != catalog.n_files:
            raise ConfigError(f"level {k}'s placement covers {p.holders.shape[0]} files, the catalog has "
                              f"{catalog.n_files}")
        holders_all[k, :, : p.holders.shape[1]] = p.holders
    caps = np.concatenate([s.serve_bytes_per_bin for s, _ in levels])
    offsets = np.cumsum([0] + [s.n_appliances for s, _ in levels[:-1]]).astype(np.int64)
    return holders_all, caps, offsets


@njit(cache=True)
def _serve(time, file, size, holders_all, caps_all, level_offset, bin_s):
    n = time.shape[0]
    n_levels = holders_all.shape[0]
    n_app_total = caps_all.shape[0]
    level = np.full(n, n_levels, np.int8)
    kind = np.zeros(n, np.int8)
    t0 = time[0] if n else 0.0
    n_bins = int((time[n - 1] - t0) // bin_s) + 1 if n else 1
    load = np.zeros((n_bins, n_app_total), np.int64)
    for i in range(n):
        f = file[i]
        s = size[i]
        b = int((time[i] - t0) // bin_s)
        for lv in range(n_levels):
            best = -1
            best_load = np.int64(0)
            held = False
            for r in range(holders_all.shape[2]):
                a = holders_all[lv, f, r]
                if a < 0:
                    continue
                held = True
                g = level_offset[lv] + a
                if load[b, g] + s <= caps_all[g] and (best < 0 or load[b, g] < best_load):
                    best = g
                    best_load = load[b, g]
            if best >= 0:
                load[b, best] += s
                level[i] = lv
                break
            if lv == 0:
                kind[i] = 2 if held else 1
    return level, kind, load


def serve(
    catalog: FileCatalog,
    levels: list[tuple[Site, Placement]],
    time: np.ndarray,
    file: np.ndarray,
    size: np.ndarray,
    *,
    names: tuple[str, ...] | None = None,
    stacked: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> ServeResult:
    """Serve requests ``(time, file, size)`` (sorted by time) through ``levels`` in order; origin takes the rest.

    Each level is a site with tonight's placement: the ISP's own site first, then a peer, then an upstream tier.
    The sites share one time grid (the first site's ``bin_s``). ``stacked`` is ``_stack(catalog, levels)`` when a
    caller serves many batches through the same levels (:func:`serve_blocks`).
    """
    if not levels:
        raise ConfigError("serve needs at least one (site, placement) level")
    time = np.asarray(time, dtype=np.float64)
    file = np.asarray(file)
    size = np.asarray(size)
    if file.dtype.kind not in "iu" or size.dtype.kind not in "iu":
        raise ConfigError("file and size must be integer arrays")
    if not (time.shape == file.shape == size.shape) or time.ndim != 1:
        raise ConfigError("time, file and size must be 1-d arrays of one length")
    if time.size and np.any(np.diff(time) < 0):
        raise ConfigError("requests must be sorted by time")
    if file.size and (file.min() < 0 or file.max() >= catalog.n_files):
        raise ConfigError(f"requests name files outside the catalog (0..{catalog.n_files - 1})")
    holders_all, caps, offsets = stacked if stacked is not None else _stack(catalog, levels)
    level, kind, load = _serve(time, file, size, holders_all, caps, offsets, float(levels[0][0].config.bin_s))
    names = names or tuple(s.config.name for s, _ in levels)
    per_level = [load[:, o: o + s.n_appliances] for (s, _), o in zip(levels, offsets, strict=True)]
    return ServeResult(level, kind, size.astype(np.int64, copy=False), time, names, per_level)


@dataclass(frozen=True)
class DayServe:
    """Totals of a day served a block at a time: per hour, bytes offered and bytes served by each level."""

    level_names: tuple[str, ...]
    requests: int
    offered: np.ndarray
    served: np.ndarray
    hits: int
    content_misses: int
    health_misses: int

    @property
    def byte_hit_ratio(self) -> float:
        return float(self.served[0].sum() / max(self.offered.sum(), 1.0))

    def offload(self, levels: int = 1) -> np.ndarray:
        """Per hour, the share of bytes served by the first ``levels`` levels (the ISP's own sites)."""
        return self.served[:levels].sum(axis=0) / np.maximum(self.offered, 1.0)


def serve_blocks(catalog: FileCatalog, levels: list[tuple[Site, Placement]], blocks, *,
                 names: tuple[str, ...] | None = None, hours: int = 30) -> DayServe:
    """Serve ``blocks`` of ``(time, file, size)`` (each sorted, blocks in time order and on whole time bins) and
    keep only hourly totals: what a day of a large region needs (its requests never all exist at once)."""
    offered = np.zeros(hours)
    served = np.zeros((len(levels), hours))
    n = hits = content = health = 0
    t0 = None
    stacked = _stack(catalog, levels)  # once for the day, not once a block
    for time, file, size in blocks:
        res = serve(catalog, levels, time, file, size, names=names, stacked=stacked)
        if t0 is None:
            t0 = float(np.floor(time[0] / 3600.0) * 3600.0)
        hour = np.minimum(((time - t0) // 3600.0).astype(np.int64), hours - 1)
        offered += np.bincount(hour, weights=size, minlength=hours)
        for k in range(len(levels)):
            served[k] += np.bincount(hour, weights=np.where(res.level == k, size, 0), minlength=hours)
        n += time.size
        hits += int(np.count_nonzero(res.miss_kind == 0))
        content += int(np.count_nonzero(res.miss_kind == 1))
        health += int(np.count_nonzero(res.miss_kind == 2))
    return DayServe(names or tuple(s.config.name for s, _ in levels), n, offered, served, hits, content, health)
