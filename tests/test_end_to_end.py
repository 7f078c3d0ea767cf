"""End to end on the real MovieLens-100K (fetched once, cached)."""

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from marquee.cli.main import app
from marquee.data import leave_one_out
from marquee.evaluate import evaluate
from marquee.rank import EASE, MostPopular

pytestmark = pytest.mark.realdata


def test_ease_reproduces_the_reference_figure(ml100k):
    # The reference: EASE tuned on validation reaches NDCG@10 0.085 / HR@10 0.162 on this split.
    split = leave_one_out(ml100k.interactions)
    fit, holdout = split.stage("test")
    ev = evaluate(EASE(l2=100.0).fit(fit), holdout)
    assert abs(ev.value("ndcg@10") - 0.085) < 0.005
    assert abs(ev.value("hr@10") - 0.162) < 0.01
    assert ev.value("ndcg@10") > evaluate(MostPopular().fit(fit), holdout).value("ndcg@10") * 1.5


def test_cli_exports_movielens_ids(ml100k, marquee_home, tmp_path):
    out = tmp_path / "top10.csv"
    result = CliRunner().invoke(
        app, ["evaluate", "-m", "popular", "--no-tune", "--report", str(tmp_path / "r.html"), "--export-recs", str(out),
              "--bootstrap", "50", "--home", str(marquee_home)],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.read_text().splitlines()))[1:]
    assert len(rows) == 943 * 10
    users = {int(r[0]) for r in rows}
    assert users == set(range(1, 944))
    items = np.array([int(r[2]) for r in rows])
    assert items.min() >= 1 and items.max() <= 1682
