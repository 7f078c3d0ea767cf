"""W-TinyLFU: libCacheSim's definition in plain Python equals libCacheSim to the request; the kernel equals that
twin driven as the replay loop drives it, and equals libCacheSim itself on equal-size objects.

The replay loop's ``victim`` returns one object per call and inserts every admitted object that fits, while
libCacheSim's WTinyLFU may evict several objects in one call (and on an SLRU hit), and refuses objects larger than
its window. The twin below has both drivers: ``driver="libcachesim"`` (libCacheSim's ``cache_get_base``) and
``driver="loop"`` (the replay loop, removed objects handed back one victim call at a time). The first equals
libCacheSim, the second the kernel; what is left between them is the tolerance stated below.
"""

from collections import OrderedDict

import numpy as np
import pytest

from marquee import cdn
from marquee.cdn.wtinylfu import WTinyLFU, WTinyLFUConfig, sketch_counters, sketch_hashes, sketch_shape
from marquee.errors import ConfigError
from tests.cdn.oracle import libcachesim, oracle, synthetic, trace


class Twin:
    """libCacheSim 0.3.5 WTinyLFU (window LRU, SLRU 1:4 main, minimal-increment CBF) in plain Python."""

    def __init__(self, requests, capacity: int, window_size: float = 0.01) -> None:
        self.w_cap = int(capacity * window_size)
        self.m_cap = capacity - self.w_cap
        self.prob_max = int(0.2 * self.m_cap)
        self.prot_max = int(0.8 * self.m_cap)
        counters, hashes = sketch_shape(self.m_cap, 0.001)
        self.idx = sketch_counters(requests.ids, counters, hashes).tolist()
        self.cbf = np.zeros(counters, dtype=np.int64)
        self.age_every = 32 * self.m_cap
        self.main_hits = 0
        self.size = requests.object_size.tolist()
        self.window: OrderedDict[int, None] = OrderedDict()  # first = LRU tail
        self.prob: OrderedDict[int, None] = OrderedDict()
        self.prot: OrderedDict[int, None] = OrderedDict()
        self.removed: list[int] = []

    def nbytes(self, q) -> int:
        return sum(self.size[o] for o in q)

    def estimate(self, o) -> int:
        return int(self.cbf[self.idx[o]].min())

    def add(self, o) -> None:
        for x in self.idx[o]:
            self.cbf[x] += 1

    def holds(self, o) -> bool:
        return o in self.window or o in self.prob or o in self.prot

    def main_victim(self) -> int:
        return next(iter(self.prob)) if self.nbytes(self.prob) > 0 else next(iter(self.prot))

    def main_evict(self) -> None:
        v = self.main_victim()
        (self.prob if v in self.prob else self.prot).pop(v)
        self.removed.append(v)

    def main_insert(self, o) -> None:
        s = self.size[o]
        if self.nbytes(self.prob) + s <= self.prob_max:
            self.prob[o] = None
        elif self.nbytes(self.prot) + s <= self.prot_max:
            self.prot[o] = None
        else:
            while self.nbytes(self.prob) + self.nbytes(self.prot) + s > self.m_cap:
                self.main_evict()
            self.prob[o] = None

    def hit(self, o) -> None:
        if o in self.window:
            self.window.move_to_end(o)
            return
        if o in self.prot:
            self.prot.move_to_end(o)
        else:
            del self.prob[o]
            self.prot[o] = None
            while o in self.prot and self.nbytes(self.prot) > self.prot_max:
                self.prob[self.prot.popitem(last=False)[0]] = None
                while self.nbytes(self.prob) > self.prob_max:
                    self.main_evict()
        self.add(o)
        self.main_hits += 1
        if self.main_hits >= self.age_every:
            self.main_hits = 0
            self.cbf >>= 1

    def can_insert(self, o) -> bool:
        return self.size[o] <= self.w_cap and self.size[o] <= self.prob_max

    def insert(self, o) -> None:
        self.window[o] = None
        self.add(o)

    def evict(self) -> None:
        while self.window:
            w = next(iter(self.window))
            if self.nbytes(self.prob) + self.nbytes(self.prot) + self.size[w] <= self.m_cap:
                del self.window[w]
                self.main_insert(w)
                self.add(w)
                continue
            if self.estimate(w) > self.estimate(self.main_victim()):
                self.main_evict()
                del self.window[w]
                self.main_insert(w)
            else:
                del self.window[w]
                self.removed.append(w)
            self.add(w)
            return
        self.main_evict()

    def occupied(self) -> int:
        return self.nbytes(self.window) + self.nbytes(self.prob) + self.nbytes(self.prot)


def run_twin(requests, capacity: int, driver: str) -> tuple[int, list[bool]]:
    p = Twin(requests, capacity)
    misses = 0
    hits: list[bool] = []
    resident: set[int] = set()  # the loop's view
    departed: list[int] = []
    occupied = 0
    for o in requests.obj.tolist():
        s = p.size[o]
        cached = p.holds(o) if driver == "libcachesim" else o in resident
        hits.append(cached)
        if cached:
            if p.holds(o):
                p.hit(o)
            elif p.can_insert(o):  # removed by libCacheSim, still resident in the loop
                departed.remove(o)
                p.insert(o)
            departed += p.removed
            p.removed = []
            continue
        misses += 1
        if s > capacity:
            continue
        if driver == "libcachesim":
            if p.can_insert(o):
                while p.occupied() + s > capacity:
                    p.evict()
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
        if p.can_insert(o):
            p.insert(o)
        else:
            departed.append(o)
        resident.add(o)
        occupied += s
    return misses, hits


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


@pytest.mark.parametrize("trace_name,share", [("cache2k_web07", "1%"), ("synthetic", "0.1%"), ("synthetic", "1%"),
                                              ("synthetic", "10%")])
def test_twin_with_libcachesims_driver_is_libcachesim(trace_name, share, tmp_path):
    lcs = libcachesim()
    reqs = synthetic() if trace_name == "synthetic" else trace(trace_name)
    capacity = reqs.cache_bytes(share)
    miss, _ = oracle(reqs, lcs.WTinyLFU, capacity, tmp_path)
    assert run_twin(reqs, capacity, "libcachesim")[0] == round(miss * len(reqs))


@pytest.mark.parametrize("capacity", [50, 5_000, 200_000, 3_000_000])
def test_kernel_equals_twin_with_the_loops_driver(capacity):
    reqs = synthetic(seed=capacity % 7)
    run = cdn.run(reqs, WTinyLFU(), capacity, keep_hits=True)
    misses, hits = run_twin(reqs, capacity, "loop")
    assert run.misses == misses
    assert run.hit.tolist() == hits


@pytest.mark.parametrize("share", ["1%", "10%"])
def test_equal_to_libcachesim_on_equal_sizes(share, tmp_path):
    lcs = libcachesim()
    reqs = trace("cache2k_web07")
    capacity = reqs.cache_bytes(share)
    run = cdn.run(reqs, WTinyLFU(), capacity)
    miss, byte_miss = oracle(reqs, lcs.WTinyLFU, capacity, tmp_path)
    assert run.miss_ratio == pytest.approx(miss, abs=1e-12)
    assert run.byte_miss_ratio == pytest.approx(byte_miss, abs=1e-12)


def test_pinned_miss_counts():
    # Pinned from libCacheSim 0.3.5 WTinyLFU on cache2k web07 (20,484 one-byte objects).
    reqs = trace("cache2k_web07")
    assert cdn.run(reqs, WTinyLFU(), "1%").misses == 46295
    assert cdn.run(reqs, WTinyLFU(), "10%").misses == 33580


# (|miss ratio - libCacheSim's|, |byte miss ratio - libCacheSim's|) allowed where sizes vary: the loop caches
# objects libCacheSim refuses (larger than the 1% window), making room for them first. Measured (miss, byte miss):
# adapt_size +0.0128 / -0.0702 at 1%, +0.0001 / -0.0139 at 10%; synthetic +0.0430 / -0.0683 at 1%, +0.0479 /
# +0.0038 at 10%.
TOLERANCE = {("adapt_size", "1%"): (0.015, 0.075), ("adapt_size", "10%"): (0.002, 0.016),
             ("synthetic", "1%"): (0.05, 0.075), ("synthetic", "10%"): (0.055, 0.006)}


@pytest.mark.parametrize("trace_name,share", list(TOLERANCE))
def test_close_to_libcachesim_on_variable_sizes(trace_name, share, tmp_path):
    lcs = libcachesim()
    reqs = synthetic() if trace_name == "synthetic" else trace(trace_name)
    capacity = reqs.cache_bytes(share)
    run = cdn.run(reqs, WTinyLFU(), capacity)
    miss, byte_miss = oracle(reqs, lcs.WTinyLFU, capacity, tmp_path)
    tol, byte_tol = TOLERANCE[trace_name, share]
    assert abs(run.miss_ratio - miss) <= tol
    assert abs(run.byte_miss_ratio - byte_miss) <= byte_tol


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
