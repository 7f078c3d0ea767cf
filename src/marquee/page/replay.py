"""Replay on logged impressions: a page policy's plays per page, estimated from pages another policy showed.

A page is a slate of rows, and exact-match replay (keep the sessions whose logged page equals the target's)
keeps almost none: ten rows have 10! orders. When the logging policy shows each page's rows in a uniformly
random order (:class:`~marquee.page.ShuffledTemplate`), the pseudo-inverse estimator for slates
(Swaminathan et al., "Off-policy evaluation for slate recommendation", NeurIPS 2017) reduces to a per-slot
count: with ``n`` rows on the page, row ``r`` sits at its target slot with probability ``1/n``, so

    V̂ = mean over sessions of  n · Σ_r 1[logged slot of r = target slot of r] · plays from row r

is unbiased for any target that orders the same rows, *when plays add up over (row, slot) pairs*: a
row's plays depend on the row and where it is, not on the rows around it. A page where rows compete for
one play (the world's logit, :mod:`marquee.sim.page`) breaks that; :func:`marquee.sim.page.run_page_study`
measures by how much against the world's truth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from marquee.errors import DataError
from marquee.page.model import Impressions

__all__ = ["ReplayEstimate", "slot_replay"]


@dataclass(frozen=True)
class ReplayEstimate:
    """Estimated plays per page with a normal interval over sessions.

    Attributes:
        value, low, high: the estimate and its interval.
        sessions: sessions used (every logged one: none is discarded).
        matched: share of (session, row) pairs whose logged slot is the target's.
    """

    value: float
    low: float
    high: float
    sessions: int
    matched: float


def slot_replay(impressions: Impressions, targets: Sequence[Mapping[str, int]], *, level: float = 0.95) -> ReplayEstimate:
    """Estimate a target page policy's plays per page from uniformly shuffled logged pages.

    Args:
        impressions: logged pages with ``row_keys`` and propensities ``1 / n!`` (``n`` rows on the page).
        targets: per session, the target's slot (0-based) of each row key it shows; a row the target
            leaves out adds nothing.
    Raises:
        DataError: the log has no row keys, a target is missing, or a page was not shuffled uniformly.
    """
    keys = impressions.row_keys
    if keys is None:
        raise DataError("slot_replay needs the logged pages' row keys (Impressions.row_keys)")
    n = len(impressions)
    if len(targets) != n:
        raise DataError(f"need one target per logged session: {len(targets)} targets for {n} sessions")
    cols = impressions.titles.shape[2]
    played_row = np.where(impressions.played >= 0, impressions.played // cols, -1)
    values = np.zeros(n)
    hits = total = 0
    for i in range(n):
        shown = [k for k in keys[i] if k]
        n_rows = len(shown)
        if n_rows == 0:
            continue
        if not math.isclose(impressions.propensity[i], 1.0 / math.factorial(n_rows), rel_tol=1e-9):
            raise DataError(f"page {i + 1} was not shown in a uniformly random row order (propensity {impressions.propensity[i]:.3g}, "
                            f"not 1/{n_rows}!); log with ShuffledTemplate", row=i + 1, column="propensity")  # fmt: skip
        target = targets[i]
        for slot, key in enumerate(shown):
            if target.get(key) == slot:
                hits += 1
                if played_row[i] == slot:
                    values[i] = n_rows
        total += n_rows
    z = float(norm.ppf(0.5 + level / 2))
    mean, se = float(values.mean()), float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    return ReplayEstimate(mean, mean - z * se, mean + z * se, n, hits / total if total else 0.0)
