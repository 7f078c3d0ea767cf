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

from marquee.cdn.admission import BloomAdmission, BloomAdmissionConfig
from marquee.cdn.arc import ARC, ARCConfig
from marquee.cdn.belady import Belady, BeladyConfig
from marquee.cdn.belady_size import BeladySize, BeladySizeConfig
from marquee.cdn.capacity import CapacityPlan, Demand, live_event, plan_capacity
from marquee.cdn.fifo import FIFO, FIFOConfig
from marquee.cdn.gdsf import GDSF, GDSFConfig
from marquee.cdn.lfu import LFU, LFUConfig
from marquee.cdn.lru import LRU, LRUConfig
from marquee.cdn.openconnect import (
    FLASH,
    STORAGE,
    ApplianceKind,
    FileCatalog,
    Placement,
    ServeResult,
    Site,
    SiteConfig,
    serve,
)
from marquee.cdn.policy import ADMISSIONS, POLICIES, Admission, AdmitHooks, EvictionPolicy, Hooks, NoAdmission, make
from marquee.cdn.replay import CacheRun, ReplayResult, miss_ratio_curve, replay, run
from marquee.cdn.requests import (
    FORMATS,
    NO_NEXT_ACCESS,
    Requests,
    read_requests,
    requests_from_arrays,
    write_oracle_general,
)
from marquee.cdn.s3fifo import S3FIFO, S3FIFOConfig
from marquee.cdn.shipped import SHIPPED_TRACES, load_requests, shipped_path
from marquee.cdn.sieve import Sieve, SieveConfig
from marquee.cdn.tragen import TragenModel, generate, read_tragen_model
from marquee.cdn.wtinylfu import WTinyLFU, WTinyLFUConfig

__all__ = [
    "ADMISSIONS",
    "ARC",
    "FIFO",
    "FLASH",
    "FORMATS",
    "GDSF",
    "LFU",
    "LRU",
    "NO_NEXT_ACCESS",
    "POLICIES",
    "S3FIFO",
    "SHIPPED_TRACES",
    "STORAGE",
    "ARCConfig",
    "Admission",
    "AdmitHooks",
    "ApplianceKind",
    "Belady",
    "BeladyConfig",
    "BeladySize",
    "BeladySizeConfig",
    "BloomAdmission",
    "BloomAdmissionConfig",
    "CacheRun",
    "CapacityPlan",
    "Demand",
    "EvictionPolicy",
    "FIFOConfig",
    "FileCatalog",
    "GDSFConfig",
    "Hooks",
    "LFUConfig",
    "LRUConfig",
    "NoAdmission",
    "Placement",
    "ReplayResult",
    "Requests",
    "S3FIFOConfig",
    "ServeResult",
    "Sieve",
    "SieveConfig",
    "Site",
    "SiteConfig",
    "TragenModel",
    "WTinyLFU",
    "WTinyLFUConfig",
    "generate",
    "live_event",
    "load_requests",
    "make",
    "miss_ratio_curve",
    "plan_capacity",
    "read_requests",
    "read_tragen_model",
    "replay",
    "requests_from_arrays",
    "run",
    "serve",
    "shipped_path",
    "write_oracle_general",
]
