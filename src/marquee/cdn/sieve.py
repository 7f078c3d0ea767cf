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

from numba import njit

from marquee.cdn import dlist
from marquee.cdn.policy import EvictionPolicy, Hooks, noop, register
from marquee.cdn.requests import Requests

__all__ = ["Sieve", "SieveConfig"]

_NIL = -1


@dataclass(frozen=True)
class SieveConfig:
    pass


# State: one dlist buffer whose extra slots hold the hand, then a visited flag per object.


@njit(inline="always")
def _on_hit(state, i, o):
    buf = state[0]
    buf[dlist.extra(buf, 1) + 1 + o] = 1


@njit(inline="always")
def _victim(state, i, o):
    buf = state[0]
    x = dlist.extra(buf, 1)
    v = buf[x]
    if v == _NIL:
        v = dlist.tail(buf, 0)
    while buf[x + 1 + v]:
        buf[x + 1 + v] = 0
        v = dlist.prev(buf, v)
        if v == _NIL:
            v = dlist.tail(buf, 0)
    buf[x] = dlist.prev(buf, v)
    dlist.remove(buf, 0, v)
    return v


@njit(inline="always")
def _on_insert(state, i, o):
    buf = state[0]
    dlist.push_head(buf, 0, o)
    buf[dlist.extra(buf, 1) + 1 + o] = 0
    return True


@register
class Sieve(EvictionPolicy):
    """SIEVE: insert at the head, a hit marks the object, a hand from the tail evicts the first unmarked one."""

    Config = SieveConfig
    name = "sieve"

    def hooks(self, requests: Requests, capacity: int) -> Hooks:
        n = max(requests.n_objects, 1)
        buf = dlist.new_lists(n, 1, n_extra=1 + n)
        buf[dlist.extra(buf, 1)] = _NIL  # the hand points nowhere
        return Hooks((buf,), _on_hit, noop, _victim, _on_insert)
