"""``marquee artwork simulate`` and ``evaluate``, and artwork in ``marquee serve``, on a small imported dataset."""

import gc

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from marquee.cli.main import app

runner = CliRunner()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MARQUEE_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    rows = ["member,title,ts"] + [f"{u},{t},{1_700_000_000 + 100 * u + j}" for u in range(30) for j, t in enumerate(rng.choice(20, size=5, replace=False))]
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    args = ["data", "import", str(tmp_path / "log.csv"), "--name", "toy", "--member-col", "member", "--title-col", "title", "--timestamp-col", "ts"]
    assert runner.invoke(app, args).exit_code == 0
    return tmp_path


def test_simulate_then_evaluate_prints_estimates_intervals_and_verdicts(home):
    log = home / "art.sqlite"
    result = runner.invoke(app, ["artwork", "simulate", "--n", "150", "--log", str(log), "--dataset", "toy", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "150 decisions and feedback in" in result.output and "click rate" in result.output
    result = runner.invoke(
        app, ["artwork", "evaluate", "--log", str(log), "--candidate", "uniform", "--candidate", "lin_ucb:alpha=0.5", "--bootstrap", "100"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("│")]
    assert len(lines) == 4  # 2 candidates x (snips, dr)
    for line in lines:
        assert any(v in line for v in ("beats", "worse", "inconclusive")) and line.count("[") >= 3
    assert "lin_ucb:alpha=0.5" in result.output and "vs epsilon_greedy" in result.output


@pytest.mark.parametrize(
    ("args", "code", "pattern"),
    [
        (["--candidate", "greedy"], 2, "unknown policy 'greedy' in 'greedy'; choose uniform or one of ['epsilon_greedy', 'lin_ucb', 'linear_ts']"),
        (["--candidate", "lin_ucb:alpha"], 2, "candidate parameter 'alpha' in 'lin_ucb:alpha' is not key=value"),
        (["--candidate", "lin_ucb:beta=1"], 2, "CandidateLinUCB"),
        (["--candidate", "uniform", "--estimator", "magic"], 2, "unknown estimator(s) ['magic']"),
        (["--candidate", "uniform"], 2, "no decision log there; serve artwork (marquee serve) or run `marquee artwork simulate` first"),
    ],
)
def test_evaluate_errors_are_one_line_with_exit_code(home, args, code, pattern):
    result = runner.invoke(app, ["artwork", "evaluate", "--log", str(home / "none.sqlite"), *args])
    assert result.exit_code == code, result.output
    assert pattern in " ".join(result.output.split())


def test_serve_enables_artwork_by_default(home, monkeypatch):
    captured = {}
    monkeypatch.setattr("uvicorn.run", lambda asgi, **kw: captured.setdefault("app", asgi))
    # serve configures process-wide logging, BLAS threads and the collector: keep the test process as it was.
    monkeypatch.setattr("marquee.serve.logs.configure_json_logging", lambda level: None)
    monkeypatch.setattr("threadpoolctl.threadpool_limits", lambda limits: None)
    monkeypatch.setattr(gc, "freeze", lambda: None)
    log = home / "served.sqlite"
    result = runner.invoke(
        app, ["serve", "--heavy", "", "--light", "", "--dataset", "toy", "--artwork-log", str(log), "--artwork-policy", "linear_ts:scale=0.8"]
    )
    assert result.exit_code == 0, result.output
    with TestClient(captured["app"]) as client:
        body = client.post("/v1/artwork", json={"member_id": 1, "title_id": 3, "context": {"device": "web"}}).json()
        assert body["policy"] == "linear_ts" and 0 < body["propensity"] <= 1
    assert log.is_file()
    assert captured["app"].app.service.artwork.policy.config.scale == 0.8
    result = runner.invoke(app, ["serve", "--dataset", "toy", "--artwork-policy", "uniform"])
    assert result.exit_code == 2 and "unknown policy 'uniform' in 'uniform'; choose one of" in " ".join(result.output.split())
