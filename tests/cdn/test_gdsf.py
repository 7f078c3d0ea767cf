"""GDSF: the kernel equals a plain-Python twin exactly, and libCacheSim 0.3.5 within a stated tolerance.

libCacheSim 0.3.5's ``GDSF_get`` inserts the missed object first and then evicts the lowest priority until the
cache fits, so an incoming object whose priority is the lowest evicts the objects below it and then itself (it is
not cached; the clock becomes its priority). The replay loop evicts before it inserts and cannot leave the object
out once it has made room, so the kernel is GDSF evicting-then-inserting (libCacheSim's earlier releases). The twin
below runs both orders: insert-first equals libCacheSim to the request, which pins the whole difference on that
order; evict-first equals the kernel to the request.
"""

import heapq

import numpy as np
import pytest

from marquee import cdn
from marquee.cdn.gdsf import GDSF
from tests.cdn.oracle import libcachesim, oracle, synthetic, trace


def twin(requests, capacity, *, insert_first: bool, scale: float = 1e6) -> tuple[int, list[bool]]:
    """Plain-Python GDSF: priority ``L + freq * scale / size``, ties to the earliest-set priority, ``L`` = the
    priority of the last evicted object."""
    heap: list[tuple[float, int, int]] = []
    key: dict[int, tuple[float, int]] = {}
    freq: dict[int, int] = {}
    osz = requests.object_size.tolist()
    used = misses = 0
    clock = 0.0
    hits = []

    def pop() -> None:
        nonlocal used, clock
        while True:
            p, t, q = heapq.heappop(heap)
            if key.get(q) == (p, t):
                del key[q]
                used -= osz[q]
                clock = p
                return

    def put(o: int, t: int) -> None:
        key[o] = (clock + freq[o] * scale / osz[o], t)
        heapq.heappush(heap, (*key[o], o))

    for t, o in enumerate(requests.obj.tolist()):
        s = osz[o]
        if o in key:
            hits.append(True)
            freq[o] += 1
            put(o, t)
            continue
        hits.append(False)
        misses += 1
        if s > capacity:
            continue
        if not insert_first:
            while used + s > capacity:
                pop()
        freq[o] = 1
        put(o, t)
        used += s
        while used > capacity:
            pop()
    return misses, hits


@pytest.mark.parametrize("capacity", [1, 5_000, 200_000, 3_000_000])
def test_kernel_equals_python_twin(capacity):
    reqs = synthetic(seed=capacity % 7)
    run = cdn.run(reqs, GDSF(), capacity, keep_hits=True)
    misses, hits = twin(reqs, capacity, insert_first=False)
    assert run.misses == misses
    assert run.hit.tolist() == hits


@pytest.mark.parametrize("trace_name", ["cache2k_web07", "adapt_size"])
def test_kernel_equals_python_twin_on_shipped(trace_name):
    reqs = trace(trace_name)
    capacity = reqs.cache_bytes("1%")
    assert cdn.run(reqs, GDSF(), capacity).misses == twin(reqs, capacity, insert_first=False)[0]


@pytest.mark.parametrize("trace_name", ["cache2k_web07", "adapt_size", "synthetic"])
@pytest.mark.parametrize("share", ["1%", "10%"])
def test_insert_first_twin_is_libcachesim(trace_name, share, tmp_path):
    # The definition above, insert-first, is libCacheSim's GDSF to the request: nothing else differs.
    lcs = libcachesim()
    reqs = synthetic() if trace_name == "synthetic" else trace(trace_name)
    capacity = reqs.cache_bytes(share)
    miss, _ = oracle(reqs, lcs.GDSF, capacity, tmp_path)
    assert twin(reqs, capacity, insert_first=True)[0] == round(miss * len(reqs))


# |miss ratio - libCacheSim's|, |byte miss ratio - libCacheSim's| allowed (measured: see the report in the commit).
TOLERANCE = {
    "cache2k_web07": (0.002, 0.002),  # measured 0.0013 at 0.1%, 0.0005 at 1%, 0.00003 at 10%
    "adapt_size": (0.005, 0.045),  # measured 0.0015 / 0.041 at 0.1%, 0.0041 / 0.020 at 1%, 0.0001 / 0.010 at 10%
    "synthetic": (0.07, 0.045),  # measured 0.030 / 0.008 at 0.1%, 0.067 / 0.042 at 1%, 0.011 / 0.006 at 10%
}


@pytest.mark.parametrize("trace_name", ["cache2k_web07", "adapt_size", "synthetic"])
@pytest.mark.parametrize("share", ["0.1%", "1%", "10%"])
def test_close_to_libcachesim(trace_name, share, tmp_path):
    lcs = libcachesim()
    reqs = synthetic() if trace_name == "synthetic" else trace(trace_name)
    capacity = reqs.cache_bytes(share)
    run = cdn.run(reqs, GDSF(), capacity)
    miss, byte_miss = oracle(reqs, lcs.GDSF, capacity, tmp_path)
    tol, byte_tol = TOLERANCE[trace_name]
    assert abs(run.miss_ratio - miss) <= tol
    assert abs(run.byte_miss_ratio - byte_miss) <= byte_tol


def test_frequency_and_size_decide():
    # Cache of 20 bytes. a (10 B) is hit once; b (10 B) never: c evicts b, not the older a.
    ids = np.array([1, 2, 1, 3, 1], dtype=np.uint64)
    reqs = cdn.requests_from_arrays(None, ids, np.array([10, 10, 10, 10, 10]))
    assert cdn.run(reqs, GDSF(), 20, keep_hits=True).hit.tolist() == [False, False, True, False, True]
    # A small object outranks a large one at equal frequency: the 15-byte object needs room, and the older 1-byte
    # object stays while the newer 10-byte one leaves (LRU would evict the 1-byte one first).
    ids = np.array([5, 4, 6, 5], dtype=np.uint64)
    reqs = cdn.requests_from_arrays(None, ids, np.array([1, 10, 15, 1]))
    assert cdn.run(reqs, GDSF(), 20, keep_hits=True).hit.tolist() == [False, False, False, True]
    assert cdn.run(reqs, "lru", 20, keep_hits=True).hit.tolist() == [False, False, False, False]


def test_clock_inflation_ages_out_old_favourites():
    # x is hit 3 times early (priority 4e6 / 1). Then a stream of distinct 1-byte objects raises the clock by 1e6
    # per eviction, so new objects overtake x and it is evicted: without inflation it would stay forever.
    ids = np.concatenate([[7, 7, 7, 7], np.arange(100, 120), [7]]).astype(np.uint64)
    reqs = cdn.requests_from_arrays(None, ids, np.ones(len(ids), dtype=np.int64))
    hits = cdn.run(reqs, GDSF(), 2, keep_hits=True).hit
    assert hits[:4].tolist() == [False, True, True, True]
    assert not hits[-1]
