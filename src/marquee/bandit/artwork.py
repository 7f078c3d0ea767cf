"""Policies over variable candidate sets: each round offers its own candidates, described by features.

An artwork decision is (member, title, context): the candidates are that title's variants, and
their number differs from title to title, so these policies score candidates by features instead
of keeping one model per action. One ridge regression is shared by all candidates, on the outer
product of the context and the candidate's features,

``z(x, f) = vec([1, x] ⊗ [1, f])``  (``(d + 1)(k + 1)`` features: intercept, context and
candidate main effects, and every context-attribute interaction), with ``A = l2·I + Σ z zᵀ`` and
``b = Σ r z``; ``θ = A⁻¹ b``. ``A⁻¹`` is kept up to date by Sherman-Morrison, so an online update
costs ``O(p²)``.

Exploration rules and their propensities (the probability of the shown candidate among its title's):

- :class:`CandidateLinUCB`: ``argmax θ·z + alpha sqrt(zᵀA⁻¹z)``; 1, or ``1/m`` among ``m`` tied (exact).
- :class:`CandidateEpsilonGreedy`: ``(1 - epsilon) 1{best} / |best| + epsilon / m`` (exact).
- :class:`CandidateLinearTS`: Thompson sampling with ``θ̃ ~ N(θ, v² A⁻¹)``. The candidates' sampled
  scores are correlated (one ``θ̃`` scores them all), so their win probabilities have no closed
  form; ``n_samples`` posterior draws estimate them (Monte Carlo, standard error at most
  ``0.5 / sqrt(n_samples)``) and the choice is then drawn *from that estimate*. The logged
  propensity is therefore exactly the probability with which the choice was made.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from marquee._validate import Configured, ints, non_negative, positive, require
from marquee.bandit._linear import argmax_ties
from marquee.errors import DataError
from marquee.random import SeedLike, as_generator

__all__ = [
    "CANDIDATE_POLICIES",
    "CONTEXT_NAMES",
    "DEVICES",
    "ArtworkDecision",
    "CandidateEpsilonGreedy",
    "CandidateEpsilonGreedyConfig",
    "CandidateLinUCB",
    "CandidateLinUCBConfig",
    "CandidateLinearTS",
    "CandidateLinearTSConfig",
    "CandidatePolicy",
    "context_features",
    "cross_fitted_distribution",
    "joint_features",
]

DEVICES = ("tv", "mobile", "web", "tablet", "console", "other")
#: Names of the context features :func:`context_features` makes.
CONTEXT_NAMES = (*(f"device={d}" for d in DEVICES), "hour_sin", "hour_cos")


def context_features(device: str | None = None, local_hour: int | None = None) -> np.ndarray:
    """A request's context as (8,) float64: device one-hot (zeros when unknown), and the hour on a
    circle (``sin``, ``cos`` of ``2π·hour/24``; zeros when unknown), so 23h and 0h are neighbours."""
    x = np.zeros(len(CONTEXT_NAMES))
    if device is not None:
        if device not in DEVICES:
            raise DataError(f"must be one of {DEVICES} or null, got {device!r}", column="device")
        x[DEVICES.index(device)] = 1.0
    if local_hour is not None:
        if not (0 <= local_hour <= 23):
            raise DataError(f"must be an hour in 0..23 or null, got {local_hour!r}", column="local_hour")
        x[-2:] = np.sin(2 * np.pi * local_hour / 24), np.cos(2 * np.pi * local_hour / 24)
    return x


def joint_features(context: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``vec([1, x] ⊗ [1, f])`` for each candidate.

    Args:
        context: (d,) or (n, d) features.
        candidates: (m, k) or (n, m, k) candidate features.
    Returns:
        (m, (d+1)(k+1)) or (n, m, (d+1)(k+1)) float64.
    """
    x = np.asarray(context, dtype=np.float64)
    f = np.asarray(candidates, dtype=np.float64)
    one = x.ndim == 1
    if one:
        x, f = x[None], f[None]
    if f.ndim != 3 or f.shape[0] != x.shape[0]:
        raise DataError(f"need (m, k) candidates per context; got contexts {np.shape(context)} and candidates {np.shape(candidates)}", column="candidates")
    x1 = np.concatenate([np.ones((x.shape[0], 1)), x], axis=1)
    f1 = np.concatenate([np.ones((*f.shape[:2], 1)), f], axis=2)
    z = (x1[:, None, :, None] * f1[:, :, None, :]).reshape(f.shape[0], f.shape[1], -1)
    return z[0] if one else z


def _starts(sizes: np.ndarray) -> np.ndarray:
    return np.r_[0, np.cumsum(sizes)[:-1]]


def _segment_ties(scores: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(M,) float64 1 where a candidate ties for its decision's best score (as :func:`argmax_ties`), else 0."""
    best = np.repeat(np.maximum.reduceat(scores, _starts(sizes)), sizes)
    return (scores >= best - 1e-12 * (1.0 + np.abs(best))).astype(np.float64)


class CandidatePolicy(Configured, ABC):
    """A shared ridge model over joint context-candidate features, with an exploration rule.

    ``action_distribution(context, candidates)`` gives every candidate's probability;
    ``choose`` picks one with its propensity; ``update`` learns from one reward online;
    ``fit`` learns from logged rounds at once (and returns self). Learned state ends with ``_``.
    """

    Config: ClassVar[type]
    #: Registry name, e.g. ``"lin_ucb"``.
    name: ClassVar[str]

    # ---- the model -----------------------------------------------------------------------
    def _ensure(self, p: int) -> None:
        if not hasattr(self, "A_inv_"):
            self.A_inv_ = np.eye(p) / self.config.l2
            self.b_ = np.zeros(p)
            self.n_updates_ = 0
            self._theta: np.ndarray | None = None
        elif self.A_inv_.shape[0] != p:
            raise DataError(f"has {p} joint features; this policy learned from rounds with {self.A_inv_.shape[0]}", column="candidates")

    def _joint(self, context: Any, candidates: Any) -> np.ndarray:
        z = joint_features(context, candidates)
        if z.ndim != 2 or z.shape[0] == 0:
            raise DataError(f"need (m, k) candidate features with m >= 1, got {np.shape(candidates)}", column="candidates")
        self._ensure(z.shape[1])
        if self._theta is None:
            self._theta = self.A_inv_ @ self.b_
        return z

    def mean(self, context: Any, candidates: Any) -> np.ndarray:
        """Per candidate, the ridge estimate ``θ·z``; (m,)."""
        return self._joint(context, candidates) @ self._theta

    def mean_and_variance(self, context: Any, candidates: Any) -> tuple[np.ndarray, np.ndarray]:
        """Per candidate, the ridge estimate ``θ·z`` and ``zᵀA⁻¹z``; (m,) each."""
        z = self._joint(context, candidates)
        return z @ self._theta, np.maximum(((z @ self.A_inv_) * z).sum(axis=1), 0.0)

    @abstractmethod
    def action_distribution(self, context: Any, candidates: Any, rng: SeedLike = None) -> np.ndarray:
        """Probability of each of the (m, k) candidates in context (d,); (m,) summing to 1."""

    def choose(self, context: Any, candidates: Any, rng: SeedLike = None) -> tuple[int, float]:
        """Pick one candidate; returns its index and the probability it was picked with."""
        gen = as_generator(rng)
        dist = self.action_distribution(context, candidates, gen)
        index = int(min(np.searchsorted(np.cumsum(dist), gen.random() * dist.sum(), side="right"), dist.size - 1))
        return index, float(dist[index])

    def distributions(self, context: Any, candidates: Any, sizes: Any) -> np.ndarray:
        """:meth:`action_distribution` of many decisions in one context at once (a page of tiles).

        Args:
            context: (d,) the shared context.
            candidates: (M, k) the candidates of every decision, stacked.
            sizes: (n,) how many of the stacked candidates each decision has, in order (each >= 1).
        Returns:
            (M,) float64: each decision's distribution, stacked the same way.
        """
        bounds = np.cumsum(np.r_[0, np.asarray(sizes, np.int64)])
        f = np.asarray(candidates, np.float64)
        return np.concatenate([self.action_distribution(context, f[lo:hi]) for lo, hi in itertools.pairwise(bounds)])

    def choose_many(self, context: Any, candidates: Any, sizes: Any, rng: SeedLike = None) -> tuple[np.ndarray, np.ndarray]:
        """One choice per decision, as :meth:`choose` makes it, for decisions stacked as in :meth:`distributions`.

        Returns:
            ``(index, propensity)``: (n,) int64 index within each decision's candidates and (n,) float64.
        """
        gen = as_generator(rng)
        sizes = np.asarray(sizes, np.int64)
        dist = self.distributions(context, candidates, sizes)
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        # Per decision: the first candidate whose cumulative probability passes a uniform draw.
        cum = np.cumsum(dist)
        before = np.r_[0.0, cum][starts]
        total = np.add.reduceat(dist, starts)
        target = before + gen.random(sizes.size) * total
        flat = np.minimum(np.searchsorted(cum, target, side="right"), starts + sizes - 1)
        return flat - starts, dist[flat]

    def update(self, context: Any, features: Any, reward: float) -> Self:
        """Learn from the reward of one shown candidate (its (k,) features) in context (d,)."""
        z = joint_features(context, np.asarray(features, dtype=np.float64)[None, :])[0]
        if not np.isfinite(reward):
            raise DataError(f"must be finite, got {reward!r}", column="reward")
        self._ensure(z.size)
        az = self.A_inv_ @ z
        self.A_inv_ -= np.outer(az, az) / (1.0 + z @ az)
        self.b_ += float(reward) * z
        self.n_updates_ += 1
        self._theta = None
        return self

    def fit(self, context: Any, features: Any, reward: Any) -> Self:
        """Learn from logged rounds at once (forgetting earlier learning).

        Args:
            context: (n, d) contexts.
            features: (n, k) features of the candidate shown in each round.
            reward: (n,) rewards.
        """
        x, f, r = (np.asarray(a, dtype=np.float64) for a in (context, features, reward))
        if x.ndim != 2 or f.ndim != 2 or r.ndim != 1 or not (x.shape[0] == f.shape[0] == r.shape[0]):
            raise DataError(f"need (n, d) contexts, (n, k) features and (n,) rewards; got {x.shape}, {f.shape} and {r.shape}")
        z = joint_features(x, f[:, None, :])[:, 0, :]
        for name in ("A_inv_", "b_"):
            self.__dict__.pop(name, None)
        self._ensure(z.shape[1])
        self.A_inv_ = np.linalg.inv(self.config.l2 * np.eye(z.shape[1]) + z.T @ z)
        self.b_ = z.T @ r
        self.n_updates_ = int(r.size)
        return self


# ---- LinUCB --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CandidateLinUCBConfig:
    """Args:
    alpha: width of the confidence bonus.
    l2: ridge penalty.
    """

    alpha: float = 1.0
    l2: float = 1.0

    def __post_init__(self) -> None:
        non_negative(self, "alpha")
        positive(self, "l2")


class CandidateLinUCB(CandidatePolicy):
    """LinUCB (Li et al., WWW 2010; the shared, "hybrid"-style model) over candidate features.

    Deterministic: the propensity is 1 (or ``1/m`` among ``m`` tied). Its logs support only the
    candidates it showed: prefer an exploring policy when the log is for off-policy evaluation.
    """

    Config = CandidateLinUCBConfig
    name = "lin_ucb"

    def action_distribution(self, context: Any, candidates: Any, rng: SeedLike = None) -> np.ndarray:
        mean, var = self.mean_and_variance(context, candidates)
        ties = argmax_ties((mean + self.config.alpha * np.sqrt(var))[None])[0]
        return ties / ties.sum()

    def distributions(self, context: Any, candidates: Any, sizes: Any) -> np.ndarray:
        sizes = np.asarray(sizes, np.int64)
        mean, var = self.mean_and_variance(context, candidates)
        ties = _segment_ties(mean + self.config.alpha * np.sqrt(var), sizes)
        return ties / np.repeat(np.add.reduceat(ties, _starts(sizes)), sizes)


# ---- epsilon-greedy ------------------------------------------------------------------------
@dataclass(frozen=True)
class CandidateEpsilonGreedyConfig:
    """Args:
    epsilon: share of choices made uniformly among the candidates.
    l2: ridge penalty.
    """

    epsilon: float = 0.1
    l2: float = 1.0

    def __post_init__(self) -> None:
        positive(self, "l2")
        require(isinstance(self.epsilon, int | float) and 0 <= self.epsilon <= 1, type(self).__name__, "epsilon", "in [0, 1]", self.epsilon)


class CandidateEpsilonGreedy(CandidatePolicy):
    """Epsilon-greedy over the ridge estimate: ``(1 - ε) 1{a in argmax} / |argmax| + ε / m``, exactly."""

    Config = CandidateEpsilonGreedyConfig
    name = "epsilon_greedy"

    def action_distribution(self, context: Any, candidates: Any, rng: SeedLike = None) -> np.ndarray:
        mean = self.mean(context, candidates)
        ties = argmax_ties(mean[None])[0]
        eps = self.config.epsilon
        return (1 - eps) * ties / ties.sum() + eps / mean.size

    def distributions(self, context: Any, candidates: Any, sizes: Any) -> np.ndarray:
        sizes = np.asarray(sizes, np.int64)
        ties = _segment_ties(self.mean(context, candidates), sizes)
        eps = self.config.epsilon
        return (1 - eps) * ties / np.repeat(np.add.reduceat(ties, _starts(sizes)), sizes) + eps / np.repeat(sizes, sizes)


# ---- linear Thompson sampling --------------------------------------------------------------
@dataclass(frozen=True)
class CandidateLinearTSConfig:
    """Args:
    scale: ``v``, the posterior standard-deviation multiplier.
    l2: ridge penalty (prior precision).
    n_samples: posterior draws per decision for the win probabilities.
    seed: seeds :meth:`action_distribution` when no ``rng`` is given (off-policy evaluation).
    """

    scale: float = 0.5
    l2: float = 1.0
    n_samples: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        positive(self, "scale", "l2")
        ints(self, "n_samples")
        ints(self, "seed", minimum=0)


class CandidateLinearTS(CandidatePolicy):
    """Linear Thompson sampling (Agrawal & Goyal, ICML 2013) over candidate features.

    Scores ``s = Zθ̃`` with ``θ̃ ~ N(θ, v²A⁻¹)`` are jointly normal, ``N(Zθ, v² Z A⁻¹ Zᵀ)``; the win
    probabilities are estimated from ``n_samples`` draws of ``s`` and the choice is drawn from the
    estimate (see the module docstring), so the logged propensity is exact for the choice made.
    """

    Config = CandidateLinearTSConfig
    name = "linear_ts"

    def action_distribution(self, context: Any, candidates: Any, rng: SeedLike = None) -> np.ndarray:
        z = joint_features(context, candidates)
        mean, _ = self.mean_and_variance(context, candidates)
        m = mean.size
        if m == 1:
            return np.ones(1)
        cov = self.config.scale**2 * (z @ self.A_inv_ @ z.T)
        # Cholesky of a PSD matrix that may be singular (identical candidates): eigen-decompose instead.
        w, v = np.linalg.eigh(cov)
        root = v * np.sqrt(np.clip(w, 0.0, None))
        gen = as_generator(self.config.seed if rng is None else rng)
        draws = mean[None, :] + gen.standard_normal((self.config.n_samples, m)) @ root.T
        return np.bincount(draws.argmax(axis=1), minlength=m) / self.config.n_samples


#: Name -> class of the candidate policies.
CANDIDATE_POLICIES: dict[str, type[CandidatePolicy]] = {
    cls.name: cls for cls in (CandidateLinUCB, CandidateEpsilonGreedy, CandidateLinearTS)
}


def cross_fitted_distribution(
    policy: CandidatePolicy, context: Any, candidates: Any, mask: Any, chosen: Any, reward: Any, *, n_folds: int = 2, seed: int = 0
) -> np.ndarray:
    """What a candidate policy, learned from a log, would do in each logged round, out of fold.

    The rounds are split into ``n_folds`` folds; a copy of ``policy`` (same config, fresh state)
    is fitted on the other folds' shown candidates and rewards, and gives the distribution over
    each held-out round's candidates, so no round is judged by a policy that saw its reward.

    Args:
        context: (n, d); candidates: (n, M, k) zero-padded; mask: (n, M) bool real candidates;
        chosen: (n,) shown index; reward: (n,).
    Returns:
        (n, M) float64, rows summing to 1 over real candidates, 0 on padding.
    """
    x, f = np.asarray(context, dtype=np.float64), np.asarray(candidates, dtype=np.float64)
    mask, chosen, reward = np.asarray(mask, bool), np.asarray(chosen, np.int64), np.asarray(reward, np.float64)
    n = x.shape[0]
    k = min(n_folds, n)
    folds = np.empty(n, np.int64)
    folds[as_generator(seed).permutation(n)] = np.arange(n) % k
    shown = f[np.arange(n), chosen]
    out = np.zeros(mask.shape)
    for j in range(k):
        train = folds != j if k > 1 else np.ones(n, bool)
        learner = type(policy)(policy.config).fit(x[train], shown[train], reward[train])
        for i in np.flatnonzero(folds == j):
            m = int(mask[i].sum())
            out[i, :m] = learner.action_distribution(x[i], f[i, :m])
    return out


# ---- the logged decision -------------------------------------------------------------------
@dataclass(frozen=True)
class ArtworkDecision:
    """One logged artwork choice: everything off-policy evaluation needs, in one record.

    Attributes:
        decision_id: unique id, quoted back with the reward.
        policy: name of the policy that chose.
        context: (d,) context features it chose on (:func:`context_features`).
        action: index of the shown variant among ``variant_ids``.
        propensity: probability the policy gave that variant, in (0, 1].
        timestamp_us: when (unix microseconds).
        member_id: the member.
        title_id: the title.
        variant_ids: the title's variants, the candidates, in order.
        candidates: (m, k) features of the candidates.
    """

    decision_id: str
    policy: str
    context: tuple[float, ...]
    action: int
    propensity: float
    timestamp_us: int
    member_id: int | str
    title_id: int | str
    variant_ids: tuple[int, ...]
    candidates: tuple[tuple[float, ...], ...]

    @property
    def variant_id(self) -> int:
        return self.variant_ids[self.action]

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> ArtworkDecision:
        """The inverse of ``dataclasses.asdict`` (lists back to tuples)."""
        return cls(
            decision_id=str(record["decision_id"]), policy=str(record["policy"]), context=tuple(map(float, record["context"])),
            action=int(record["action"]), propensity=float(record["propensity"]), timestamp_us=int(record["timestamp_us"]),
            member_id=_id(record["member_id"]), title_id=_id(record["title_id"]), variant_ids=tuple(map(int, record["variant_ids"])),
            candidates=tuple(tuple(map(float, row)) for row in record["candidates"]),
        )  # fmt: skip


def _id(value: Any) -> int | str:
    """An id as logged: text stays text, anything else is an integer (as logs always held)."""
    return value if isinstance(value, str) else int(value)
