"""LFU equals libCacheSim 0.3.5's LFU to the request, and its kernel equals a plain-Python twin."""

from __future__ import annotations

import heapq
import itertools

import numpy as np
import pytest

from marquee import cdn
from marquee.cdn.lfu import LFU
from tests.cdn.oracle import SHARES, libcachesim, oracle, synthetic, trace


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
    run = cdn.run(reqs, LFU(), capacity)
    assert (run.misses, run.miss_bytes) == twin(reqs, capacity)


def test_kernel_equals_python_twin_unit_sizes():
    reqs = trace("cache2k_web07").slice(0, 20_000)
    for capacity in (10, 100, 1_000):
        run = cdn.run(reqs, LFU(), capacity)
        assert (run.misses, run.miss_bytes) == twin(reqs, capacity)


def test_ties_go_to_the_one_that_reached_the_frequency_first(tmp_path):
    # 1 is inserted before 2, but 2 reaches frequency 2 first (its hit comes first): with both at frequency 2 and
    # the cache (2 bytes) full, 3 evicts 2, not 1. Then 3 (frequency 1) makes way for 2.
    ids = [1, 2, 2, 1, 3, 1, 2]
    reqs = cdn.requests_from_arrays(None, ids, [1] * len(ids))
    run = cdn.run(reqs, LFU(), 2, keep_hits=True)
    assert run.hit.tolist() == [False, False, True, True, False, True, False]
    lcs = libcachesim()
    assert run.miss_ratio == pytest.approx(oracle(reqs, lcs.LFU, 2, tmp_path)[0], abs=1e-12)


def small_trace(seed: int):
    """A 300-request trace over a few dozen objects (unit sizes for every third seed, else 1..19 bytes)."""
    rng = np.random.default_rng(seed)
    n_objects = int(rng.integers(5, 40))
    ids = rng.integers(0, n_objects, 300) if seed % 2 else rng.zipf(1.3, 300) % n_objects
    sizes = rng.integers(1, 20, n_objects)[ids] if seed % 3 else np.ones(300, dtype=np.int64)
    return cdn.requests_from_arrays(None, ids.astype(np.uint64), sizes, source=f"small({seed})")


def test_small_traces_equal_libcachesim_and_twin(tmp_path):
    # Tiny caches over few objects reach the corner cases (ties, full-cache edge rules) that large traces rarely do.
    lcs = libcachesim()
    for seed in range(16):
        reqs = small_trace(seed)
        folder = tmp_path / str(seed)
        folder.mkdir()
        for capacity in (5, 10, 20, 40):
            run = cdn.run(reqs, LFU(), capacity)
            assert (run.misses, run.miss_bytes) == twin(reqs, capacity), (seed, capacity)
            miss, byte_miss = oracle(reqs, lcs.LFU, capacity, folder)
            assert run.miss_ratio == pytest.approx(miss, abs=1e-12), (seed, capacity)
            assert run.byte_miss_ratio == pytest.approx(byte_miss, abs=1e-12), (seed, capacity)


@pytest.mark.parametrize("trace_name", ["cache2k_web07", "adapt_size", "cloudphysics"])
@pytest.mark.parametrize("share", SHARES)
def test_equal_to_libcachesim(trace_name, share, tmp_path):
    lcs = libcachesim()
    reqs = trace(trace_name)
    capacity = reqs.cache_bytes(share)
    run = cdn.run(reqs, LFU(), capacity)
    miss, byte_miss = oracle(reqs, lcs.LFU, capacity, tmp_path)
    assert run.miss_ratio == pytest.approx(miss, abs=1e-12)
    assert run.byte_miss_ratio == pytest.approx(byte_miss, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 3])
def test_equal_to_libcachesim_synthetic(seed, tmp_path):
    lcs = libcachesim()
    reqs = synthetic(seed=seed)
    for capacity in (1_000, 50_000, 300_000, 3_000_000):
        run = cdn.run(reqs, LFU(), capacity)
        miss, byte_miss = oracle(reqs, lcs.LFU, capacity, tmp_path)
        assert run.miss_ratio == pytest.approx(miss, abs=1e-12), capacity
        assert run.byte_miss_ratio == pytest.approx(byte_miss, abs=1e-12), capacity


def test_pinned_miss_counts():
    # Pinned from libCacheSim 0.3.5's LFU on the shipped cache2k web07 trace (20,484 objects, 1 byte each) at 1%,
    # and on the shipped AdaptSize trace (variable sizes) at 1% of its working set.
    reqs = trace("cache2k_web07")
    assert reqs.cache_bytes("1%") == 204
    assert cdn.run(reqs, LFU(), "1%").misses == 52812
    sized = trace("adapt_size")
    assert sized.cache_bytes("1%") == 2788542
    assert cdn.run(sized, LFU(), "1%").misses == 49857


def test_registered_by_name():
    reqs = synthetic(n=2_000)
    assert cdn.run(reqs, "lfu", 50_000).misses == cdn.run(reqs, LFU(), 50_000).misses
