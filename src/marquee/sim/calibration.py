"""Does the simulated world look like the real data? Popularity and activity, side by side.

Popularity is compared as each title's share of plays (worlds and real logs differ in size),
activity as plays per member. For each: the Gini coefficient, quantiles, and the two-sample
Kolmogorov-Smirnov distance between the real and simulated distributions; for popularity also
Spearman's rank correlation of the same titles' counts (the world keeps title identities).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from marquee.data.interactions import Interactions
from marquee.errors import DataError

__all__ = ["Calibration", "calibrate", "gini"]


def gini(x: np.ndarray) -> float:
    """Gini coefficient of non-negative values: 0 when all are equal, towards 1 when one holds all."""
    v = np.sort(np.asarray(x, np.float64))
    n = v.size
    if n == 0 or v.sum() == 0:
        return 0.0
    return float((2 * np.arange(1, n + 1) - n - 1) @ v / (n * v.sum()))


def _top_share(counts: np.ndarray, fraction: float = 0.1) -> float:
    v = np.sort(counts)[::-1]
    return float(v[: max(1, round(fraction * v.size))].sum() / max(v.sum(), 1))


@dataclass(frozen=True)
class Calibration:
    """Real vs simulated figures; ``rows`` are ``(quantity, real, simulated)``, distances separate.

    Attributes:
        popularity_ks: KS distance between real and simulated per-title play shares.
        activity_ks: KS distance between real and simulated plays per member.
        popularity_spearman: rank correlation of each title's real and simulated counts.
    """

    rows: tuple[tuple[str, float, float], ...]
    popularity_ks: float
    activity_ks: float
    popularity_spearman: float

    def value(self, quantity: str) -> tuple[float, float]:
        """``(real, simulated)`` of one row by name, e.g. ``"popularity gini"``."""
        for name, real, sim in self.rows:
            if name == quantity:
                return real, sim
        raise KeyError(f"no calibration row {quantity!r}; rows are {[r[0] for r in self.rows]}")

    def to_dict(self) -> dict[str, object]:
        return {
            "rows": [{"quantity": n, "real": r, "simulated": s} for n, r, s in self.rows],
            "popularity_ks": self.popularity_ks,
            "activity_ks": self.activity_ks,
            "popularity_spearman": self.popularity_spearman,
        }

    def to_text(self) -> str:
        lines = [f"{'quantity':<28}{'real':>12}{'simulated':>12}"]
        lines += [f"{n:<28}{r:>12.4g}{s:>12.4g}" for n, r, s in self.rows]
        lines.append(f"KS distance, title shares   {self.popularity_ks:.4f}")
        lines.append(f"KS distance, member activity {self.activity_ks:.4f}")
        lines.append(f"Spearman, title counts      {self.popularity_spearman:.4f}")
        return "\n".join(lines)


def _counts(log: Interactions) -> tuple[np.ndarray, np.ndarray]:
    titles = np.bincount(log.title_idx, minlength=log.n_titles)
    members = np.bincount(log.member_idx, minlength=log.n_members)
    return titles, members[members > 0]


def calibrate(real: Interactions | tuple[np.ndarray, np.ndarray], simulated: Interactions) -> Calibration:
    """Compare a simulated log with the real one.

    Args:
        real: the real log, or its ``(title_counts, member_activity)`` (a fitted world keeps
            them as ``real_counts_`` and ``real_activity_``). Title counts must be over the same
            catalog as ``simulated``.
        simulated: a log from :meth:`marquee.sim.World.log`.
    """
    rt, ra = _counts(real) if isinstance(real, Interactions) else (np.asarray(real[0]), np.asarray(real[1]))
    st, sa = _counts(simulated)
    if rt.size != st.size:
        raise DataError(
            f"the real log has {rt.size} titles and the simulated one {st.size}; compare logs over the same catalog"
        )
    rs, ss = rt / rt.sum(), st / st.sum()
    rows = [
        ("popularity gini", gini(rt), gini(st)),
        ("top 10% titles' share", _top_share(rt), _top_share(st)),
        ("title share median (1e-4)", 1e4 * float(np.median(rs)), 1e4 * float(np.median(ss))),
        ("title share p90 (1e-4)", 1e4 * float(np.quantile(rs, 0.9)), 1e4 * float(np.quantile(ss, 0.9))),
        ("title share max (1e-4)", 1e4 * float(rs.max()), 1e4 * float(ss.max())),
        ("activity gini", gini(ra), gini(sa)),
        ("activity median", float(np.median(ra)), float(np.median(sa))),
        ("activity p90", float(np.quantile(ra, 0.9)), float(np.quantile(sa, 0.9))),
        ("activity mean", float(ra.mean()), float(sa.mean())),
    ]
    return Calibration(
        tuple(rows),
        float(stats.ks_2samp(rs, ss).statistic),
        float(stats.ks_2samp(ra, sa).statistic),
        float(stats.spearmanr(rt, st).statistic),
    )
