"""The homepage's routes: ``/`` (profiles), ``/home/{member_id}``, ``/title/{title_id}``, ``/art/...svg``,
``/static/...`` and ``POST /home/play``.

Ids in paths are taken as the data holds them: digits are an integer id when the member (title) index
is an integer one, anything else a string id. A malformed id (empty, over 256 characters, a control
character), an unknown device or hour is a 4xx HTML page saying what was wrong; an unknown member gets
the non-personalised page; an unknown title is a 404 page.
"""

from __future__ import annotations

import datetime as dt
import functools
import unicodedata
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from marquee.data.artwork import id_seed
from marquee.data.ids import IdIndex
from marquee.serve.play import SERVICE_DEVICES
from marquee.serve.posters import POSTER_MEDIA_TYPE, poster_svg
from marquee.serve.schemas import MAX_ID, MAX_ID_CHARS
from marquee.serve.web.pages import HomePages
from marquee.serve.web.render import error_page, home_page, picker_page, title_page

__all__ = ["PageRefusal", "homepage_router"]

_STATIC = {"home.css": "text/css; charset=utf-8", "home.js": "text/javascript; charset=utf-8"}
_BAD = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
#: Posters and static files change only with the code: cached for a day.
_CACHE = {"cache-control": "public, max-age=86400"}


class PageRefusal(Exception):
    """A request the pages refuse: answered as an HTML page with ``status``."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        self.status, self.title, self.detail = status, title, detail
        super().__init__(f"{status} {title}: {detail}")


def _id(raw: str, index: IdIndex, what: str) -> int | str:
    """A path id as the index holds ids (an integer index takes digits as integers)."""
    if not 1 <= len(raw) <= MAX_ID_CHARS:
        raise PageRefusal(422, f"malformed {what} id", f"a {what} id is 1 to {MAX_ID_CHARS} characters; this one has {len(raw)}")
    if any(unicodedata.category(ch) in _BAD for ch in raw):
        raise PageRefusal(422, f"malformed {what} id", f"a {what} id cannot hold control or format characters")
    if not index.is_string and raw.isascii() and raw.isdigit():
        value = int(raw)
        if value > MAX_ID:
            raise PageRefusal(422, f"malformed {what} id", f"integer {what} ids go up to {MAX_ID}")
        return value
    return raw


def _context(device: str | None, hour: int | None) -> tuple[str, int]:
    device = device or "web"
    if device not in SERVICE_DEVICES:
        raise PageRefusal(422, "unknown device", f"device must be one of {', '.join(SERVICE_DEVICES)}; got {device!r}")
    if hour is None:
        hour = dt.datetime.now().hour
    elif not 0 <= hour <= 23:
        raise PageRefusal(422, "bad hour", f"hour is a local hour 0-23; got {hour}")
    return device, hour


class PlayBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    member_id: Annotated[int, Field(ge=0, le=MAX_ID)] | Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)] | None = None
    title_id: Annotated[int, Field(ge=0, le=MAX_ID)] | Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
    device: str = Field("web", description="tv, mobile, web, tablet, console or other.")


def html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={"cache-control": "no-store"})


def homepage_router(pages: HomePages) -> APIRouter:
    """The routes of the homepage, over a :class:`HomePages`."""
    router = APIRouter(tags=["homepage"])
    search = pages.service.search is not None
    members, titles = pages.members, pages.catalog.index

    def title_of(raw: str) -> int:
        t = pages.title_position(_id(raw, titles, "title"))
        if t is None:
            raise PageRefusal(404, "no such title", f"the catalog has no title {raw!r}")
        return t

    @router.get("/", response_class=HTMLResponse, summary="The profile picker")
    def picker() -> HTMLResponse:
        return html(picker_page(pages.profiles(), search=search))

    @router.get("/home", include_in_schema=False)
    def home_form(id: str = Query("", max_length=MAX_ID_CHARS * 4)) -> Response:
        from urllib.parse import quote

        if not id:
            raise PageRefusal(422, "no member id", "type a member id, or pick a profile")
        return RedirectResponse(f"/home/{quote(id, safe='')}", status_code=303)

    @router.get("/home/{member_id}", response_class=HTMLResponse, summary="A member's homepage")
    async def home(member_id: str, device: str | None = None, hour: int | None = None) -> HTMLResponse:
        who = None if member_id == "guest" else _id(member_id, members, "member")
        device, hour = _context(device, hour)
        page = await pages.page(who, device, hour)
        pages.service.metrics.child(pages.service.metrics.homepage_latency, page.policy).observe(page.server_ms / 1000.0)
        return html(home_page(page, search=search))

    @router.get("/title/{title_id}", response_class=HTMLResponse, summary="A title's page: details, Play, more like this")
    async def title(title_id: str, member: str | None = None, device: str | None = None, hour: int | None = None,
                    art: str | None = Query(None, max_length=64)) -> HTMLResponse:  # fmt: skip
        t = title_of(title_id)
        who = _id(member, members, "member") if member not in (None, "null", "guest") else None
        device, hour = _context(device, hour)
        tile = pages.poster(t, art)
        more = await pages.more_like_this(who, t, device, hour)
        return html(title_page(tile, year=pages.years[t], genres=pages.genres[t], member=who, device=device, more=more, search=search))

    @router.post("/home/play", summary="Play a title: one simulated playback session on the member's device")
    def play(body: PlayBody) -> dict[str, Any]:
        t = pages.title_position(body.title_id)
        if t is None:
            return JSONResponse({"error": "unknown_title", "detail": f"the catalog has no title {body.title_id!r}"}, status_code=404)  # type: ignore[return-value]
        if body.device not in SERVICE_DEVICES:
            return JSONResponse({"error": "unknown_device", "detail": f"device must be one of {', '.join(SERVICE_DEVICES)}"}, status_code=422)  # type: ignore[return-value]
        return pages.play(body.member_id, t, body.device).to_dict()

    @functools.lru_cache(maxsize=65536)
    def poster(t: int, variant: int | str | None) -> bytes:
        """A poster by (title, variant): ``None`` is the generic one. Keys are real variants only."""
        attrs: dict[str, Any] = {}
        art = pages.service.artwork
        if art is not None and variant is not None:
            found = art.variants.of(pages.ids[t])
            row = next(int(r) for r, v in zip(found.rows.tolist(), found.variant_ids.tolist(), strict=True) if v == variant)
            attrs = art.variants.attributes_of(row)
        return poster_svg(pages.names[t], attrs, year=pages.years[t], genres=pages.genres[t], seed=id_seed(pages.ids[t])).encode()

    @router.get("/art/{title_id}/{variant}.svg", include_in_schema=False)
    def art(title_id: str, variant: str) -> Response:
        t = title_of(title_id)
        shown: int | str | None = None
        if variant != "default":
            art = pages.service.artwork
            shown = next((v for v in (art.variant_ids(pages.ids[t]) if art is not None else ()) if str(v) == variant), None)
            if shown is None:  # refused before the cache: only real variants are ever keys
                raise PageRefusal(404, "no such artwork", f"title {pages.ids[t]!r} has no artwork variant {variant[:64]!r}")
        return Response(poster(t, shown), media_type=POSTER_MEDIA_TYPE, headers=_CACHE)

    @router.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in _STATIC:
            raise PageRefusal(404, "not found", f"no static file {name!r}")
        return Response(_static_file(name), media_type=_STATIC[name], headers=_CACHE)

    return router


@functools.cache
def _static_file(name: str) -> bytes:
    return (resources.files("marquee.serve.web") / "static" / name).read_bytes()


def refusal_page(_: Request, exc: PageRefusal) -> HTMLResponse:
    """The app's handler of :class:`PageRefusal`."""
    return html(error_page(exc.status, exc.title, exc.detail), exc.status)
