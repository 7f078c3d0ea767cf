"""LRU and FIFO equal libCacheSim to the request, and each kernel equals a plain-Python twin."""

from collections import OrderedDict

import pytest

from marquee import cdn
from tests.cdn.oracle import assert_equals_libcachesim, misses_at_one_percent, over_traces_and_shares, synthetic, trace


def twin(requests, capacity, lru: bool) -> int:
    """Plain-Python LRU/FIFO by libCacheSim's rules: misses count."""
    cache: OrderedDict[int, int] = OrderedDict()
    used = misses = 0
    for o, s in zip(requests.obj.tolist(), requests.size.tolist()):
        if o in cache:
            if lru:
                cache.move_to_end(o)
            continue
        misses += 1
        if s > capacity:
            continue
        while used + s > capacity:
            _, vs = cache.popitem(last=False)
            used -= vs
        cache[o] = s
        used += s
    return misses


@pytest.mark.parametrize("name", ["lru", "fifo"])
@pytest.mark.parametrize("capacity", [1, 5_000, 200_000, 3_000_000])
def test_kernel_equals_python_twin(name, capacity):
    reqs = synthetic(seed=capacity % 7)
    run = cdn.run(reqs, name, capacity)
    assert run.misses == twin(reqs, capacity, lru=name == "lru")


@over_traces_and_shares()
def test_equal_to_libcachesim(trace_name, share, tmp_path):
    reqs = trace(trace_name)
    capacity = reqs.cache_bytes(share)
    for name, cls in (("lru", "LRU"), ("fifo", "FIFO")):
        assert_equals_libcachesim(reqs, name, cls, capacity, tmp_path, name)


def test_pinned_miss_counts():
    # Pinned from libCacheSim 0.3.5 on the shipped cache2k web07 trace (20,484 objects, 1 byte each) at 1%.
    assert misses_at_one_percent("cache2k_web07", "lru", "fifo") == [46321, 48504]
