"""A simulated log is an ordinary interaction log: rankers and evaluators run on it unchanged."""

import pytest

from marquee.data import leave_one_out
from marquee.evaluate import evaluate
from marquee.rank import EASE, MostPopular, SASRec


@pytest.mark.slow
@pytest.mark.realdata
def test_rankers_fit_and_evaluate_on_a_simulated_log(ml_log):
    split = leave_one_out(ml_log)
    fit_data, holdout = split.stage("test")
    pop = evaluate(MostPopular().fit(fit_data), holdout)
    ease = evaluate(EASE().fit(fit_data), holdout)
    sasrec = evaluate(
        SASRec(hidden=16, max_len=50, epochs=2, batch_size=128).fit(fit_data), holdout, name="sasrec-small"
    )
    # members have personal tastes: a personal ranker beats popularity, with a margin
    assert ease.value("ndcg@10") > 1.2 * pop.value("ndcg@10")
    assert sasrec.value("ndcg@10") > 0
    assert len(holdout) == ml_log.n_members
