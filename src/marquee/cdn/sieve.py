"""SIEVE: a FIFO queue with one visited bit per object and a hand that sweeps it (libCacheSim 0.3.5's ``Sieve``).

libCacheSim's version, which this module reproduces to the request:

- a miss inserts the object at the **head** of one queue with its visited bit clear; a hit sets the bit (objects
  never move on a hit);
- to evict, the hand starts where it last stopped, or at the **tail** when it points nowhere (the first eviction,
  or after it walked off the head). It walks from tail towards head, clearing every set bit it passes; walking
  off the head wraps it to the tail. The first object found with a clear bit is evicted;
- after an eviction the hand points at the evicted object's neighbour on the head side (nowhere if the evicted
  object was the head, so the next eviction restarts at the tail). Objects inserted since then sit at the head,
  beyond the hand, until it wraps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from marquee.cdn import dlist
from marquee.cdn.policy import EvictionPolicy, Hooks, noop, register
from marquee.cdn.requests import Requests

__all__ = ["Sieve", "SieveConfig"]

_NIL = -1


@dataclass(frozen=True)
class SieveConfig:
    pass


@njit(inline="always")
def _on_hit(state, i, o):
    state[3][o] = True


@njit(inline="always")
def _victim(state, i, o):
    prev, nxt, ends, visited, hand = state
    v = hand[0]
    if v == _NIL:
        v = ends[0, 1]
    while visited[v]:
        visited[v] = False
        v = prev[v]
        if v == _NIL:
            v = ends[0, 1]
    hand[0] = prev[v]
    dlist.remove(prev, nxt, ends, 0, v)
    return v


@njit(inline="always")
def _on_insert(state, i, o):
    prev, nxt, ends, visited, _ = state
    dlist.push_head(prev, nxt, ends, 0, o)
    visited[o] = False
    return True


@register
class Sieve(EvictionPolicy):
    """SIEVE: insert at the head, a hit marks the object, a hand from the tail evicts the first unmarked one."""

    Config = SieveConfig
    name = "sieve"

    def hooks(self, requests: Requests, capacity: int) -> Hooks:
        prev, nxt, ends = dlist.new_lists(requests.n_objects)
        visited = np.zeros(max(requests.n_objects, 1), dtype=np.bool_)
        hand = np.full(1, _NIL, dtype=np.int64)
        return Hooks((prev, nxt, ends, visited, hand), _on_hit, noop, _victim, _on_insert)
