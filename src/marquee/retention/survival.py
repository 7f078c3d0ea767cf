"""Churn models behind one API: ``fit(table) -> self``, then survival curves, churn probabilities and risk.

Every model answers the same questions about a member with covariates ``x`` observed for ``s`` periods:

- ``survival(data, times)``: ``S(t | x)``, the probability of still being subscribed after ``t`` periods;
- ``churn_probability(data, horizon)``: ``P(T <= s + h | T > s, x) = 1 - S(s + h | x) / S(s | x)``, leaving within
  the next ``h`` periods given the member is here now (``s`` = the table's durations by default: the members'
  current tenure);
- ``risk(data)``: a score that orders members by how soon they leave (for concordance).

:class:`KaplanMeier` and :class:`CoxPH` are lifelines' estimators (Kaplan & Meier 1958; Cox 1972) behind this API;
the discrete-time hazards live in :mod:`marquee.retention.hazard`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
import pyarrow as pa

from marquee._validate import Configured, non_negative, require
from marquee.errors import ConfigError, NotFittedError
from marquee.retention.table import Covariates, SurvivalTable

__all__ = ["CoxPH", "KaplanMeier", "SurvivalModel", "as_table"]


def as_table(data: SurvivalTable | pa.Table) -> pa.Table:
    return data.table if isinstance(data, SurvivalTable) else data


def _start(data: SurvivalTable | pa.Table, start: float | np.ndarray | None) -> np.ndarray:
    n = len(data) if isinstance(data, SurvivalTable) else data.num_rows
    if start is None:
        return data.duration.copy() if isinstance(data, SurvivalTable) else np.zeros(n)
    out = np.broadcast_to(np.asarray(start, np.float64), (n,)).copy()
    if not np.isfinite(out).all() or (out < 0).any():
        raise ConfigError("start must be finite tenures >= 0 (periods the members have been subscribed)")
    return out


class SurvivalModel(Configured):
    """Base of the churn models: subclasses implement ``fit``, ``_survival_at`` and may override ``risk``."""

    covariates_: Covariates

    def fit(self, data: SurvivalTable) -> Self:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "covariates_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(table) first")

    def _survival_at(self, table: pa.Table, times: np.ndarray, source: str) -> np.ndarray:  # pragma: no cover
        """(n, m) S(times[j] | x_i); ``times`` may differ per row when 2-D (n, m)."""
        raise NotImplementedError

    def survival(self, data: SurvivalTable | pa.Table, times: np.ndarray) -> np.ndarray:
        """(n, m) probability that each member is still subscribed after each of ``times`` periods (from sign-up)."""
        self._check_fitted()
        times = np.asarray(times, np.float64)
        if times.ndim != 1 or not np.isfinite(times).all() or (times < 0).any():
            raise ConfigError("times must be a 1-D array of finite periods >= 0")
        src = data.source if isinstance(data, SurvivalTable) else "<table>"
        return self._survival_at(as_table(data), np.broadcast_to(times, (_rows(data), times.size)), src)

    def churn_probability(
        self, data: SurvivalTable | pa.Table, horizon: float, *, start: float | np.ndarray | None = None
    ) -> np.ndarray:
        """(n,) probability of leaving within ``horizon`` periods after ``start`` (default: current tenure)."""
        self._check_fitted()
        if not horizon > 0:
            raise ConfigError(f"horizon must be > 0 periods, got {horizon!r}")
        s = _start(data, start)
        src = data.source if isinstance(data, SurvivalTable) else "<table>"
        surv = self._survival_at(as_table(data), np.stack([s, s + horizon], axis=1), src)
        return np.clip(1.0 - surv[:, 1] / np.maximum(surv[:, 0], 1e-300), 0.0, 1.0)

    def risk(self, data: SurvivalTable | pa.Table) -> np.ndarray:
        """(n,) higher = leaves sooner: minus the restricted mean survival time up to the longest fitted period."""
        self._check_fitted()
        grid = np.arange(1, int(self.max_time_) + 1, dtype=np.float64)
        return -self.survival(data, grid).sum(axis=1)

    max_time_: float


def _rows(data: SurvivalTable | pa.Table) -> int:
    return len(data) if isinstance(data, SurvivalTable) else data.num_rows


def _step(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Right-continuous step function through (times, values), 1 before the first time."""
    idx = np.searchsorted(times, at, side="right") - 1
    return np.where(idx >= 0, values[np.maximum(idx, 0)], 1.0)


@dataclass(frozen=True)
class KaplanMeierConfig:
    """Hyperparameters of :class:`KaplanMeier`.

    segment: a text covariate to fit one curve per value of (``None``: one curve for everyone).
    """

    segment: str | None = None


class KaplanMeier(SurvivalModel):
    """Kaplan-Meier survival curves, one per segment (lifelines' ``KaplanMeierFitter``; Kaplan & Meier 1958).

    The covariate-free baseline: every member of a segment gets the segment's curve.
    """

    Config = KaplanMeierConfig

    def fit(self, data: SurvivalTable) -> Self:
        from lifelines import KaplanMeierFitter

        seg = self.config.segment
        cov = Covariates.learn(data.table, [] if seg is None else [seg], source=data.source)
        if seg is not None and cov.categories[0] is None:
            raise ConfigError(f"KaplanMeier.segment {seg!r} must be a text column (one curve per value)")
        values = (
            np.zeros(len(data), dtype=object) if seg is None
            else np.asarray(data.table.column(seg).cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
        )  # fmt: skip
        self.segments_ = ("<all>",) if seg is None else cov.categories[0]
        self.curves_: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.bands_: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in self.segments_:
            rows = values == (0 if seg is None else name)
            kmf = KaplanMeierFitter().fit(data.duration[rows], data.event[rows])
            t = kmf.survival_function_.index.to_numpy(np.float64)
            self.curves_[name] = (t, kmf.survival_function_.to_numpy()[:, 0])
            ci = kmf.confidence_interval_survival_function_.to_numpy()
            self.bands_[name] = (ci[:, 0], ci[:, 1])
        self.covariates_ = cov
        self.max_time_ = float(data.duration.max(initial=1.0))
        return self

    def _survival_at(self, table: pa.Table, times: np.ndarray, source: str) -> np.ndarray:
        seg = self.config.segment
        out = np.empty(times.shape)
        if seg is None:
            t, s = self.curves_["<all>"]
            return _step(t, s, times)
        self.covariates_.encode(table, source=source)  # the segment column is present and its values known
        values = np.asarray(table.column(seg).cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
        for name in self.segments_:
            rows = values == name
            t, s = self.curves_[name]
            out[rows] = _step(t, s, times[rows])
        return out


@dataclass(frozen=True)
class CoxPHConfig:
    """Hyperparameters of :class:`CoxPH`.

    penalizer: lifelines' ``penalizer`` (L2 on the coefficients, scaled by the number of rows), > 0 keeps one-hot
        and collinear covariates (e.g. monthly and total charges) estimable.
    """

    penalizer: float = 0.01

    def __post_init__(self) -> None:
        non_negative(self, "penalizer")


class CoxPH(SurvivalModel):
    """Cox proportional hazards (Cox 1972), fitted by lifelines' ``CoxPHFitter`` (Breslow baseline).

    ``h(t | x) = h0(t) exp(x'b)``; numeric covariates are used as given, text covariates one-hot.
    """

    Config = CoxPHConfig

    def fit(self, data: SurvivalTable) -> Self:
        import pandas as pd
        from lifelines import CoxPHFitter
        from lifelines.exceptions import ConvergenceError

        cov = data.learn_covariates()
        require(len(cov.names) > 0, "CoxPH", "covariates", "at least one covariate", cov.columns)
        x = cov.encode(data.table, source=data.source)
        keep = x.std(axis=0) > 0
        self.keep_ = keep
        frame = pd.DataFrame(x[:, keep], columns=[f"x{j}" for j in range(int(keep.sum()))])
        frame["_duration"] = np.maximum(data.duration, 1e-9)
        frame["_event"] = data.event.astype(np.int64)
        try:
            self.model_ = CoxPHFitter(penalizer=self.config.penalizer).fit(frame, "_duration", "_event")
        except ConvergenceError as exc:
            raise ConfigError(f"CoxPH did not converge ({str(exc).splitlines()[0]}); raise penalizer") from None
        self.names_ = tuple(np.asarray(cov.names)[keep])
        self.coef_ = self.model_.params_.to_numpy()
        self.mean_ = self.model_._norm_mean.to_numpy()
        base = self.model_.baseline_cumulative_hazard_
        self.base_times_ = base.index.to_numpy(np.float64)
        self.base_cumhaz_ = base.to_numpy()[:, 0]
        self.covariates_ = cov
        self.max_time_ = float(data.duration.max(initial=1.0))
        return self

    def _linear(self, table: pa.Table, source: str) -> np.ndarray:
        x = self.covariates_.encode(table, source=source)[:, self.keep_]
        return (x - self.mean_) @ self.coef_

    def _survival_at(self, table: pa.Table, times: np.ndarray, source: str) -> np.ndarray:
        h0 = _step(self.base_times_, self.base_cumhaz_, times) if self.base_times_.size else np.zeros(times.shape)
        h0 = np.where(np.searchsorted(self.base_times_, times, side="right") > 0, h0, 0.0)
        return np.exp(-h0 * np.exp(self._linear(table, source))[:, None])

    def risk(self, data: SurvivalTable | pa.Table) -> np.ndarray:
        """(n,) the linear predictor ``x'b`` (the partial hazard's log)."""
        self._check_fitted()
        src = data.source if isinstance(data, SurvivalTable) else "<table>"
        return self._linear(as_table(data), src)
