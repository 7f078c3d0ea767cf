"""Traces shipped with Marquee (permissively licensed; see ``data/README.md``), resolved by name."""

from __future__ import annotations

import os
from pathlib import Path

from marquee.cdn.requests import Format, Requests, read_requests
from marquee.errors import ConfigError

__all__ = ["SHIPPED_TRACES", "load_requests", "shipped_path"]

_DATA = Path(__file__).parent / "data"

#: name -> (file in ``marquee/cdn/data``, format)
SHIPPED_TRACES: dict[str, tuple[str, Format]] = {
    "cache2k_web07": ("cache2k_web07.trace.xz", "u32be"),
    "cache2k_web12": ("cache2k_web12.trace.xz", "u32be"),
    "adapt_size": ("adapt_size_request.trace.xz", "txt"),
}


def shipped_path(name: str) -> Path:
    """The file of a shipped trace or model (``"tragen_akamai_video"`` is the TRAGEN model archive)."""
    if name == "tragen_akamai_video":
        return _DATA / "tragen_akamai_video.tar.xz"
    if name not in SHIPPED_TRACES:
        raise ConfigError(f"no shipped trace {name!r}; shipped: {', '.join(SHIPPED_TRACES)}")
    return _DATA / SHIPPED_TRACES[name][0]


def load_requests(name_or_path: str | os.PathLike, format: Format | None = None) -> Requests:
    """A shipped trace by name (``"cache2k_web07"``, ``"adapt_size"``), or a file read in ``format``."""
    if isinstance(name_or_path, str) and name_or_path in SHIPPED_TRACES:
        file, fmt = SHIPPED_TRACES[name_or_path]
        if format is not None and format != fmt:
            raise ConfigError(f"shipped trace {name_or_path!r} is {fmt}, not {format}")
        return read_requests(_DATA / file, fmt)
    if format is None:
        raise ConfigError(f"{name_or_path!s} is not a shipped trace ({', '.join(SHIPPED_TRACES)}); give its format")
    return read_requests(name_or_path, format)
