"""FIFO: evict the object inserted first, whatever its hits (libCacheSim's ``FIFO``)."""

from __future__ import annotations

from dataclasses import dataclass

from numba import njit

from marquee.cdn import dlist
from marquee.cdn.policy import EvictionPolicy, Hooks, noop, register
from marquee.cdn.requests import Requests

__all__ = ["FIFO", "FIFOConfig"]


@dataclass(frozen=True)
class FIFOConfig:
    pass


@njit(inline="always")
def _victim(state, i, o):
    return dlist.pop_tail(state[0], 0)


@njit(inline="always")
def _on_insert(state, i, o):
    dlist.push_head(state[0], 0, o)
    return True


@register
class FIFO(EvictionPolicy):
    """First in, first out: hits change nothing; evict the oldest insertion."""

    Config = FIFOConfig
    name = "fifo"

    def hooks(self, requests: Requests, capacity: int) -> Hooks:
        return Hooks((dlist.new_lists(requests.n_objects),), noop, noop, _victim, _on_insert)
