"""Exposure logging: the moment a member actually meets a variant, written to an event sink.

Assignment says which variant a member *would* get; an exposure records that they got it, and
when. Analyses count only exposed members, from their first exposure on. The sink is an
interface with two implementations: :class:`ParquetSink` (part files that DuckDB reads as one
table) and :class:`MemorySink` (the double for tests and simulations).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.parquet as pq

from marquee.errors import ConfigError, DataError
from marquee.experiment.assignment import Allocator, MemberId

__all__ = ["Exposure", "ExposureSink", "MemorySink", "ParquetSink", "log_exposures"]


@dataclass(frozen=True)
class Exposure:
    """Member ``member_id`` met ``variant`` of ``experiment`` at ``timestamp`` (unix seconds)."""

    member_id: MemberId
    experiment: str
    variant: str
    timestamp: float


@runtime_checkable
class ExposureSink(Protocol):
    """Where exposures go. ``write`` may buffer; ``flush`` makes everything written durable."""

    def write(self, exposures: Sequence[Exposure]) -> None: ...

    def flush(self) -> None: ...


def _table(exposures: Sequence[Exposure], member_type: pa.DataType) -> pa.Table:
    return pa.table(
        {
            "member_id": pa.array([e.member_id for e in exposures], member_type),
            "experiment": pa.array([e.experiment for e in exposures], pa.string()),
            "variant": pa.array([e.variant for e in exposures], pa.string()),
            "timestamp": pa.array([e.timestamp for e in exposures], pa.float64()),
        }
    )


def _member_type(exposures: Sequence[Exposure]) -> pa.DataType:
    kinds = {type(e.member_id) for e in exposures}
    if kinds <= {int}:
        return pa.int64()
    if kinds <= {str}:
        return pa.string()
    raise DataError(f"member ids must be all int or all str within a sink, got {sorted(k.__name__ for k in kinds)}", column="member_id")


class MemorySink:
    """Keeps exposures in memory; :meth:`table` gives them in the Parquet sink's schema."""

    def __init__(self) -> None:
        self.exposures: list[Exposure] = []
        self._lock = threading.Lock()

    def write(self, exposures: Sequence[Exposure]) -> None:
        with self._lock:
            self.exposures.extend(exposures)

    def flush(self) -> None:
        pass

    def table(self) -> pa.Table:
        with self._lock:
            rows = list(self.exposures)
        return _table(rows, _member_type(rows) if rows else pa.int64())


class ParquetSink:
    """Buffers exposures and writes each batch as a new Parquet part file in ``directory``.

    Parts are written to a temporary name and renamed, so a reader never sees half a file; point
    an experiment's ``exposures.path`` at the directory. The member id type (int or str) is fixed
    by the first batch. Use as a context manager, or call :meth:`flush` before exiting.

    Args:
        directory: created if missing.
        batch_rows: flush automatically once this many exposures are buffered.
    """

    def __init__(self, directory: str | os.PathLike[str], *, batch_rows: int = 100_000) -> None:
        if not isinstance(batch_rows, int) or batch_rows < 1:
            raise ConfigError(f"ParquetSink.batch_rows must be an int >= 1, got {batch_rows!r}")
        self.directory = Path(directory)
        self.batch_rows = batch_rows
        self._buffer: list[Exposure] = []
        self._member_type: pa.DataType | None = None
        self._lock = threading.Lock()

    def write(self, exposures: Sequence[Exposure]) -> None:
        with self._lock:
            self._buffer.extend(exposures)
            full = len(self._buffer) >= self.batch_rows
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            rows, self._buffer = self._buffer, []
            if not rows:
                return
            kind = _member_type(rows)
            if self._member_type is None:
                self._member_type = kind
            elif kind != self._member_type:
                self._buffer = rows  # keep them: nothing is dropped silently
                raise DataError(f"member ids changed type from {self._member_type} to {kind} within one sink", source=str(self.directory), column="member_id")
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"exposures-{time.time_ns()}-{uuid.uuid4().hex[:8]}.parquet"
            tmp = self.directory / f".{name}.tmp"
            pq.write_table(_table(rows, self._member_type), tmp)
            tmp.rename(self.directory / name)

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


def log_exposures(
    allocator: Allocator,
    member_ids: Iterable[MemberId],
    experiment: str,
    sink: ExposureSink,
    *,
    clock: Callable[[], float] = time.time,
) -> list[str | None]:
    """Assign members to ``experiment``, write an exposure for each one in it, return the variants.

    Call this where the treatment is rendered (not where it is merely computed), so that the
    analysis compares members who could have been affected.
    """
    ids = list(member_ids)
    variants = allocator.variants(ids, experiment)
    now = clock()
    sink.write([Exposure(m, experiment, v, now) for m, v in zip(ids, variants, strict=True) if v is not None])
    return variants
