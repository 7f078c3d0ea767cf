"""Disjoint ridge regressions, one per action (Li et al., 2010): the state the linear policies share.

Each action ``a`` keeps ``A_a = l2·I + sum x̃ x̃ᵀ`` and ``b_a = sum r x̃`` over the rounds it was
chosen, with ``x̃ = [1, x]`` (an intercept, so a context-free log with ``d = 0`` learns per-action
means). ``θ_a = A_a⁻¹ b_a``. The statistics are sums, so a batch update equals row-by-row updates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from marquee.bandit.base import Policy, as_contexts
from marquee.errors import DataError


class LinearPolicy(Policy):
    """A policy over per-action ridge regressions; subclasses turn mean and variance into choices."""

    def _features(self, context: Any) -> np.ndarray:
        x = as_contexts(context)
        d = x.shape[1]
        if not hasattr(self, "A_"):
            self.A_ = np.tile(self.config.l2 * np.eye(d + 1), (self.n_actions, 1, 1))
            self.b_ = np.zeros((self.n_actions, d + 1))
            self._solved: tuple[np.ndarray, np.ndarray] | None = None
        elif self.A_.shape[1] != d + 1:
            raise DataError(f"has {d} features; this policy learned from contexts with {self.A_.shape[1] - 1}", column="context")
        return np.hstack([np.ones((x.shape[0], 1)), x])

    def _update(self, context: np.ndarray, action: np.ndarray, reward: np.ndarray) -> None:
        x = self._features(context)
        np.add.at(self.A_, action, x[:, :, None] * x[:, None, :])
        np.add.at(self.b_, action, reward[:, None] * x)
        self._solved = None

    def _reset(self) -> None:
        for name in ("A_", "b_"):
            self.__dict__.pop(name, None)

    def mean_and_variance(self, context: Any) -> tuple[np.ndarray, np.ndarray]:
        """Per action, the ridge estimate ``θ_a·x̃`` and ``x̃ᵀ A_a⁻¹ x̃``; (n, n_actions) each."""
        x = self._features(context)
        if self._solved is None:
            inv = np.linalg.inv(self.A_)
            self._solved = (inv, np.einsum("kde,ke->kd", inv, self.b_))
        inv, theta = self._solved
        mean = x @ theta.T
        var = np.einsum("nd,kde,ne->nk", x, inv, x)
        return mean, np.maximum(var, 0.0)

    def _state(self) -> dict[str, np.ndarray]:
        return {"A": self.A_, "b": self.b_} if hasattr(self, "A_") else {}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        if "A" in state:
            if state["A"].shape[0] != self.n_actions:
                raise ValueError(f"arrays hold {state['A'].shape[0]} actions, config says {self.n_actions}")
            self.A_, self.b_, self._solved = state["A"], state["b"], None


def argmax_ties(scores: np.ndarray) -> np.ndarray:
    """(n, k) bool: the actions tied for the best score in each row (to a relative 1e-12)."""
    best = scores.max(axis=1, keepdims=True)
    return scores >= best - 1e-12 * (1.0 + np.abs(best))
