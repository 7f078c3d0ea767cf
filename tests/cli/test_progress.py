"""Off a terminal (a file, a pipe, CI) progress is printed as lines, never held back until the end."""

import io
import re
import time

import pytest
from rich.console import Console
from typer.testing import CliRunner

from marquee.cli import _common
from marquee.cli._common import LineProgress, progress, status
from marquee.cli.main import app
from tests.cli.toy import import_toy


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, force_terminal=False), out


def test_line_progress_prints_start_steps_and_runs_tasks_in_order():
    console, out = _console()
    with LineProgress(console, heartbeat_s=60) as p:
        a = p.add_task("ease", total=2, note="tuning")
        b = p.add_task("als", total=1, note="tuning")
        p.update(a, advance=1, note="best validation 0.4100")
        p.update(a, advance=1, note="test ndcg@10 0.3000")
        p.update(b, advance=1, note="test ndcg@10 0.2000")
    lines = [re.sub(r" \(\d+\.\d s\)$", "", line) for line in out.getvalue().splitlines()]
    assert lines == [
        "ease: 0/2 tuning",
        "ease: 1/2 best validation 0.4100",
        "ease: 2/2 test ndcg@10 0.3000",
        "als: 0/1 tuning",  # starts when ease is done, not when it was added
        "als: 1/1 test ndcg@10 0.2000",
    ]


def test_a_long_step_says_it_is_still_running():
    console, out = _console()
    with LineProgress(console, heartbeat_s=0.05) as p:
        p.add_task("sasrec", total=3, note="tuning")
        time.sleep(0.4)  # a heartbeat every 0.05 s: several lines, whatever the scheduler does
    beats = [line for line in out.getvalue().splitlines() if "still running" in line]
    assert len(beats) >= 2 and beats[0].startswith("sasrec: 0/3 tuning, still running (")


def test_status_off_a_terminal_is_a_start_a_heartbeat_and_an_end(monkeypatch):
    console, out = _console()
    monkeypatch.setattr(_common, "err_console", console)
    with status("fitting sasrec on 100 interactions", heartbeat_s=0.05):
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("fitting sasrec on 100 interactions: started (")
    assert any(line.startswith("fitting sasrec on 100 interactions: still running (") for line in lines[1:-1])
    assert lines[-1].startswith("fitting sasrec on 100 interactions: done (")
    assert isinstance(progress(), LineProgress)  # the shared helper picks lines off a terminal


def test_status_on_a_terminal_is_a_spinner_and_bars(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(_common, "err_console", Console(file=out, force_terminal=True, width=100))
    assert not isinstance(progress(), LineProgress)
    with status("fitting"):
        pass


def test_heartbeat_must_be_positive():
    with pytest.raises(ValueError, match="heartbeat_s must be > 0"):
        LineProgress(_console()[0], heartbeat_s=0)


def test_evaluate_and_train_print_each_tuning_step_and_stage(tmp_path):
    home = tmp_path / "home"
    import_toy(tmp_path, home)
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", "-d", "toy", "-m", "popular,ease", "--bootstrap", "50", "--home", str(home)])
    assert result.exit_code == 0, result.output
    err = result.stderr
    # ease's default grid has 4 points, then the refit: a line for the start and each of the 5 steps.
    ease = [line for line in err.splitlines() if line.startswith("ease: ")]
    assert [line.split()[1] for line in ease] == ["0/5", "1/5", "2/5", "3/5", "4/5", "5/5"]
    assert "popular: 0/4 tuning" in err and "bootstrap intervals (50 resamples): done" in err
    result = runner.invoke(app, ["train", "ease", "-d", "toy", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "fitting ease on all 320 interactions: started" in result.stderr
    assert "fitting ease on all 320 interactions: done" in result.stderr
    assert "ease: 4/4 best validation" in result.stderr
