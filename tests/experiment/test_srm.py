"""Sample-ratio mismatch: the chi-square test against the designed weights."""

import pytest
from scipy import stats

from marquee.errors import ConfigError
from marquee.experiment import sample_ratio_test


def test_matches_scipy_chisquare():
    r = sample_ratio_test({"c": 5100, "a": 4950, "b": 9800}, {"c": 1, "a": 1, "b": 2})
    ref = stats.chisquare([5100, 4950, 9800], [0.25 * 19850, 0.25 * 19850, 0.5 * 19850])
    assert (r.statistic, r.p_value) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)
    assert not r.mismatch


def test_flags_a_real_mismatch_and_describes_it():
    r = sample_ratio_test({"control": 10_300, "treatment": 9_700}, {"control": 1, "treatment": 1})
    assert r.mismatch and r.p_value < 1e-4
    assert r.describe().startswith("control 51.50% (expected 50.00%), treatment 48.50% (expected 50.00%); chi-square 18.00")


def test_a_missing_arm_is_a_mismatch_and_unknown_arms_are_errors():
    assert sample_ratio_test({"c": 1000}, {"c": 1, "t": 1}).mismatch
    with pytest.raises(ConfigError, match=r"observed counts name variant 'x', which is not in the design \['c', 't'\]"):
        sample_ratio_test({"c": 1, "x": 2}, {"c": 1, "t": 1})
