"""The inference service's ASGI application: the hot paths (:mod:`marquee.serve.hot_path`) in
front of a FastAPI app that documents them (OpenAPI) and serves health, readiness, metrics, the
assignment endpoint and the token-protected admin API."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from marquee.errors import MarqueeError
from marquee.serve.artwork import ArtworkBody, FeedbackBody
from marquee.serve.hot_path import PATH, ArtworkPath, HotPath, status_of
from marquee.serve.schemas import (
    RequestDoc,
    ResponseDoc,
)
from marquee.serve.service import Service, ServiceError

__all__ = ["Service", "create_app"]

#: Buffered exposures are written out at least this often (and at shutdown).
EXPOSURE_FLUSH_S = 5.0


# ---- FastAPI: docs, health, metrics, admin --------------------------------------------------
class LoadBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: str = Field(..., description="heavy, light or context (the context stage)")
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
                await asyncio.get_running_loop().run_in_executor(None, service.flush)

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

    @app.exception_handler(ServiceError)
    async def _refused(_: Request, exc: ServiceError) -> JSONResponse:
        return fail(status_of(exc), exc.code, str(exc))

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
        ctx = body.context
        answer, ids, scores, stage = await service.recommend(
            body.member_id, body.k, mode=body.model, budget_ms=body.latency_budget_ms,
            device=ctx.device if ctx else None, local_hour=ctx.local_hour if ctx else None,
        )  # fmt: skip
        return {
            "member_id": body.member_id,
            "items": [{"title_id": t, "score": s} for t, s in zip(ids.tolist(), scores.tolist(), strict=True)],
            "model_used": answer.model_used, "model_version": answer.model_version,
            "fallback_reason": answer.fallback_reason, "latency_ms": answer.latency_ms, "context_stage": stage,
        }  # fmt: skip

    @app.get("/v1/assignments/{member_id}", summary="The member's variant in every running experiment")
    def assignments(
        member_id: int = Path(..., ge=0, description="Member id."),
        expose: bool = Query(True, description="Log an exposure for each assignment (false: only look)."),
    ) -> dict[str, Any]:
        return service.assignments(member_id, expose=expose)

    # Answered by ArtworkPath in front (msgspec, no FastAPI layers); declared here for the docs.
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
        served = [(tier, s.ref, s.version) for tier, s in service.served.items()]
        if service.context is not None:
            served.append(("context", service.context[0], service.context[1]))
        return {
            tier: {"ref": ref, "version": mv.ref, "class": mv.cls, "data_fingerprint": mv.data_fingerprint,
                   "code_version": mv.code_version, "created_at": mv.created_at, "metrics": mv.metrics}
            for tier, ref, mv in served
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

    return HotPath(service, ArtworkPath(service, app))
