"""Poster tiles drawn from an artwork variant's attributes: one small, standalone SVG per title.

The homepage shows each title as the variant its artwork policy chose, so the variants must look
different. :func:`poster_svg` draws a 200x300 (2:3) poster from the attributes of
:data:`marquee.data.artwork.ATTRIBUTES`:

- ``palette``: the background gradient and its inks: ``warm`` (oranges, reds), ``cool`` (blues, teals),
  ``dark`` (near-black with one accent colour), ``bright`` (saturated yellows, pinks, greens);
- ``subject``: the composition: ``lead`` (one large silhouette), ``ensemble`` (3-4 smaller ones in a
  row), ``scene`` (a landscape: sun or moon, horizon, hills), ``title_card`` (a framed typographic
  treatment of the title, no figures; with ``text="none"``, bars stand where the lettering would be);
- ``text``: ``none`` (no text is drawn), ``title`` (the title, at most 3 lines, ellipsised; in the lower
  third, or large in the middle of a title card), ``tagline`` (the title and a small line of genres and
  year, ``"Comedy · 1995"``).

A value outside these levels (a catalog with its own artwork table) still draws: an unknown palette
gets a hue hashed from its value, an unknown subject or text one of the known levels, hashed from its
value; a missing attribute is the unknown value ``None``. Other attributes do not choose the drawing,
but they nudge its small variations, as ``seed`` does, so two variants that differ only in them do
not draw identically.

The same inputs always give the same string. The SVG has no external reference (generic font
families only, no images or links) and its only ``id``, the background gradient's, is named for the
gradient's colours, so many posters can be inlined in one page without clashing.
"""

from __future__ import annotations

import colorsys
import hashlib
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from marquee.data.artwork import ATTRIBUTES

__all__ = ["POSTER_MEDIA_TYPE", "poster_svg"]

#: The media type of :func:`poster_svg`'s documents.
POSTER_MEDIA_TYPE = "image/svg+xml"

_W, _H = 200, 300
_TEXT_WIDTH = 180  # width available to a line of text
_MAX_LINES = 3
_ELLIPSIS = "…"
# Characters XML 1.0 does not allow (C0 controls other than tab, LF and CR; surrogates; U+FFFE, U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class _Palette:
    """The colours of one poster: background gradient ``top`` to ``bottom``, ``ink`` for figures and
    hills, ``accent`` for sun and horizon, ``text`` for what is drawn on the background (a title card's
    lettering, frame and rules), ``caption`` for text on the lower third's shading band, ``edge`` an
    outline for figures or None."""

    top: str
    bottom: str
    ink: str
    accent: str
    text: str
    caption: str
    edge: str | None = None


def poster_svg(
    title: str,
    attributes: Mapping[str, Any],
    *,
    year: int | None = None,
    genres: Sequence[str] = (),
    seed: int = 0,
) -> str:
    """A standalone SVG document (viewBox ``0 0 200 300``) showing ``title`` as the variant with
    ``attributes`` draws it.

    Args:
        title: the title's name; set as the document's ``<title>`` always, and on the poster when the
            ``text`` attribute asks for it. Characters XML cannot carry are dropped, whitespace runs
            become one space.
        attributes: the variant's attributes (``palette``, ``subject``, ``text`` and any others); see
            the module docstring for the levels and what unknown or missing values draw.
        year: the release year, shown on the tagline; None leaves it out.
        genres: the title's genres; the first two are shown on the tagline. A str is refused
            (``TypeError``): it would read as a sequence of letters.
        seed: varies hues and positions a little (pass the title id's seed, e.g.
            :func:`marquee.data.artwork.id_seed`), so titles with the same attributes differ.

    Returns:
        The SVG document, UTF-8 ready, starting ``<svg xmlns="http://www.w3.org/2000/svg"``; typically
        0.5-1.1 kB (a long title and a tagline: up to about 1.4 kB).
    """
    extras = sorted((str(k), str(v)) for k, v in attributes.items() if k not in ATTRIBUTES)
    rng = random.Random(_digest("jitter", seed, *extras))
    if isinstance(genres, str):
        raise TypeError(
            f"genres: expected a sequence of genre names such as ['Comedy'], got the str {genres!r}; split it"
        )
    palette = _palette(attributes.get("palette"), rng)
    subject = _level("subject", attributes.get("subject"))
    text = _level("text", attributes.get("text"))
    name = _clean(title)
    gid = f"g{palette.top[1:]}{palette.bottom[1:]}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}">',
        f"<title>{escape(name)}</title>",
        (
            f'<defs><linearGradient id="{gid}" x2="0" y2="1"><stop stop-color="{palette.top}"/>'
            f'<stop offset="1" stop-color="{palette.bottom}"/></linearGradient></defs>'
        ),
        f'<rect width="{_W}" height="{_H}" fill="url(#{gid})"/>',
    ]
    tagline = _tagline(genres, year) if text == "tagline" else ""
    if subject == "title_card":
        parts.append(_title_card(name if text != "none" else None, tagline, palette, rng))
    else:
        parts.append(_DRAW[subject](palette, rng))
        if text != "none":
            parts.append(_lower_third(name, tagline, palette))
    parts.append("</svg>")
    return "".join(parts)


def _digest(*parts: object) -> int:
    """A 64-bit integer hashed from ``parts``' text, the same on every run and machine."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "big")


def _level(attribute: str, value: Any) -> str:
    """``value`` if it is one of ``attribute``'s levels, else a level hashed from it."""
    levels = ATTRIBUTES[attribute]
    return value if _known(attribute, value) else levels[_digest(attribute, value) % len(levels)]


def _known(attribute: str, value: Any) -> bool:
    """Whether ``value`` is one of ``attribute``'s levels (any other type, an array too, is not)."""
    return isinstance(value, str) and value in ATTRIBUTES[attribute]


def _hex(hue: float, light: float, sat: float) -> str:
    """``#rrggbb`` of a hue in degrees (any real; taken mod 360), lightness and saturation in [0, 1]."""
    r, g, b = colorsys.hls_to_rgb((hue % 360) / 360, light, sat)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def _palette(value: Any, rng: random.Random) -> _Palette:
    """The colours of palette ``value`` (one not known: a hue hashed from it), jittered by ``rng``."""
    level = value if _known("palette", value) else None
    j = rng.uniform(-1, 1)
    if level == "warm":
        h = 22 + 14 * j
        return _Palette(
            _hex(h + 12, 0.62, 0.9),
            _hex(h - 14, 0.33, 0.8),
            _hex(h - 10, 0.13, 0.6),
            _hex(h + 28, 0.78, 1),
            "#fff",
            "#fff",
        )
    if level == "cool":
        h = 200 + 18 * j
        return _Palette(
            _hex(h - 12, 0.6, 0.6),
            _hex(h + 22, 0.2, 0.7),
            _hex(h + 10, 0.1, 0.55),
            _hex(h - 30, 0.85, 0.6),
            "#fff",
            "#fff",
        )
    if level == "dark":
        h = 180 * (j + 1)  # the accent's hue: any
        accent = _hex(h, 0.55, 0.85)
        return _Palette(_hex(h, 0.13, 0.2), _hex(h, 0.03, 0.1), "#000", accent, accent, accent, accent)
    if level == "bright":
        hues = (52, 330, 135)
        k = rng.randrange(len(hues))
        h = hues[k] + 8 * j
        ink = _hex(h + 180, 0.22, 0.75)
        return _Palette(_hex(h, 0.62, 1), _hex(hues[k - 1], 0.55, 0.95), ink, "#fff", ink, "#fff")
    h = _digest("palette", value) % 360 + 10 * j
    return _Palette(
        _hex(h, 0.55, 0.55), _hex(h + 25, 0.25, 0.55), _hex(h, 0.12, 0.4), _hex(h + 180, 0.75, 0.7), "#fff", "#fff"
    )


def _clean(text: str) -> str:
    """``text`` without the characters XML cannot carry, its whitespace runs made one space."""
    return " ".join(_NOT_XML.sub("", text).split())


def _clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis when it was longer."""
    return text if len(text) <= width else text[: width - 1].rstrip() + _ELLIPSIS


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, at most :data:`_MAX_LINES` of them (the last
    one ellipsised if the text goes on); a word longer than a line is split."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        while len(word) > width:
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:width])
            word = word[width:]
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= width:
            line += " " + word
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    if len(lines) > _MAX_LINES:
        lines = lines[: _MAX_LINES - 1] + [_clip(" ".join(lines[_MAX_LINES - 1 :]), width)]
    return lines


def _tagline(genres: Sequence[str], year: int | None) -> str:
    """The tagline's text: the first two genres and the year, joined by middle dots ("" if none)."""
    parts = [_clean(g) for g in genres[:2]] + ([str(year)] if year is not None else [])
    return " · ".join(p for p in parts if p)


def _chars(size: int, em: float) -> int:
    """How many characters of font ``size`` (``em``: mean advance, in ems) fit a line."""
    return int(_TEXT_WIDTH / (size * em))


def _texts(lines: Sequence[str], y: int, size: int, step: int, fill: str, extra: str = "") -> str:
    """``<text>`` elements for ``lines``, centred, the first baseline at ``y``, ``step`` apart."""
    return "".join(
        f'<text x="{_W // 2}" y="{y + i * step}" font-size="{size}"{extra} fill="{fill}">{escape(line)}</text>'
        for i, line in enumerate(lines)
    )


_FONT = '<g font-family="sans-serif" text-anchor="middle">'


def _lower_third(name: str, tagline: str, p: _Palette) -> str:
    """The title (and tagline) set at the foot of the poster over a shading band."""
    size, step, small = 18, 21, 10
    lines = _wrap(name, _chars(size, 0.58))
    tag = [_clip(tagline, _chars(small, 0.55))] if tagline else []
    if not lines and not tag:
        return ""
    top = 288 - len(lines) * step - len(tag) * (small + 6)  # top of the block
    band = top - 6
    return (
        f'<rect y="{band}" width="{_W}" height="{_H - band}" fill="#000" opacity=".45"/>{_FONT}'
        + _texts(lines, top + size, size, step, p.caption, ' font-weight="700"')
        + _texts(tag, top + len(lines) * step + small + 4, small, 0, p.caption, ' opacity=".85"')
        + "</g>"
    )


def _title_card(name: str | None, tagline: str, p: _Palette, rng: random.Random) -> str:
    """A frame with the title large in the middle between two rules; ``name`` None: bars for lettering."""
    inset = 10 + rng.randrange(5)
    frame = (
        f'<rect x="{inset}" y="{inset}" width="{_W - 2 * inset}" height="{_H - 2 * inset}" fill="none" '
        f'stroke="{p.text}" stroke-width="2"/>'
    )
    if name is None:
        widths = [rng.randrange(90, 150), rng.randrange(60, 130), rng.randrange(40, 80)]
        bars = "".join(
            f'<rect x="{(_W - w) // 2}" y="{118 + 24 * i}" width="{w}" height="14" rx="3"/>'
            for i, w in enumerate(widths)
        )
        return f'{frame}<g fill="{p.text}" opacity=".8">{bars}</g>'
    name = name.upper()
    size, lines = 28, _wrap(name, _chars(28, 0.68))
    if " ".join(lines) != name:  # a word was split or the title cut: a smaller size
        size, lines = 20, _wrap(name, _chars(20, 0.68))
    step, small = size + 4, 11
    tag = [_clip(tagline, _chars(small, 0.55))] if tagline else []
    height = len(lines) * step + len(tag) * (small + 8)
    top = 150 - height // 2 + rng.randrange(-8, 9)
    rules = f'<path d="M40 {top - 10}H160M40 {top + height + 6}H160" stroke="{p.text}" stroke-width="2"/>'
    return (
        frame
        + rules
        + _FONT
        + _texts(lines, top + size - 4, size, step, p.text, ' font-weight="900"')
        + _texts(tag, top + len(lines) * step + small + 2, small, 0, p.text, ' letter-spacing="1"')
        + "</g>"
    )


def _figure(x: float, y: float, s: float) -> str:
    """Path data of a silhouette: head (radius ``12 s``) centred at (``x``, ``y``), neck, shoulders to the foot."""
    r, w = round(12 * s), round(28 * s)
    x, y = round(x), round(y)
    base = y + round(50 * s)
    return (
        f"M{x - r} {y}a{r} {r} 0 1 0 {2 * r} 0a{r} {r} 0 1 0 {-2 * r} 0"
        f"M{x - round(5 * s)} {y + r - 2}h{round(10 * s)}v{round(8 * s)}h{-round(10 * s)}z"
        f"M{x - w} {_H}V{base}a{w} {round(34 * s)} 0 0 1 {2 * w} 0V{_H}z"
    )


def _figures(d: str, p: _Palette) -> str:
    """A ``<path>`` of silhouettes (path data ``d``) in the palette's ink, outlined where it has an edge."""
    # Stroke painted first: the fill hides the outline's inner half and the lines where figures overlap.
    edge = f' stroke="{p.edge}" stroke-width="3" paint-order="stroke"' if p.edge else ""
    return f'<path d="{d}" fill="{p.ink}"{edge}/>'


def _lead(p: _Palette, rng: random.Random) -> str:
    """One large silhouette, a little off centre."""
    return _figures(_figure(100 + rng.uniform(-14, 14), 112 + rng.uniform(-10, 10), 3), p)


def _ensemble(p: _Palette, rng: random.Random) -> str:
    """Three or four smaller silhouettes in a row, heads at varied heights."""
    n = rng.choice((3, 4))
    s, gap = (1.45, 62) if n == 3 else (1.2, 48)
    x0 = 100 - gap * (n - 1) / 2
    return _figures(
        "".join(_figure(x0 + gap * i + rng.uniform(-4, 4), 165 + rng.uniform(-14, 14), s) for i in range(n)), p
    )


def _scene(p: _Palette, rng: random.Random) -> str:
    """A landscape: a sun or moon over the horizon, far hills (translucent) and near hills."""
    h = 180 + rng.randrange(-12, 13)
    sx, sy, sr = rng.randrange(45, 156), h - rng.randrange(45, 90), rng.randrange(16, 30)
    a, b, c = rng.randrange(20, 60), rng.randrange(15, 45), rng.randrange(30, 90)  # hill heights, near crest
    return (
        f'<circle cx="{sx}" cy="{sy}" r="{sr}" fill="{p.accent}"/>'
        f'<path d="M0 {h}H{_W}" stroke="{p.accent}" opacity=".6"/>'
        f'<path d="M0 {h}Q50 {h - a} 100 {h}T{_W} {h}V{_H}H0z" fill="{p.ink}" opacity=".55"/>'
        f'<path d="M0 {h + 40}Q{c} {h + 40 - b} 130 {h + 30}T{_W} {h + 35}V{_H}H0z" fill="{p.ink}"/>'
    )


_DRAW = {"lead": _lead, "ensemble": _ensemble, "scene": _scene}
