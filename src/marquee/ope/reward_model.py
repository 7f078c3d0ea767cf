"""Reward models for the direct method and doubly robust estimators, cross-fitted.

A reward model predicts ``q(x, a, k)``, the expected reward of action ``a`` in slot ``k`` for
context ``x``, from features of the context, the action (one-hot, plus the log's action features),
the context-action affinity if the log has one, and the slot. DR is only as good as its residuals
are honest, so :meth:`RewardModel.fit` cross-fits (Chernozhukov et al., 2018; Narita, Yasui &
Yata, 2019): rows are split into ``n_folds`` folds and each fold is predicted by a model fitted on
the others. Binary rewards get a classifier's probabilities, other rewards a regressor.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from marquee._threads import one_thread
from marquee._validate import build_config, ints, positive, require
from marquee.data.feedback import LoggedFeedback
from marquee.errors import DataError, NotFittedError
from marquee.random import as_generator

__all__ = ["RewardModel", "RewardModelConfig"]

MODELS = ("logistic", "gradient_boosting")


@dataclass(frozen=True)
class RewardModelConfig:
    """Args:
    model: ``"logistic"`` (L2-regularised logistic regression; ridge for non-binary rewards) or
        ``"gradient_boosting"`` (scikit-learn's histogram gradient boosting).
    n_folds: cross-fitting folds; 1 fits one model on all rows (no cross-fitting).
    l2: logistic/ridge penalty (scikit-learn's ``C = 1 / l2``); gradient boosting's ``l2_regularization``.
    iterations: boosting iterations.
    learning_rate: boosting learning rate.
    max_leaf_nodes: leaves per boosted tree.
    min_samples_leaf: rows per leaf at least (keeps rare clicks from being memorised).
    use_affinity: use the log's context-action affinity as a feature when it has one.
    seed: fold assignment and the boosting's randomness.
    """

    model: str = "logistic"
    n_folds: int = 3
    l2: float = 1.0
    iterations: int = 100
    learning_rate: float = 0.05
    max_leaf_nodes: int = 8
    min_samples_leaf: int = 50
    use_affinity: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.model in MODELS, type(self).__name__, "model", f"one of {MODELS}", self.model)
        ints(self, "n_folds", "iterations", "min_samples_leaf")
        ints(self, "max_leaf_nodes", minimum=2)
        ints(self, "seed", minimum=0)
        positive(self, "l2", "learning_rate")


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


class _Design:
    """Feature layout shared by fitting and prediction (learned: the action features' scale)."""

    def __init__(self, data: LoggedFeedback, use_affinity: bool) -> None:
        self.n_actions, self.n_positions, self.d = data.n_actions, data.n_positions, data.n_features
        feats = data.action_features
        if feats is not None and feats.shape[1]:
            scale = feats.std(axis=0)
            self.action_feats = (feats - feats.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
        else:
            self.action_feats = np.zeros((data.n_actions, 0))
        self.affinity = use_affinity and data.affinity is not None

    def check(self, data: LoggedFeedback) -> None:
        if (data.n_actions, data.n_features) != (self.n_actions, self.d) or data.n_positions > self.n_positions:
            raise DataError(
                f"this reward model was fitted on logs with {self.n_actions} actions, {self.d} context features and "
                f"{self.n_positions} positions; got {data.n_actions}, {data.n_features} and {data.n_positions}",
                source=data.source,
            )  # fmt: skip
        if self.affinity and data.affinity is None:
            raise DataError("this reward model uses affinity features, but the log has none", source=data.source, column="affinity")

    def affinity_of(self, data: LoggedFeedback, rows: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return _signed_log(data.affinity[rows, actions]) if self.affinity else np.zeros(rows.shape[0])  # type: ignore[index]

    def linear(self, data: LoggedFeedback, rows: np.ndarray) -> np.ndarray:
        """Logistic design of the logged (row, action, position) triples."""
        a, k = data.action[rows], data.position[rows]
        return np.hstack(
            [
                data.context[rows],
                np.eye(self.n_actions)[a],
                self.action_feats[a],
                self.affinity_of(data, rows, a)[:, None],
                np.eye(self.n_positions)[k],
            ]
        )

    def tree(self, context: np.ndarray, actions: np.ndarray, affinity: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Gradient-boosting design: context, action id (categorical), action features, affinity, slot."""
        return np.hstack([context, actions[:, None], self.action_feats[actions], affinity[:, None], positions[:, None]])

    def tree_categorical(self) -> np.ndarray:
        mask = np.zeros(self.d + 3 + self.action_feats.shape[1], bool)
        mask[self.d] = self.n_actions <= 255
        return mask


def _folds(n: int, k: int, seed: int, groups: Any, source: str | None) -> np.ndarray:
    """Fold of each row: a seeded round-robin over rows, or over groups (a group's rows share a fold)."""
    if groups is None:
        folds = np.empty(n, np.int64)
        folds[as_generator(seed).permutation(n)] = np.arange(n) % k
        return folds
    g = np.asarray(groups)
    if g.shape != (n,):
        raise DataError(f"must have one entry per logged round, shape ({n},), got {g.shape}", source=source, column="groups")
    _, inverse = np.unique(g, return_inverse=True)
    m = int(inverse.max()) + 1
    per_group = np.empty(m, np.int64)
    per_group[as_generator(seed).permutation(m)] = np.arange(m) % k
    return per_group[inverse]


class RewardModel:
    """Cross-fitted reward model: ``fit(data) -> self``; ``cross_fitted_`` holds out-of-fold predictions.

    Example::

        q = RewardModel(model="gradient_boosting").fit(log).cross_fitted_   # (n, n_actions, n_positions)
        DoublyRobust().estimate(log, pi, q)
    """

    Config = RewardModelConfig

    def __init__(self, config: RewardModelConfig | None = None, /, **params: Any) -> None:
        self.config: RewardModelConfig = build_config(type(self).__name__, self.Config, config, params)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in dataclasses.asdict(self.config).items())
        return f"RewardModel({fields})"

    # ---- training ------------------------------------------------------------------------
    def fit(self, data: LoggedFeedback, groups: Any = None) -> Self:
        """Fit ``n_folds`` models, each on all folds but one, and predict each fold with the model
        that did not see it (``cross_fitted_``, (n, n_actions, n_positions) float64). ``loss_`` is
        the out-of-fold log-loss (binary rewards) or squared error of the logged rounds: the figure
        to compare reward models by, without looking at any evaluated policy.

        Args:
            groups: (n,) optional labels; rows with the same label share a fold. Pass the source
                row of each round when ``data`` is a bootstrap resample, so that no row is
                predicted by a model fitted on a copy of itself.
        """
        cfg = self.config
        n = len(data)
        self.design_ = _Design(data, cfg.use_affinity)
        self.binary_ = bool(np.isin(data.reward, (0.0, 1.0)).all())
        k = min(cfg.n_folds, n)
        folds = _folds(n, k, cfg.seed, groups, data.source)
        self.models_: list[Any] = []
        out = np.empty((n, data.n_actions, data.n_positions))
        everything = np.arange(n)
        with one_thread():
            for j in range(k):
                train = everything[folds != j] if k > 1 else everything
                model = self._fit_one(data, train)
                self.models_.append(model)
                held = everything[folds == j]
                out[held] = self._predict_one(model, data, held)
        self.cross_fitted_ = out
        logged = np.clip(out[everything, data.action, data.position], 1e-12, 1 - 1e-12) if self.binary_ else out[everything, data.action, data.position]
        y = data.reward
        self.loss_ = float(
            -np.mean(y * np.log(logged) + (1 - y) * np.log(1 - logged)) if self.binary_ else np.mean((y - logged) ** 2)
        )
        return self

    def _fit_one(self, data: LoggedFeedback, rows: np.ndarray) -> Any:
        cfg = self.config
        y = data.reward[rows]
        if np.unique(y).size < 2:
            return ("constant", float(y.mean()))
        if cfg.model == "logistic":
            from sklearn.linear_model import LogisticRegression, Ridge

            x = self.design_.linear(data, rows)
            if self.binary_:
                model = LogisticRegression(C=1.0 / cfg.l2, max_iter=1000).fit(x, y.astype(int))
                return ("linear", model.coef_[0].copy(), float(model.intercept_[0]))
            model = Ridge(alpha=cfg.l2).fit(x, y)
            return ("linear", model.coef_.copy(), float(model.intercept_))
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        a = data.action[rows]
        x = self.design_.tree(data.context[rows], a, self.design_.affinity_of(data, rows, a), data.position[rows])
        kwargs = {
            "max_iter": cfg.iterations,
            "learning_rate": cfg.learning_rate,
            "max_leaf_nodes": cfg.max_leaf_nodes,
            "min_samples_leaf": cfg.min_samples_leaf,
            "l2_regularization": cfg.l2,
            "categorical_features": self.design_.tree_categorical(),
            "early_stopping": False,
            "random_state": cfg.seed,
        }
        if self.binary_:
            return ("tree", HistGradientBoostingClassifier(**kwargs).fit(x, y.astype(int)))
        return ("tree", HistGradientBoostingRegressor(**kwargs).fit(x, y))

    # ---- prediction ----------------------------------------------------------------------
    def _predict_one(self, model: Any, data: LoggedFeedback, rows: np.ndarray) -> np.ndarray:
        design = self.design_
        n_a, n_k = design.n_actions, design.n_positions
        if model[0] == "constant":
            return np.full((rows.size, n_a, n_k), model[1])
        if model[0] == "linear":
            coef, intercept = model[1], model[2]
            d, f = design.d, design.action_feats.shape[1]
            w_x, w_a = coef[:d], coef[d : d + n_a]
            w_f, w_aff, w_k = coef[d + n_a : d + n_a + f], coef[d + n_a + f], coef[d + n_a + f + 1 :]
            s = (data.context[rows] @ w_x)[:, None, None] + (w_a + design.action_feats @ w_f)[None, :, None] + w_k[None, None, :] + intercept
            if design.affinity:
                s = s + (w_aff * _signed_log(data.affinity[rows]))[:, :, None]  # type: ignore[index]
            return 1.0 / (1.0 + np.exp(-s)) if self.binary_ else s
        tree = model[1]
        out = np.empty((rows.size, n_a, n_k))
        actions = np.arange(n_a)
        chunk = max(1, 200_000 // max(rows.size, 1))
        for start in range(0, n_a, chunk):
            acts = actions[start : start + chunk]
            r = np.repeat(rows, acts.size)
            a = np.tile(acts, rows.size)
            aff = design.affinity_of(data, r, a)
            for k in range(n_k):
                x = design.tree(data.context[r], a, aff, np.full(r.size, k))
                pred = tree.predict_proba(x)[:, 1] if self.binary_ else tree.predict(x)
                out[:, start : start + acts.size, k] = pred.reshape(rows.size, acts.size)
        return out

    def predict(self, data: LoggedFeedback) -> np.ndarray:
        """Predicted rewards for new rounds: the mean of the fold models.

        Returns:
            (n, n_actions, n_positions) float64. For the rounds the model was fitted on, use the
            out-of-fold ``cross_fitted_`` instead.
        """
        if not hasattr(self, "models_"):
            raise NotFittedError("this RewardModel is not fitted yet; call fit(data) first")
        self.design_.check(data)
        rows = np.arange(len(data))
        with one_thread():
            preds = sum(self._predict_one(m, data, rows) for m in self.models_)
        full = preds / len(self.models_)
        return full[:, :, : data.n_positions] if data.n_positions < self.design_.n_positions else full
