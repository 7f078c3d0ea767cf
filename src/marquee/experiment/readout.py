"""An experiment's readout: every comparison, the confidence sequences, guardrails and the decision.

One quantity, one test: a CUPED metric's comparison carries its analysis without CUPED as
``plain`` (reported, never tested), so only the adjusted one enters the multiplicity correction.
After the correction each tested comparison also gets the intervals its decision agrees with:
its own test inverted at the level its adjusted p-value implies
(:func:`~marquee.experiment.analysis.corrected_alpha`) — Welch's interval or the confidence
sequence for the difference, Fieller's construction for the relative lift — so that they exclude
0 exactly when the adjusted p-value is below alpha.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from marquee.errors import ConfigError
from marquee.experiment.analysis import (
    Comparison,
    Statistic,
    adjust_p_values,
    compare,
    corrected_alpha,
    fieller_interval,
    fixed_intervals,
    minimum_detectable_effect,
    relative_lift,
    welch,
)
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
        notes: anything the reader should know (excluded members, metrics without events, CUPED
            without a covariate to work with).
        cuped_idle: CUPED metrics whose covariate is the same for every member (e.g. no pre-period
            events): CUPED removed nothing and they are, in effect, analysed plain.
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
    cuped_idle: tuple[str, ...] = ()

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
            "cuped_idle": list(self.cuped_idle),
            "seconds": self.seconds,
        }


Intervals = Callable[[float], tuple[Interval, Interval]]  # (absolute, relative) intervals at another alpha


def _pair(totals: Totals, metric: Metric, control: str, variant: str, day: int | None, cuped: bool = True) -> tuple[Statistic, Statistic, Any]:
    a, b = totals.statistic(metric, control, day, cuped=cuped), totals.statistic(metric, variant, day, cuped=cuped)
    if isinstance(a, AdjustedStats) and isinstance(b, AdjustedStats):
        return adjust(a, b)
    return a, b, None


def _fixed(config: ExperimentConfig, totals: Totals, metric: Metric, variant: str, cuped: bool = True) -> tuple[Comparison, Intervals]:
    a, b, reduction = _pair(totals, metric, config.control, variant, -1, cuped)
    c = compare(a, b, metric=metric.name, variant=variant, control_name=config.control, alpha=config.alpha, relative=config.relative_interval)
    if reduction is not None:
        c = replace(c, theta=float(a.theta), variance_reduction=float(reduction))  # type: ignore[attr-defined]

    def at(alpha: float) -> tuple[Interval, Interval]:
        # Welch's interval and its inversion for the relative lift (Fieller): both agree with Welch's p-value.
        absolute, relative = fixed_intervals(a, b, alpha, "fieller")
        return absolute, replace(relative, estimate=c.relative.estimate)

    return c, at


def _sequential(
    config: ExperimentConfig, totals: Totals, metric: Metric, variant: str, cuped: bool = True
) -> tuple[Comparison | None, tuple[SequencePoint, ...], Intervals | None]:
    a, b, _ = _pair(totals, metric, config.control, variant, None, cuped)  # type: ignore[arg-type]
    na, nb = np.asarray(a.n), np.asarray(b.n)
    ok = (na >= 2) & (nb >= 2)
    if not ok.any():
        return None, (), None
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
        float(p[d]), float(p[d]), se=float(w.se[d]),
    )  # fmt: skip

    def at(alpha: float) -> tuple[Interval, Interval]:
        # The sequence at another level, its mixture still tuned for the p-values' alpha, agrees with them; the
        # relative lifts its test does not reject (Fieller's construction with the sequence's multiplier) too.
        lo_d, hi_d = confidence_sequence(w.estimate[d], w.se[d], n[d], alpha=alpha, tuning=config.tuning, tuned_alpha=config.alpha)
        critical = (float(hi_d) - float(w.estimate[d])) / float(w.se[d]) if float(w.se[d]) > 0 else 0.0
        a_d, b_d, _ = _pair(totals, metric, config.control, variant, d, cuped)
        r_lo, r_hi = fieller_interval(a_d, b_d, critical=critical)
        return (Interval(float(w.estimate[d]), float(lo_d), float(hi_d), 1 - alpha),
                Interval(float(rel[d]), float(r_lo), float(r_hi), 1 - alpha))  # fmt: skip

    return last, points, at


def _untested(c: Comparison | None) -> Comparison | None:
    """A comparison reported beside a tested one (the same quantity without CUPED): no adjusted p-value."""
    return None if c is None else replace(c, p_adjusted=float("nan"), tests=0)


def _cuped_notes(config: ExperimentConfig, totals: Totals) -> tuple[list[str], list[str]]:
    """Say when CUPED had nothing to work with (a covariate the same for every member), and who lacked a covariate row."""
    notes, idle = [], []
    for m in config.metrics:
        if not m.cuped or sum(totals.members().values()) < 2 or totals.covariate_variance(m) > 0:
            continue
        idle.append(m.name)
        all_zero = not totals.sums[("x", m.name)][:, -1].any() and not totals.sums[("xx", m.name)][:, -1].any()
        if m.covariate is None:
            what = f"{' or '.join(repr(e) for e in m.events)} events" if m.column is None else f"a non-zero {m.column!r}"
            why = (
                f"no member has {what} in the {config.pre_period_days:g} days before their first exposure "
                "(does the event table start when the experiment does?)"
                if all_zero else f"every member has the same {m.name!r} in the {config.pre_period_days:g}-day pre-period"
            )
            fix = "give events from before the experiment, or a covariate table ([covariates] and the metric's covariate)"
        else:
            why = f"its covariate {m.covariate!r} is {'0 (or absent)' if all_zero else 'the same'} for every member"
            fix = "check the covariate table"
        notes.append(f"CUPED had nothing to work with on {m.name!r}: {why}; it removed no variance, so {m.name!r} is analysed as if plain; {fix}")
    if totals.covariate_missing:
        total = sum(totals.members().values())
        notes.append(f"{totals.covariate_missing} of {total} members have no row in the covariate table; their covariates count as 0")
    return notes, idle


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
            m = config.metric(name)
            if m.column is not None:
                notes.append(f"metric {name!r}: column {m.column!r} is 0 in every row after any exposure; check the column")
            else:
                notes.append(f"metric {name!r} matched no events after any exposure; check its event names")
    small = [v for v, k in members.items() if k < 2]
    if small:
        notes.append(f"variants {small} have fewer than two members; their comparisons are missing")
    cuped_notes, idle = _cuped_notes(config, totals)
    notes += cuped_notes

    fixed: list[tuple[Comparison, Intervals]] = []
    seq: list[tuple[Comparison, Intervals]] = []
    trajectories: dict[tuple[str, str], tuple[SequencePoint, ...]] = {}
    for metric in config.metrics:
        for variant in config.treatments:
            if members[config.control] < 2 or members[variant] < 2:
                continue
            c, at = _fixed(config, totals, metric, variant)
            if metric.cuped:
                c = replace(c, plain=_untested(_fixed(config, totals, metric, variant, cuped=False)[0]))
            fixed.append((c, at))
            last, points, s_at = _sequential(config, totals, metric, variant)
            if last is not None and s_at is not None:
                last = replace(last, theta=c.theta, variance_reduction=c.variance_reduction)
                if metric.cuped:
                    last = replace(last, plain=_untested(_sequential(config, totals, metric, variant, cuped=False)[0]))
                seq.append((last, s_at))
                trajectories[(metric.name, variant)] = points

    guarded = {g.metric for g in config.guardrails}
    fixed_c, seq_c = _correct(fixed, guarded, config, detectable=True), _correct(seq, guarded, config)
    used = seq_c if config.sequential else fixed_c
    results = []
    for g in config.guardrails:
        m = config.metric(g.metric)
        results += [check_guardrail(g, c, higher_is_better=m.higher_is_better) for c in used if c.metric == g.metric]
    primary = config.metric(config.primary)
    verdict = decide(
        srm, [c for c in used if c.metric == primary.name], results,
        alpha=config.alpha, higher_is_better=primary.higher_is_better, sequential=config.sequential,
    )  # fmt: skip
    return Readout(
        config, members, srm, tuple(fixed_c), tuple(seq_c), trajectories, tuple(results), verdict, totals.start, totals.n_days,
        tuple(notes), cuped_idle=tuple(idle),
    )  # fmt: skip


def _correct(rows: list[tuple[Comparison, Intervals]], guarded: set[str], config: ExperimentConfig, *, detectable: bool = False) -> list[Comparison]:
    """Adjust the success metrics' p-values as one family; give every comparison the intervals its adjusted p-value implies.

    Guardrails stay out of the family (intersection-union test): their intervals are the plain ones.
    ``detectable``: also fill the minimum detectable effect (fixed-horizon comparisons).
    """
    family = [i for i, (c, _) in enumerate(rows) if c.metric not in guarded]
    adjusted = adjust_p_values([rows[i][0].p_value for i in family], config.correction)
    tests = len(family) if config.correction != "none" else 1
    out = [replace(c, absolute_adjusted=c.absolute, relative_adjusted=c.relative) for c, _ in rows]
    for i, p in zip(family, adjusted, strict=True):
        c, at = rows[i]
        c = replace(c, p_adjusted=float(p), tests=max(tests, 1))
        level = corrected_alpha(config.alpha, c.p_value, c.p_adjusted)
        absolute, relative = at(level)
        c = replace(c, absolute_adjusted=c.absolute if level == config.alpha else absolute, relative_adjusted=relative)
        if detectable and np.isfinite(c.se) and np.isfinite(c.dof) and c.control_mean != 0:
            mde = float(minimum_detectable_effect(c.se, c.dof, config.alpha / c.tests)) / abs(c.control_mean)
            c = replace(c, mde=mde)
        out[i] = c
    return out


def analyze(
    config: ExperimentConfig | str | os.PathLike[str],
    *,
    exposures: pa.Table | None = None,
    events: pa.Table | None = None,
    covariates: pa.Table | None = None,
    threads: int | None = None,
) -> Readout:
    """Analyse an experiment end to end.

    Args:
        config: the plan, or the path of its TOML/JSON file.
        exposures, events, covariates: Arrow tables to use instead of the plan's paths.
        threads: DuckDB threads (default: every core).

    Raises:
        ConfigError: the plan is invalid. DataError: a table is missing, malformed or has a bad
            row (the message names file, row and column).
    """
    started = time.perf_counter()
    if not isinstance(config, ExperimentConfig):
        config = ExperimentConfig.from_file(config)
    totals = aggregate(config, exposures=exposures, events=events, covariates=covariates, threads=threads)
    return replace(read_totals(config, totals), seconds=time.perf_counter() - started)
