"""Run several estimators on one log, sharing one cross-fitted reward model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from marquee.data.feedback import LoggedFeedback
from marquee.errors import ConfigError
from marquee.ope.base import Estimate, Estimator
from marquee.ope.reward_model import RewardModel

__all__ = ["default_estimators", "evaluate"]


def default_estimators(**config: Any) -> list[Estimator]:
    """One of each estimator (hyperparameters tuned where they have any), with shared ``config``
    (``n_bootstrap``, ``level``, ``seed``)."""
    from marquee.ope import IPS, SNIPS, DirectMethod, DoublyRobust, DRShrinkage, SelfNormalizedDR, SwitchDR

    return [cls(**config) for cls in (DirectMethod, IPS, SNIPS, DoublyRobust, SelfNormalizedDR, SwitchDR, DRShrinkage)]


def evaluate(
    data: LoggedFeedback,
    action_dist: Any,
    estimators: Sequence[Estimator] | None = None,
    *,
    reward_model: RewardModel | None = None,
    reward_hat: Any = None,
) -> dict[str, Estimate]:
    """Estimate one policy's value with several estimators.

    Args:
        data: the logged rounds.
        action_dist: (n, n_actions[, n_positions]) the evaluated policy's action probabilities.
        estimators: defaults to :func:`default_estimators`.
        reward_model: fitted (cross-fitted) on ``data`` once if any estimator needs it; defaults
            to a logistic :class:`RewardModel`. Ignored when ``reward_hat`` is given.
        reward_hat: (n, n_actions[, n_positions]) predictions to use instead of fitting a model.
    Returns:
        Estimates keyed by estimator name, in the order given.
    """
    estimators = list(default_estimators() if estimators is None else estimators)
    names = [e.name for e in estimators]
    if len(set(names)) != len(names):
        raise ConfigError(f"estimators must have distinct names, got {names}; evaluate variants in separate calls")
    if reward_hat is None and any(e.uses_reward_model for e in estimators):
        reward_hat = (reward_model or RewardModel()).fit(data).cross_fitted_
    return {e.name: e.estimate(data, action_dist, reward_hat) for e in estimators}
