"""`--help` of every command shows its help text as written: bracketed text survives."""

import re

import pytest
import typer
from typer.testing import CliRunner

from marquee.cli.main import app

runner = CliRunner()


def _commands(command, path: tuple[str, ...] = ()):  # typer's own click: duck-typed
    yield path, command
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def _squeezed(text: str) -> str:
    """Without whitespace: help is wrapped to the terminal, anywhere between words or at hyphens."""
    return "".join(text.split())


def test_every_command_is_walked():
    paths = {" ".join(p) for p, _ in COMMANDS}
    assert {"", "train", "evaluate", "recommend", "serve", "models", "models history", "data import", "sim ab"} <= paths


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) or "marquee" for p, _ in COMMANDS])
def test_help_keeps_bracketed_text(path, command):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    shown = _squeezed(result.output)
    texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
    brackets = [b for text in texts for b in re.findall(r"\[[^\]]*\]+", text)]
    for b in brackets:
        assert _squeezed(b.replace("\\[", "[")) in shown, f"{' '.join(path)} --help lost {b!r}"
    for p in command.params:
        if getattr(p, "show_default", False) and isinstance(p.default, int | float | str) and not isinstance(p.default, bool) and p.default != "":
            assert _squeezed(f"default: {p.default}") in shown, f"{' '.join(path)} --help lost the default of {p.name}"
    assert "\\[" not in result.output  # no escapes left over from Rich markup


def test_literal_brackets_in_known_help_strings():
    serve = _squeezed(runner.invoke(app, ["serve", "--help"]).output)
    assert _squeezed("(TOML/JSON [[layers]] of experiments)") in serve
    assert _squeezed("[default: $MARQUEE_HOME/exposures]") in serve
    assert _squeezed("[default: ~/.cache/marquee]") in serve
    assert _squeezed("[default: 8000]") in serve or _squeezed("default: 8000]") in serve
    evaluate = _squeezed(runner.invoke(app, ["evaluate", "--help"]).output)
    assert _squeezed("[models.NAME]") in evaluate and _squeezed("[default: the leader]") in evaluate
