"""ARC: adaptive replacement cache, as libCacheSim 0.3.5's ``ARC`` runs it (byte-sized, variable object sizes).

Four LRU lists: T1 (seen once recently), T2 (seen at least twice), and their ghosts B1 and B2 (ids only, no bytes
in the cache). A hit in T1 moves the object to T2's head, a hit in T2 to T2's head. The target size ``p`` of T1
adapts on ghost hits. What libCacheSim does, and this module copies, where the paper (Megiddo & Modha, FAST'03)
counts pages:

- Every list size, the target ``p`` and the ghost budget are in **bytes**; ``p`` is a float (a ``double``).
- A ghost hit happens in ``find`` (``on_miss`` here), on every miss, before the size check: in B1,
  ``p = min(p + max(|B2| / |B1|, 1), capacity)``; in B2, ``p = max(p - max(|B1| / |B2|, 1), 0)`` (sizes in
  bytes, taken before the object leaves its ghost list); the object leaves the ghost list either way. If it is then
  inserted (on the same request) it goes to T2's head and evictions use REPLACE alone; otherwise a new object goes
  to T1's head.
- REPLACE evicts T1's tail to B1's head when ``T1 > 0`` and (``T1 > p``, or ``T1 == p`` and the *flag* "the
  current object was in B2" is set), or when T2 is empty; otherwise T2's tail to B2's head. That flag is cleared
  only when ``find`` meets the object (a hit, a ghost hit) or after a ghost-hit insert, so after a ghost hit whose
  object is then not inserted it stays set through later plain misses, as in libCacheSim (without an admission
  filter this cannot happen: an object on a ghost list was cached once, so it fits).
- On a miss in all four lists (the paper's case IV), per eviction: if ``T1 + B1 + incoming size > capacity``, then
  with B1 non-empty drop B1's tail and REPLACE, else drop T1's tail outright (no ghost); otherwise, if
  ``T1 + B1 + T2 + B2 >= 2 * capacity`` and B2 is non-empty, drop B2's tail, then REPLACE. Ghost lists are trimmed
  only there (one entry per eviction), never on a ghost hit.

Against the paper: sizes in bytes; REPLACE also takes T1 when T2 is empty (with variable sizes T2 may be empty
while bytes are still needed); case IV-A tests "B1 non-empty" where the paper tests ``|T1| < c``; case IV-B trims
B2 at ``>= 2c`` where the paper has ``== 2c``; REPLACE runs once per eviction until the object fits, not once.

Layout: all integer state is one int64 array (see :func:`_layout`) and ``p`` a one-element float64 array, not a
tuple of arrays per purpose: numba increments and decrements a reference count (an atomic operation) for every
array a hook takes out of the state tuple, on every call, and with eight arrays that was most of the time per
request. The four lists are :mod:`marquee.cdn.dlist`'s primitives over offsets into that array (insert at the head,
evict from the tail), plus each list's bytes and each object's list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from marquee.cdn import dlist
from marquee.cdn.policy import EvictionPolicy, Hooks, register
from marquee.cdn.requests import Requests

__all__ = ["ARC", "ARCConfig"]

NIL = -1
# Lists, and where an object is: m[_WHERE + o] = list + 1 (0: in none of them).
_T1, _T2, _B1, _B2 = 0, 1, 2, 3
# Header slots of the int64 state array.
_N, _CAP, _IN_B1, _IN_B2, _GHOST_AT = 0, 1, 2, 3, 4
_SIZE = 5  # bytes on list k: m[_SIZE + k]
_ENDS = 9  # list k: head m[_ENDS + 2k], tail m[_ENDS + 2k + 1]
_HEADER = 17  # then per object: prev | next | where | size


@dataclass(frozen=True)
class ARCConfig:
    pass


def _layout(object_size: np.ndarray, capacity: int) -> np.ndarray:
    n = max(int(object_size.shape[0]), 1)
    m = np.full(_HEADER + 4 * n, NIL, dtype=np.int64)
    m[_N] = n
    m[_CAP] = capacity
    m[_IN_B1] = m[_IN_B2] = 0
    m[_SIZE: _SIZE + 4] = 0
    m[_HEADER + 2 * n: _HEADER + 3 * n] = 0
    m[_HEADER + 3 * n: _HEADER + 3 * n + object_size.shape[0]] = object_size
    return m


@njit(inline="always")
def _push_head(m, n, lst, o):
    dlist.link_head(m, _HEADER, _HEADER + n, _ENDS + 2 * lst, o)
    m[_HEADER + 2 * n + o] = lst + 1
    m[_SIZE + lst] += m[_HEADER + 3 * n + o]


@njit(inline="always")
def _unlink(m, n, lst, o):
    dlist.unlink(m, _HEADER, _HEADER + n, _ENDS + 2 * lst, o)
    m[_HEADER + 2 * n + o] = 0
    m[_SIZE + lst] -= m[_HEADER + 3 * n + o]


@njit(inline="always")
def _pop_tail(m, n, lst):
    o = m[_ENDS + 2 * lst + 1]
    _unlink(m, n, lst, o)
    return o


@njit(inline="always")
def _ratio(a, b):
    """``max(a / b, 1)`` in doubles as C computes it (b == 0 gives inf or NaN, and NaN loses the max)."""
    if b == 0:
        return np.inf if a > 0 else 1.0
    r = np.float64(a) / np.float64(b)
    return max(1.0, r)


@njit(inline="always")
def _on_hit(state, i, o):
    m = state[0]
    n = m[_N]
    m[_IN_B1] = 0
    m[_IN_B2] = 0
    if m[_HEADER + 2 * n + o] == _T1 + 1:
        _unlink(m, n, _T1, o)
    elif m[_ENDS + 2 * _T2] == o:
        return
    else:
        _unlink(m, n, _T2, o)
    _push_head(m, n, _T2, o)


@njit(inline="always")
def _on_miss(state, i, o):
    m = state[0]
    n = m[_N]
    w = m[_HEADER + 2 * n + o]
    if w == 0:
        return  # not found at all: libCacheSim's find returns before touching the ghost flags
    p = state[1]
    m[_GHOST_AT] = i
    cap = np.float64(m[_CAP])
    if w == _B1 + 1:
        m[_IN_B1] = 1
        m[_IN_B2] = 0
        q = p[0] + _ratio(m[_SIZE + _B2], m[_SIZE + _B1])
        p[0] = min(cap, q)
        _unlink(m, n, _B1, o)
    else:
        m[_IN_B1] = 0
        m[_IN_B2] = 1
        q = p[0] - _ratio(m[_SIZE + _B1], m[_SIZE + _B2])
        p[0] = max(0.0, q)
        _unlink(m, n, _B2, o)


@njit(inline="always")
def _ghost_hit_now(m, i):
    return m[_GHOST_AT] == i and (m[_IN_B1] != 0 or m[_IN_B2] != 0)


@njit(inline="always")
def _replace(m, n, p):
    """REPLACE: demote T1's or T2's tail to its ghost list; return it (it leaves the cache)."""
    t1 = m[_SIZE + _T1]
    if (t1 > 0 and (t1 > p[0] or (t1 == p[0] and m[_IN_B2] != 0))) or m[_SIZE + _T2] == 0:
        v = _pop_tail(m, n, _T1)
        _push_head(m, n, _B1, v)
    else:
        v = _pop_tail(m, n, _T2)
        _push_head(m, n, _B2, v)
    return v


@njit(inline="always")
def _victim(state, i, o):
    m = state[0]
    p = state[1]
    n = m[_N]
    if _ghost_hit_now(m, i):
        return _replace(m, n, p)
    cap = m[_CAP]
    if m[_SIZE + _T1] + m[_SIZE + _B1] + m[_HEADER + 3 * n + o] > cap:
        if m[_SIZE + _B1] > 0:
            _pop_tail(m, n, _B1)
            return _replace(m, n, p)
        return _pop_tail(m, n, _T1)  # T1 alone fills the cache: drop its tail without a ghost
    if m[_SIZE + _T1] + m[_SIZE + _B1] + m[_SIZE + _T2] + m[_SIZE + _B2] >= 2 * cap and m[_SIZE + _B2] > 0:
        _pop_tail(m, n, _B2)
    return _replace(m, n, p)


@njit(inline="always")
def _on_insert(state, i, o):
    m = state[0]
    n = m[_N]
    if _ghost_hit_now(m, i):
        m[_IN_B1] = 0
        m[_IN_B2] = 0
        m[_GHOST_AT] = -1
        _push_head(m, n, _T2, o)
    else:
        _push_head(m, n, _T1, o)
    return True


@register
class ARC(EvictionPolicy):
    """Adaptive replacement cache (T1/T2 with ghosts B1/B2, byte-sized, libCacheSim's rules)."""

    Config = ARCConfig
    name = "arc"

    def hooks(self, requests: Requests, capacity: int) -> Hooks:
        state = (_layout(requests.object_size, capacity), np.zeros(1, dtype=np.float64))
        return Hooks(state, _on_hit, _on_miss, _victim, _on_insert)
