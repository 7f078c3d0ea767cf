"""Marquee's error hierarchy.

Every error a user can meet derives from :class:`MarqueeError`; its message says what was
expected, what was given and what to do. The CLI maps these to a one-line headline and an
exit code; anything else is a bug.
"""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "ConfigError",
    "DataError",
    "FetchError",
    "MarqueeError",
    "NotFittedError",
    "UnknownIdError",
]


class MarqueeError(Exception):
    """Base class of every error Marquee raises on purpose."""

    exit_code: int = 1


class ConfigError(MarqueeError, ValueError):
    """A hyperparameter, option or configuration file is invalid."""

    exit_code = 2


class DataError(MarqueeError, ValueError):
    """Input data is malformed. The message names the file, row (1-based data row) and column where known."""

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.source = source
        self.row = row
        self.column = column
        where = []
        if source is not None:
            where.append(str(source))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class UnknownIdError(MarqueeError, KeyError):
    """A member or title id is not known to the model or dataset."""

    exit_code = 4

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ""


class NotFittedError(MarqueeError, AttributeError):
    """A model was used before ``fit``."""

    exit_code = 5


class ArtifactError(MarqueeError):
    """A saved model is missing, corrupt or incompatible with this version of Marquee."""

    exit_code = 6


class FetchError(MarqueeError):
    """A dataset could not be fetched from any of its sources."""

    exit_code = 7
