"""Discrete-time hazards: the probability of leaving in each billing period, given the member is still here.

Subscriptions renew per period, so churn is naturally discrete (Allison 1982; Singer & Willett 1993): member ``i``
at risk in period ``t`` leaves with hazard ``h_t(x_i)`` and ``S(t | x) = prod_{u <= t} (1 - h_u(x))``. Each member
with duration ``d`` contributes ``ceil(d)`` person-periods, the last one an event if they left.

- :class:`DiscreteHazard`: ``logit h_t(x) = a_t + f(x)`` with a free baseline ``a_t`` per period and ``f`` additive:
  a cubic B-spline of each numeric covariate (knots at quantiles) plus one-hot text covariates, ridge-penalised.
  A generalised additive model fitted by Newton's method on the member x period grid. Written here rather than
  taken from scikit-learn because the bands need what scikit-learn's LogisticRegression does not expose: the
  penalised Hessian (the posterior covariance of Wood 2006 / Marra & Wood 2012) and cheap warm-started refits on
  bootstrap weights; the person-period design is never materialised (the Hessian is accumulated per member).
- :class:`BoostedHazard`: ``h_t(x)`` from scikit-learn's HistGradientBoostingClassifier on person-period rows with
  the period as a feature, so hazards may change shape with tenure and covariates may interact.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import pyarrow as pa
from scipy import linalg
from scipy.special import expit

from marquee._threads import one_thread
from marquee._validate import ints, non_negative, positive
from marquee.errors import DataError
from marquee.random import as_generator
from marquee.retention.survival import SurvivalModel
from marquee.retention.table import Covariates, SurvivalTable

__all__ = ["BoostedHazard", "DiscreteHazard", "person_periods"]


def person_periods(duration: np.ndarray, event: np.ndarray, n_periods: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, T) float64 person-periods at risk and events per member and period column.

    Period ``t`` (1-based) maps to column ``min(t, T) - 1``: periods past ``T`` pool into the last column. A member
    who left at duration 0 (before a whole period) left in period 1; one censored at 0 was never at risk.
    """
    d = np.ceil(np.asarray(duration, np.float64)).astype(np.int64)
    d = np.where((np.asarray(event) == 1) & (d == 0), 1, d)
    t = np.arange(1, n_periods + 1)
    at_risk = (d[:, None] >= t[None, :]).astype(np.float64)
    at_risk[:, -1] = np.maximum(d - (n_periods - 1), 0)
    events = np.zeros_like(at_risk)
    left = (np.asarray(event) == 1) & (d > 0)
    events[np.flatnonzero(left), np.minimum(d[left], n_periods) - 1] = 1.0
    return at_risk, events


class _Basis:
    """Additive basis of the design columns: a cubic B-spline (knots at quantiles, constant beyond the boundary
    knots, the last basis function dropped) per numeric column with enough distinct values, else standardised.

    Kept as plain knot vectors so a fitted model saves as arrays (scikit-learn's SplineTransformer builds the same
    basis but only pickles)."""

    def __init__(self, columns: list[dict[str, object]]) -> None:
        self.columns = columns

    @classmethod
    def learn(cls, x: np.ndarray, numeric: np.ndarray, knots: int) -> _Basis:
        cols: list[dict[str, object]] = []
        for j in range(x.shape[1]):
            col = x[:, j]
            if numeric[j] and knots >= 2 and np.unique(col).size > knots + 2:
                inner = np.quantile(col, np.linspace(0, 1, knots))
                lo, hi = inner[1] - inner[0], inner[-1] - inner[-2]
                full = np.concatenate([inner[0] - lo * np.arange(3, 0, -1), inner, inner[-1] + hi * np.arange(1, 4)])
                cols.append({"kind": "spline", "knots": full.tolist()})
            else:
                cols.append({"kind": "linear", "mean": float(col.mean()), "sd": float(col.std()) or 1.0})
        return cls(cols)

    def transform(self, x: np.ndarray) -> np.ndarray:
        from scipy.interpolate import BSpline

        parts = []
        for j, col in enumerate(self.columns):
            if col["kind"] == "spline":
                t = np.asarray(col["knots"])
                v = np.clip(x[:, j], t[3], t[-4])
                parts.append(BSpline.design_matrix(v, t, 3).toarray()[:, :-1])
            else:
                parts.append(((x[:, j] - col["mean"]) / col["sd"])[:, None])  # type: ignore[operator]
        return np.hstack(parts) if parts else np.zeros((x.shape[0], 0))


@dataclass(frozen=True)
class DiscreteHazardConfig:
    """Hyperparameters of :class:`DiscreteHazard`.

    knots: spline knots per numeric covariate (0 or 1: every covariate linear).
    varying: degree of the polynomial in log-tenure by which every covariate's effect may change with tenure
        (0: proportional odds, each covariate shifts every period's logit alike; 1: effects drift linearly in
        ``log t``; 2: quadratically). A month-to-month contract matters more early than late, for instance.
    ridge: L2 penalty on the covariate coefficients (and on their tenure drifts).
    smooth: penalty on the baseline's second differences ``sum_t (a_{t+1} - 2 a_t + a_{t-1})^2`` (a P-spline
        baseline, Eilers & Marx 1996): periods with few events borrow from their neighbours.
    max_periods: periods past this share the last baseline (``None``: the latest period such that the pooled tail
        from it on holds at least ``tail_events`` events, so the baseline that predictions past the data use is
        estimated from more than a handful of departures).
    tail_events: see ``max_periods``.
    max_iter / tol: Newton iterations and the stopping step size (max abs change of a coefficient).
    """

    knots: int = 5
    varying: int = 0
    ridge: float = 1.0
    smooth: float = 1.0
    max_periods: int | None = None
    tail_events: int = 100
    max_iter: int = 50
    tol: float = 1e-8

    def __post_init__(self) -> None:
        ints(self, "knots", "varying", "max_iter", "tail_events", minimum=0)
        non_negative(self, "ridge", "smooth")
        positive(self, "tol")
        if self.max_periods is not None:
            ints(self, "max_periods")


def _tenure_basis(n_periods: int, degree: int) -> np.ndarray:
    """(T, degree) powers of standardised log-tenure over periods 1..T (zero columns when T = 1)."""
    lt = np.log(np.arange(1, n_periods + 1, dtype=np.float64))
    sd = lt.std() or 1.0
    u = (lt - lt.mean()) / sd
    return np.stack([u**k for k in range(1, degree + 1)], axis=1) if degree else np.zeros((n_periods, 0))


class DiscreteHazard(SurvivalModel):
    """Additive logistic discrete-time hazard (a GAM), ``logit h_t(x) = a_t + f(x) + sum_k b_k(t) g_k(x)``.

    ``f`` and each ``g_k`` are additive in the covariates (splines of numeric ones, one-hot text ones); ``b_k`` are
    powers of log-tenure (``varying``; none by default). After ``fit``: ``coef_`` = ``[a (T), beta (q), gamma (q *
    K)]``, ``hessian_`` the penalised observed information and ``covariance_`` its inverse, the Bayesian posterior
    covariance whose intervals have close to nominal frequentist coverage for GAMs (Wood 2006; Marra & Wood 2012,
    Scand. J. Stat. 39:53-74).
    """

    Config = DiscreteHazardConfig

    def fit(self, data: SurvivalTable, *, weights: np.ndarray | None = None, init: np.ndarray | None = None) -> Self:
        """Fit on ``data``; ``weights`` (n,) are per-member frequency weights (bootstrap), ``init`` warm-starts."""
        c = self.config
        if len(data) == 0 or not (data.duration > 0).any():
            raise DataError("has no member observed for a period or more; nothing to fit", source=data.source)
        cov = data.learn_covariates()
        x = cov.encode(data.table, source=data.source)
        basis = _Basis.learn(x[data.duration > 0], cov.numeric, c.knots)
        z = basis.transform(x)
        n_periods = c.max_periods or _tail_start(data.duration, data.event, c.tail_events)
        at_risk, events = person_periods(data.duration, data.event, n_periods)
        w = np.ones(len(data)) if weights is None else np.asarray(weights, np.float64)
        tb = _tenure_basis(n_periods, c.varying)
        penalty = _penalty(n_periods, z.shape[1] * (1 + c.varying), c.ridge, c.smooth)
        theta, hess = _newton(z, tb, at_risk * w[:, None], events * w[:, None], penalty, init, c.max_iter, c.tol)
        self.covariates_, self.basis_ = cov, basis
        self.n_periods_ = n_periods
        self.tenure_basis_ = tb
        self.coef_ = theta
        self.hessian_ = hess
        self.max_time_ = float(n_periods)
        return self

    @property
    def covariance_(self) -> np.ndarray:
        return linalg.inv(self.hessian_)

    def design(self, data: SurvivalTable | pa.Table) -> np.ndarray:
        """(n, q) the covariate basis of each member (the hazard's non-baseline inputs)."""
        self._check_fitted()
        table = data.table if isinstance(data, SurvivalTable) else data
        src = data.source if isinstance(data, SurvivalTable) else "<table>"
        return self.basis_.transform(self.covariates_.encode(table, source=src))

    def hazards(self, z: np.ndarray, coef: np.ndarray | None = None) -> np.ndarray:
        """(n, T) hazard per period column for basis rows ``z`` under ``coef`` (default: the fitted one)."""
        return expit(_eta(self.coef_ if coef is None else coef, z, self.tenure_basis_))

    def _survival_at(self, table: pa.Table, times: np.ndarray, source: str) -> np.ndarray:
        z = self.basis_.transform(self.covariates_.encode(table, source=source))
        return _survival_from_hazards(self.hazards(z), times)

    # ---- artifacts -----------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str], *, extra: dict[str, np.ndarray] | None = None,
             metadata: dict[str, object] | None = None) -> Path:  # fmt: skip
        """Write the fitted model as safetensors + a JSON manifest (:mod:`marquee.artifacts`); never pickle."""
        from marquee.artifacts import write_artifact

        self._check_fitted()
        arrays = {"coef": self.coef_, "hessian": self.hessian_, **(extra or {})}
        meta = {
            "class": "marquee.retention.DiscreteHazard", "config": dataclasses.asdict(self.config),
            "covariates": self.covariates_.to_dict(), "basis": self.basis_.columns, "n_periods": self.n_periods_,
            **(metadata or {}),
        }  # fmt: skip
        return write_artifact(directory, arrays, meta)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> tuple[DiscreteHazard, dict[str, object], dict[str, np.ndarray]]:
        """A saved model, the manifest's metadata and its arrays (the checksum is verified first)."""
        from marquee.artifacts import read_artifact
        from marquee.errors import ArtifactError

        meta, arrays = read_artifact(directory)
        if meta.get("class") != "marquee.retention.DiscreteHazard":
            raise ArtifactError(f"{directory} holds a {meta.get('class')!r}, not a DiscreteHazard churn model")
        model = cls(DiscreteHazardConfig(**meta["config"]))
        model.covariates_ = Covariates.from_dict(meta["covariates"])
        model.basis_ = _Basis(list(meta["basis"]))
        model.n_periods_ = int(meta["n_periods"])
        model.tenure_basis_ = _tenure_basis(model.n_periods_, model.config.varying)
        model.coef_, model.hessian_ = arrays["coef"], arrays["hessian"]
        model.max_time_ = float(model.n_periods_)
        expected = model.n_periods_ + model.basis_.transform(np.zeros((1, len(model.covariates_.names)))).shape[1] * (
            1 + model.config.varying
        )
        if model.coef_.shape != (expected,) or model.hessian_.shape != (expected, expected):
            raise ArtifactError(f"{directory}: coefficient arrays do not match the manifest's basis; re-save the model")
        return model, meta, arrays


def _eta(theta: np.ndarray, z: np.ndarray, tb: np.ndarray) -> np.ndarray:
    """(n, T) linear predictor ``a_t + z beta + (z Gamma) tb_t``."""
    n_periods, q = tb.shape[0], z.shape[1]
    eta = theta[None, :n_periods] + (z @ theta[n_periods : n_periods + q])[:, None]
    if tb.shape[1]:
        gamma = theta[n_periods + q :].reshape(q, tb.shape[1])
        eta = eta + (z @ gamma) @ tb.T
    return eta


def _tail_start(duration: np.ndarray, event: np.ndarray, tail_events: int) -> int:
    """The latest period from which on at least ``tail_events`` events happen (at least 1)."""
    d = np.ceil(duration[event == 1]).astype(np.int64)
    longest = int(np.ceil(duration.max()))
    if d.size == 0:
        return max(longest, 1)
    from_on = np.cumsum(np.bincount(d, minlength=longest + 1)[::-1])[::-1]  # events at periods >= t
    ok = np.flatnonzero(from_on[1:] >= tail_events) + 1
    return int(ok.max()) if ok.size else 1


def _survival_from_hazards(h: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(n, m) S at ``times`` (n, m) from per-period hazards (n, T); periods past T repeat the last hazard."""
    t_cols = h.shape[1]
    log_s = np.cumsum(np.log1p(-np.minimum(h, 1 - 1e-15)), axis=1)
    whole = np.floor(times + 1e-9).astype(np.int64)
    inside = np.minimum(whole, t_cols)
    rows = np.arange(h.shape[0])[:, None]
    base = np.where(inside > 0, log_s[rows, np.maximum(inside - 1, 0)], 0.0)
    extra = np.maximum(whole - t_cols, 0) * np.log1p(-np.minimum(h[:, -1:], 1 - 1e-15))
    return np.exp(base + extra)


def _penalty(n_periods: int, q: int, ridge: float, smooth: float) -> np.ndarray:
    """(T + q, T + q) penalty matrix: second differences of the baseline, ridge on the covariates."""
    pen = np.diag(np.concatenate([np.full(n_periods, 1e-4), np.full(q, ridge)]))
    if n_periods >= 3 and smooth > 0:
        d2 = np.diff(np.eye(n_periods), n=2, axis=0)
        pen[:n_periods, :n_periods] += smooth * d2.T @ d2
    return pen


def _newton(
    z: np.ndarray, tb: np.ndarray, at_risk: np.ndarray, events: np.ndarray, penalty: np.ndarray,
    init: np.ndarray | None, max_iter: int, tol: float,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Penalised Newton-Raphson for the binomial person-period likelihood; returns (theta, penalised Hessian)."""
    n_periods = at_risk.shape[1]
    theta = np.zeros(penalty.shape[0]) if init is None else init.copy()
    if init is None:
        rate = (events.sum(axis=0) + 0.5) / (at_risk.sum(axis=0) + 1.0)
        theta[:n_periods] = np.log(rate / (1 - rate))
    prev = _objective(theta, z, tb, at_risk, events, penalty)
    for _ in range(max_iter):
        p = expit(_eta(theta, z, tb))
        grad = _gradient(z, tb, events - at_risk * p) - penalty @ theta
        step = linalg.solve(_hessian(z, tb, at_risk * p * (1 - p), penalty), grad, assume_a="pos")
        # Step halving keeps each iteration an ascent step (the likelihood is concave, so this rarely triggers).
        scale = 1.0
        while True:
            cand = theta + scale * step
            obj = _objective(cand, z, tb, at_risk, events, penalty)
            if obj >= prev - 1e-12 or scale < 1e-6:
                break
            scale /= 2
        theta, prev = cand, obj
        if np.max(np.abs(scale * step)) < tol:
            break
    p = expit(_eta(theta, z, tb))
    return theta, _hessian(z, tb, at_risk * p * (1 - p), penalty)


def _gradient(z: np.ndarray, tb: np.ndarray, resid: np.ndarray) -> np.ndarray:
    parts = [resid.sum(axis=0), z.T @ resid.sum(axis=1)]
    if tb.shape[1]:
        parts.append((z.T @ (resid @ tb)).ravel())
    return np.concatenate(parts)


def _hessian(z: np.ndarray, tb: np.ndarray, w: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """Penalised observed information, accumulated per member: the person-period design is never built."""
    n_periods, q, k = w.shape[1], z.shape[1], tb.shape[1]
    hpp = np.diag(w.sum(axis=0))
    hpx = w.T @ z
    hxx = (z * w.sum(axis=1)[:, None]).T @ z
    if not k:
        return np.block([[hpp, hpx], [hpx.T, hxx]]) + penalty
    hpg = (hpx[:, :, None] * tb[:, None, :]).reshape(n_periods, q * k)
    wb = w @ tb  # (n, K)
    hxg = np.einsum("mi,mj,mk->ijk", z, z, wb, optimize=True).reshape(q, q * k)
    hgg = np.zeros((q, k, q, k))
    for a in range(k):
        for b in range(a, k):
            block = (z * (w @ (tb[:, a] * tb[:, b]))[:, None]).T @ z
            hgg[:, a, :, b] = block
            hgg[:, b, :, a] = block
    hgg = hgg.reshape(q * k, q * k)
    return np.block([[hpp, hpx, hpg], [hpx.T, hxx, hxg], [hpg.T, hxg.T, hgg]]) + penalty


def _objective(theta: np.ndarray, z: np.ndarray, tb: np.ndarray, at_risk: np.ndarray, events: np.ndarray,
               penalty: np.ndarray) -> float:  # fmt: skip
    eta = _eta(theta, z, tb)
    loglik = events * eta - at_risk * np.logaddexp(0.0, eta)
    return float(loglik.sum() - 0.5 * theta @ penalty @ theta)


@dataclass(frozen=True)
class BoostedHazardConfig:
    """Hyperparameters of :class:`BoostedHazard` (scikit-learn's HistGradientBoostingClassifier).

    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization: the booster's; early stopping
    on 10% of the person-period rows.
    max_periods: periods past this are fed to the trees as this period.
    seed: the booster's random state.
    """

    max_iter: int = 300
    learning_rate: float = 0.05
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 100
    l2_regularization: float = 1.0
    max_periods: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        ints(self, "max_iter", "max_leaf_nodes", "min_samples_leaf")
        positive(self, "learning_rate")
        non_negative(self, "l2_regularization")
        ints(self, "seed", minimum=0)
        if self.max_periods is not None:
            ints(self, "max_periods")


class BoostedHazard(SurvivalModel):
    """Gradient-boosted discrete-time hazard: ``h_t(x) = GBDT(t, x)`` on person-period rows.

    Text covariates enter the trees as categorical features (scikit-learn's native categorical splits).
    """

    Config = BoostedHazardConfig

    def fit(self, data: SurvivalTable) -> Self:
        from sklearn.ensemble import HistGradientBoostingClassifier

        c = self.config
        cov = data.learn_covariates()
        x = self._features(cov, data.table, data.source)
        n_periods = c.max_periods or int(np.ceil(data.duration.max(initial=1)))
        d = np.ceil(data.duration).astype(np.int64)
        d = np.where((data.event == 1) & (d == 0), 1, d)  # left before a whole period: in period 1
        member = np.repeat(np.arange(len(data)), d)
        period = np.arange(member.size) - np.repeat(np.cumsum(d) - d, d) + 1
        y = ((period == d[member]) & (data.event[member] == 1)).astype(np.int8)
        if y.sum() == 0 or y.sum() == y.size:
            raise DataError("needs both members who left and members who stayed to fit a hazard", source=data.source)
        rows = np.column_stack([np.minimum(period, n_periods), x[member]])
        with one_thread():
            self.model_ = HistGradientBoostingClassifier(
                max_iter=c.max_iter, learning_rate=c.learning_rate, max_leaf_nodes=c.max_leaf_nodes,
                min_samples_leaf=c.min_samples_leaf, l2_regularization=c.l2_regularization, early_stopping=True,
                validation_fraction=0.1, n_iter_no_change=20, random_state=c.seed,
                categorical_features=self._categorical_mask(cov),
            ).fit(rows, y)  # fmt: skip
        self.covariates_ = cov
        self.n_periods_ = n_periods
        self.max_time_ = float(n_periods)
        return self

    @staticmethod
    def _categorical_mask(cov: Covariates) -> np.ndarray:
        return np.asarray([False] + [cats is not None for cats in cov.categories], bool)

    @staticmethod
    def _features(cov: Covariates, table: pa.Table, source: str) -> np.ndarray:
        """(n, columns) covariates with text columns as category codes (the trees split on them natively)."""
        x = cov.encode(table, source=source)  # checks every column, value and category
        out = np.empty((table.num_rows, len(cov.columns)))
        pos = 0
        for j, cats in enumerate(cov.categories):
            if cats is None:
                out[:, j] = x[:, pos]
                pos += 1
            else:
                block = x[:, pos : pos + len(cats) - 1]
                out[:, j] = np.where(block.any(axis=1), block.argmax(axis=1) + 1, 0)
                pos += len(cats) - 1
        return out

    def hazards(self, table: pa.Table, source: str = "<table>") -> np.ndarray:
        """(n, T) hazard per period."""
        self._check_fitted()
        x = self._features(self.covariates_, table, source)
        n, t = x.shape[0], self.n_periods_
        out = np.empty((n, t))
        chunk = max(1, 2_000_000 // t)
        with one_thread():
            for s in range(0, n, chunk):
                xs = x[s : s + chunk]
                rows = np.column_stack([np.tile(np.arange(1, t + 1), xs.shape[0]), np.repeat(xs, t, axis=0)])
                out[s : s + chunk] = self.model_.predict_proba(rows)[:, 1].reshape(xs.shape[0], t)
        return out

    def _survival_at(self, table: pa.Table, times: np.ndarray, source: str) -> np.ndarray:
        return _survival_from_hazards(self.hazards(table, source), times)


def bootstrap_weights(n: int, n_bootstrap: int, seed: object) -> np.ndarray:
    """(B, n) multinomial resampling counts of ``n`` members (the nonparametric bootstrap as frequency weights)."""
    rng = as_generator(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap).astype(np.float64)
