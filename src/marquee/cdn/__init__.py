"""Edge delivery: cache traces as numpy columns and eviction policies compiled per request (libCacheSim's conventions).

Request streams (:class:`Requests`, :func:`read_requests` for libCacheSim's oracleGeneral, ``time id size`` text,
big-endian uint32 keys and a user's csv/parquet log), eviction policies behind one interface
(:class:`EvictionPolicy`: compiled hooks over state arrays; :data:`POLICIES` by name), admission filters
(:class:`Admission`), and :func:`replay` / :func:`miss_ratio_curve`::

    from marquee import cdn

    reqs = cdn.read_requests("trace.oracleGeneral.bin.xz", "oraclegeneral")
    result = cdn.replay(reqs, ["lru", "fifo"], ["0.1%", "1%", "10%"])
    result.to_records()

This subpackage imports nothing from ranking, serving or the CLI.
"""

from marquee.cdn.fifo import FIFO, FIFOConfig
from marquee.cdn.lru import LRU, LRUConfig
from marquee.cdn.policy import ADMISSIONS, POLICIES, Admission, AdmitHooks, EvictionPolicy, Hooks, NoAdmission, make
from marquee.cdn.replay import CacheRun, ReplayResult, miss_ratio_curve, replay, run
from marquee.cdn.shipped import SHIPPED_TRACES, load_requests, shipped_path
from marquee.cdn.requests import (
    FORMATS,
    NO_NEXT_ACCESS,
    Requests,
    read_requests,
    requests_from_arrays,
    write_oracle_general,
)

__all__ = [
    "ADMISSIONS",
    "FIFO",
    "FORMATS",
    "LRU",
    "NO_NEXT_ACCESS",
    "POLICIES",
    "SHIPPED_TRACES",
    "Admission",
    "AdmitHooks",
    "CacheRun",
    "EvictionPolicy",
    "FIFOConfig",
    "Hooks",
    "LRUConfig",
    "NoAdmission",
    "ReplayResult",
    "Requests",
    "load_requests",
    "make",
    "miss_ratio_curve",
    "read_requests",
    "replay",
    "requests_from_arrays",
    "run",
    "shipped_path",
    "write_oracle_general",
]
