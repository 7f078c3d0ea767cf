"""Policies over variable candidate sets, and the crash-safe decision log."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from marquee.bandit import Decision, SQLiteDecisionLog
from marquee.bandit.durable import read_rows
from marquee.bandit.artwork import (
    CANDIDATE_POLICIES,
    CandidateEpsilonGreedy,
    CandidateLinearTS,
    CandidateLinUCB,
    context_features,
    cross_fitted_distribution,
    joint_features,
)
from marquee.errors import ConfigError, DataError, UnknownIdError

CANDIDATES = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
CONTEXT = context_features("tv", 21)


def trained(policy, seed=0, n=300):
    """A policy that has seen rewards where candidate 1 is best on TV and candidate 0 elsewhere."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x = context_features(["tv", "mobile"][rng.integers(2)], int(rng.integers(24)))
        a = int(rng.integers(4))
        best = 1 if x[0] == 1 else 0
        policy.update(x, CANDIDATES[a], float(rng.random() < (0.6 if a == best else 0.2)))
    return policy


def test_context_and_joint_features():
    assert context_features().tolist() == [0.0] * 8
    x = context_features("mobile", 6)
    assert x[1] == 1.0 and x[:6].sum() == 1.0 and np.allclose(x[6:], [1.0, 0.0])
    z = joint_features(x, CANDIDATES)
    assert z.shape == (4, 9 * 4)
    assert np.allclose(z[2].reshape(9, 4), np.outer(np.r_[1.0, x], np.r_[1.0, CANDIDATES[2]]))
    with pytest.raises(DataError, match=r"column 'device': must be one of \('tv', 'mobile', 'web', 'tablet', 'console', 'other'\) or null, got 'fridge'"):
        context_features("fridge")


def test_configs_are_validated_by_name():
    with pytest.raises(ConfigError, match=r"CandidateEpsilonGreedyConfig.epsilon must be in \[0, 1\], got 1.5"):
        CandidateEpsilonGreedy(epsilon=1.5)
    with pytest.raises(ConfigError, match="CandidateLinearTSConfig.n_samples must be an int >= 1, got 0"):
        CandidateLinearTS(n_samples=0)
    assert set(CANDIDATE_POLICIES) == {"lin_ucb", "linear_ts", "epsilon_greedy"}


def test_online_updates_equal_a_batch_fit_and_learn_the_best_candidate():
    online = trained(CandidateEpsilonGreedy(epsilon=0.0))
    rng = np.random.default_rng(0)
    xs, fs, rs = [], [], []
    for _ in range(300):  # the same draws as trained()
        x = context_features(["tv", "mobile"][rng.integers(2)], int(rng.integers(24)))
        a = int(rng.integers(4))
        best = 1 if x[0] == 1 else 0
        xs.append(x), fs.append(CANDIDATES[a]), rs.append(float(rng.random() < (0.6 if a == best else 0.2)))
    batch = CandidateEpsilonGreedy(epsilon=0.0).fit(np.array(xs), np.array(fs), np.array(rs))
    assert np.allclose(online.A_inv_, batch.A_inv_) and np.allclose(online.b_, batch.b_)
    assert online.action_distribution(CONTEXT, CANDIDATES).tolist() == [0.0, 1.0, 0.0, 0.0]
    assert online.action_distribution(context_features("mobile", 9), CANDIDATES).argmax() == 0


@pytest.mark.parametrize(
    "policy", [CandidateEpsilonGreedy(epsilon=0.3), CandidateLinUCB(alpha=0.0), CandidateLinearTS(scale=2.0, n_samples=500)], ids=lambda p: p.name
)
def test_logged_propensities_are_the_probabilities_used(policy):
    """Known answer: over many seeded choices in one context, (a) each candidate is chosen as often
    as its probability says and (b) E[1{A = a} / propensity(A)] = 1 for every candidate that can be chosen."""
    trained(policy)
    rng = np.random.default_rng(1)
    n = 6000
    chosen = np.empty(n, int)
    prop = np.empty(n)
    for i in range(n):
        chosen[i], prop[i] = policy.choose(CONTEXT, CANDIDATES, rng)
    freq = np.bincount(chosen, minlength=4) / n
    if policy.name == "linear_ts":
        truth = CandidateLinearTS(policy.config.__class__(scale=2.0, n_samples=400_000))
        truth.A_inv_, truth.b_, truth.n_updates_, truth._theta = policy.A_inv_, policy.b_, 1, None
        dist = truth.action_distribution(CONTEXT, CANDIDATES)
        assert 0.05 < dist.max() < 0.95  # the test is only informative when the choice is really random
    else:
        dist = policy.action_distribution(CONTEXT, CANDIDATES)
        assert set(np.round(prop, 12)) <= set(np.round(dist, 12))
    se = np.sqrt(dist * (1 - dist) / n) + 1e-9
    assert (np.abs(freq - dist) < 4.5 * se + 0.002).all(), (freq, dist)
    for a in np.flatnonzero(dist > 0.02):
        ratio = np.mean((chosen == a) / prop)
        assert abs(ratio - 1.0) < 0.12, (a, ratio)


def test_epsilon_greedy_and_lin_ucb_propensities_are_exact():
    eps = trained(CandidateEpsilonGreedy(epsilon=0.2))
    assert np.allclose(eps.action_distribution(CONTEXT, CANDIDATES), [0.05, 0.85, 0.05, 0.05])
    fresh = CandidateLinUCB()
    assert np.allclose(fresh.action_distribution(CONTEXT, CANDIDATES[:2] * 0 + 1), [0.5, 0.5])  # identical candidates tie


def test_cross_fitted_distribution_puts_nothing_on_padding():
    rng = np.random.default_rng(0)
    n, m = 40, 4
    x = np.array([context_features("tv", int(h)) for h in rng.integers(24, size=n)])
    cands = np.tile(CANDIDATES, (n, 1, 1))
    mask = np.ones((n, m), bool)
    mask[::2, 3] = False
    cands[::2, 3] = 0.0
    dist = cross_fitted_distribution(CandidateEpsilonGreedy(epsilon=0.2), x, cands, mask, rng.integers(3, size=n), rng.random(n))
    assert np.allclose(dist.sum(axis=1), 1.0) and (dist[~mask] == 0).all() and (dist[mask] >= 0.2 / 4 - 1e-12).all()


# ---- the durable log ------------------------------------------------------------------------
def decision(i):
    return Decision(f"d{i}", "p", (float(i),), i % 3, 0.5, 1_000 + i)


def test_sqlite_log_appends_reads_and_refuses(tmp_path):
    log = SQLiteDecisionLog(tmp_path / "log" / "d.sqlite")
    log.append_decisions([decision(0), decision(1)])
    assert log.append_reward("d1", 1.0) is True
    assert log.append_reward("d1", 1.0) is False  # an identical retry is acknowledged, not doubled
    with pytest.raises(DataError, match="decision 'd1' already has reward 1.0; a decision takes one reward, got 0.0"):
        log.append_reward("d1", 0.0)
    with pytest.raises(UnknownIdError, match="unknown decision id 'd9'; feedback must quote a decision_id the service returned"):
        log.append_reward("d9", 1.0)
    with pytest.raises(DataError, match="a decision id was logged already"):
        log.append_decisions([decision(2), decision(0)])
    assert len(log) == 2  # the refused batch left nothing behind
    feedback = log.to_memory().to_feedback(n_actions=3)
    assert feedback.reward.tolist() == [0.0, 1.0] and feedback.propensity.tolist() == [0.5, 0.5]
    assert log.record("d1")[1] == 1.0 and log.record("nope") is None
    assert SQLiteDecisionLog(":memory:").records() == []


def test_reopened_without_close_keeps_everything(tmp_path):
    log = SQLiteDecisionLog(tmp_path / "d.sqlite")
    log.append_decisions([decision(i) for i in range(5)])
    log.append_reward("d3", 1.0)
    again = SQLiteDecisionLog(tmp_path / "d.sqlite")  # a second process view, the first never closed
    assert [r["decision_id"] for r, _ in again.records()] == [f"d{i}" for i in range(5)]
    assert again.record("d3")[1] == 1.0


def test_missing_rewards_fill_only_decisions_without_one(tmp_path):
    log = SQLiteDecisionLog(tmp_path / "d.sqlite")
    log.append_decisions([decision(i) for i in range(1200)])  # more ids than one SQL statement binds
    log.append_reward("d3", 1.0)
    done = log.submit_missing_rewards([f"d{i}" for i in range(1200)] + ["d3", "unknown"], 0.0).result()
    assert sorted(r["decision_id"] for r in done) == sorted(f"d{i}" for i in range(1200) if i != 3)
    assert log.record("d3")[1] == 1.0 and log.record("d7")[1] == 0.0
    assert log.submit_missing_rewards(["d7", "d3"], 0.0).result() == []  # nothing left to fill
    log.close()


def test_rows_carry_the_logs_row_ids_and_read_rows_changes_nothing(tmp_path):
    path = tmp_path / "d.sqlite"
    log = SQLiteDecisionLog(path)
    log.append_decisions([decision(i) for i in range(3)])
    log.append_reward("d1", 1.0)
    log.close()
    rows = SQLiteDecisionLog(path).rows()
    assert [(seq, reward) for seq, _, reward in rows] == [(1, None), (2, 1.0), (3, None)] and '"decision_id":"d1"' in rows[1][1]
    before = path.read_bytes()
    assert read_rows(path) == rows and path.read_bytes() == before  # opened read-only
    with pytest.raises(DataError, match="nope.sqlite: does not exist"):
        read_rows(tmp_path / "nope.sqlite")
    (tmp_path / "text.sqlite").write_text("not a database")
    with pytest.raises(DataError, match="text.sqlite: is not a decision log SQLite can read"):
        read_rows(tmp_path / "text.sqlite")


def test_a_record_that_is_not_json_is_reported_with_its_row_id(tmp_path):
    path = tmp_path / "d.sqlite"
    SQLiteDecisionLog(path).append_decisions([decision(0)])
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO decisions (decision_id, kind, timestamp_us, record) VALUES ('x', 'Decision', 0, '{torn')")
    with pytest.raises(DataError, match=r"d.sqlite, row 2, column 'record': is not JSON"):
        SQLiteDecisionLog(path).records()


WRITER = textwrap.dedent(
    """
    import sys
    from marquee.bandit import Decision, SQLiteDecisionLog
    log = SQLiteDecisionLog(sys.argv[1])
    i = 0
    while True:
        log.append_decisions([Decision(f"d{i}", "p", (1.0,), 0, 0.5, i)])
        log.append_reward(f"d{i}", float(i % 2))
        print(i, flush=True)  # acknowledged only after both appends returned
        i += 1
    """
)


def test_kill_9_loses_no_acknowledged_decision_or_reward(tmp_path):
    path = tmp_path / "d.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    acked = []
    try:
        for line in proc.stdout:
            acked.append(int(line))
            if len(acked) >= 40:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL and len(acked) >= 40
    records = {r["decision_id"]: w for r, w in SQLiteDecisionLog(path).records()}
    for i in acked:
        assert records[f"d{i}"] == float(i % 2)


def test_group_commit_isolates_a_failing_append_and_keeps_the_others(tmp_path):
    log = SQLiteDecisionLog(tmp_path / "g.sqlite")
    futures = [log.submit_decisions([decision(i)]) for i in range(50)] + [log.submit_decisions([decision(7)])]
    reward = log.submit_reward("d3", 1.0)  # may share a transaction with its decision: it sees it
    assert [f.result() for f in futures[:50]] == [None] * 50
    with pytest.raises(DataError, match="a decision id was logged already"):
        futures[50].result()
    assert reward.result()[0] is True and reward.result()[1]["decision_id"] == "d3"
    log.close()
    with pytest.raises(DataError, match="is closed; open the log again to append"):
        log.append_decisions([decision(99)])
    assert len(SQLiteDecisionLog(tmp_path / "g.sqlite")) == 50


def _rows_in_the_database_file(path):
    """Decisions in the main database file alone, ignoring the write-ahead log (immutable=1)."""
    con = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return con.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    except sqlite3.OperationalError:  # not even the schema has left the write-ahead log yet
        return 0
    finally:
        con.close()


def test_checkpointer_copies_the_log_into_the_database_without_a_commit_doing_it(tmp_path):
    """30 small appends are far below SQLite's automatic checkpoint (1000 pages): only the
    background checkpointer can have moved them out of the write-ahead log."""
    path = tmp_path / "c.sqlite"
    log = SQLiteDecisionLog(path)
    for i in range(30):
        log.append_decisions([decision(i)])
    deadline = time.monotonic() + 10
    while _rows_in_the_database_file(path) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _rows_in_the_database_file(path) == 30
    log.close()


def test_close_checkpoints_everything_and_a_second_close_does_nothing(tmp_path):
    path = tmp_path / "t.sqlite"
    log = SQLiteDecisionLog(path)
    log.append_decisions([decision(i) for i in range(5)])
    log.close()
    log.close()
    wal = tmp_path / "t.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # TRUNCATE: the log is empty
    assert _rows_in_the_database_file(path) == 5


def artwork_decision(i, member_id, title_id):
    from marquee.bandit.artwork import ArtworkDecision

    return ArtworkDecision(f"a{i}", "epsilon_greedy", (1.0, 0.0), i % 2, 0.5, 1_000 + i, member_id, title_id, (0, 1), ((0.0,), (1.0,)))


def test_text_ids_round_trip_through_the_log_with_their_type(tmp_path):
    """Ids are stored as given, inside each decision's JSON record: text stays text, integers stay integers."""
    from marquee.data.artwork_log import ArtworkLog

    path = tmp_path / "t.sqlite"
    log = SQLiteDecisionLog(path)
    log.append_decisions([artwork_decision(0, "3f1c9a2e-5b7d", "tt0111161"), artwork_decision(1, "bob", "tt0068646"), artwork_decision(2, 42, 7)])
    new, record = log.submit_reward("a0", 1.0).result()
    assert new and record["member_id"] == "3f1c9a2e-5b7d" and record["title_id"] == "tt0111161"
    log.append_reward("a1", 0.0)
    log.append_reward("a2", 1.0)
    log.close()
    records = SQLiteDecisionLog(path).records()
    assert [(r["member_id"], r["title_id"]) for r, _ in records] == [("3f1c9a2e-5b7d", "tt0111161"), ("bob", "tt0068646"), (42, 7)]
    data = ArtworkLog.from_rows(read_rows(path))
    assert data.member_id.tolist() == ["3f1c9a2e-5b7d", "bob", 42] and data.title_id.tolist() == ["tt0111161", "tt0068646", 7]
    assert data.feedback.reward.tolist() == [1.0, 0.0, 1.0]


def test_an_integer_log_reads_back_unchanged(tmp_path):
    from marquee.data.artwork_log import ArtworkLog

    path = tmp_path / "i.sqlite"
    log = SQLiteDecisionLog(path)
    log.append_decisions([artwork_decision(i, 10 + i, 2**63 - 1 - i) for i in range(3)])
    for i in range(3):
        log.append_reward(f"a{i}", float(i % 2))
    log.close()
    rows = read_rows(path)
    assert '"member_id":10,"title_id":9223372036854775807,' in rows[0][1]  # the same JSON text as ever
    data = ArtworkLog.from_rows(rows)
    assert data.member_id.dtype == np.int64 and data.member_id.tolist() == [10, 11, 12]
    assert data.title_id.dtype == np.int64 and data.title_id.tolist() == [2**63 - 1, 2**63 - 2, 2**63 - 3]
