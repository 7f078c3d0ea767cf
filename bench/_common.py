"""What every benchmark shares: the machine it ran on, and writing its section of BENCHMARKS.md."""

from __future__ import annotations

import importlib
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"


def machine(*modules: str) -> dict[str, str]:
    """CPU model, cores, load, Python and the versions of numpy plus ``modules`` (import names)."""
    cpu = "unknown"
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "load_average": f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a",
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for name in ("numpy", *modules):
        info[name.replace("sklearn", "scikit-learn")] = importlib.import_module(name).__version__
    return info


def write_section(key: str, title: str, table: str) -> None:
    """Replace the text between ``<!-- key:start -->`` and ``<!-- key:end -->`` in BENCHMARKS.md
    (appending a ``## title`` section with those markers if absent); other sections stay as they are."""
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    if start not in text:
        text = text.rstrip("\n") + f"\n\n## {title}\n\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    BENCHMARKS.write_text(f"{head}{start}\n{table}\n{end}{tail}")


def _proc_stat(pid: int | str) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (which may hold spaces): state is [0], ppid [1]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid``, all its threads (Linux ``/proc``)."""
    fields = _proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """:func:`cpu_seconds` of ``pid`` and every live descendant (a server's Ray processes, for instance)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_proc_stat(entry.name)[1])
            except OSError:  # gone meanwhile
                continue
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier += children
    total = 0.0
    for p in tree:
        try:
            total += cpu_seconds(p)
        except OSError:  # gone meanwhile
            continue
    return total
