"""Network throughput traces: Pensieve's text format and Sabre's JSON, from a file, a directory or an archive.

A trace follows Pensieve's (mahimahi-cooked) convention: ``times_s[i]`` are sample instants and
``mbps[i]`` is the throughput over ``(times_s[i-1], times_s[i]]``, so ``mbps[0]`` is never used by the
session simulator (Pensieve's ``fixed_env`` starts its pointer at sample 1). Sabre's JSON lists
intervals (``duration_ms``, ``bandwidth_kbps``); it is read into the same shape with a leading sample
at time 0 that repeats the first interval's throughput.

A session plays its trace from the start, so a long recording is cut into session-length traces first
(:meth:`TraceSet.cut`).

Input is parsed whole before anything is returned; a bad line raises :class:`~marquee.errors.DataError`
naming the file, the 1-based line (for JSON, the 1-based entry) and the field.
"""

from __future__ import annotations

import json
import math
import os
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

import numpy as np

from marquee.errors import ConfigError, DataError

__all__ = ["Trace", "TraceSet", "parse_pensieve", "parse_sabre", "read_traces", "traces_from_arrays"]

_ARCHIVE_SUFFIXES = (".tar.xz", ".tar.gz", ".tgz", ".tar.bz2", ".tar")


@dataclass(frozen=True, eq=False)
class Trace:
    """One network trace.

    Attributes:
        name: the trace's name (its file name).
        times_s: (n,) float64, strictly increasing sample instants in seconds, n >= 2.
        mbps: (n,) float64 >= 0, throughput over the interval ending at each instant (``mbps[0]`` unused).
        latency_s: one-way latency the trace was recorded with (Sabre's ``latency_ms``; 0 for Pensieve's
            format, whose simulator adds its own round trip).
    """

    name: str
    times_s: np.ndarray
    mbps: np.ndarray
    latency_s: float = 0.0

    def __post_init__(self) -> None:
        times = np.array(self.times_s, dtype=np.float64)
        mbps = np.array(self.mbps, dtype=np.float64)
        if times.ndim != 1 or times.shape != mbps.shape:
            raise DataError(
                f"times_s and mbps must be 1-D and of equal length, got {times.shape} and {mbps.shape}",
                source=self.name,
            )
        if times.size < 2:
            raise DataError(f"a trace needs at least 2 samples, got {times.size}", source=self.name)
        if not (np.all(np.isfinite(times)) and np.all(np.isfinite(mbps))):
            raise DataError("times_s and mbps must be finite", source=self.name)
        bad = np.flatnonzero(np.diff(times) <= 0)
        if bad.size:
            raise DataError("time is not increasing", source=self.name, row=int(bad[0]) + 2, column="time_s")
        neg = np.flatnonzero(mbps < 0)
        if neg.size:
            raise DataError("throughput is negative", source=self.name, row=int(neg[0]) + 1, column="mbps")
        if not np.any(mbps[1:] > 0):
            raise DataError(
                "throughput is zero throughout; nothing could ever download", source=self.name, column="mbps"
            )
        if not (math.isfinite(self.latency_s) and self.latency_s >= 0):
            raise DataError(f"latency_s must be finite and >= 0, got {self.latency_s}", source=self.name)
        times.setflags(write=False)
        mbps.setflags(write=False)
        object.__setattr__(self, "times_s", times)
        object.__setattr__(self, "mbps", mbps)
        object.__setattr__(self, "latency_s", float(self.latency_s))

    @property
    def duration_s(self) -> float:
        """Length of one pass of the trace in seconds (``times_s[-1] - times_s[0]``)."""
        return float(self.times_s[-1] - self.times_s[0])

    @property
    def mean_mbps(self) -> float:
        """Time-weighted mean throughput over one pass (samples 1..n-1)."""
        return float(np.sum(np.diff(self.times_s) * self.mbps[1:]) / self.duration_s)

    def __len__(self) -> int:
        return int(self.times_s.size)

    def __repr__(self) -> str:
        return f"Trace({self.name!r}, samples={len(self)}, duration_s={self.duration_s:.1f}, mean_mbps={self.mean_mbps:.3f})"


@dataclass(frozen=True)
class TraceSet:
    """An ordered, named collection of traces (sorted by file name when read from disk).

    Attributes:
        name: the set's name (the directory or archive name without suffix).
        traces: the traces, in order.
    """

    name: str
    traces: tuple[Trace, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        traces = tuple(self.traces)
        if not traces:
            raise DataError("a trace set needs at least one trace, got none", source=self.name)
        for t in traces:
            if not isinstance(t, Trace):
                raise DataError(f"a trace set holds Trace values, got {type(t).__name__}", source=self.name)
        object.__setattr__(self, "traces", traces)

    def __len__(self) -> int:
        return len(self.traces)

    def __iter__(self) -> Iterator[Trace]:
        return iter(self.traces)

    @overload
    def __getitem__(self, index: int) -> Trace: ...
    @overload
    def __getitem__(self, index: slice) -> TraceSet: ...
    def __getitem__(self, index: int | slice) -> Trace | TraceSet:
        """One trace by position, or a slice as a :class:`TraceSet` of the same name."""
        if isinstance(index, slice):
            return TraceSet(self.name, self.traces[index])
        return self.traces[index]

    @property
    def names(self) -> list[str]:
        """The traces' names, in order."""
        return [t.name for t in self.traces]

    def cut(self, length_s: float, every_s: float | None = None) -> TraceSet:
        """Cut long recordings into session-length traces: a piece of ``length_s`` seconds starts every ``every_s``
        seconds of each trace (default ``length_s``: back to back), as long as a whole piece fits; a trace no
        longer than ``length_s`` is kept whole.

        A session starts at its trace's start, so a 30-minute log played as one trace is scored on its first few
        minutes only; cut, every stretch of it becomes a session. A piece holds the samples from its start to
        its end inclusive, re-timed to start at 0, keeps the trace's latency and is named ``{name}@{start}s``.

        Raises:
            ConfigError: ``length_s`` or ``every_s`` is not a finite number > 0.
            DataError: a piece has fewer than two samples or no throughput at all (naming the piece).
        """
        every_s = length_s if every_s is None else every_s
        for label, v in (("length_s", length_s), ("every_s", every_s)):
            if isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and v > 0):
                raise ConfigError(f"TraceSet.cut: {label} must be a finite number > 0, got {v!r}")
        pieces = []
        for trace in self.traces:
            t0 = float(trace.times_s[0])
            if trace.duration_s <= length_s:
                pieces.append(trace)
                continue
            start = 0.0
            while start + length_s <= trace.duration_s:
                keep = (trace.times_s >= t0 + start) & (trace.times_s <= t0 + start + length_s)
                times = trace.times_s[keep]
                name = f"{trace.name}@{start:g}s"
                if times.size < 2:
                    raise DataError(
                        f"a {length_s:g} s piece holds {times.size} sample(s); cut into longer pieces", source=name
                    )
                pieces.append(Trace(name, times - times[0], trace.mbps[keep], trace.latency_s))
                start += every_s
        return TraceSet(self.name, tuple(pieces))


def _number(text: str, source: str, row: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"expected a number, got {text!r}", source=source, row=row, column=column) from None
    if not math.isfinite(value):
        raise DataError(f"expected a finite number, got {text!r}", source=source, row=row, column=column)
    return value


def parse_pensieve(text: str, source: str, *, name: str | None = None) -> Trace:
    """Parse Pensieve's text format: one ``time_s  Mbps`` pair per line, whitespace-separated.

    Blank lines are skipped. Args: ``text`` the file's content, ``source`` the file named in errors,
    ``name`` the trace's name (default: the base name of ``source``).

    Raises:
        DataError: a line without exactly two fields, a non-numeric field, a negative throughput, a time
            not above the previous line's, an empty trace or one with zero throughput throughout.
    """
    times: list[float] = []
    mbps: list[float] = []
    rows: list[int] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise DataError(
                f"expected 2 whitespace-separated fields 'time_s Mbps', got {len(parts)}: {line.strip()!r}",
                source=source,
                row=lineno,
                column="line",
            )
        t = _number(parts[0], source, lineno, "time_s")
        b = _number(parts[1], source, lineno, "mbps")
        if b < 0:
            raise DataError(f"throughput is negative ({b})", source=source, row=lineno, column="mbps")
        if times and t <= times[-1]:
            raise DataError(
                f"time {t} is not above the previous line's {times[-1]}", source=source, row=lineno, column="time_s"
            )
        times.append(t)
        mbps.append(b)
        rows.append(lineno)
    return _finish(times, mbps, rows, source, name, latency_s=0.0)


def parse_sabre(text: str, source: str, *, name: str | None = None) -> Trace:
    """Parse Sabre's JSON: a list of ``{"duration_ms", "bandwidth_kbps", "latency_ms"}`` intervals.

    The trace gets a sample at time 0 followed by one at the end of each interval; ``latency_s`` is the
    intervals' mean latency. Errors name the 1-based entry as the row.

    Raises:
        DataError: invalid JSON, a non-list, an entry without a numeric field, a negative bandwidth or
            latency, a non-positive duration, an empty list or zero bandwidth throughout.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON: {exc.msg}", source=source, row=exc.lineno, column="json") from None
    if not isinstance(data, list):
        raise DataError(
            f"expected a JSON list of {{duration_ms, bandwidth_kbps, latency_ms}}, got {type(data).__name__}",
            source=source,
        )
    times: list[float] = [0.0]
    mbps: list[float] = []
    latencies: list[float] = []
    rows: list[int] = [1]
    for entry_no, entry in enumerate(data, start=1):
        if not isinstance(entry, dict):
            raise DataError(f"expected an object, got {type(entry).__name__}", source=source, row=entry_no)
        values = {}
        for key in ("duration_ms", "bandwidth_kbps", "latency_ms"):
            if key not in entry:
                raise DataError("field is missing", source=source, row=entry_no, column=key)
            v = entry[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise DataError(f"expected a finite number, got {v!r}", source=source, row=entry_no, column=key)
            values[key] = float(v)
        for key, bad, message in (
            ("duration_ms", values["duration_ms"] <= 0, f"duration must be positive, got {values['duration_ms']}"),
            ("bandwidth_kbps", values["bandwidth_kbps"] < 0, f"throughput is negative ({values['bandwidth_kbps']})"),
            ("latency_ms", values["latency_ms"] < 0, f"latency is negative ({values['latency_ms']})"),
        ):
            if bad:
                raise DataError(message, source=source, row=entry_no, column=key)
        times.append(times[-1] + values["duration_ms"] / 1000.0)
        mbps.append(values["bandwidth_kbps"] / 1000.0)
        latencies.append(values["latency_ms"] / 1000.0)
        rows.append(entry_no)
    if not mbps:
        return _finish([], [], [], source, name, latency_s=0.0)
    mbps.insert(0, mbps[0])
    return _finish(times, mbps, rows, source, name, latency_s=float(np.mean(latencies)))


def _finish(
    times: list[float], mbps: list[float], rows: list[int], source: str, name: str | None, *, latency_s: float
) -> Trace:
    if len(times) < 2:
        raise DataError(f"trace is empty: it needs at least 2 samples, got {len(times)}", source=source)
    if not any(b > 0 for b in mbps[1:]):
        raise DataError(
            f"throughput is zero on every line ({rows[1]}..{rows[-1]}); nothing could ever download",
            source=source,
            column="mbps",
        )
    return Trace(name or os.path.basename(source), np.asarray(times), np.asarray(mbps), latency_s)


def _parse(data: bytes, source: str) -> Trace:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text (byte {exc.start})", source=source) from None
    if source.endswith(".json"):
        return parse_sabre(text, source)
    return parse_pensieve(text, source)


def _is_archive(path: Path) -> bool:
    return path.name.endswith(_ARCHIVE_SUFFIXES)


def _set_name(path: Path) -> str:
    for suffix in _ARCHIVE_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.name


def _hidden(name: str) -> bool:
    return any(part.startswith(".") for part in Path(name).parts)


def _read_archive(path: Path) -> list[Trace]:
    # Members are read in archive order (a compressed tar cannot seek: reading them sorted by name would
    # decompress the stream again for every member that lies behind the previous one), then parsed sorted.
    blobs: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r|*") as tar:
            for m in tar:
                if m.isfile() and not _hidden(m.name):
                    handle = tar.extractfile(m)
                    assert handle is not None  # isfile() members always have a file object
                    blobs[m.name] = handle.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"cannot read the archive: {exc}", source=str(path)) from None
    return [_parse(blobs[name], f"{path}:{name}") for name in sorted(blobs)]


def read_traces(path: str | os.PathLike[str], *, name: str | None = None) -> TraceSet:
    """Read traces from one file, a directory of files or a tar archive (``.tar.xz``, ``.tar.gz``, ``.tar``).

    Files ending in ``.json`` are read as Sabre JSON, any other as Pensieve text. In a directory or an
    archive, every regular file not starting with a dot is read, sorted by name; archives are read in
    memory, never extracted to disk.

    Args:
        path: the file, directory or archive.
        name: the set's name (default: the path's name without its archive suffix).

    Returns:
        The traces, in name order.

    Raises:
        DataError: the path does not exist, holds no trace, or any trace is malformed (nothing is returned).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(
            "no such file or directory; pass a trace file, a directory of traces or a .tar.xz archive", source=str(p)
        )
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and not _hidden(str(f.relative_to(p))))
        traces = [_parse(f.read_bytes(), str(f)) for f in files]
    elif _is_archive(p):
        traces = _read_archive(p)
    else:
        traces = [_parse(p.read_bytes(), str(p))]
    if not traces:
        raise DataError("holds no trace files", source=str(p))
    return TraceSet(name or _set_name(p), tuple(traces))


def traces_from_arrays(name: str, times_s: Sequence[Sequence[float]], mbps: Sequence[Sequence[float]]) -> TraceSet:
    """Build a :class:`TraceSet` from in-memory arrays (one ``times_s``/``mbps`` pair per trace)."""
    return TraceSet(name, tuple(Trace(f"{name}_{i}", t, b) for i, (t, b) in enumerate(zip(times_s, mbps, strict=True))))
