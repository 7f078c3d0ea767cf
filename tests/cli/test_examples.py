"""Every example file under examples/ that the ranking commands read is run through them here."""

import itertools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from marquee.cli.main import app
from marquee.config import load_config_file
from marquee.evaluate import build_candidates
from marquee.evaluate.protocols import grid_points
from marquee.rank import RANKERS
from marquee.serve import ModelRegistry
from tests.cli.toy import import_toy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODELS_CONFIGS = [EXAMPLES / "models.toml", EXAMPLES / "models.json"]
runner = CliRunner()


def test_every_models_config_example_is_tested_here():
    """A models config (a [models] table) added to examples/ must be added to MODELS_CONFIGS."""
    found = {p for p in itertools.chain(EXAMPLES.glob("*.toml"), EXAMPLES.glob("*.json")) if "models" in load_config_file(p)}
    assert found == set(MODELS_CONFIGS)
    assert all(p.name in (EXAMPLES / "README.md").read_text() for p in MODELS_CONFIGS)


@pytest.mark.parametrize("path", MODELS_CONFIGS, ids=lambda p: p.name)
def test_models_config_example_builds_every_model(path):
    models = load_config_file(path)["models"]
    assert set(models) == set(RANKERS)  # the example shows a table for every model
    for candidate in build_candidates(list(models), models):
        section = models[candidate.name]
        assert candidate.params == section.get("params", {})
        assert candidate.grid == section.get("grid", candidate.grid)
        for point in grid_points(candidate.grid):
            candidate.build(point)  # every grid point is a valid configuration


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("examples")
    import_toy(tmp, tmp / "home")
    return tmp / "home"


@pytest.mark.parametrize("path", MODELS_CONFIGS, ids=lambda p: p.name)
def test_evaluate_and_train_read_the_models_config_example(path, home, tmp_path):
    models = load_config_file(path)["models"]
    board_path = tmp_path / "board.json"
    result = runner.invoke(
        app,
        ["evaluate", "-d", "toy", "-m", "popular,ease", "--config", str(path), "--json", str(board_path), "--bootstrap", "20",
         "--home", str(home)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    board = {m["name"]: m for m in json.loads(board_path.read_text())["models"]}
    for name in ("popular", "ease"):
        grid = models[name]["grid"]
        assert len(board[name]["trials"]) == len(list(itertools.product(*grid.values())))  # the example's grid, not the default
        for key, values in grid.items():
            assert board[name]["config"][key] in values
    result = runner.invoke(app, ["train", "ease", "-d", "toy", "--config", str(path), "--name", f"ease-{path.suffix[1:]}", "--home", str(home)])
    assert result.exit_code == 0, result.output
    mv = ModelRegistry(home / "registry").resolve(f"ease-{path.suffix[1:]}@production")
    assert mv.config["l2"] in models["ease"]["grid"]["l2"] and mv.metrics["trials"] == len(models["ease"]["grid"]["l2"])
