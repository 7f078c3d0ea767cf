"""GDSF, Greedy-Dual-Size-Frequency: evict the object of lowest priority (libCacheSim's ``GDSF``).

Definition (libCacheSim 0.3.5, ``cache/eviction/cpp/GDSF.cpp``), with ``L`` the clock, the priority of the last
evicted object (0 at the start):

- insert: ``freq = 1``, ``priority = L + 1e6 / size``;
- hit: ``freq += 1``, ``priority = L + freq * 1e6 / size`` (``L`` as it is now, so a hit also ages the object in);
- evict: the object of lowest priority leaves and ``L`` becomes its priority (clock inflation). Ties go to the
  object whose priority was set earliest (libCacheSim orders equal priorities by the request that set them).

The ``1e6`` is libCacheSim's scale factor; priorities are float64 computed in libCacheSim's order
(``L + (freq * 1e6) / size``). The queue is an indexed binary min-heap over dense objects keyed on (priority,
request that set it).

Order (libCacheSim 0.3.5's ``GDSF_get``): a missed object is inserted first and the lowest priority is then evicted
until the cache fits, so an incoming object whose priority is below everything it would displace evicts the objects
below it and then itself: it is not cached, and ``L`` becomes its priority. In the replay loop this is
``can_insert`` computing the incoming object's priority once (``L`` as it is before any eviction of this request),
and ``victim`` answering ``-1`` (the incoming object loses) when that priority is strictly below the heap's minimum
(an equal priority loses to the incoming object's request being the latest, so the resident object goes first);
``L`` then becomes the incoming object's priority. With this the miss counts equal libCacheSim's to the request on
every trace the tests replay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from marquee.cdn.policy import EvictionPolicy, Hooks, noop, register
from marquee.cdn.requests import Requests

__all__ = ["GDSF", "GDSFConfig"]


@dataclass(frozen=True)
class GDSFConfig:
    """``scale`` multiplies ``freq / size`` in the priority (libCacheSim hard-codes 1e6)."""

    scale: float = 1.0e6


# ``hp`` (n + 1, 2) int64: column 0 the heap (slot -> object), column 1 each object's slot; ``hp[n, 0]`` the heap's
# size. ``ob`` (n, 4) float64 per object: priority, the request that set it, freq, size. Few array arguments keep
# numba's reference counting off the hot path.
_PRI, _SET, _FREQ, _SIZE = 0, 1, 2, 3


@njit(inline="always")
def _sift_up(hp, ob, k):
    o = hp[k, 0]
    po = ob[o, _PRI]
    so = ob[o, _SET]
    while k > 0:
        parent = (k - 1) >> 1
        p = hp[parent, 0]
        pp = ob[p, _PRI]
        if po > pp or (po == pp and so > ob[p, _SET]):
            break
        hp[k, 0] = p
        hp[p, 1] = k
        k = parent
    hp[k, 0] = o
    hp[o, 1] = k


@njit(inline="always")
def _sift_down(hp, ob, k, n):
    o = hp[k, 0]
    po = ob[o, _PRI]
    so = ob[o, _SET]
    while True:
        c = 2 * k + 1
        if c >= n:
            break
        child = hp[c, 0]
        pc = ob[child, _PRI]
        if c + 1 < n:
            right = hp[c + 1, 0]
            pr = ob[right, _PRI]
            if pr < pc or (pr == pc and ob[right, _SET] < ob[child, _SET]):
                c += 1
                child = right
                pc = pr
        if pc > po or (pc == po and ob[child, _SET] > so):
            break
        hp[k, 0] = child
        hp[child, 1] = k
        k = c
    hp[k, 0] = o
    hp[o, 1] = k


@njit(inline="always")
def _priority(clock, f, scale, size):
    if size == 0.0:
        return np.inf  # libCacheSim divides by a zero size and gets +inf
    return clock + f * scale / size


@njit(inline="always")
def _on_hit(state, i, o):
    hp, ob, meta = state
    f = ob[o, _FREQ] + 1.0
    ob[o, _FREQ] = f
    ob[o, _PRI] = _priority(meta[0], f, meta[1], ob[o, _SIZE])
    ob[o, _SET] = i
    # The new key is never below the old one (the clock and freq only grow), so the object sinks.
    _sift_down(hp, ob, hp[o, 1], hp[hp.shape[0] - 1, 0])


@njit(inline="always")
def _can_insert(state, i, o, size):
    # The incoming object's priority, fixed before this request evicts anything (libCacheSim inserts it first).
    ob, meta = state[1], state[2]
    meta[2] = _priority(meta[0], 1.0, meta[1], ob[o, _SIZE])
    return True


@njit(inline="always")
def _victim(state, i, o):
    hp, ob, meta = state
    last = hp.shape[0] - 1
    v = hp[0, 0]
    if meta[2] < ob[v, _PRI]:
        # The incoming object is the lowest: libCacheSim evicts it (it was inserted last, so it wins no tie).
        meta[0] = meta[2]
        return -1
    meta[0] = ob[v, _PRI]
    n = hp[last, 0] - 1
    hp[last, 0] = n
    if n > 0:
        hp[0, 0] = hp[n, 0]
        _sift_down(hp, ob, 0, n)
    return v


@njit(inline="always")
def _on_insert(state, i, o):
    hp, ob, meta = state
    ob[o, _FREQ] = 1.0
    ob[o, _PRI] = meta[2]
    ob[o, _SET] = i
    last = hp.shape[0] - 1
    n = hp[last, 0]
    hp[n, 0] = o
    hp[last, 0] = n + 1
    _sift_up(hp, ob, n)
    return True


@register
class GDSF(EvictionPolicy):
    """Greedy-Dual-Size-Frequency: priority ``L + freq * 1e6 / size``; evict the lowest; ``L`` = evicted priority."""

    Config = GDSFConfig
    name = "gdsf"

    def hooks(self, requests: Requests, capacity: int) -> Hooks:
        n = max(requests.n_objects, 1)
        hp = np.zeros((n + 1, 2), dtype=np.int64)
        ob = np.zeros((n, 4), dtype=np.float64)
        if requests.n_objects:
            ob[:, _SIZE] = requests.object_size
        meta = np.array([0.0, self.config.scale, 0.0])  # the clock L, the scale, the incoming object's priority
        return Hooks((hp, ob, meta), _on_hit, noop, _victim, _on_insert, _can_insert)
