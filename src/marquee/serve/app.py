"""The inference service: a hot path for recommendations, FastAPI for everything else.

``POST /v1/recommendations`` is answered by a bare ASGI handler in front of FastAPI: msgspec
decodes and validates the body in one pass and encodes the answer, so the per-request cost is the
model's plus a few microseconds (FastAPI's routing, dependency and pydantic layers cost several
times the light model itself). The same route is declared in FastAPI so it appears in the
OpenAPI docs. ``POST /v1/artwork`` and ``POST /v1/feedback`` get the same treatment from a second
bare-ASGI handler behind the first (the recommendations path never passes through it). Health,
readiness, metrics and the token-protected admin API are plain FastAPI.
"""

from __future__ import annotations

import asyncio
import contextlib

import hmac
import logging
import time
from dataclasses import dataclass
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import numpy as np
from fastapi import FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from marquee.errors import DataError, MarqueeError, UnknownIdError
from marquee.experiment.assignment import Allocator
from marquee.experiment.exposure import Exposure, ExposureSink
from marquee.rank.base import Recommender
from marquee.serve.artwork import Artwork, ArtworkBody, ArtworkRequest, FeedbackBody, FeedbackRequest
from marquee.serve.batching import MicroBatcher
from marquee.serve.metrics import ServiceMetrics
from marquee.serve.registry import ModelRegistry, ModelVersion
from marquee.serve.router import Router
from marquee.serve.schemas import (
    MAX_BODY_BYTES,
    RecommendationRequest,
    RecommendationResponse,
    RequestDoc,
    ResponseDoc,
    ScoredTitle,
)

__all__ = ["Service", "create_app"]

log = logging.getLogger("marquee.serve")
PATH = "/v1/recommendations"


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
        allocator, exposures: experiment assignments behind ``GET /v1/assignments/{member_id}``.
        artwork: artwork decisions behind ``POST /v1/artwork`` and ``POST /v1/feedback``.
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
    ) -> None:
        self.router = router
        self.artwork = artwork
        self.allocator = allocator
        self.exposures = exposures
        self.registry = registry
        self.admin_token = admin_token
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self.metrics = ServiceMetrics()
        self.metrics.loop_lag.set_function(lambda: (router.loop_lag.value or 0.0) / 1000.0)
        self.served: dict[str, _Served] = {}
        self.started = time.time()

    def load(self, tier: str, ref: str) -> ModelVersion:
        """Load ``ref`` from the registry (checksums verified) and hot-swap it into ``tier``.

        A refused artifact raises and leaves the tier serving what it served."""
        mv, model = self.registry.load(ref)
        self._install(tier, ref, mv, model)
        return mv

    def _install(self, tier: str, ref: str, mv: ModelVersion, model: Recommender) -> None:
        batcher = None
        if tier == "heavy" and "heavy" not in self.router.tiers and self.max_batch > 0:  # 0: inline, on the event loop
            batcher = MicroBatcher(
                lambda: (self.router.tiers["heavy"].model, self.router.tiers["heavy"].version),
                max_batch=self.max_batch, max_wait_ms=self.max_wait_ms, on_batch=self._on_batch,
            )  # fmt: skip
        self._warm(model)
        self.router.set_tier(tier, model, mv.ref, batcher=batcher)
        self.served[tier] = _Served(ref, mv)
        self.metrics.served(tier, mv.ref)
        log.info("model loaded", extra={"tier": tier, "ref": ref, "version": mv.ref, "code_version": mv.code_version})

    def assignments(self, member_id: int, *, expose: bool) -> dict[str, Any]:
        """The member's variant in every running experiment; with ``expose``, each is also logged
        as an exposure (the caller is about to render it)."""
        if self.allocator is None:
            raise HTTPException(404, "no_experiments: start the service with --experiments FILE (an allocation config)")
        (found,) = self.allocator.assign([member_id])
        if expose and self.exposures is not None and found.assignments:
            now = time.time()
            self.exposures.write([Exposure(member_id, a.experiment, a.variant, now) for a in found.assignments])
        return found.to_dict()

    def _artwork(self) -> Artwork:
        if self.artwork is None:
            raise HTTPException(404, "no_artwork: start the service with artwork enabled (marquee serve --artwork)")
        return self.artwork

    async def choose_artwork(self, member_id: int, title_id: int, device: str | None, local_hour: int | None) -> dict[str, Any]:
        """Choose the title's artwork for the member; answered only once the decision is durably logged."""
        artwork = self._artwork()
        try:
            d = await artwork.decide_async(member_id, title_id, device, local_hour)
        except UnknownIdError as exc:
            raise HTTPException(404, f"unknown_title: {exc}") from None
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
            raise HTTPException(404, f"unknown_decision: {exc}") from None
        except DataError as exc:
            log.warning("artwork feedback refused", extra={"decision_id": decision_id, "reward": reward, "reason": str(exc)})
            raise HTTPException(409, f"feedback_conflict: {exc}") from None
        m = self.metrics
        m.child(m.artwork_feedback, d.policy, "logged" if new else "duplicate").inc()
        if new:
            m.child(m.artwork_reward, d.policy).inc(reward)
        log.debug("artwork feedback", extra={"decision_id": d.decision_id, "reward": reward, "policy": d.policy, "duplicate": not new})
        return {"decision_id": d.decision_id, "reward": float(reward), "duplicate": not new, "policy": d.policy}

    def close(self) -> None:
        """Make buffered exposures durable (called at shutdown)."""
        if self.exposures is not None:
            self.exposures.flush()

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
        """Point ``name@alias`` at ``version``; tiers serving that alias swap to it."""
        return self._move_alias(name, alias, version, lambda: self.registry.set_alias(name, alias, version, actor=actor, reason=reason))

    def rollback(self, name: str, alias: str, *, actor: str, reason: str) -> dict[str, Any]:
        """Move ``name@alias`` one step back; tiers serving that alias swap to it."""
        target = self.registry.rollback_target(name, alias)
        return self._move_alias(name, alias, target, lambda: self.registry.rollback(name, alias, actor=actor, reason=reason))

    def _move_alias(self, name: str, alias: str, version: int, move: Any) -> dict[str, Any]:
        ref = f"{name}@{alias}"
        tiers = [tier for tier, served in self.served.items() if served.ref == ref]
        # Load (and verify) the target once, before anything moves: a refused artifact moves nothing.
        loaded = self.registry.load(f"{name}:{version}") if tiers else None
        moved = move()
        for tier in tiers:
            self._install(tier, ref, *loaded)
        log.info("alias moved", extra={"alias": ref, "from_version": moved.from_version, "to_version": moved.to_version, "tiers": tiers})
        return {"alias": ref, "from_version": moved.from_version, "to_version": moved.to_version, "reloaded": tiers}


#: Buffered exposures are written out at least this often (and at shutdown).
EXPOSURE_FLUSH_S = 5.0

# ---- the hot path -------------------------------------------------------------------------
_decoder = msgspec.json.Decoder(RecommendationRequest)
_encoder = msgspec.json.Encoder()
_JSON = [(b"content-type", b"application/json")]


async def _read_body(scope: dict, receive: Any) -> bytes | None:
    """The request body, or ``None`` once it is known to exceed :data:`MAX_BODY_BYTES` (by its
    declared length, or while it streams in: nothing past the limit is buffered)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
            return None
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _error(status: int, code: str, detail: str) -> tuple[int, bytes]:
    return status, _encoder.encode({"error": code, "detail": detail})


class _HotPath:
    """ASGI app: POST /v1/recommendations here, every other request to FastAPI."""

    def __init__(self, service: Service, app: FastAPI) -> None:
        self.service = service
        self.app = app
        self._watch: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if self._watch is None or self._watch.done() or self._watch.get_loop() is not asyncio.get_running_loop():
            # On the serving loop, which exists only once requests arrive (test clients may bring new loops).
            self._watch = asyncio.get_running_loop().create_task(self.service.router.watch_loop())
        status, body = await self._handle(scope, receive)
        metrics = self.service.metrics
        metrics.child(metrics.requests, PATH, str(status)).inc()
        await send({"type": "http.response.start", "status": status, "headers": _JSON})
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: dict, receive: Any) -> tuple[int, bytes]:
        raw = await _read_body(scope, receive)
        if raw is None:
            return _error(413, "body_too_large", f"request body is over {MAX_BODY_BYTES} bytes")
        try:
            req = _decoder.decode(raw)
        except msgspec.ValidationError as exc:
            return _error(422, "invalid_request", str(exc))
        except msgspec.DecodeError as exc:
            return _error(400, "malformed_json", f"body is not valid JSON: {exc}")
        service = self.service
        answer = await service.router.recommend(req.member_id, req.k, mode=req.model, budget_ms=req.latency_budget_ms)
        m = service.metrics
        m.child(m.latency, answer.model_used).observe(answer.latency_ms / 1000.0)
        if answer.switched:
            m.child(m.switches, answer.model_used).inc()
        if answer.fallback_reason is not None:
            m.child(m.fallbacks, answer.fallback_reason).inc()
            log.info("fallback", extra={"member_id": req.member_id, "reason": answer.fallback_reason, "model_used": answer.model_used})
        items = [ScoredTitle(t, s) for t, s in zip(answer.title_ids.tolist(), answer.scores.tolist(), strict=True)]
        resp = RecommendationResponse(req.member_id, items, answer.model_used, answer.model_version, answer.fallback_reason, round(answer.latency_ms, 3))
        return 200, _encoder.encode(resp)


# ---- artwork: the same bare-ASGI treatment, behind the hot path -----------------------------------
_artwork_decoder = msgspec.json.Decoder(ArtworkRequest)
_feedback_decoder = msgspec.json.Decoder(FeedbackRequest)
ARTWORK_PATHS = ("/v1/artwork", "/v1/feedback")


class _ArtworkPath:
    """ASGI app: POST /v1/artwork and /v1/feedback here (msgspec in and out), everything else to FastAPI.

    The answer waits for the decision log's group commit without blocking the event loop."""

    def __init__(self, service: Service, app: FastAPI) -> None:
        self.service = service
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in ARTWORK_PATHS:
            await self.app(scope, receive, send)
            return
        status, body = await self._handle(scope["path"], scope, receive)
        metrics = self.service.metrics
        metrics.child(metrics.requests, scope["path"], str(status)).inc()
        await send({"type": "http.response.start", "status": status, "headers": _JSON})
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, path: str, scope: dict, receive: Any) -> tuple[int, bytes]:
        raw = await _read_body(scope, receive)
        if raw is None:
            return _error(413, "body_too_large", f"request body is over {MAX_BODY_BYTES} bytes")
        try:
            if path == "/v1/artwork":
                req = _artwork_decoder.decode(raw)
                ctx = req.context
                answer = await self.service.choose_artwork(req.member_id, req.title_id, ctx.device if ctx else None, ctx.local_hour if ctx else None)
            else:
                fb = _feedback_decoder.decode(raw)
                answer = await self.service.artwork_feedback(fb.decision_id, fb.reward)
        except msgspec.ValidationError as exc:
            return _error(422, "invalid_request", str(exc))
        except msgspec.DecodeError as exc:
            return _error(400, "malformed_json", f"body is not valid JSON: {exc}")
        except HTTPException as exc:
            return _error(exc.status_code, str(exc.detail).split(":")[0], str(exc.detail))
        return 200, _encoder.encode(answer)


# ---- FastAPI: docs, health, metrics, admin --------------------------------------------------
class LoadBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: str = Field(..., description="heavy or light")
    ref: str = Field(..., description="Registry reference: name@alias, name:version or name.")


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    version: int = Field(..., ge=1)
    alias: str = "production"
    reason: str = ""


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    alias: str = "production"
    reason: str = "rollback"


def create_app(service: Service) -> Any:
    """The ASGI application: the hot path in front of a FastAPI app."""
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def flush_every(seconds: float) -> None:
            while True:
                await asyncio.sleep(seconds)
                await asyncio.get_running_loop().run_in_executor(None, service.close)

        flusher = asyncio.create_task(flush_every(EXPOSURE_FLUSH_S))
        try:
            yield
        finally:
            flusher.cancel()
            service.close()

    app = FastAPI(
        title="Marquee inference service",
        version=__import__("marquee").__version__,
        description="Home-page rankings with per-request model switching under a latency budget.",
        lifespan=lifespan,
    )

    def fail(status: int, code: str, detail: str) -> JSONResponse:
        return JSONResponse({"error": code, "detail": detail}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return fail(422, "invalid_request", f"{first.get('msg')} - at `{where}`")

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return fail(exc.status_code, str(exc.detail).split(":")[0], str(exc.detail))

    @app.exception_handler(MarqueeError)
    async def _marquee(_: Request, exc: MarqueeError) -> JSONResponse:
        return fail(409, type(exc).__name__, str(exc))

    def admin(authorization: str | None) -> str:
        if service.admin_token is None:
            raise HTTPException(403, "admin_disabled: set MARQUEE_ADMIN_TOKEN to enable the admin API")
        expected = f"Bearer {service.admin_token}"
        if authorization is None or not hmac.compare_digest(authorization, expected):
            raise HTTPException(401, "unauthorized: send 'Authorization: Bearer <MARQUEE_ADMIN_TOKEN>'")
        return "admin-api"

    @app.post(PATH, response_model=ResponseDoc, summary="Rank titles for a member within a latency budget")
    async def recommendations(body: RequestDoc) -> Any:  # documents the hot path, which answers first
        answer = await service.router.recommend(body.member_id, body.k, mode=body.model, budget_ms=body.latency_budget_ms)
        return {
            "member_id": body.member_id,
            "items": [{"title_id": t, "score": s} for t, s in zip(answer.title_ids.tolist(), answer.scores.tolist(), strict=True)],
            "model_used": answer.model_used, "model_version": answer.model_version,
            "fallback_reason": answer.fallback_reason, "latency_ms": answer.latency_ms,
        }  # fmt: skip

    @app.get("/v1/assignments/{member_id}", summary="The member's variant in every running experiment")
    def assignments(
        member_id: int = Path(..., ge=0, description="Member id."),
        expose: bool = Query(True, description="Log an exposure for each assignment (false: only look)."),
    ) -> dict[str, Any]:
        return service.assignments(member_id, expose=expose)

    # Answered by _ArtworkPath in front (msgspec, no FastAPI layers); declared here for the docs.
    @app.post("/v1/artwork", summary="Choose a title's artwork variant for a member (logged with its propensity)")
    async def artwork(body: ArtworkBody) -> dict[str, Any]:
        ctx = body.context
        return await service.choose_artwork(body.member_id, body.title_id, ctx.device if ctx else None, ctx.local_hour if ctx else None)

    @app.post("/v1/feedback", summary="Report the reward of an artwork decision (logged, then learned from)")
    async def feedback(body: FeedbackBody) -> dict[str, Any]:
        return await service.artwork_feedback(body.decision_id, body.reward)

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "uptime_s": round(time.time() - service.started, 1)}

    @app.get("/readyz", summary="Readiness: every configured tier is loaded")
    async def readyz() -> Response:
        tiers = {name: t.version for name, t in service.router.tiers.items()}
        ready = bool(tiers)
        body = {"ready": ready, "tiers": tiers, "fallback": "popular"}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/admin/models", summary="What each tier serves, with provenance")
    async def models(authorization: str | None = Header(None)) -> dict[str, Any]:
        admin(authorization)
        return {
            tier: {"ref": s.ref, "version": s.version.ref, "class": s.version.cls, "data_fingerprint": s.version.data_fingerprint,
                   "code_version": s.version.code_version, "created_at": s.version.created_at, "metrics": s.version.metrics}
            for tier, s in service.served.items()
        }  # fmt: skip

    # Admin handlers are plain functions: FastAPI runs them on its thread pool, so reading and
    # verifying an artifact never blocks the event loop that answers members.
    @app.post("/admin/models/load", summary="Load a registry version into a tier (hot swap)")
    def load(body: LoadBody, authorization: str | None = Header(None)) -> dict[str, Any]:
        admin(authorization)
        mv = service.load(body.tier, body.ref)
        return {"tier": body.tier, "version": mv.ref}

    @app.post("/admin/models/promote", summary="Move an alias to a version; tiers serving it swap")
    def promote(body: PromoteBody, authorization: str | None = Header(None)) -> dict[str, Any]:
        actor = admin(authorization)
        return service.promote(body.name, body.version, body.alias, actor=actor, reason=body.reason)

    @app.post("/admin/models/rollback", summary="Move an alias back one step; tiers serving it swap")
    def rollback(body: RollbackBody, authorization: str | None = Header(None)) -> dict[str, Any]:
        actor = admin(authorization)
        return service.rollback(body.name, body.alias, actor=actor, reason=body.reason)

    return _HotPath(service, _ArtworkPath(service, app))
