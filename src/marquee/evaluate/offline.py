"""Offline evaluation of a fitted ranker on held-out targets: full ranking over every title."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np

from marquee.data.split import Holdout
from marquee.errors import ConfigError
from marquee.metrics import bootstrap_coverage, bootstrap_mean, paired_comparison
from marquee.metrics.intervals import Interval, PairedComparison
from marquee.metrics.ranking import coverage, hit_matrix, hit_rate, mrr, ndcg, recall
from marquee.random import SeedLike
from marquee.rank.base import Recommender

__all__ = ["DEFAULT_METRICS", "Evaluation", "evaluate", "parse_metric"]

#: The protocol's metrics, in leaderboard order.
DEFAULT_METRICS = ("ndcg@10", "hr@10", "hr@20", "mrr@10", "coverage@10")
_KINDS = {"ndcg", "hr", "mrr", "recall", "coverage"}
_PATTERN = re.compile(r"^([a-z]+)@(\d+)$")


def parse_metric(name: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``; raises :class:`ConfigError` for anything else."""
    m = _PATTERN.match(name.strip().lower())
    if not m or m.group(1) not in _KINDS or int(m.group(2)) < 1:
        raise ConfigError(f"unknown metric {name!r}; use one of {sorted(_KINDS)} followed by @k, e.g. 'ndcg@10'")
    return m.group(1), int(m.group(2))


@dataclass(frozen=True, eq=False)
class Evaluation:
    """A ranker's lists and per-member metric values on one holdout.

    Attributes:
        model: display name.
        member_idx: (n,) evaluated members (dense positions).
        topk: (n, k_max) recommended title positions, best first.
        per_member: metric name -> (n,) float64 (coverage is catalog-level and absent here).
        n_titles: catalog size.
        seconds: wall time to score and rank all evaluated members.
    """

    model: str
    member_idx: np.ndarray
    topk: np.ndarray
    per_member: dict[str, np.ndarray]
    metrics: tuple[str, ...]
    n_titles: int
    seconds: float
    _cache: dict = field(default_factory=dict, repr=False)

    def value(self, metric: str) -> float:
        kind, k = parse_metric(metric)
        if kind == "coverage":
            return coverage(self.topk, self.n_titles, k)
        return float(self.per_member[metric].mean())

    def interval(self, metric: str, *, n_bootstrap: int = 1000, level: float = 0.95, seed: SeedLike = 0) -> Interval:
        """The metric with its percentile-bootstrap interval over members."""
        key = (metric, n_bootstrap, level, seed if isinstance(seed, int) else id(seed))
        if key not in self._cache:
            kind, k = parse_metric(metric)
            if kind == "coverage":
                self._cache[key] = bootstrap_coverage(self.topk, self.n_titles, k, n_bootstrap=n_bootstrap, level=level, seed=seed)
            else:
                self._cache[key] = bootstrap_mean(self.per_member[metric], n_bootstrap=n_bootstrap, level=level, seed=seed)
        return self._cache[key]

    def summary(self, *, n_bootstrap: int = 1000, seed: SeedLike = 0) -> dict[str, Interval]:
        return {m: self.interval(m, n_bootstrap=n_bootstrap, seed=seed) for m in self.metrics}

    def compare(self, other: Evaluation, metric: str, *, n_bootstrap: int = 1000, seed: SeedLike = 0) -> PairedComparison:
        """This model minus ``other`` on the same members: paired bootstrap interval and tests."""
        if not np.array_equal(self.member_idx, other.member_idx):
            raise ConfigError("a paired comparison needs both evaluations on the same members (same split and stage)")
        if parse_metric(metric)[0] == "coverage":
            raise ConfigError("coverage is catalog-level and has no per-member values to pair; compare ndcg, hr, mrr or recall")
        return paired_comparison(self.per_member[metric], other.per_member[metric], metric=metric, n_bootstrap=n_bootstrap, seed=seed)


def evaluate(
    model: Recommender, holdout: Holdout, *, metrics: tuple[str, ...] = DEFAULT_METRICS, name: str | None = None
) -> Evaluation:
    """Rank every title for each held-out member, excluding what the model was fitted on, and
    score the lists.

    ``model`` must already be fitted on the fit data of the holdout's stage (see
    :meth:`marquee.data.Split.stage`): its seen titles are the exclusions.
    """
    parsed = [parse_metric(m) for m in metrics]
    k_max = max(k for _, k in parsed)
    start = time.perf_counter()
    topk, _ = model.recommend_index(holdout.member_idx, k_max, exclude_seen=True)
    seconds = time.perf_counter() - start
    hits = hit_matrix(topk, holdout.relevance)
    n_rel = np.diff(holdout.indptr)
    per_member: dict[str, np.ndarray] = {}
    for metric, (kind, k) in zip(metrics, parsed, strict=True):
        if kind == "ndcg":
            per_member[metric] = ndcg(hits, n_rel, k)
        elif kind == "hr":
            per_member[metric] = hit_rate(hits, k)
        elif kind == "mrr":
            per_member[metric] = mrr(hits, k)
        elif kind == "recall":
            per_member[metric] = recall(hits, n_rel, k)
    return Evaluation(name or model.name, holdout.member_idx, topk, per_member, tuple(metrics), holdout.n_titles, seconds)
