"""`marquee recommend` answers as the service does: a member the model does not know gets the
cold-start answer (the router's popularity list, fallback_reason unknown_member), not an error."""

import asyncio

import pytest
from typer.testing import CliRunner

from marquee.cli.main import app
from marquee.data import open_dataset
from marquee.rank import MostPopular
from marquee.serve import ModelRegistry
from marquee.serve.router import Router
from tests.cli.toy import import_toy

runner = CliRunner()


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    import_toy(tmp_path, home)
    import_toy(tmp_path, home, name="toy-text", member_prefix="u")
    for dataset, name in (("toy", "ease"), ("toy-text", "ease-text")):
        result = runner.invoke(app, ["train", "ease", "-d", dataset, "--no-tune", "--name", name, "--home", str(home)])
        assert result.exit_code == 0, result.output
    return home


def _tables(output: str) -> list[list[tuple[str, str]]]:
    """(title_id, score) rows of each table printed, in order."""
    tables: list[list[tuple[str, str]]] = []
    for line in output.splitlines():
        if line.startswith("┏"):
            tables.append([])
        elif line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            tables[-1].append((cells[1], cells[3]))
    return tables


def _service_answer(home, model_ref: str, dataset: str, member, k: int):
    mv, model = ModelRegistry(home / "registry").load(model_ref)
    router = Router(MostPopular().fit(open_dataset(dataset, home).interactions))
    router.set_tier("heavy", model, mv.ref)
    return asyncio.run(router.recommend(member, k))


def test_unknown_member_gets_the_services_cold_start_answer(home):
    result = runner.invoke(app, ["recommend", "--member", "999999", "--member", "3", "--model", "ease", "-k", "5", "--home", str(home)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "member 999999 · popular · unknown member, cold-start answer" in text and "fallback_reason: unknown_member" in text
    assert "member 3 · ease:1" in text
    cold, known = _tables(result.output)
    answer = _service_answer(home, "ease", "toy", 999999, 5)
    assert answer.fallback_reason == "unknown_member" and answer.model_used == "popular"
    assert [t for t, _ in cold] == [str(t) for t in answer.title_ids.tolist()]
    served = _service_answer(home, "ease", "toy", 3, 5)
    assert served.fallback_reason is None and [t for t, _ in known] == [str(t) for t in served.title_ids.tolist()]


def test_member_ids_are_strings_or_integers(home):
    # Integer ids given as text are found ("3" is member 3); text ids as they are.
    result = runner.invoke(app, ["recommend", "--member", "u3", "--member", "u999", "--model", "ease-text", "-k", "3", "--home", str(home)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "member u3 · ease-text:1" in text and "member u999 · popular · unknown member, cold-start answer" in text
    (known, cold) = _tables(result.output)
    assert [t for t, _ in known] == [str(t) for t in _service_answer(home, "ease-text", "toy-text", "u3", 3).title_ids.tolist()]
    assert [t for t, _ in cold] == [str(t) for t in _service_answer(home, "ease-text", "toy-text", "u999", 3).title_ids.tolist()]
    # An integer-looking id is not a text id: member "3" is unknown to a model of u0..u39.
    result = runner.invoke(app, ["recommend", "--member", "3", "--model", "ease-text", "--home", str(home)])
    assert result.exit_code == 0 and "unknown member, cold-start answer" in " ".join(result.output.split())


def test_cold_start_without_its_dataset_says_what_is_missing(home):
    result = runner.invoke(app, ["recommend", "--member", "999999", "--model", "ease", "-d", "elsewhere", "--home", str(home)])
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert "member '999999' is unknown to ease:1, and its cold-start answer needs the popularity of dataset 'elsewhere'" in text
    assert "Traceback" not in result.output
    # A known member needs no dataset (names are a nicety).
    result = runner.invoke(app, ["recommend", "--member", "3", "--model", "ease", "-d", "elsewhere", "--home", str(home)])
    assert result.exit_code == 0, result.output
