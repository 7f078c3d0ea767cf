"""What every command shares: the error boundary, consoles, dataset loading, progress."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from marquee.errors import MarqueeError

# Leaderboards are wide: off a terminal (CI logs, pipes) don't wrap them at 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

F = TypeVar("F", bound=Callable[..., Any])


def errors_to_exit(func: F) -> F:
    """Map Marquee's errors to a one-line headline on stderr and the error's exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MarqueeError as exc:
            err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def load_dataset(name: str, home: Path | None) -> Any:
    """Open a dataset; the built-in MovieLens-100K is fetched on first use."""
    from marquee.data import dataset_dir, open_dataset
    from marquee.data.movielens import NAME, fetch_movielens_100k

    if name == NAME:
        # Through the fetcher even when cached: it recognises the real MovieLens by its fingerprint,
        # so an imported log stored under the same name is refused rather than trained on.
        if not (dataset_dir(name, home) / "manifest.json").is_file():
            err_console.print(f"{NAME} is not cached yet; fetching it")
        return fetch_movielens_100k(home, log=lambda m: err_console.print(f"  {m}", highlight=False))
    return open_dataset(name, home)


def progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


HOME_OPTION = typer.Option(None, "--home", envvar="MARQUEE_HOME", help="Marquee's data and model directory [default: ~/.cache/marquee].")
DATASET_OPTION = typer.Option("movielens-100k", "--dataset", "-d", help="Dataset name: movielens-100k (fetched on first use) or one you imported.")
