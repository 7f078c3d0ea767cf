"""``GET /v1/search?q=...&member_id=...&k=...``: title search, personalised for the member, before FastAPI.

:class:`TitleSearch` is the service's search component: a fitted :class:`~marquee.search.Personalized`
(text relevance blended with a ranker's member scores and popularity) and the label of the ranker it
blends. :class:`SearchPath` answers the endpoint as the other hot paths do (bare ASGI, msgspec out, the
service's error shape); everything else goes on to the next app.

The contract:

- ``q`` (required): what the member typed; the last word may be unfinished. Text over
  :data:`MAX_QUERY_CHARS` characters is cut to them, as the library parses it, and the answer's
  ``warnings`` say so (200). Empty, whitespace-only or with no letter or digit: 422 ``empty_query``. A
  control or format character (``\\x00``, a tab, U+200B...): 422 ``invalid_query``.
- ``member_id``: an integer id in [0, 2**63 - 1] (digits) or a string id of 1..256 printable characters, as
  ``POST /v1/recommendations`` takes it. Absent, or unknown to the ranker: the non-personalised order, with
  ``personalized: false``. Malformed (empty, negative, too long): 422 ``invalid_request``.
- ``k``: 1..:data:`MAX_SEARCH_K`, default 10; anything else: 422 ``invalid_request``.
- Another parameter, or one given twice: 422 ``invalid_request``; a query string that is not UTF-8: 400
  ``malformed_query``. A service started without search: 404 ``no_search``.

The answer: ``{"query", "member_id", "personalized", "results": [{"title_id", "title", "score",
"matched_fields"}], "warnings", "ranker", "latency_ms"}``.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from marquee.errors import NotFittedError
from marquee.search import Personalized
from marquee.serve.errors import failure, refusal, service_refusal
from marquee.serve.schemas import MAX_ID, MAX_ID_CHARS
from marquee.serve.service import NotEnabled, Service

__all__ = ["MAX_QUERY_CHARS", "MAX_SEARCH_K", "SEARCH_PATH", "SearchPath", "SearchResponse", "SearchResult", "TitleSearch"]

log = logging.getLogger("marquee.serve")

SEARCH_PATH = "/v1/search"
#: The most titles one search returns.
MAX_SEARCH_K = 100
#: Longer queries are cut to this many characters (``Query.parse``'s default), with a warning.
MAX_QUERY_CHARS = 256
_PARAMS = ("q", "member_id", "k")
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_JSON = [(b"content-type", b"application/json")]
_encoder = msgspec.json.Encoder()


class SearchResult(msgspec.Struct):
    title_id: int | str
    title: str
    score: float
    matched_fields: list[str]


class SearchResponse(msgspec.Struct):
    query: str
    member_id: int | str | None
    personalized: bool
    results: list[SearchResult]
    warnings: list[str]
    ranker: str
    latency_ms: float


class TitleSearch:
    """The service's search: a fitted :class:`~marquee.search.Personalized` and what its ranker is.

    Args:
        engine: fitted over the catalog the service serves (its index's catalog gives the titles' names).
        ranker: who scores members, for the answers and the log (e.g. ``"light tier sasrec-student:1"``).
    """

    def __init__(self, engine: Personalized, ranker: str) -> None:
        if not engine.is_fitted:
            raise NotFittedError("TitleSearch needs a fitted Personalized; call fit(search_log) on it first")
        self.engine = engine
        self.ranker = ranker
        catalog = engine.index.catalog_
        self.names: list[str] = [n or "" for n in catalog.table.column("name").to_pylist()]

    def __repr__(self) -> str:
        return f"TitleSearch({self.engine!r}, ranker={self.ranker!r}, titles={len(self.names)})"

    def answer(self, query: str, k: int, member_id: int | str | None) -> tuple[SearchResponse, bool]:
        """The response, and whether the query had nothing to search (no letter or digit)."""
        start = time.perf_counter()
        position = self.engine.member_index(member_id)  # -1 for None or a member the ranker does not know
        personal = position >= 0
        hits = self.engine.search_position(query, k, position)
        names = self.names
        results = [
            SearchResult(t, names[p], round(s, 6), list(f))
            for t, p, s, f in zip(hits.title_ids.tolist(), hits.positions.tolist(), hits.scores.tolist(), hits.matched_fields, strict=True)
        ]  # fmt: skip
        ms = (time.perf_counter() - start) * 1000.0
        resp = SearchResponse(hits.query.text, member_id, personal, results, list(hits.warnings), self.ranker, round(ms, 3))
        return resp, hits.query.is_empty


class _Refused(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        self.status, self.code, self.detail = status, code, detail


def _invalid(message: str, param: str) -> _Refused:
    return _Refused(422, "invalid_request", f"{message} - at query parameter `{param}`")


def parse_params(query_string: bytes) -> tuple[str, int, int | str | None]:
    """``(q, k, member_id)`` from the raw query string; raises :class:`_Refused` with what is wrong."""
    try:
        pairs = parse_qsl(query_string.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as exc:
        raise _Refused(400, "malformed_query", f"the query string is not UTF-8 ({exc.reason}); percent-encode UTF-8 text") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in _PARAMS:
            raise _invalid(f"Unknown parameter; this endpoint takes {', '.join(_PARAMS)}", name)
        if name in params:
            raise _invalid("Parameter given more than once; give it once", name)
        params[name] = value
    q = params.get("q")
    if q is None:
        raise _invalid("Missing required parameter: what the member typed, e.g. q=toy%20st", "q")
    if not q.isprintable():  # the fast check; a space or an accent is printable, and so are most queries
        bad = next((c for c in q if unicodedata.category(c) in _BAD_CATEGORIES), None)
        if bad is not None:
            raise _Refused(422, "invalid_query", f"the query holds control character {bad!a}; send the words of a title")
    if not q.strip():
        raise _Refused(422, "empty_query", "the query is empty; send (the start of) a title, e.g. q=toy%20st")
    raw_k = params.get("k")
    k = 10
    if raw_k is not None:
        if not _is_int(raw_k):
            raise _invalid(f"Expected `int`, got {raw_k[:20]!r}", "k")
        k = int(raw_k)
        if not 1 <= k <= MAX_SEARCH_K:
            raise _invalid(f"Expected `int` >= 1 and <= {MAX_SEARCH_K}, got {k}", "k")
    return q, k, _member_id(params.get("member_id"))


def _is_int(text: str) -> bool:
    digits = text.removeprefix("-")
    return digits.isascii() and digits.isdigit()


def _member_id(raw: str | None) -> int | str | None:
    """An integer id for digits (as the recommendations endpoint reads a JSON number), else a string id."""
    if raw is None:
        return None
    if not raw:
        raise _invalid("Expected `str` of length >= 1 (or leave member_id out for an anonymous search)", "member_id")
    if _is_int(raw):
        value = int(raw)
        if value < 0:
            raise _invalid("Expected `int` >= 0", "member_id")
        if value > MAX_ID:
            raise _invalid(f"Expected `int` <= {MAX_ID}", "member_id")
        return value
    if len(raw) > MAX_ID_CHARS:
        raise _invalid(f"Expected `str` of length <= {MAX_ID_CHARS}", "member_id")
    if not raw.isprintable():
        raise _invalid("Expected printable characters", "member_id")
    return raw


def answer(service: Service, scope: dict[str, Any]) -> tuple[int, bytes]:
    """(status, JSON body) of one ``GET /v1/search``."""
    try:
        q, k, member_id = parse_params(scope.get("query_string", b""))
    except _Refused as exc:
        return exc.status, refusal(scope, exc.status, exc.code, exc.detail)
    search = service.search
    if search is None:
        detail = "title search is not configured; start the service with --search, on a dataset whose catalog has title names"
        return service_refusal(scope, NotEnabled("no_search", detail))
    try:
        resp, empty = search.answer(q, k, member_id)
    except Exception:  # noqa: BLE001 - answered in the service's error shape, logged with its traceback
        return failure(scope)
    if empty:
        return 422, refusal(scope, 422, "empty_query", "the query has no letter or digit to search; send (the start of) a title")
    m = service.metrics
    m.child(m.search_latency, "true" if resp.personalized else "false").observe(resp.latency_ms / 1000.0)
    return 200, _encoder.encode(resp)


class SearchPath:
    """ASGI app: ``GET /v1/search`` here (msgspec out), every other request to ``app``."""

    def __init__(self, service: Service, app: Any) -> None:
        self.service = service
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != SEARCH_PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        status, body = answer(self.service, scope)
        metrics = self.service.metrics
        metrics.child(metrics.requests, SEARCH_PATH, str(status)).inc()
        await send({"type": "http.response.start", "status": status, "headers": _JSON})
        await send({"type": "http.response.body", "body": body})
