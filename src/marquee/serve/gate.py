"""What a request passes before FastAPI sees it: the admin token first, then a cap on its body.

FastAPI reads a request's whole body before it runs any dependency, so neither check can live in
a route: an unauthenticated 100 MB upload to ``/admin/...`` was read in full before its token was
looked at. The gate checks the token from the headers alone, then streams the body in and stops
at the cap (413, nothing past the cap is kept), and hands FastAPI the body it read. The hot paths
in front of it read their bodies with the same :func:`read_body`.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from marquee.serve.errors import refusal, respond
from marquee.serve.schemas import MAX_BODY_BYTES

if TYPE_CHECKING:
    from marquee.serve.service import Service

__all__ = ["ADMIN_PREFIX", "Gate", "read_body"]

#: Every path under it needs the admin token.
ADMIN_PREFIX = "/admin"


async def read_body(scope: dict[str, Any], receive: Any, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The request body, or ``None`` once it is known to exceed ``limit`` bytes: by its declared
    length (nothing is read), or while it streams in (reading stops at the first chunk past it)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            return None
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def too_large(scope: dict[str, Any], limit: int = MAX_BODY_BYTES) -> tuple[int, bytes]:
    """The 413 answer to a body over ``limit``."""
    return 413, refusal(scope, 413, "body_too_large", f"the request body is over {limit} bytes; send at most {limit}")


class Gate:
    """ASGI app: authenticates ``/admin/*`` from its headers, caps every body, then calls ``app``.

    Args:
        service: whose ``admin_token`` the admin API needs (``None``: the admin API is disabled).
        app: the FastAPI app behind the gate.
        limit: the most bytes a request body may have.
    """

    def __init__(self, service: Service, app: Any, limit: int = MAX_BODY_BYTES) -> None:
        self.service = service
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            refused = self._authenticate(scope)
            if refused is not None:
                await respond(send, *refused)
                return
        body = await read_body(scope, receive, self.limit)
        if body is None:
            await respond(send, *too_large(scope, self.limit))
            return
        await self.app(scope, _replay(body, receive), send)

    def _authenticate(self, scope: dict[str, Any]) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        token = self.service.admin_token
        if token is None:
            detail = "the admin API is disabled; start the service with MARQUEE_ADMIN_TOKEN set to enable it"
            return 403, refusal(scope, 403, "admin_disabled", detail), []
        sent = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
        if not hmac.compare_digest(sent, b"Bearer " + token.encode()):
            detail = "send the header 'Authorization: Bearer <MARQUEE_ADMIN_TOKEN>' with the service's admin token"
            return 401, refusal(scope, 401, "unauthorized", detail), [(b"www-authenticate", b"Bearer")]
        return None


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that hands over the body already read, then what the client sends next (a disconnect)."""
    pending = True

    async def replay() -> dict[str, Any]:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
