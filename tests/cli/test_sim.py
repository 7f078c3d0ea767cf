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
    figures = json.loads(result.stdout)
    assert figures["popularity_spearman"] > 0.9 and figures["events"] > 10_000
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
