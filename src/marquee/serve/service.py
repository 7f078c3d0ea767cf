"""The service's state and operations: the router, the registry, what each tier serves, and the
admin, experiment and artwork operations that the HTTP layer (:mod:`marquee.serve.app`) exposes."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from marquee.errors import ArtifactError, ConfigError, DataError, MarqueeError, UnknownIdError
from marquee.experiment.assignment import Allocator
from marquee.experiment.exposure import Exposure, ExposureSink
from marquee.rank.base import Recommender
from marquee.rank.context import ContextStage
from marquee.serve.artwork import Artwork
from marquee.serve.batching import BatcherFactory, MicroBatcher
from marquee.serve.metrics import ServiceMetrics
from marquee.serve.precomputed import Precomputed
from marquee.serve.registry import ModelRegistry, ModelVersion
from marquee.serve.router import Answer, Router, Shed

if TYPE_CHECKING:
    from marquee.serve.search import TitleSearch
    from marquee.serve.web import HomePages

__all__ = ["Conflict", "Invalid", "NotEnabled", "NotFound", "Overloaded", "Service", "ServiceError"]

log = logging.getLogger("marquee.serve")


#: The name under which the admin API and :meth:`Service.load` address the context stage.
CONTEXT = "context"
#: What :meth:`Service.load` can load into.
TIERS = ("heavy", "light", CONTEXT)


class ServiceError(MarqueeError):
    """An operation the service refuses. ``code`` is a stable snake_case reason and ``message``
    says what was wrong and what to do; the HTTP layer maps each subclass to a status
    (:data:`marquee.serve.errors.STATUS`) and answers ``{"error": code, "detail": message}``."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class Invalid(ServiceError):
    """The request names something that cannot exist (a tier the service has not, a malformed reference)."""


class NotEnabled(ServiceError):
    """The operation needs a part the service was started without (experiments, artwork)."""


class NotFound(ServiceError):
    """The request names a title or decision the service does not know."""


class Overloaded(ServiceError):
    """The request was shed to keep the latency budget of more important ones; retry after ``retry_after_s``."""

    def __init__(self, code: str, message: str, retry_after_s: float) -> None:
        super().__init__(code, message)
        self.retry_after_s = retry_after_s


class Conflict(ServiceError):
    """The request contradicts what is already stored (a different reward for a decision, a
    refused artifact, an alias with nothing to roll back to)."""


@contextmanager
def _registry_refusals() -> Iterator[None]:
    """The registry's errors as the service's refusals: a version, model or alias it has not is
    ``unknown_model`` (404), a malformed reference ``invalid_reference`` (422), an artifact that
    fails verification ``artifact_refused`` (409)."""
    try:
        yield
    except UnknownIdError as exc:
        raise NotFound("unknown_model", str(exc)) from None
    except ConfigError as exc:
        raise Invalid("invalid_reference", str(exc)) from None
    except ArtifactError as exc:
        raise Conflict("artifact_refused", str(exc)) from None


@dataclass
class _Served:
    ref: str  # what was asked for, e.g. "sasrec@production"
    version: ModelVersion


class Service:
    """The router, the registry and what each tier serves; the admin operations live here.

    Args:
        router: the router, with its popularity fallback.
        registry: where models are loaded from.
        admin_token: the bearer token of the admin API; ``None`` disables the admin API.
        max_batch, max_wait_ms: micro-batching of the heavy tier.
        heavy_priority: how the heavy tier's batch thread shares a core with the event loop
            (:class:`~marquee.serve.batching.MicroBatcher`'s ``priority``: idle, low or normal).
        allocator, exposures: experiment assignments behind ``GET /v1/assignments/{member_id}``.
        artwork: artwork decisions behind ``POST /v1/artwork`` and ``POST /v1/feedback``.
        search: title search behind ``GET /v1/search`` (:mod:`marquee.serve.search`); ``None``: 404 ``no_search``.
        heavy_batcher: makes the heavy tier's batcher (default: an in-process
            :class:`~marquee.serve.batching.MicroBatcher`; Ray Serve's sends batches to its heavy deployment).
        follow_registry_s: every this many seconds (0: never), tiers serving an alias reload when the
            registry has moved it elsewhere (:meth:`follow_registry`).

    ``pages`` (:class:`~marquee.serve.web.HomePages`, set once the service exists: it reads the
    service's models) serves the homepage at ``/``; ``None``: no homepage.

    A context stage (:meth:`load_context`) re-ranks every tier's candidates for requests that
    state their device and local hour.
    """

    def __init__(
        self,
        router: Router,
        registry: ModelRegistry,
        *,
        admin_token: str | None = None,
        max_batch: int = 32,
        max_wait_ms: float = 2.0,
        allocator: Allocator | None = None,
        exposures: ExposureSink | None = None,
        artwork: Artwork | None = None,
        search: TitleSearch | None = None,
        heavy_batcher: BatcherFactory | None = None,
        follow_registry_s: float = 0.0,
        heavy_priority: str = "low",
    ) -> None:
        self.router = router
        self.heavy_batcher = heavy_batcher
        self.heavy_priority = heavy_priority
        self.follow_registry_s = follow_registry_s
        self.artwork = artwork
        self.search = search
        self.pages: HomePages | None = None
        self.allocator = allocator
        self.exposures = exposures
        self.registry = registry
        self.admin_token = admin_token
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self.metrics = ServiceMetrics()
        self.metrics.loop_lag.set_function(lambda: (router.loop_lag.value or 0.0) / 1000.0)
        self.metrics.watch_search_cache(lambda: None if self.search is None else self.search.engine.index.cache_info())
        self.served: dict[str, _Served] = {}
        #: The context stage: (the reference asked for, its version, the stage), or None.
        self.context: tuple[str, ModelVersion, ContextStage] | None = None
        self.started = time.time()

    def load(self, tier: str, ref: str) -> ModelVersion:
        """Load ``ref`` from the registry (checksums verified) and hot-swap it into ``tier``
        (``heavy``, ``light``, or ``context`` for the context stage).

        A refused artifact raises and leaves the tier serving what it served.

        Raises:
            Invalid: ``tier`` is none of :data:`TIERS` (nothing is loaded), or ``ref`` is malformed.
            NotFound: the registry has no such model, version or alias.
            Conflict: the artifact fails verification.
        """
        if tier not in TIERS:
            raise Invalid("unknown_tier", f"tier must be one of {', '.join(TIERS)}; got {tier!r}")
        if tier == CONTEXT:
            return self.load_context(ref)
        with _registry_refusals():
            mv, model = self.registry.load(ref)
        self._install(tier, ref, mv, model)
        return mv

    def load_precomputed(self, path: str | os.PathLike[str]) -> Precomputed:
        """Load (and verify) a precomputed table as the tier before popularity; a refused table raises and changes nothing."""
        try:
            table = Precomputed.load(path)
        except ArtifactError as exc:
            raise Conflict("artifact_refused", str(exc)) from None
        self.router.precomputed = table  # one reference swap
        log.info("precomputed table loaded", extra={"path": str(path), "members": len(table), "version": table.version,
                                                    "staleness_s": round(table.staleness_s(), 1)})  # fmt: skip
        return table

    def load_context(self, ref: str) -> ModelVersion:
        """Load a context stage (``marquee train-context``) from the registry and use it from the
        next request on; a refused artifact raises and changes nothing."""
        with _registry_refusals():
            mv, stage = self.registry.load(ref, kind=ContextStage)
        self.context = (ref, mv, stage)  # one reference swap: a request uses the old or the new stage whole
        log.info("context stage loaded", extra={"ref": ref, "version": mv.ref, "weight": stage.weight, "candidates": stage.candidates})
        return mv

    async def recommend(
        self, member_id: int | str, k: int, *, mode: str = "auto", budget_ms: float | None = None,
        device: str | None = None, local_hour: int | None = None, priority: str = "critical", arrived: float | None = None,
    ) -> tuple[Answer, np.ndarray, np.ndarray, str | None]:
        """The router's answer, then the context stage's re-ranking when one is loaded and the
        request states its device and hour (the router is asked for the stage's candidates).

        Returns:
            (answer, title ids, scores, stage): the router's answer, the ``k`` titles served with
            their scores, and the stage's registry reference when it re-ranked them (else ``None``).
        """  # fmt: skip
        context = self.context if device is not None and local_hour is not None else None
        n = max(k, context[2].candidates) if context is not None else k
        try:
            answer = await self.router.recommend(member_id, n, mode=mode, budget_ms=budget_ms, priority=priority, arrived=arrived)
        except Shed as exc:
            self.metrics.child(self.metrics.shed, priority).inc()
            raise Overloaded("overloaded", f"the service is overloaded and sheds {priority} requests first; retry after "
                             f"{exc.retry_after_s:g} s", exc.retry_after_s) from None  # fmt: skip
        if answer.switched or answer.fallback_reason is not None:
            self.metrics.child(self.metrics.degraded, priority, answer.model_used).inc()
        ids, scores = answer.title_ids, answer.scores
        if context is not None and answer.model_used != "precomputed":
            _, mv, stage = context
            reranked, new, applied = stage.rerank(ids, scores, device, local_hour, k=k)
            if applied:
                self.metrics.child(self.metrics.context_reranked, mv.ref).inc()
                return answer, reranked, new, mv.ref
        return answer, ids[:k], scores[:k], None

    def _install(self, tier: str, ref: str, mv: ModelVersion, model: Recommender) -> None:
        batcher = None
        current = lambda: self.router.tiers["heavy"].serving
        if tier == "heavy" and "heavy" not in self.router.tiers and self.heavy_batcher is not None:
            batcher = self.heavy_batcher(current, self._on_batch)
        elif tier == "heavy" and "heavy" not in self.router.tiers and self.max_batch > 0:  # 0: inline, on the event loop
            batcher = MicroBatcher(current, max_batch=self.max_batch, max_wait_ms=self.max_wait_ms, on_batch=self._on_batch,
                                   priority=self.heavy_priority)  # fmt: skip
        self._warm(model)
        running = self.router.tiers.get(tier)
        if batcher is None and running is not None:
            batcher = running.batcher
        if batcher is not None:  # a remote model's replicas start loading the version before it is asked for
            batcher.prepare(mv.ref)
        self.router.set_tier(tier, model, mv.ref, batcher=batcher)
        self.served[tier] = _Served(ref, mv)
        self.metrics.served(tier, mv.ref)
        log.info("model loaded", extra={"tier": tier, "ref": ref, "version": mv.ref, "code_version": mv.code_version})

    def follow_registry(self) -> list[str]:
        """Reload every tier (and the context stage) whose alias the registry has moved since it was
        loaded: how replicas that did not take an admin call, or a service whose registry
        ``marquee models promote`` changed directly, catch up. Returns the tiers reloaded; a version
        that cannot be loaded is logged and the tier keeps serving what it served."""
        moved: list[str] = []
        served = [(tier, s.ref, s.version) for tier, s in self.served.items()]
        if self.context is not None:
            served.append((CONTEXT, self.context[0], self.context[1]))
        for tier, ref, mv in served:
            if "@" not in ref:
                continue
            name, alias = ref.split("@", 1)
            try:
                if self.registry.alias(name, alias) in (None, mv.version):
                    continue
                self.load(tier, ref)
            except (ServiceError, MarqueeError) as exc:
                log.warning("registry moved an alias, but its version could not be loaded", extra={"tier": tier, "ref": ref, "reason": str(exc)})
                continue
            moved.append(tier)
        return moved

    def describe(self) -> str:
        """One line of what is served (printed at start)."""
        search = self.search
        return (f"tiers: {self.router.available() or ['popular only']}"
                + (f"; context stage: {self.context[1].ref}" if self.context else "")
                + (f"; precomputed: {self.router.precomputed.version}" if self.router.precomputed is not None else "")
                + (f"; artwork: {self.artwork!r}, log {self.artwork.sink.path}" if self.artwork is not None else "")
                + (f"; search ranked by {search.ranker}" if search is not None else "; search off"))  # fmt: skip

    def assignments(self, member_id: int, *, expose: bool) -> dict[str, Any]:
        """The member's variant in every running experiment; with ``expose``, each is also logged
        as an exposure (the caller is about to render it)."""
        if self.allocator is None:
            raise NotEnabled("no_experiments", "start the service with --experiments FILE (an allocation config)")
        (found,) = self.allocator.assign([member_id])
        if expose and self.exposures is not None and found.assignments:
            now = time.time()
            self.exposures.write([Exposure(member_id, a.experiment, a.variant, now) for a in found.assignments])
        return found.to_dict()

    def _artwork(self) -> Artwork:
        if self.artwork is None:
            raise NotEnabled("no_artwork", "start the service with artwork enabled (marquee serve --artwork)")
        return self.artwork

    async def choose_artwork(self, member_id: int | str, title_id: int | str, device: str | None, local_hour: int | None) -> dict[str, Any]:
        """Choose the title's artwork for the member; answered only once the decision is durably logged."""
        artwork = self._artwork()
        try:
            d = await artwork.decide_async(member_id, title_id, device, local_hour)
        except UnknownIdError as exc:
            raise NotFound("unknown_title", str(exc)) from None
        self.metrics.child(self.metrics.artwork_decisions, d.policy).inc()
        log.debug("artwork decision", extra={"decision_id": d.decision_id, "member_id": d.member_id, "title_id": d.title_id,
                                             "variant_id": d.variant_id, "propensity": d.propensity, "policy": d.policy})  # fmt: skip
        return {
            "decision_id": d.decision_id, "member_id": d.member_id, "title_id": d.title_id, "variant_id": d.variant_id,
            "attributes": artwork.attributes(d), "propensity": d.propensity, "policy": d.policy, "n_variants": len(d.variant_ids),
        }  # fmt: skip

    async def artwork_feedback(self, decision_id: str, reward: float) -> dict[str, Any]:
        """Log a reward (durably) and update the policy; idempotent for an identical retry."""
        artwork = self._artwork()
        try:
            d, new = await artwork.feedback_async(decision_id, reward)
        except UnknownIdError as exc:
            raise NotFound("unknown_decision", str(exc)) from None
        except DataError as exc:
            log.warning("artwork feedback refused", extra={"decision_id": decision_id, "reward": reward, "reason": str(exc)})
            raise Conflict("feedback_conflict", str(exc)) from None
        m = self.metrics
        m.child(m.artwork_feedback, d.policy, "logged" if new else "duplicate").inc()
        if new:
            m.child(m.artwork_reward, d.policy).inc(reward)
        log.debug("artwork feedback", extra={"decision_id": d.decision_id, "reward": reward, "policy": d.policy, "duplicate": not new})
        return {"decision_id": d.decision_id, "reward": float(reward), "duplicate": not new, "policy": d.policy}

    def flush(self) -> None:
        """Make buffered exposures durable, and close the homepage's expired click windows (every few
        seconds, and at shutdown)."""
        if self.pages is not None:
            self.pages.sweep()
        if self.exposures is not None:
            self.exposures.flush()

    def close(self) -> None:
        """At shutdown: flush exposures and close the artwork decision log (its last checkpoint)."""
        self.flush()
        if self.pages is not None:
            self.pages.close()
        close = getattr(self.artwork.sink, "close", None) if self.artwork is not None else None
        if close is not None:
            close()

    def _warm(self, model: Recommender) -> None:
        # The fastest exact inference path (ONNX Runtime for SASRec), one thread: requests are the
        # parallel unit. First calls pay for allocations and lazy initialisation; don't let a member pay them.
        model.for_serving(threads=1)
        for _ in range(3):
            model.recommend_index(np.array([0]), 10)

    def _on_batch(self, size: int, ms: float) -> None:
        self.router.tiers["heavy"].latency.observe(ms)
        self.metrics.batch_size.observe(size)
        self.metrics.batch_latency.observe(ms / 1000.0)

    def promote(self, name: str, version: int, alias: str, *, actor: str, reason: str) -> dict[str, Any]:
        """Point ``name@alias`` at ``version``; tiers serving that alias swap to it.

        Raises the refusals of :meth:`load` (a missing version is :class:`NotFound`)."""
        return self._move_alias(name, alias, version, lambda: self.registry.set_alias(name, alias, version, actor=actor, reason=reason))

    def rollback(self, name: str, alias: str, *, actor: str, reason: str) -> dict[str, Any]:
        """Move ``name@alias`` one step back; tiers serving that alias swap to it.

        Raises:
            Conflict: ``nothing_to_roll_back`` when the alias was never moved, or only once.
        """
        with _registry_refusals():
            self.registry.require_model(name)  # an unknown model is 404, not "nothing to roll back"
        try:
            target = self.registry.rollback_target(name, alias)
        except ConfigError as exc:
            raise Conflict("nothing_to_roll_back", str(exc)) from None
        return self._move_alias(name, alias, target, lambda: self.registry.rollback(name, alias, actor=actor, reason=reason))

    def _move_alias(self, name: str, alias: str, version: int, move: Any) -> dict[str, Any]:
        ref = f"{name}@{alias}"
        with _registry_refusals():
            current = self.registry.alias(name, alias)
        if current == version:
            with _registry_refusals():
                self.registry.get(name, version)  # a version that does not exist is still 404
            # Already in place: the registry records nothing, and nothing is reloaded.
            return {"alias": ref, "from_version": version, "to_version": version, "reloaded": [], "changed": False}
        tiers = [tier for tier, served in self.served.items() if served.ref == ref]
        stage = self.context is not None and self.context[0] == ref
        # Load (and verify) the target once, before anything moves: a refused artifact moves nothing.
        with _registry_refusals():
            loaded = self.registry.load(f"{name}:{version}") if tiers else None
            loaded_stage = self.registry.load(f"{name}:{version}", kind=ContextStage) if stage else None
            moved = move()
        for tier in tiers:
            self._install(tier, ref, *loaded)
        if loaded_stage is not None:
            self.context = (ref, *loaded_stage)
            tiers.append(CONTEXT)
        log.info("alias moved", extra={"alias": ref, "from_version": moved.from_version, "to_version": moved.to_version, "tiers": tiers})
        return {"alias": ref, "from_version": moved.from_version, "to_version": moved.to_version, "reloaded": tiers, "changed": moved.changed}
