"""ARC equals libCacheSim 0.3.5's ARC to the request, and its kernel equals a plain-Python twin."""

from __future__ import annotations

from collections import OrderedDict

import pytest

from marquee import cdn
from marquee.cdn.arc import ARC
from tests.cdn.oracle import (
    assert_equals_libcachesim,
    assert_small_traces_equal_libcachesim_and_twin,
    kernel_counts,
    misses_at_one_percent,
    over_traces_and_shares,
    synthetic,
    trace,
)


def twin(requests, capacity: int) -> tuple[int, int]:
    """Plain-Python ARC by libCacheSim's rules (bytes, float p, its case IV and REPLACE): (misses, missed bytes)."""
    t1: OrderedDict[int, int] = OrderedDict()  # last item = most recent (the head)
    t2: OrderedDict[int, int] = OrderedDict()
    b1: OrderedDict[int, int] = OrderedDict()
    b2: OrderedDict[int, int] = OrderedDict()
    size = {"t1": 0, "t2": 0, "b1": 0, "b2": 0}
    lists = {"t1": t1, "t2": t2, "b1": b1, "b2": b2}
    p = 0.0
    was_b2 = False  # libCacheSim's "current object was in B2" flag (REPLACE's tie rule reads it)
    misses = miss_bytes = 0

    def pop_oldest(name: str) -> tuple[int, int]:
        o, s = lists[name].popitem(last=False)
        size[name] -= s
        return o, s

    def push(name: str, o: int, s: int) -> None:
        lists[name][o] = s
        size[name] += s

    def replace() -> None:
        t1_bytes = size["t1"]
        if (t1_bytes > 0 and (t1_bytes > p or (t1_bytes == p and was_b2))) or size["t2"] == 0:
            push("b1", *pop_oldest("t1"))
        else:
            push("b2", *pop_oldest("t2"))

    for o, s in zip(requests.obj.tolist(), requests.size.tolist()):
        if o in t1:
            was_b2 = False
            del t1[o]
            size["t1"] -= s
            push("t2", o, s)
            continue
        if o in t2:
            was_b2 = False
            t2.move_to_end(o)
            continue
        misses += 1
        miss_bytes += s
        ghost_hit = False
        if o in b1:
            was_b2, ghost_hit = False, True
            p = min(p + max(size["b2"] / size["b1"], 1.0), float(capacity))
            del b1[o]
            size["b1"] -= s
        elif o in b2:
            was_b2, ghost_hit = True, True
            p = max(p - max(size["b1"] / size["b2"], 1.0), 0.0)
            del b2[o]
            size["b2"] -= s
        if s > capacity:
            continue
        while size["t1"] + size["t2"] + s > capacity:
            if ghost_hit:
                replace()
            elif size["t1"] + size["b1"] + s > capacity:
                if size["b1"] > 0:
                    pop_oldest("b1")
                    replace()
                else:
                    pop_oldest("t1")
            else:
                if sum(size.values()) >= 2 * capacity and size["b2"] > 0:
                    pop_oldest("b2")
                replace()
        if ghost_hit:
            push("t2", o, s)
            was_b2 = False
        else:
            push("t1", o, s)
    return misses, miss_bytes


@pytest.mark.parametrize("capacity", [1, 5_000, 60_000, 200_000, 3_000_000])
@pytest.mark.parametrize("seed", [0, 5])
def test_kernel_equals_python_twin(capacity, seed):
    reqs = synthetic(seed=seed)
    assert kernel_counts(reqs, ARC(), capacity) == twin(reqs, capacity)


def test_kernel_equals_python_twin_unit_sizes():
    reqs = trace("cache2k_web07").slice(0, 20_000)
    for capacity in (10, 100, 1_000):
        assert kernel_counts(reqs, ARC(), capacity) == twin(reqs, capacity)


def test_small_traces_equal_libcachesim_and_twin(tmp_path):
    # Tiny caches over few objects reach the corner cases (ties, full-cache edge rules) that large traces rarely do.
    assert_small_traces_equal_libcachesim_and_twin(ARC, twin, "ARC", tmp_path)


@over_traces_and_shares()
def test_equal_to_libcachesim(trace_name, share, tmp_path):
    reqs = trace(trace_name)
    assert_equals_libcachesim(reqs, ARC(), "ARC", reqs.cache_bytes(share), tmp_path)


@pytest.mark.parametrize("seed", [0, 3])
def test_equal_to_libcachesim_synthetic(seed, tmp_path):
    reqs = synthetic(seed=seed)
    for capacity in (1_000, 50_000, 300_000, 3_000_000):
        assert_equals_libcachesim(reqs, ARC(), "ARC", capacity, tmp_path, capacity)


def test_pinned_miss_counts():
    # Pinned from libCacheSim 0.3.5's ARC on the shipped cache2k web07 trace (20,484 objects, 1 byte each) at 1%,
    # and on the shipped AdaptSize trace (variable sizes) at 1% of its working set.
    assert misses_at_one_percent("cache2k_web07", ARC()) == [44217]
    assert misses_at_one_percent("adapt_size", ARC()) == [49674]


def test_registered_by_name():
    reqs = synthetic(n=2_000)
    assert cdn.run(reqs, "arc", 50_000).misses == cdn.run(reqs, ARC(), 50_000).misses
