"""An experiment's readout: every comparison, the confidence sequences, guardrails and the decision."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from marquee.errors import ConfigError
from marquee.experiment.analysis import Comparison, Statistic, adjust_p_values, compare, relative_lift, welch
from marquee.experiment.config import ExperimentConfig, Metric
from marquee.experiment.cuped import AdjustedStats, adjust
from marquee.experiment.decision import Verdict, decide
from marquee.experiment.guardrails import GuardrailResult, check_guardrail
from marquee.experiment.sequential import SequencePoint, always_valid_p_value, confidence_sequence
from marquee.experiment.srm import SampleRatio, sample_ratio_test
from marquee.experiment.tables import Totals, aggregate
from marquee.metrics.intervals import Interval

__all__ = ["Readout", "analyze", "read_totals"]


@dataclass(frozen=True)
class Readout:
    """The full analysis of one experiment.

    Attributes:
        fixed: fixed-horizon (Welch) comparisons, one per metric × treatment.
        sequential: the same at the latest look, from the anytime-valid confidence sequences.
        trajectories: ``(metric, variant)`` → daily looks at the relative lift and its confidence
            sequence (the first look with at least two members per arm onwards).
        guardrails, decision: read from ``sequential`` when the plan says so, else from ``fixed``.
        notes: anything the reader should know (excluded members, metrics without events).
    """

    config: ExperimentConfig
    members: dict[str, int]
    srm: SampleRatio
    fixed: tuple[Comparison, ...]
    sequential: tuple[Comparison, ...]
    trajectories: dict[tuple[str, str], tuple[SequencePoint, ...]]
    guardrails: tuple[GuardrailResult, ...]
    decision: Verdict
    start: float
    days: int
    notes: tuple[str, ...] = ()
    seconds: float = float("nan")

    @property
    def comparisons(self) -> tuple[Comparison, ...]:
        """The comparisons the decision was read from."""
        return self.sequential if self.config.sequential else self.fixed

    def comparison(self, metric: str, variant: str, method: str | None = None) -> Comparison:
        pool = self.comparisons if method is None else (self.sequential if method == "sequential" else self.fixed)
        for c in pool:
            if c.metric == metric and c.variant == variant:
                return c
        raise ConfigError(f"no comparison for metric {metric!r} and variant {variant!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.config.name,
            "config": self.config.to_dict(),
            "decision": self.decision.to_dict(),
            "members": self.members,
            "srm": self.srm.to_dict(),
            "method": "sequential" if self.config.sequential else "fixed",
            "fixed": [c.to_dict() for c in self.fixed],
            "sequential": [c.to_dict() for c in self.sequential],
            "guardrails": [g.to_dict() for g in self.guardrails],
            "trajectories": [{"metric": m, "variant": v, "looks": [p.to_dict() for p in pts]} for (m, v), pts in self.trajectories.items()],
            "start": self.start,
            "days": self.days,
            "notes": list(self.notes),
            "seconds": self.seconds,
        }


def _pair(totals: Totals, metric: Metric, control: str, variant: str, day: int | None) -> tuple[Statistic, Statistic, Any]:
    a, b = totals.statistic(metric, control, day), totals.statistic(metric, variant, day)
    if isinstance(a, AdjustedStats) and isinstance(b, AdjustedStats):
        return adjust(a, b)
    return a, b, None


def _sequential(config: ExperimentConfig, totals: Totals, metric: Metric, variant: str) -> tuple[Comparison | None, tuple[SequencePoint, ...]]:
    a, b, _ = _pair(totals, metric, config.control, variant, None)  # type: ignore[arg-type]
    na, nb = np.asarray(a.n), np.asarray(b.n)
    ok = (na >= 2) & (nb >= 2)
    if not ok.any():
        return None, ()
    kw = {"alpha": config.alpha, "tuning": config.tuning}
    w = welch(a, b)
    n = na + nb
    lo, hi = confidence_sequence(w.estimate, w.se, n, **kw)
    p = np.asarray(always_valid_p_value(w.estimate, w.se, n, **kw))
    rel, rel_se = relative_lift(a, b)
    rlo, rhi = confidence_sequence(rel, rel_se, n, **kw)
    points = tuple(
        SequencePoint(int(d), int(n[d]), float(rel[d]), float(rlo[d]), float(rhi[d]), float(p[d])) for d in np.flatnonzero(ok)
    )
    d = int(np.flatnonzero(ok)[-1])
    level = 1 - config.alpha
    last = Comparison(
        metric.name, variant, config.control, "sequential", int(na[d]), int(nb[d]),  # type: ignore[arg-type]
        float(np.asarray(a.unadjusted_mean)[d]), float(np.asarray(b.unadjusted_mean)[d]),
        Interval(float(w.estimate[d]), float(lo[d]), float(hi[d]), level), Interval(float(rel[d]), float(rlo[d]), float(rhi[d]), level),
        float(p[d]), float(p[d]),
    )  # fmt: skip
    return last, points


def read_totals(config: ExperimentConfig, totals: Totals) -> Readout:
    """Everything after aggregation: comparisons, sequences, corrections, guardrails and the decision."""
    members = totals.members()
    srm = sample_ratio_test(members, config.weights, alpha=config.srm_alpha)
    notes = []
    if totals.excluded_members:
        notes.append(f"{totals.excluded_members} members were exposed to more than one variant and are excluded")
    if totals.outside_window:
        notes.append(f"{totals.outside_window} members were first exposed outside the analysis window and are excluded")
    for name, rows in totals.nonzero_rows.items():
        if rows == 0:
            notes.append(f"metric {name!r} matched no events after any exposure; check its event names")
    small = [v for v, k in members.items() if k < 2]
    if small:
        notes.append(f"variants {small} have fewer than two members; their comparisons are missing")

    fixed: list[Comparison] = []
    seq: list[Comparison] = []
    trajectories: dict[tuple[str, str], tuple[SequencePoint, ...]] = {}
    for metric in config.metrics:
        for variant in config.treatments:
            if members[config.control] < 2 or members[variant] < 2:
                continue
            a, b, reduction = _pair(totals, metric, config.control, variant, -1)  # type: ignore[arg-type]
            c = compare(a, b, metric=metric.name, variant=variant, control_name=config.control, alpha=config.alpha, relative=config.relative_interval)  # type: ignore[arg-type]
            if reduction is not None:
                c = replace(c, theta=float(a.theta), variance_reduction=float(reduction))  # type: ignore[attr-defined]
            fixed.append(c)
            last, points = _sequential(config, totals, metric, variant)
            if last is not None:
                seq.append(replace(last, theta=c.theta, variance_reduction=c.variance_reduction))
                trajectories[(metric.name, variant)] = points

    guarded = {g.metric for g in config.guardrails}
    fixed, seq = _correct(fixed, guarded, config), _correct(seq, guarded, config)
    used = seq if config.sequential else fixed
    results = []
    for g in config.guardrails:
        m = config.metric(g.metric)
        results += [check_guardrail(g, c, higher_is_better=m.higher_is_better) for c in used if c.metric == g.metric]
    primary = config.metric(config.primary)
    verdict = decide(
        srm, [c for c in used if c.metric == primary.name], results,
        alpha=config.alpha, higher_is_better=primary.higher_is_better, sequential=config.sequential,
    )  # fmt: skip
    return Readout(config, members, srm, tuple(fixed), tuple(seq), trajectories, tuple(results), verdict, totals.start, totals.n_days, tuple(notes))


def _correct(comparisons: list[Comparison], guarded: set[str], config: ExperimentConfig) -> list[Comparison]:
    family = [i for i, c in enumerate(comparisons) if c.metric not in guarded]
    adjusted = adjust_p_values([comparisons[i].p_value for i in family], config.correction)
    out = list(comparisons)
    for i, p in zip(family, adjusted, strict=True):
        out[i] = replace(out[i], p_adjusted=float(p))
    return out


def analyze(
    config: ExperimentConfig | str | os.PathLike[str],
    *,
    exposures: pa.Table | None = None,
    events: pa.Table | None = None,
    threads: int | None = None,
) -> Readout:
    """Analyse an experiment end to end.

    Args:
        config: the plan, or the path of its TOML/JSON file.
        exposures, events: Arrow tables to use instead of the plan's paths.
        threads: DuckDB threads (default: every core).

    Raises:
        ConfigError: the plan is invalid. DataError: a table is missing, malformed or has a bad
            row (the message names file, row and column).
    """
    started = time.perf_counter()
    if not isinstance(config, ExperimentConfig):
        config = ExperimentConfig.from_file(config)
    totals = aggregate(config, exposures=exposures, events=events, threads=threads)
    return replace(read_totals(config, totals), seconds=time.perf_counter() - started)
