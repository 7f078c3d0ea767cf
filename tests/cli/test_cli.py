"""The command line, driven as a user would, on a small log it writes itself."""

import csv
import json

import pytest
from typer.testing import CliRunner

from marquee.cli.main import app
from tests.cli.toy import import_toy

runner = CliRunner()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MARQUEE_HOME", str(tmp_path / "home"))
    import_toy(tmp_path, tmp_path / "home")
    return tmp_path


def test_help_explains_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("data", "train", "evaluate", "recommend"):
        assert command in result.output


def test_import_error_is_one_line_with_exit_code(home):
    (home / "bad.csv").write_text("member,title,ts\n1,2,3\n1,-2,4\n")
    result = runner.invoke(app, ["data", "import", str(home / "bad.csv"), "--name", "bad", "--member-col", "member", "--title-col", "title", "--timestamp-col", "ts"])
    assert result.exit_code == 3
    assert "row 2, column 'title': ids must be non-negative" in result.output
    assert "Traceback" not in result.output


def test_evaluate_leaderboard_compare_report_and_export(home):
    report, recs, js = home / "r.html", home / "recs.csv", home / "lb.json"
    result = runner.invoke(
        app,
        ["evaluate", "-d", "toy", "-m", "popular,ease", "--report", str(report), "--export-recs", str(recs), "--export-model", "ease",
         "--json", str(js), "--compare", "ease", "popular", "--bootstrap", "100"],
    )
    assert result.exit_code == 0, result.output
    assert "ndcg@10" in result.output and "ease - popular on ndcg@10" in result.output
    assert report.read_text().startswith("<!doctype html>")
    rows = list(csv.reader(recs.read_text().splitlines()))
    assert rows[0] == ["user_id", "rank", "item_id"]
    assert len(rows) == 1 + 40 * 10 and {r[1] for r in rows[1:]} == {str(i) for i in range(1, 11)}
    board = json.loads(js.read_text())
    assert [m["name"] for m in board["models"]] == ["popular", "ease"]


def test_evaluate_rejects_unknown_model(home):
    result = runner.invoke(app, ["evaluate", "-d", "toy", "-m", "ease,nope"])
    assert result.exit_code == 2 and "unknown model 'nope'" in result.output


def test_train_registers_then_recommend_promote_rollback(home):
    for _ in range(2):
        result = runner.invoke(app, ["train", "ease", "-d", "toy"])
        assert result.exit_code == 0, result.output
    assert "registered ease:2" in result.output and "ease@production: 1 -> 2" in result.output
    result = runner.invoke(app, ["recommend", "--member", "3", "--model", "ease@production", "-d", "toy", "-k", "5"])
    assert result.exit_code == 0, result.output
    assert "member 3 · ease:2" in result.output
    result = runner.invoke(app, ["recommend", "--member", "99999", "--model", "ease", "-d", "toy"])
    assert result.exit_code == 0 and "unknown member, cold-start answer" in " ".join(result.output.split())
    result = runner.invoke(app, ["recommend", "--member", "3", "--model", "als@production", "-d", "toy"])
    assert result.exit_code == 4 and "no model named 'als'" in result.output
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0 and "EASE" in result.output
    result = runner.invoke(app, ["models", "rollback", "ease"])
    assert result.exit_code == 0 and "2 -> 1 (rollback)" in result.output
    result = runner.invoke(app, ["models", "promote", "ease", "2", "--reason", "fixed"])
    assert result.exit_code == 0 and "1 -> 2" in result.output
    result = runner.invoke(app, ["models", "history", "ease"])
    assert result.exit_code == 0 and "rollback" in result.output and "fixed" in result.output


def test_missing_dataset_says_how_to_get_one(home):
    result = runner.invoke(app, ["data", "info", "nothing-here"])
    assert result.exit_code == 3 and "marquee data import" in result.output


def test_query_runs_sql_and_reports_bad_sql(home):
    result = runner.invoke(app, ["data", "query", "select count(*) as n from interactions", "-d", "toy"])
    assert result.exit_code == 0 and "320" in result.output
    result = runner.invoke(app, ["data", "query", "select nope from interactions", "-d", "toy"])
    assert result.exit_code == 2 and "the query failed" in result.output


def test_distill_registers_a_student_with_its_parent(home):
    assert runner.invoke(app, ["train", "ease", "-d", "toy", "--no-tune"]).exit_code == 0
    result = runner.invoke(app, ["distill", "--teacher", "ease@production", "-d", "toy", "--factors", "8", "--steps", "50"])
    assert result.exit_code == 0, result.output
    assert "registered ease-student:1 (parent ease:1)" in " ".join(result.output.split())
    result = runner.invoke(app, ["distill", "--teacher", "ease@production", "--student", "tower"])
    assert result.exit_code == 2 and "unknown student kind 'tower'" in result.output


def test_quantize_registers_an_int8_variant_with_its_parent(home):
    assert runner.invoke(app, ["train", "sasrec", "-d", "toy", "--no-tune"]).exit_code == 0
    result = runner.invoke(app, ["quantize", "sasrec@production", "--promote", "production"])
    assert result.exit_code == 0, result.output
    assert "registered sasrec-int8:1 (parent sasrec:1)" in " ".join(result.output.split())
    result = runner.invoke(app, ["recommend", "--member", "3", "--model", "sasrec-int8@production", "-d", "toy"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["train", "ease", "-d", "toy", "--no-tune"]).exit_code == 0
    result = runner.invoke(app, ["quantize", "ease@production"])
    assert result.exit_code == 2 and "implemented for SASRec, got EASE" in result.output


def test_evaluate_writes_reports_only_where_named(home, monkeypatch):
    """`make run` names reports/leaderboard.html and .json; a later `evaluate -m ease,popular` must not
    replace the six-model report with a two-model one behind the JSON's back."""
    monkeypatch.chdir(home)
    reports = home / "reports"
    reports.mkdir()
    (reports / "leaderboard.html").write_text("six models")
    result = runner.invoke(app, ["evaluate", "-d", "toy", "-m", "ease,popular", "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    assert (reports / "leaderboard.html").read_text() == "six models" and sorted(p.name for p in reports.iterdir()) == ["leaderboard.html"]
    assert "no report written (name one with --report" in " ".join(result.output.split())
    named = ["--report", "reports/leaderboard.html", "--json", "reports/leaderboard.json"]  # as the Makefile's `make run`
    result = runner.invoke(app, ["evaluate", "-d", "toy", "-m", "ease,popular", "--bootstrap", "20", *named])
    assert result.exit_code == 0, result.output
    assert (reports / "leaderboard.html").read_text().startswith("<!doctype html>")
    assert [m["name"] for m in json.loads((reports / "leaderboard.json").read_text())["models"]] == ["ease", "popular"]


def test_error_headlines_keep_bracketed_text(home):
    (home / "bad.toml").write_text("[other]\nx = 1\n")
    result = runner.invoke(app, ["evaluate", "-d", "toy", "--config", str(home / "bad.toml")])
    assert result.exit_code == 2
    assert "unknown section 'other'; expected [models.NAME] tables" in " ".join(result.output.split())
