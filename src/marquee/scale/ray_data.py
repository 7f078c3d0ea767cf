"""Batch scoring on Ray Data: the member blocks as a dataset, mapped by actors that each hold the model.

Ray is imported only here (an optional extra: ``pip install 'marquee[ray]'``). Each actor loads the model
from the registry once (the registry's directory must be reachable from every node: on one machine it is),
then scores the blocks it is given with :func:`marquee.scale.batch.score_block`, the serial path's code.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from marquee.errors import ConfigError

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


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray engine needs Ray: pip install 'marquee[ray]' (or choose --engine process)") from None
    return ray


def _check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """A ``host:port`` (or ``ray://host:port``) that does not accept a connection: one line, at once
    (``ray.init`` would retry for minutes). ``auto`` and ``local`` are left to Ray."""
    import socket

    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"a Ray address is host:port, ray://host:port or auto; got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConfigError(f"could not reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def score_with_ray(root: str, ref: str, n: int, k: int, *, workers: int, block: int, address: str | None = None,
                   members: int | None = None) -> tuple[list, float]:  # fmt: skip
    """Score ``n`` member positions (``0..n-1``, modulo ``members`` when given: several passes) on Ray Data;
    returns the blocks' answers and when scoring started (after Ray's start).

    Raises:
        ConfigError: Ray is not installed, or the cluster at ``address`` cannot be reached (one line, no trace).
    """
    ray = _ray()
    started_here = False
    if not ray.is_initialized():
        try:
            if address is None:
                # One CPU per actor, and one for the dataset's own read tasks (without it the actors hold every CPU and the reads wait forever).
                ray.init(num_cpus=workers + 1, include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:
                _check_reachable(address)
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"could not reach the Ray cluster at {address or 'a new local instance'}: {str(exc).splitlines()[0]}") from None
        started_here = True
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
