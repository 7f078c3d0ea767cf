"""``marquee cdn fill`` and ``marquee cdn plan``: tables, JSON and HTML reports, one-line errors."""

import json

import pytest
from typer.testing import CliRunner

from marquee.cli.main import app

runner = CliRunner()


def test_plan_live_event(tmp_path):
    out, page = tmp_path / "p.json", tmp_path / "p.html"
    result = runner.invoke(app, ["cdn", "plan", "--event", "live", "--viewers", "3000", "--draws", "2", "--flash", "0",
                                 "--storage", "1,2", "--json", str(out), "--report", str(page)])
    assert result.exit_code == 0, result.output
    plan = json.loads(out.read_text())
    assert len(plan["candidates"]) == 2 and plan["chosen"]["storage"] == 1
    assert "<img" in page.read_text() and "offload" in page.read_text()


def test_plan_errors(tmp_path):
    for args, message in ((["--event", "concert"], "live or launch"), (["--flash", "a,b"], "whole numbers"),
                          (["--storage", "-1"], "negative")):
        result = runner.invoke(app, ["cdn", "plan", *args, "--json", str(tmp_path / "x.json")])
        assert result.exit_code != 0 and message in result.output, result.output
        assert not (tmp_path / "x.json").exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_fill_on_a_small_region(tmp_path, ml100k, marquee_home):
    out, page = tmp_path / "f.json", tmp_path / "f.html"
    result = runner.invoke(app, ["cdn", "fill", "--members", "1500", "--capacity", "5%", "--policy", "lru,sieve",
                                 "--home", str(marquee_home), "--json", str(out), "--report", str(page)])
    assert result.exit_code == 0, result.output
    study = json.loads(out.read_text())
    assert set(study["hit"]) == {"yesterday", "predicted", "oracle", "expected", "lru", "sieve"}
    assert study["hit"]["predicted"][0]["estimate"] > study["hit"]["yesterday"][0]["estimate"]
    assert page.read_text().count("<img") == 1


def test_fill_rejects_bad_capacity(tmp_path):
    result = runner.invoke(app, ["cdn", "fill", "--capacity", "150%"])
    assert result.exit_code != 0 and "at most 100%" in result.output
