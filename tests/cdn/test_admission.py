"""Bloom (one-hit-wonder) admission equals libCacheSim's BloomFilterAdmissioner to the request, and a plain-Python
twin; a first request is never admitted."""

from collections import OrderedDict

import numpy as np
import pytest

from marquee import cdn
from marquee.cdn.admission import BloomAdmission
from marquee.cdn.fifo import FIFO
from marquee.cdn.lru import LRU
from marquee.cdn.policy import make
from tests.cdn.oracle import (
    assert_equals_libcachesim,
    libcachesim,
    over_traces_and_shares,
    requests_for,
    synthetic,
    trace,
)


def twin(requests, capacity) -> tuple[int, list[bool]]:
    """Plain-Python LRU behind libCacheSim's bloom admission: a miss on a never-seen object is remembered, not
    admitted; the filter is asked before the size check."""
    cache: OrderedDict[int, int] = OrderedDict()
    seen: set[int] = set()
    used = misses = 0
    hits = []
    for o, s in zip(requests.obj.tolist(), requests.size.tolist()):
        if o in cache:
            cache.move_to_end(o)
            hits.append(True)
            continue
        hits.append(False)
        misses += 1
        if o not in seen:
            seen.add(o)
            continue
        if s > capacity:
            continue
        while used + s > capacity:
            _, vs = cache.popitem(last=False)
            used -= vs
        cache[o] = s
        used += s
    return misses, hits


@pytest.mark.parametrize("capacity", [1, 5_000, 200_000, 3_000_000])
def test_kernel_equals_python_twin(capacity):
    reqs = synthetic(seed=capacity % 5)
    run = cdn.run(reqs, (LRU(), BloomAdmission()), capacity, keep_hits=True)
    misses, hits = twin(reqs, capacity)
    assert run.misses == misses
    assert run.hit.tolist() == hits


@over_traces_and_shares(["cache2k_web07", "adapt_size", "synthetic", "cloudphysics"])
def test_equal_to_libcachesim(trace_name, share, tmp_path):
    lcs = libcachesim()
    reqs = requests_for(trace_name)
    capacity = reqs.cache_bytes(share)
    for policy, cls in ((LRU(), lcs.LRU), (FIFO(), lcs.FIFO)):
        with_bloom = lambda c, cls=cls: cls(c, admissioner=lcs.BloomFilterAdmissioner())
        assert_equals_libcachesim(reqs, (policy, BloomAdmission()), with_bloom, capacity, tmp_path, policy.name)


def test_pinned_miss_count():
    # Pinned from libCacheSim 0.3.5: LRU + BloomFilterAdmissioner on cache2k web07 at 1% (204 bytes).
    assert cdn.run(trace("cache2k_web07"), "lru+bloom", "1%").misses == 47049


def test_one_hit_wonders_are_never_cached():
    # Only distinct objects: every request is a first request, nothing is admitted, every request misses.
    ids = np.arange(5_000, dtype=np.uint64) * 13 + 1
    reqs = cdn.requests_from_arrays(None, ids, np.full(5_000, 10))
    run = cdn.run(reqs, "lru+bloom", 10**9, keep_hits=True)
    assert run.miss_ratio == 1.0 and not run.hit.any()
    # Without the filter the same cache would keep them: the property is the filter's, not the trace's.
    again = cdn.requests_from_arrays(None, np.concatenate([ids, ids]), np.full(10_000, 10))
    assert cdn.run(again, "lru", 10**9).misses == 5_000
    # Twice each: the second request is admitted (inserted, still a miss), the third hits.
    thrice = cdn.requests_from_arrays(None, np.concatenate([ids, ids, ids]), np.full(15_000, 10))
    run = cdn.run(thrice, "lru+bloom", 10**9, keep_hits=True)
    assert run.misses == 10_000 and run.hit[10_000:].all()


def test_filter_sees_objects_too_large_to_cache():
    # libCacheSim asks the filter before the size check, so an oversized first request still counts as "seen".
    reqs = cdn.requests_from_arrays(None, np.array([1, 1, 2, 2, 2], dtype=np.uint64), np.array([50, 50, 5, 5, 5]))
    run = cdn.run(reqs, "lru+bloom", 10, keep_hits=True)
    assert run.hit.tolist() == [False, False, False, False, True]


def test_registered_by_name():
    policy, admission = make("lru+bloom")
    assert isinstance(policy, LRU) and isinstance(admission, BloomAdmission)
    reqs = synthetic(seed=2)
    assert cdn.run(reqs, "lru+bloom", "1%").misses == cdn.run(reqs, (LRU(), BloomAdmission()), "1%").misses
    assert cdn.run(reqs, "lru+bloom", "1%").policy == "lru+bloom"
