"""Batch scoring: every member's top ``k`` titles from a registered model, in parallel blocks.

The same scoring function runs three ways, so a laptop and a cluster give the same table:

- ``serial``: one process, blocks of members through :meth:`Recommender.recommend_index` (the path the
  offline evaluator and the service share: titles the member has seen are excluded);
- ``process``: a pool of worker processes on this machine, each loading the model from the registry once;
- ``ray``: Ray Data (:mod:`marquee.scale.ray_data`), the same blocks as a dataset mapped by model-holding
  actors, on a local Ray or an existing cluster.

The result is the table :mod:`marquee.serve.precomputed` serves (``member_id``, ``rank``, ``title_id``,
``score``), with the model's provenance.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from marquee.errors import ConfigError
from marquee.serve.precomputed import created_now
from marquee.serve.registry import ModelRegistry

__all__ = ["ENGINES", "BatchScores", "batch_score", "score_block"]

ENGINES = ("serial", "process", "ray")


@dataclass(frozen=True)
class BatchScores:
    """The top-k table and how it was made.

    Attributes:
        table: ``member_id``, ``rank`` (1-based), ``title_id``, ``score``; members in index order, ranks ascending.
        provenance: model, version, class, data fingerprint, code version, k, engine, workers, created_at.
        seconds: wall time of the scoring (model loading included, Ray's start excluded).
    """

    table: pa.Table
    provenance: dict[str, Any]
    seconds: float

    @property
    def members_per_s(self) -> float:
        return self.provenance["members"] / self.seconds if self.seconds > 0 else float("inf")


# ---- the one scoring function, and a model cache per worker process ---------------------------------
_MODELS: dict[tuple[str, str], Any] = {}


def _model(root: str, ref: str) -> Any:
    """The model, loaded from the registry once per process and set up for one-thread scoring."""
    key = (root, ref)
    if key not in _MODELS:
        _, model = ModelRegistry(root).load(ref)
        model.for_serving(threads=1)
        _MODELS[key] = model
    return _MODELS[key]


def score_block(model: Any, member_idx: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One block: (member positions, (n, k) title positions, (n, k) scores), seen titles excluded."""
    idx, scores = model.recommend_index(np.asarray(member_idx, np.int64), k)
    return np.asarray(member_idx, np.int64), idx, scores


def _score_in_worker(root: str, ref: str, member_idx: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import threadpoolctl

    with threadpoolctl.threadpool_limits(1):  # the workers are the parallel unit
        return score_block(_model(root, ref), member_idx, k)


def _blocks(n: int, block: int, members: int) -> Iterator[np.ndarray]:
    """Blocks of member positions covering ``n`` scorings of ``members`` members (several passes when n > members)."""
    for lo in range(0, n, block):
        yield np.arange(lo, min(n, lo + block), dtype=np.int64) % members


def to_table(model: Any, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> pa.Table:
    """The blocks' answers as the precomputed table, members in index order."""
    parts = sorted(parts, key=lambda p: int(p[0][0]) if p[0].size else -1)
    members = np.concatenate([p[0] for p in parts])
    idx = np.concatenate([p[1] for p in parts])
    scores = np.concatenate([p[2] for p in parts])
    n, k = idx.shape
    keep = np.isfinite(scores).ravel()  # a member with fewer than k unseen titles has -inf padding
    member_ids = np.asarray(model.members_.ids)[np.repeat(members, k)][keep]
    title_ids = np.asarray(model.titles_.ids)[idx.ravel()][keep]
    rank = np.tile(np.arange(1, k + 1, dtype=np.int16), n)[keep]
    return pa.table({"member_id": pa.array(member_ids), "rank": pa.array(rank), "title_id": pa.array(title_ids),
                     "score": pa.array(scores.ravel()[keep].astype(np.float32))})  # fmt: skip


def _first_pass(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], members: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each member's row once, from blocks that cover the members several times."""
    seen = np.zeros(members, bool)
    out = []
    for m, idx, sc in parts:
        keep = ~seen[m]
        if keep.any():
            seen[m[keep]] = True
            out.append((m[keep], idx[keep], sc[keep]))
    return out


def batch_score(
    registry: str | os.PathLike[str], ref: str, k: int = 100, *, engine: str = "serial", workers: int = 2, block: int = 1024,
    progress: Callable[[str], None] = lambda _: None, ray_address: str | None = None, passes: int = 1,
) -> BatchScores:  # fmt: skip
    """Score every member of a registered model (``name@alias``, ``name:version``) and return the top-k table.

    Args:
        registry: the registry's directory.
        engine: ``serial``, ``process`` (a local pool of ``workers``) or ``ray`` (Ray Data, ``workers`` actors).
        block: members per block (one ``recommend_index`` call).
        ray_address: an existing Ray cluster (``ray://...`` or ``auto``); ``None`` starts a local one.
        passes: score every member this many times (a benchmark's steady state on a small catalog of
            members); the table holds each member once.
    Raises:
        ConfigError: an unknown engine, or k/workers/block below 1; the registry's errors for the reference.
    """
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    for name, value in (("k", k), ("workers", workers), ("block", block), ("passes", passes)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    root = str(Path(registry))
    mv, model = ModelRegistry(root).load(ref)
    n = len(model.members_) * passes
    k = min(k, len(model.titles_))
    progress(f"scoring {n:,} members with {mv.ref} ({engine}, {workers if engine != 'serial' else 1} worker(s), blocks of {block})")
    t0 = time.perf_counter()
    if engine == "serial":
        model.for_serving(threads=1)
        parts = [score_block(model, b, k) for b in _blocks(n, block, len(model.members_))]
    elif engine == "process":
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_score_in_worker, root, ref, b, k) for b in _blocks(n, block, len(model.members_))]
            parts = [f.result() for f in futures]
    else:
        from marquee.scale.ray_data import score_with_ray

        parts, t0 = score_with_ray(root, ref, n, k, workers=workers, block=block, address=ray_address, members=len(model.members_))
    seconds = time.perf_counter() - t0
    if passes > 1:  # the table holds each member once
        parts = _first_pass(parts, len(model.members_))
    table = to_table(model, parts)
    provenance = {
        "model": ref, "model_version": mv.ref, "class": mv.cls, "data_fingerprint": mv.data_fingerprint, "code_version": mv.code_version,
        "k": k, "members": n, "passes": passes, "engine": engine, "workers": workers if engine != "serial" else 1, "created_at": created_now(),
    }  # fmt: skip
    progress(f"scored {n:,} members in {seconds:.1f} s ({n / seconds:,.0f} members/s)")
    return BatchScores(table, provenance, seconds)
