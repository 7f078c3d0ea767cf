"""The shipped examples (examples/experiment/): every file is read by a plan or an allocation run here.

Each plan runs through the command line; the four plans (Parquet/CSV, long/wide, CUPED from the
pre-period or from a covariate table) hold the same experiment and must reach the same numbers.
"""

import importlib.util
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from marquee.cli.main import app
from marquee.config import load_config_file
from marquee.experiment import Allocator, Decision, ExperimentConfig, analyze

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "experiment"
PLANS = ("plan.toml", "plan.json", "plan-wide.toml", "plan-wide.json")
ALLOCATIONS = ("allocation.toml", "allocation.json")
runner = CliRunner()


def test_every_example_file_is_exercised():
    plans = [ExperimentConfig.from_file(EXAMPLES / p) for p in PLANS]
    tables = {Path(t.path).name for cfg in plans for t in (cfg.exposures, cfg.events, cfg.covariates) if t.path}
    shipped = {p.name for p in EXAMPLES.iterdir()} - {"README.md", "make_examples.py", "__pycache__"}
    assert shipped == set(PLANS) | set(ALLOCATIONS) | tables
    # Each table format the analysis reads is among them.
    assert {n.rsplit(".", 1)[1] for n in tables} == {"csv", "parquet"}
    assert {cfg.events.layout for cfg in plans} == {"long", "wide"} and any(cfg.covariates.path for cfg in plans)


@pytest.mark.parametrize("plan", PLANS)
def test_each_plan_ships_through_the_cli(plan, tmp_path):
    report, js = tmp_path / "r.html", tmp_path / "r.json"
    result = runner.invoke(app, ["experiment", "analyze", str(EXAMPLES / plan), "--report", str(report), "--json", str(js)])
    assert result.exit_code == 0, result.output
    assert "SHIP — new-order: watch_minutes +30.74% [+8.65%, +57.97%] (97.5% interval, corrected for 4 tests)" in result.output
    out = json.loads(js.read_text())
    assert out["members"] == {"control": 210, "new-order": 190} and not out["srm"]["mismatch"]
    assert out["decision"] == {"decision": "ship", "variant": "new-order", "reason": out["decision"]["reason"]}
    primary = next(c for c in out["fixed"] if c["metric"] == "watch_minutes")
    assert primary["tests"] == 4 and primary["plain"]["p_adjusted"] != primary["plain"]["p_adjusted"]  # the plain twin: untested (NaN)
    assert report.read_text().startswith("<!doctype html>")


def _numbers(readout):
    out = {}
    for c in readout.fixed + readout.sequential:
        for part in (c, c.plain):
            if part is None:
                continue
            key = (c.method, c.metric, c.variant, part is c)
            out[key] = [part.control_mean, part.variant_mean, part.p_value, part.p_adjusted, part.absolute.low, part.absolute.high,
                        part.relative.low, part.relative.high, part.theta or 0.0, part.variance_reduction or 0.0]  # fmt: skip
            if part.relative_adjusted is not None:
                out[key] += [part.relative_adjusted.low, part.relative_adjusted.high]
    return out


def test_the_four_plans_agree():
    """Long vs wide, Parquet vs CSV, pre-period window vs covariate table: the same experiment, the same numbers."""
    readouts = {p: analyze(EXAMPLES / p) for p in PLANS}
    reference = _numbers(readouts["plan.toml"])
    for plan, r in readouts.items():
        assert r.decision == readouts["plan.toml"].decision and r.members == readouts["plan.toml"].members
        numbers = _numbers(r)
        assert numbers.keys() == reference.keys()
        for key, values in numbers.items():
            assert values == pytest.approx(reference[key], rel=1e-9, abs=1e-12, nan_ok=True), (plan, key)
    assert readouts["plan.toml"].comparison("watch_minutes", "new-order").variance_reduction == pytest.approx(0.23, abs=0.01)


def test_wide_plan_without_a_covariate_table(tmp_path):
    """Without the covariate table CUPED has only the wide table's hours before later entrants' exposure;
    with an export that starts at each member's exposure it has nothing, and says so."""
    plan = json.loads((EXAMPLES / "plan-wide.json").read_text())
    for m in plan["metrics"]:
        if m.pop("covariate", None):
            m["cuped"] = True
    del plan["covariates"]
    plan["exposures"]["path"] = str(EXAMPLES / plan["exposures"]["path"])
    plan["events"]["path"] = str(EXAMPLES / plan["events"]["path"])
    weak = analyze(ExperimentConfig.from_dict(plan))
    assert weak.comparison("watch_minutes", "new-order").variance_reduction == pytest.approx(0.02, abs=0.01) and not weak.cuped_idle

    exposures = pq.read_table(EXAMPLES / "exposures.parquet").to_pandas()
    events = pq.read_table(EXAMPLES / "events-wide.parquet").to_pandas()
    entry = exposures.groupby("member_id")["timestamp"].min().rename("entry")
    since = events.join(entry, on="member_id")
    since = since[since["hour"] >= since["entry"]].drop(columns="entry")
    since.to_csv(tmp_path / "since-exposure.csv", index=False)
    plan["events"]["path"] = str(tmp_path / "since-exposure.csv")
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    result = runner.invoke(app, ["experiment", "analyze", str(tmp_path / "plan.json"), "--no-report"])
    assert result.exit_code == 0, result.output
    assert "CUPED had nothing to work with on 'watch_minutes': no member has a non-zero 'watch_minutes' in the 14 days" in result.output
    assert "a covariate table ([covariates] and the metric's covariate)" in " ".join(result.output.split())
    assert "no data" in result.output  # the CUPED column says so too
    r = analyze(tmp_path / "plan.json")
    assert set(r.cuped_idle) == {"watch_minutes", "sessions"}
    c = r.comparison("watch_minutes", "new-order")
    assert c.variance_reduction == 0.0 and c.theta == 0.0 and c.p_value == pytest.approx(c.plain.p_value, rel=1e-12)


def test_example_tables_have_the_shapes_they_claim():
    head = {n: (EXAMPLES / n).read_text().splitlines()[:2] for n in ("exposures.csv", "events.csv", "events-wide.csv", "covariates.csv")}
    assert head["exposures.csv"][0] == "member_id,variant,timestamp" and head["exposures.csv"][1].endswith("Z")
    assert head["events.csv"][0] == "member_id,event,value,timestamp" and head["events.csv"][1].rsplit(",", 1)[1].isdigit()
    assert head["events-wide.csv"][0] == "member_id,hour,watch_minutes,sessions,plays,rebuffers"
    assert head["covariates.csv"][0] == "member_id,watch_minutes_before,sessions_before"
    for name in ("exposures", "events", "events-wide", "covariates"):
        assert pq.read_table(EXAMPLES / f"{name}.parquet").column_names == head[f"{name}.csv"][0].split(",")


def test_examples_match_their_generator(tmp_path):
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    for path in module.write(tmp_path):
        shipped = EXAMPLES / path.name
        if path.suffix == ".csv":
            assert path.read_text() == shipped.read_text(), path.name
        else:
            assert pq.read_table(path).equals(pq.read_table(shipped)), path.name


def test_allocation_examples_assign_alike():
    toml, js = (Allocator.from_dict(load_config_file(EXAMPLES / name)) for name in ALLOCATIONS)
    assert toml.to_dict() == js.to_dict()
    members = [str(m) for m in range(40)]
    outputs = []
    for name in ALLOCATIONS:
        result = runner.invoke(app, ["experiment", "assign", str(EXAMPLES / name), *[a for m in members for a in ("-m", m)]])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert outputs[0] == outputs[1]
    for word in ("home-row-order", "hero-autoplay", "artwork-ranker", "holdout:"):
        assert word in outputs[0]
    # The allocation is deterministic: the same members get the same variants in every process.
    assert toml.variants(members, "home-row-order") == js.variants(members, "home-row-order")
    assert {v for v in toml.variants([str(m) for m in range(2000)], "home-row-order") if v} == {"control", "new-order"}
    assert Decision.SHIP  # the plans' verdict (checked above) is one the CLI styles
