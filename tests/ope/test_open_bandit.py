"""Off-policy evaluation on the real Open Bandit sample (fetched on first use)."""

import numpy as np
import pytest

from marquee.bandit import beta_slot_distribution
from marquee.data.open_bandit import open_bandit_log, zozotown_prior
from marquee.ope import IPS, DirectMethod, DoublyRobust, RewardModel

pytestmark = pytest.mark.realdata


def test_known_answer_and_bts_from_random_logs(marquee_home):
    random_log = open_bandit_log("men", "random", marquee_home)
    uniform = np.full((len(random_log), random_log.n_actions, 3), 1 / random_log.n_actions)
    # The logging policy evaluated on its own log: IPS is exactly the click rate.
    assert IPS(n_bootstrap=100).estimate(random_log, uniform).value == pytest.approx(random_log.mean_reward, rel=1e-12)

    alpha, beta = zozotown_prior("men", marquee_home)
    bts = np.broadcast_to(beta_slot_distribution(alpha, beta, 3), (len(random_log), random_log.n_actions, 3))
    truth = open_bandit_log("men", "bts", marquee_home).mean_reward
    q = RewardModel(l2=100.0).fit(random_log).cross_fitted_
    for est in (IPS(n_bootstrap=200), DirectMethod(n_bootstrap=200), DoublyRobust(n_bootstrap=200)):
        e = est.estimate(random_log, bts, q)
        # 46 clicks behind the estimate, 69 behind the truth: each is uncertain by 12-16%.
        assert e.relative_error(truth) < 0.5, f"{e.estimator}: {e.value:.5f} vs {truth:.5f}"
        assert 0 < e.interval.low < e.value < e.interval.high


def test_cli_ope_open_bandit(marquee_home, monkeypatch):
    from typer.testing import CliRunner

    from marquee.cli.main import app

    monkeypatch.setenv("MARQUEE_HOME", str(marquee_home))
    runner = CliRunner()
    result = runner.invoke(app, ["ope", "open-bandit", "--campaign", "women", "--behavior", "random", "--target", "bts", "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    assert "truth 0.00460, 46 clicks" in result.output and "switch_dr" in result.output
    same = runner.invoke(app, ["ope", "open-bandit", "--behavior", "bts", "--target", "bts"])
    assert same.exit_code == 2 and "evaluate one policy from the other's log" in same.output
