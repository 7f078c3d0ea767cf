"""The traces and ladders shipped with Marquee, resolved by name; anything else is read as a path.

Shipped (see ``data/README.md`` for origin, commit and licence):

- traces: ``fcc_pensieve88`` (88 FCC broadband traces), ``hsdpa_pensieve80`` (80 Norway HSDPA 3G traces), the
  test half of Pensieve's split; ``pensieve_train127`` (its training half: 59 FCC and 68 HSDPA traces), on which the
  Marquee scheme's defaults were chosen;
- videos: ``envivio`` (Envivio-Dash3, 6 rungs 300..4300 kbps, 4 s, the first 48 chunks as Pensieve simulates
  them, with VMAF per chunk and rung), ``sabre_bbb`` (Big Buck Bunny, 10 rungs, 3 s, 199 chunks),
  ``sabre_bbb4k`` (its 4K ladder, 6 rungs up to 35 Mbps).
"""

from __future__ import annotations

import os
from importlib import resources

from marquee.playback.traces import TraceSet, read_traces
from marquee.playback.video import Video, read_csv_ladder, read_json_ladder, read_video

__all__ = ["SHIPPED_TRACES", "SHIPPED_VIDEOS", "load_traces", "load_video"]

SHIPPED_TRACES: tuple[str, ...] = ("fcc_pensieve88", "hsdpa_pensieve80", "pensieve_train127")
SHIPPED_VIDEOS: tuple[str, ...] = ("envivio", "sabre_bbb", "sabre_bbb4k")

#: Pensieve's ``TOTAL_VIDEO_CHUNCK``: it simulates the first 48 of Envivio's 49 chunks.
ENVIVIO_CHUNKS = 48


def load_traces(name_or_path: str | os.PathLike[str]) -> TraceSet:
    """A shipped trace set by name (:data:`SHIPPED_TRACES`), else a file, directory or archive path.

    Raises:
        DataError: the path does not exist or a trace in it is malformed.
    """
    if isinstance(name_or_path, str) and name_or_path in SHIPPED_TRACES:
        with resources.as_file(resources.files("marquee.playback") / "data" / f"{name_or_path}.tar.xz") as path:
            return read_traces(path, name=name_or_path)
    return read_traces(name_or_path)


def load_video(name_or_path: str | os.PathLike[str], *, chunk_seconds: float = 4.0) -> Video:
    """A shipped video by name (:data:`SHIPPED_VIDEOS`), else a ladder file (CSV: Envivio layout; JSON).

    ``load_video("envivio")`` is the first 48 chunks (Pensieve's ``TOTAL_VIDEO_CHUNCK``) with VMAF; read the
    CSV by path for all 49.

    Raises:
        DataError: the path does not exist or the ladder is malformed.
    """
    if isinstance(name_or_path, str) and name_or_path in SHIPPED_VIDEOS:
        data = resources.files("marquee.playback") / "data"
        if name_or_path == "envivio":
            with (
                resources.as_file(data / "envivio_dash3_chunk_sizes.csv") as sizes,
                resources.as_file(data / "envivio_dash3_chunk_vmaf.csv") as vmaf,
            ):
                return read_csv_ladder(sizes, vmaf, chunk_seconds=4.0, name="envivio").head(ENVIVIO_CHUNKS)
        with resources.as_file(data / f"{name_or_path}.json") as path:
            return read_json_ladder(path, name=name_or_path)
    return read_video(name_or_path, chunk_seconds=chunk_seconds)
