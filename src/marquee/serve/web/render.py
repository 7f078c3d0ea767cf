"""Server-rendered HTML of the homepage: the profile picker, a member's page, a title page, error pages.

Plain functions from values to text, every value escaped; no template engine (the pages are small and
the escaping rules fit in :func:`_e` and :func:`_u`). Every asset is served by Marquee (``/static``,
``/art``): the pages work on a machine with no internet.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from marquee.serve.web.pages import RenderedPage, Tile

__all__ = ["DEVICES", "error_page", "home_page", "picker_page", "title_page"]

#: The devices a page can be asked for (the service's device classes), as the picker offers them.
DEVICES: tuple[str, ...] = ("web", "tv", "mobile", "tablet", "console", "other")
STATIC_VERSION = "4"


@functools.lru_cache(maxsize=65536)
def _e(value: Any) -> str:
    """Escaped for HTML text and attributes (cached: a page repeats the catalog's names and ids)."""
    return escape(str(value), quote=True)


@functools.lru_cache(maxsize=65536)
def _u(value: Any) -> str:
    """A path segment: any id, percent-encoded."""
    return quote(str(value), safe="")


def _query(**params: Any) -> str:
    kept = {k: v for k, v in params.items() if v is not None}
    return ("?" + urlencode(kept)) if kept else ""


def _layout(title: str, body: str, *, member: int | str | None = None, device: str = "web", search: bool = False,
            meta: dict[str, Any] | None = None, page_class: str = "") -> str:  # fmt: skip
    member_json = _e(json.dumps(member))
    home = f"/home/{_u(member)}{_query(device=device)}" if member is not None else "/"
    search_box = (
        '<form class="search" role="search" action="javascript:void(0)">'
        '<label for="q" class="visually-hidden">Search titles</label>'
        '<input id="q" name="q" type="search" autocomplete="off" placeholder="Search titles" aria-controls="results">'
        '<ul id="results" class="results" role="listbox" aria-label="Search results"></ul></form>'
    ) if search else ""  # fmt: skip
    meta_tag = f'<meta name="marquee-page" content="{_e(json.dumps(meta, default=str))}">' if meta else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} · Marquee</title>{meta_tag}"
        f'<link rel="stylesheet" href="/static/home.css?v={STATIC_VERSION}"><link rel="icon" href="data:,">'
        f'</head><body class="{page_class}" data-member="{member_json}" data-device="{_e(device)}">'
        f'<header class="top"><a class="brand" href="{_e(home)}">Marquee</a>{search_box}'
        '<a class="profiles" href="/">Profiles</a></header>'
        f'<main id="main">{body}</main>'
        f'<script src="/static/home.js?v={STATIC_VERSION}" defer></script></body></html>'
    )


def _tile(tile: Tile, query: str, row: int, col: int, *, eager: bool) -> str:
    # The title page shows the poster this tile showed (art=...).
    art_q = "" if tile.variant_id is None else f"{'&' if query else '?'}art={_u(tile.variant_id)}"
    href = f"/title/{_u(tile.title_id)}{query}{art_q}"
    art = f"/art/{_u(tile.title_id)}/{_u(tile.variant_id if tile.variant_id is not None else 'default')}.svg"
    decision = f' data-decision="{_e(tile.decision_id)}"' if tile.decision_id else ""
    return (
        f'<a class="tile" href="{_e(href)}" data-row="{row}" data-col="{col}" data-title="{_e(tile.title_id)}"{decision}>'
        f'<img src="{_e(art)}" alt="{_e(tile.name)}" width="160" height="240" loading="{"eager" if eager else "lazy"}" decoding="async">'
        f'<span class="name">{_e(tile.name)}</span></a>'
    )


def _row(label: str, tiles: Sequence[Tile], member: int | str | None, device: str, r: int, kind: str) -> str:
    query = _query(member=member, device=device)
    cells = "".join(_tile(t, query, r, c, eager=r < 3) for c, t in enumerate(tiles))
    hid = f"row-{r}"
    return (f'<section class="row" data-kind="{_e(kind)}" aria-labelledby="{hid}"><h2 id="{hid}">{_e(label)}</h2>'
            f'<div class="strip">{cells}</div></section>')  # fmt: skip


def picker_page(profiles: Sequence[tuple[int | str, int]], *, search: bool) -> str:
    """``/``: who is watching? A tile per profile, a guest, and a field for any member id."""
    people = "".join(
        f'<a class="profile" href="/home/{_u(m)}"><span class="avatar" aria-hidden="true">{_e(str(m)[:2])}</span>'
        f'<span>Member {_e(m)}</span><small>{n} titles watched</small></a>'
        for m, n in profiles
    )
    guest = '<a class="profile guest" href="/home/guest"><span class="avatar" aria-hidden="true">?</span><span>Guest</span><small>not personalised</small></a>'
    body = (
        '<h1 class="who">Who is watching?</h1>'
        f'<nav class="picker" aria-label="Profiles">{people}{guest}</nav>'
        '<form class="member-form" method="get" action="/home">'
        '<label for="member-id">Or open a member id</label> <input id="member-id" name="id" required maxlength="256">'
        '<button type="submit">Open</button></form>'
    )
    return _layout("Who is watching?", body, search=search, page_class="picker-page")


def home_page(page: RenderedPage, *, search: bool) -> str:
    """``/home/{member}``: the member's rows, each tile with its chosen artwork."""
    rows = "".join(_row(row.label, tiles, page.member_id, page.device, r, row.kind) for r, (row, tiles) in enumerate(page.rows))
    who = f"Member {page.member_id}" if page.known else "Guest" if page.member_id in (None, "guest") else f"Unknown member {page.member_id}"
    note = "" if page.known else '<p class="note">Not personalised: this member is not known to the model, so the page shows what is popular.</p>'
    devices = "".join(f'<option value="{d}"{" selected" if d == page.device else ""}>{d}</option>' for d in DEVICES)
    meta = {"page_id": page.page_id, "policy": page.policy, "experiment": page.experiment, "variant": page.variant,
            "model": page.model, "device": page.device, "local_hour": page.local_hour, "personalised": page.known}  # fmt: skip
    experiment = f" · experiment {_e(page.experiment)}: <b>{_e(page.variant)}</b>" if page.experiment else ""
    body = (
        f'<div class="hello"><h1>{_e(who)}</h1><form class="device" method="get">'
        f'<label for="device">Device</label> <select id="device" name="device">{devices}</select>'
        f'<input type="hidden" name="hour" value="{page.local_hour}"><noscript><button>Go</button></noscript></form></div>{note}'
        f"{rows or '<p class=note>Nothing to show yet.</p>'}"
        f'<footer class="meta">Page policy <b>{_e(page.policy)}</b>{experiment} · scored by {_e(page.model)} · '
        f"built in {page.server_ms:.1f} ms · page {_e(page.page_id[:8])}</footer>"
    )
    return _layout(who, body, member=page.member_id, device=page.device, search=search, meta=meta, page_class="home-page")


def title_page(tile: Tile, *, year: int | None, genres: Sequence[str], member: int | str | None, device: str,
               more: Sequence[Tile], search: bool) -> str:  # fmt: skip
    """``/title/{id}``: the title with its artwork, details, Play, and more like this."""
    art = f"/art/{_u(tile.title_id)}/{_u(tile.variant_id if tile.variant_id is not None else 'default')}.svg"
    facts = " · ".join(x for x in (str(year) if year else "", ", ".join(genres)) if x)
    decision = f' data-decision="{_e(tile.decision_id)}"' if tile.decision_id else ""
    body = (
        f'<article class="title" data-title="{_e(tile.title_id)}"{decision}>'
        f'<img class="poster" src="{_e(art)}" alt="{_e(tile.name)}" width="240" height="360">'
        f'<div class="details"><h1>{_e(tile.name)}</h1><p class="facts">{_e(facts)}</p>'
        f'<button id="play" class="play" data-title-json="{_e(json.dumps(tile.title_id))}">Play on {_e(device)}</button>'
        '<div id="playback" class="playback" aria-live="polite"></div></div></article>'
        f"{_row('More like this', more, member, device, 0, 'more_like_this') if more else ''}"
    )
    return _layout(tile.name, body, member=member, device=device, search=search, page_class="title-page")


def error_page(status: int, title: str, detail: str) -> str:
    """A 4xx page: what was wrong and where to go; never a stack trace."""
    body = f'<div class="error"><h1>{status}: {_e(title)}</h1><p>{_e(detail)}</p><p><a href="/">Back to the profiles</a></p></div>'
    return _layout(title, body, page_class="error-page")
