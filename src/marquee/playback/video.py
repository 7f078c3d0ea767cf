"""Video ladders: the bitrate rungs of a title, its per-chunk sizes and, where known, per-chunk quality.

Readers: the Envivio-Dash3 CSVs Pensieve uses (``chunk_index,bytes_300kbps,...`` and
``chunk_index,vmaf_300kbps,...``), Sabre's JSON (``segment_duration_ms``, ``bitrates_kbps``,
``segment_sizes_bits`` per segment), and a user's ladder as CSV (the Envivio layout) or JSON (Sabre's layout,
or Marquee's per-rung layout: ``{"bitrates_kbps", "chunk_seconds", "chunk_bytes": [[rung 0 sizes], ...],
"quality": [[rung 0 scores], ...]}``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from marquee.errors import DataError

__all__ = ["Video", "read_csv_ladder", "read_json_ladder", "read_video"]

_RUNG_COLUMN = re.compile(r"^(bytes|vmaf|quality)_(\d+(?:\.\d+)?)kbps$")


@dataclass(frozen=True, eq=False)
class Video:
    """A bitrate ladder with real per-chunk sizes.

    Attributes:
        name: the title's name, used in error messages and reports.
        bitrates_kbps: (rungs,) float64, strictly increasing nominal bitrates.
        chunk_seconds: playback length of every chunk.
        chunk_bytes: (chunks, rungs) int64 > 0, the size of chunk ``i`` at rung ``r``.
        quality: (chunks, rungs) float64 perceptual quality (VMAF) or ``None``.
    """

    name: str
    bitrates_kbps: np.ndarray
    chunk_seconds: float
    chunk_bytes: np.ndarray
    quality: np.ndarray | None = None

    def __post_init__(self) -> None:
        rates = np.array(self.bitrates_kbps, dtype=np.float64)
        sizes = np.array(self.chunk_bytes)
        if rates.ndim != 1 or rates.size == 0:
            raise DataError(f"bitrates_kbps must be a non-empty 1-D list, got shape {rates.shape}", source=self.name)
        if not np.all(np.isfinite(rates)) or np.any(rates <= 0):
            raise DataError(f"bitrates must be positive and finite, got {rates.tolist()}", source=self.name)
        bad = np.flatnonzero(np.diff(rates) <= 0)
        if bad.size:
            raise DataError(
                f"rungs must be increasing: rung {bad[0] + 1} ({rates[bad[0] + 1]:g} kbps) is not above "
                f"rung {bad[0]} ({rates[bad[0]]:g} kbps)",
                source=self.name,
                column="bitrates_kbps",
            )
        if sizes.ndim != 2 or sizes.shape[1] != rates.size or sizes.shape[0] == 0:
            raise DataError(
                f"chunk_bytes must be (chunks, rungs) = (n, {rates.size}) with n >= 1, got {sizes.shape}",
                source=self.name,
            )
        if not np.issubdtype(sizes.dtype, np.integer) and (
            not np.all(np.isfinite(sizes)) or np.any(sizes != np.round(sizes))
        ):
            raise DataError("chunk sizes must be whole numbers of bytes", source=self.name, column="chunk_bytes")
        sizes = sizes.astype(np.int64)
        nonpos = np.argwhere(sizes <= 0)
        if nonpos.size:
            c, r = (int(x) for x in nonpos[0])
            raise DataError(
                f"chunk sizes must be positive: chunk {c} at rung {r} ({rates[r]:g} kbps) is {sizes[c, r]}",
                source=self.name,
                column="chunk_bytes",
            )
        if not (math.isfinite(self.chunk_seconds) and self.chunk_seconds > 0):
            raise DataError(f"chunk_seconds must be positive, got {self.chunk_seconds}", source=self.name)
        quality = None
        if self.quality is not None:
            quality = np.array(self.quality, dtype=np.float64)
            if quality.shape != sizes.shape:
                raise DataError(
                    f"quality must have the shape of chunk_bytes {sizes.shape}, got {quality.shape}", source=self.name
                )
            if not np.all(np.isfinite(quality)):
                raise DataError("quality must be finite", source=self.name, column="quality")
            quality.setflags(write=False)
        rates.setflags(write=False)
        sizes.setflags(write=False)
        object.__setattr__(self, "bitrates_kbps", rates)
        object.__setattr__(self, "chunk_bytes", sizes)
        object.__setattr__(self, "quality", quality)
        object.__setattr__(self, "chunk_seconds", float(self.chunk_seconds))

    @property
    def n_chunks(self) -> int:
        """Number of chunks."""
        return int(self.chunk_bytes.shape[0])

    @property
    def n_rungs(self) -> int:
        """Number of rungs."""
        return int(self.bitrates_kbps.size)

    @property
    def bitrates_mbps(self) -> np.ndarray:
        """(rungs,) float64 nominal bitrates in Mbps."""
        return self.bitrates_kbps / 1000.0

    def head(self, n_chunks: int) -> Video:
        """The first ``n_chunks`` chunks of this video (Pensieve plays the first 48 of Envivio's 49)."""
        if not 1 <= n_chunks <= self.n_chunks:
            raise DataError(f"n_chunks must be in 1..{self.n_chunks}, got {n_chunks}", source=self.name)
        q = None if self.quality is None else self.quality[:n_chunks]
        return Video(self.name, self.bitrates_kbps, self.chunk_seconds, self.chunk_bytes[:n_chunks], q)

    def __repr__(self) -> str:
        rates = "/".join(f"{r:g}" for r in self.bitrates_kbps)
        return f"Video({self.name!r}, rungs={rates} kbps, chunks={self.n_chunks}x{self.chunk_seconds:g}s, quality={self.quality is not None})"


def _read_rung_csv(text: str, source: str, kinds: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, str]:
    """Parse ``chunk_index,<kind>_<kbps>kbps,...``; returns bitrates, (chunks, rungs) values, the kind."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise DataError("file is empty; expected a header 'chunk_index,bytes_<kbps>kbps,...'", source=source, row=1)
    header = [h.strip() for h in rows[0]]
    if not header or header[0] != "chunk_index":
        raise DataError(
            f"the first column must be 'chunk_index', got {header[0] if header else ''!r}",
            source=source,
            row=1,
            column="chunk_index",
        )
    rates, kind = [], None
    for col in header[1:]:
        m = _RUNG_COLUMN.match(col)
        if m is None or m.group(1) not in kinds or (kind is not None and m.group(1) != kind):
            raise DataError(
                f"expected a column named {kinds[0]}_<kbps>kbps, got {col!r}", source=source, row=1, column=col
            )
        kind = m.group(1)
        rates.append(float(m.group(2)))
    if not rates:
        raise DataError("the header names no rung columns", source=source, row=1)
    values: list[list[float]] = []
    counts = [0] * len(rates)
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise DataError(f"expected {len(header)} fields, got {len(row)}", source=source, row=lineno)
        cells = [c.strip() for c in row] + [""] * (len(header) - len(row))
        out = []
        for j, cell in enumerate(cells[1:]):
            if cell == "":
                out.append(math.nan)
                continue
            try:
                v = float(cell)
            except ValueError:
                raise DataError(
                    f"expected a number, got {cell!r}", source=source, row=lineno, column=header[j + 1]
                ) from None
            if not math.isfinite(v):
                raise DataError(
                    f"expected a finite number, got {cell!r}", source=source, row=lineno, column=header[j + 1]
                )
            out.append(v)
            counts[j] += 1
        values.append(out)
    arr = np.array(values, dtype=np.float64).reshape(len(values), len(rates))
    _check_counts(counts, rates, source, unit="chunks")
    holes = np.argwhere(np.isnan(arr))
    if holes.size:
        c, r = (int(x) for x in holes[0])
        raise DataError("value is missing", source=source, row=c + 2, column=header[r + 1])
    assert kind is not None
    return np.asarray(rates), arr, kind


def _check_counts(counts: list[int], rates: list[float], source: str, unit: str) -> None:
    expected = max(counts) if counts else 0
    for r, n in enumerate(counts):
        if n != expected:
            raise DataError(
                f"rung {r} ({rates[r]:g} kbps) has {n} {unit}, other rungs have {expected}; every rung needs the same chunks",
                source=source,
                column=f"rung {r}",
            )


def _whole_bytes(values: np.ndarray, source: str, what: str) -> np.ndarray:
    if np.any(values != np.round(values)):
        c, r = (int(x) for x in np.argwhere(values != np.round(values))[0])
        raise DataError(f"{what} must be whole numbers, chunk {c} rung {r} is {values[c, r]}", source=source)
    return values.astype(np.int64)


def read_csv_ladder(
    sizes_path: str | os.PathLike[str],
    quality_path: str | os.PathLike[str] | None = None,
    *,
    chunk_seconds: float = 4.0,
    name: str | None = None,
) -> Video:
    """Read a ladder in the Envivio layout: ``chunk_index,bytes_<kbps>kbps,...`` (+ ``vmaf_<kbps>kbps,...``).

    Args:
        sizes_path: CSV of per-chunk bytes, one column per rung.
        quality_path: optional CSV of per-chunk quality with the same rungs and chunks.
        chunk_seconds: chunk length (not in the file; Envivio's is 4 s).
        name: the video's name (default: the sizes file's stem).

    Raises:
        DataError: naming file, row and column for a bad header or cell, a rung with fewer chunks, or a quality
            table whose rungs or chunks differ from the sizes'.
    """
    src = str(sizes_path)
    rates, sizes, _ = _read_rung_csv(_read_text(sizes_path), src, ("bytes",))
    quality = None
    if quality_path is not None:
        qsrc = str(quality_path)
        qrates, quality, _ = _read_rung_csv(_read_text(quality_path), qsrc, ("vmaf", "quality"))
        if not np.array_equal(qrates, rates):
            raise DataError(
                f"quality rungs {qrates.tolist()} differ from the sizes' rungs {rates.tolist()}", source=qsrc, row=1
            )
        if quality.shape[0] != sizes.shape[0]:
            raise DataError(f"quality has {quality.shape[0]} chunks, the sizes have {sizes.shape[0]}", source=qsrc)
    return Video(name or Path(sizes_path).stem, rates, chunk_seconds, _whole_bytes(sizes, src, "chunk sizes"), quality)


def _read_text(path: str | os.PathLike[str]) -> str:
    p = Path(path)
    if not p.is_file():
        raise DataError("no such file; pass a ladder CSV or JSON", source=str(p))
    return p.read_text(encoding="utf-8")


def _list_of_numbers(value: Any, source: str, where: str) -> list[float]:
    if not isinstance(value, list) or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise DataError(f"{where} must be a list of numbers", source=source, column=where)
    return [float(v) for v in value]


def read_json_ladder(path: str | os.PathLike[str], *, name: str | None = None) -> Video:
    """Read a JSON ladder: Sabre's layout (sizes in bits, per segment) or Marquee's (bytes, per rung).

    Raises:
        DataError: naming file and field (and segment or rung) for a missing key, a segment with the wrong number
            of sizes, rungs with different chunk counts, or sizes that are not positive.
    """
    src = str(path)
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON: {exc.msg}", source=src, row=exc.lineno) from None
    if not isinstance(data, dict) or "bitrates_kbps" not in data:
        raise DataError("expected a JSON object with 'bitrates_kbps'", source=src, column="bitrates_kbps")
    rates = _list_of_numbers(data["bitrates_kbps"], src, "bitrates_kbps")
    quality = None
    if "segment_sizes_bits" in data:  # Sabre
        if "segment_duration_ms" not in data:
            raise DataError("field is missing", source=src, column="segment_duration_ms")
        seconds = float(data["segment_duration_ms"]) / 1000.0
        segs = data["segment_sizes_bits"]
        if not isinstance(segs, list) or not segs:
            raise DataError("must be a non-empty list of per-segment lists", source=src, column="segment_sizes_bits")
        rows = []
        for i, seg in enumerate(segs):
            vals = _list_of_numbers(seg, src, f"segment_sizes_bits[{i}]")
            if len(vals) != len(rates):
                raise DataError(
                    f"segment {i} has {len(vals)} sizes, expected {len(rates)} (one per rung)",
                    source=src,
                    row=i + 1,
                    column="segment_sizes_bits",
                )
            rows.append(vals)
        bits = np.array(rows)
        bytes_ = np.round(bits / 8.0)
    elif "chunk_bytes" in data:  # Marquee: per rung
        if "chunk_seconds" not in data:
            raise DataError("field is missing", source=src, column="chunk_seconds")
        seconds = float(data["chunk_seconds"])
        per_rung = data["chunk_bytes"]
        if not isinstance(per_rung, list) or len(per_rung) != len(rates):
            raise DataError(f"must be a list of {len(rates)} per-rung lists", source=src, column="chunk_bytes")
        cols = [_list_of_numbers(v, src, f"chunk_bytes[{r}]") for r, v in enumerate(per_rung)]
        _check_counts([len(c) for c in cols], rates, src, unit="chunks")
        bytes_ = np.array(cols).T
        if "quality" in data:
            qcols = data["quality"]
            if not isinstance(qcols, list) or len(qcols) != len(rates):
                raise DataError(f"must be a list of {len(rates)} per-rung lists", source=src, column="quality")
            q = [_list_of_numbers(v, src, f"quality[{r}]") for r, v in enumerate(qcols)]
            for r, col in enumerate(q):
                if len(col) != len(cols[0]):
                    raise DataError(
                        f"rung {r} ({rates[r]:g} kbps) has {len(col)} quality scores, expected {len(cols[0])} (one per chunk)",
                        source=src,
                        column=f"quality[{r}]",
                    )
            quality = np.array(q).T
    else:
        raise DataError("expected 'segment_sizes_bits' (Sabre) or 'chunk_bytes' (per rung)", source=src)
    return Video(name or Path(path).stem, np.asarray(rates), seconds, _whole_bytes(bytes_, src, "chunk sizes"), quality)


def read_video(path: str | os.PathLike[str], *, chunk_seconds: float = 4.0, name: str | None = None) -> Video:
    """Read a ladder from a ``.json`` (Sabre or per-rung) or ``.csv`` (Envivio layout) file.

    ``chunk_seconds`` applies to CSV only (JSON carries its own).
    """
    if str(path).endswith(".json"):
        return read_json_ladder(path, name=name)
    return read_csv_ladder(path, chunk_seconds=chunk_seconds, name=name)
