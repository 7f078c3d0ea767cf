"""Request streams: a cache trace held as numpy columns, never one Python object per request.

A :class:`Requests` value is what every replay consumes: per request its time (seconds), its object as a dense
index ``0..n_objects-1`` into :attr:`Requests.ids` (the trace's own keys), and its size in bytes. Readers turn the
formats a CDN team meets into that value:

- ``oraclegeneral``: libCacheSim's binary layout, 24 bytes a request (``<u4 time, <u8 id, <u4 size, <i8 next``).
- ``txt``: one request a line, ``time id size`` separated by spaces, tabs or commas.
- ``u32be``: big-endian uint32 keys back to back (the cache2k traces), no times and no sizes: each object
  counts 1 byte and the request's position is its time, so byte ratios equal request ratios.
- ``csv`` / ``parquet``: a user's own log with named columns (``time``, ``id``, ``size`` by default).

Files ending in ``.xz``, ``.gz`` or ``.bz2`` are decompressed on the fly.

Sizes follow libCacheSim's convention as the CDN issue pins it: an object keeps its **first-seen size** for the whole
trace (a later request for it with another size counts that first size, in the cache and in the byte ratios). How
many requests were re-sized that way is kept in :attr:`Requests.n_resized`, never silently: a reader reports it.
Requests of size 0 are kept and counted (libCacheSim's readers skip them by default, so on a trace that has them
the two differ by design; none of the shipped or shared traces has one).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np

from marquee.errors import ConfigError, DataError

__all__ = [
    "FORMATS",
    "NO_NEXT_ACCESS",
    "Requests",
    "read_requests",
    "requests_from_arrays",
    "write_oracle_general",
]

FORMATS = ("oraclegeneral", "txt", "u32be", "csv", "parquet")
Format = Literal["oraclegeneral", "txt", "u32be", "csv", "parquet"]

#: Next-access position of a request whose object is never requested again (libCacheSim's ``INT64_MAX``).
NO_NEXT_ACCESS = np.iinfo(np.int64).max

_ORACLE_GENERAL = np.dtype([("time", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])


@dataclass(frozen=True, eq=False)
class Requests:
    """A request stream as columns: ``time (n,) float64``, ``obj (n,) int32`` dense, ``size (n,) int64`` bytes.

    ``ids (n_objects,)`` maps a dense object index back to the trace's key; ``object_size (n_objects,)`` is each
    object's first-seen size, so ``size == object_size[obj]`` always holds.
    """

    time: np.ndarray
    obj: np.ndarray
    size: np.ndarray
    ids: np.ndarray
    object_size: np.ndarray
    source: str = "<arrays>"
    n_resized: int = 0
    sized: bool = True
    _next: list = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return int(self.obj.shape[0])

    @property
    def n_objects(self) -> int:
        return int(self.ids.shape[0])

    @property
    def working_set_bytes(self) -> int:
        """Sum of each object's first-seen size: the bytes a cache needs to never miss twice."""
        return int(self.object_size.sum())

    @property
    def total_bytes(self) -> int:
        return int(self.size.sum())

    def next_access(self) -> np.ndarray:
        """``(n,) int64``: position of the next request for the same object, :data:`NO_NEXT_ACCESS` if none.

        What Belady-style policies see; computed once (one backward pass) and kept.
        """
        if not self._next:
            self._next.append(_next_access(self.obj, self.n_objects))
        return self._next[0]

    def cache_bytes(self, spec: str | float) -> int:
        """A cache size from bytes (``1048576``, ``"64MiB"``) or a share of the working set (``"1%"``, ``0.01``).

        A share rounds down and is at least 1 byte, as the CLI documents. Zero or negative sizes raise.
        """
        return cache_bytes(spec, self.working_set_bytes)

    def slice(self, start: int, stop: int) -> Requests:
        """Requests ``[start, stop)`` re-indexed over the objects they touch."""
        return requests_from_arrays(
            self.time[start:stop], self.ids[self.obj[start:stop]], self.size[start:stop], source=self.source,
            sized=self.sized,
        )


def cache_bytes(spec: str | float, working_set_bytes: int) -> int:
    """Parse a cache size: bytes (int, ``"1048576"``, ``"64MiB"``, ``"2GB"``) or a share (``"1%"``, ``0.01``)."""
    units = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
             "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
    share: float | None = None
    value: int | None = None
    if isinstance(spec, bool):
        raise ConfigError(f"cache size {spec!r} is not a size; give bytes (e.g. 1048576, 64MiB) or a share (1%)")
    if isinstance(spec, int):
        value = spec
    elif isinstance(spec, float):
        if not 0 < spec <= 1:
            raise ConfigError(f"cache size {spec!r}: a float is a share of the working set and must be in (0, 1]")
        share = spec
    else:
        text = str(spec).strip().lower()
        try:
            if text.endswith("%"):
                share = float(text[:-1]) / 100.0
            else:
                number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
                unit = text[len(number):].strip()
                if unit not in units:
                    raise ValueError(unit)
                value = int(float(number) * units[unit])
        except ValueError:
            raise ConfigError(
                f"cache size {spec!r} is not understood; give bytes (1048576, 64MiB, 2GB) or a share (1%, 0.5%)"
            ) from None
    if share is not None:
        if not share > 0:
            raise ConfigError(f"cache size {spec!r} must be above zero")
        value = max(1, int(np.floor(share * working_set_bytes)))
    assert value is not None
    if value <= 0:
        raise ConfigError(f"cache size {spec!r} must be at least 1 byte")
    return value


def requests_from_arrays(
    time: np.ndarray | None,
    ids: np.ndarray,
    size: np.ndarray | None = None,
    *,
    source: str = "<arrays>",
    sized: bool | None = None,
) -> Requests:
    """Build :class:`Requests` from per-request columns; ``time`` defaults to positions, ``size`` to 1 byte.

    Sizes must be non-negative integers; a negative one raises naming its 1-based row.
    """
    ids = np.asarray(ids)
    n = int(ids.shape[0])
    if ids.ndim != 1:
        raise DataError(f"object ids must be one column, got shape {ids.shape}", source=source, column="id")
    if time is None:
        time_arr = np.arange(n, dtype=np.float64)
    else:
        time_arr = np.asarray(time, dtype=np.float64)
        if time_arr.shape != (n,):
            raise DataError(f"{time_arr.shape[0]} times for {n} requests", source=source, column="time")
        bad = np.flatnonzero(~np.isfinite(time_arr))
        if bad.size:
            raise DataError(f"time {time_arr[bad[0]]} is not finite", source=source, row=int(bad[0]) + 1,
                            column="time")
    if size is None:
        size_arr = np.ones(n, dtype=np.int64)
        sized = False if sized is None else sized
    else:
        raw = np.asarray(size)
        if raw.shape != (n,):
            raise DataError(f"{raw.shape[0]} sizes for {n} requests", source=source, column="size")
        if raw.dtype.kind == "f":
            bad = np.flatnonzero(~np.isfinite(raw) | (raw != np.floor(raw)))
            if bad.size:
                raise DataError(f"size {raw[bad[0]]} is not a whole number of bytes", source=source,
                                row=int(bad[0]) + 1, column="size")
        size_arr = raw.astype(np.int64)
        bad = np.flatnonzero(size_arr < 0)
        if bad.size:
            raise DataError(f"size {int(size_arr[bad[0]])} is negative; sizes are bytes >= 0", source=source,
                            row=int(bad[0]) + 1, column="size")
        sized = True if sized is None else sized
    uniq, first, obj = np.unique(ids, return_index=True, return_inverse=True)
    obj = obj.astype(np.int32 if uniq.shape[0] < 2**31 else np.int64).reshape(-1)
    object_size = size_arr[first] if n else np.zeros(0, dtype=np.int64)
    per_request = object_size[obj]
    n_resized = int(np.count_nonzero(per_request != size_arr))
    return Requests(
        time=time_arr,
        obj=obj,
        size=np.ascontiguousarray(per_request, dtype=np.int64),
        ids=uniq,
        object_size=np.ascontiguousarray(object_size, dtype=np.int64),
        source=source,
        n_resized=n_resized,
        sized=bool(sized),
    )


def _next_access(obj: np.ndarray, n_objects: int) -> np.ndarray:
    n = obj.shape[0]
    nxt = np.full(n, NO_NEXT_ACCESS, dtype=np.int64)
    if n == 0:
        return nxt
    order = np.argsort(obj, kind="stable")  # requests grouped by object, in time order within each
    same = obj[order[1:]] == obj[order[:-1]]
    nxt[order[:-1][same]] = order[1:][same]
    return nxt


def _open(path: Path) -> IO[bytes]:
    suffix = path.suffix.lower()
    if suffix == ".xz":
        return lzma.open(path, "rb")
    if suffix == ".gz":
        return gzip.open(path, "rb")
    if suffix == ".bz2":
        return bz2.open(path, "rb")
    return open(path, "rb")


def _read_bytes(path: Path) -> bytes:
    try:
        with _open(path) as fh:
            return fh.read()
    except (lzma.LZMAError, OSError, EOFError) as exc:
        raise DataError(f"cannot read the file ({exc}); is it complete and in the named compression?",
                        source=str(path)) from None


def read_requests(path: str | os.PathLike, format: Format, *, columns: dict[str, str] | None = None) -> Requests:
    """Read a trace file in ``format`` (one of :data:`FORMATS`) into :class:`Requests`.

    ``columns`` renames the csv/parquet columns: ``{"time": "ts", "id": "object", "size": "bytes"}``; ``size``
    (and ``time``) may be absent from the file, then every object is 1 byte (positions are times).
    Malformed input raises :class:`DataError` naming the file and the byte offset (binary) or row and field (text).
    """
    p = Path(path)
    if format not in FORMATS:
        raise ConfigError(f"unknown trace format {format!r}; use one of {', '.join(FORMATS)}")
    if not p.is_file():
        raise DataError("no such trace file", source=str(p))
    if format == "oraclegeneral":
        return _read_oracle_general(p)
    if format == "u32be":
        return _read_u32be(p)
    if format == "txt":
        return _read_txt(p)
    return _read_table(p, format, columns or {})


def _read_oracle_general(path: Path) -> Requests:
    data = _read_bytes(path)
    width = _ORACLE_GENERAL.itemsize
    if len(data) % width:
        whole = len(data) // width
        raise DataError(
            f"truncated oracleGeneral trace: {len(data)} bytes is not a multiple of {width}; the last record "
            f"(request {whole + 1}) starts at byte offset {whole * width} and is cut short",
            source=str(path),
        )
    rec = np.frombuffer(data, dtype=_ORACLE_GENERAL)
    return requests_from_arrays(rec["time"], rec["id"], rec["size"], source=str(path), sized=True)


def _read_u32be(path: Path) -> Requests:
    data = _read_bytes(path)
    if len(data) % 4:
        whole = len(data) // 4
        raise DataError(
            f"truncated u32be trace: {len(data)} bytes is not a multiple of 4; the key at byte offset {whole * 4} "
            "is cut short",
            source=str(path),
        )
    keys = np.frombuffer(data, dtype=">u4").astype(np.uint64)
    return requests_from_arrays(None, keys, None, source=str(path), sized=False)


def _read_txt(path: Path) -> Requests:
    data = _read_bytes(path)
    text = data.decode("utf-8", errors="replace")
    lines = text.splitlines()
    fields = ("time", "id", "size")
    times = np.empty(len(lines), dtype=np.float64)
    keys = np.empty(len(lines), dtype=np.uint64)
    sizes = np.empty(len(lines), dtype=np.int64)
    n = 0
    # Parsed line by line on purpose: every malformed line must be named (row and field), and a trace in this
    # format is small enough (tens of millions of lines at most) that this stays a few seconds.
    for row, line in enumerate(lines, start=1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        if len(parts) < 3:
            raise DataError(f"expected 3 fields 'time id size', found {len(parts)}: {line.strip()!r}",
                            source=str(path), row=row, column=fields[len(parts)])
        try:
            times[n] = float(parts[0])
        except ValueError:
            raise DataError(f"time {parts[0]!r} is not a number", source=str(path), row=row, column="time") from None
        try:
            keys[n] = int(parts[1])
        except (ValueError, OverflowError):
            raise DataError(f"id {parts[1]!r} is not an unsigned integer key", source=str(path), row=row,
                            column="id") from None
        try:
            size = int(parts[2])
        except ValueError:
            raise DataError(f"size {parts[2]!r} is not a whole number of bytes", source=str(path), row=row,
                            column="size") from None
        if size < 0:
            raise DataError(f"size {size} is negative; sizes are bytes >= 0", source=str(path), row=row,
                            column="size")
        if not np.isfinite(times[n]):
            raise DataError(f"time {parts[0]!r} is not finite", source=str(path), row=row, column="time")
        sizes[n] = size
        n += 1
    if n == 0:
        raise DataError("the trace has no requests", source=str(path))
    return requests_from_arrays(times[:n], keys[:n], sizes[:n], source=str(path), sized=True)


def _read_table(path: Path, format: str, columns: dict[str, str]) -> Requests:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    names = {"time": "time", "id": "id", "size": "size"} | columns
    unknown = set(columns) - {"time", "id", "size"}
    if unknown:
        raise ConfigError(f"columns may rename only time, id and size, not {sorted(unknown)}")
    try:
        if format == "parquet":
            table = pq.read_table(path)
        else:
            with _open(path) as fh:
                table = pacsv.read_csv(fh)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot read as {format}: {str(exc).splitlines()[0]}", source=str(path)) from None
    if names["id"] not in table.column_names:
        raise DataError(f"no id column {names['id']!r}; columns are {table.column_names} (rename with columns=)",
                        source=str(path), column=names["id"])

    def column(key: str) -> np.ndarray | None:
        name = names[key]
        if name not in table.column_names:
            return None
        col = table.column(name)
        nulls = col.null_count
        if nulls:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0]) + 1
            raise DataError("missing value", source=str(path), row=row, column=name)
        return col.to_numpy(zero_copy_only=False)

    key = column("id")
    assert key is not None
    if key.dtype.kind not in "iu":
        # String keys are hashed to stable 64-bit ids (the first 8 bytes of BLAKE2b), as libCacheSim does for
        # text keys; the original strings are not kept.
        import hashlib

        key = np.fromiter(
            (int.from_bytes(hashlib.blake2b(str(k).encode(), digest_size=8).digest(), "little") for k in key),
            dtype=np.uint64, count=len(key),
        )
    elif key.dtype.kind == "i" and key.size and key.min() < 0:
        row = int(np.flatnonzero(key < 0)[0]) + 1
        raise DataError(f"id {int(key[row - 1])} is negative; ids are unsigned keys", source=str(path), row=row,
                        column=names["id"])
    size = column("size")
    time = column("time")
    for label, arr in (("size", size), ("time", time)):
        if arr is not None and arr.dtype.kind not in "iuf":
            raise DataError(f"{label} column holds {arr.dtype} values, expected numbers", source=str(path),
                            column=names[label])
    if len(key) == 0:
        raise DataError("the trace has no requests", source=str(path))
    return requests_from_arrays(time, key.astype(np.uint64), size, source=str(path))


def write_oracle_general(requests: Requests, path: str | os.PathLike) -> Path:
    """Write ``requests`` in libCacheSim's oracleGeneral layout (with next-access positions), atomically.

    Times are truncated to whole seconds and clipped to uint32; sizes above 4 GiB do not fit the layout and raise.
    """
    p = Path(path)
    if requests.size.size and int(requests.size.max()) >= 2**32:
        raise DataError("an object is 4 GiB or larger, which oracleGeneral cannot hold", source=requests.source,
                        column="size")
    rec = np.empty(len(requests), dtype=_ORACLE_GENERAL)
    rec["time"] = np.clip(requests.time, 0, 2**32 - 1).astype(np.uint32)
    rec["id"] = requests.ids[requests.obj].astype(np.uint64)
    rec["size"] = requests.size.astype(np.uint32)
    nxt = requests.next_access()
    # libCacheSim's converter writes the next access as a 1-based virtual time (position + 1), -1 for never.
    rec["next"] = np.where(nxt == NO_NEXT_ACCESS, -1, nxt + 1)
    tmp = p.with_name(p.name + ".part")
    with open(tmp, "wb") as fh:
        fh.write(rec.tobytes())
    os.replace(tmp, p)
    return p
