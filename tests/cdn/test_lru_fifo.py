"""LRU and FIFO equal libCacheSim to the request, and each kernel equals a plain-Python twin."""

from collections import OrderedDict

import pytest

from marquee import cdn
from tests.cdn.oracle import SHARES, libcachesim, oracle, synthetic, trace


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


@pytest.mark.parametrize("trace_name", ["cache2k_web07", "adapt_size", "cloudphysics"])
@pytest.mark.parametrize("share", SHARES)
def test_equal_to_libcachesim(trace_name, share, tmp_path):
    lcs = libcachesim()
    reqs = trace(trace_name)
    capacity = reqs.cache_bytes(share)
    for name, cls in (("lru", lcs.LRU), ("fifo", lcs.FIFO)):
        run = cdn.run(reqs, name, capacity)
        miss, byte_miss = oracle(reqs, cls, capacity, tmp_path)
        assert run.miss_ratio == pytest.approx(miss, abs=1e-12), name
        assert run.byte_miss_ratio == pytest.approx(byte_miss, abs=1e-12), name


def test_pinned_miss_counts():
    # Pinned from libCacheSim 0.3.5 on the shipped cache2k web07 trace (20,484 objects, 1 byte each) at 1%.
    reqs = trace("cache2k_web07")
    assert reqs.cache_bytes("1%") == 204
    assert cdn.run(reqs, "lru", "1%").misses == 46321
    assert cdn.run(reqs, "fifo", "1%").misses == 48504
