"""Belady equals libCacheSim 0.3.5 exactly (its heap's tie-breaking included); BeladySize agrees within a tolerance.

Belady: miss ratio and byte miss ratio equal libCacheSim's to 1e-12 on the shipped traces, CloudPhysics and
synthetic variable-size streams, and the kernel's miss count and missed bytes equal two plain-Python twins: a
transcription of libCacheSim's ``pqueue.c`` heap, a ``heapq`` MIN with lazy deletion breaking ties either way
(ties cannot change the hits, see ``test_ties_do_not_change_belady``) and a textbook O(n)-scan MIN (unit sizes).

BeladySize samples at random; libCacheSim draws buckets of its hash table with a 64-bit LCG's low bits, which
cannot be reproduced, so its ratios are compared within a stated tolerance (see ``BELADYSIZE_TOLERANCE``).
"""

from __future__ import annotations

import heapq
from pathlib import Path

import numpy as np
import pytest

from marquee import cdn
from marquee.cdn.belady import Belady, BeladyConfig
from marquee.cdn.belady_size import BeladySize, BeladySizeConfig
from marquee.errors import ConfigError
from tests.cdn.oracle import (
    SHARES,
    assert_equals_libcachesim,
    kernel_counts,
    libcachesim,
    misses_at_one_percent,
    over_traces_and_shares,
    requests_for,
    synthetic,
    trace,
)

NEVER = cdn.NO_NEXT_ACCESS


# --------------------------------------------------------------------------------------------------------------
# Plain-Python twins
# --------------------------------------------------------------------------------------------------------------


class _PQueue:
    """libCacheSim's ``pqueue.c`` as a max-heap of [key, obj] entries in a 1-indexed list (slot 0 unused)."""

    def __init__(self) -> None:
        self.d: list[list[int]] = [[0, -1]]
        self.where: dict[int, int] = {}

    def _place(self, i: int, entry: list[int]) -> None:
        self.d[i] = entry
        self.where[entry[1]] = i

    def _up(self, i: int) -> None:
        entry = self.d[i]
        while i > 1 and self.d[i // 2][0] < entry[0]:  # cmp_pri(parent, moving): parent < moving
            self._place(i, self.d[i // 2])
            i //= 2
        self._place(i, entry)

    def _down(self, i: int) -> None:
        entry = self.d[i]
        size = len(self.d)
        while True:
            c = 2 * i
            if c >= size:
                break
            if c + 1 < size and self.d[c][0] < self.d[c + 1][0]:  # right child only when strictly larger
                c += 1
            if not entry[0] < self.d[c][0]:
                break
            self._place(i, self.d[c])
            i = c
        self._place(i, entry)

    def insert(self, obj: int, key: int) -> None:
        self.d.append([key, obj])
        self._up(len(self.d) - 1)

    def change(self, obj: int, key: int) -> None:
        i = self.where[obj]
        old = self.d[i][0]
        self.d[i][0] = key
        if old < key:
            self._up(i)
        else:
            self._down(i)

    def pop(self) -> int:
        head = self.d[1]
        last = self.d.pop()
        del self.where[head[1]]
        if len(self.d) > 1:
            self.d[1] = last
            self._down(1)
        return head[1]


def heap_twin(requests, capacity: int) -> tuple[int, int]:
    """Belady as libCacheSim runs it, in plain Python: (misses, missed bytes)."""
    nxt = requests.next_access().tolist()
    pq = _PQueue()
    cached: dict[int, int] = {}
    used = misses = missed = 0
    for i, (o, s) in enumerate(zip(requests.obj.tolist(), requests.size.tolist())):
        if o in cached:
            pq.change(o, nxt[i])
            continue
        misses += 1
        missed += s
        if s > capacity:
            continue
        while used + s > capacity:
            used -= cached.pop(pq.pop())
        cached[o] = s
        pq.insert(o, nxt[i])
        used += s
    return misses, missed


def scan_twin(keys: list[int], slots: int) -> int:
    """Textbook MIN for unit sizes: on a miss with a full cache, evict the object requested again furthest ahead."""
    cache: set[int] = set()
    misses = 0
    for i, k in enumerate(keys):
        if k in cache:
            continue
        misses += 1
        if len(cache) == slots:
            ahead = keys[i + 1:]
            distance = {c: ahead.index(c) if c in ahead else len(ahead) for c in cache}
            cache.remove(max(distance, key=distance.__getitem__))
        cache.add(k)
    return misses


# --------------------------------------------------------------------------------------------------------------
# Belady
# --------------------------------------------------------------------------------------------------------------


@over_traces_and_shares()
def test_belady_equal_to_libcachesim(trace_name, share, tmp_path):
    reqs = trace(trace_name)
    assert_equals_libcachesim(reqs, Belady(), "Belady", reqs.cache_bytes(share), tmp_path)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("capacity", [1, 5_000, 20_000, 200_000, 3_000_000])
def test_belady_synthetic_equal_to_libcachesim(seed, capacity, tmp_path):
    assert_equals_libcachesim(synthetic(seed=seed), Belady(), "Belady", capacity, tmp_path)


@pytest.mark.parametrize("seed", [0, 5])
@pytest.mark.parametrize("capacity", [1, 3_000, 30_000, 300_000, 3_000_000])
def test_belady_equals_heap_twin(seed, capacity):
    reqs = synthetic(n=6_000, n_objects=800, seed=seed)
    assert kernel_counts(reqs, Belady(), capacity) == heap_twin(reqs, capacity)


def heapq_twin(requests, capacity: int, smallest_first: bool) -> tuple[int, int]:
    """MIN with ``heapq`` and lazy deletion; ties (objects never requested again) broken by size, either way."""
    nxt = requests.next_access().tolist()
    heap: list[tuple[int, int, int]] = []
    key: dict[int, int] = {}
    size: dict[int, int] = {}
    used = misses = missed = 0
    sign = 1 if smallest_first else -1
    for i, (o, s) in enumerate(zip(requests.obj.tolist(), requests.size.tolist())):
        if o in key:
            key[o] = nxt[i]
            heapq.heappush(heap, (-nxt[i], sign * s, o))
            continue
        misses += 1
        missed += s
        if s > capacity:
            continue
        while used + s > capacity:
            k, _, v = heapq.heappop(heap)
            if key.get(v) == -k:
                del key[v]
                used -= size.pop(v)
        key[o] = nxt[i]
        size[o] = s
        heapq.heappush(heap, (-nxt[i], sign * s, o))
        used += s
    return misses, missed


@pytest.mark.parametrize("smallest_first", [True, False])
@pytest.mark.parametrize("capacity", [3_000, 30_000, 300_000, 3_000_000])
def test_ties_do_not_change_belady(smallest_first, capacity):
    # Objects never requested again tie at INT64_MAX, and which of them goes first frees different bytes; yet the
    # hits cannot change: every such object precedes every live one, so a live object is evicted only once none
    # is left, under the same condition (live + size > capacity) whatever was evicted before. Finite keys never
    # tie (two objects are not requested at the same position). So any MIN equals libCacheSim's heap.
    reqs = synthetic(n=6_000, n_objects=1_500, seed=capacity % 11)
    assert kernel_counts(reqs, Belady(), capacity) == heapq_twin(reqs, capacity, smallest_first)


@pytest.mark.parametrize("slots", [1, 2, 5, 20, 80])
def test_belady_unit_sizes_equal_scan_twin(slots):
    rng = np.random.default_rng(slots)
    keys = rng.zipf(1.3, size=1_500) % 200
    reqs = cdn.requests_from_arrays(None, keys.astype(np.uint64))
    assert cdn.run(reqs, Belady(), slots).misses == scan_twin(keys.tolist(), slots)


def test_belady_pinned_miss_count():
    # Pinned from libCacheSim 0.3.5 on the shipped cache2k web07 trace (20,484 objects, 1 byte each) at 1%.
    assert misses_at_one_percent("cache2k_web07", Belady()) == [35488]


@pytest.mark.parametrize("trace_name", ["cache2k_web07", "adapt_size", "cloudphysics", "synthetic"])
def test_belady_never_misses_more_than_lru_or_fifo(trace_name):
    reqs = requests_for(trace_name)
    for share in (*SHARES, "50%"):
        best = cdn.run(reqs, Belady(), share).misses
        assert best <= cdn.run(reqs, "lru", share).misses, share
        assert best <= cdn.run(reqs, "fifo", share).misses, share


def test_belady_registered_and_needs_future():
    assert cdn.POLICIES["belady"] is Belady
    assert Belady.needs_future and Belady().config == BeladyConfig()
    assert cdn.run(synthetic(n=500), "belady", "10%").policy == "belady"


# --------------------------------------------------------------------------------------------------------------
# BeladySize
# --------------------------------------------------------------------------------------------------------------

#: |ours - libCacheSim| allowed, (miss ratio, byte miss ratio). libCacheSim samples hash-table buckets with the
#: low bits of a 64-bit LCG (a short-period sweep, not independent draws) whose thread-local state carries over
#: from one run to the next, so its own result moves between runs: on the synthetic stream at 10% its byte miss
#: ratio spans 0.410-0.427 over runs and table sizes, where ours (seed 0) is 0.436, and it behaves like somewhat
#: fewer independent samples (ours with 64 draws gives 0.42-0.43). Measured |differences| here: at most 0.004 (miss)
#: and 0.027 (byte, that case; 0.002 or less on the three real traces).
BELADYSIZE_TOLERANCE = (0.01, 0.04)


def _write_one_based(requests, path: Path) -> Path:
    """oracleGeneral with libCacheSim's own next-access convention: the 1-based number of the next request.

    ``cdn.write_oracle_general`` writes 0-based positions; libCacheSim's traceConv writes positions + 1 (the
    CloudPhysics file shows it). Belady compares keys only, so either works, but BeladySize subtracts the 1-based
    request count, and with 0-based keys an object requested next at once scores log(0) = -inf, which libCacheSim
    never evicts (it loops forever when that is the only cached object).
    """
    rec = np.empty(len(requests), dtype=[("time", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])
    rec["time"] = np.arange(len(requests), dtype=np.uint32)
    rec["id"] = requests.ids[requests.obj].astype(np.uint64)
    rec["size"] = requests.size.astype(np.uint32)
    nxt = requests.next_access()
    rec["next"] = np.where(nxt == NEVER, -1, nxt + 1)
    path.write_bytes(rec.tobytes())
    return path


@over_traces_and_shares(["cache2k_web07", "adapt_size", "cloudphysics", "synthetic"])
def test_beladysize_close_to_libcachesim(trace_name, share, tmp_path):
    lcs = libcachesim()
    reqs = requests_for(trace_name, seed=1)
    capacity = reqs.cache_bytes(share)
    path = _write_one_based(reqs, tmp_path / "trace.oracleGeneral.bin")
    # A hash table a few times the number of cached objects: libCacheSim's default (2**24 buckets) makes every
    # sample scan millions of empty buckets at small sizes.
    hashpower = max(4, int(np.ceil(np.log2(max(capacity / reqs.object_size.mean(), 1)))) + 3)
    reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE)
    miss, byte_miss = lcs.BeladySize(capacity, hashpower=hashpower).process_trace(reader)
    run = cdn.run(reqs, BeladySize(), capacity)
    assert abs(run.miss_ratio - miss) <= BELADYSIZE_TOLERANCE[0]
    assert abs(run.byte_miss_ratio - byte_miss) <= BELADYSIZE_TOLERANCE[1]


def test_beladysize_seeded_and_registered():
    reqs = synthetic(n=5_000)
    a = cdn.run(reqs, BeladySize(seed=3), "5%", keep_hits=True)
    b = cdn.run(reqs, BeladySize(seed=3), "5%", keep_hits=True)
    assert a.misses == b.misses and np.array_equal(a.hit, b.hit)
    assert cdn.POLICIES["beladysize"] is BeladySize and BeladySize.needs_future
    assert BeladySize().config == BeladySizeConfig(n_samples=128, seed=0)
    with pytest.raises(ConfigError):
        BeladySize(n_samples=0)
    with pytest.raises(ConfigError):
        BeladySize(samples=4)


def test_beladysize_with_every_object_sampled_is_size_times_distance_min():
    # Unit sizes and a handful of cached objects: 4096 draws see every cached object, so the victim is the one
    # requested again furthest ahead, i.e. MIN, whose miss count is tie-independent with unit sizes.
    rng = np.random.default_rng(7)
    keys = rng.zipf(1.3, size=2_000) % 100
    reqs = cdn.requests_from_arrays(None, keys.astype(np.uint64))
    for slots in (1, 3, 8):
        assert cdn.run(reqs, BeladySize(n_samples=4096), slots).misses == cdn.run(reqs, Belady(), slots).misses


def test_belady_speed_on_a_million_requests():
    # The bound: >= 2 M requests/s on one core (measured 6-8 M/s; best of three runs, so a busy machine passes).
    reqs = synthetic(n=1_000_000, n_objects=100_000, seed=3)
    reqs.next_access()
    assert max(cdn.run(reqs, Belady(), "1%").requests_per_s for _ in range(3)) >= 2e6
