"""`marquee data`: imports never replace what is stored unless asked; string ids; the shipped example."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from marquee.cli.main import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "data" / "plays.csv"
MAPPING = ["--member-col", "account", "--title-col", "title", "--timestamp-col", "watched_at",
           "--completion-col", "minutes_share", "--device-col", "device", "--hour-col", "local_hour"]  # fmt: skip


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_shipped_example_imports_with_text_ids(home):
    result = _run("data", "import", EXAMPLE, "--name", "plays", *MAPPING, "--home", home)
    assert result.exit_code == 0, result.output
    assert "member_id: string" in result.output and "title_id: string" in result.output
    info = _run("data", "info", "plays", "--home", home)
    assert info.exit_code == 0 and "members text, titles text" in info.output
    manifest = json.loads((home / "datasets" / "plays" / "manifest.json").read_text())
    assert manifest["n_interactions"] == 10 and manifest["n_members"] == 3 and manifest["n_titles"] == 5


def test_import_over_an_existing_dataset_is_refused_unless_replace(home, tmp_path):
    assert _run("data", "import", EXAMPLE, "--name", "plays", *MAPPING, "--home", home).exit_code == 0
    before = (home / "datasets" / "plays" / "manifest.json").read_text()
    small = tmp_path / "small.csv"
    small.write_text("member_id,title_id,timestamp\n1,2,3\n")
    refused = _run("data", "import", small, "--name", "plays", "--home", home)
    assert refused.exit_code != 0 and "already stored" in refused.output and "--replace" in refused.output
    assert (home / "datasets" / "plays" / "manifest.json").read_text() == before
    replaced = _run("data", "import", small, "--name", "plays", "--replace", "--home", home)
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((home / "datasets" / "plays" / "manifest.json").read_text())["n_interactions"] == 1


def test_fetchable_names_are_refused(home, tmp_path):
    small = tmp_path / "small.csv"
    small.write_text("member_id,title_id,timestamp\n1,2,3\n")
    result = _run("data", "import", small, "--name", "movielens-100k", "--replace", "--home", home)
    assert result.exit_code != 0 and "another --name" in result.output
    assert not (home / "datasets" / "movielens-100k").exists()


def test_a_log_stored_under_movielens_name_is_not_taken_for_movielens(home, tmp_path):
    """Even if something else sits where MovieLens is cached, it is recognised by fingerprint, not name."""
    from marquee.data import dataset_dir
    from marquee.data.importer import import_log

    small = tmp_path / "small.csv"
    small.write_text("member_id,title_id,timestamp\n1,2,3\n4,5,6\n")
    ds, _ = import_log(small, "movielens-100k")
    ds.save(dataset_dir("movielens-100k", home))
    for args in (["data", "fetch", "movielens-100k"], ["data", "info", "movielens-100k"], ["evaluate", "-m", "popular", "--no-tune"]):
        result = _run(*args, "--home", home)
        assert result.exit_code != 0, args
        assert "is not MovieLens-100K" in result.output and "--force" in result.output
