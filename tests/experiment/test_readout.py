"""End to end: plan and Parquet tables in, the readout, the decision and the HTML report out."""

import json

import numpy as np
import pytest

from marquee.experiment import Decision, ExperimentConfig, analyze, simulate, write_html_report
from marquee.experiment.simulate import demo_config


def test_analyze_from_a_plan_file(plan):
    path, _ = plan
    r = analyze(path)
    assert r.config.sequential and r.comparisons == r.sequential
    assert len(r.fixed) == len(r.sequential) == 5 * 2  # metrics x treatments
    assert not r.srm.mismatch and sum(r.members.values()) == 3000
    assert r.decision.decision is Decision.STOP_FOR_HARM and r.decision.variant == "b"
    assert r.decision.reason.startswith("b: rebuffer_rate higher by more than its 5.0% margin")
    a = r.comparison("sessions", "a", "fixed")
    assert a.relative.low > 0 and a.variance_reduction > 0.3 and a.theta > 0  # +15% sessions, CUPED helps
    assert r.comparison("rebuffer_rate", "a").p_adjusted == r.comparison("rebuffer_rate", "a").p_value  # guardrails: no correction
    family = [c for c in r.fixed if c.metric != "rebuffer_rate"]
    assert all(c.p_adjusted >= c.p_value for c in family) and any(c.p_adjusted > c.p_value for c in family)
    json.dumps(r.to_dict())  # serialisable as is


def test_sequence_is_wider_than_the_fixed_interval_and_daily(plan):
    r = analyze(plan[0])
    for c in r.sequential:
        f = r.comparison(c.metric, c.variant, "fixed")
        assert c.absolute.estimate == pytest.approx(f.absolute.estimate)
        assert c.absolute.high - c.absolute.low > f.absolute.high - f.absolute.low
    looks = r.trajectories[("watch_minutes", "a")]
    assert [p.day for p in looks] == list(range(r.days)) and np.all(np.diff([p.n for p in looks]) >= 0)
    assert looks[-1].estimate == pytest.approx(r.comparison("watch_minutes", "a").relative.estimate)


@pytest.mark.parametrize(
    ("kwargs", "decision", "variant"),
    [
        ({"lift": {"treatment": 0.2}}, Decision.SHIP, "treatment"),
        ({}, Decision.KEEP_RUNNING, None),
        ({"lift": {"treatment": 0.2}, "lost_share": {"treatment": 0.1}}, Decision.INVALID, None),
    ],
)
def test_decisions_on_simulated_experiments(kwargs, decision, variant):
    exposures, events = simulate(4000, days=10, seed=9, **kwargs)
    plan = demo_config() | {"guardrails": [{"metric": "rebuffer_rate", "margin": 0.2}]}  # a margin this sample can show
    r = analyze(ExperimentConfig.from_dict(plan), exposures=exposures, events=events)
    assert r.decision.decision is decision and r.decision.variant == variant


def test_html_report(plan, tmp_path):
    r = analyze(plan[0])
    out = write_html_report(r, tmp_path / "reports" / "exp.html")
    page = out.read_text()
    assert page.startswith("<!doctype html>")
    assert page.count("data:image/png;base64,") == 2
    assert "stop for harm" in page and "rebuffer_rate" in page and "Confidence sequences over time" in page


def test_fieller_relative_intervals_in_the_readout(small_tables):
    exposures, events = small_tables
    plan = demo_config(variants=("control", "a", "b"), sequential=False)
    delta = analyze(ExperimentConfig.from_dict(plan), exposures=exposures, events=events)
    fieller = analyze(ExperimentConfig.from_dict(plan | {"relative_interval": "fieller"}), exposures=exposures, events=events)
    for d, f in zip(delta.fixed, fieller.fixed, strict=True):
        assert f.relative.estimate == pytest.approx(d.relative.estimate)
        assert f.relative.low == pytest.approx(d.relative.low, abs=0.03) and f.relative.high == pytest.approx(d.relative.high, abs=0.03)
        assert (f.relative.low, f.relative.high) != (d.relative.low, d.relative.high)
