"""What every off-policy estimator shares: its answer, its input checks, its intervals.

Every estimator here is a mean of per-round terms plus, for the self-normalised ones, a ratio of
two sums: ``V = mean(base) + sum(num) / sum(den)``. That one form gives every estimator a
vectorised bootstrap (resample rounds, recompute ``V``) and an analytic interval from the
influence function ``(base_i - mean(base)) + (num_i - R·den_i) / mean(den)`` (the CLT for plain
means, the delta method for ratios).
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from marquee._validate import build_config, ints, level
from marquee.data.feedback import LoggedFeedback
from marquee.errors import DataError
from marquee.metrics.intervals import Interval
from marquee.random import as_generator

__all__ = ["Estimate", "Estimator", "EstimatorConfig", "Rounds", "Terms", "at_positions"]


@dataclass(frozen=True)
class Estimate:
    """An estimated policy value with its uncertainty.

    Attributes:
        estimator: the estimator's short name (``"dr"``).
        value: the point estimate.
        interval: percentile-bootstrap interval over logged rounds (conditional on the reward
            model's predictions, which are not refitted per resample).
        analytic: normal-approximation interval (CLT, or delta method for self-normalised
            estimators), or ``None`` where it does not exist.
        n: rounds used.
        diagnostics: e.g. ``max_weight``, ``effective_sample_size``, a tuned hyperparameter.
    """

    estimator: str
    value: float
    interval: Interval
    analytic: Interval | None
    n: int
    diagnostics: dict[str, float] = field(default_factory=dict)

    def relative_error(self, truth: float) -> float:
        """``|value - truth| / |truth|``."""
        return abs(self.value - truth) / abs(truth)

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimator": self.estimator,
            "value": self.value,
            "interval": self.interval.to_dict(),
            "analytic": None if self.analytic is None else self.analytic.to_dict(),
            "n": self.n,
            "diagnostics": dict(self.diagnostics),
        }

    def __str__(self) -> str:
        return f"{self.estimator}: {self.interval}"


def at_positions(data: LoggedFeedback, values: Any, name: str, *, distribution: bool) -> np.ndarray:
    """Pick each round's slot out of a per-action array.

    Args:
        values: (n, n_actions) or (n, n_actions, n_positions).
        distribution: check that values are probabilities summing to 1 over actions.
    Returns:
        (n, n_actions) float64: ``values[i, :, position[i]]``.
    Raises:
        DataError: a wrong shape, a non-finite or negative value, or a row that does not sum to 1.
    """
    n, k = len(data), data.n_actions
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 3:
        if arr.shape != (n, k, data.n_positions):
            raise DataError(f"must have shape ({n}, {k}) or ({n}, {k}, {data.n_positions}), got {arr.shape}", column=name)
        arr = arr[np.arange(n), :, data.position]
    elif arr.shape != (n, k):
        raise DataError(f"must have shape ({n}, {k}) or ({n}, {k}, {data.n_positions}), got {arr.shape}", column=name)
    bad = ~np.isfinite(arr)
    if distribution:
        bad |= arr < -1e-12
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        what = "finite probabilities >= 0" if distribution else "finite"
        raise DataError(f"must hold {what}, got {float(arr[row][bad[row]][0])!r}", row=row + 1, column=name)
    if distribution:
        sums = arr.sum(axis=1)
        off = np.abs(sums - 1.0) > 1e-6
        if off.any():
            row = int(np.argmax(off))
            raise DataError(
                f"sums to {sums[row]:.6g} over actions at the round's position; an action distribution sums to 1",
                row=row + 1, column=name,
            )  # fmt: skip
        arr = np.clip(arr, 0.0, None)
    return arr


@dataclass(frozen=True)
class Rounds:
    """Per-round arrays an estimator combines (all (n,) unless stated).

    Attributes:
        reward: observed reward.
        action: logged action.
        weight: importance weight ``pi(a_i | x_i) / p_i``.
        pi: (n, n_actions) evaluation policy at each round's slot.
        q: (n, n_actions) predicted reward at each round's slot, or ``None``.
    """

    reward: np.ndarray
    action: np.ndarray
    weight: np.ndarray
    pi: np.ndarray
    q: np.ndarray | None

    @property
    def q_logged(self) -> np.ndarray:
        """Predicted reward of the logged action."""
        assert self.q is not None
        return self.q[np.arange(self.q.shape[0]), self.action]

    @property
    def direct(self) -> np.ndarray:
        """``sum_a pi(a|x_i) q(x_i, a)``: the direct-method term."""
        assert self.q is not None
        return (self.pi * self.q).sum(axis=1)


@dataclass(frozen=True)
class Terms:
    """``V = mean(base) + sum(num) / sum(den)``; ``num`` is ``None`` for plain means."""

    base: np.ndarray
    num: np.ndarray | None = None
    den: np.ndarray | None = None

    def value(self) -> float:
        v = float(self.base.mean())
        if self.num is not None:
            d = float(self.den.sum())  # type: ignore[union-attr]
            v += float(self.num.sum()) / d if d > 0 else 0.0
        return v

    def influence(self) -> np.ndarray:
        infl = self.base - self.base.mean()
        if self.num is not None:
            den = self.den  # type: ignore[assignment]
            mean_den = float(den.mean())
            if mean_den > 0:
                ratio = float(self.num.sum()) / float(den.sum())
                infl = infl + (self.num - ratio * den) / mean_den
        return infl

    def bootstrap(self, n_bootstrap: int, seed: int, chunk: int = 64) -> np.ndarray:
        """Estimates on ``n_bootstrap`` resamples of the rounds (vectorised, in chunks)."""
        rng = as_generator(seed)
        n = self.base.shape[0]
        out = np.empty(n_bootstrap)
        for start in range(0, n_bootstrap, chunk):
            b = min(chunk, n_bootstrap - start)
            idx = rng.integers(0, n, size=(b, n))
            v = self.base[idx].mean(axis=1)
            if self.num is not None:
                d = self.den[idx].sum(axis=1)  # type: ignore[index]
                v = v + np.divide(self.num[idx].sum(axis=1), d, out=np.zeros(b), where=d > 0)
            out[start : start + b] = v
        return out


@dataclass(frozen=True)
class EstimatorConfig:
    """Args:
    n_bootstrap: bootstrap resamples for the interval.
    level: two-sided confidence level.
    seed: seeds the bootstrap (and the reward model's folds when the estimator fits its own).
    """

    n_bootstrap: int = 1000
    level: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        ints(self, "n_bootstrap")
        ints(self, "seed", minimum=0)
        level(self)


class Estimator(ABC):
    """Base class of off-policy estimators: ``estimate(data, action_dist[, reward_hat]) -> Estimate``.

    Subclasses set ``Config``, ``name`` and implement :meth:`terms`. Construct with a config,
    keyword overrides, or both: ``SwitchDR(tau=20.0)``.
    """

    Config: ClassVar[type] = EstimatorConfig
    name: ClassVar[str]
    #: Needs predicted rewards (a reward model).
    uses_reward_model: ClassVar[bool] = False
    #: Has an analytic (normal-approximation) interval.
    has_analytic_interval: ClassVar[bool] = True

    def __init__(self, config: Any = None, /, **params: Any) -> None:
        self.config = build_config(type(self).__name__, self.Config, config, params)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in dataclasses.asdict(self.config).items())
        return f"{type(self).__name__}({fields})"

    @abstractmethod
    def terms(self, rounds: Rounds) -> tuple[Terms, dict[str, float]]:
        """The estimator's per-round terms, and diagnostics."""

    def estimate(self, data: LoggedFeedback, action_dist: Any, reward_hat: Any = None) -> Estimate:
        """Estimate the value of the policy whose action distribution is ``action_dist`` from ``data``.

        Args:
            data: rounds logged by another (or the same) policy.
            action_dist: (n, n_actions) or (n, n_actions, n_positions) probabilities the evaluated
                policy gives each action in each round (at each slot).
            reward_hat: (n, n_actions[, n_positions]) predicted rewards, for estimators that use a
                reward model. Pass cross-fitted predictions (``RewardModel().fit(data).cross_fitted_``);
                when omitted the estimator fits a default :class:`~marquee.ope.RewardModel` itself.
        """
        pi = at_positions(data, action_dist, "action_dist", distribution=True)
        q = None
        if self.uses_reward_model:
            if reward_hat is None:
                from marquee.ope.reward_model import RewardModel

                reward_hat = RewardModel(seed=self.config.seed).fit(data).cross_fitted_
            q = at_positions(data, reward_hat, "reward_hat", distribution=False)
        n = len(data)
        action = np.asarray(data.action)
        weight = pi[np.arange(n), action] / data.propensity
        rounds = Rounds(np.asarray(data.reward), action, weight, pi, q)
        terms, diagnostics = self.terms(rounds)
        value = terms.value()
        cfg = self.config
        alpha = (1 - cfg.level) / 2
        boots = terms.bootstrap(cfg.n_bootstrap, cfg.seed)
        lo, hi = np.quantile(boots, [alpha, 1 - alpha])
        analytic = None
        if self.has_analytic_interval:
            se = float(terms.influence().std(ddof=1)) / math.sqrt(n) if n > 1 else float("nan")
            z = float(stats.norm.ppf(1 - alpha))
            analytic = Interval(value, value - z * se, value + z * se, cfg.level)
        diagnostics = {**diagnostics, "bootstrap_se": float(boots.std(ddof=1)) if cfg.n_bootstrap > 1 else 0.0}
        return Estimate(self.name, value, Interval(value, float(lo), float(hi), cfg.level), analytic, n, diagnostics)


def weight_diagnostics(weight: np.ndarray) -> dict[str, float]:
    """Largest importance weight and Kish's effective sample size ``(sum w)^2 / sum w^2``."""
    sq = float((weight**2).sum())
    return {"max_weight": float(weight.max()), "effective_sample_size": float(weight.sum() ** 2 / sq) if sq > 0 else 0.0}
