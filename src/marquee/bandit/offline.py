"""Learning a policy offline from logged feedback, by inverse propensity or doubly robust scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from marquee._validate import ints, positive, require
from marquee.bandit._linear import argmax_ties
from marquee.bandit.base import Policy, as_contexts
from marquee.data.feedback import LoggedFeedback
from marquee.errors import DataError, NotFittedError

__all__ = ["OffPolicyLearner", "OffPolicyLearnerConfig"]

METHODS = ("ipw", "dr")


@dataclass(frozen=True)
class OffPolicyLearnerConfig:
    """Args:
    n_actions: actions to choose among.
    method: ``"ipw"`` (inverse propensity scores) or ``"dr"`` (doubly robust scores).
    l2: ridge penalty of the per-action score regressions.
    epsilon: share of uniform exploration in the learned policy (keeps its own logs usable).
    reward_model: ``"logistic"`` or ``"gradient_boosting"``, the cross-fitted model behind DR scores.
    seed: the reward model's folds.
    """

    n_actions: int
    method: str = "dr"
    l2: float = 1.0
    epsilon: float = 0.05
    reward_model: str = "logistic"
    seed: int = 0

    def __post_init__(self) -> None:
        ints(self, "n_actions")
        ints(self, "seed", minimum=0)
        positive(self, "l2")
        require(self.method in METHODS, type(self).__name__, "method", f"one of {METHODS}", self.method)
        require(isinstance(self.epsilon, int | float) and 0 <= self.epsilon <= 1, type(self).__name__, "epsilon", "in [0, 1]", self.epsilon)


class OffPolicyLearner(Policy):
    """Policy learning from logs by regressing per-action value scores (Dudík, Langford & Li, ICML 2011).

    Each logged round gives every action a score whose expectation is that action's reward:
    IPW ``Γ_a = 1{a = a_i} r_i / p_i``; DR ``Γ_a = q(x_i, a) + 1{a = a_i} (r_i - q(x_i, a_i)) / p_i``
    (``q`` cross-fitted, :class:`marquee.ope.RewardModel`). A ridge regression per action of
    ``Γ_a`` on ``[1, x]`` estimates the value of each action in each context; the policy takes
    the best (ties split evenly), mixed with ``epsilon`` uniform exploration. It learns only
    offline: ``update`` is refused (refit on the grown log instead).
    """

    Config = OffPolicyLearnerConfig
    name = "off_policy_learner"

    def fit(self, data: LoggedFeedback) -> Self:
        if data.n_actions != self.n_actions:
            raise DataError(f"the log has {data.n_actions} actions; this policy chooses among {self.n_actions}", source=data.source)
        n, k = len(data), self.n_actions
        rows = np.arange(n)
        inverse = data.reward / data.propensity
        if self.config.method == "dr":
            from marquee.ope.reward_model import RewardModel

            q_all = RewardModel(model=self.config.reward_model, seed=self.config.seed).fit(data).cross_fitted_
            q = q_all[rows, :, data.position]
            scores = q.copy()
            scores[rows, data.action] += (data.reward - q[rows, data.action]) / data.propensity
        else:
            scores = np.zeros((n, k))
            scores[rows, data.action] = inverse
        x = np.hstack([np.ones((n, 1)), data.context])
        gram = x.T @ x + self.config.l2 * np.eye(x.shape[1])
        self.weights_ = np.linalg.solve(gram, x.T @ scores)  # (d + 1, k)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "weights_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(data) first")

    def predicted_value(self, context: Any) -> np.ndarray:
        """(n, n_actions) estimated value of each action in each context."""
        self._check_fitted()
        x = as_contexts(context)
        if x.shape[1] + 1 != self.weights_.shape[0]:
            raise DataError(f"has {x.shape[1]} features; this policy learned from contexts with {self.weights_.shape[0] - 1}", column="context")
        return np.hstack([np.ones((x.shape[0], 1)), x]) @ self.weights_

    def action_distribution(self, context: Any) -> np.ndarray:
        ties = argmax_ties(self.predicted_value(context))
        eps = self.config.epsilon
        return (1 - eps) * ties / ties.sum(axis=1, keepdims=True) + eps / self.n_actions

    def _update(self, context: np.ndarray, action: np.ndarray, reward: np.ndarray) -> None:
        raise NotImplementedError("OffPolicyLearner learns offline only: call fit(log) on the grown log")

    def _reset(self) -> None:
        self.__dict__.pop("weights_", None)

    def _state(self) -> dict[str, np.ndarray]:
        self._check_fitted()
        return {"weights": self.weights_}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        if state["weights"].shape[1] != self.n_actions:
            raise ValueError(f"arrays hold {state['weights'].shape[1]} actions, config says {self.n_actions}")
        self.weights_ = state["weights"]
