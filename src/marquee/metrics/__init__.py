"""Ranking and survival metrics and their uncertainty."""

from marquee.metrics.intervals import Interval, PairedComparison, bootstrap_coverage, bootstrap_mean, paired_comparison
from marquee.metrics.ranking import coverage, hit_matrix, hit_rate, mrr, ndcg, recall
from marquee.metrics.survival import (
    CalibrationTable,
    brier_scores,
    calibration_table,
    concordance_interval,
    harrell_c,
    integrated_brier_interval,
    integrated_brier_score,
    uno_c,
)

__all__ = [
    "CalibrationTable",
    "Interval",
    "PairedComparison",
    "bootstrap_coverage",
    "bootstrap_mean",
    "brier_scores",
    "calibration_table",
    "concordance_interval",
    "coverage",
    "harrell_c",
    "hit_matrix",
    "hit_rate",
    "integrated_brier_interval",
    "integrated_brier_score",
    "mrr",
    "ndcg",
    "paired_comparison",
    "recall",
    "uno_c",
]
