"""SIEVE equals libCacheSim 0.3.5's ``Sieve`` to the request, and the kernel equals a plain-Python twin."""

import pytest

from marquee import cdn
from marquee.cdn.policy import POLICIES
from marquee.cdn.sieve import Sieve
from tests.cdn.oracle import assert_equals_libcachesim, misses_at_one_percent, over_traces_and_shares, synthetic, trace


def twin(requests, capacity) -> int:
    """Plain-Python SIEVE by libCacheSim's rules (a list from tail to head, a hand by object): misses count."""
    queue: list[int] = []  # queue[0] is the tail (oldest), queue[-1] the head (newest)
    visited: dict[int, bool] = {}
    size: dict[int, int] = {}
    hand: int | None = None
    used = misses = 0
    for o, s in zip(requests.obj.tolist(), requests.size.tolist()):
        if o in visited:
            visited[o] = True
            continue
        misses += 1
        if s > capacity:
            continue
        while used + s > capacity:
            k = 0 if hand is None else queue.index(hand)
            while visited[queue[k]]:
                visited[queue[k]] = False
                k = k + 1 if k + 1 < len(queue) else 0
            victim = queue.pop(k)
            hand = queue[k] if k < len(queue) else None  # the neighbour towards the head, or none past the head
            del visited[victim]
            used -= size.pop(victim)
        queue.append(o)
        visited[o] = False
        size[o] = s
        used += s
    return misses


def test_registered_by_name():
    assert POLICIES["sieve"] is Sieve
    reqs = synthetic(n=3_000)
    assert cdn.run(reqs, "sieve", 50_000).misses == cdn.run(reqs, Sieve(), 50_000).misses


@pytest.mark.parametrize("capacity", [1, 5_000, 200_000, 3_000_000])
@pytest.mark.parametrize("seed", [0, 3])
def test_kernel_equals_python_twin(capacity, seed):
    reqs = synthetic(n=8_000, n_objects=800, seed=seed)
    assert cdn.run(reqs, Sieve(), capacity).misses == twin(reqs, capacity)


@pytest.mark.parametrize("capacity", [3, 17, 150])
def test_kernel_equals_python_twin_unit_sizes(capacity):
    reqs = synthetic(n=8_000, n_objects=600, seed=capacity, sized=False)
    assert cdn.run(reqs, Sieve(), capacity).misses == twin(reqs, capacity)


@over_traces_and_shares()
def test_equal_to_libcachesim(trace_name, share, tmp_path):
    reqs = trace(trace_name)
    assert_equals_libcachesim(reqs, Sieve(), "Sieve", reqs.cache_bytes(share), tmp_path)


@pytest.mark.parametrize("capacity", [2_000, 20_000, 300_000, 2_000_000])
def test_equal_to_libcachesim_synthetic(capacity, tmp_path):
    assert_equals_libcachesim(synthetic(seed=capacity % 11), Sieve(), "Sieve", capacity, tmp_path)


def test_pinned_miss_count():
    # Pinned from libCacheSim 0.3.5 (Sieve) on the shipped cache2k web07 trace (76,118 requests, 1 byte each) at 1%.
    assert misses_at_one_percent("cache2k_web07", Sieve()) == [43904]
