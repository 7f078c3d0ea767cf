"""Ranking metrics and their uncertainty."""

from marquee.metrics.intervals import Interval, PairedComparison, bootstrap_coverage, bootstrap_mean, paired_comparison
from marquee.metrics.ranking import coverage, hit_matrix, hit_rate, mrr, ndcg, recall

__all__ = [
    "Interval",
    "PairedComparison",
    "bootstrap_coverage",
    "bootstrap_mean",
    "coverage",
    "hit_matrix",
    "hit_rate",
    "mrr",
    "ndcg",
    "paired_comparison",
    "recall",
]
