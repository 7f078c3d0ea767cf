"""The artwork decision log as a value type: logged feedback over per-round candidate sets.

Each round offered its title's variants (a different number per title). :class:`ArtworkLog`
pads the candidate sets to the largest, ``M``: action ``a`` of round ``i`` is the ``a``-th
variant of that round's title, and ``mask[i, a]`` says whether it existed. Its ``feedback``
is an ordinary :class:`~marquee.data.LoggedFeedback` (``n_actions = M``), so every off-policy
estimator applies, given action distributions that put no mass on padding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import numpy as np

from marquee.data.feedback import LoggedFeedback
from marquee.errors import DataError

__all__ = ["ArtworkLog"]

_INT64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_ID = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
#: A member or title id as the service takes it: an int64 id or a non-empty string of at most 256 characters.
_EXTERNAL_ID = _ID | Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
_FINITE = Annotated[float, msgspec.Meta(ge=-1.7976931348623157e308, le=1.7976931348623157e308)]  # refuses nan and inf


class _Record(msgspec.Struct):
    """The fields of a logged decision that evaluation reads, with the types the arrays hold (other fields are ignored)."""

    decision_id: str
    policy: str
    context: list[_FINITE]
    action: Annotated[int, msgspec.Meta(ge=0)]
    propensity: Annotated[float, msgspec.Meta(gt=0, le=1)]
    timestamp_us: _INT64
    member_id: _EXTERNAL_ID
    title_id: _EXTERNAL_ID
    variant_ids: list[_ID]
    candidates: list[list[_FINITE]]


_FIELD = re.compile(r"(?: - at `\$\.(\w+)[^`]*`| field `(\w+)`)")


@dataclass(frozen=True, eq=False)
class ArtworkLog:
    """Logged artwork decisions with rewards.

    Attributes:
        feedback: context (n, d), action (index among the round's candidates), reward, propensity,
            timestamp; ``n_actions = M``, the largest candidate set.
        candidates: (n, M, k) float64 candidate features, zero rows for padding.
        mask: (n, M) bool, True for real candidates.
        variant_ids: (n, M) int64, -1 for padding.
        member_id: (n,) int64 when every logged member id is an integer, else (n,) object array of
            the ids as logged (``str``, and ``int`` where an integer was logged).
        title_id: (n,) the same for title ids.
        decision_id: the rounds' decision ids.
    """

    feedback: LoggedFeedback
    candidates: np.ndarray
    mask: np.ndarray
    variant_ids: np.ndarray
    member_id: np.ndarray
    title_id: np.ndarray
    decision_id: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.feedback)

    @property
    def chosen_features(self) -> np.ndarray:
        """(n, k) features of the shown variant of each round."""
        return self.candidates[np.arange(len(self)), self.feedback.action]

    def uniform(self) -> np.ndarray:
        """(n, M) the uniform policy over each round's candidates."""
        return self.mask / self.mask.sum(axis=1, keepdims=True)

    @classmethod
    def from_records(
        cls, records: Iterable[tuple[dict[str, Any], float | None]], *, missing_reward: float | None = None, source: str = "decision log",
        on_bad_row: Callable[[DataError], None] | None = None,
    ) -> ArtworkLog:
        """Build from ``(decision record, reward or None)`` pairs, e.g. ``SQLiteDecisionLog.records()``;
        errors name the 1-based position of the record. See :meth:`from_rows`."""
        rows = ((i, record, reward) for i, (record, reward) in enumerate(records, 1))
        return cls.from_rows(rows, missing_reward=missing_reward, source=source, on_bad_row=on_bad_row)

    @classmethod
    def from_rows(
        cls, rows: Iterable[tuple[int, Any, float | None]], *, missing_reward: float | None = None, source: str = "decision log",
        on_bad_row: Callable[[DataError], None] | None = None, dims: tuple[int, int] | None = None,
    ) -> ArtworkLog:
        """Build from a log's ``(row id, decision record, reward or None)`` rows, e.g.
        ``SQLiteDecisionLog.rows()``; a record is a dict or its JSON text.

        Every row is read whole before any is used: its fields must have the types and ranges the
        arrays hold (ids in int64 or strings of 1..256 characters, propensity in (0, 1], finite
        features), its candidates one feature row per variant, its action one of them, and its shape that of the others.

        Args:
            missing_reward: reward of a decision that got no feedback, or ``None`` to leave it out.
            source: named in error messages.
            on_bad_row: called with the :class:`DataError` of each row that cannot be read (naming its
                row id, field and fault), which is then left out; ``None``: raise it.
            dims: the (context, candidate) feature counts every row must have [default: the first readable row's].
        Raises:
            DataError: naming the row id and the field of the first unreadable row (without
                ``on_bad_row``), or when no row with feedback is left.
        """
        kept: list[tuple[_Record, float]] = []
        for row_id, raw, reward in rows:
            try:
                record = _read(raw, source, row_id)
                dims = _check(record, dims, source, row_id)
            except DataError as exc:
                if on_bad_row is None:
                    raise
                on_bad_row(exc)
                continue
            if reward is not None or missing_reward is not None:
                kept.append((record, float(missing_reward if reward is None else reward)))
        if not kept:
            raise DataError("has no decisions with feedback yet; send rewards to /v1/feedback (or pass a missing reward)", source=source)
        assert dims is not None  # set by the first row kept
        d, k = dims
        n, m = len(kept), max(len(r.variant_ids) for r, _ in kept)
        candidates, mask, variants = np.zeros((n, m, k)), np.zeros((n, m), bool), np.full((n, m), -1, np.int64)
        for i, (r, _) in enumerate(kept):
            j = len(r.variant_ids)
            candidates[i, :j], mask[i, :j], variants[i, :j] = r.candidates, True, r.variant_ids
        feedback = LoggedFeedback(
            context=np.array([r.context for r, _ in kept], dtype=np.float64).reshape(n, d),
            action=np.array([r.action for r, _ in kept], dtype=np.int64),
            reward=np.array([w for _, w in kept]),
            propensity=np.array([r.propensity for r, _ in kept], dtype=np.float64),
            timestamp=np.array([r.timestamp_us for r, _ in kept], dtype=np.int64),
            n_actions=m,
            policy="+".join(sorted({r.policy for r, _ in kept})),
            source=source,
        )
        for a in (candidates, mask, variants):
            a.setflags(write=False)
        return cls(
            feedback, candidates, mask, variants,
            _ids([r.member_id for r, _ in kept]), _ids([r.title_id for r, _ in kept]),
            tuple(r.decision_id for r, _ in kept),
        )  # fmt: skip


def _ids(values: list[int | str]) -> np.ndarray:
    """Logged ids as an array: int64 when all are integers (every log before text ids), else objects as logged."""
    if all(type(v) is int for v in values):
        return np.array(values, dtype=np.int64)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _read(raw: Any, source: str, row: int) -> _Record:
    """One row's record (a dict or JSON text) as a checked :class:`_Record`, or the DataError naming the field at fault."""
    text = isinstance(raw, str | bytes)
    try:
        return msgspec.json.decode(raw, type=_Record) if text else msgspec.convert(raw, _Record)
    except msgspec.DecodeError as exc:  # ValidationError too
        if text and not isinstance(exc, msgspec.ValidationError):
            raise DataError(f"is not JSON ({exc})", source=source, row=row, column="record") from None
        record = msgspec.json.decode(raw) if text else raw
        if not isinstance(record, dict) or "candidates" not in record:
            raise DataError("is not an artwork decision (it has no candidates)", source=source, row=row, column="candidates") from None
        found = _FIELD.search(str(exc))
        message = str(exc).split(" - at `")[0]
        raise DataError(message, source=source, row=row, column=next((g for g in found.groups() if g), None) if found else None) from None


def _check(r: _Record, dims: tuple[int, int] | None, source: str, row: int) -> tuple[int, int]:
    """Check one record's shape (against ``dims`` when known); returns the (context, candidate) feature counts."""
    m = len(r.variant_ids)
    k = len(r.candidates[0]) if r.candidates else 0
    if len(r.candidates) != m or any(len(c) != k for c in r.candidates) or k == 0:
        shape = f"{len(r.candidates)} rows of {sorted({len(c) for c in r.candidates})}"
        raise DataError(f"must be one row of features per variant ({m}), all of one length, got {shape}", source=source, row=row, column="candidates")
    if r.action >= m:
        raise DataError(f"shows action {r.action}, but the round had {m} candidates", source=source, row=row, column="action")
    if dims is not None and len(r.context) != dims[0]:
        raise DataError(f"has {len(r.context)} context features, the other rows {dims[0]}", source=source, row=row, column="context")
    if dims is not None and k != dims[1]:
        raise DataError(f"has {k} features per candidate, the other rows {dims[1]}", source=source, row=row, column="candidates")
    return dims if dims is not None else (len(r.context), k)
