"""The bare-ASGI hot paths in front of FastAPI.

``POST /v1/recommendations``: msgspec decodes and validates the body in one pass and encodes the
answer, so the per-request cost is the model's plus a few microseconds (FastAPI's routing,
dependency and pydantic layers cost several times the light model itself). ``POST /v1/artwork``
and ``POST /v1/feedback`` get the same treatment from a second handler behind the first (the
recommendations path never passes through it). Everything else goes on to FastAPI.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from fastapi import FastAPI

from marquee.serve.artwork import ArtworkRequest, FeedbackRequest
from marquee.serve.schemas import (
    MAX_BODY_BYTES,
    RecommendationRequest,
    RecommendationResponse,
    ScoredTitle,
)
from marquee.serve.service import Conflict, NotEnabled, NotFound, Service, ServiceError

__all__ = ["ARTWORK_PATHS", "PATH", "ArtworkPath", "HotPath"]

log = logging.getLogger("marquee.serve")
PATH = "/v1/recommendations"

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


#: The HTTP status of each refusal of the service (the most specific class that matches wins).
STATUS: dict[type[ServiceError], int] = {NotEnabled: 404, NotFound: 404, Conflict: 409, ServiceError: 400}


def status_of(exc: ServiceError) -> int:
    return next(STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS)


def service_error(exc: ServiceError) -> tuple[int, bytes]:
    """A refusal as (status, JSON body ``{"error": code, "detail": message}``)."""
    return _error(status_of(exc), exc.code, str(exc))


class HotPath:
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
        ctx = req.context
        answer, ids, scores, stage = await service.recommend(
            req.member_id, req.k, mode=req.model, budget_ms=req.latency_budget_ms,
            device=ctx.device if ctx else None, local_hour=ctx.local_hour if ctx else None,
        )  # fmt: skip
        m = service.metrics
        m.child(m.latency, answer.model_used).observe(answer.latency_ms / 1000.0)
        if answer.switched:
            m.child(m.switches, answer.model_used).inc()
        if answer.fallback_reason is not None:
            m.child(m.fallbacks, answer.fallback_reason).inc()
            log.info("fallback", extra={"member_id": req.member_id, "reason": answer.fallback_reason, "model_used": answer.model_used})
        items = [ScoredTitle(t, s) for t, s in zip(ids.tolist(), scores.tolist(), strict=True)]
        resp = RecommendationResponse(
            req.member_id, items, answer.model_used, answer.model_version, answer.fallback_reason, round(answer.latency_ms, 3), stage
        )
        return 200, _encoder.encode(resp)


# ---- artwork: the same bare-ASGI treatment, behind the hot path -----------------------------------
_artwork_decoder = msgspec.json.Decoder(ArtworkRequest)
_feedback_decoder = msgspec.json.Decoder(FeedbackRequest)
ARTWORK_PATHS = ("/v1/artwork", "/v1/feedback")


class ArtworkPath:
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
        except ServiceError as exc:
            return service_error(exc)
        return 200, _encoder.encode(answer)
