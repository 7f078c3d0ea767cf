import numpy as np
import pytest

from marquee.errors import DataError
from marquee.sim import calibrate
from marquee.sim.calibration import gini


def test_gini_known_answers():
    assert gini(np.ones(4)) == 0.0
    assert gini(np.array([0, 0, 0, 1])) == pytest.approx(0.75)
    assert gini(np.zeros(3)) == 0.0


def test_calibrate_refuses_different_catalogs(tiny_world):
    log = tiny_world.log(seed=0)
    with pytest.raises(DataError, match="compare logs over the same catalog"):
        calibrate((np.ones(3), np.ones(3)), log)


def test_a_log_is_perfectly_calibrated_against_itself(tiny_world):
    log = tiny_world.log(seed=0)
    cal = calibrate(log, log)
    assert cal.popularity_ks == 0 and cal.activity_ks == 0 and cal.popularity_spearman == pytest.approx(1.0)
    assert all(r == s for _, r, s in cal.rows)
    assert "popularity gini" in cal.to_text()


@pytest.mark.realdata
def test_world_matches_movielens_popularity_and_activity(ml_world, ml_log, ml100k):
    cal = calibrate(ml100k.interactions, ml_log)
    real, sim = cal.value("popularity gini")
    assert abs(real - sim) < 0.03  # 0.629 real
    real, sim = cal.value("top 10% titles' share")
    assert abs(real - sim) < 0.03
    assert cal.popularity_ks < 0.08
    assert cal.popularity_spearman > 0.95
    real, sim = cal.value("activity gini")
    assert abs(real - sim) < 0.03
    assert cal.activity_ks < 0.08  # 1500 members resampled from 943: 95% KS noise is about 0.056
    # the stored references are the real data's
    assert cal == calibrate((ml_world.real_counts_, ml_world.real_activity_), ml_log)
