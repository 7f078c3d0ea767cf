"""S3-FIFO: a small probationary FIFO, a main FIFO with 2-bit CLOCK re-insertion, and a ghost FIFO
(libCacheSim 0.3.5's ``S3FIFO``: the ``S3FIFO.c`` bundled in that wheel, which takes ``small-size-ratio`` and
has the "before the first eviction" rule below; older libCacheSim trees lack both).

libCacheSim's version, which this module reproduces:

- Sizes (bytes, truncated as C does): small ``= int(cache * small_size_ratio)``, main ``= cache - small``, ghost
  ``= int(cache * ghost_size_ratio)``. The ghost is a FIFO of object ids bounded in **bytes** (each entry counts
  its object's size; an entry larger than the ghost is not kept; ``ghost == 0`` means no ghost at all).
- Every hit, in small or main, adds 1 to the object's ``freq`` (uncapped while it sits there). This is S3FIFO's
  own counter, kept apart from the sub-queues' ``misc.freq``: an object moved from small to main starts at 0.
- A miss first removes the object from the ghost, remembering whether it was there. The cache's ``can_insert``
  refuses an object larger than the small queue (``size > small``). A ghost hit inserts at the head of **main**;
  otherwise an object with ``size >= small`` is not inserted (after the evictions made room for it), and the rest
  go to the head of **small** -- except before the very first eviction, when an object meeting a full small queue
  (``small bytes >= small``) goes to main. Every insertion starts at ``freq = 0``.
- Evicting one object: if main holds more than its share (``main bytes > main``) or small is empty, evict from main,
  else from small. From small: take the tail; ``freq >= move_to_main_threshold`` moves it to the head of main with
  ``freq = 0`` and the next tail is examined; otherwise it is evicted and its id enters the ghost. If small empties
  without an eviction, main evicts. From main: take the tail; ``freq >= 1`` re-inserts it at the head with
  ``freq = min(freq, 3) - 1``; the first tail with ``freq == 0`` is evicted.

Both of libCacheSim's refusals map onto the replay loop's hooks (:mod:`marquee.cdn.replay`): ``can_insert``
refuses ``size > small`` before anything is evicted, and an object with ``size >= small`` that is not a ghost hit
goes through the loop's evictions and then ``on_insert`` returns False (it is not resident and no queue counts its
bytes). The bare policy therefore equals libCacheSim's S3FIFO with no admission filter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from marquee.cdn.policy import EvictionPolicy, Hooks, register
from marquee.cdn.requests import Requests
from marquee.errors import ConfigError

__all__ = ["S3FIFO", "S3FIFOConfig"]

_NIL = -1
# The whole state is ONE int64 array ``m`` of shape (_H + n_objects, 5): the replay loop calls the hooks as
# compiled functions, and every array a hook binds costs two atomic reference-count updates per call (seven arrays
# made S3-FIFO 5x slower than one). Rows ``0.._H-1`` hold the scalars and the queue ends, row ``_H + o`` object o:
_PREV, _NEXT, _FREQ, _WHERE, _SIZE = range(5)
_H = 4
# scalar slots (row, column) in the header rows
_SMALL_BYTES, _MAIN_BYTES, _GHOST_BYTES, _SMALL_CAP, _MAIN_CAP = (0, 0), (0, 1), (0, 2), (0, 3), (0, 4)
_GHOST_CAP, _HAS_EVICTED, _GHOST_HIT, _THRESHOLD = (1, 0), (1, 1), (1, 2), (1, 3)
# queues: their head is m[2, q], their tail m[3, q]; _WHERE holds q + 1 (0: on none)
_SMALL, _MAIN, _GHOST = 0, 1, 2


@njit(inline="always")
def _push_head(m, q, o):
    r = _H + o
    head = m[2, q]
    m[r, _PREV] = _NIL
    m[r, _NEXT] = head
    if head != _NIL:
        m[_H + head, _PREV] = o
    else:
        m[3, q] = o
    m[2, q] = o
    m[r, _WHERE] = q + 1


@njit(inline="always")
def _unlink(m, q, o):
    r = _H + o
    p = m[r, _PREV]
    n = m[r, _NEXT]
    if p != _NIL:
        m[_H + p, _NEXT] = n
    else:
        m[2, q] = n
    if n != _NIL:
        m[_H + n, _PREV] = p
    else:
        m[3, q] = p
    m[r, _WHERE] = 0


@dataclass(frozen=True)
class S3FIFOConfig:
    """libCacheSim's parameters, same names and defaults (``small-size-ratio``, ``ghost-size-ratio``,
    ``move-to-main-threshold``)."""

    small_size_ratio: float = 0.1
    ghost_size_ratio: float = 0.9
    move_to_main_threshold: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.small_size_ratio <= 1.0:
            raise ConfigError(f"small_size_ratio {self.small_size_ratio} must be in [0, 1]")
        if self.ghost_size_ratio < 0.0:
            raise ConfigError(f"ghost_size_ratio {self.ghost_size_ratio} must be >= 0")
        if self.move_to_main_threshold < 0:
            raise ConfigError(f"move_to_main_threshold {self.move_to_main_threshold} must be >= 0")


def _sizes(config: S3FIFOConfig, capacity: int) -> tuple[int, int, int]:
    """(small, main, ghost) bytes as libCacheSim computes them (int64 * double, truncated)."""
    small = int(float(capacity) * config.small_size_ratio)
    ghost = int(float(capacity) * config.ghost_size_ratio)
    return small, capacity - small, ghost


@njit(inline="always")
def _on_hit(state, i, o):
    m = state[0]
    m[_H + o, _FREQ] += 1


@njit(inline="always")
def _on_miss(state, i, o):
    m = state[0]
    m[_GHOST_HIT] = 0
    if m[_H + o, _WHERE] == _GHOST + 1:
        _unlink(m, _GHOST, o)
        m[_GHOST_BYTES] -= m[_H + o, _SIZE]
        m[_GHOST_HIT] = 1


@njit(inline="always")
def _ghost_put(m, o):
    """The ghost FIFO's own get for a miss: make room (FIFO order) and insert, unless it can never fit."""
    s = m[_H + o, _SIZE]
    if s > m[_GHOST_CAP]:
        return
    while m[_GHOST_BYTES] + s > m[_GHOST_CAP]:
        g = m[3, _GHOST]
        _unlink(m, _GHOST, g)
        m[_GHOST_BYTES] -= m[_H + g, _SIZE]
    _push_head(m, _GHOST, o)
    m[_GHOST_BYTES] += s


@njit(inline="always")
def _victim(state, i, o):
    m = state[0]
    m[_HAS_EVICTED] = 1
    while True:
        if m[_MAIN_BYTES] > m[_MAIN_CAP] or m[_SMALL_BYTES] == 0:
            while True:
                t = m[3, _MAIN]
                f = m[_H + t, _FREQ]
                _unlink(m, _MAIN, t)
                if f >= 1:
                    _push_head(m, _MAIN, t)
                    m[_H + t, _FREQ] = min(f, 3) - 1
                else:
                    m[_MAIN_BYTES] -= m[_H + t, _SIZE]
                    return t
        while m[_SMALL_BYTES] > 0:
            t = m[3, _SMALL]
            s = m[_H + t, _SIZE]
            _unlink(m, _SMALL, t)
            m[_SMALL_BYTES] -= s
            if m[_H + t, _FREQ] >= m[_THRESHOLD]:
                _push_head(m, _MAIN, t)
                m[_H + t, _FREQ] = 0
                m[_MAIN_BYTES] += s
            else:
                if m[_GHOST_CAP] > 0:
                    _ghost_put(m, t)
                return t


@njit(inline="always")
def _can_insert(state, i, o, size):
    """libCacheSim's ``S3FIFO_can_insert``: refuse an object larger than the small queue, before any eviction."""
    m = state[0]
    return size <= m[_SMALL_CAP]


@njit(inline="always")
def _on_insert(state, i, o):
    m = state[0]
    s = m[_H + o, _SIZE]
    m[_H + o, _FREQ] = 0
    if m[_GHOST_HIT] != 0:
        m[_GHOST_HIT] = 0
        _push_head(m, _MAIN, o)
        m[_MAIN_BYTES] += s
    elif s >= m[_SMALL_CAP]:
        # libCacheSim's S3FIFO_insert returns NULL here, after cache_get_base's evictions made room: not inserted
        return False
    elif m[_HAS_EVICTED] == 0 and m[_SMALL_BYTES] >= m[_SMALL_CAP]:
        _push_head(m, _MAIN, o)
        m[_MAIN_BYTES] += s
    else:
        _push_head(m, _SMALL, o)
        m[_SMALL_BYTES] += s
    return True


@register
class S3FIFO(EvictionPolicy):
    """S3-FIFO: new objects pass a small FIFO; re-requested ones move to a CLOCK-like main FIFO; a ghost remembers
    recent small-queue evictions so their next miss goes straight to main."""

    Config = S3FIFOConfig
    name = "s3fifo"
    config: S3FIFOConfig

    def hooks(self, requests: Requests, capacity: int) -> Hooks:
        n = requests.n_objects
        m = np.zeros((_H + max(n, 1), 5), dtype=np.int64)
        m[2:4, :] = _NIL
        m[_H:, _PREV] = _NIL
        m[_H:, _NEXT] = _NIL
        m[_H:_H + n, _SIZE] = requests.object_size
        small, main, ghost = _sizes(self.config, capacity)
        m[_SMALL_CAP] = small
        m[_MAIN_CAP] = main
        m[_GHOST_CAP] = ghost
        m[_THRESHOLD] = self.config.move_to_main_threshold
        return Hooks((m,), _on_hit, _on_miss, _victim, _on_insert, _can_insert)
