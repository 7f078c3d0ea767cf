"""Capacity planning: how many appliances of each kind a site needs to keep a target share of bytes in the ISP at peak.

A planner's question for a launch (a new season released at midnight) or a live event (concurrent streams ramping
to a peak): for each candidate site (``flash`` x ``storage`` appliances), fill it with the plan, serve the day's
requests through it (:func:`marquee.cdn.openconnect.serve`: disks decide content misses, serving caps decide health
misses), and measure the **offload at peak**: the share of bytes the site served itself in the peak window (the
hour with the most bytes offered). The demand's uncertainty comes as independent draws of it (audiences drawn
around a forecast, days of a simulated region): the plan is the cheapest site that clears the target in all but
the tail of the draws, and the interval of the *required* appliance count comes from the draws (each draw's
cheapest site that clears the target).

:func:`live_event` builds the demand of a live event (every viewer streams the same live chunks, at the rungs their
device and network choose), with a ramp to the peak concurrency; a launch's demand comes from the simulated world
(:mod:`marquee.sim.delivery`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from marquee.cdn.openconnect import FLASH, STORAGE, ApplianceKind, FileCatalog, Site, SiteConfig, serve
from marquee.errors import ConfigError
from marquee.metrics.intervals import Interval
from marquee.random import SeedLike, as_generator

__all__ = ["CapacityPlan", "Demand", "SiteResult", "live_event", "plan_capacity"]


@dataclass(frozen=True, eq=False)
class Demand:
    """Requests through a site, sorted by time: ``time (n,)`` s, ``file (n,)``, ``size (n,)`` bytes and the
    ``unit (n,)`` (member or viewer, ``0..n_units-1``) that made each, for the bootstrap."""

    time: np.ndarray
    file: np.ndarray
    size: np.ndarray
    unit: np.ndarray
    n_units: int
    name: str = "demand"

    def __post_init__(self) -> None:
        n = self.time.shape[0]
        if not (self.file.shape == self.size.shape == self.unit.shape == (n,)):
            raise ConfigError("a demand's time, file, size and unit must be 1-d arrays of one length")
        if n and np.any(np.diff(self.time) < 0):
            raise ConfigError("a demand's requests must be sorted by time")

    def peak_window(self, window_s: float = 3600.0) -> tuple[float, float]:
        """The ``window_s``-long window (aligned on multiples of it) with the most bytes offered."""
        if self.time.size == 0:
            raise ConfigError(f"{self.name} has no requests")
        slot = np.floor(self.time / window_s).astype(np.int64)
        first = int(slot.min())
        load = np.bincount(slot - first, weights=self.size)
        k = int(np.argmax(load)) + first
        return k * window_s, (k + 1) * window_s

    def offered_gbps(self, bin_s: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
        """(bin start s, offered Gbps) over the demand's span."""
        slot = np.floor(self.time / bin_s).astype(np.int64)
        first = int(slot.min()) if slot.size else 0
        load = np.bincount(slot - first, weights=self.size) if slot.size else np.zeros(0)
        return (np.arange(load.size) + first) * bin_s, load * 8 / bin_s / 1e9


def live_event(
    catalog_rungs_kbps: np.ndarray,
    rung_share: np.ndarray,
    *,
    peak_viewers: int,
    ramp_min: float = 30.0,
    hold_min: float = 60.0,
    chunk_s: float = 4.0,
    seed: SeedLike = 0,
) -> tuple[FileCatalog, Demand]:
    """A live event: viewers join over ``ramp_min`` minutes (uniform join times: concurrency ramps linearly to
    ``peak_viewers``), everyone stays to the end of ``hold_min`` minutes of peak, each streams the live chunks at
    a rung drawn from ``rung_share`` (e.g. the rung mix the playback pool gives for the region's devices).

    Returns the live stream's files (one per chunk and rung: live chunks are created as they air) and the demand.
    """
    rates = np.asarray(catalog_rungs_kbps, dtype=np.float64)
    share = np.asarray(rung_share, dtype=np.float64)
    if share.shape != rates.shape or np.any(share < 0) or share.sum() <= 0:
        raise ConfigError("rung_share must be non-negative weights, one per rung")
    if peak_viewers < 1:
        raise ConfigError(f"peak_viewers must be at least 1, got {peak_viewers}")
    rng = as_generator(seed)
    length_s = (ramp_min + hold_min) * 60.0
    n_chunks = int(np.ceil(length_s / chunk_s))
    chunk_bytes = np.floor(rates * 1000 / 8 * chunk_s).astype(np.int64)
    # The live stream as a catalog: title 0 at every rung, one "range" per chunk.
    catalog = FileCatalog.build(np.array([n_chunks * chunk_s]), rates, range_bytes=int(chunk_bytes.max()))
    join = np.sort(rng.uniform(0.0, ramp_min * 60.0, peak_viewers))
    rung = rng.choice(rates.size, size=peak_viewers, p=share / share.sum())
    first = np.floor(join / chunk_s).astype(np.int64)
    count = n_chunks - first
    viewer = np.repeat(np.arange(peak_viewers), count)
    chunk = np.arange(viewer.size) - np.repeat(np.cumsum(count) - count, count) + first[viewer]
    time = chunk * chunk_s  # each chunk is requested as it airs
    r = rung[viewer]
    file = catalog.first_file[0, r] + np.minimum(chunk * chunk_bytes[r] // catalog.range_bytes,
                                                 catalog.n_ranges[0, r] - 1)
    order = np.argsort(time, kind="stable")
    demand = Demand(time[order].astype(np.float64), file[order], chunk_bytes[r][order], viewer[order],
                    peak_viewers, name=f"live event, {peak_viewers:,} viewers at peak")
    return catalog, demand


@dataclass(frozen=True)
class SiteResult:
    """One candidate site: its appliances and its offload at peak (with the interval), misses by kind."""

    flash: int
    storage: int
    offload: Interval
    content_miss: float
    health_miss: float
    peak_offered_gbps: float


@dataclass(frozen=True)
class CapacityPlan:
    """The candidates, the cheapest that clears the target, and the interval of the appliances it takes."""

    demand: str
    target: float
    window: tuple[float, float]
    candidates: tuple[SiteResult, ...]
    chosen: SiteResult | None
    appliances_needed: Interval | None
    offered_s: np.ndarray
    offered_gbps: np.ndarray
    served_gbps: np.ndarray

    def to_dict(self) -> dict:
        def site(s: SiteResult) -> dict:
            return {"flash": s.flash, "storage": s.storage, "offload": s.offload.to_dict(),
                    "content_miss": s.content_miss, "health_miss": s.health_miss,
                    "peak_offered_gbps": s.peak_offered_gbps}

        return {
            "demand": self.demand, "target": self.target, "window_s": list(self.window),
            "candidates": [site(s) for s in self.candidates],
            "chosen": None if self.chosen is None else site(self.chosen),
            "appliances_needed": None if self.appliances_needed is None else self.appliances_needed.to_dict(),
        }


def plan_capacity(
    catalog: FileCatalog,
    draws: Sequence[Demand],
    fill_plan: np.ndarray,
    *,
    target: float = 0.95,
    flash: tuple[int, ...] = (0, 1, 2, 4),
    storage: tuple[int, ...] = (1, 2, 4, 8),
    flash_kind: ApplianceKind = FLASH,
    storage_kind: ApplianceKind = STORAGE,
    replicas: int = 2,
    replicate_share: float = 0.01,
    window_s: float = 3600.0,
    level: float = 0.95,
) -> CapacityPlan:
    """Serve each demand draw's peak window through every site of the ``flash`` x ``storage`` grid, filled with
    ``fill_plan`` (files, most wanted first); choose the site with the fewest appliances (then the fewest storage
    ones) whose offload at peak clears ``target`` in all but ``1 - level`` of the draws.

    ``draws`` are independent draws of the demand (audiences of a forecast's spread, days of a simulated region):
    the offload interval and the interval of appliances needed are their empirical quantiles. Only the peak window
    is served: a site's serving caps apply per time bin, so load outside the window cannot change what happens in it.
    """
    if not 0 < target <= 1:
        raise ConfigError(f"target offload must be in (0, 1], got {target}")
    if not draws:
        raise ConfigError("plan_capacity needs at least one demand draw")
    alpha = (1 - level) / 2
    windows = [d.peak_window(window_s) for d in draws]
    peaks = []
    for d, (lo_t, hi_t) in zip(draws, windows, strict=True):
        m = (d.time >= lo_t) & (d.time < hi_t)
        peaks.append((d.time[m], d.file[m], d.size[m]))
    candidates: list[SiteResult] = []
    per_draw: dict[tuple[int, int], np.ndarray] = {}
    for f in flash:
        for s in storage:
            if f + s == 0:
                continue
            site = Site(SiteConfig(flash=f, storage=s, flash_kind=flash_kind, storage_kind=storage_kind,
                                   replicas=min(replicas, f + s), replicate_share=replicate_share, name=f"{f}F+{s}S"))
            placement = site.fill(catalog, fill_plan)
            offload, content, health, gbps = [], [], [], []
            for (t, fi, sz), (lo_t, hi_t) in zip(peaks, windows, strict=True):
                res = serve(catalog, [(site, placement)], t, fi, sz)
                offload.append(res.byte_hit_ratio)
                content.append(float(np.mean(res.miss_kind == 1)))
                health.append(float(np.mean(res.miss_kind == 2)))
                gbps.append(float(sz.sum() * 8 / (hi_t - lo_t) / 1e9))
            arr = np.asarray(offload)
            per_draw[(f, s)] = arr
            lo, hi = np.quantile(arr, [alpha, 1 - alpha])
            candidates.append(SiteResult(f, s, Interval(float(np.median(arr)), float(lo), float(hi), level),
                                         float(np.mean(content)), float(np.mean(health)), float(np.median(gbps))))
    order = sorted(per_draw, key=lambda fs: (fs[0] + fs[1], fs[1]))
    chosen = next((c for fs in order for c in candidates if (c.flash, c.storage) == fs and c.offload.low >= target),
                  None)
    needed = np.array([min((fs[0] + fs[1] for fs in order if per_draw[fs][k] >= target), default=np.nan)
                       for k in range(len(draws))], dtype=np.float64)
    appliances = None
    if chosen is not None and np.isfinite(needed).all():
        lo, hi = np.quantile(needed, [alpha, 1 - alpha])
        appliances = Interval(float(np.median(needed)), float(lo), float(hi), level)
    # offered vs served over the first draw's whole span, through the chosen site (or the largest if none clears)
    d0 = draws[0]
    pick = chosen or max(candidates, key=lambda c: (c.offload.estimate, -(c.flash + c.storage)))
    site = Site(SiteConfig(flash=pick.flash, storage=pick.storage, flash_kind=flash_kind, storage_kind=storage_kind,
                           replicas=min(replicas, pick.flash + pick.storage), replicate_share=replicate_share))
    res = serve(catalog, [(site, site.fill(catalog, fill_plan))], d0.time, d0.file, d0.size)
    bins, offered = d0.offered_gbps()
    slot = np.floor(d0.time / 60.0).astype(np.int64)
    served = np.bincount(slot - slot.min(), weights=np.where(res.level == 0, d0.size, 0),
                         minlength=offered.size) * 8 / 60.0 / 1e9
    return CapacityPlan(draws[0].name, target, windows[0], tuple(candidates), chosen, appliances, bins, offered, served)
