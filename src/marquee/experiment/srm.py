"""Sample-ratio mismatch: do the arms hold the share of members the design promised?

A mismatch means members were lost or added unevenly (a buggy redirect, a crash in one arm, bots,
exposure logged after a treatment-dependent event), and then every metric comparison is suspect
whatever it says (Fabijan et al., "Diagnosing sample ratio mismatch in online controlled
experiments", KDD 2019). The check is Pearson's chi-square goodness-of-fit test of the observed
member counts against the configured weights; the usual threshold is p < 0.001 so that a healthy
experiment is flagged only once in a thousand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from marquee.errors import ConfigError

__all__ = ["SampleRatio", "sample_ratio_test"]


@dataclass(frozen=True)
class SampleRatio:
    """The chi-square test of observed arm sizes against the expected shares."""

    observed: dict[str, int]
    expected_share: dict[str, float]
    statistic: float
    p_value: float
    alpha: float

    @property
    def mismatch(self) -> bool:
        return bool(self.p_value < self.alpha)

    @property
    def observed_share(self) -> dict[str, float]:
        total = sum(self.observed.values())
        return {k: (v / total if total else float("nan")) for k, v in self.observed.items()}

    def describe(self) -> str:
        shares = ", ".join(f"{k} {self.observed_share[k]:.2%} (expected {self.expected_share[k]:.2%})" for k in self.observed)
        return f"{shares}; chi-square {self.statistic:.2f}, p = {self.p_value:.2g}"

    def to_dict(self) -> dict[str, object]:
        return {"observed": self.observed, "expected_share": self.expected_share, "statistic": self.statistic,
                "p_value": self.p_value, "alpha": self.alpha, "mismatch": self.mismatch}  # fmt: skip


def sample_ratio_test(observed: Mapping[str, int], weights: Mapping[str, float], *, alpha: float = 0.001) -> SampleRatio:
    """Chi-square test of ``observed`` member counts per variant against ``weights`` (relative shares).

    Matches ``scipy.stats.chisquare(observed, expected)``. Every variant in ``weights`` must be in
    ``observed`` (a variant with no members counts 0, which is itself a mismatch).
    """
    if not 0 < alpha < 1:
        raise ConfigError(f"srm alpha must be in (0, 1), got {alpha!r}")
    names = list(weights)
    extra = sorted(set(observed) - set(names))
    if extra:
        raise ConfigError(f"observed counts name variant {extra[0]!r}, which is not in the design {names}")
    if len(names) < 2 or any(w <= 0 for w in weights.values()):
        raise ConfigError(f"weights must give at least two variants positive weight, got {dict(weights)}")
    counts = np.array([observed.get(k, 0) for k in names], np.float64)
    w = np.array([weights[k] for k in names], np.float64)
    share = w / w.sum()
    total = counts.sum()
    if total == 0:
        statistic, p = 0.0, 1.0
    else:
        expected = share * total
        statistic = float(np.sum(np.square(counts - expected) / expected))
        p = float(stats.chi2.sf(statistic, len(names) - 1))
    return SampleRatio({k: int(c) for k, c in zip(names, counts, strict=True)}, {k: float(s) for k, s in zip(names, share, strict=True)}, statistic, p, alpha)
