"""Simulated members who click on artwork: a seeded response whose click probabilities are known.

The click probability of variant ``f`` in context ``x`` is
``q(x, f) = sigmoid(c + [1, x]ᵀ W [1, f] + u_member)``: ``W`` (context-attribute tastes, e.g.
TV viewers preferring scenes) is drawn from ``seed``, and each member has a small taste offset
``u_member`` from a hash of the seed and the member id. Because ``q`` is known, so is the value of
any policy on any set of rounds: the ground truth that off-policy estimates are checked against.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from marquee.bandit.artwork import CONTEXT_NAMES, DEVICES
from marquee.data.artwork import id_seed
from marquee.random import SeedLike, as_generator

__all__ = ["ArtworkMembers"]


@dataclass(frozen=True)
class ArtworkMembers:
    """Args:
    n_features: ``k``, candidate features (``ArtworkVariants.feature_names``; 11 for generated variants).
    intercept: ``c`` (-1.5: click rates around 0.2).
    taste: standard deviation of the context-attribute weights ``W``.
    member_sd: standard deviation of the member offsets.
    seed: draws ``W`` and the member offsets.
    """

    n_features: int = 11
    intercept: float = -1.5
    taste: float = 0.6
    member_sd: float = 0.3
    seed: int = 0

    @cached_property
    def weights(self) -> np.ndarray:
        """``W``: (d + 1, k + 1)."""
        return as_generator(self.seed).normal(scale=self.taste, size=(len(CONTEXT_NAMES) + 1, self.n_features + 1))

    def member_offset(self, member_id: int | str) -> float:
        return float(np.random.default_rng([self.seed, 1, id_seed(member_id)]).normal(scale=self.member_sd))

    def click_probability(self, member_id: int, context: np.ndarray, features: np.ndarray) -> np.ndarray:
        """(m,) click probabilities of the (m, k) variants for the member in context (d,)."""
        x1 = np.r_[1.0, np.asarray(context, dtype=np.float64)]
        f1 = np.hstack([np.ones((len(features), 1)), np.asarray(features, dtype=np.float64)])
        logit = self.intercept + f1 @ (x1 @ self.weights) + self.member_offset(member_id)
        return 1.0 / (1.0 + np.exp(-logit))

    @staticmethod
    def draw_context(rng: SeedLike) -> dict[str, object]:
        """A request context: a device (TV and mobile most often) and a local hour (evenings most often)."""
        gen = as_generator(rng)
        device = DEVICES[int(gen.choice(len(DEVICES), p=[0.35, 0.3, 0.15, 0.1, 0.05, 0.05]))]
        hours = np.exp(np.cos(2 * np.pi * (np.arange(24) - 21) / 24))
        return {"device": device, "local_hour": int(gen.choice(24, p=hours / hours.sum()))}
