"""ARC equals libCacheSim 0.3.5's ARC to the request, and its kernel equals a plain-Python twin."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

from marquee import cdn
from marquee.cdn.arc import ARC
from tests.cdn.oracle import SHARES, libcachesim, oracle, synthetic, trace


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
    run = cdn.run(reqs, ARC(), capacity)
    assert (run.misses, run.miss_bytes) == twin(reqs, capacity)


def test_kernel_equals_python_twin_unit_sizes():
    reqs = trace("cache2k_web07").slice(0, 20_000)
    for capacity in (10, 100, 1_000):
        run = cdn.run(reqs, ARC(), capacity)
        assert (run.misses, run.miss_bytes) == twin(reqs, capacity)


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
            run = cdn.run(reqs, ARC(), capacity)
            assert (run.misses, run.miss_bytes) == twin(reqs, capacity), (seed, capacity)
            miss, byte_miss = oracle(reqs, lcs.ARC, capacity, folder)
            assert run.miss_ratio == pytest.approx(miss, abs=1e-12), (seed, capacity)
            assert run.byte_miss_ratio == pytest.approx(byte_miss, abs=1e-12), (seed, capacity)


@pytest.mark.parametrize("trace_name", ["cache2k_web07", "adapt_size", "cloudphysics"])
@pytest.mark.parametrize("share", SHARES)
def test_equal_to_libcachesim(trace_name, share, tmp_path):
    lcs = libcachesim()
    reqs = trace(trace_name)
    capacity = reqs.cache_bytes(share)
    run = cdn.run(reqs, ARC(), capacity)
    miss, byte_miss = oracle(reqs, lcs.ARC, capacity, tmp_path)
    assert run.miss_ratio == pytest.approx(miss, abs=1e-12)
    assert run.byte_miss_ratio == pytest.approx(byte_miss, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 3])
def test_equal_to_libcachesim_synthetic(seed, tmp_path):
    lcs = libcachesim()
    reqs = synthetic(seed=seed)
    for capacity in (1_000, 50_000, 300_000, 3_000_000):
        run = cdn.run(reqs, ARC(), capacity)
        miss, byte_miss = oracle(reqs, lcs.ARC, capacity, tmp_path)
        assert run.miss_ratio == pytest.approx(miss, abs=1e-12), capacity
        assert run.byte_miss_ratio == pytest.approx(byte_miss, abs=1e-12), capacity


def test_pinned_miss_counts():
    # Pinned from libCacheSim 0.3.5's ARC on the shipped cache2k web07 trace (20,484 objects, 1 byte each) at 1%,
    # and on the shipped AdaptSize trace (variable sizes) at 1% of its working set.
    reqs = trace("cache2k_web07")
    assert reqs.cache_bytes("1%") == 204
    assert cdn.run(reqs, ARC(), "1%").misses == 44217
    sized = trace("adapt_size")
    assert sized.cache_bytes("1%") == 2788542
    assert cdn.run(sized, ARC(), "1%").misses == 49674


def test_registered_by_name():
    reqs = synthetic(n=2_000)
    assert cdn.run(reqs, "arc", 50_000).misses == cdn.run(reqs, ARC(), 50_000).misses
