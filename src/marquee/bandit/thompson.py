"""Thompson sampling: linear-Gaussian (contextual) and Beta-Bernoulli (context-free, slates).

Thompson sampling chooses by sampling a model from the posterior and acting greedily on it, so
its propensity, the probability that an action wins, is an integral. Both policies here compute
it exactly (to quadrature error) by default, because the sampled scores are independent across
actions given the posterior:

``P(a wins) = ∫ f_a(s) Π_{b≠a} F_b(s) ds``

(Gauss-Hermite quadrature for normal scores; for Beta scores a grid placed on each arm's
quantiles, with a Poisson-binomial recursion for "exactly k others above", giving the
distribution of every slot of a top-k slate). ``propensity="monte_carlo"`` estimates it instead
by counting winners over ``n_samples`` posterior draws, as Open Bandit Pipeline does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats

from marquee._validate import ints, positive, require
from marquee.bandit._linear import LinearPolicy
from marquee.bandit.base import Decisions, Policy, as_contexts
from marquee.errors import DataError
from marquee.random import SeedLike, as_generator

__all__ = ["BernoulliTS", "BernoulliTSConfig", "LinearTS", "LinearTSConfig", "beta_slot_distribution", "simulate_beta_slots"]

PROPENSITY = ("exact", "monte_carlo")
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(96)
_WEIGHTS = _WEIGHTS / np.sqrt(2 * np.pi)


# ---- linear Thompson sampling -------------------------------------------------------------
@dataclass(frozen=True)
class LinearTSConfig:
    """Args:
    n_actions: actions to choose among.
    scale: ``v``, the posterior's standard-deviation multiplier (exploration).
    l2: ridge penalty (the prior precision).
    propensity: ``"exact"`` (Gauss-Hermite quadrature) or ``"monte_carlo"``.
    n_samples: posterior draws per context for ``"monte_carlo"``.
    seed: seeds the Monte Carlo propensity estimate (choices use the ``rng`` given to choose).
    """

    n_actions: int
    scale: float = 0.5
    l2: float = 1.0
    propensity: str = "exact"
    n_samples: int = 10_000
    seed: int = 0

    def __post_init__(self) -> None:
        ints(self, "n_actions", "n_samples")
        ints(self, "seed", minimum=0)
        positive(self, "scale", "l2")
        require(self.propensity in PROPENSITY, type(self).__name__, "propensity", f"one of {PROPENSITY}", self.propensity)


class LinearTS(LinearPolicy):
    """Linear Thompson sampling (Agrawal & Goyal, ICML 2013) with disjoint per-action models.

    Draws ``θ̃_a ~ N(θ_a, v² A_a⁻¹)`` and chooses ``argmax_a θ̃_a·x̃``; given ``x`` the scores are
    independent normals ``N(θ_a·x̃, v² x̃ᵀA_a⁻¹x̃)``, whose win probabilities are the propensities.
    """

    Config = LinearTSConfig
    name = "linear_ts"

    def _score_params(self, context: Any) -> tuple[np.ndarray, np.ndarray]:
        mean, var = self.mean_and_variance(context)
        return mean, self.config.scale * np.sqrt(np.maximum(var, 1e-300))

    def action_distribution(self, context: Any) -> np.ndarray:
        # Batches often repeat a context: compute each distinct one once.
        unique, inverse = np.unique(as_contexts(context), axis=0, return_inverse=True)
        mean, sd = self._score_params(unique)
        if self.config.propensity == "monte_carlo":
            dist = _normal_winners_mc(mean, sd, self.config.n_samples, as_generator(self.config.seed))
        else:
            dist = normal_win_probabilities(mean, sd)
        return dist[inverse.ravel()]

    def choose(self, context: Any, rng: SeedLike = None) -> Decisions:
        mean, sd = self._score_params(context)
        draws = mean + sd * as_generator(rng).standard_normal(mean.shape)
        action = draws.argmax(axis=1)
        dist = self.action_distribution(context)
        return Decisions(action.astype(np.int64), dist[np.arange(action.size), action])


def normal_win_probabilities(mean: np.ndarray, sd: np.ndarray, chunk: int = 256) -> np.ndarray:
    """``P(argmax_a s_a = a)`` for independent ``s_a ~ N(mean_a, sd_a²)``; (n, k) in, (n, k) out.

    ``P(a) = E_z[Π_{b≠a} Φ((mean_a + sd_a z - mean_b) / sd_b)]`` by 96-node Gauss-Hermite quadrature.
    """
    n, k = mean.shape
    out = np.empty((n, k))
    for start in range(0, n, chunk):
        m, s = mean[start : start + chunk], sd[start : start + chunk]
        score = m[:, :, None] + s[:, :, None] * _NODES  # (c, a, j)
        z = (score[:, :, :, None] - m[:, None, None, :]) / s[:, None, None, :]  # (c, a, j, b)
        log_cdf = special.log_ndtr(z)
        others = log_cdf.sum(axis=3) - special.log_ndtr(_NODES)[None, None, :]
        p = np.exp(others) @ _WEIGHTS
        out[start : start + chunk] = p / p.sum(axis=1, keepdims=True)
    return out


def _normal_winners_mc(mean: np.ndarray, sd: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    n, k = mean.shape
    out = np.zeros((n, k))
    for i in range(n):
        draws = mean[i] + sd[i] * rng.standard_normal((n_samples, k))
        out[i] = np.bincount(draws.argmax(axis=1), minlength=k) / n_samples
    return out


# ---- Bernoulli Thompson sampling ----------------------------------------------------------
@dataclass(frozen=True)
class BernoulliTSConfig:
    """Args:
    n_actions: actions (items) to choose among.
    prior_alpha: per-action Beta prior successes (default 1 each); e.g. ZOZOTOWN's published prior.
    prior_beta: per-action Beta prior failures (default 1 each).
    n_positions: slots of the slate; slot ``k`` shows the action with the ``k+1``-th largest draw.
    propensity: ``"exact"`` (quadrature) or ``"monte_carlo"`` (counting winners over draws).
    n_samples: posterior draws for ``"monte_carlo"``.
    seed: seeds the Monte Carlo estimate.
    """

    n_actions: int
    prior_alpha: tuple[float, ...] | None = None
    prior_beta: tuple[float, ...] | None = None
    n_positions: int = 1
    propensity: str = "exact"
    n_samples: int = 100_000
    seed: int = 0

    def __post_init__(self) -> None:
        ints(self, "n_actions", "n_positions", "n_samples")
        ints(self, "seed", minimum=0)
        require(self.propensity in PROPENSITY, type(self).__name__, "propensity", f"one of {PROPENSITY}", self.propensity)
        require(self.n_positions <= self.n_actions, type(self).__name__, "n_positions", f"<= n_actions ({self.n_actions})", self.n_positions)
        for name in ("prior_alpha", "prior_beta"):
            value = getattr(self, name)
            if value is not None:
                prior = tuple(float(v) for v in value)
                require(
                    len(prior) == self.n_actions and all(v > 0 for v in prior),
                    type(self).__name__, name, f"{self.n_actions} positive numbers (one per action)", f"{len(prior)} values",
                )  # fmt: skip
                object.__setattr__(self, name, prior)


class BernoulliTS(Policy):
    """Beta-Bernoulli Thompson sampling (Thompson, 1933; Chapelle & Li, NeurIPS 2011); context-free.

    Each action's click rate has a ``Beta(alpha + clicks, beta + non-clicks)`` posterior; a round
    draws one rate per action and shows the best (a slate of ``n_positions`` shows the top ones,
    as ZOZOTOWN's policy did in the Open Bandit Dataset). The context is accepted and ignored.
    ``action_distribution`` is the first slot's; :meth:`slot_distribution` gives every slot's.
    """

    Config = BernoulliTSConfig
    name = "bernoulli_ts"

    def _prior(self) -> tuple[np.ndarray, np.ndarray]:
        ones = np.ones(self.n_actions)
        cfg = self.config
        alpha = ones if cfg.prior_alpha is None else np.asarray(cfg.prior_alpha)
        beta = ones if cfg.prior_beta is None else np.asarray(cfg.prior_beta)
        return alpha, beta

    def posterior(self) -> tuple[np.ndarray, np.ndarray]:
        """Current Beta parameters ``(alpha, beta)``, (n_actions,) each."""
        alpha, beta = self._prior()
        if hasattr(self, "successes_"):
            return alpha + self.successes_, beta + self.failures_
        return alpha, beta

    def _update(self, context: np.ndarray, action: np.ndarray, reward: np.ndarray) -> None:
        if ((reward < 0) | (reward > 1)).any():
            raise DataError("Bernoulli Thompson sampling needs rewards in [0, 1]", row=int(np.argmax((reward < 0) | (reward > 1))) + 1, column="reward")
        if not hasattr(self, "successes_"):
            self.successes_ = np.zeros(self.n_actions)
            self.failures_ = np.zeros(self.n_actions)
        self.successes_ += np.bincount(action, weights=reward, minlength=self.n_actions)
        self.failures_ += np.bincount(action, weights=1.0 - reward, minlength=self.n_actions)
        self._slots = None

    def _reset(self) -> None:
        for name in ("successes_", "failures_", "_slots"):
            self.__dict__.pop(name, None)

    def slot_distribution(self) -> np.ndarray:
        """(n_actions, n_positions): the probability each action fills each slot (columns sum to 1)."""
        if getattr(self, "_slots", None) is None:
            alpha, beta = self.posterior()
            cfg = self.config
            if cfg.propensity == "exact":
                self._slots = beta_slot_distribution(alpha, beta, cfg.n_positions)
            else:
                self._slots = simulate_beta_slots(alpha, beta, cfg.n_positions, cfg.n_samples, cfg.seed)
        return self._slots

    def action_distribution(self, context: Any) -> np.ndarray:
        n = as_contexts(context).shape[0]
        return np.tile(self.slot_distribution()[:, 0], (n, 1))

    def choose(self, context: Any, rng: SeedLike = None) -> Decisions:
        n = as_contexts(context).shape[0]
        alpha, beta = self.posterior()
        action = as_generator(rng).beta(alpha, beta, size=(n, self.n_actions)).argmax(axis=1)
        return Decisions(action.astype(np.int64), self.slot_distribution()[action, 0])

    def _state(self) -> dict[str, np.ndarray]:
        return {"successes": self.successes_, "failures": self.failures_} if hasattr(self, "successes_") else {}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        if "successes" in state:
            if state["successes"].shape != (self.n_actions,):
                raise ValueError(f"arrays hold {state['successes'].shape[0]} actions, config says {self.n_actions}")
            self.successes_, self.failures_ = state["successes"], state["failures"]


def beta_slot_distribution(alpha: np.ndarray, beta: np.ndarray, n_positions: int = 1, points_per_arm: int = 256) -> np.ndarray:
    """Exact slate distribution of Beta Thompson sampling.

    Slot ``k`` shows action ``a`` when exactly ``k`` other draws exceed ``a``'s:
    ``P(a, k) = ∫ f_a(x) P(exactly k of {X_b}_{b≠a} > x) dx``, the inner probability from the
    Poisson-binomial recursion over the other arms' ``1 - F_b(x)``. The integral runs on a grid of
    every arm's quantiles (so sharp and flat posteriors are both resolved), by the trapezoid rule.

    Returns:
        (n_actions, n_positions) float64, each column summing to 1.
    """
    alpha, beta = np.asarray(alpha, np.float64), np.asarray(beta, np.float64)
    k = alpha.size
    u = (np.arange(points_per_arm) + 0.5) / points_per_arm
    edges = np.concatenate([[1e-12, 1e-9, 1e-6], u, [1 - 1e-6, 1 - 1e-9, 1 - 1e-12]])
    grid = np.unique(np.clip(stats.beta.ppf(edges[None, :], alpha[:, None], beta[:, None]).ravel(), 0.0, 1.0))
    cdf = stats.beta.cdf(grid[None, :], alpha[:, None], beta[:, None])  # (k, g)
    pdf = stats.beta.pdf(grid[None, :], alpha[:, None], beta[:, None])
    # coef[a, j, x]: P(exactly j arms other than a draw above x), j < n_positions.
    coef = np.zeros((k, n_positions, grid.size))
    coef[:, 0, :] = 1.0
    for b in range(k):
        above, below = 1.0 - cdf[b], cdf[b]
        new = coef * below
        new[:, 1:, :] += coef[:, :-1, :] * above
        new[b] = coef[b]  # arm b does not count against itself
        coef = new
    integrand = pdf[:, None, :] * coef
    dist = np.trapezoid(integrand, grid, axis=2)
    return dist / dist.sum(axis=0, keepdims=True)


def simulate_beta_slots(
    alpha: np.ndarray, beta: np.ndarray, n_positions: int = 1, n_sim: int = 100_000, seed: SeedLike = 0, chunk: int = 50_000
) -> np.ndarray:
    """Monte Carlo slate distribution: ``n_sim`` rounds of drawing every arm's rate and showing the
    top ``n_positions`` (what ``obp.policy.BernoulliTS.compute_batch_action_dist`` does, vectorised).

    Returns:
        (n_actions, n_positions) float64 shares of rounds.
    """
    rng = as_generator(seed)
    alpha, beta = np.asarray(alpha, np.float64), np.asarray(beta, np.float64)
    k = alpha.size
    counts = np.zeros((k, n_positions))
    for start in range(0, n_sim, chunk):
        draws = rng.beta(alpha, beta, size=(min(chunk, n_sim - start), k))
        top = np.argpartition(-draws, n_positions - 1, axis=1)[:, :n_positions] if n_positions < k else np.tile(np.arange(k), (draws.shape[0], 1))
        order = np.argsort(-np.take_along_axis(draws, top, axis=1), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        for p in range(n_positions):
            counts[:, p] += np.bincount(top[:, p], minlength=k)
    return counts / n_sim
