"""Per-member confidence bands on the probability of leaving within a horizon.

lifelines has been asked for these since 2016 (issues #237, #344); the survival libraries give a band for the
population's curve, not for one member's prediction. Two ways, both measured against the simulated world's truth
(``bench/retention.py``):

- ``"posterior"`` (:class:`DiscreteHazard` only): draw the coefficients from ``N(theta_hat, H^-1)``, the GAM's
  Bayesian posterior (Wood 2006; Marra & Wood 2012 show its intervals keep close to nominal frequentist
  coverage), and take each member's percentile interval of the churn probability over the draws. Cheap: a
  million members in seconds.
- ``"bootstrap"`` (any model): refit on ``n_draws`` resamples of the members (Efron & Tibshirani 1993) and take
  percentiles. A :class:`DiscreteHazard` refits from the full fit's coefficients on multinomial weights; other
  models refit from scratch, so this is slow for them.

The point estimate is the model fitted on all the data; the band is the draws' percentile interval at ``level``.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

import numpy as np
import pyarrow as pa
from scipy.special import log_expit

from marquee._validate import Configured, ints, level, require
from marquee.errors import ConfigError, NotFittedError
from marquee.random import as_generator
from marquee.retention.hazard import DiscreteHazard, bootstrap_weights
from marquee.retention.survival import SurvivalModel, _start
from marquee.retention.table import SurvivalTable

__all__ = ["ChurnBands", "ChurnScores"]

_CHUNK = 65_536


@dataclass(frozen=True)
class ChurnScores:
    """Each member's probability of leaving within ``horizon`` periods, with a band at ``level``.

    Attributes:
        probability: (n,) point estimate; low / high: (n,) the band's ends.
    """

    probability: np.ndarray
    low: np.ndarray
    high: np.ndarray
    horizon: float
    level: float
    method: str

    def __len__(self) -> int:
        return int(self.probability.size)

    def covers(self, truth: np.ndarray) -> np.ndarray:
        """(n,) bool: the band holds the true probability."""
        return (self.low <= truth) & (truth <= self.high)


@dataclass(frozen=True)
class ChurnBandsConfig:
    """Hyperparameters of :class:`ChurnBands`.

    method: ``"posterior"`` (DiscreteHazard only) or ``"bootstrap"``.
    n_draws: posterior draws or bootstrap refits.
    level: the band's nominal coverage.
    seed: seeds the draws.
    """

    method: Literal["posterior", "bootstrap"] = "posterior"
    n_draws: int = 200
    level: float = 0.9
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.method in ("posterior", "bootstrap"), "ChurnBandsConfig", "method", "'posterior' or 'bootstrap'",
                self.method)  # fmt: skip
        ints(self, "n_draws", minimum=2)
        level(self)
        ints(self, "seed", minimum=0)


class ChurnBands(Configured):
    """A churn model with per-member bands: ``ChurnBands(DiscreteHazard()).fit(table).score(members, horizon=3)``."""

    Config = ChurnBandsConfig

    def __init__(self, model: SurvivalModel, config: ChurnBandsConfig | None = None, /, **params: object) -> None:
        super().__init__(config, **params)
        if not isinstance(model, SurvivalModel):
            raise ConfigError(f"ChurnBands takes a churn model (e.g. DiscreteHazard()), got {type(model).__name__}")
        if self.config.method == "posterior" and not isinstance(model, DiscreteHazard):
            raise ConfigError(f"method='posterior' needs a DiscreteHazard (it draws from its posterior); "
                              f"use method='bootstrap' for {type(model).__name__}")  # fmt: skip
        self.model = model

    def fit(self, data: SurvivalTable) -> Self:
        c = self.config
        self.model.fit(data)
        rng = as_generator(c.seed)
        if isinstance(self.model, DiscreteHazard):
            if c.method == "posterior":
                chol = np.linalg.cholesky(self.model.covariance_)
                self.draws_ = self.model.coef_ + rng.standard_normal((c.n_draws, self.model.coef_.size)) @ chol.T
            else:
                weights = bootstrap_weights(len(data), c.n_draws, rng)
                fits = []
                for w in weights:
                    # The refit learns its basis and categories from the same rows, so its coefficients line up.
                    fits.append(copy.deepcopy(self.model).fit(data, weights=w, init=self.model.coef_).coef_)
                self.draws_ = np.stack(fits)
        else:
            self.replicas_ = []
            for _ in range(c.n_draws):
                rows = rng.integers(0, len(data), len(data))
                self.replicas_.append(copy.deepcopy(self.model).fit(data.take(rows)))
        return self

    def save(self, directory: str | os.PathLike[str], *, metadata: dict[str, object] | None = None) -> Path:
        """Write the model and its coefficient draws (safetensors + manifest); only :class:`DiscreteHazard` bands."""
        if not hasattr(self, "draws_") or not isinstance(self.model, DiscreteHazard):
            raise ConfigError("only fitted DiscreteHazard bands can be saved; fit ChurnBands(DiscreteHazard()) first")
        meta = {"bands": dataclasses.asdict(self.config), **(metadata or {})}
        return self.model.save(directory, extra={"draws": self.draws_}, metadata=meta)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> tuple[ChurnBands, dict[str, object]]:
        """Saved bands and the manifest's metadata (checksums verified; a damaged artifact is refused)."""
        from marquee.errors import ArtifactError

        model, meta, arrays = DiscreteHazard.load(directory)
        if "draws" not in arrays or "bands" not in meta:
            raise ArtifactError(f"{directory} holds a churn model without bands; save it with ChurnBands.save")
        bands = cls(model, ChurnBandsConfig(**meta["bands"]))  # type: ignore[arg-type]
        if arrays["draws"].ndim != 2 or arrays["draws"].shape[1] != model.coef_.size:
            raise ArtifactError(f"{directory}: the draws do not match the model's coefficients; re-save the model")
        bands.draws_ = arrays["draws"]
        return bands, meta

    def score(
        self, data: SurvivalTable | pa.Table, horizon: int, *, start: float | np.ndarray | None = None
    ) -> ChurnScores:
        """Each member's probability of leaving within ``horizon`` periods after ``start`` (default: their tenure)."""
        if not (hasattr(self, "draws_") or hasattr(self, "replicas_")):
            raise NotFittedError("ChurnBands is not fitted; call fit(table) first")
        if not horizon > 0:
            raise ConfigError(f"horizon must be > 0 periods, got {horizon!r}")
        alpha = (1 - self.config.level) / 2
        point = self.model.churn_probability(data, horizon, start=start)
        if hasattr(self, "draws_"):
            low, high = _hazard_bands(self.model, self.draws_, data, horizon, _start(data, start), alpha)
        else:
            sims = np.stack([m.churn_probability(data, horizon, start=start) for m in self.replicas_], axis=1)
            low, high = np.quantile(sims, [alpha, 1 - alpha], axis=1)
        # The band always holds the point estimate (with few draws a percentile interval need not).
        low, high = np.minimum(low, point), np.maximum(high, point)
        return ChurnScores(point, low, high, float(horizon), self.config.level, self.config.method)


def _hazard_bands(
    model: DiscreteHazard, draws: np.ndarray, data: SurvivalTable | pa.Table, horizon: int, start: np.ndarray,
    alpha: float,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Percentile band over coefficient draws (B, T + q) of 1 - prod_{k=1..h} (1 - h_{s+k}), in member chunks."""
    z = model.design(data)
    t_cols, q, tb = model.n_periods_, z.shape[1], model.tenure_basis_
    base = draws[:, :t_cols]  # (B, T)
    slopes = draws[:, t_cols : t_cols + q].T  # (q, B)
    drift = draws[:, t_cols + q :].reshape(draws.shape[0], q, tb.shape[1])  # (B, q, K)
    n = z.shape[0]
    low, high = np.empty(n), np.empty(n)
    steps = int(np.ceil(horizon))
    s0 = np.floor(start + 1e-9).astype(np.int64)
    for a in range(0, n, _CHUNK):
        sl = slice(a, min(a + _CHUNK, n))
        eta = z[sl] @ slopes  # (m, B)
        zg = np.einsum("mq,bqk->mbk", z[sl], drift) if tb.shape[1] else None
        log_stay = np.zeros_like(eta)
        for k in range(1, steps + 1):
            col = np.minimum(s0[sl] + k, t_cols) - 1
            step = eta + base[:, col].T
            if zg is not None:
                step = step + np.einsum("mbk,mk->mb", zg, tb[col])
            log_stay += log_expit(-step)
        prob = -np.expm1(log_stay)
        low[sl], high[sl] = np.quantile(prob, [alpha, 1 - alpha], axis=1)
    return low, high
