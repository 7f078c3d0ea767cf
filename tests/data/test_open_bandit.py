"""The Open Bandit Dataset sample: the prior parser, the loader on a tiny fake cache, and the real files."""

import hashlib
import json

import numpy as np
import pytest

from marquee.data import open_bandit as obd
from marquee.errors import ConfigError, DataError, FetchError

PRIOR_YAML = """all:
  alpha:
    - 47.0
    - 8.0
  beta:
    - 12198.0
    - 3566.0
men:
  alpha:
    - 1.0
  beta:
    - 2.0
"""

HEADER = ",timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1,user-item_affinity_0,user-item_affinity_1"
ROWS = [
    "0,2019-11-24 00:01:45.406608+00:00,1,3,0,0.5,aaa,x,0.0,2.0",
    "1,2019-11-24 00:01:03.979311+00:00,0,1,1,0.25,bbb,x,0.0,0.0",
    "2,2019-11-25 10:00:00.000000+00:00,1,2,0,0.75,aaa,y,1.0,0.0",
]
ITEMS = ",item_id,item_feature_0,item_feature_1,item_feature_2,item_feature_3\n0,0,-0.5,c1,d1,e1\n1,1,0.9,c2,d1,e1\n"


def test_prior_parser_reads_obps_yaml():
    prior = obd.parse_bts_prior(PRIOR_YAML)
    assert prior == {"all": {"alpha": [47.0, 8.0], "beta": [12198.0, 3566.0]}, "men": {"alpha": [1.0], "beta": [2.0]}}


@pytest.mark.parametrize(
    ("text", "message"),
    [("all:\n  alpha:\n    - x\n", r"line 3: unexpected '- x'"), ("all:\n  alpha:\n    - 1.0\n  beta: []\n", "line 4"),
     ("all:\n  alpha:\n    - 1.0\n  beta:\n", "campaign 'all' needs alpha and beta of equal length")],
)  # fmt: skip
def test_prior_parser_refuses_other_shapes(text, message):
    with pytest.raises(FetchError, match=message):
        obd.parse_bts_prior(text)


@pytest.fixture
def fake_home(tmp_path):
    """A cache laid out as fetch_open_bandit leaves it, with a 3-row log."""
    root = tmp_path / "datasets" / obd.NAME
    files = {"random/all/all.csv": HEADER + "\n" + "\n".join(ROWS) + "\n", "random/all/item_context.csv": ITEMS}
    digests = {}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
        digests[rel] = hashlib.sha256(text.encode()).hexdigest()
    (root / "prior_bts.json").write_text(json.dumps(obd.parse_bts_prior(PRIOR_YAML)))
    (root / "manifest.json").write_text(json.dumps({"files": digests}))
    return tmp_path


def test_loader_maps_columns_in_time_order(fake_home):
    log = obd.open_bandit_log("all", "random", fake_home)
    assert len(log) == 3 and log.n_actions == 2 and log.n_positions == 3 and log.policy == "random"
    # Row 1 of the file is the earliest, so it comes first.
    np.testing.assert_array_equal(log.action, [0, 1, 1])
    np.testing.assert_array_equal(log.position, [0, 2, 1])
    np.testing.assert_array_equal(log.reward, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(log.propensity, [0.25, 0.5, 0.75])
    assert np.all(np.diff(log.timestamp) > 0) and log.timestamp[0] == 1574553663979311
    assert log.context_names == ("user_feature_0=aaa", "user_feature_0=bbb", "user_feature_1=x", "user_feature_1=y")
    np.testing.assert_array_equal(log.context, [[0, 1, 1, 0], [1, 0, 1, 0], [1, 0, 0, 1]])
    np.testing.assert_array_equal(log.affinity, [[0.0, 0.0], [0.0, 2.0], [1.0, 0.0]])
    # item_feature_0 numeric, then one-hot of the categorical item features (d1 and e1 are constant).
    np.testing.assert_allclose(log.action_features, [[-0.5, 1, 0, 1, 1], [0.9, 0, 1, 1, 1]])
    a, b = obd.zozotown_prior("all", fake_home)
    np.testing.assert_array_equal(a, [47.0, 8.0])


def test_loader_refuses_a_changed_file_and_unknown_names(fake_home):
    with pytest.raises(ConfigError, match="campaign must be one of all, men, women; got 'kids'"):
        obd.open_bandit_log("kids", "random", fake_home)
    with pytest.raises(ConfigError, match="policy must be one of random, bts; got 'ucb'"):
        obd.open_bandit_log("all", "ucb", fake_home)
    path = fake_home / "datasets" / obd.NAME / "random/all/all.csv"
    path.write_text(path.read_text().replace(",0.25,", ",0.26,"))
    with pytest.raises(DataError, match=r"all\.csv: does not match the manifest's checksum; fetch again with `marquee data fetch open-bandit --force`"):
        obd.open_bandit_log("all", "random", fake_home)


@pytest.mark.realdata
def test_real_open_bandit_sample(marquee_home):
    from marquee.bandit import beta_slot_distribution, simulate_beta_slots

    clicks = {}
    for policy in obd.POLICIES:
        for campaign in obd.CAMPAIGNS:
            log = obd.open_bandit_log(campaign, policy, marquee_home)
            assert len(log) == 10_000 and log.n_positions == 3
            assert log.affinity.shape == (10_000, log.n_actions) and log.n_features > 0
            clicks[policy, campaign] = int(log.reward.sum())
            if policy == "random":
                np.testing.assert_allclose(log.propensity, 1 / log.n_actions)
    assert {c: n for (p, c), n in clicks.items() if p == "random"} == {"all": 38, "men": 46, "women": 46}
    assert min(clicks.values()) == 38 and max(clicks.values()) == 69
    # ZOZOTOWN's prior: one Beta per item; the exact slate distribution agrees with obp-style simulation.
    alpha, beta = obd.zozotown_prior("men", marquee_home)
    assert alpha.shape == (34,)
    exact = beta_slot_distribution(alpha, beta, 3)
    np.testing.assert_allclose(exact, simulate_beta_slots(alpha, beta, 3, 200_000, seed=0), atol=0.004)
    assert "CC BY 4.0" in json.loads((marquee_home / "datasets" / obd.NAME / "manifest.json").read_text())["credit"]


@pytest.mark.realdata
def test_cli_fetch_open_bandit(marquee_home, monkeypatch):
    from typer.testing import CliRunner

    from marquee.cli.main import app

    monkeypatch.setenv("MARQUEE_HOME", str(marquee_home))
    result = CliRunner().invoke(app, ["data", "fetch", "open-bandit"])
    assert result.exit_code == 0, result.output
    assert "bts/men" in result.output and "69 clicks" in result.output and "CC BY 4.0" in result.output
