"""LRU: evict the least recently requested object (libCacheSim's ``LRU``)."""

from __future__ import annotations

from dataclasses import dataclass

from numba import njit

from marquee.cdn import dlist
from marquee.cdn.policy import EvictionPolicy, Hooks, noop, register
from marquee.cdn.requests import Requests

__all__ = ["LRU", "LRUConfig"]


@dataclass(frozen=True)
class LRUConfig:
    pass


@njit(inline="always")
def _on_hit(state, i, o):
    dlist.move_to_head(state[0], 0, o)


@njit(inline="always")
def _victim(state, i, o):
    return dlist.pop_tail(state[0], 0)


@njit(inline="always")
def _on_insert(state, i, o):
    dlist.push_head(state[0], 0, o)
    return True


@register
class LRU(EvictionPolicy):
    """Least recently used: a hit moves the object to the head; evict from the tail."""

    Config = LRUConfig
    name = "lru"

    def hooks(self, requests: Requests, capacity: int) -> Hooks:
        return Hooks((dlist.new_lists(requests.n_objects),), _on_hit, noop, _victim, _on_insert)
