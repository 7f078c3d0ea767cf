"""Belady (MIN): evict the cached object whose next request is furthest in the future (libCacheSim's ``Belady``).

libCacheSim 0.3.5 defines it as follows (``cache/eviction/Belady.c``), and this module reproduces it step for step:

- every cached object sits in a max-priority queue keyed by the position of its next request (``INT64_MAX`` when
  it is never requested again, the oracleGeneral reader's meaning of ``-1``);
- a hit sets the object's key to the request's next access and moves it (``pqueue_change_priority``);
- a miss evicts the queue's top until the object fits (``pqueue_pop``), then inserts it with its next access
  (``pqueue_insert``); an object larger than the cache is not inserted (the replay loop's rule);
- an object never requested again is *not* evicted at once (``EVICT_IMMEDIATELY_IF_NO_FUTURE_ACCESS`` is
  commented out in the source): it stays cached until it reaches the top of the queue.

The heap here is libCacheSim's binary heap (``dataStructure/pqueue.c``: 1-indexed array, ``bubble_up`` while the
parent's key is strictly smaller, ``percolate_down`` to the larger child, the left one on a tie, while the moving
key is strictly smaller), operation for operation over dense object indices, so the same object is evicted at
every step, ties included. (libCacheSim keys are doubles; positions below 2**53 and ``INT64_MAX`` order the same
as int64, which is what is compared here.) For the miss ratios the tie order does not in fact matter: the only
ties are between objects never requested again, those all go before any live object, and a live object is then
evicted exactly when ``live bytes + size > capacity``, whichever dead objects went first; for the same reason
evicting dead objects at once (``EVICT_IMMEDIATELY_IF_NO_FUTURE_ACCESS``) would not change them either, so the
ratios cannot tell whether a build defines it. The tests check this against a ``heapq`` twin that breaks ties
the other way.

Belady needs the future: it reads :meth:`marquee.cdn.requests.Requests.next_access`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from marquee.cdn.policy import EvictionPolicy, Hooks, noop, register
from marquee.cdn.requests import Requests

__all__ = ["Belady", "BeladyConfig"]


@dataclass(frozen=True)
class BeladyConfig:
    pass


# State: (next_access (n,) int64, heap (n_objects + 1,) int64 holding objects at 1..size-1,
#         pos (n_objects,) int64 an object's slot in the heap, key (n_objects,) int64 its next access,
#         meta (1,) int64 = [size], libCacheSim's pqueue size: one more than the number of queued objects).


@njit(inline="always")
def _bubble_up(heap, pos, key, i):
    moving = heap[i]
    moving_key = key[moving]
    parent = i >> 1
    while i > 1 and key[heap[parent]] < moving_key:
        heap[i] = heap[parent]
        pos[heap[i]] = i
        i = parent
        parent = i >> 1
    heap[i] = moving
    pos[moving] = i


@njit(inline="always")
def _percolate_down(heap, pos, key, size, i):
    moving = heap[i]
    moving_key = key[moving]
    while True:
        child = i << 1
        if child >= size:
            break
        if child + 1 < size and key[heap[child]] < key[heap[child + 1]]:
            child += 1
        if not moving_key < key[heap[child]]:
            break
        heap[i] = heap[child]
        pos[heap[i]] = i
        i = child
    heap[i] = moving
    pos[moving] = i


@njit(inline="always")
def _on_hit(state, i, o):
    next_access, heap, pos, key, meta = state
    old = key[o]
    new = next_access[i]
    key[o] = new
    if old < new:
        _bubble_up(heap, pos, key, pos[o])
    else:
        _percolate_down(heap, pos, key, meta[0], pos[o])


@njit(inline="always")
def _victim(state, i, o):
    _, heap, pos, key, meta = state
    head = heap[1]
    meta[0] -= 1
    heap[1] = heap[meta[0]]
    _percolate_down(heap, pos, key, meta[0], 1)
    return head


@njit(inline="always")
def _on_insert(state, i, o):
    next_access, heap, pos, key, meta = state
    key[o] = next_access[i]
    slot = meta[0]
    meta[0] = slot + 1
    heap[slot] = o
    _bubble_up(heap, pos, key, slot)
    return True


@register
class Belady(EvictionPolicy):
    """Belady's MIN: evict the object requested again furthest in the future, ties broken as libCacheSim's heap."""

    Config = BeladyConfig
    name = "belady"
    needs_future = True

    def hooks(self, requests: Requests, capacity: int) -> Hooks:
        n_objects = max(requests.n_objects, 1)
        state = (
            requests.next_access(),
            np.zeros(n_objects + 1, dtype=np.int64),
            np.zeros(n_objects, dtype=np.int64),
            np.zeros(n_objects, dtype=np.int64),
            np.ones(1, dtype=np.int64),
        )
        return Hooks(state, _on_hit, noop, _victim, _on_insert)
