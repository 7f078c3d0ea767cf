"""S3-FIFO equals libCacheSim 0.3.5's ``S3FIFO`` to the request, and the kernel equals a plain-Python twin.

libCacheSim's S3FIFO refuses an object larger than its small queue before evicting anything (the policy's
``can_insert``) and one exactly the small queue's size after evicting, unless it is a ghost hit (``on_insert``
returns False). Every comparison here is of the bare policy, ``S3FIFO()``, with no admission filter.
"""

from collections import OrderedDict

import numpy as np
import pytest

from marquee import cdn
from marquee.cdn.policy import POLICIES, NoAdmission
from marquee.cdn.replay import _drive
from marquee.cdn.s3fifo import _H, _MAIN, _MAIN_BYTES, _SMALL, _SMALL_BYTES, _WHERE, S3FIFO, S3FIFOConfig
from tests.cdn.oracle import (
    SHARES,
    assert_equals_libcachesim,
    libcachesim,
    misses_at_one_percent,
    over_traces_and_shares,
    synthetic,
    trace,
)

NON_DEFAULT = {"small_size_ratio": 0.25, "ghost_size_ratio": 0.5, "move_to_main_threshold": 1}


def twin(requests, capacity, small_size_ratio=0.1, ghost_size_ratio=0.9, move_to_main_threshold=2) -> int:
    """Plain-Python S3-FIFO by libCacheSim's rules, written from S3FIFO.c, not from the kernel: misses count.

    Each queue is an OrderedDict from oldest (first) to newest (last); small and main map object -> freq, the
    ghost object -> size.
    """
    small_cap = int(capacity * small_size_ratio)
    main_cap = capacity - small_cap
    ghost_cap = int(capacity * ghost_size_ratio)
    small: OrderedDict[int, int] = OrderedDict()
    main: OrderedDict[int, int] = OrderedDict()
    ghost: OrderedDict[int, int] = OrderedDict()
    size: dict[int, int] = {}
    small_bytes = main_bytes = ghost_bytes = 0
    has_evicted = False
    misses = 0

    def evict() -> None:
        nonlocal small_bytes, main_bytes, ghost_bytes, has_evicted
        has_evicted = True
        if main_bytes > main_cap or small_bytes == 0:
            while main_bytes > 0:
                obj, freq = main.popitem(last=False)
                if freq >= 1:
                    main[obj] = min(freq, 3) - 1
                else:
                    main_bytes -= size[obj]
                    return
            return
        while small_bytes > 0:
            obj, freq = small.popitem(last=False)
            small_bytes -= size[obj]
            if freq >= move_to_main_threshold:
                main[obj] = 0
                main_bytes += size[obj]
            else:
                if ghost_cap > 0 and size[obj] <= ghost_cap:
                    while ghost_bytes + size[obj] > ghost_cap:
                        ghost_bytes -= ghost.popitem(last=False)[1]
                    ghost[obj] = size[obj]
                    ghost_bytes += size[obj]
                return

    for o, s in zip(requests.obj.tolist(), requests.size.tolist()):
        size[o] = s
        if o in small:
            small[o] += 1
            continue
        ghost_hit = o in ghost
        if ghost_hit:
            ghost_bytes -= ghost.pop(o)
        if o in main:
            main[o] += 1
            continue
        misses += 1
        if s > small_cap or s > capacity:
            continue
        while small_bytes + main_bytes + s > capacity:
            evict()
        if ghost_hit:
            main[o] = 0
            main_bytes += s
        elif s >= small_cap:
            continue
        elif not has_evicted and small_bytes >= small_cap:
            main[o] = 0
            main_bytes += s
        else:
            small[o] = 0
            small_bytes += s
    return misses


def test_defaults_and_names_match_libcachesim():
    import inspect

    lcs = libcachesim()
    params = inspect.signature(lcs.S3FIFO).parameters
    config = S3FIFOConfig()
    for name in ("small_size_ratio", "ghost_size_ratio", "move_to_main_threshold"):
        assert getattr(config, name) == params[name].default
    assert POLICIES["s3fifo"] is S3FIFO


@pytest.mark.parametrize("capacity", [2, 5_000, 200_000, 3_000_000])
@pytest.mark.parametrize("options", [{}, NON_DEFAULT, {"ghost_size_ratio": 0.0, "move_to_main_threshold": 3}])
def test_kernel_equals_python_twin(capacity, options):
    reqs = synthetic(n=8_000, n_objects=800, seed=capacity % 5)
    assert cdn.run(reqs, S3FIFO(**options), capacity).misses == twin(reqs, capacity, **options)


@pytest.mark.parametrize("capacity", [20, 40, 150])
@pytest.mark.parametrize("options", [{}, NON_DEFAULT, {"ghost_size_ratio": 3.0}])
def test_kernel_equals_python_twin_unit_sizes(capacity, options):
    reqs = synthetic(n=8_000, n_objects=600, seed=capacity, sized=False)
    assert cdn.run(reqs, S3FIFO(**options), capacity).misses == twin(reqs, capacity, **options)


def _compare(reqs, capacity, tmp_path, policy, options):
    assert_equals_libcachesim(reqs, policy, lambda c: libcachesim().S3FIFO(c, **options), capacity, tmp_path)


@pytest.mark.parametrize("options", [{}, NON_DEFAULT], ids=["default", "non_default"])
@over_traces_and_shares()
def test_equal_to_libcachesim(trace_name, share, options, tmp_path):
    reqs = trace(trace_name)
    _compare(reqs, reqs.cache_bytes(share), tmp_path, S3FIFO(**options), options)


@pytest.mark.parametrize("options", [{}, NON_DEFAULT], ids=["default", "non_default"])
@pytest.mark.parametrize("capacity", [2_000, 20_000, 300_000, 2_000_000])
def test_equal_to_libcachesim_synthetic(capacity, options, tmp_path):
    reqs = synthetic(seed=capacity % 11)
    _compare(reqs, capacity, tmp_path, S3FIFO(**options), options)


def test_objects_larger_than_the_small_queue(tmp_path):
    # 65 of adapt_size's requests at 1% are larger than the small queue: refused before any eviction
    reqs = trace("adapt_size")
    capacity = reqs.cache_bytes("1%")
    assert int(reqs.object_size.max()) > int(capacity * 0.1)
    _compare(reqs, capacity, tmp_path, S3FIFO(), {})


@pytest.mark.parametrize("share", SHARES)
def test_objects_exactly_the_small_queue(share, tmp_path):
    # 1-byte objects and a 1-byte small queue at 0.1% (204 * 0.05 -> 10 bytes at 1%, 102 at 10%): at 0.1% every
    # object that is not a ghost hit is exactly the small queue's size, evicts to make room and is not inserted
    reqs = trace("cache2k_web07")
    options = {"small_size_ratio": 0.05}
    _compare(reqs, reqs.cache_bytes(share), tmp_path, S3FIFO(**options), options)
    run = cdn.run(reqs, S3FIFO(**options), reqs.cache_bytes(share))
    assert run.misses == twin(reqs, reqs.cache_bytes(share), **options)


@pytest.mark.parametrize("options", [{}, NON_DEFAULT], ids=["default", "non_default"])
def test_synthetic_objects_exactly_the_small_queue(options, tmp_path):
    # the small queue is exactly the size of the most requested object (and of any other object of that size)
    reqs = synthetic(n=20_000, n_objects=2_000, seed=3)
    ratio = options.get("small_size_ratio", 0.1)
    target = int(reqs.object_size[np.argmax(np.bincount(reqs.obj))])
    capacity = next(c for c in range(int(target / ratio), int(target / ratio) + 10) if int(c * ratio) == target)
    assert int(capacity * ratio) == target
    assert cdn.run(reqs, S3FIFO(**options), capacity).misses == twin(reqs, capacity, **options)
    _compare(reqs, capacity, tmp_path, S3FIFO(**options), options)


@pytest.mark.parametrize("capacity", [2_000, 300_000])
@pytest.mark.parametrize("options", [{}, {"small_size_ratio": 0.05}, {"small_size_ratio": 0.0}])
def test_policy_byte_counters_match_the_loop(capacity, options):
    """After a replay, small + main bytes equal the loop's occupied bytes, and the queues hold exactly the residents."""
    reqs = synthetic(n=8_000, n_objects=800, seed=1)
    for cap in (capacity, 204):
        hooks = S3FIFO(**options).hooks(reqs, cap)
        resident = np.zeros(reqs.n_objects, dtype=np.bool_)
        hit = np.zeros(len(reqs), dtype=np.bool_)
        admit = NoAdmission().hooks(reqs, cap)
        occupied, _, _ = _drive(reqs.obj, reqs.size, reqs.object_size, np.int64(cap), resident, hit, hooks.state,
                                hooks.on_hit, hooks.on_miss, hooks.victim, hooks.on_insert, hooks.can_insert,
                                hooks.holds, admit.state, admit.admit)
        m = hooks.state[0]
        assert m[_SMALL_BYTES] + m[_MAIN_BYTES] == occupied
        where = m[_H:_H + reqs.n_objects, _WHERE]
        np.testing.assert_array_equal(resident, (where == _SMALL + 1) | (where == _MAIN + 1))
        small = where == _SMALL + 1
        assert m[_SMALL_BYTES] == int(reqs.object_size[small].sum())


def test_pinned_miss_counts():
    # Pinned from libCacheSim 0.3.5 (S3FIFO) on the shipped cache2k web07 trace (76,118 requests, 1 byte each) at 1%.
    assert misses_at_one_percent("cache2k_web07", S3FIFO(), S3FIFO(**NON_DEFAULT)) == [42817, 43250]
