"""The ``marquee`` command: a thin shell over the Python API."""

from __future__ import annotations

import typer

from marquee.cli import data, ranking
from marquee.cli._common import errors_to_exit

app = typer.Typer(
    name="marquee",
    help="Marquee: rankers, honest offline evaluation and (soon) serving for streaming catalogs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data.app, name="data")
app.command("train")(errors_to_exit(ranking.train))
app.command("evaluate")(errors_to_exit(ranking.evaluate))
app.command("recommend")(errors_to_exit(ranking.recommend))


def main() -> None:
    app()
