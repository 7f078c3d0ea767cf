"""The protocol: tuning sees validation only; the final fit is on train+validation."""

import numpy as np
import pytest

from marquee.data import leave_one_out
from marquee.errors import ConfigError
from marquee.evaluate import Candidate, build_candidates, grid_points, run_protocol, tune, write_html_report
from marquee.rank import EASE, MostPopular
from marquee.testing import block_interactions


def test_grid_points_product():
    assert grid_points({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    assert grid_points({}) == [{}]
    with pytest.raises(ConfigError, match="non-empty list"):
        grid_points({"a": []})


def _record_fits(monkeypatch) -> list:
    """The data of every EASE.fit call from now on."""
    fitted_on = []
    original = EASE.fit

    def spy(self, data):
        fitted_on.append(data)
        return original(self, data)

    monkeypatch.setattr(EASE, "fit", spy)
    return fitted_on


def test_tune_fits_on_train_and_scores_validation(monkeypatch):
    split = leave_one_out(block_interactions(n_members=80))
    fitted_on = _record_fits(monkeypatch)
    params, trials = tune(Candidate("ease", EASE, grid={"l2": [1.0, 1000.0]}), split)
    assert all(d is split.train for d in fitted_on)
    assert len(trials) == 2 and params == trials[int(np.argmax([t.value for t in trials]))].params


def test_a_fixed_configuration_is_never_fitted_on_validation(monkeypatch):
    """--no-tune / recorded configurations: one fit (train+validation), not a validation fit first."""
    split = leave_one_out(block_interactions(n_members=80))
    fitted_on = _record_fits(monkeypatch)
    board = run_protocol([Candidate("ease", EASE, params={"l2": 10.0}), Candidate("one", EASE, grid={"l2": [5.0]})], split)
    assert fitted_on == [split.train_validation, split.train_validation]
    assert board["ease"].trials == () and board["one"].config.l2 == 5.0
    assert Candidate("ease", EASE).n_trials() == 0 and Candidate("ease", EASE, grid={"l2": [1.0, 2.0]}).n_trials() == 2


def test_run_protocol_refits_on_train_validation_and_reports(tmp_path):
    split = leave_one_out(block_interactions(n_members=80))
    board = run_protocol([Candidate("pop", MostPopular), Candidate("ease", EASE, grid={"l2": [1.0, 10.0]})], split)
    assert board.ranked()[0].name == "ease"
    assert board["ease"].model.seen_.nnz == split.train_validation.matrix().nnz
    assert board.split_fingerprint == split.fingerprint()
    d = board.to_dict(n_bootstrap=50)
    assert {m["name"] for m in d["models"]} == {"pop", "ease"}
    page = write_html_report(board, tmp_path / "r.html", dataset="toy", n_bootstrap=50).read_text()
    assert page.count("data:image/png;base64,") == 5 and split.fingerprint() in page


def test_build_candidates_validates_early():
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        build_candidates(["nope"])
    with pytest.raises(ConfigError, match="EASEConfig.l2 must be > 0"):
        build_candidates(["ease"], {"ease": {"grid": {"l2": [-1.0]}}})
    with pytest.raises(ConfigError, match="unknown key 'grids'"):
        build_candidates(["ease"], {"ease": {"grids": {}}})
    (c,) = build_candidates(["ease"], {"ease": {"grid": {"l2": [3.0]}}})
    assert c.grid == {"l2": [3.0]}
    (c,) = build_candidates(["ease"], tune=False)
    assert c.grid == {}
