"""`marquee models`: promotions that change nothing are no moves, unknown names are errors that
list the known ones, and every version shows the split its figures refer to."""

import pytest
from typer.testing import CliRunner

from marquee.cli.main import app
from marquee.data import leave_one_out, open_dataset
from marquee.serve import ModelRegistry
from tests.cli.toy import import_toy

runner = CliRunner()


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    import_toy(tmp_path, home)
    return home


def _run(home, *args):
    return runner.invoke(app, [*args, "--home", str(home)])


def test_promoting_the_current_version_is_a_no_op_and_rollback_refuses(home):
    assert _run(home, "train", "ease", "-d", "toy", "--no-tune").exit_code == 0
    result = _run(home, "models", "promote", "ease", "1")
    assert result.exit_code == 0, result.output
    assert "ease@production already points at 1; nothing changed" in " ".join(result.output.split())
    assert [(m.from_version, m.to_version) for m in ModelRegistry(home / "registry").history("ease")] == [(None, 1)]
    result = _run(home, "models", "rollback", "ease")
    assert result.exit_code == 2 and "no earlier version to roll back to (it points at 1)" in " ".join(result.output.split())
    assert "-> 1 (rollback)" not in result.output


def test_history_and_list_of_an_unknown_model_are_errors_that_list_the_known(home):
    assert _run(home, "train", "ease", "-d", "toy", "--no-tune").exit_code == 0
    assert _run(home, "train", "popular", "-d", "toy", "--no-tune").exit_code == 0
    for args in (["models", "history", "UNKNOWN"], ["models", "list", "UNKNOWN"], ["models", "rollback", "UNKNOWN"]):
        result = _run(home, *args)
        text = " ".join(result.output.split())
        assert result.exit_code == 4, (args, result.output)
        assert "no model named 'UNKNOWN'" in text and "known models: ease, popular" in text and "Traceback" not in text
    result = _run(home, "models", "history", "ease", "--alias", "candidate")
    assert result.exit_code == 4 and "model 'ease' has no alias 'candidate'; its aliases: production" in " ".join(result.output.split())
    result = _run(home, "models", "history", "ease")
    assert result.exit_code == 0 and "marquee train" in result.output


def test_list_shows_the_split_of_every_version(home):
    split = leave_one_out(open_dataset("toy", home).interactions).fingerprint()
    assert _run(home, "train", "ease", "-d", "toy", "--no-tune").exit_code == 0  # untuned: still the data's split
    assert _run(home, "train", "item_knn", "-d", "toy").exit_code == 0  # tuned on that split
    assert _run(home, "distill", "--teacher", "ease@production", "-d", "toy", "--factors", "4", "--steps", "5").exit_code == 0
    versions = ModelRegistry(home / "registry").versions()
    assert {mv.name: mv.split_fingerprint for mv in versions} == {"ease": split, "item_knn": split, "ease-student": split}
    result = _run(home, "models", "list")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    assert len(rows) == 3 and all(split in row for row in rows)
