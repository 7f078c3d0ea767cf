"""LFU equals libCacheSim 0.3.5's LFU to the request, and its kernel equals a plain-Python twin."""

from __future__ import annotations

import heapq
import itertools

import pytest

from marquee import cdn
from marquee.cdn.lfu import LFU
from tests.cdn.oracle import (
    assert_equals_libcachesim,
    assert_small_traces_equal_libcachesim_and_twin,
    kernel_counts,
    libcachesim,
    misses_at_one_percent,
    oracle,
    over_traces_and_shares,
    synthetic,
    trace,
)


def twin(requests, capacity: int) -> tuple[int, int]:
    """Plain-Python LFU by libCacheSim's rules: frequency counted from insertion (starting at 1, forgotten on
    eviction); among the lowest frequency, evict the object that reached it first. (misses, missed bytes)."""
    freq: dict[int, int] = {}
    since: dict[int, int] = {}  # when the object reached its current frequency
    sizes: dict[int, int] = {}
    heap: list[tuple[int, int, int]] = []  # (freq, since, obj); stale entries skipped when popped
    clock = itertools.count()
    used = misses = miss_bytes = 0
    for o, s in zip(requests.obj.tolist(), requests.size.tolist()):
        if o in freq:
            freq[o] += 1
            since[o] = next(clock)
            heapq.heappush(heap, (freq[o], since[o], o))
            continue
        misses += 1
        miss_bytes += s
        if s > capacity:
            continue
        while used + s > capacity:
            f, t, v = heapq.heappop(heap)
            if freq.get(v) != f or since[v] != t:
                continue
            del freq[v], since[v]
            used -= sizes.pop(v)
        freq[o] = 1
        since[o] = next(clock)
        sizes[o] = s
        used += s
        heapq.heappush(heap, (1, since[o], o))
    return misses, miss_bytes


@pytest.mark.parametrize("capacity", [1, 5_000, 60_000, 200_000, 3_000_000])
@pytest.mark.parametrize("seed", [0, 5])
def test_kernel_equals_python_twin(capacity, seed):
    reqs = synthetic(seed=seed)
    assert kernel_counts(reqs, LFU(), capacity) == twin(reqs, capacity)


def test_kernel_equals_python_twin_unit_sizes():
    reqs = trace("cache2k_web07").slice(0, 20_000)
    for capacity in (10, 100, 1_000):
        assert kernel_counts(reqs, LFU(), capacity) == twin(reqs, capacity)


def test_ties_go_to_the_one_that_reached_the_frequency_first(tmp_path):
    # 1 is inserted before 2, but 2 reaches frequency 2 first (its hit comes first): with both at frequency 2 and
    # the cache (2 bytes) full, 3 evicts 2, not 1. Then 3 (frequency 1) makes way for 2.
    ids = [1, 2, 2, 1, 3, 1, 2]
    reqs = cdn.requests_from_arrays(None, ids, [1] * len(ids))
    run = cdn.run(reqs, LFU(), 2, keep_hits=True)
    assert run.hit.tolist() == [False, False, True, True, False, True, False]
    lcs = libcachesim()
    assert run.miss_ratio == pytest.approx(oracle(reqs, lcs.LFU, 2, tmp_path)[0], abs=1e-12)


def test_small_traces_equal_libcachesim_and_twin(tmp_path):
    # Tiny caches over few objects reach the corner cases (ties, full-cache edge rules) that large traces rarely do.
    assert_small_traces_equal_libcachesim_and_twin(LFU, twin, "LFU", tmp_path)


@over_traces_and_shares()
def test_equal_to_libcachesim(trace_name, share, tmp_path):
    reqs = trace(trace_name)
    assert_equals_libcachesim(reqs, LFU(), "LFU", reqs.cache_bytes(share), tmp_path)


@pytest.mark.parametrize("seed", [0, 3])
def test_equal_to_libcachesim_synthetic(seed, tmp_path):
    reqs = synthetic(seed=seed)
    for capacity in (1_000, 50_000, 300_000, 3_000_000):
        assert_equals_libcachesim(reqs, LFU(), "LFU", capacity, tmp_path, capacity)


def test_pinned_miss_counts():
    # Pinned from libCacheSim 0.3.5's LFU on the shipped cache2k web07 trace (20,484 objects, 1 byte each) at 1%,
    # and on the shipped AdaptSize trace (variable sizes) at 1% of its working set.
    assert misses_at_one_percent("cache2k_web07", LFU()) == [52812]
    assert misses_at_one_percent("adapt_size", LFU()) == [49857]


def test_registered_by_name():
    reqs = synthetic(n=2_000)
    assert cdn.run(reqs, "lfu", 50_000).misses == cdn.run(reqs, LFU(), 50_000).misses
