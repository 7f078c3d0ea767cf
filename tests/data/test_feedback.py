"""The logged-feedback value type: validated once, with errors that name the field and row."""

import dataclasses

import numpy as np
import pytest

from marquee.data import LoggedFeedback
from marquee.errors import DataError


def _log(**overrides):
    fields = dict(
        context=np.zeros((4, 2)),
        action=[0, 2, 1, 2],
        reward=[1.0, 0.0, 0.0, 1.0],
        propensity=[0.5, 0.25, 0.25, 0.25],
        n_actions=3,
        policy="uniform",
    )
    return LoggedFeedback(**(fields | overrides))


def test_normalises_and_freezes():
    log = _log(position=[0, 1, 1, 0])
    assert log.action.dtype == np.int64 and log.reward.dtype == np.float64
    assert len(log) == 4 and log.n_positions == 2 and log.n_features == 2
    assert log.mean_reward == 0.5
    with pytest.raises(ValueError, match="read-only"):
        log.reward[0] = 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        log.policy = "other"  # type: ignore[misc]


def test_positions_default_to_one_slot():
    log = _log()
    np.testing.assert_array_equal(log.position, 0)
    assert log.n_positions == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"propensity": [0.5, 0.0, 0.25, 0.25]}, r"row 2, column 'propensity': must lie in \(0, 1\], got 0\.0; log the probability"),
        ({"propensity": [0.5, 0.2, 1.5, 0.25]}, r"row 3, column 'propensity': must lie in \(0, 1\], got 1\.5"),
        ({"action": [0, 3, 1, 2]}, r"row 2, column 'action': must lie in \[0, 3\) \(n_actions=3\), got 3"),
        ({"action": [0, 1.5, 1, 2]}, r"row 2, column 'action': must hold integers, got 1\.5"),
        ({"reward": [1.0, np.nan, 0.0, 1.0]}, r"row 2, column 'reward': must be finite, got nan"),
        ({"reward": [1.0, 0.0]}, r"column 'reward': must have shape \(4,\), got \(2,\)"),
        ({"context": np.zeros((3, 2))}, r"column 'context': must have shape \(4, d\), one row per decision"),
        ({"context": np.array([[0, 0], [0, 0], [0, np.inf], [0, 0]])}, r"row 3, column 'context': must be finite, got inf"),
        ({"position": [0, -1, 0, 0]}, r"row 2, column 'position': must be >= 0"),
        ({"position": [0, 2, 0, 0], "n_positions": 2}, r"row 2, column 'position': must lie in \[0, 2\) \(n_positions=2\)"),
        ({"n_actions": 0}, r"column 'n_actions': must be a positive int, got 0"),
        ({"policy": ""}, r"column 'policy': must name the logging policy"),
        ({"affinity": np.zeros((4, 2))}, r"column 'affinity': must have shape \(4, 3\)"),
        ({"action_features": np.zeros((2, 5))}, r"column 'action_features': must have shape \(3, k\), one row per action"),
        ({"action": []}, r"column 'action': the log has no rows"),
    ],
)
def test_bad_logs_are_refused_with_field_and_row(overrides, message):
    with pytest.raises(DataError, match=message):
        _log(**overrides)


def test_source_is_named_in_errors():
    with pytest.raises(DataError, match=r"^obd/random/all\.csv, row 1, column 'propensity'"):
        _log(propensity=[2.0, 0.5, 0.5, 0.5], source="obd/random/all.csv")


def test_action_frequencies_per_slot():
    log = _log(position=[0, 0, 1, 1])
    freq = log.action_frequencies()
    np.testing.assert_allclose(freq, [[0.5, 0.0], [0.0, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(freq.sum(axis=0), 1.0)


def test_take_resamples_rows_and_keeps_the_rest():
    log = _log(affinity=np.arange(12.0).reshape(4, 3), timestamp=[1, 2, 3, 4])
    sub = log.take([3, 3, 0])
    np.testing.assert_array_equal(sub.action, [2, 2, 0])
    np.testing.assert_array_equal(sub.affinity[0], [9.0, 10.0, 11.0])
    assert sub.n_actions == 3 and sub.policy == "uniform" and sub.n_positions == log.n_positions


def test_with_propensity_validates_again():
    with pytest.raises(DataError, match="propensity"):
        _log().with_propensity(np.zeros(4))
