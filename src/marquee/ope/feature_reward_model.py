"""A cross-fitted reward model over per-(round, action) features, for actions that differ per round.

:class:`~marquee.ope.RewardModel` describes an action by its id and one feature row shared by
every round. When each round offers its own candidates (a title's artwork variants), an action
index means a different thing in every round, so this model takes the features of every
(round, action) pair instead, e.g. the outer product of context and candidate features, and
fits ``q(x, a) = sigmoid(w·z_{i,a} + c)`` (binary rewards) or ``w·z_{i,a} + c`` (ridge) on the
logged pairs, cross-fitted like :class:`~marquee.ope.RewardModel`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from marquee._validate import build_config, ints, positive
from marquee.data.feedback import LoggedFeedback
from marquee.errors import DataError
from marquee.random import as_generator

__all__ = ["FeatureRewardModel", "FeatureRewardModelConfig"]


@dataclass(frozen=True)
class FeatureRewardModelConfig:
    """Args:
    n_folds: cross-fitting folds (1: one model on all rows).
    l2: L2 penalty (scikit-learn's ``C = 1 / l2`` for the logistic model, ``alpha`` for ridge).
    seed: fold assignment.
    """

    n_folds: int = 3
    l2: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        ints(self, "n_folds")
        ints(self, "seed", minimum=0)
        positive(self, "l2")


class FeatureRewardModel:
    """``fit(data, features) -> self``; ``cross_fitted_`` holds (n, n_actions) out-of-fold predictions."""

    Config = FeatureRewardModelConfig

    def __init__(self, config: FeatureRewardModelConfig | None = None, /, **params: Any) -> None:
        self.config: FeatureRewardModelConfig = build_config(type(self).__name__, self.Config, config, params)

    def __repr__(self) -> str:
        return f"FeatureRewardModel({', '.join(f'{k}={v!r}' for k, v in dataclasses.asdict(self.config).items())})"

    def fit(self, data: LoggedFeedback, features: Any) -> Self:
        """Fit on the logged (round, action) pairs and predict every pair out of fold.

        Args:
            data: the logged rounds.
            features: (n, n_actions, p) features of every (round, action) pair (padding may be zeros).
        """
        z = np.asarray(features, dtype=np.float64)
        n = len(data)
        if z.ndim != 3 or z.shape[:2] != (n, data.n_actions):
            raise DataError(f"must have shape ({n}, {data.n_actions}, p), got {z.shape}", source=data.source, column="features")
        if not np.isfinite(z).all():
            raise DataError("must be finite", source=data.source, column="features")
        from sklearn.linear_model import LogisticRegression, Ridge

        from marquee._threads import one_thread

        cfg = self.config
        y = data.reward
        self.binary_ = bool(np.isin(y, (0.0, 1.0)).all())
        logged = z[np.arange(n), data.action]
        k = min(cfg.n_folds, n)
        folds = np.empty(n, np.int64)
        folds[as_generator(cfg.seed).permutation(n)] = np.arange(n) % k
        out = np.empty((n, data.n_actions))
        with one_thread():
            for j in range(k):
                train = folds != j if k > 1 else np.ones(n, bool)
                held = folds == j
                if np.unique(y[train]).size < 2:
                    out[held] = float(y[train].mean())
                elif self.binary_:
                    model = LogisticRegression(C=1.0 / cfg.l2, max_iter=2000).fit(logged[train], y[train].astype(int))
                    out[held] = 1.0 / (1.0 + np.exp(-(z[held] @ model.coef_[0] + model.intercept_[0])))
                else:
                    model = Ridge(alpha=cfg.l2).fit(logged[train], y[train])
                    out[held] = z[held] @ model.coef_ + model.intercept_
        self.cross_fitted_ = out
        pred = out[np.arange(n), data.action]
        p = np.clip(pred, 1e-12, 1 - 1e-12)
        self.loss_ = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)) if self.binary_ else np.mean((y - pred) ** 2))
        return self
