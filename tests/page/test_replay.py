import math

import numpy as np
import pytest

from marquee.errors import DataError
from marquee.page import Impressions, slot_replay

KEYS = np.array(["a", "b", "c", "d"])


def additive_log(n=40_000, seed=0):
    """Four rows shown in a uniformly random order; row r at slot s is played with probability q_r θ_s
    (at most one play: the probabilities of a page add up to under 1), the additive case."""
    rng = np.random.default_rng(seed)
    q = np.array([0.30, 0.20, 0.10, 0.05])
    theta = 1.0 / np.arange(1, 5)
    order = np.argsort(rng.random((n, 4)), axis=1)  # order[i, s] = row at slot s
    p = q[order] * theta  # (n, 4) by slot
    u = rng.random(n)
    slot = (u[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    played = np.where(slot < 4, slot * 2, -1)  # two tiles per row, the play on the first
    titles = np.zeros((n, 4, 2), np.int64)
    imp = Impressions(np.zeros((n, 4, 2)), titles, np.zeros((n, 4, 2), bool), np.ones((n, 1)), played,
                      np.full(n, 1 / math.factorial(4)), KEYS[order])  # fmt: skip
    return imp, q, theta


def truth(q, theta, target):
    return sum(q[list(KEYS).index(k)] * theta[s] for k, s in target.items())


@pytest.mark.parametrize("target", [{"a": 0, "b": 1, "c": 2, "d": 3}, {"d": 0, "c": 1, "b": 2, "a": 3}, {"b": 0, "a": 1}])
def test_unbiased_when_plays_add_up_over_rows(target):
    imp, q, theta = additive_log()
    est = slot_replay(imp, [target] * len(imp))
    assert est.low < truth(q, theta, target) < est.high
    assert est.sessions == len(imp) and est.matched == pytest.approx(len(target) / 4 / 4, abs=0.01)


def test_orders_are_told_apart():
    imp, q, theta = additive_log(seed=1)
    best = slot_replay(imp, [{"a": 0, "b": 1, "c": 2, "d": 3}] * len(imp))
    worst = slot_replay(imp, [{"d": 0, "c": 1, "b": 2, "a": 3}] * len(imp))
    assert worst.high < best.low


def test_refuses_what_it_cannot_replay():
    imp, _, _ = additive_log(n=50)
    with pytest.raises(DataError, match="one target per"):
        slot_replay(imp, [{}])
    skewed = Impressions(imp.z, imp.titles, imp.unfinished, imp.intents, imp.played, np.full(50, 0.5), imp.row_keys)
    with pytest.raises(DataError, match="uniformly random") as e:
        slot_replay(skewed, [{}] * 50)
    assert e.value.row == 1
    bare = Impressions(imp.z, imp.titles, imp.unfinished, imp.intents, imp.played, imp.propensity)
    with pytest.raises(DataError, match="row keys"):
        slot_replay(bare, [{}] * 50)
