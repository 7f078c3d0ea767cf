"""LinUCB: optimism in the face of uncertainty, with linear payoffs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from marquee._validate import ints, non_negative, positive
from marquee.bandit._linear import LinearPolicy, argmax_ties

__all__ = ["LinUCB", "LinUCBConfig"]


@dataclass(frozen=True)
class LinUCBConfig:
    """Args:
    n_actions: actions to choose among.
    alpha: width of the confidence bonus.
    l2: ridge penalty (the prior precision).
    """

    n_actions: int
    alpha: float = 1.0
    l2: float = 1.0

    def __post_init__(self) -> None:
        ints(self, "n_actions")
        non_negative(self, "alpha")
        positive(self, "l2")


class LinUCB(LinearPolicy):
    """LinUCB with disjoint linear models (Li, Chu, Langford & Schapire, WWW 2010).

    Chooses ``argmax_a θ_a·x̃ + alpha sqrt(x̃ᵀ A_a⁻¹ x̃)``. The choice is deterministic, so the
    propensity is 1, or ``1/m`` for each of ``m`` actions tied for the top (a tie is broken
    uniformly at random, so a fresh policy explores uniformly). Logs of a deterministic policy
    carry no information about the actions it never takes: mix in exploration before using them
    for off-policy evaluation.
    """

    Config = LinUCBConfig
    name = "lin_ucb"

    def action_distribution(self, context: Any) -> np.ndarray:
        mean, var = self.mean_and_variance(context)
        ties = argmax_ties(mean + self.config.alpha * np.sqrt(var))
        return ties / ties.sum(axis=1, keepdims=True)
