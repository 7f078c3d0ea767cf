"""Classical comparisons of per-member metrics: Welch's test, lift intervals, multiplicity.

A variant's metric is the mean over its members of each member's value (members with no events
count as 0), or a ratio of two such sums. Everything is computed from sufficient statistics —
count, sum, sum of squares (and cross products) — which DuckDB aggregates in one pass; the
fields may be numpy arrays, so a thousand simulated experiments are analysed in one call.

* Welch's t-test (Welch 1947) on the absolute difference, Welch–Satterthwaite degrees of freedom.
* Ratio metrics ``sum(num) / sum(den)`` by the delta method on the member-level linearisation
  (Deng, Knoblich & Lu, KDD 2018): ``var = (s_n² - 2 r c + r² s_d²) / mean_d²``.
* Relative lift ``(m_b - m_a) / m_a`` by the delta method,
  ``var = v_b / (m_a² n_b) + m_b² v_a / (m_a⁴ n_a)``, or by Fieller's theorem (Fieller 1954),
  which stays honest when the control mean is itself uncertain.
* Adjusted p-values across metrics × variants: Holm (1979) controls the family-wise error rate,
  Benjamini–Hochberg (1995) the false discovery rate. Each comparison also gets intervals at the
  level that agrees with its adjusted p-value, ``1 - α·p/p_adjusted`` (:func:`corrected_alpha`;
  for Holm's smallest p-value that is Bonferroni's ``α/m``), made by inverting the decision's own
  test: the difference's Welch interval, and for the relative lift Fieller's set of the lifts that
  test does not reject. Both exclude 0 exactly when ``p_adjusted < α``. (The delta-method relative
  interval is not that test's inversion: with a large lift it can straddle 0 when p < α.)
* The minimum detectable effect of a fixed-horizon test: ``(t_{1-α/2} + t_{power}) · se``, the
  true difference it detects with probability ``power``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from scipy import stats

from marquee.errors import ConfigError
from marquee.metrics.intervals import Interval

__all__ = [
    "Comparison",
    "MeanStats",
    "RatioStats",
    "Statistic",
    "Welch",
    "adjust_p_values",
    "compare",
    "corrected_alpha",
    "fieller_interval",
    "fixed_intervals",
    "minimum_detectable_effect",
    "relative_lift",
    "welch",
]

ArrayLike = float | np.ndarray
Correction = Literal["holm", "bh", "none"]


class Statistic(Protocol):
    """What a comparison needs from one variant's metric (fields may be arrays)."""

    @property
    def n(self) -> ArrayLike: ...

    @property
    def mean(self) -> ArrayLike: ...

    @property
    def unadjusted_mean(self) -> ArrayLike:
        """The plain mean (CUPED-adjusted statistics differ from it; relative lift divides by it)."""
        ...

    @property
    def variance(self) -> ArrayLike:
        """Per-member variance, so that ``Var(mean) = variance / n``."""
        ...


def _safe_div(a: ArrayLike, b: ArrayLike) -> ArrayLike:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.divide(a, b)
    return out if np.ndim(out) else float(out)


@dataclass(frozen=True)
class MeanStats:
    """Sufficient statistics of per-member values: ``n``, ``total = Σx``, ``total_sq = Σx²``."""

    n: ArrayLike
    total: ArrayLike
    total_sq: ArrayLike

    @classmethod
    def from_values(cls, values: np.ndarray, axis: int = -1) -> MeanStats:
        """From per-member values (``axis`` runs over members)."""
        x = np.asarray(values, np.float64)
        n, total, total_sq = float(x.shape[axis]), x.sum(axis=axis), np.square(x).sum(axis=axis)
        if x.ndim == 1:
            return cls(n, float(total), float(total_sq))
        return cls(np.full(total.shape, n), total, total_sq)

    @property
    def mean(self) -> ArrayLike:
        return _safe_div(self.total, self.n)

    @property
    def unadjusted_mean(self) -> ArrayLike:
        return self.mean

    @property
    def variance(self) -> ArrayLike:
        """Sample variance (ddof 1); 0 with fewer than two members; never negative from rounding."""
        v = _safe_div(np.subtract(self.total_sq, _safe_div(np.square(self.total), self.n)), np.subtract(self.n, 1))
        v = np.where(np.asarray(self.n) > 1, np.maximum(v, 0.0), 0.0)
        return v if np.ndim(v) else float(v)

    def __add__(self, other: MeanStats) -> MeanStats:
        return MeanStats(np.add(self.n, other.n), np.add(self.total, other.total), np.add(self.total_sq, other.total_sq))


@dataclass(frozen=True)
class RatioStats:
    """A ratio metric ``Σnum / Σden`` over members, with ``cross = Σ num·den`` for the delta method."""

    numerator: MeanStats
    denominator: MeanStats
    cross: ArrayLike

    @property
    def n(self) -> ArrayLike:
        return self.numerator.n

    @property
    def mean(self) -> ArrayLike:
        return _safe_div(self.numerator.total, self.denominator.total)

    @property
    def unadjusted_mean(self) -> ArrayLike:
        return self.mean

    @property
    def covariance(self) -> ArrayLike:
        n = np.asarray(self.n)
        c = _safe_div(np.subtract(self.cross, _safe_div(np.multiply(self.numerator.total, self.denominator.total), n)), n - 1)
        c = np.where(n > 1, c, 0.0)
        return c if np.ndim(c) else float(c)

    @property
    def variance(self) -> ArrayLike:
        mn, md = self.numerator.mean, self.denominator.mean
        v = _safe_div(
            np.asarray(self.numerator.variance)
            - 2 * np.multiply(self.covariance, mn) / md
            + np.square(mn) * np.asarray(self.denominator.variance) / np.square(md),
            np.square(md),
        )
        v = np.where(np.isfinite(v), np.maximum(v, 0.0), 0.0)
        return v if np.ndim(v) else float(v)


@dataclass(frozen=True)
class Welch:
    """Welch's test of ``treatment - control`` (fields broadcast like the inputs)."""

    estimate: ArrayLike
    se: ArrayLike
    dof: ArrayLike
    statistic: ArrayLike
    p_value: ArrayLike

    def interval(self, alpha: float = 0.05) -> tuple[ArrayLike, ArrayLike]:
        width = np.multiply(stats.t.ppf(1 - alpha / 2, self.dof), self.se)
        return np.subtract(self.estimate, width), np.add(self.estimate, width)


def _dof(control: Statistic, treatment: Statistic) -> ArrayLike:
    ua = _safe_div(control.variance, control.n)
    ub = _safe_div(treatment.variance, treatment.n)
    num = np.square(np.add(ua, ub))
    den = _safe_div(np.square(ua), np.subtract(control.n, 1)) + _safe_div(np.square(ub), np.subtract(treatment.n, 1))
    d = _safe_div(num, den)
    return d


def _two_sided_p(estimate: ArrayLike, se: ArrayLike, dof: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    t = _safe_div(estimate, se)
    p = 2 * stats.t.sf(np.abs(t), dof)
    # No spread at all: the difference is exactly known.
    p = np.where(np.asarray(se) > 0, p, np.where(np.asarray(estimate) == 0, 1.0, 0.0))
    return t, (p if np.ndim(p) else float(p))


def welch(control: Statistic, treatment: Statistic) -> Welch:
    """Welch's unequal-variance t-test on the absolute difference of means.

    ``se = sqrt(v_a/n_a + v_b/n_b)``, ``dof`` by Welch–Satterthwaite; matches
    ``scipy.stats.ttest_ind(b, a, equal_var=False)`` on the raw values.
    """
    estimate = np.subtract(treatment.mean, control.mean)
    se = np.sqrt(_safe_div(control.variance, control.n) + np.asarray(_safe_div(treatment.variance, treatment.n)))
    dof = _dof(control, treatment)
    t, p = _two_sided_p(estimate, se, dof)
    return Welch(estimate, se, dof, t, p)


def relative_lift(control: Statistic, treatment: Statistic) -> tuple[ArrayLike, ArrayLike]:
    """``(estimate, se)`` of ``(m_b - m_a) / m_a`` by the delta method (``m`` unadjusted in the variance)."""
    ma, mb = control.unadjusted_mean, treatment.unadjusted_mean
    estimate = _safe_div(np.subtract(treatment.mean, control.mean), ma)
    var = _safe_div(treatment.variance, np.square(ma) * np.asarray(treatment.n)) + _safe_div(
        np.square(mb) * np.asarray(control.variance), np.power(ma, 4) * np.asarray(control.n)
    )
    return estimate, np.sqrt(var)


def _control_parts(control: Statistic) -> tuple[float, float]:
    """Per-member variance of the unadjusted values, and their covariance with the (adjusted) values.

    Both equal ``variance`` unless the statistic is CUPED-adjusted (it has ``post``, ``pre`` and ``theta``).
    """
    if all(hasattr(control, k) for k in ("post", "pre", "theta", "covariance")):
        post_var = float(control.post.variance)  # type: ignore[attr-defined]
        return post_var, post_var - float(control.theta) * float(control.covariance)  # type: ignore[attr-defined]
    v = float(control.variance)
    return v, v


def fieller_interval(control: Statistic, treatment: Statistic, alpha: float = 0.05, *, critical: float | None = None) -> tuple[float, float]:
    """Fieller's interval for the relative lift ``ρ = D / A``, ``D = m_b - m_a``, ``A`` the control's plain mean.

    Solves ``(D - ρ A)² ≤ t² (var D - 2ρ cov(D, A) + ρ² var A)`` (Fieller 1954) with Welch's dof;
    the correlation of ``D`` and ``A`` through the control arm is kept (and, with CUPED, that of
    the adjusted and plain control means). When ``A`` is not itself distinguishable from 0 the set
    is unbounded and ``(-inf, inf)`` is returned.

    It is the inversion of Welch's test of ``D``: it excludes 0 exactly when that test rejects at
    ``alpha``. ``critical`` replaces ``t`` (e.g. a confidence sequence's multiplier, whose test it
    then inverts).
    """
    na, nb = float(control.n), float(treatment.n)
    d = float(treatment.mean) - float(control.mean)
    a = float(control.unadjusted_mean)
    var_a_unadj, cov_a = _control_parts(control)
    var_d = float(control.variance) / na + float(treatment.variance) / nb
    var_a, cov_da = var_a_unadj / na, -cov_a / na
    if critical is not None:
        t2 = float(critical) ** 2 if var_d > 0 else 0.0
    else:
        t2 = float(stats.t.ppf(1 - alpha / 2, float(_dof(control, treatment)))) ** 2 if var_d > 0 else 0.0
    qa = a * a - t2 * var_a
    qb = -2 * (d * a - t2 * cov_da)
    qc = d * d - t2 * var_d
    disc = qb * qb - 4 * qa * qc
    if qa <= 0 or disc < 0:
        return float("-inf"), float("inf")
    root = np.sqrt(disc)
    return (-qb - root) / (2 * qa), (-qb + root) / (2 * qa)


@dataclass(frozen=True)
class Comparison:
    """One treatment against the control on one metric.

    Attributes:
        method: ``"fixed"`` (Welch, valid when read once at the planned horizon) or
            ``"sequential"`` (anytime-valid confidence sequence; see :mod:`marquee.experiment.sequential`).
        absolute: ``mean_b - mean_a`` with its interval; ``relative``: ``(mean_b - mean_a) / mean_a``;
            both at ``1 - alpha``, for this comparison alone.
        p_value: two-sided, of no difference; ``p_adjusted``: after the multiplicity correction
            (equal to ``p_value`` for guardrails, which need none; see :mod:`marquee.experiment.guardrails`;
            NaN for a ``plain`` comparison, which is reported, not tested).
        theta, variance_reduction: CUPED's coefficient and the share of variance it removed
            (``1 - Var(adjusted difference) / Var(plain difference)``; negative if it added some).
        se: the standard error of ``absolute``.
        absolute_adjusted, relative_adjusted: the intervals the decision agrees with: at the level
            ``p_adjusted`` implies (``1 - corrected_alpha``; each one's ``level`` says which), by
            inverting the comparison's own test (the relative one by Fieller's construction), so
            that they exclude 0 exactly when ``p_adjusted < alpha``. For guardrails, which are
            read off ``relative``, equal to ``absolute``/``relative``.
        tests: the size of the family ``p_adjusted`` was corrected over (1: not corrected).
        mde: fixed-horizon only: the minimum detectable effect as a share of the control mean, the
            lift this test detects with 80% power at ``alpha / tests``.
        plain: for a CUPED metric, the same comparison without the covariate — reported, not tested.
    """

    metric: str
    variant: str
    control: str
    method: Literal["fixed", "sequential"]
    n_control: int
    n_variant: int
    control_mean: float
    variant_mean: float
    absolute: Interval
    relative: Interval
    p_value: float
    p_adjusted: float
    dof: float = float("nan")
    theta: float | None = None
    variance_reduction: float | None = None
    se: float = float("nan")
    absolute_adjusted: Interval | None = None
    relative_adjusted: Interval | None = None
    tests: int = 1
    mde: float | None = None
    plain: Comparison | None = None

    def significant(self, alpha: float) -> bool:
        return bool(self.p_adjusted < alpha)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for k, v in vars(self).items():
            out[k] = v.to_dict() if isinstance(v, Interval | Comparison) else v
        return out


def fixed_intervals(
    control: Statistic, treatment: Statistic, alpha: float = 0.05, relative: Literal["delta", "fieller"] = "delta", *, w: Welch | None = None
) -> tuple[Interval, Interval]:
    """The absolute (Welch) and relative (delta method or Fieller) ``1 - alpha`` intervals of one comparison."""
    w = welch(control, treatment) if w is None else w
    lo, hi = w.interval(alpha)
    rel, rel_se = relative_lift(control, treatment)
    if relative == "delta":
        width = float(stats.t.ppf(1 - alpha / 2, w.dof) * rel_se)
        rlo, rhi = float(rel) - width, float(rel) + width
    elif relative == "fieller":
        rlo, rhi = fieller_interval(control, treatment, alpha)
    else:
        raise ConfigError(f"relative must be 'delta' or 'fieller', got {relative!r}")
    level = 1 - alpha
    return Interval(float(w.estimate), float(lo), float(hi), level), Interval(float(rel), rlo, rhi, level)


def compare(
    control: Statistic,
    treatment: Statistic,
    *,
    metric: str,
    variant: str,
    control_name: str = "control",
    alpha: float = 0.05,
    relative: Literal["delta", "fieller"] = "delta",
) -> Comparison:
    """Welch's test and both lift intervals for one metric, one treatment against the control."""
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}")
    w = welch(control, treatment)
    absolute, rel = fixed_intervals(control, treatment, alpha, relative, w=w)
    return Comparison(
        metric, variant, control_name, "fixed", int(control.n), int(treatment.n),
        float(control.unadjusted_mean), float(treatment.unadjusted_mean), absolute, rel,
        float(w.p_value), float(w.p_value), float(w.dof), se=float(w.se),
    )  # fmt: skip


def corrected_alpha(alpha: float, p_value: float, p_adjusted: float) -> float:
    """The error rate at which a comparison's interval agrees with its adjusted p-value: ``alpha · p / p_adjusted``.

    A test inverts its interval: the ``1 - a`` interval excludes 0 exactly when ``p < a``; with
    ``a = alpha · p / p_adjusted`` that is exactly when ``p_adjusted < alpha``. ``alpha`` itself
    where nothing was corrected (``p_adjusted == p``) or the ratio is undefined (``p = 0``, NaN).
    """
    if not (math.isfinite(p_value) and math.isfinite(p_adjusted)) or p_value <= 0 or p_adjusted <= p_value:
        return alpha
    return alpha * p_value / p_adjusted


def minimum_detectable_effect(se: ArrayLike, dof: ArrayLike, alpha: float = 0.05, power: float = 0.8) -> ArrayLike:
    """The true difference a two-sided level-``alpha`` test with this ``se`` detects with probability ``power``.

    ``(t_{1-α/2} + t_{power}) · se`` (Welch–Satterthwaite ``dof``): the usual planning formula,
    read backwards from the standard error the test reached.
    """
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ConfigError(f"alpha and power must be in (0, 1), got alpha={alpha!r} power={power!r}")
    out = np.multiply(stats.t.ppf(1 - alpha / 2, dof) + stats.t.ppf(power, dof), se)
    return out if np.ndim(out) else float(out)


def adjust_p_values(p_values: np.ndarray | list[float], method: Correction = "holm") -> np.ndarray:
    """Adjusted p-values for a family of tests (reject where adjusted ``< alpha``).

    ``"holm"``: Holm's step-down, family-wise error rate. ``"bh"``: Benjamini–Hochberg step-up,
    false discovery rate (independent or positively dependent tests). ``"none"``: unchanged.
    NaNs stay NaN and do not count towards the family.
    """
    p = np.asarray(p_values, np.float64)
    out = p.copy()
    ok = np.isfinite(p)
    q = p[ok]
    m = q.size
    if m == 0 or method == "none":
        if method not in ("holm", "bh", "none"):
            raise ConfigError(f"correction must be 'holm', 'bh' or 'none', got {method!r}")
        return out
    order = np.argsort(q, kind="stable")
    ranked = q[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method == "bh":
        adj = np.minimum.accumulate((m / np.arange(m, 0, -1)) * ranked[::-1])[::-1]
    else:
        raise ConfigError(f"correction must be 'holm', 'bh' or 'none', got {method!r}")
    result = np.empty(m)
    result[order] = np.minimum(adj, 1.0)
    out[ok] = result
    return out
