"""FIFO: evict the object inserted first, whatever its hits (libCacheSim's ``FIFO``)."""

from __future__ import annotations

from dataclasses import dataclass

from marquee.cdn import dlist
from marquee.cdn.lru import _on_insert, _victim  # a FIFO is an LRU whose hits change nothing
from marquee.cdn.policy import EvictionPolicy, Hooks, noop, register
from marquee.cdn.requests import Requests

__all__ = ["FIFO", "FIFOConfig"]


@dataclass(frozen=True)
class FIFOConfig:
    pass


@register
class FIFO(EvictionPolicy):
    """First in, first out: hits change nothing; evict the oldest insertion."""

    Config = FIFOConfig
    name = "fifo"

    def hooks(self, requests: Requests, capacity: int) -> Hooks:
        return Hooks((dlist.new_lists(requests.n_objects),), noop, noop, _victim, _on_insert)
