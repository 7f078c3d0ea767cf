"""A small log the command-line tests import as dataset ``toy``: 40 members x 8 titles."""

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from marquee.cli.main import app


def import_toy(directory: Path, home: Path, *, name: str = "toy", member_prefix: str = "") -> None:
    """Write ``log.csv`` under ``directory`` and import it into ``home`` as ``name``.

    ``member_prefix`` (e.g. ``"u"``) makes the member ids text: ``u0``, ``u1``, ...
    """
    rng = np.random.default_rng(0)
    rows = ["member,title,ts"]
    for u in range(40):
        for j, t in enumerate(rng.choice(30, size=8, replace=False)):
            rows.append(f"{member_prefix}{u},{(u % 2) + 2 * (t // 2)},{1_700_000_000 + 100 * u + j}")
    path = directory / f"{name}.csv"
    path.write_text("\n".join(rows) + "\n")
    result = CliRunner().invoke(
        app,
        ["data", "import", str(path), "--name", name, "--member-col", "member", "--title-col", "title", "--timestamp-col", "ts",
         "--home", str(home)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "read 320 rows, kept 320" in result.output
