"""``marquee experiment``: simulate a test, analyse it, look up assignments — as a user would."""

import json

from typer.testing import CliRunner

from marquee.cli.main import app

runner = CliRunner()


def test_simulate_then_analyze_writes_table_report_and_json(tmp_path):
    result = runner.invoke(app, ["experiment", "simulate", str(tmp_path / "demo"), "--members", "3000", "--lift", "0.2", "--days", "10"])
    assert result.exit_code == 0, result.output
    assert "next: marquee experiment analyze" in result.output
    report, js = tmp_path / "r.html", tmp_path / "r.json"
    result = runner.invoke(app, ["experiment", "analyze", str(tmp_path / "demo" / "experiment.json"), "--report", str(report), "--json", str(js)])
    assert result.exit_code == 0, result.output
    assert "watch_minutes (primary)" in result.output and "sample ratio:" in result.output
    assert any(word in result.output for word in ("SHIP", "KEEP RUNNING", "STOP FOR HARM"))
    assert report.read_text().startswith("<!doctype html>")
    assert json.loads(js.read_text())["decision"]["decision"] in ("ship", "keep running", "stop for harm")


def test_bad_plan_is_one_line_with_exit_code(tmp_path):
    (tmp_path / "plan.json").write_text(json.dumps({"name": "x", "variants": ["c", "t"], "primary": "m", "metrics": [], "alpah": 0.1}))
    result = runner.invoke(app, ["experiment", "analyze", str(tmp_path / "plan.json")])
    assert result.exit_code == 2
    assert "ConfigError" in result.output and "unknown key 'alpah'" in result.output and "Traceback" not in result.output


def test_missing_table_exits_with_data_error(tmp_path):
    runner.invoke(app, ["experiment", "simulate", str(tmp_path), "--members", "200"])
    (tmp_path / "events.parquet").unlink()
    result = runner.invoke(app, ["experiment", "analyze", str(tmp_path / "experiment.json"), "--no-report"])
    assert result.exit_code == 3 and "events.parquet: file does not exist" in result.output


def test_assign_shows_each_layer(tmp_path):
    (tmp_path / "alloc.toml").write_text(
        '[[layers]]\nname = "home"\n[[layers.experiments]]\nname = "row-order"\nvariants = ["control", "new"]\n'
        '[[holdouts]]\nname = "global"\nfraction = 0.1\n'
    )
    result = runner.invoke(app, ["experiment", "assign", str(tmp_path / "alloc.toml"), "-m", "0", "-m", "1"])
    assert result.exit_code == 0, result.output
    assert "holdout: global" in result.output and "row-order" in result.output


def test_cuped_sign_and_plain_twin_agree_in_table_and_report(tmp_path):
    """CUPED's variance change is negative (less variance) in both the table and the HTML; the plain twin is shown, untested."""
    from pathlib import Path

    plan = Path(__file__).resolve().parents[2] / "examples" / "experiment" / "plan.toml"
    report, js = tmp_path / "r.html", tmp_path / "r.json"
    result = runner.invoke(app, ["experiment", "analyze", str(plan), "--report", str(report), "--json", str(js)])
    assert result.exit_code == 0, result.output
    c = next(c for c in json.loads(js.read_text())["fixed"] if c["metric"] == "watch_minutes")
    assert c["variance_reduction"] > 0
    row = next(line for line in result.output.splitlines() if "watch_minutes (primary)" in line)
    assert f"-{c['variance_reduction']:.0%}" in row
    assert f"<td>-{c['variance_reduction']:.1%}</td>" in report.read_text()
    plain = next(line for line in result.output.splitlines() if "without CUPED" in line)
    assert "untested" in plain and f"{c['plain']['relative']['estimate']:+.2%}" in plain
    assert "CUPED variance removed" not in report.read_text() and "without CUPED" in report.read_text()


def test_fixed_horizon_without_a_result_says_no_detectable_effect(tmp_path):
    import pyarrow.parquet as pq

    from marquee.experiment import simulate
    from marquee.experiment.simulate import demo_config

    exposures, events = simulate(2000, days=10, seed=4)
    pq.write_table(exposures, tmp_path / "exposures.parquet")
    pq.write_table(events, tmp_path / "events.parquet")
    (tmp_path / "plan.json").write_text(json.dumps(demo_config(sequential=False)))
    result = runner.invoke(app, ["experiment", "analyze", str(tmp_path / "plan.json"), "--no-report"])
    assert result.exit_code == 0, result.output
    assert "NO DETECTABLE EFFECT" in result.output and "minimum detectable effect ±" in result.output
    assert "KEEP RUNNING" not in result.output


def test_analyze_writes_a_report_only_where_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner.invoke(app, ["experiment", "simulate", str(tmp_path / "demo"), "--members", "300"])
    result = runner.invoke(app, ["experiment", "analyze", str(tmp_path / "demo" / "experiment.json")])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "reports").exists() and "no report written" in result.output
    named = runner.invoke(app, ["experiment", "analyze", str(tmp_path / "demo" / "experiment.json"), "--report", "mine.html"])
    assert named.exit_code == 0 and (tmp_path / "mine.html").is_file()
