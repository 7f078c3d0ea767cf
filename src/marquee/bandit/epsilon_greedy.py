"""Epsilon-greedy over per-action ridge regressions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from marquee._validate import ints, positive, require
from marquee.bandit._linear import LinearPolicy, argmax_ties

__all__ = ["EpsilonGreedy", "EpsilonGreedyConfig"]


@dataclass(frozen=True)
class EpsilonGreedyConfig:
    """Args:
    n_actions: actions to choose among.
    epsilon: share of choices made uniformly at random.
    l2: ridge penalty of the per-action reward regressions.
    """

    n_actions: int
    epsilon: float = 0.1
    l2: float = 1.0

    def __post_init__(self) -> None:
        ints(self, "n_actions")
        positive(self, "l2")
        require(isinstance(self.epsilon, int | float) and 0 <= self.epsilon <= 1, type(self).__name__, "epsilon", "in [0, 1]", self.epsilon)


class EpsilonGreedy(LinearPolicy):
    """Epsilon-greedy (Sutton & Barto, 2018, §2.2) with a ridge reward estimate per action.

    With probability ``1 - epsilon`` the best estimated action (ties split evenly), otherwise a
    uniform one: ``P(a|x) = (1 - epsilon) 1{a in argmax} / |argmax| + epsilon / K``, exactly.
    """

    Config = EpsilonGreedyConfig
    name = "epsilon_greedy"

    def action_distribution(self, context: Any) -> np.ndarray:
        mean, _ = self.mean_and_variance(context)
        ties = argmax_ties(mean)
        eps = self.config.epsilon
        return (1 - eps) * ties / ties.sum(axis=1, keepdims=True) + eps / self.n_actions
