"""Replay a request stream through caches: the one per-request loop, compiled per policy.

:func:`replay` runs every (policy, cache size) pair and returns a :class:`ReplayResult` (a row per pair: requests,
misses, miss ratio, byte miss ratio, requests per second of the compiled loop alone). :func:`miss_ratio_curve`
does the same over a grid of sizes, running sizes on a thread pool (the loop releases the GIL).

Conventions are libCacheSim 0.3.5's: cache size in bytes, no per-object metadata, an object larger than the
cache is never inserted, an object keeps its first-seen size, ``miss_ratio = misses / requests`` and
``byte_miss_ratio = missed bytes / requested bytes``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import njit

from marquee.cdn.policy import Admission, EvictionPolicy, make
from marquee.cdn.requests import Requests
from marquee.errors import ConfigError

__all__ = ["CacheRun", "ReplayResult", "miss_ratio_curve", "replay", "run"]


@njit(nogil=True)
def _drive(obj, size, object_size, capacity, resident, hit, state, on_hit, on_miss, victim, on_insert, can_insert,
           holds, astate, admit):
    """libCacheSim's ``cache_get_base`` for every request, in order. Returns (occupied bytes, misses, missed bytes)."""
    occupied = 0
    n_miss = 0
    miss_bytes = 0
    for i in range(obj.shape[0]):
        o = obj[i]
        s = size[i]
        if resident[o]:
            if holds(state, i, o):
                hit[i] = True
                on_hit(state, i, o)
                continue
            resident[o] = False  # the policy let it go earlier: free it, and this request misses
            occupied -= object_size[o]
        n_miss += 1
        miss_bytes += s
        on_miss(state, i, o)
        if not admit(astate, i, o, s):
            continue
        if s > capacity:
            continue
        if not can_insert(state, i, o, s):
            continue
        fits = True
        while occupied + s > capacity:
            v = victim(state, i, o)
            if v < 0:  # the incoming object itself is the victim: it is not cached
                fits = False
                break
            resident[v] = False
            occupied -= object_size[v]
        if fits and on_insert(state, i, o):
            resident[o] = True
            occupied += s
    return occupied, n_miss, miss_bytes


@dataclass(frozen=True)
class CacheRun:
    """One replay: a policy (with its admission filter) at one cache size."""

    policy: str
    cache_bytes: int
    requests: int
    misses: int
    miss_bytes: int
    request_bytes: int
    seconds: float
    hit: np.ndarray | None = None

    @property
    def miss_ratio(self) -> float:
        return self.misses / self.requests if self.requests else 0.0

    @property
    def byte_miss_ratio(self) -> float:
        return self.miss_bytes / self.request_bytes if self.request_bytes else 0.0

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict:
        return {
            "policy": self.policy,
            "cache_bytes": self.cache_bytes,
            "requests": self.requests,
            "miss_ratio": self.miss_ratio,
            "byte_miss_ratio": self.byte_miss_ratio,
            "requests_per_s": self.requests_per_s,
        }


@dataclass(frozen=True)
class ReplayResult:
    """The runs of one :func:`replay`, in (policy, size) order."""

    runs: tuple[CacheRun, ...]
    source: str = ""

    def to_records(self) -> list[dict]:
        return [r.to_dict() for r in self.runs]

    def table(self):
        """A rich table: policy x size with miss ratio, byte miss ratio and requests per second."""
        from rich.table import Table

        table = Table(title=f"cache replay: {self.source}" if self.source else "cache replay")
        for col in ("policy", "cache bytes", "requests", "miss ratio", "byte miss ratio", "requests/s"):
            table.add_column(col, justify="left" if col == "policy" else "right")
        for r in self.runs:
            table.add_row(r.policy, f"{r.cache_bytes:,}", f"{r.requests:,}", f"{r.miss_ratio:.4f}",
                          f"{r.byte_miss_ratio:.4f}", f"{r.requests_per_s / 1e6:.2f} M")
        return table


def _name(policy: EvictionPolicy, admission: Admission) -> str:
    return policy.name if admission.name == "none" else f"{policy.name}+{admission.name}"


def _resolve(policy: str | EvictionPolicy | tuple[EvictionPolicy, Admission]) -> tuple[EvictionPolicy, Admission]:
    from marquee.cdn.policy import NoAdmission

    if isinstance(policy, str):
        return make(policy)
    if isinstance(policy, EvictionPolicy):
        return policy, NoAdmission()
    if isinstance(policy, tuple) and len(policy) == 2:
        return policy
    raise ConfigError(f"a policy is a name ('lru', 'lru+bloom'), an EvictionPolicy or a (policy, admission) pair, "
                      f"not {policy!r}")


_warm: set[tuple[str, str]] = set()


def _warm_up(policy: EvictionPolicy, admission: Admission) -> None:
    """Compile the loop for this policy on a tiny trace, so timings measure the loop, not the compiler."""
    key = (type(policy).__qualname__, type(admission).__qualname__)
    if key in _warm:
        return
    from marquee.cdn.requests import requests_from_arrays

    tiny = requests_from_arrays(None, np.array([1, 2, 1, 3, 1, 2], dtype=np.uint64), np.array([1, 2, 1, 3, 1, 2]))
    _execute(tiny, policy, admission, 4, keep_hits=False)
    _warm.add(key)


def _execute(requests: Requests, policy: EvictionPolicy, admission: Admission, capacity: int, *,
             keep_hits: bool) -> CacheRun:
    hooks = policy.hooks(requests, capacity)
    ahooks = admission.hooks(requests, capacity)
    resident = np.zeros(max(requests.n_objects, 1), dtype=np.bool_)
    hit = np.zeros(len(requests), dtype=np.bool_)
    start = time.perf_counter()
    occupied, misses, miss_bytes = _drive(
        requests.obj, requests.size, requests.object_size, np.int64(capacity), resident, hit, hooks.state,
        hooks.on_hit, hooks.on_miss, hooks.victim, hooks.on_insert, hooks.can_insert, hooks.holds, ahooks.state,
        ahooks.admit,
    )
    seconds = time.perf_counter() - start
    cached = int(requests.object_size[resident[: requests.n_objects]].sum()) if requests.n_objects else 0
    if occupied > capacity or cached != occupied:
        raise AssertionError(
            f"{_name(policy, admission)} broke the cache: {occupied} bytes occupied of {capacity}, resident objects "
            f"sum to {cached}"
        )
    return CacheRun(
        policy=_name(policy, admission), cache_bytes=int(capacity), requests=len(requests), misses=int(misses),
        miss_bytes=int(miss_bytes), request_bytes=requests.total_bytes, seconds=seconds,
        hit=hit if keep_hits else None,
    )


def run(requests: Requests, policy: str | EvictionPolicy | tuple[EvictionPolicy, Admission],
        cache_bytes: str | float, *, keep_hits: bool = False) -> CacheRun:
    """Replay ``requests`` through one policy at one size; ``keep_hits`` keeps the per-request hit mask."""
    pol, adm = _resolve(policy)
    capacity = requests.cache_bytes(cache_bytes)
    _warm_up(pol, adm)
    return _execute(requests, pol, adm, capacity, keep_hits=keep_hits)


def replay(
    requests: Requests,
    policies: Sequence[str | EvictionPolicy | tuple[EvictionPolicy, Admission]],
    cache_bytes: Sequence[str | int | float] | str | float,
    *,
    keep_hits: bool = False,
) -> ReplayResult:
    """Replay ``requests`` through every policy at every size (bytes, or shares of the working set: ``"1%"``)."""
    if len(requests) == 0:
        raise ConfigError("the trace has no requests to replay")
    sizes = [cache_bytes] if isinstance(cache_bytes, (str, int, float)) else list(cache_bytes)
    if not sizes:
        raise ConfigError("give at least one cache size")
    resolved = [_resolve(p) for p in policies]
    if not resolved:
        raise ConfigError("give at least one policy")
    capacities = [requests.cache_bytes(s) for s in sizes]
    runs = []
    for pol, adm in resolved:
        _warm_up(pol, adm)
        for cap in capacities:
            runs.append(_execute(requests, pol, adm, cap, keep_hits=keep_hits))
    return ReplayResult(tuple(runs), source=requests.source)


def miss_ratio_curve(
    requests: Requests,
    policy: str | EvictionPolicy | tuple[EvictionPolicy, Admission],
    cache_bytes: Sequence[str | int | float],
    *,
    workers: int | None = None,
) -> ReplayResult:
    """Miss ratios over a grid of sizes, sizes run in parallel threads (``workers`` defaults to the CPU count)."""
    pol, adm = _resolve(policy)
    capacities = [requests.cache_bytes(s) for s in cache_bytes]
    _warm_up(pol, adm)
    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        runs = list(pool.map(lambda c: _execute(requests, pol, adm, c, keep_hits=False), capacities))
    return ReplayResult(tuple(runs), source=requests.source)
