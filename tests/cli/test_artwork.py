"""``marquee artwork simulate`` and ``evaluate``, and artwork in ``marquee serve``, on a small imported dataset."""

import gc
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from marquee.bandit import SQLiteDecisionLog
from marquee.bandit.durable import read_rows
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


def _stub_server(monkeypatch) -> dict:
    """`marquee serve` without a real server: uvicorn.run hands over the app (in the returned dict), and
    the process-wide settings serve makes (logging, BLAS threads, gc.freeze) leave the test process alone."""
    captured = {}
    monkeypatch.setattr("uvicorn.run", lambda asgi, **kw: captured.setdefault("app", asgi))
    monkeypatch.setattr("marquee.serve.logs.configure_json_logging", lambda level: None)
    monkeypatch.setattr("threadpoolctl.threadpool_limits", lambda limits: None)
    monkeypatch.setattr(gc, "freeze", lambda: None)
    return captured


def test_serve_enables_artwork_by_default(home, monkeypatch):
    captured = _stub_server(monkeypatch)
    log = home / "served.sqlite"
    result = runner.invoke(
        app, ["serve", "--heavy", "", "--light", "", "--dataset", "toy", "--artwork-log", str(log), "--artwork-policy", "linear_ts:scale=0.8", "--port", "0"]
    )
    assert result.exit_code == 0, result.output
    with TestClient(captured["app"]) as client:
        body = client.post("/v1/artwork", json={"member_id": 1, "title_id": 3, "context": {"device": "web"}}).json()
        assert body["policy"] == "linear_ts" and 0 < body["propensity"] <= 1
    assert log.is_file()
    assert captured["app"].app.service.artwork.policy.config.scale == 0.8
    result = runner.invoke(app, ["serve", "--dataset", "toy", "--artwork-policy", "uniform", "--port", "0"])
    assert result.exit_code == 2 and "unknown policy 'uniform' in 'uniform'; choose one of" in " ".join(result.output.split())


def test_simulate_writes_a_log_of_its_own_unless_told(home, monkeypatch):
    """By default a simulation goes to a new file under $MARQUEE_HOME/artwork/simulated/, never to
    the service's log, even when MARQUEE_ARTWORK_LOG names it; --log chooses; the output says where."""
    service_log = home / "service.sqlite"
    monkeypatch.setenv("MARQUEE_ARTWORK_LOG", str(service_log))
    result = runner.invoke(app, ["artwork", "simulate", "--n", "20", "--dataset", "toy"])
    assert result.exit_code == 0, result.output
    [written] = (home / "home" / "artwork" / "simulated").glob("*.sqlite")
    assert not service_log.exists() and not (home / "home" / "artwork" / "decisions.sqlite").exists()
    text = " ".join(result.output.split())
    assert f"log: wrote them to {written}" in text and f"marquee artwork evaluate --log {written}" in text
    assert len(SQLiteDecisionLog(written)) == 20
    chosen = home / "chosen.sqlite"
    result = runner.invoke(app, ["artwork", "simulate", "--n", "10", "--dataset", "toy", "--log", str(chosen)])
    assert result.exit_code == 0 and len(SQLiteDecisionLog(chosen)) == 10 and f"log: wrote them to {chosen}" in " ".join(result.output.split())


def test_evaluate_reports_unreadable_rows_by_row_id_and_skips_them_only_when_asked(home):
    log = home / "art.sqlite"
    assert runner.invoke(app, ["artwork", "simulate", "--n", "60", "--log", str(log), "--dataset", "toy"]).exit_code == 0
    bad = _poison(log)
    args = ["artwork", "evaluate", "--log", str(log), "--candidate", "uniform", "--bootstrap", "50"]
    result = runner.invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 3, result.output  # a DataError, one line, no traceback
    assert f"row {bad[0]}, column 'member_id': Expected `int` <= 9223372036854775807" in text and "--skip-bad-rows" in text
    assert "Traceback" not in result.output and "OverflowError" not in result.output
    result = runner.invoke(app, [*args, "--skip-bad-rows"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert all(f"skipped {log}, row {seq}" in text for seq in bad)
    assert "63 decisions, 3 skipped as unreadable, 60 with rewards" in text
    assert any(v in text for v in ("beats", "worse", "inconclusive"))


def _poison(path):
    """Append rows a valid request cannot make (an id past int64, a propensity of 0, text that is not JSON); their row ids."""
    import sqlite3

    db = sqlite3.connect(path)
    with db:
        text, seq = db.execute("SELECT record, seq FROM decisions ORDER BY seq LIMIT 1").fetchone()
        good = json.loads(text)
        rows = [json.dumps({**good, "member_id": 99999999999999999999999}), json.dumps({**good, "propensity": 0}), "{not json"]
        for i, record in enumerate(rows):
            # "poison-" is not hex, so no decision id the simulation draws can carry it ("bad" could: 1 in 4,096)
            db.execute("INSERT INTO decisions (decision_id, kind, timestamp_us, record) VALUES (?, 'ArtworkDecision', 0, ?)", (f"poison-{i}", record))
            db.execute("INSERT INTO rewards VALUES (?, 1.0, 0)", (f"poison-{i}",))
        ids = [r[0] for r in db.execute("SELECT seq FROM decisions WHERE decision_id LIKE 'poison-%' ORDER BY seq")]
    db.close()
    return ids


# ---- examples/artwork: every file format the artwork commands read -----------------------------
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "artwork"


def test_every_artwork_example_is_tested_here():
    """A file added to examples/artwork/ must be exercised below (and described in its README)."""
    shipped = {p.name for p in EXAMPLES.iterdir() if p.name != "README.md"}
    assert shipped == {"variants.csv", "variants.parquet", "decisions.sqlite", "make_examples.py"}
    notes = (EXAMPLES / "README.md").read_text()
    assert all(name in notes for name in shipped)


@pytest.mark.parametrize("name", ["variants.csv", "variants.parquet"])
def test_variants_examples_drive_a_simulation(home, name):
    from marquee.data.artwork import ArtworkVariants

    table = ArtworkVariants.read(EXAMPLES / name)
    assert table.table.equals(ArtworkVariants.read(EXAMPLES / "variants.csv").table)  # the Parquet one is the CSV one
    assert {"palette", "subject", "text", "brightness"} <= set(table.table.column_names)
    log = home / f"{name}.sqlite"
    result = runner.invoke(app, ["artwork", "simulate", "--n", "40", "--dataset", "toy", "--variants", str(EXAMPLES / name), "--log", str(log)])
    assert result.exit_code == 0, result.output
    assert {r["title_id"] for r, _ in SQLiteDecisionLog(log).records()} <= set(table.title_ids.tolist())


def test_decision_log_example_is_evaluated_and_is_what_its_script_makes(tmp_path):
    shipped = EXAMPLES / "decisions.sqlite"
    before = shipped.read_bytes()
    result = runner.invoke(app, ["artwork", "evaluate", "--log", str(shipped), "--candidate", "uniform", "--bootstrap", "100"])
    assert result.exit_code == 0, result.output
    assert "300 decisions, 0 skipped as unreadable, 270 with rewards; logging policy epsilon_greedy" in " ".join(result.output.split())
    assert shipped.read_bytes() == before and not list(EXAMPLES.glob("decisions.sqlite-*"))  # read only: no write-ahead log either
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    again = module.write_log(tmp_path / "again.sqlite")
    assert read_rows(again) == read_rows(shipped)


# ---- a dataset with text ids (members and titles named by strings) ---------------------------------
@pytest.fixture
def text_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MARQUEE_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    rows = ["account,title,ts"] + [
        f"acct-{u:03d},tt{t:07d},{1_700_000_000 + 100 * u + j}" for u in range(30) for j, t in enumerate(rng.choice(20, size=5, replace=False))
    ]  # fmt: skip
    (tmp_path / "plays.csv").write_text("\n".join(rows) + "\n")
    args = ["data", "import", str(tmp_path / "plays.csv"), "--name", "plays", "--member-col", "account", "--title-col", "title", "--timestamp-col", "ts"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return tmp_path


def test_simulate_and_evaluate_on_a_text_id_dataset(text_home):
    log = text_home / "text.sqlite"
    result = runner.invoke(app, ["artwork", "simulate", "--n", "80", "--log", str(log), "--dataset", "plays", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "80 decisions and feedback in" in result.output
    records = SQLiteDecisionLog(log).records()
    assert len(records) == 80 and all(w is not None for _, w in records)
    assert all(r["member_id"].startswith("acct-") and r["title_id"].startswith("tt") for r, _ in records)
    result = runner.invoke(app, ["artwork", "evaluate", "--log", str(log), "--candidate", "uniform", "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    assert "80 decisions, 0 skipped as unreadable, 80 with rewards" in " ".join(result.output.split())


def test_simulated_members_are_the_same_for_integer_ids_as_before(home):
    """Integer datasets draw the same members and titles, and the same clicks, as before text ids."""
    log = home / "same.sqlite"
    assert runner.invoke(app, ["artwork", "simulate", "--n", "30", "--log", str(log), "--dataset", "toy", "--seed", "1"]).exit_code == 0
    records = SQLiteDecisionLog(log).records()
    assert all(isinstance(r["member_id"], int) and isinstance(r["title_id"], int) for r, _ in records)
    rng = np.random.default_rng(1)
    from marquee.cli._common import load_dataset
    from marquee.data.artwork import generate_variants
    from marquee.sim import ArtworkMembers

    ds = load_dataset("toy", None)
    table = generate_variants(ds.catalog)
    members = ArtworkMembers(n_features=len(table.feature_names), seed=1)
    member, title = int(rng.choice(ds.interactions.members.ids)), int(rng.choice(table.title_ids))
    members.draw_context(rng)
    assert (records[0][0]["member_id"], records[0][0]["title_id"]) == (member, title)


def test_serve_with_artwork_starts_on_a_text_id_dataset(text_home, monkeypatch):
    captured = _stub_server(monkeypatch)
    log = text_home / "served.sqlite"
    result = runner.invoke(app, ["serve", "--heavy", "", "--light", "", "--dataset", "plays", "--artwork-log", str(log), "--port", "0"])
    assert result.exit_code == 0, result.output
    with TestClient(captured["app"]) as client:
        r = client.post("/v1/artwork", json={"member_id": "acct-001", "title_id": "tt0000003", "context": {"device": "web"}})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["member_id"] == "acct-001" and body["title_id"] == "tt0000003"
        assert client.post("/v1/feedback", json={"decision_id": body["decision_id"], "reward": 1}).status_code == 200
    [(record, reward)] = SQLiteDecisionLog(log).records()
    assert record["member_id"] == "acct-001" and record["title_id"] == "tt0000003" and reward == 1.0
