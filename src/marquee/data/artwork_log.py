"""The artwork decision log as a value type: logged feedback over per-round candidate sets.

Each round offered its title's variants (a different number per title). :class:`ArtworkLog`
pads the candidate sets to the largest, ``M``: action ``a`` of round ``i`` is the ``a``-th
variant of that round's title, and ``mask[i, a]`` says whether it existed. Its ``feedback``
is an ordinary :class:`~marquee.data.LoggedFeedback` (``n_actions = M``), so every off-policy
estimator applies, given action distributions that put no mass on padding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from marquee.data.feedback import LoggedFeedback
from marquee.errors import DataError

__all__ = ["ArtworkLog"]

_FIELDS = ("decision_id", "policy", "context", "action", "propensity", "timestamp_us", "member_id", "title_id", "variant_ids", "candidates")


@dataclass(frozen=True, eq=False)
class ArtworkLog:
    """Logged artwork decisions with rewards.

    Attributes:
        feedback: context (n, d), action (index among the round's candidates), reward, propensity,
            timestamp; ``n_actions = M``, the largest candidate set.
        candidates: (n, M, k) float64 candidate features, zero rows for padding.
        mask: (n, M) bool, True for real candidates.
        variant_ids: (n, M) int64, -1 for padding.
        member_id: (n,) int64.
        title_id: (n,) int64.
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
        cls, records: Iterable[tuple[dict[str, Any], float | None]], *, missing_reward: float | None = None, source: str = "decision log"
    ) -> ArtworkLog:
        """Build from ``(decision record, reward or None)`` pairs, e.g. ``SQLiteDecisionLog.records()``.

        Args:
            missing_reward: reward of a decision that got no feedback, or ``None`` to leave it out.
            source: named in error messages.
        Raises:
            DataError: naming the (1-based) record and the field of the first problem.
        """
        rows: list[tuple[dict[str, Any], float]] = []
        for i, (record, reward) in enumerate(records):
            if not isinstance(record, dict) or "candidates" not in record:
                raise DataError("is not an artwork decision (it has no candidates)", source=source, row=i + 1, column="candidates")
            missing = [f for f in _FIELDS if f not in record]
            if missing:
                raise DataError(f"is missing field(s) {missing}", source=source, row=i + 1, column=missing[0])
            if reward is None and missing_reward is None:
                continue
            rows.append((record, float(missing_reward if reward is None else reward)))
        if not rows:
            raise DataError("has no decisions with feedback yet; send rewards to /v1/feedback (or pass a missing reward)", source=source)
        m = max(len(r["variant_ids"]) for r, _ in rows)
        d = len(rows[0][0]["context"])
        k = len(rows[0][0]["candidates"][0])
        n = len(rows)
        candidates, mask, variants = np.zeros((n, m, k)), np.zeros((n, m), bool), np.full((n, m), -1, np.int64)
        for i, (r, _) in enumerate(rows):
            feats = np.asarray(r["candidates"], dtype=np.float64)
            if len(r["context"]) != d:
                raise DataError(f"has {len(r['context'])} context features, the first record {d}", source=source, row=i + 1, column="context")
            if feats.ndim != 2 or feats.shape != (len(r["variant_ids"]), k):
                raise DataError(f"must be ({len(r['variant_ids'])}, {k}) features, got {feats.shape}", source=source, row=i + 1, column="candidates")
            j = feats.shape[0]
            candidates[i, :j], mask[i, :j], variants[i, :j] = feats, True, r["variant_ids"]
        feedback = LoggedFeedback(
            context=np.array([r["context"] for r, _ in rows], dtype=np.float64).reshape(n, d),
            action=np.array([r["action"] for r, _ in rows]),
            reward=np.array([w for _, w in rows]),
            propensity=np.array([r["propensity"] for r, _ in rows], dtype=np.float64),
            timestamp=np.array([r["timestamp_us"] for r, _ in rows]),
            n_actions=m,
            policy="+".join(sorted({str(r["policy"]) for r, _ in rows})),
            source=source,
        )
        off = ~mask[np.arange(n), feedback.action]
        if off.any():
            i = int(np.argmax(off))
            raise DataError(f"shows action {int(feedback.action[i])}, but the round had {int(mask[i].sum())} candidates", source=source, row=i + 1, column="action")
        for a in (candidates, mask, variants):
            a.setflags(write=False)
        return cls(
            feedback, candidates, mask, variants,
            np.array([r["member_id"] for r, _ in rows], dtype=np.int64), np.array([r["title_id"] for r, _ in rows], dtype=np.int64),
            tuple(str(r["decision_id"]) for r, _ in rows),
        )  # fmt: skip
