"""The evaluator: exact against known answers and a naive per-member implementation."""

import math

import numpy as np
import pytest

from marquee.data import Interactions, leave_one_out
from marquee.errors import ConfigError
from marquee.evaluate import evaluate, parse_metric
from marquee.rank import EASE, MostPopular, Recommender
from marquee.rank.popular import MostPopularConfig
from marquee.testing import block_interactions


class Oracle(Recommender):
    """Scores each member's held-out titles highest: a perfect ranking."""

    Config = MostPopularConfig
    name = "oracle"

    def __init__(self, holdout=None):
        super().__init__()
        self.holdout = holdout

    def _fit(self, data):
        pass

    def score_index(self, member_idx):
        scores = np.zeros((len(member_idx), len(self.titles_)), np.float32)
        rel = self.holdout.relevance
        lookup = {int(u): j for j, u in enumerate(self.holdout.member_idx)}
        for r, u in enumerate(member_idx):
            scores[r, rel[lookup[int(u)]].indices] = 1.0
        return scores

    def _state(self):
        return {}

    def _restore(self, state):
        pass


def test_perfect_ranking_has_ndcg_one():
    split = leave_one_out(block_interactions())
    fit, holdout = split.stage("test")
    ev = evaluate(Oracle(holdout).fit(fit), holdout)
    for metric in ("ndcg@10", "hr@10", "hr@20", "mrr@10"):
        assert ev.value(metric) == 1.0


def _naive_evaluate(model, fit, holdout, k=10):
    """One member at a time, with Python loops: the cross-check."""
    seen = fit.matrix()
    ndcgs, hrs, mrrs, tops = [], [], [], set()
    for j, u in enumerate(holdout.member_idx):
        scores = model.score_index(np.array([u]))[0].astype(np.float64)
        ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        ranked = [i for i in ranked if seen[u, i] == 0][:k]
        tops.update(ranked)
        target = set(holdout.title_idx[holdout.indptr[j] : holdout.indptr[j + 1]].tolist())
        ranks = [r for r, i in enumerate(ranked) if i in target]
        ndcgs.append(sum(1 / math.log2(r + 2) for r in ranks) / sum(1 / math.log2(r + 2) for r in range(min(len(target), k))))
        hrs.append(1.0 if ranks else 0.0)
        mrrs.append(1 / (ranks[0] + 1) if ranks else 0.0)
    return np.mean(ndcgs), np.mean(hrs), np.mean(mrrs), len(tops) / holdout.n_titles


@pytest.mark.parametrize("model", [MostPopular(), EASE(l2=20.0)])
def test_vectorised_evaluator_equals_naive_loop(model):
    rng = np.random.default_rng(4)
    n = 1500
    data = Interactions.from_arrays(rng.integers(0, 60, n), rng.zipf(1.5, n) % 80, rng.integers(0, 50, n))
    split = leave_one_out(data)
    fit, holdout = split.stage("test")
    model.fit(fit)
    ev = evaluate(model, holdout)
    want = _naive_evaluate(model, fit, holdout)
    got = (ev.value("ndcg@10"), ev.value("hr@10"), ev.value("mrr@10"), ev.value("coverage@10"))
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_intervals_and_paired_comparison():
    split = leave_one_out(block_interactions(n_members=200))
    fit, holdout = split.stage("test")
    good = evaluate(EASE(l2=5.0).fit(fit), holdout)
    bad = evaluate(MostPopular().fit(fit), holdout)
    iv = good.interval("ndcg@10", n_bootstrap=200)
    assert iv.low <= iv.estimate <= iv.high
    comparison = good.compare(bad, "ndcg@10", n_bootstrap=200)
    assert comparison.significant and comparison.difference.estimate > 0
    with pytest.raises(ConfigError, match="coverage is catalog-level"):
        good.compare(bad, "coverage@10")


@pytest.mark.parametrize("bad", ["ndcg", "ndcg@0", "auc@10", "hr@x"])
def test_unknown_metric_is_refused(bad):
    with pytest.raises(ConfigError, match="unknown metric"):
        parse_metric(bad)
