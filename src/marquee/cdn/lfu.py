"""LFU: evict the least frequently requested object, as libCacheSim 0.3.5's ``LFU`` (``LFU.c``) does.

What libCacheSim does, and this module copies:

- An object enters with frequency 1 and each hit adds 1. Nothing is remembered after eviction: a re-inserted
  object starts again at 1 (in-cache LFU, not the "perfect" LFU that counts every request ever made).
- Ties among the objects of the lowest frequency go to the one that reached that frequency longest ago: each
  frequency keeps a FIFO of its objects (an object joins the back of its new frequency's queue on every hit, and
  of frequency 1's on insert; eviction takes the front of the lowest non-empty frequency). So within a frequency
  the least recently requested object is evicted.

libCacheSim finds the lowest non-empty frequency lazily (a scan upward after an eviction empties it). Here the
non-empty frequencies are kept in their own sorted linked list (a hit moves an object from ``f`` to ``f + 1``,
which is ``f``'s neighbour or goes in right after it; an insert goes to 1, the smallest), so every step is O(1)
and the lowest frequency is always the list's head; the victim is the same.

Layout: all state is one int64 array (see :func:`_layout`), not a tuple of arrays. numba increments and
decrements a reference count (an atomic operation) for every array a hook takes out of the state tuple, on every
call, and with one array per purpose that cost was most of the time per request; one array keeps LFU above 2 M
requests/s. The linked lists are :mod:`marquee.cdn.dlist`'s primitives over offsets into that array (insert at the
head, take the oldest from the tail).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from marquee.cdn import dlist
from marquee.cdn.policy import EvictionPolicy, Hooks, noop, register
from marquee.cdn.requests import Requests

__all__ = ["LFU", "LFUConfig"]

NIL = -1
_HEADER = 2  # m[0] = n_objects, m[1] = n_freq (frequencies 0..n_freq-1)


@dataclass(frozen=True)
class LFUConfig:
    pass


def _layout(n_objects: int, n_freq: int) -> np.ndarray:
    """One int64 array: header, then per object prev | next | freq, then per frequency a queue's head/tail
    (2 slots each), then the sorted list of non-empty frequencies: prev | next per frequency, and its head/tail."""
    size = _HEADER + 3 * n_objects + 2 * n_freq + 2 * n_freq + 2
    m = np.full(size, NIL, dtype=np.int64)
    m[0] = n_objects
    m[1] = n_freq
    m[_HEADER + 2 * n_objects: _HEADER + 3 * n_objects] = 0
    return m


@njit(inline="always")
def _offsets(m):
    n = m[0]
    nf = m[1]
    prv = _HEADER
    nxt = prv + n
    frq = nxt + n
    qend = frq + n  # queue of frequency f: head m[qend + 2f], tail m[qend + 2f + 1]
    fprv = qend + 2 * nf
    fnxt = fprv + nf
    fend = fnxt + nf
    return prv, nxt, frq, qend, fprv, fnxt, fend


@njit(inline="always")
def _on_hit(state, i, o):
    m = state[0]
    prv, nxt, frq, qend, fprv, fnxt, fend = _offsets(m)
    f = m[frq + o]
    g = f + 1
    m[frq + o] = g
    dlist.unlink(m, prv, nxt, qend + 2 * f, o)
    if m[qend + 2 * g] == NIL:
        # frequency g becomes non-empty: it goes right after f in the sorted list
        h = m[fnxt + f]
        m[fprv + g] = f
        m[fnxt + g] = h
        m[fnxt + f] = g
        if h != NIL:
            m[fprv + h] = g
        else:
            m[fend + 1] = g
    dlist.link_head(m, prv, nxt, qend + 2 * g, o)
    if m[qend + 2 * f] == NIL:
        dlist.unlink(m, fprv, fnxt, fend, f)


@njit(inline="always")
def _victim(state, i, o):
    m = state[0]
    prv, nxt, _, qend, fprv, fnxt, fend = _offsets(m)
    f = m[fend]  # the lowest non-empty frequency
    v = m[qend + 2 * f + 1]  # its oldest arrival
    dlist.unlink(m, prv, nxt, qend + 2 * f, v)
    if m[qend + 2 * f] == NIL:
        dlist.unlink(m, fprv, fnxt, fend, f)
    return v


@njit(inline="always")
def _on_insert(state, i, o):
    m = state[0]
    prv, nxt, frq, qend, fprv, fnxt, fend = _offsets(m)
    m[frq + o] = 1
    if m[qend + 2] == NIL:
        dlist.link_head(m, fprv, fnxt, fend, 1)
    dlist.link_head(m, prv, nxt, qend + 2, o)
    return True


@register
class LFU(EvictionPolicy):
    """Least frequently used (frequency since insertion; ties: least recently requested), libCacheSim's rules."""

    Config = LFUConfig
    name = "lfu"

    def hooks(self, requests: Requests, capacity: int) -> Hooks:
        # An object's frequency never exceeds its request count, which bounds the frequencies to keep queues for.
        top = int(np.bincount(requests.obj).max()) if len(requests) else 0
        return Hooks((_layout(max(requests.n_objects, 1), top + 2),), _on_hit, noop, _victim, _on_insert)
