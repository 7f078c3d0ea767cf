"""Qini curves: known answers at the ends, a perfect score beats a random one beats a reversed one."""

import numpy as np
import pytest

from marquee.errors import ConfigError, DataError
from marquee.metrics.intervals import Interval
from marquee.retention.qini import qini_curve
from tests.retention.test_uplift import trial


@pytest.fixture(scope="module")
def one_arm():
    """Control and intervention 1 (which helps members with x2 > 0 and hurts the others), with the true effect."""
    _, t, y, mu = trial(8000, 11, propensity=[0.5, 0.5, 0.0, 0.0])
    return mu[:, 1] - mu[:, 0], t == 1, y


def test_perfect_beats_random_beats_reversed(one_arm):
    tau, treated, y = one_arm
    noise = np.random.default_rng(0).random(tau.size)
    perfect = qini_curve(tau, treated, y, n_bootstrap=100)
    random = qini_curve(noise, treated, y, n_bootstrap=100)
    reversed_ = qini_curve(-tau, treated, y, n_bootstrap=100)
    # measured: 0.055 [0.049, 0.060], -0.002 [-0.008, 0.004], -0.055 [-0.060, -0.050]
    assert perfect.qini.low > random.qini.high and random.qini.low > reversed_.qini.high
    assert random.qini.low < 0 < random.qini.high
    assert perfect.qini.estimate > 0.03 and reversed_.qini.estimate < -0.03
    # targeting the half who gain keeps more than targeting everyone
    assert perfect.incremental.max() > perfect.incremental[-1] + 0.05


def test_curve_ends_and_bands(one_arm):
    tau, treated, y = one_arm
    curve = qini_curve(tau, treated, y, n_points=21, n_bootstrap=50, level=0.8)
    assert curve.fraction.shape == curve.incremental.shape == curve.lower.shape == curve.upper.shape == (21,)
    assert curve.fraction[0] == 0 and curve.fraction[-1] == 1 and curve.incremental[0] == 0
    # at fraction 1 the curve is the trial's average effect, the difference in retention rates
    assert curve.incremental[-1] == pytest.approx(y[treated].mean() - y[~treated].mean())
    np.testing.assert_allclose(curve.random, curve.fraction * curve.incremental[-1])
    assert (curve.lower <= curve.upper).all() and np.mean(
        (curve.lower <= curve.incremental) & (curve.incremental <= curve.upper)
    ) > 0.9
    assert isinstance(curve.qini, Interval) and curve.qini.level == 0.8
    assert curve.qini.low <= curve.qini.estimate <= curve.qini.high
    again = qini_curve(tau, treated, y, n_points=21, n_bootstrap=50, level=0.8)
    np.testing.assert_array_equal(again.lower, curve.lower)  # seeded


def test_hand_computed_qini():
    # order by score: T1 T0 C1 C0 -> at 2 members: R_T = 1, N_T = 2, N_C = 0 -> Q = 1; at 4: 1 - 1 * 2 / 2 = 0
    curve = qini_curve([4, 3, 2, 1], [True, True, False, False], [1, 0, 1, 0], n_points=3, n_bootstrap=1)
    np.testing.assert_allclose(curve.incremental, [0.0, 0.5, 0.0])


def test_bad_inputs_are_named():
    with pytest.raises(DataError, match=r"^row 2, column 'score': scores must be finite"):
        qini_curve([1.0, np.nan], [True, False], [1, 0])
    with pytest.raises(DataError, match=r"^row 2, column 'treated': must be booleans"):
        qini_curve([1.0, 2.0], [1, 2], [1, 0])
    with pytest.raises(DataError, match=r"column 'treated': needs both treated and control members"):
        qini_curve([1.0, 2.0], [True, True], [1, 0])
    with pytest.raises(DataError, match=r"column 'outcome': must be one numeric outcome per member, shape \(2,\)"):
        qini_curve([1.0, 2.0], [True, False], [1, 0, 1])
    with pytest.raises(ConfigError, match=r"n_points must be an int >= 2, got 1"):
        qini_curve([1.0, 2.0], [True, False], [1, 0], n_points=1)
