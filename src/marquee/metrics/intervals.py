"""Uncertainty: bootstrap intervals over members and paired comparisons of two models."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from marquee.random import SeedLike, as_generator

__all__ = ["Interval", "PairedComparison", "bootstrap_coverage", "bootstrap_mean", "paired_comparison"]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval at ``level``."""

    estimate: float
    low: float
    high: float
    level: float = 0.95

    def __str__(self) -> str:
        return f"{self.estimate:.4f} [{self.low:.4f}, {self.high:.4f}]"

    def to_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "level": self.level}


def _resample_indices(n: int, n_bootstrap: int, seed: SeedLike) -> np.ndarray:
    return as_generator(seed).integers(0, n, size=(n_bootstrap, n))


def bootstrap_mean(values: np.ndarray, *, n_bootstrap: int = 1000, level: float = 0.95, seed: SeedLike = 0) -> Interval:
    """Percentile bootstrap interval of the mean of per-member ``values`` (Efron & Tibshirani, 1993).

    Members are the resampling unit, so the interval reflects which members happened to be
    evaluated. Passing the same ``seed`` to two models resamples the same members.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no values to bootstrap")
    idx = _resample_indices(values.size, n_bootstrap, seed)
    means = values[idx].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return Interval(float(values.mean()), float(lo), float(hi), level)


def bootstrap_coverage(
    topk: np.ndarray, n_titles: int, k: int, *, n_bootstrap: int = 1000, level: float = 0.95, seed: SeedLike = 0
) -> Interval:
    """Bootstrap interval of catalog coverage@k, resampling members (rows of ``topk``).

    Coverage counts distinct titles, and a resample with repeated members has fewer distinct
    lists, so the bootstrap distribution sits below the estimate. The interval is that
    distribution's spread re-centred on the estimate (its median moved onto the estimate).
    """
    from marquee.metrics.ranking import coverage

    top = topk[:, :k]
    idx = _resample_indices(top.shape[0], n_bootstrap, seed)
    samples = np.empty(n_bootstrap)
    for b in range(n_bootstrap):
        seen = np.zeros(n_titles, bool)
        seen[top[idx[b]].ravel()] = True
        samples[b] = seen.sum() / n_titles
    alpha = (1 - level) / 2
    estimate = coverage(topk, n_titles, k)
    lo, mid, hi = np.quantile(samples, [alpha, 0.5, 1 - alpha])
    return Interval(estimate, float(estimate + lo - mid), float(estimate + hi - mid), level)


@dataclass(frozen=True)
class PairedComparison:
    """Model A minus model B on the same members.

    Attributes:
        difference: mean per-member difference with its paired-bootstrap interval.
        p_value_t: two-sided paired t-test p-value.
        p_value_wilcoxon: two-sided Wilcoxon signed-rank p-value (zero differences dropped).
        n_members: members compared.
    """

    metric: str
    difference: Interval
    p_value_t: float
    p_value_wilcoxon: float
    n_members: int

    @property
    def significant(self) -> bool:
        """True when the bootstrap interval of the difference excludes zero."""
        return self.difference.low > 0 or self.difference.high < 0


def paired_comparison(
    a: np.ndarray, b: np.ndarray, *, metric: str = "metric", n_bootstrap: int = 1000, level: float = 0.95, seed: SeedLike = 0
) -> PairedComparison:
    """Compare per-member values of two models on the same members, in the same order."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal shapes, got {a.shape} and {b.shape}")
    diff = a - b
    interval = bootstrap_mean(diff, n_bootstrap=n_bootstrap, level=level, seed=seed)
    if np.allclose(diff, 0):
        p_t = p_w = 1.0
    else:
        p_t = float(stats.ttest_rel(a, b).pvalue)
        p_w = float(stats.wilcoxon(diff[diff != 0]).pvalue) if np.count_nonzero(diff) > 0 else 1.0
    return PairedComparison(metric, interval, p_t, p_w, int(a.size))
