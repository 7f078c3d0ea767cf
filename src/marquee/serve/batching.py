"""Micro-batching: gather concurrent requests for a heavy model into one call.

While the worker is idle, a request waits at most ``max_wait_ms`` for companions; while it is
busy, requests accumulate and the next batch starts the moment the current one ends, with all of
them (continuous batching): the busier the model, the larger its batches. A batch never exceeds
``max_batch``. Batches run one at a time on a worker thread (ONNX Runtime and torch release the
GIL), so the event loop keeps serving light requests while the heavy model computes. No library
does this for an arbitrary in-process model with per-request ``k`` and a queue depth the router
can read, hence this module.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from marquee.errors import ConfigError
from marquee.rank.base import Recommender

__all__ = ["PRIORITIES", "BatchResult", "Batcher", "BatcherFactory", "MicroBatcher", "recommend_rows"]

@dataclass(frozen=True)
class BatchResult:
    """One request's slice of a batch, the model (and its version) that computed it, and the batch."""

    title_idx: np.ndarray
    scores: np.ndarray
    model: Recommender
    version: str
    batch_size: int
    batch_ms: float


class Batcher(Protocol):
    """How the heavy tier's requests reach its model: :class:`MicroBatcher` in this process, or a
    remote deployment's (:class:`marquee.scale.ray_serve.RemoteBatcher`). The router reads ``depth``,
    ``max_batch`` and ``max_wait_ms`` to estimate the queue a request would join."""

    max_batch: int
    max_wait_ms: float

    @property
    def depth(self) -> int: ...

    async def submit(self, member_idx: int, k: int) -> BatchResult: ...

    def prepare(self, version: str) -> None:
        """``version`` is about to be served: load it where the model runs (a no-op in process)."""


#: Makes a heavy tier's batcher from ``get_model`` (the tier's current model and version) and
#: ``on_batch`` (called with each batch's size and milliseconds).
BatcherFactory = Callable[[Callable[[], tuple[Recommender, str]], Callable[[int, float], None]], Batcher]


def recommend_rows(model: Recommender, members: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) title positions and scores; a batch of one takes the single-member path (same
    answer, without the batch path's length grouping and 2-D top-k)."""
    if members.size == 1:
        idx, scores = model.recommend_one(int(members[0]), k)
        return idx[None], scores[None]
    return model.recommend_index(members, k)


#: How the batch thread shares a core with the event loop (:class:`MicroBatcher`'s ``priority``).
PRIORITIES = ("idle", "low", "normal")


def _yield_to_event_loop(priority: str, nice: int) -> None:
    """Lower the batch thread's scheduling priority (Linux; per thread: the thread id names the thread)."""
    tid = threading.get_native_id()
    try:
        if priority == "idle" and hasattr(os, "sched_setscheduler"):
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        elif priority in ("idle", "low") and nice and hasattr(os, "setpriority"):
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError:  # not permitted here; the batcher works all the same
        pass


class MicroBatcher:
    """Collects ``submit`` calls into batches for a model's ``recommend_index``.

    Args:
        get_model: returns the current ``(model, version)``; called at every batch, so a model
            swap takes effect at the next batch without disturbing one in flight.
        max_batch: most requests in one call.
        max_wait_ms: longest a request waits for the batch to fill.
        on_batch: called with ``(batch_size, batch_ms)`` after each batch (metrics, latency estimates).
        priority: how the batch thread shares a core with the event loop, which answers every light
            request and all HTTP and should win: a heavy batch then takes longer, the router sees it
            and sends more requests to the light tier, instead of every request waiting behind the batch.
            ``low`` (default): niceness ``nice``, a share of the core even when the loop is busy.
            ``idle`` (Linux ``SCHED_IDLE``): the thread runs only when nothing else on its core wants
            to, so the loop never waits for it; but under overload the heavy tier then gets no CPU at
            all, and every request the router still sends it (a probe) times out (``bench/scale.py``
            measured more late answers at 2x overload than with ``low``). ``normal``: as the process.
        nice: the niceness of ``low`` (and of ``idle`` where ``SCHED_IDLE`` is not available).
    """

    def __init__(
        self,
        get_model: Callable[[], tuple[Recommender, str]],
        *,
        max_batch: int = 32,
        max_wait_ms: float = 2.0,
        on_batch: Callable[[int, float], None] | None = None,
        priority: str = "low",
        nice: int = 10,
    ) -> None:
        if max_batch < 1:
            raise ConfigError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ConfigError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        if priority not in PRIORITIES:
            raise ConfigError(f"priority must be one of {', '.join(PRIORITIES)}; got {priority!r}")
        self.get_model = get_model
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self.on_batch = on_batch
        self._pending: list[tuple[int, int, asyncio.Future[BatchResult]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="marquee-batch", initializer=_yield_to_event_loop, initargs=(priority, nice))
        self._running = False  # a batch is computing: new requests accumulate for the next one
        self.in_flight = 0

    @property
    def depth(self) -> int:
        """Requests waiting or being computed."""
        return len(self._pending) + self.in_flight

    def prepare(self, version: str) -> None:
        """Nothing to do: ``get_model`` hands the next batch the swapped-in model."""

    async def submit(self, member_idx: int, k: int) -> BatchResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[BatchResult] = loop.create_future()
        self._pending.append((member_idx, k, future))
        if not self._running:  # (while a batch runs, its end starts the next one)
            if len(self._pending) >= self.max_batch:
                self._start()
            elif self._timer is None:
                self._timer = loop.call_later(self.max_wait_ms / 1000.0, self._start)
        return await future

    def _start(self) -> None:
        """Run up to ``max_batch`` pending requests as the next batch, unless one is running."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._running or not self._pending:
            return
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        self._running = True
        self.in_flight += len(batch)
        asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[tuple[int, int, asyncio.Future[BatchResult]]]) -> None:
        members = np.array([m for m, _, _ in batch], dtype=np.int64)
        k = max(k for _, k, _ in batch)
        try:
            model, version = self.get_model()
            start = time.perf_counter()
            idx, scores = await asyncio.get_running_loop().run_in_executor(self._executor, recommend_rows, model, members, k)
            ms = (time.perf_counter() - start) * 1000.0
        except Exception as exc:  # noqa: BLE001 - handed to every waiter, who falls back
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        finally:
            self.in_flight -= len(batch)
            self._running = False
            # What arrived during this batch has waited long enough: the worker starts on it
            # now, while the loop hands this batch's answers out.
            self._start()
        if self.on_batch is not None:
            self.on_batch(len(batch), ms)
        for row, (_, k_req, fut) in enumerate(batch):
            if not fut.done():  # a waiter may have given up (deadline)
                fut.set_result(BatchResult(idx[row, :k_req], scores[row, :k_req], model, version, len(batch), ms))
