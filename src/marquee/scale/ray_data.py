"""Batch scoring on Ray Data: the member blocks as a dataset, mapped by actors that each hold the model.

Ray is imported only when this runs (an optional extra: ``pip install 'marquee[ray]'``). Each actor loads the model
from the registry once (the registry's directory must be reachable from every node: on one machine it is),
then scores the blocks it is given with :func:`marquee.scale.batch.score_block`, the serial path's code.
"""

from __future__ import annotations

import time

import numpy as np

from marquee.scale.cluster import connect, import_ray

__all__ = ["score_with_ray"]


class _Scorer:
    """A Ray Data actor: the model, loaded once; a batch of member positions in, their top-k out."""

    def __init__(self, root: str, ref: str, k: int) -> None:
        import threadpoolctl

        from marquee.scale.batch import _model

        threadpoolctl.threadpool_limits(1)  # the actors are the parallel unit
        self.model, self.k = _model(root, ref), k

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from marquee.scale.batch import score_block

        members, idx, scores = score_block(self.model, batch["id"] % len(self.model.members_), self.k)
        return {"member": members, "idx": idx, "score": scores}


def score_with_ray(root: str, ref: str, n: int, k: int, *, workers: int, block: int, address: str | None = None,
                   members: int | None = None) -> tuple[list, float]:  # fmt: skip
    """Score ``n`` member positions (``0..n-1``, modulo ``members`` when given: several passes) on Ray Data;
    returns the blocks' answers and when scoring started (after Ray's start).

    Raises:
        ConfigError: Ray is not installed, or the cluster at ``address`` cannot be reached (one line, no trace).
    """
    ray = import_ray()
    # One CPU per actor, and one for the dataset's own read tasks (without it the actors hold every CPU and the reads wait forever).
    started_here = connect(ray, address, num_cpus=workers + 1)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        t0 = time.perf_counter()
        ds = ray.data.range(n, override_num_blocks=max(1, -(-n // block))).map_batches(
            _Scorer, fn_constructor_args=(root, ref, k), batch_size=block, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
        )  # fmt: skip
        parts = [(b["member"], b["idx"], b["score"]) for b in ds.iter_batches(batch_size=None, batch_format="numpy")]
        return parts, t0
    finally:
        if started_here:
            ray.shutdown()
