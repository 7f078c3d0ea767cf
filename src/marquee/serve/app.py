"""The inference service's ASGI application: the hot paths (:mod:`marquee.serve.hot_path`), then
the gate (:mod:`marquee.serve.gate`: admin token, body cap), in front of a FastAPI app that
documents them (OpenAPI, with the docs' assets served from the package: they work offline) and
serves health, readiness, metrics, the assignment endpoint and the token-protected admin API.
Every refusal, whichever layer makes it, is ``{"error", "detail"}`` (:mod:`marquee.serve.errors`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import FastAPI, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from marquee.serve.artwork import ArtworkBody, FeedbackBody
from marquee.serve.errors import failure, http_code, refusal, service_refusal, validation_detail
from marquee.serve.gate import Gate
from marquee.serve.hot_path import PATH, ArtworkPath, HotPath
from marquee.serve.schemas import MAX_ID, RequestDoc, ResponseDoc
from marquee.serve.search import MAX_SEARCH_K, SEARCH_PATH, SearchPath
from marquee.serve.search import answer as search_answer
from marquee.serve.service import Service, ServiceError
from marquee.serve.web.routes import PageRefusal, homepage_router, refusal_page

__all__ = ["Service", "create_app"]

log = logging.getLogger("marquee.serve")

#: Buffered exposures are written out at least this often (and at shutdown).
EXPOSURE_FLUSH_S = 5.0
#: Where the docs' JavaScript, CSS and icon are served from (files of the fastapi-offline package).
DOCS_ASSETS = "/docs/assets"


# ---- FastAPI: docs, health, metrics, admin --------------------------------------------------
class LoadBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: Literal["heavy", "light", "context"] = Field(..., description="heavy, light or context (the context stage)")
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
    """The ASGI application: the hot paths, then the gate, in front of a FastAPI app."""
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def flush_every(seconds: float) -> None:
            while True:
                await asyncio.sleep(seconds)
                await asyncio.get_running_loop().run_in_executor(None, service.flush)

        async def follow_every(seconds: float) -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await asyncio.get_running_loop().run_in_executor(None, service.follow_registry)
                except Exception:  # a registry out of reach this time (locked, a share gone): try again next time
                    log.warning("could not follow the registry; trying again", exc_info=True)

        tasks = [asyncio.create_task(flush_every(EXPOSURE_FLUSH_S))]
        if service.follow_registry_s > 0:
            tasks.append(asyncio.create_task(follow_every(service.follow_registry_s)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            service.close()

    app = FastAPIOffline(
        title="Marquee inference service",
        version=__import__("marquee").__version__,
        description="Home-page rankings with per-request model switching under a latency budget.",
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
    )

    def reply(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        if first.get("type") == "json_invalid":  # as the hot paths answer a body that is not JSON
            detail = f"the body is not valid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}"
            return reply(400, refusal(request.scope, 400, "malformed_json", detail))
        if service.pages is not None and request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return refusal_page(request, PageRefusal(422, "bad request", validation_detail(first)))
        return reply(422, refusal(request.scope, 422, "invalid_request", validation_detail(first)))

    @app.exception_handler(HTTPException)  # the framework's own: no route (404), wrong method (405)
    async def _http(request: Request, exc: HTTPException) -> Response:
        method, path = request.method, request.url.path
        if service.pages is not None and method == "GET" and "text/html" in request.headers.get("accept", ""):
            # A person in a browser gets a page, not JSON.
            title = "page not found" if exc.status_code == 404 else "not allowed"
            return refusal_page(request, PageRefusal(exc.status_code, title, f"nothing here at {path}"))
        if exc.status_code == 404:
            detail = f"no endpoint at {path}; /docs lists them"
        elif exc.status_code == 405:
            detail = f"{path} does not answer {method}; it answers {(exc.headers or {}).get('Allow', 'other methods')}"
        else:
            detail = str(exc.detail)
        return reply(exc.status_code, refusal(request.scope, exc.status_code, http_code(exc.status_code), detail), exc.headers)

    @app.exception_handler(ServiceError)
    async def _refused(request: Request, exc: ServiceError) -> Response:
        return reply(*service_refusal(request.scope, exc))

    @app.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception) -> Response:
        return reply(*failure(request.scope))

    # The gate in front of FastAPI checks the token (FastAPI would read the body first); this
    # only documents it, so that /docs offers "Authorize".
    bearer = HTTPBearer(auto_error=False, scheme_name="admin token", description="Authorization: Bearer <MARQUEE_ADMIN_TOKEN>")
    admin = {"dependencies": [Security(bearer)], "tags": ["admin"]}
    actor = "admin-api"

    @app.post(PATH, response_model=ResponseDoc, summary="Rank titles for a member within a latency budget")
    async def recommendations(body: RequestDoc) -> Any:  # documents the hot path, which answers first
        ctx = body.context
        answer, ids, scores, stage = await service.recommend(
            body.member_id, body.k, mode=body.model, budget_ms=body.latency_budget_ms,
            device=ctx.device if ctx else None, local_hour=ctx.local_hour if ctx else None, priority=body.priority,
        )  # fmt: skip
        return {
            "member_id": body.member_id,
            "items": [{"title_id": t, "score": s} for t, s in zip(ids.tolist(), scores.tolist(), strict=True)],
            "model_used": answer.model_used, "model_version": answer.model_version,
            "fallback_reason": answer.fallback_reason, "latency_ms": answer.latency_ms, "context_stage": stage,
            "staleness_s": answer.staleness_s,
        }  # fmt: skip

    @app.get("/v1/assignments/{member_id}", summary="The member's variant in every running experiment")
    def assignments(
        member_id: int = Path(..., ge=0, le=MAX_ID, description="Member id."),
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

    # HEAD too (load balancers and uptime checks send it), answered like GET without the body.
    @app.head("/healthz", include_in_schema=False)
    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "uptime_s": round(time.time() - service.started, 1)}

    @app.head("/readyz", include_in_schema=False)
    @app.get("/readyz", summary="Readiness: every configured tier is loaded")
    async def readyz() -> Response:
        tiers = {name: t.version for name, t in service.router.tiers.items()}
        ready = bool(tiers)
        body = {"ready": ready, "tiers": tiers, "fallback": "popular"}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.head("/metrics", include_in_schema=False)
    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/admin/models", summary="What each tier serves, with provenance", **admin)
    async def models() -> dict[str, Any]:
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
    @app.post("/admin/models/load", summary="Load a registry version into a tier (hot swap)", **admin)
    def load(body: LoadBody) -> dict[str, Any]:
        mv = service.load(body.tier, body.ref)
        return {"tier": body.tier, "version": mv.ref}

    @app.post("/admin/models/promote", summary="Move an alias to a version; tiers serving it swap", **admin)
    def promote(body: PromoteBody) -> dict[str, Any]:
        return service.promote(body.name, body.version, body.alias, actor=actor, reason=body.reason)

    @app.post("/admin/models/rollback", summary="Move an alias back one step; tiers serving it swap", **admin)
    def rollback(body: RollbackBody) -> dict[str, Any]:
        return service.rollback(body.name, body.alias, actor=actor, reason=body.reason)

    # Answered by SearchPath in front (its own parameter checks, msgspec out); declared here for the docs.
    @app.get(SEARCH_PATH, summary="Search titles as the member types (typos, prefixes), ranked for the member")
    async def search(
        request: Request,
        q: str = Query(..., description="What the member typed; the last word may be unfinished. Over 256 characters: cut, with a warning."),
        member_id: str | None = Query(None, description="Integer or string member id; absent or unknown: the non-personalised order."),
        k: int = Query(10, ge=1, le=MAX_SEARCH_K, description="How many titles."),
    ) -> Response:
        return reply(*search_answer(service, request.scope))

    if service.pages is not None:
        app.add_exception_handler(PageRefusal, refusal_page)  # type: ignore[arg-type]
        app.include_router(homepage_router(service.pages))

    return HotPath(service, SearchPath(service, ArtworkPath(service, Gate(service, app))))
