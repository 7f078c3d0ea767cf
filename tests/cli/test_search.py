"""`marquee search`: a rich table of titles, personalised for a known member, and bad queries refused in one line."""

import numpy as np
import pytest
from typer.testing import CliRunner

from marquee.cli.main import app
from marquee.data import Catalog, Interactions, dataset_dir
from marquee.data.dataset import Dataset

runner = CliRunner()
NAMES = ["Star Ax", "Star Bx", "Star Cx", "Moon One", "Moon Two", "Dark Night", "Dawn", "Stone Age"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Dataset ``stars``: 60 members, each with three plays; member m's plays cluster around star 1 + m % 3."""
    home = tmp_path_factory.mktemp("home")
    catalog = Catalog.from_arrays(np.arange(1, 9), names=NAMES, years=[1990 + i for i in range(8)], genres=[["Drama"]] * 8)
    members, titles = [], []
    for m in range(1, 61):
        for t in (1 + m % 3, 4 + m % 3, 1 + m % 3 + 4 if m % 3 else 8):
            members.append(m)
            titles.append(t)
    data = Interactions.from_arrays(members, titles, np.arange(len(members)), catalog=catalog)
    Dataset("stars", data, catalog).save(dataset_dir("stars", home))
    return home


def _titles(output: str) -> list[str]:
    return [cells[2] for line in output.splitlines() if line.startswith("│") for cells in [[c.strip() for c in line.strip("│").split("│")]]]


def test_search_prints_a_table_of_titles(home):
    result = runner.invoke(app, ["search", "star", "-d", "stars", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "non-personalised" in result.output and "matched" in result.output
    assert set(_titles(result.output)[:3]) == {"Star Ax", "Star Bx", "Star Cx"}
    assert "Drama" in result.output and "title" in result.output


def test_a_known_member_gets_a_personal_order_an_unknown_one_the_plain_order(home):
    plain = runner.invoke(app, ["search", "sta", "-d", "stars", "--home", str(home), "--k", "3"])
    unknown = runner.invoke(app, ["search", "sta", "-d", "stars", "--home", str(home), "--k", "3", "--member", "9999"])
    assert unknown.exit_code == 0, unknown.output
    assert _titles(unknown.output) == _titles(plain.output)
    assert "member 9999 is unknown" in unknown.output
    known = runner.invoke(app, ["search", "sta", "-d", "stars", "--home", str(home), "--k", "3", "--member", "5"])
    assert known.exit_code == 0, known.output
    assert "member 5 · ease blend" in known.output and len(_titles(known.output)) == 3


@pytest.mark.parametrize(
    ("query", "message"),
    [("", "the query is empty"), ("   ", "the query is empty"), ("st\x00ar", "control character"), ("a" * 10_000, "10,000 characters")],
)
def test_bad_queries_are_one_line_errors(home, query, message):
    result = runner.invoke(app, ["search", query, "-d", "stars", "--home", str(home)])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_unknown_model_and_nameless_dataset_are_refused(home, tmp_path):
    result = runner.invoke(app, ["search", "star", "-d", "stars", "--model", "nope", "--home", str(home)])
    assert result.exit_code == 2 and "--model 'nope' is not a ranker" in result.output
    catalog = Catalog.from_arrays(np.arange(1, 4))
    data = Interactions.from_arrays([1, 1, 2], [1, 2, 3], [0, 1, 2], catalog=catalog)
    Dataset("nameless", data, catalog).save(dataset_dir("nameless", home))
    result = runner.invoke(app, ["search", "star", "-d", "nameless", "--home", str(home)])
    assert result.exit_code == 2 and "no title names" in result.output


@pytest.mark.realdata
@pytest.mark.slow
def test_movielens_search_for_a_member(marquee_home):
    result = runner.invoke(app, ["search", "star", "--member", "42", "--home", str(marquee_home)])
    assert result.exit_code == 0, result.output
    titles = _titles(result.output)
    assert len(titles) == 10 and all("Star" in t or "star" in t.lower() for t in titles)
