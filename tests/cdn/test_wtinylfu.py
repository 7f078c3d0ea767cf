"""W-TinyLFU: libCacheSim's definition in plain Python equals libCacheSim to the request, and so does the kernel.

libCacheSim's WTinyLFU may remove several objects in one ``evict`` call and on an SLRU hit, while the replay loop's
``victim`` returns one object per call; the policy's ``holds`` hook tells the loop, before a hit, that such a
*departed* object is gone. The twin has three drivers:

- ``"libcachesim"``: libCacheSim's ``cache_get_base`` (can_insert, evict until it fits, insert);
- ``"loop"``: the replay loop as it is (removed objects handed back one ``victim`` call at a time, oldest first; a
  request for one not yet handed back is a hit, and the policy re-inserts it as libCacheSim does after its miss);
- ``"holds"``: the loop with one more hook, asked before a hit whether the policy still holds the object (a departed
  object is released, its bytes freed, and the request takes the miss path).

The first equals libCacheSim; the second differs from it by exactly the requests for departed objects (and their
bytes), which is why the hook exists; the third equals libCacheSim and the kernel.
"""

from collections import OrderedDict

import numpy as np
import pytest

from marquee import cdn
from marquee.cdn.wtinylfu import WTinyLFU, WTinyLFUConfig, sketch_counters, sketch_hashes, sketch_shape
from marquee.errors import ConfigError
from tests.cdn.oracle import (
    SHARES,
    assert_equals_libcachesim,
    libcachesim,
    oracle_counts,
    requests_for,
    synthetic,
    trace,
)


class Queue(OrderedDict):
    """An LRU queue (first = tail) and its bytes."""

    nbytes = 0


class Twin:
    """libCacheSim 0.3.5 WTinyLFU (window LRU, SLRU 1:4 main, minimal-increment CBF) in plain Python."""

    def __init__(self, requests, capacity: int, window_size: float = 0.01) -> None:
        self.w_cap = int(capacity * window_size)
        self.m_cap = capacity - self.w_cap
        self.prob_max = int(0.2 * self.m_cap)
        self.prot_max = int(0.8 * self.m_cap)
        counters, hashes = sketch_shape(self.m_cap, 0.001)
        self.idx = sketch_counters(requests.ids, counters, hashes).tolist()
        self.cbf: dict[int, int] = {}  # the non-zero counters (a byte-sized cache has up to 2**31 - 1)
        self.age_every = 32 * self.m_cap
        self.main_hits = 0
        self.size = requests.object_size.tolist()
        self.window, self.prob, self.prot = Queue(), Queue(), Queue()
        self.removed: list[int] = []

    def nbytes(self, q) -> int:
        return q.nbytes

    def put(self, q, o) -> None:
        q[o] = None
        q.nbytes += self.size[o]

    def take(self, q, o) -> None:
        del q[o]
        q.nbytes -= self.size[o]

    def estimate(self, o) -> int:
        return min(self.cbf.get(x, 0) for x in self.idx[o])

    def add(self, o) -> None:
        for x in self.idx[o]:
            self.cbf[x] = self.cbf.get(x, 0) + 1

    def holds(self, o) -> bool:
        return o in self.window or o in self.prob or o in self.prot

    def main_victim(self) -> int:
        return next(iter(self.prob)) if self.nbytes(self.prob) > 0 else next(iter(self.prot))

    def main_evict(self) -> None:
        v = self.main_victim()
        self.take(self.prob if v in self.prob else self.prot, v)
        self.removed.append(v)

    def main_insert(self, o) -> None:
        s = self.size[o]
        if self.nbytes(self.prob) + s <= self.prob_max:
            self.put(self.prob, o)
        elif self.nbytes(self.prot) + s <= self.prot_max:
            self.put(self.prot, o)
        else:
            while self.nbytes(self.prob) + self.nbytes(self.prot) + s > self.m_cap:
                self.main_evict()
            self.put(self.prob, o)

    def hit(self, o) -> None:
        if o in self.window:
            self.window.move_to_end(o)
            return
        if o in self.prot:
            self.prot.move_to_end(o)
        else:
            self.take(self.prob, o)
            self.put(self.prot, o)
            while o in self.prot and self.nbytes(self.prot) > self.prot_max:
                cooled = next(iter(self.prot))
                self.take(self.prot, cooled)
                self.put(self.prob, cooled)
                while self.nbytes(self.prob) > self.prob_max:
                    self.main_evict()
        self.add(o)
        self.main_hits += 1
        if self.main_hits >= self.age_every:
            self.main_hits = 0
            self.cbf = {x: c >> 1 for x, c in self.cbf.items() if c > 1}

    def can_insert(self, o) -> bool:
        return self.size[o] <= self.w_cap and self.size[o] <= self.prob_max

    def insert(self, o) -> None:
        self.put(self.window, o)
        self.add(o)

    def evict(self) -> None:
        while self.window:
            w = next(iter(self.window))
            if self.nbytes(self.prob) + self.nbytes(self.prot) + self.size[w] <= self.m_cap:
                self.take(self.window, w)
                self.main_insert(w)
                self.add(w)
                continue
            if self.estimate(w) > self.estimate(self.main_victim()):
                self.main_evict()
                self.take(self.window, w)
                self.main_insert(w)
            else:
                self.take(self.window, w)
                self.removed.append(w)
            self.add(w)
            return
        self.main_evict()

    def occupied(self) -> int:
        return self.nbytes(self.window) + self.nbytes(self.prob) + self.nbytes(self.prot)


def run_twin(requests, capacity: int, driver: str) -> tuple[int, int, list[bool], int, int]:
    """(misses, missed bytes, hit per request, requests for departed objects, their bytes) under ``driver``."""
    p = Twin(requests, capacity)
    misses = miss_bytes = departed_hits = departed_bytes = 0
    hits: list[bool] = []
    resident: set[int] = set()  # the loop's view
    departed: list[int] = []  # removed by the policy, not yet handed to the loop, oldest first
    occupied = 0
    for o in requests.obj.tolist():
        s = p.size[o]
        if driver == "holds" and o in resident and not p.holds(o):
            departed.remove(o)  # the proposed hook: the loop releases it and takes the miss path
            resident.discard(o)
            occupied -= s
        cached = p.holds(o) if driver == "libcachesim" else o in resident
        hits.append(cached)
        if cached:
            if p.holds(o):
                p.hit(o)
            else:  # removed by libCacheSim, still resident in the loop: libCacheSim misses and re-inserts it
                departed_hits += 1
                departed_bytes += s
                departed.remove(o)
                p.insert(o)
            if driver != "libcachesim":
                departed += p.removed
            p.removed = []
            continue
        misses += 1
        miss_bytes += s
        if s > capacity or not p.can_insert(o):
            continue
        if driver == "libcachesim":
            while p.occupied() + s > capacity:
                p.evict()
            p.removed = []
            p.insert(o)
            continue
        while occupied + s > capacity:
            if not departed:
                p.evict()
                departed += p.removed
                p.removed = []
            v = departed.pop(0)
            resident.discard(v)
            occupied -= p.size[v]
        p.insert(o)
        resident.add(o)
        occupied += s
    return misses, miss_bytes, hits, departed_hits, departed_bytes


def test_sketch_hashes_are_libcachesims():
    # XXH64(&id, 8, seed) truncated to 32 bits, from libCacheSim's own xxhash.h compiled in C.
    a, b = sketch_hashes(np.array([0, 1, 3, 10, 12345678901234, 2**64 - 1], dtype=np.uint64))
    assert a.tolist() == [972412019, 2721530007, 1190369939, 913543580, 2784760750, 1830715049]
    assert b.tolist() == [3092930169, 3411563711, 3665574509, 4167526410, 2207530783, 2996653383]


def test_sketch_shape():
    # minimalIncrementCBF_init(entries, 0.001): 14.3776 counters per entry, 10 hashes, at least 2 * hashes.
    assert sketch_shape(202, 0.001) == (2905, 10)
    assert sketch_shape(1, 0.001) == (15, 10)
    assert sketch_shape(0, 0.001) == (20, 10)
    idx = sketch_counters(np.array([3], dtype=np.uint64), 2905, 10)
    a, b = 1190369939, 3665574509
    assert idx[0].tolist() == [((a + k * b) % 2**32) % 2905 for k in range(10)]


def libcachesim_counts(reqs, capacity, tmp_path) -> tuple[int, int]:
    """libCacheSim's (misses, missed bytes), from its ratios."""
    return oracle_counts(reqs, libcachesim().WTinyLFU, capacity, tmp_path)


@pytest.mark.parametrize("trace_name,size", [("cache2k_web07", "1%"), ("adapt_size", "0.1%"), ("adapt_size", "10%"),
                                             ("synthetic", "0.1%"), ("synthetic", "1%"), ("synthetic", "10%"),
                                             ("synthetic", 1_000_000)])
def test_twin_with_libcachesims_driver_is_libcachesim(trace_name, size, tmp_path):
    reqs = requests_for(trace_name)
    capacity = reqs.cache_bytes(size)
    assert run_twin(reqs, capacity, "libcachesim")[:2] == libcachesim_counts(reqs, capacity, tmp_path)


@pytest.mark.parametrize("capacity", [50, 5_000, 200_000, 3_000_000])
def test_kernel_equals_twin_with_the_holds_driver(capacity):
    reqs = synthetic(seed=capacity % 7)
    run = cdn.run(reqs, WTinyLFU(), capacity, keep_hits=True)
    misses, miss_bytes, hits, _, _ = run_twin(reqs, capacity, "holds")
    assert (run.misses, run.miss_bytes) == (misses, miss_bytes)
    assert run.hit.tolist() == hits


@pytest.mark.parametrize("share", ["0.1%", "10%"])
def test_kernel_equals_twin_with_the_holds_driver_on_adapt_size(share):
    reqs = trace("adapt_size")
    capacity = reqs.cache_bytes(share)
    assert cdn.run(reqs, WTinyLFU(), capacity, keep_hits=True).hit.tolist() == run_twin(reqs, capacity, "holds")[2]


@pytest.mark.parametrize("trace_name,size", [("adapt_size", "0.1%"), ("adapt_size", "10%"), ("synthetic", "1%"),
                                             ("synthetic", 1_000_000)])
def test_departed_requests_are_the_whole_difference(trace_name, size, tmp_path):
    # The loop's misses plus its requests for departed objects are libCacheSim's misses, in count and in bytes; and
    # with a hook asked before a hit ("does the policy still hold it?"), the loop would equal libCacheSim.
    reqs = requests_for(trace_name)
    capacity = reqs.cache_bytes(size)
    want = libcachesim_counts(reqs, capacity, tmp_path)
    misses, miss_bytes, _, departed, departed_bytes = run_twin(reqs, capacity, "loop")
    assert departed > 0
    assert (misses + departed, miss_bytes + departed_bytes) == want
    assert run_twin(reqs, capacity, "holds")[:2] == want


def test_pinned_miss_counts():
    # Pinned from libCacheSim 0.3.5 WTinyLFU on cache2k web07 (20,484 one-byte objects).
    reqs = trace("cache2k_web07")
    assert cdn.run(reqs, WTinyLFU(), "1%").misses == 46295
    assert cdn.run(reqs, WTinyLFU(), "10%").misses == 33580


CASES = [(name, share) for name in ("cache2k_web07", "adapt_size", "cloudphysics", "synthetic") for share in SHARES]
CASES += [("synthetic", size) for size in (50, 5_000, 50_000, 200_000, 1_000_000, 3_000_000)]


@pytest.mark.parametrize("trace_name,size", CASES)
def test_equals_libcachesim(trace_name, size, tmp_path):
    reqs = requests_for(trace_name)
    assert_equals_libcachesim(reqs, WTinyLFU(), "WTinyLFU", reqs.cache_bytes(size), tmp_path)


def test_scan_does_not_flush_the_hot_set():
    # 50 hot one-byte objects, each round requested once among 20 fresh fillers (so they reach main and are hit
    # there: window hits do not count in libCacheSim's sketch), then a scan of 2,000 one-hit wonders (10x the
    # cache), then the hot set again. Scan objects lose every duel against the hot set; LRU loses it to the scan.
    rng = np.random.default_rng(0)
    hot = np.arange(50, dtype=np.uint64)
    fillers = np.arange(10_000, 10_400, dtype=np.uint64).reshape(20, 20)
    warm = np.concatenate([np.concatenate([rng.permutation(hot), f]) for f in fillers])
    scan = np.arange(100_000, 102_000, dtype=np.uint64)
    ids = np.concatenate([warm, scan, hot])
    reqs = cdn.requests_from_arrays(None, ids, np.ones(len(ids), dtype=np.int64))
    tail = slice(len(ids) - 50, None)
    assert cdn.run(reqs, WTinyLFU(), 200, keep_hits=True).hit[tail].all()
    assert not cdn.run(reqs, "lru", 200, keep_hits=True).hit[tail].any()


def test_config_is_checked():
    with pytest.raises(ConfigError):
        WTinyLFU(window_size=1.0)
    with pytest.raises(ConfigError):
        WTinyLFU(probation_share=0.0)
    assert WTinyLFU().config == WTinyLFUConfig(window_size=0.01, probation_share=0.2, sketch_error=0.001)
    # A smaller sketch is a real option, not a no-op: it changes the estimates and so the misses.
    reqs = synthetic(sized=False, n_objects=5_000, seed=4)
    base = cdn.run(reqs, WTinyLFU(), 500).misses
    assert cdn.run(reqs, WTinyLFU(sketch_entries=3), 500).misses != base
    # So is aging: halving the counters 32 times as often (every main-size count of main hits).
    assert cdn.run(reqs, WTinyLFU(age_every=1), 500).misses != base
