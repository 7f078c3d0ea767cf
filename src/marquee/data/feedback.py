"""Logged bandit feedback: what a policy chose, where, with what probability, and what came of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from marquee.errors import DataError

__all__ = ["LoggedFeedback"]


def _fail(message: str, source: str, column: str, row: int | None = None) -> DataError:
    return DataError(message, source=source, row=None if row is None else row + 1, column=column)


def _first(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))[0])


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


def _integers(values: Any, name: str, n: int | None, source: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        want = f"({n},)" if n is not None else "(n,)"
        raise _fail(f"must have shape {want}, got {arr.shape}", source, name)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "f":
        raise _fail(f"must hold integers, got dtype {arr.dtype}", source, name)
    bad = ~np.isfinite(arr) | (arr != np.round(arr))
    if bad.any():
        row = int(np.argmax(bad))
        raise _fail(f"must hold integers, got {float(arr[row])!r}", source, name, row)
    return arr.astype(np.int64)


def _floats(values: Any, name: str, shape: tuple[int, ...], source: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise _fail("must hold numbers", source, name) from None
    if arr.shape != shape:
        raise _fail(f"must have shape {shape}, got {arr.shape}", source, name)
    bad = ~np.isfinite(arr)
    if bad.any():
        if arr.ndim >= 1:
            row = _first(bad)
            raise _fail(f"must be finite, got {float(arr[row].ravel()[np.argmax(bad[row].ravel())])!r}", source, name, row)
        raise _fail("must be finite", source, name)
    return arr


@dataclass(frozen=True, eq=False, kw_only=True)
class LoggedFeedback:
    """An immutable, validated log of a policy's choices, ready for off-policy evaluation.

    Row ``i`` says: in context ``context[i]`` the policy ``policy`` showed ``action[i]`` in slot
    ``position[i]`` with probability ``propensity[i]``, and observed ``reward[i]``. Arrays are
    validated and made read-only on construction; a :class:`~marquee.errors.DataError` names the
    field and the (1-based) row of the first problem.

    Attributes:
        context: (n, d) float64 features of each decision's context (``d`` may be 0).
        action: (n,) int64 chosen action, in ``[0, n_actions)``.
        reward: (n,) float64 observed reward (finite).
        propensity: (n,) float64 probability the logging policy gave the chosen action at that
            position, in (0, 1].
        n_actions: how many actions the policy chose among.
        policy: name of the logging policy.
        position: (n,) int64 slot the action was shown in, in ``[0, n_positions)``; zeros if not given.
        n_positions: number of slots; ``position.max() + 1`` if not given.
        action_features: (n_actions, k) float64 features of each action, or ``None``.
        affinity: (n, n_actions) float64 per-(context, action) features, such as a member's past
            clicks on each item, or ``None``.
        timestamp: (n,) int64 event times (unix microseconds), or ``None``.
        context_names: names of the ``d`` context columns (may be empty).
        source: where the log came from, for error messages.
    """

    context: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    propensity: np.ndarray
    n_actions: int
    policy: str
    position: np.ndarray | None = None
    n_positions: int | None = None
    action_features: np.ndarray | None = None
    affinity: np.ndarray | None = None
    timestamp: np.ndarray | None = None
    context_names: tuple[str, ...] = field(default=())
    source: str = "<arrays>"

    def __post_init__(self) -> None:
        src = self.source
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        if not isinstance(self.policy, str) or not self.policy:
            raise _fail("must name the logging policy (a non-empty string)", src, "policy")
        if not isinstance(self.n_actions, int | np.integer) or isinstance(self.n_actions, bool) or self.n_actions < 1:
            raise _fail(f"must be a positive int, got {self.n_actions!r}", src, "n_actions")
        set_("n_actions", int(self.n_actions))
        action = _integers(self.action, "action", None, src)
        n = action.shape[0]
        if n == 0:
            raise _fail("the log has no rows", src, "action")
        bad = (action < 0) | (action >= self.n_actions)
        if bad.any():
            row = int(np.argmax(bad))
            raise _fail(f"must lie in [0, {self.n_actions}) (n_actions={self.n_actions}), got {action[row]}", src, "action", row)
        context = np.asarray(self.context, dtype=np.float64) if not isinstance(self.context, np.ndarray) else self.context
        if context.ndim != 2 or context.shape[0] != n:
            raise _fail(f"must have shape ({n}, d), one row per decision, got {np.shape(context)}", src, "context")
        context = _floats(context, "context", context.shape, src)
        reward = _floats(self.reward, "reward", (n,), src)
        propensity = _floats(self.propensity, "propensity", (n,), src)
        bad = (propensity <= 0) | (propensity > 1)
        if bad.any():
            row = int(np.argmax(bad))
            raise _fail(
                f"must lie in (0, 1], got {float(propensity[row])!r}; log the probability the policy gave its choice when it chose",
                src, "propensity", row,
            )  # fmt: skip
        position = np.zeros(n, np.int64) if self.position is None else _integers(self.position, "position", n, src)
        if (position < 0).any():
            row = int(np.argmax(position < 0))
            raise _fail(f"must be >= 0, got {position[row]}", src, "position", row)
        n_positions = int(position.max()) + 1 if self.n_positions is None else self.n_positions
        if not isinstance(n_positions, int | np.integer) or isinstance(n_positions, bool) or n_positions < 1:
            raise _fail(f"must be a positive int, got {n_positions!r}", src, "n_positions")
        if (position >= n_positions).any():
            row = int(np.argmax(position >= n_positions))
            raise _fail(f"must lie in [0, {n_positions}) (n_positions={n_positions}), got {position[row]}", src, "position", row)
        set_("n_positions", int(n_positions))
        for name, arr in (("context", context), ("action", action), ("reward", reward), ("propensity", propensity), ("position", position)):
            set_(name, _frozen(arr))
        if self.action_features is not None:
            feats = np.asarray(self.action_features, dtype=np.float64)
            if feats.ndim != 2 or feats.shape[0] != self.n_actions:
                raise _fail(f"must have shape ({self.n_actions}, k), one row per action, got {feats.shape}", src, "action_features")
            set_("action_features", _frozen(_floats(feats, "action_features", feats.shape, src)))
        if self.affinity is not None:
            set_("affinity", _frozen(_floats(self.affinity, "affinity", (n, self.n_actions), src)))
        if self.timestamp is not None:
            set_("timestamp", _frozen(_integers(self.timestamp, "timestamp", n, src)))
        names = tuple(self.context_names)
        if names and len(names) != context.shape[1]:
            raise _fail(f"must name all {context.shape[1]} context columns, got {len(names)} names", src, "context_names")
        set_("context_names", names)

    # ---- views ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.action.shape[0])

    def __repr__(self) -> str:
        return (
            f"LoggedFeedback(policy={self.policy!r}, n={len(self)}, n_actions={self.n_actions}, "
            f"n_positions={self.n_positions}, d={self.n_features}, mean_reward={self.mean_reward:.4g})"
        )

    @property
    def n_features(self) -> int:
        """Context dimension ``d``."""
        return int(self.context.shape[1])

    @property
    def mean_reward(self) -> float:
        """The on-policy value of the logging policy: the mean observed reward."""
        return float(self.reward.mean())

    def action_frequencies(self) -> np.ndarray:
        """Observed share of each action in each slot.

        Returns:
            (n_actions, n_positions) float64; each column sums to 1 (0 for a slot never logged).
        """
        counts = np.zeros((self.n_actions, self.n_positions))
        np.add.at(counts, (self.action, self.position), 1.0)
        totals = counts.sum(axis=0, keepdims=True)
        return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)

    def take(self, rows: np.ndarray) -> LoggedFeedback:
        """The rows at ``rows`` (integer indices, repeats allowed: bootstrap resamples and folds)."""
        rows = np.asarray(rows, dtype=np.int64)
        pick = lambda a: None if a is None else a[rows]  # noqa: E731
        return LoggedFeedback(
            context=self.context[rows],
            action=self.action[rows],
            reward=self.reward[rows],
            propensity=self.propensity[rows],
            n_actions=self.n_actions,
            policy=self.policy,
            position=self.position[rows],
            n_positions=self.n_positions,
            action_features=self.action_features,
            affinity=pick(self.affinity),
            timestamp=pick(self.timestamp),
            context_names=self.context_names,
            source=self.source,
        )

    def with_propensity(self, propensity: np.ndarray) -> LoggedFeedback:
        """The same log with other propensities (e.g. estimated ones), validated again."""
        return LoggedFeedback(
            context=self.context, action=self.action, reward=self.reward, propensity=propensity,
            n_actions=self.n_actions, policy=self.policy, position=self.position, n_positions=self.n_positions,
            action_features=self.action_features, affinity=self.affinity, timestamp=self.timestamp,
            context_names=self.context_names, source=self.source,
        )  # fmt: skip
