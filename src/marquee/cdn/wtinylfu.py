"""W-TinyLFU: a window LRU in front of a segmented-LRU main cache, with a count-min sketch deciding who stays
(libCacheSim's ``WTinyLFU``, default ``main-cache=SLRU, window-size=0.01``).

Definitions (libCacheSim 0.3.5, ``cache/eviction/WTinyLFU.c``, ``SLRU.c``, ``dataStructure/minimalIncrementCBF.c``),
with ``C`` the cache size in bytes:

- **Sizes.** The window is an LRU of nominal size ``W = int(C * window_size)`` bytes, the main cache an SLRU of
  ``M = C - W`` bytes in two segments, probation ``int(0.2 * M)`` and protected ``int(0.8 * M)`` (libCacheSim's
  ``seg-size=1:4``). An object larger than ``W`` or than probation is never cached (libCacheSim's ``can_insert``).
  New objects always enter the window and evictions drain it into main, so once main is full the window holds
  about ``W`` bytes (libCacheSim never trims the window to ``W`` by itself).
- **Sketch.** A counting Bloom filter (count-min sketch) sized for ``M`` entries at error 0.001: 14.38 counters per
  entry, 10 hash functions ``(a + k*b) mod counters`` with ``a``, ``b`` the low 32 bits of XXH64 of the 8-byte
  object id under libCacheSim's seeds, so the counters are the very ones libCacheSim keeps. ``add`` increments all
  ten counters, ``estimate`` is their minimum. Aging: after every ``32 * M`` hits in the main cache all counters are
  halved. libCacheSim has no doorkeeper (a TODO in its source), so neither has this.
- **Hit.** In the window: move to the window's head (the sketch is not touched). In main: SLRU promotion (probation
  -> protected head; protected overflow cools its tail back to probation's head; probation overflow evicts its
  tail), then ``add`` to the sketch and count the main hit towards aging.
- **Insert.** At the window's head, and ``add`` to the sketch.
- **Evict** (one libCacheSim ``evict`` call): while main has room for the window's LRU tail ``w``, ``w`` moves into
  main; then, if the window still holds anything, its tail ``w`` duels main's victim ``m`` (probation's tail, else
  protected's): if ``estimate(w) > estimate(m)``, ``m`` leaves and ``w`` enters main, else ``w`` leaves. Each
  ``w`` that moved or duelled is added to the sketch once more. With the window empty, main's victim leaves. An
  object entering main goes to the first segment with room (probation, else protected), else main evicts until it
  fits and it goes to probation.

How this maps onto the replay loop. The size rule is the policy's ``can_insert``: an object larger than the window
or than probation is refused before anything is evicted, as libCacheSim does. A libCacheSim ``evict`` call, an SLRU
promotion on a hit, and an SLRU insertion can each remove several objects, while the loop's ``victim`` hook returns
one. Objects libCacheSim has removed but the loop has not yet been told about wait on a *departed* queue; every
``victim`` call hands back a departed object first (oldest first) and runs a new libCacheSim ``evict`` only when none
waits. The loop's occupied bytes are libCacheSim's plus the departed bytes, so the loop runs a libCacheSim ``evict``
exactly when libCacheSim does, and the window, segments and sketch evolve as libCacheSim's do, request for request.

A request for a departed object (removed by libCacheSim, still resident in the loop) is answered by the policy's
``holds`` hook: the object is unlinked, the loop frees its bytes and the request takes the miss path, as in
libCacheSim. With that, the miss counts and missed bytes equal libCacheSim's on every trace and size tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from marquee.cdn.policy import EvictionPolicy, Hooks, noop, register
from marquee.cdn.requests import Requests
from marquee.errors import ConfigError

__all__ = ["WTinyLFU", "WTinyLFUConfig", "sketch_counters", "sketch_hashes", "sketch_shape"]

# The queues. Per object, one row of ``lk``: previous and next on its queue, which queue holds it (-1: none), size.
_WINDOW, _PROBATION, _PROTECTED, _DEPARTED = 0, 1, 2, 3
_PREV, _NEXT, _WHERE, _SIZE = 0, 1, 2, 3
# ``ctl``: queue q's head at [q], tail at [_TAIL + q], bytes at [_BYTES + q]; then the parameters and the hit count.
_TAIL, _BYTES = 4, 8
_W, _M, _PROB_MAX, _PROT_MAX, _AGE_EVERY, _MAIN_HITS = 12, 13, 14, 15, 16, 17
_NIL = -1

_SEED0 = 0x12345678  # libCacheSim's HASH_SEED0 / HASH_SEED1 (dataStructure/hash/hash.h)
_SEED1 = 0x12344321
_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)


@dataclass(frozen=True)
class WTinyLFUConfig:
    """libCacheSim's defaults: a 1% window, main split 1:4 (probation:protected), a sketch for ``main bytes``
    entries at error 0.001, aging every ``32 * main bytes`` main hits."""

    window_size: float = 0.01
    probation_share: float = 0.2
    sketch_error: float = 0.001
    age_every: int = 32
    sketch_entries: int = 0
    """Entries the sketch is sized for; 0 (libCacheSim) means the main cache's size in bytes, which on a byte-sized
    cache costs 57.5 bytes of sketch per cache byte (sparsely touched); set it near the object count to shrink it."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.window_size < 1.0:
            raise ConfigError(f"wtinylfu window_size must be in [0, 1), not {self.window_size}")
        if not 0.0 < self.probation_share < 1.0:
            raise ConfigError(f"wtinylfu probation_share must be in (0, 1), not {self.probation_share}")
        if not 0.0 < self.sketch_error < 1.0:
            raise ConfigError(f"wtinylfu sketch_error must be in (0, 1), not {self.sketch_error}")
        if self.sketch_entries < 0:
            raise ConfigError(f"wtinylfu sketch_entries must be 0 (the main cache's bytes) or more, not "
                              f"{self.sketch_entries}")
        if self.age_every < 1:
            raise ConfigError(f"wtinylfu age_every must be at least 1, not {self.age_every}")


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _xxh64_u64(keys: np.ndarray, seed: int) -> np.ndarray:
    """XXH64 of each 8-byte little-endian key (the whole algorithm for an 8-byte input)."""
    k = np.asarray(keys, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = np.full(k.shape, np.uint64(seed) + _P5 + np.uint64(8), dtype=np.uint64)
        h ^= _rotl(k * _P2, 31) * _P1
        h = _rotl(h, 27) * _P1 + _P4
        h ^= h >> np.uint64(33)
        h *= _P2
        h ^= h >> np.uint64(29)
        h *= _P3
        h ^= h >> np.uint64(32)
    return h


def sketch_hashes(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """libCacheSim's two sketch hashes of each object id: the low 32 bits of XXH64 under seeds 0 and 1."""
    mask = np.uint64(0xFFFFFFFF)
    a = (_xxh64_u64(ids, _SEED0) & mask).astype(np.int64)
    b = (_xxh64_u64(ids, _SEED1) & mask).astype(np.int64)
    return a, b


def sketch_counters(ids: np.ndarray, counters: int, hashes: int) -> np.ndarray:
    """``(n_objects, hashes)`` int32: the sketch counters of each object, ``(a + k*b) mod counters`` in uint32
    arithmetic as libCacheSim's ``minimalIncrementCBF`` computes them (precomputed: no modulo per request)."""
    a, b = sketch_hashes(ids)
    k = np.arange(hashes, dtype=np.int64)
    return (((a[:, None] + k[None, :] * b[:, None]) & 0xFFFFFFFF) % counters).astype(np.int32)


def sketch_shape(entries: int, error: float) -> tuple[int, int]:
    """(counters, hash functions) of libCacheSim's ``minimalIncrementCBF_init(entries, error)``."""
    bpe = -math.log(error) / 0.480453013918201
    hashes = math.ceil(0.693147180559945 * bpe)
    counters = int(min(math.ceil(bpe * entries), 2**31 - 1))
    if counters < hashes:
        counters = 2 * hashes
    return counters, hashes


@njit(inline="always")
def _estimate(cbf, idx, o):
    best = np.uint32(0xFFFFFFFF)
    for k in range(idx.shape[1]):
        best = min(best, cbf[idx[o, k]])
    return best


@njit(inline="always")
def _add(cbf, idx, o):
    # libCacheSim adds only while the minimum is below UINT_MAX; the last counter is 1 when that is possible at all
    # (a trace long enough to add 2**32 - 1 times), else the check is skipped.
    if cbf[cbf.shape[0] - 1] == 0 or _estimate(cbf, idx, o) < np.uint32(0xFFFFFFFF):
        for k in range(idx.shape[1]):
            cbf[idx[o, k]] += np.uint32(1)


# Queue operations over the two arrays (few array arguments keep numba's reference counting off the hot path).
@njit(inline="always")
def _push(lk, ctl, q, o):
    """Put ``o`` at the head of queue ``q``."""
    h = ctl[q]
    lk[o, _PREV] = _NIL
    lk[o, _NEXT] = h
    if h != _NIL:
        lk[h, _PREV] = o
    else:
        ctl[_TAIL + q] = o
    ctl[q] = o
    lk[o, _WHERE] = q
    ctl[_BYTES + q] += lk[o, _SIZE]


@njit(inline="always")
def _unlink(lk, ctl, o):
    """Take ``o`` off whichever queue holds it."""
    q = lk[o, _WHERE]
    p = lk[o, _PREV]
    n = lk[o, _NEXT]
    if p != _NIL:
        lk[p, _NEXT] = n
    else:
        ctl[q] = n
    if n != _NIL:
        lk[n, _PREV] = p
    else:
        ctl[_TAIL + q] = p
    ctl[_BYTES + q] -= lk[o, _SIZE]
    lk[o, _WHERE] = _NIL


@njit(inline="always")
def _move(lk, ctl, o, q):
    _unlink(lk, ctl, o)
    _push(lk, ctl, q, o)


@njit(inline="always")
def _main_evict(lk, ctl):
    """SLRU_evict: probation's tail, else protected's, departs (libCacheSim has evicted it)."""
    v = ctl[_TAIL + _PROBATION] if ctl[_BYTES + _PROBATION] > 0 else ctl[_TAIL + _PROTECTED]
    _move(lk, ctl, v, _DEPARTED)


@njit(inline="always")
def _main_insert(lk, ctl, o):
    """SLRU_insert of ``o`` (moved from the window): the first segment with room, else evict until main fits and
    take probation."""
    s = lk[o, _SIZE]
    if ctl[_BYTES + _PROBATION] + s <= ctl[_PROB_MAX]:
        seg = _PROBATION
    elif ctl[_BYTES + _PROTECTED] + s <= ctl[_PROT_MAX]:
        seg = _PROTECTED
    else:
        while ctl[_BYTES + _PROBATION] + ctl[_BYTES + _PROTECTED] + s > ctl[_M]:
            _main_evict(lk, ctl)
        seg = _PROBATION
    _move(lk, ctl, o, seg)


@njit(inline="always")
def _on_hit(state, i, o):
    lk, ctl, idx, cbf = state
    q = lk[o, _WHERE]
    if q == _WINDOW:
        if ctl[_WINDOW] != o:
            _move(lk, ctl, o, _WINDOW)
    elif q == _PROTECTED:
        if ctl[_PROTECTED] != o:
            _move(lk, ctl, o, _PROTECTED)
        _main_hit_count(lk, ctl, idx, cbf, o)
    elif q == _PROBATION:
        # SLRU promotion: to protected's head; protected's overflow cools into probation, probation's departs.
        _move(lk, ctl, o, _PROTECTED)
        while lk[o, _WHERE] == _PROTECTED and ctl[_BYTES + _PROTECTED] > ctl[_PROT_MAX]:
            _move(lk, ctl, ctl[_TAIL + _PROTECTED], _PROBATION)
            while ctl[_BYTES + _PROBATION] > ctl[_PROB_MAX]:
                _main_evict(lk, ctl)
        _main_hit_count(lk, ctl, idx, cbf, o)
    else:
        # Departed: never reached through the replay loop, whose ``holds`` turns such a request into a miss first;
        # a caller driving the hooks without ``holds`` gets libCacheSim's re-insertion at the window's head.
        _move(lk, ctl, o, _WINDOW)
        _add(cbf, idx, o)


@njit(inline="always")
def _main_hit_count(lk, ctl, idx, cbf, o):
    _add(cbf, idx, o)
    h = ctl[_MAIN_HITS] + 1
    if h >= ctl[_AGE_EVERY]:
        h = 0
        for x in range(cbf.shape[0] - 1):
            cbf[x] = cbf[x] >> np.uint32(1)
    ctl[_MAIN_HITS] = h


@njit(inline="always")
def _victim(state, i, o):
    lk, ctl, idx, cbf = state
    if ctl[_TAIL + _DEPARTED] == _NIL:
        # One libCacheSim WTinyLFU_evict call: window tails move into main while it has room, then one duel.
        while ctl[_BYTES + _WINDOW] > 0:
            w = ctl[_TAIL + _WINDOW]
            if ctl[_BYTES + _PROBATION] + ctl[_BYTES + _PROTECTED] + lk[w, _SIZE] > ctl[_M]:
                break
            _main_insert(lk, ctl, w)
            _add(cbf, idx, w)
        if ctl[_BYTES + _WINDOW] > 0:
            w = ctl[_TAIL + _WINDOW]
            m = ctl[_TAIL + _PROBATION] if ctl[_BYTES + _PROBATION] > 0 else ctl[_TAIL + _PROTECTED]
            if _estimate(cbf, idx, w) > _estimate(cbf, idx, m):
                _main_evict(lk, ctl)
                _main_insert(lk, ctl, w)
            else:
                _move(lk, ctl, w, _DEPARTED)
            _add(cbf, idx, w)
        else:
            _main_evict(lk, ctl)
    v = ctl[_TAIL + _DEPARTED]
    _unlink(lk, ctl, v)
    return v


@njit(inline="always")
def _holds(state, i, o):
    """libCacheSim has already evicted a departed object (on an SLRU promotion, or as one of several objects in one
    eviction): the loop frees it and the request misses."""
    lk, ctl = state[0], state[1]
    if lk[o, _WHERE] == _DEPARTED:
        _unlink(lk, ctl, o)
        return False
    return True


@njit(inline="always")
def _can_insert(state, i, o, size):
    """libCacheSim's WTinyLFU_can_insert: no larger than the window, nor than probation (SLRU_can_insert)."""
    s = state[0][o, _SIZE]
    ctl = state[1]
    return s <= ctl[_W] and s <= ctl[_PROB_MAX]


@njit(inline="always")
def _on_insert(state, i, o):
    lk, ctl, idx, cbf = state
    _push(lk, ctl, _WINDOW, o)
    _add(cbf, idx, o)
    return True


@register
class WTinyLFU(EvictionPolicy):
    """Window LRU + SLRU main + count-min sketch admission duel, as libCacheSim 0.3.5 (see the module docstring)."""

    Config = WTinyLFUConfig
    name = "wtinylfu"

    def hooks(self, requests: Requests, capacity: int) -> Hooks:
        cfg = self.config
        window = int(capacity * cfg.window_size)
        main = int(capacity) - window
        counters, hashes = sketch_shape(cfg.sketch_entries or main, cfg.sketch_error)
        n = max(requests.n_objects, 1)
        lk = np.full((n, 4), _NIL, dtype=np.int64)
        lk[:, _SIZE] = requests.object_size if requests.n_objects else 0
        ctl = np.full(18, _NIL, dtype=np.int64)
        ctl[_BYTES:_BYTES + 4] = 0
        ctl[_W] = window
        ctl[_M] = main
        ctl[_PROB_MAX] = int(cfg.probation_share * main)
        ctl[_PROT_MAX] = int((1.0 - cfg.probation_share) * main)
        ctl[_AGE_EVERY] = cfg.age_every * main
        ctl[_MAIN_HITS] = 0
        idx = sketch_counters(requests.ids, counters, hashes) if requests.n_objects else np.zeros((1, hashes), np.int32)
        # Only counters some object of this trace hashes to can ever be non-zero, so keep just those, renumbered
        # densely (the same counters shared the same way: estimates unchanged; on a byte-sized cache libCacheSim's
        # sketch is 57.5 bytes per cache byte, mostly never touched).
        used, dense = np.unique(idx, return_inverse=True)
        idx = dense.reshape(idx.shape).astype(np.int32)
        cbf = np.zeros(max(len(used), 1) + 1, dtype=np.uint32)  # the sketch, and a flag no object hashes to
        # Each request adds to the sketch at most three times (insert, a move into main, a duel) plus once per main
        # hit; below 2**32 - 1 adds in all no counter can saturate and the flag stays 0.
        cbf[-1] = 1 if 4 * len(requests) >= 0xFFFFFFFF else 0
        state = (lk, ctl, idx, cbf)
        return Hooks(state, _on_hit, noop, _victim, _on_insert, _can_insert, _holds)
