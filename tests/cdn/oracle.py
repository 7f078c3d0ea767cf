"""libCacheSim 0.3.5 (GPL-3, test-only) as the oracle the policies are checked against, and the traces to check on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from marquee import cdn
from marquee.cdn.requests import Requests

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "delivery" / "cache"
CLOUDPHYSICS = SHARED / "cloudPhysicsIO.oracleGeneral.bin.xz"
SHARES = ("0.1%", "1%", "10%")


def libcachesim():
    return pytest.importorskip("libcachesim", reason="libcachesim (the test-only oracle) is not installed")


def trace(name: str) -> Requests:
    """A shipped trace, or the shared CloudPhysics sample (skipped, saying why, where ../shared is absent)."""
    if name == "cloudphysics":
        if not CLOUDPHYSICS.exists():
            pytest.skip(f"{CLOUDPHYSICS} is not on this machine (the GPL sample is not shipped)")
        return cdn.read_requests(CLOUDPHYSICS, "oraclegeneral")
    return cdn.load_requests(name)


def synthetic(n: int = 20_000, n_objects: int = 2_000, seed: int = 0, sized: bool = True) -> Requests:
    """A Zipf-ish stream with variable sizes (some larger than small caches), for fast exactness checks."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_objects + 1) ** 0.8
    ids = rng.choice(n_objects, size=n, p=weights / weights.sum()).astype(np.uint64) * 7 + 3
    sizes = (rng.lognormal(8, 1.5, size=n_objects).astype(np.int64) + 1)[(ids // 7).astype(np.int64)] if sized else None
    return cdn.requests_from_arrays(np.arange(n, dtype=np.float64), ids, sizes, source=f"synthetic(seed={seed})")


def oracle(requests: Requests, make_cache, cache_bytes: int, tmp_path: Path) -> tuple[float, float]:
    """(miss ratio, byte miss ratio) of libCacheSim's cache ``make_cache(cache_bytes)`` over ``requests``."""
    lcs = libcachesim()
    path = tmp_path / "trace.oracleGeneral.bin"
    if not path.exists():
        cdn.write_oracle_general(requests, path)
    reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE)
    return make_cache(cache_bytes).process_trace(reader)
