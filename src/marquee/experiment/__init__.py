"""Experimentation: allocation, exposure logging, and trustworthy analysis of A/B tests.

* :mod:`~marquee.experiment.assignment` — deterministic SHA-256 allocation, layers, holdouts.
* :mod:`~marquee.experiment.exposure` — exposure logging to Parquet (or memory) through a sink.
* :mod:`~marquee.experiment.analysis` — Welch's test, ratio metrics, lift intervals, multiplicity.
* :mod:`~marquee.experiment.cuped`, :mod:`~marquee.experiment.sequential`,
  :mod:`~marquee.experiment.srm`, :mod:`~marquee.experiment.guardrails`,
  :mod:`~marquee.experiment.decision` — variance reduction, anytime-valid confidence
  sequences, sample-ratio mismatch, non-inferiority, the call.
* :func:`analyze` — a plan (:class:`ExperimentConfig`) and two tables in, a :class:`Readout` out;
  :func:`write_html_report` renders it.

DuckDB and matplotlib are imported only when an analysis or a report runs.
"""

from marquee.experiment.analysis import (
    Comparison,
    MeanStats,
    RatioStats,
    Welch,
    adjust_p_values,
    compare,
    corrected_alpha,
    fixed_intervals,
    minimum_detectable_effect,
    fieller_interval,
    relative_lift,
    welch,
)
from marquee.experiment.assignment import Allocator, Assignment, Experiment, Holdout, Layer, MemberAssignments, Variant, bucket
from marquee.experiment.config import CovariateTable, EventTable, ExperimentConfig, ExposureTable, Metric
from marquee.experiment.cuped import CUPED, AdjustedStats, adjust, pooled_theta
from marquee.experiment.decision import Decision, Verdict, decide
from marquee.experiment.exposure import Exposure, ExposureSink, MemorySink, ParquetSink, log_exposures
from marquee.experiment.guardrails import Guardrail, GuardrailResult, GuardrailStatus, check_guardrail
from marquee.experiment.readout import Readout, analyze, read_totals
from marquee.experiment.report import write_html_report
from marquee.experiment.sequential import SequencePoint, always_valid_p_value, confidence_sequence
from marquee.experiment.simulate import simulate, write_demo
from marquee.experiment.srm import SampleRatio, sample_ratio_test
from marquee.experiment.tables import Totals, aggregate

__all__ = [
    "CUPED",
    "AdjustedStats",
    "CovariateTable",
    "corrected_alpha",
    "fixed_intervals",
    "minimum_detectable_effect",
    "Allocator",
    "Assignment",
    "Comparison",
    "Decision",
    "EventTable",
    "Experiment",
    "ExperimentConfig",
    "Exposure",
    "ExposureSink",
    "ExposureTable",
    "Guardrail",
    "GuardrailResult",
    "GuardrailStatus",
    "Holdout",
    "Layer",
    "MeanStats",
    "MemberAssignments",
    "MemorySink",
    "Metric",
    "ParquetSink",
    "RatioStats",
    "Readout",
    "SampleRatio",
    "SequencePoint",
    "Totals",
    "Variant",
    "Verdict",
    "Welch",
    "adjust",
    "adjust_p_values",
    "aggregate",
    "always_valid_p_value",
    "analyze",
    "bucket",
    "check_guardrail",
    "compare",
    "confidence_sequence",
    "decide",
    "fieller_interval",
    "log_exposures",
    "pooled_theta",
    "read_totals",
    "relative_lift",
    "sample_ratio_test",
    "simulate",
    "welch",
    "write_demo",
    "write_html_report",
]
