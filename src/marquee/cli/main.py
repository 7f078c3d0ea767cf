"""The ``marquee`` command: a thin shell over the Python API."""

from __future__ import annotations

import typer

from marquee.cli import data, ranking, serving
from marquee.cli import ope
from marquee.cli import experiment
from marquee.cli import artwork
from marquee.cli import sim
from marquee.cli import playback
from marquee.cli import cdn
from marquee.cli import retention
from marquee.cli import search
from marquee.cli import page
from marquee.cli import scale
from marquee.cli._common import errors_to_exit

app = typer.Typer(
    name="marquee",
    help="Marquee: rankers, honest offline evaluation and serving with model switching for streaming catalogs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Help is shown as written: Rich markup would eat bracketed text ("[[layers]]", "[default: ...]").
    # Sub-apps inherit this from the root when typer builds the command tree.
    rich_markup_mode=None,
)
app.add_typer(data.app, name="data")
app.add_typer(ope.app, name="ope")
app.command("train")(errors_to_exit(ranking.train))
app.command("train-context")(errors_to_exit(ranking.train_context))
app.command("evaluate")(errors_to_exit(ranking.evaluate))
app.command("recommend")(errors_to_exit(ranking.recommend))
app.command("serve")(errors_to_exit(serving.serve))
app.command("distill")(errors_to_exit(serving.distill))
app.command("quantize")(errors_to_exit(serving.quantize))
app.add_typer(serving.models_app, name="models")
app.add_typer(experiment.app, name="experiment")
app.add_typer(artwork.app, name="artwork")
app.add_typer(sim.app, name="sim")
app.add_typer(playback.app, name="playback")
app.add_typer(cdn.app, name="cdn")
app.add_typer(retention.app, name="retention")
app.add_typer(page.app, name="page")
app.add_typer(scale.app, name="scale")
app.command("search")(errors_to_exit(search.search))


def main() -> None:
    app()
