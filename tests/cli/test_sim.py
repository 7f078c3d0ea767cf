"""``marquee sim`` end to end on MovieLens-100K."""

import json

import pytest
from typer.testing import CliRunner

from marquee.cli.main import app

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_sim_calibrate_and_generate(ml100k, marquee_home, tmp_path):
    home = tmp_path / "home"
    (home / "datasets").mkdir(parents=True)
    (home / "datasets" / "movielens-100k").symlink_to(marquee_home / "datasets" / "movielens-100k")
    runner = CliRunner()
    result = runner.invoke(app, ["sim", "calibrate", "--members", "300", "--json", "--home", str(home)])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)  # the stages report on stderr; stdout stays the JSON
    assert figures["popularity_spearman"] > 0.9 and figures["events"] > 10_000
    # Off a terminal each stage prints a line when it starts and ends (and while it runs long).
    assert "fitting a world of 300 members on movielens-100k: started" in result.stderr
    assert "simulating the plays of 300 members: done" in result.stderr
    result = runner.invoke(app, ["sim", "generate", "--members", "300", "--name", "sim-test", "--home", str(home)])
    assert result.exit_code == 0, result.output
    from marquee.data import open_dataset

    ds = open_dataset("sim-test", home)
    assert ds.interactions.table.column("device").null_count == 0 and ds.info["simulated"] is True
    result = runner.invoke(app, ["sim", "ab", "--members", "400", "--ranker", "popular", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "A/B plays" in result.output and "interleaving: wins" in result.output
    bad = runner.invoke(app, ["sim", "ab", "--ranker", "nope", "--home", str(home)])
    assert bad.exit_code == 2 and "unknown ranker 'nope'" in bad.output
    bad = runner.invoke(app, ["sim", "calibrate", "--members", "0", "--home", str(home)])
    assert bad.exit_code == 2 and "WorldConfig.n_members must be an int >= 1, got 0" in bad.output


def test_train_context_on_a_simulated_log_then_serve_it(ml100k, marquee_home, tmp_path):
    """A simulated log (device, hour, completion) -> `marquee train-context` -> a registered
    stage that the service applies to requests stating their context, and only to those."""
    from fastapi.testclient import TestClient

    from marquee.data import open_dataset
    from marquee.rank import MostPopular
    from marquee.serve import ModelRegistry
    from marquee.serve.app import Service, create_app
    from marquee.serve.router import Router

    home = tmp_path / "home"
    (home / "datasets").mkdir(parents=True)
    (home / "datasets" / "movielens-100k").symlink_to(marquee_home / "datasets" / "movielens-100k")
    runner = CliRunner()
    assert runner.invoke(app, ["sim", "generate", "--members", "300", "--name", "sim-ctx", "--home", str(home)]).exit_code == 0
    result = runner.invoke(app, ["train-context", "--dataset", "sim-ctx", "--base", "popular", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "← chosen" in result.output and "registered context:1" in result.output and "context@production: - -> 1" in result.output
    bad = runner.invoke(app, ["train-context", "--dataset", "movielens-100k", "--home", str(home)])
    assert bad.exit_code == 3 and "the log has no device or local_hour" in bad.output

    log = open_dataset("sim-ctx", home).interactions
    service = Service(Router(MostPopular().fit(log), default_budget_ms=1000), ModelRegistry(home / "registry"))
    service.load_context("context@production")
    member = int(log.table.column("member_id")[0].as_py())
    with TestClient(create_app(service)) as client:
        plain = client.post("/v1/recommendations", json={"member_id": member, "k": 10}).json()
        assert plain["context_stage"] is None
        lists = {}
        for device, hour in (("tv", 21), ("tablet", 8)):
            body = client.post("/v1/recommendations", json={"member_id": member, "k": 10, "context": {"device": device, "local_hour": hour}}).json()
            assert body["context_stage"] == "context:1" and len(body["items"]) == 10
            lists[device] = [i["title_id"] for i in body["items"]]
        assert lists["tv"] != lists["tablet"]  # the simulated world's context shifts taste; the stage learned it
        other = client.post("/v1/recommendations", json={"member_id": member, "k": 10, "context": {"device": "console", "local_hour": 21}}).json()
        assert other["context_stage"] is None and [i["title_id"] for i in other["items"]] == [i["title_id"] for i in plain["items"]]
        assert 'marquee_context_reranked_total{stage="context:1"} 2.0' in client.get("/metrics").text
