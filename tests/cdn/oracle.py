"""libCacheSim 0.3.5 (GPL-3, test-only) as the oracle the policies are checked against, the traces to check on, and
the checks the policy tests share."""

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


# --------------------------------------------------------------------------------------------------------------
# The harness the policy tests share
# --------------------------------------------------------------------------------------------------------------

#: The traces every exact policy is compared with libCacheSim on, at each of ``SHARES``.
TRACES = ("cache2k_web07", "adapt_size", "cloudphysics")

#: The shipped traces' cache sizes at 1% of their working sets, where the pinned miss counts were taken.
ONE_PERCENT = {"cache2k_web07": 204, "adapt_size": 2788542}


def requests_for(name: str, seed: int = 0) -> Requests:
    """``trace(name)``, or ``synthetic(seed=seed)`` for ``"synthetic"``."""
    return synthetic(seed=seed) if name == "synthetic" else trace(name)


def over_traces_and_shares(traces=TRACES, shares=SHARES):
    """Parametrise a test by ``trace_name`` in ``traces`` and ``share`` in ``shares`` (the same ids as stacking
    ``parametrize("trace_name", ...)`` over ``parametrize("share", ...)``)."""

    def parametrise(test):
        return pytest.mark.parametrize("trace_name", traces)(pytest.mark.parametrize("share", shares)(test))

    return parametrise


def small_trace(seed: int) -> Requests:
    """A 300-request trace over a few dozen objects (unit sizes for every third seed, else 1..19 bytes)."""
    rng = np.random.default_rng(seed)
    n_objects = int(rng.integers(5, 40))
    ids = rng.integers(0, n_objects, 300) if seed % 2 else rng.zipf(1.3, 300) % n_objects
    sizes = rng.integers(1, 20, n_objects)[ids] if seed % 3 else np.ones(300, dtype=np.int64)
    return cdn.requests_from_arrays(None, ids.astype(np.uint64), sizes, source=f"small({seed})")


def oracle_counts(requests: Requests, make_cache, cache_bytes: int, tmp_path: Path) -> tuple[int, int]:
    """libCacheSim's (misses, missed bytes), from the ratios ``oracle`` gives."""
    miss, byte_miss = oracle(requests, make_cache, cache_bytes, tmp_path)
    return round(miss * len(requests)), round(byte_miss * requests.total_bytes)


def assert_equals_libcachesim(requests: Requests, policy, make_cache, cache_bytes: int, tmp_path: Path, msg=None):
    """Replay ``policy`` over ``requests`` and assert its miss ratio and byte miss ratio equal libCacheSim's (to
    1e-12). ``make_cache`` is the name of a libcachesim cache class, or a callable of the cache size. The run."""
    lcs = libcachesim()
    make = getattr(lcs, make_cache) if isinstance(make_cache, str) else make_cache
    run = cdn.run(requests, policy, cache_bytes)
    miss, byte_miss = oracle(requests, make, cache_bytes, tmp_path)
    assert run.miss_ratio == pytest.approx(miss, abs=1e-12), msg
    assert run.byte_miss_ratio == pytest.approx(byte_miss, abs=1e-12), msg
    return run


def kernel_counts(requests: Requests, policy, cache_bytes) -> tuple[int, int]:
    """The kernel's (misses, missed bytes) for ``policy`` over ``requests``: what the byte-counting twins return."""
    run = cdn.run(requests, policy, cache_bytes)
    return run.misses, run.miss_bytes


def assert_small_traces_equal_libcachesim_and_twin(make_policy, twin, make_cache, tmp_path: Path) -> None:
    """On ``small_trace(0..15)`` at 5, 10, 20 and 40 bytes, a fresh ``make_policy()`` equals libCacheSim's
    ``make_cache`` (as ``assert_equals_libcachesim``) and ``twin(requests, capacity)``'s (misses, missed bytes)."""
    libcachesim()
    for seed in range(16):
        reqs = small_trace(seed)
        folder = tmp_path / str(seed)
        folder.mkdir()
        for capacity in (5, 10, 20, 40):
            run = assert_equals_libcachesim(reqs, make_policy(), make_cache, capacity, folder, (seed, capacity))
            assert (run.misses, run.miss_bytes) == twin(reqs, capacity), (seed, capacity)


def misses_at_one_percent(trace_name: str, *policies) -> list[int]:
    """Each policy's misses over a shipped trace at 1% of its working set, once that size is checked against
    ``ONE_PERCENT`` (where the counts were pinned)."""
    reqs = trace(trace_name)
    assert reqs.cache_bytes("1%") == ONE_PERCENT[trace_name]
    return [cdn.run(reqs, policy, "1%").misses for policy in policies]
