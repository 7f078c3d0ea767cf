"""What every command shares: the error boundary, consoles, dataset loading, progress."""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
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
            # The message is text, not markup: "[models.NAME]" in it must survive.
            err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {escape(str(exc))}", highlight=False, soft_wrap=True)
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


def split_fingerprint(data: Any) -> str | None:
    """What a registered model records as its split: the fingerprint of the leave-one-out split
    of the data it was fitted on, the split its tuning chose on and `marquee evaluate` reports on
    by default (so the version joins that leaderboard). None when no member has the three
    titles the split needs."""
    from marquee.data import leave_one_out
    from marquee.errors import DataError

    try:
        return leave_one_out(data).fingerprint()
    except DataError:
        return None


#: Seconds of silence after which output that is not a terminal hears where a long run stands.
HEARTBEAT_S = 10.0


def progress(*, heartbeat_s: float = HEARTBEAT_S) -> Progress | LineProgress:
    """Progress of the long stages of a command, on stderr.

    On a terminal, live bars. Anywhere else (a file, a pipe, CI), where bars would print nothing
    until the end, plain lines instead: see :class:`LineProgress`. Both are used the same way:
    ``with p: t = p.add_task("ease", total=13, note="tuning"); p.update(t, advance=1, note=...)``.
    """
    if err_console.is_terminal:
        return Progress(
            TextColumn("[bold]{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=False,
        )
    return LineProgress(err_console, heartbeat_s=heartbeat_s)


@dataclass
class _Task:
    description: str
    total: float | None
    note: str = ""
    completed: float = 0.0
    started: float = field(default_factory=time.monotonic)
    last_line: float = field(default_factory=time.monotonic)
    counted: bool = True  # show "completed/total" (a stage of one step shows only its note)

    @property
    def finished(self) -> bool:
        return self.total is not None and self.completed >= self.total

    def line(self, now: float, *, beat: bool = False) -> str:
        if self.counted:  # "ease: 3/13 best validation 0.4127, still running (20 s)"
            state = " ".join(filter(None, [f"{self.completed:g}/{self.total:g}", self.note])) + (", still running" if beat else "")
        else:  # a stage: "fitting sasrec on 100,000 interactions: still running (20 s)"
            state = "still running" if beat else self.note
        elapsed = now - self.started
        return f"{self.description}: {state} ({elapsed:.1f} s)" if elapsed < 60 else f"{self.description}: {state} ({elapsed:.0f} s)"


class LineProgress:
    """Progress as lines, for output that is not a terminal.

    Tasks run one after another in the order they were added (a protocol's models, a grid's
    trials). A task prints a line when it starts (when it is added, or when the one before it
    completes), one per step (each :meth:`update` that advances it: a trial of a tuning grid, a
    refit), and, after ``heartbeat_s`` without a line, one that says it is still running, so a
    log is never silent for long. The subset of :class:`rich.progress.Progress` that the
    commands use: ``add_task``, ``update``, ``with``.
    """

    def __init__(self, console: Console, *, heartbeat_s: float = HEARTBEAT_S) -> None:
        if not heartbeat_s > 0:
            raise ValueError(f"heartbeat_s must be > 0, got {heartbeat_s!r}")
        self.console = console
        self.heartbeat_s = heartbeat_s
        self._tasks: list[_Task] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LineProgress:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="marquee-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> int:
        task = _Task(description, total, str(fields.get("note", "")), counted=total is not None)
        with self._lock:
            self._tasks.append(task)
            if self._current() is task:
                self._start(task)
            return len(self._tasks) - 1

    def update(
        self, task_id: int, *, advance: float | None = None, completed: float | None = None, total: float | None = None, **fields: Any
    ) -> None:
        with self._lock:
            task = self._tasks[task_id]
            before = task.completed
            if total is not None:
                task.total = total
            if completed is not None:
                task.completed = completed
            if advance is not None:
                task.completed += advance
            if "note" in fields:
                task.note = str(fields["note"])
            if task.completed != before:
                self._print(task, time.monotonic())
                if task.finished and (following := self._current()) is not None:
                    self._start(following)

    def _current(self) -> _Task | None:
        return next((t for t in self._tasks if not t.finished), None)

    def _start(self, task: _Task) -> None:
        task.started = time.monotonic()
        self._print(task, task.started)

    def _print(self, task: _Task, now: float, *, beat: bool = False) -> None:
        task.last_line = now
        self.console.print(task.line(now, beat=beat), highlight=False, markup=False, soft_wrap=True)

    def _beat(self) -> None:
        while not self._stop.wait(min(self.heartbeat_s / 4, 1.0)):
            now = time.monotonic()
            with self._lock:
                task = self._current()
                if task is not None and now - task.last_line >= self.heartbeat_s:
                    self._print(task, now, beat=True)


@contextmanager
def status(message: str, *, heartbeat_s: float = HEARTBEAT_S) -> Iterator[None]:
    """One long stage (``message``: what it does, e.g. "fitting sasrec on 100,000 interactions").

    On a terminal, a spinner. Anywhere else, a line when it starts, one every ``heartbeat_s``
    while it runs and one with its duration when it ends.
    """
    if err_console.is_terminal:
        with err_console.status(message):
            yield
        return
    with LineProgress(err_console, heartbeat_s=heartbeat_s) as lines:
        task = lines.add_task(message, note="started")
        yield
        lines.update(task, completed=1, total=1, note="done")


HOME_OPTION = typer.Option(None, "--home", envvar="MARQUEE_HOME", help="Marquee's data and model directory [default: ~/.cache/marquee].")
DATASET_OPTION = typer.Option("movielens-100k", "--dataset", "-d", help="Dataset name: movielens-100k (fetched on first use) or one you imported.")
