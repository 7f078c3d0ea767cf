"""The bare-ASGI hot paths in front of FastAPI.

``POST /v1/recommendations``: msgspec decodes and validates the body in one pass and encodes the
answer, so the per-request cost is the model's plus a few microseconds (FastAPI's routing,
dependency and pydantic layers cost several times the light model itself). ``POST /v1/artwork``
and ``POST /v1/feedback`` get the same treatment from a second handler behind the first (the
recommendations path never passes through it). Everything else goes on to the gate and FastAPI.
Their bodies are capped as they stream in (:func:`~marquee.serve.gate.read_body`) and their
refusals have the service's one shape (:mod:`marquee.serve.errors`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec
from fastapi import FastAPI

from marquee.serve.artwork import ArtworkRequest, FeedbackRequest
from marquee.serve.errors import failure, refusal, service_refusal
from marquee.serve.gate import read_body, too_large
from marquee.serve.schemas import RecommendationRequest, RecommendationResponse, ScoredTitle
from marquee.serve.service import Service, ServiceError

__all__ = ["ARTWORK_PATHS", "PATH", "ArtworkPath", "HotPath"]

log = logging.getLogger("marquee.serve")
PATH = "/v1/recommendations"

# ---- the hot path -------------------------------------------------------------------------
_decoder = msgspec.json.Decoder(RecommendationRequest)
_encoder = msgspec.json.Encoder()
_JSON = [(b"content-type", b"application/json")]


def _invalid(scope: dict, exc: msgspec.DecodeError) -> tuple[int, bytes]:
    """A body msgspec refused: 422 naming the field, or 400 when it is not JSON at all."""
    if isinstance(exc, msgspec.ValidationError):
        return 422, refusal(scope, 422, "invalid_request", str(exc))
    return 400, refusal(scope, 400, "malformed_json", f"the body is not valid JSON: {exc}")


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
        arrived = time.perf_counter()  # the budget counts from here: time queued before the handler counts too
        status, body, headers = await self._handle(scope, receive, arrived)
        metrics = self.service.metrics
        metrics.child(metrics.requests, PATH, str(status)).inc()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: dict, receive: Any, arrived: float) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        status, body = await self._answer(scope, receive, arrived)
        if status == 429:
            return status, body, [*_JSON, (b"retry-after", b"1")]
        return status, body, _JSON

    async def _answer(self, scope: dict, receive: Any, arrived: float) -> tuple[int, bytes]:
        raw = await read_body(scope, receive)
        if raw is None:
            return too_large(scope)
        try:
            req = _decoder.decode(raw)
        except msgspec.DecodeError as exc:  # ValidationError too
            return _invalid(scope, exc)
        service = self.service
        ctx = req.context
        try:
            answer, ids, scores, stage = await service.recommend(
                req.member_id, req.k, mode=req.model, budget_ms=req.latency_budget_ms,
                device=ctx.device if ctx else None, local_hour=ctx.local_hour if ctx else None, priority=req.priority, arrived=arrived,
            )  # fmt: skip
        except ServiceError as exc:  # shed under overload: 429
            return service_refusal(scope, exc)
        except Exception:  # noqa: BLE001 - answered in the service's error shape, logged with its traceback
            return failure(scope)
        m = service.metrics
        m.child(m.latency, answer.model_used).observe(answer.latency_ms / 1000.0)
        if answer.switched:
            m.child(m.switches, answer.model_used).inc()
        if answer.fallback_reason is not None:
            m.child(m.fallbacks, answer.fallback_reason).inc()
            log.info("fallback", extra={"member_id": req.member_id, "reason": answer.fallback_reason, "model_used": answer.model_used})
        items = [ScoredTitle(t, s) for t, s in zip(ids.tolist(), scores.tolist(), strict=True)]
        resp = RecommendationResponse(
            req.member_id, items, answer.model_used, answer.model_version, answer.fallback_reason, round(answer.latency_ms, 3), stage,
            answer.staleness_s,
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
        raw = await read_body(scope, receive)
        if raw is None:
            return too_large(scope)
        try:
            if path == "/v1/artwork":
                req = _artwork_decoder.decode(raw)
                ctx = req.context
                answer = await self.service.choose_artwork(req.member_id, req.title_id, ctx.device if ctx else None, ctx.local_hour if ctx else None)
            else:
                fb = _feedback_decoder.decode(raw)
                answer = await self.service.artwork_feedback(fb.decision_id, fb.reward)
        except msgspec.DecodeError as exc:  # ValidationError too
            return _invalid(scope, exc)
        except ServiceError as exc:
            return service_refusal(scope, exc)
        except Exception:  # noqa: BLE001 - answered in the service's error shape, logged with its traceback
            return failure(scope)
        return 200, _encoder.encode(answer)
