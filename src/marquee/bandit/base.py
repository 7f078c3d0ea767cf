"""The one API every bandit policy follows.

``choose(context, rng) -> Decisions`` (actions with the probability the policy gave each),
``action_distribution(context)`` (every action's probability), online ``update``, offline
``fit(LoggedFeedback)``, and ``save``/``load`` as safetensors plus a JSON manifest. A fresh
policy can choose at once (from its prior, exploring); ``fit`` and ``update`` only sharpen it.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from marquee._validate import Configured
from marquee.artifacts import read_artifact, write_artifact
from marquee.data.feedback import LoggedFeedback
from marquee.errors import ArtifactError, DataError
from marquee.random import SeedLike, as_generator

__all__ = ["Decisions", "Policy", "as_contexts", "sample_actions"]


@dataclass(frozen=True, eq=False)
class Decisions:
    """Chosen actions and their propensities.

    Attributes:
        action: (n,) int64 chosen action per context.
        propensity: (n,) float64 probability the policy gave that action, in (0, 1].
    """

    action: np.ndarray
    propensity: np.ndarray

    def __len__(self) -> int:
        return int(self.action.shape[0])


def as_contexts(context: Any) -> np.ndarray:
    """(d,) or (n, d) numbers -> (n, d) float64, refusing non-finite values."""
    x = np.asarray(context, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise DataError(f"must have shape (d,) or (n, d), got {x.shape}", column="context")
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise DataError("must be finite", row=row + 1, column="context")
    return x


def sample_actions(dist: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of an (n, n_actions) distribution (inverse-CDF sampling)."""
    u = rng.random(dist.shape[0])[:, None]
    return np.minimum((np.cumsum(dist, axis=1) < u * dist.sum(axis=1, keepdims=True)).sum(axis=1), dist.shape[1] - 1)


class Policy(Configured, ABC):
    """Base class of bandit policies. Subclasses declare ``Config`` (frozen dataclass with an
    ``n_actions`` field) and implement ``action_distribution``, ``_update``, ``_state`` and
    ``_restore``; learned attributes end with ``_``.
    """

    Config: ClassVar[type]
    #: Short registry name, e.g. ``"lin_ucb"``.
    name: ClassVar[str]

    @property
    def n_actions(self) -> int:
        return int(self.config.n_actions)

    # ---- choosing ------------------------------------------------------------------------
    @abstractmethod
    def action_distribution(self, context: Any) -> np.ndarray:
        """The probability of each action for each context.

        Args:
            context: (n, d) or (d,) features.
        Returns:
            (n, n_actions) float64, rows summing to 1.
        """

    def choose(self, context: Any, rng: SeedLike = None) -> Decisions:
        """Choose one action per context; each comes with the probability the policy gave it.

        Args:
            context: (n, d) or (d,) features.
            rng: a seed or generator (the policy's only source of randomness).
        """
        dist = self.action_distribution(context)
        action = sample_actions(dist, as_generator(rng))
        return Decisions(action.astype(np.int64), dist[np.arange(dist.shape[0]), action])

    # ---- learning ------------------------------------------------------------------------
    def update(self, context: Any, action: Any, reward: Any) -> Self:
        """Learn online from observed rewards of chosen actions (rows in order)."""
        x = as_contexts(context)
        a = np.atleast_1d(np.asarray(action, dtype=np.int64))
        r = np.atleast_1d(np.asarray(reward, dtype=np.float64))
        if not (x.shape[0] == a.shape[0] == r.shape[0]):
            raise DataError(f"context, action and reward need one row each; got {x.shape[0]}, {a.shape[0]} and {r.shape[0]}")
        if ((a < 0) | (a >= self.n_actions)).any():
            row = int(np.argmax((a < 0) | (a >= self.n_actions)))
            raise DataError(f"must lie in [0, {self.n_actions}), got {a[row]}", row=row + 1, column="action")
        if not np.isfinite(r).all():
            raise DataError("must be finite", row=int(np.argmax(~np.isfinite(r))) + 1, column="reward")
        self._update(x, a, r)
        return self

    @abstractmethod
    def _update(self, context: np.ndarray, action: np.ndarray, reward: np.ndarray) -> None: ...

    def fit(self, data: LoggedFeedback) -> Self:
        """Warm-start from a log: forget what was learned, then replay the log's rounds in time
        order as if this policy had chosen them. (To learn the policy that maximises estimated
        value from a biased log, use :class:`~marquee.bandit.OffPolicyLearner`.)"""
        if data.n_actions != self.n_actions:
            raise DataError(f"the log has {data.n_actions} actions; this policy chooses among {self.n_actions}", source=data.source)
        self._reset()
        order = np.argsort(data.timestamp, kind="stable") if data.timestamp is not None else np.arange(len(data))
        return self.update(data.context[order], data.action[order], data.reward[order])

    @abstractmethod
    def _reset(self) -> None:
        """Forget everything learned (back to the prior)."""

    # ---- persistence ---------------------------------------------------------------------
    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _restore(self, state: dict[str, np.ndarray]) -> None: ...

    def save(self, directory: str | os.PathLike[str], *, metadata: dict[str, Any] | None = None) -> None:
        """Write the policy as safetensors plus a JSON manifest (class, config, checksums). Never pickle."""
        meta = {
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "name": self.name,
            "config": dataclasses.asdict(self.config),
            **(metadata or {}),
        }
        write_artifact(directory, self._state(), meta)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Policy:
        """Load and verify a saved policy. Call on :class:`Policy` to load any policy."""
        manifest, arrays = read_artifact(directory)
        module_name, _, qualname = str(manifest.get("class", "")).partition(":")
        if not module_name.startswith("marquee.bandit.") or not qualname:
            raise ArtifactError(f"{directory}: class {manifest.get('class')!r} is not a Marquee bandit policy")
        try:
            target = getattr(importlib.import_module(module_name), qualname)
        except (ImportError, AttributeError):
            raise ArtifactError(f"{directory}: class {manifest['class']!r} does not exist in this version of Marquee") from None
        if not (isinstance(target, type) and issubclass(target, cls)):
            raise ArtifactError(f"{directory} holds a {getattr(target, '__name__', target)}, not a {cls.__name__}")
        try:
            policy = target(target.Config(**manifest["config"]))
            policy._restore(arrays)
        except (TypeError, KeyError, ValueError) as exc:
            raise ArtifactError(f"{directory}: its config or arrays do not fit {target.__name__} ({exc}); save it again") from None
        return policy
