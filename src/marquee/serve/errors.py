"""The service's one error shape, ``{"error": code, "detail": message}``, for every refused request.

Every layer that refuses a request answers through :func:`refusal`: the bare-ASGI hot paths, the
gate in front of FastAPI (admin token, body cap), FastAPI's routing and validation, and the
service's own refusals (:class:`~marquee.serve.service.ServiceError`, whose class gives the
status: :data:`STATUS`). ``code`` is stable snake_case for programs; ``detail`` says what was
wrong and what to do, for people, and does not repeat the code. Each refusal is also logged: one
structured line with the status, method, path and code.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import msgspec

from marquee.serve.service import Conflict, Invalid, NotEnabled, NotFound, Overloaded, ServiceError

__all__ = ["STATUS", "failure", "http_code", "refusal", "respond", "service_refusal", "status_of", "validation_detail"]

log = logging.getLogger("marquee.serve")

#: The HTTP status of each refusal of the service (the most specific class that matches wins).
STATUS: dict[type[ServiceError], int] = {Invalid: 422, NotEnabled: 404, NotFound: 404, Conflict: 409, Overloaded: 429, ServiceError: 400}

#: Refusals that may be probing or abuse, logged at warning; the rest (a client's mistake) at info.
_WARN = frozenset({401, 403, 413})

_encode = msgspec.json.Encoder().encode


def status_of(exc: ServiceError) -> int:
    """The HTTP status of a refusal of the service."""
    return next(STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS)


def http_code(status: int) -> str:
    """The code of a status the framework raised itself (``404`` -> ``not_found``, ``405`` -> ``method_not_allowed``)."""
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return f"http_{status}"


def refusal(scope: dict[str, Any], status: int, code: str, detail: str, *, exc_info: bool = False) -> bytes:
    """Log a refused request (status, method, path, code; with ``exc_info``, the traceback being
    handled) and return its JSON body."""
    level = logging.ERROR if status >= 500 else logging.WARNING if status in _WARN else logging.INFO
    extra = {"status": status, "method": scope.get("method"), "path": scope.get("path"), "error": code, "detail": detail}
    log.log(level, "request refused", extra=extra, exc_info=exc_info)
    return _encode({"error": code, "detail": detail})


def service_refusal(scope: dict[str, Any], exc: ServiceError) -> tuple[int, bytes]:
    """A refusal of the service as (status, JSON body)."""
    status = status_of(exc)
    return status, refusal(scope, status, exc.code, exc.message)


def failure(scope: dict[str, Any]) -> tuple[int, bytes]:
    """The 500 answer to the exception being handled (logged with its traceback)."""
    return 500, refusal(scope, 500, "internal_error", "the service failed on this request; its log has the traceback", exc_info=True)


async def respond(send: Any, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """Send a whole JSON response over ASGI."""
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), *headers]})
    await send({"type": "http.response.body", "body": body})


def validation_detail(error: dict[str, Any]) -> str:
    """A pydantic error in the words of msgspec's (what the hot paths answer): ``"<message> - at `$.a.b`"``
    for the body, ``"<message> - at path parameter `member_id`"`` for a parameter."""
    where, *rest = error.get("loc", ()) or ("body",)
    if where == "body":
        location = "`$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest) + "`"
    else:
        location = f"{where} parameter `{'.'.join(map(str, rest))}`"
    return f"{error.get('msg')} - at {location}"
