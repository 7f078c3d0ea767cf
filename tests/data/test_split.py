"""Evaluation splits."""

import numpy as np
import pytest

from marquee.data import Interactions, global_temporal, leave_one_out, tie_keys
from marquee.errors import ConfigError, DataError
from marquee.testing import block_interactions


def test_leave_one_out_holds_out_last_two_per_member():
    data = Interactions.from_arrays([1, 1, 1, 1, 2, 2, 2], [10, 11, 12, 13, 10, 12, 14], [1, 2, 3, 4, 1, 2, 3])
    split = leave_one_out(data)
    titles = data.titles.ids
    assert titles[split.test.title_idx].tolist() == [13, 14]
    assert titles[split.validation.title_idx].tolist() == [12, 12]
    assert len(split.train) == 3 and len(split.train_validation) == 5
    assert split.n_unevaluated == 0 and split.n_duplicates == 0


def test_same_second_ties_follow_the_hash_key():
    # All four in one second: held-out title is the one with the largest tie key.
    titles = [10, 11, 12, 13]
    data = Interactions.from_arrays([1] * 4, titles, [100] * 4)
    split = leave_one_out(data)
    keys = tie_keys(np.array([1] * 4), np.array(titles))
    order = [t for _, t in sorted(zip(keys.tolist(), titles, strict=True))]
    assert data.titles.ids[split.test.title_idx].tolist() == [order[-1]]
    assert data.titles.ids[split.validation.title_idx].tolist() == [order[-2]]


def test_duplicates_keep_first_occurrence_and_short_histories_stay_in_train():
    data = Interactions.from_arrays([1, 1, 1, 1, 2, 2], [10, 11, 10, 12, 10, 11], [1, 2, 3, 4, 1, 2])
    split = leave_one_out(data)
    assert split.n_duplicates == 1
    assert split.n_unevaluated == 1  # member 2 has two titles
    assert split.test.member_idx.tolist() == [0]


def test_no_leakage_between_parts():
    split = leave_one_out(block_interactions())
    train = split.train.matrix()
    for holdout in (split.validation, split.test):
        for j, u in enumerate(holdout.member_idx):
            assert train[u, holdout.title_idx[j]] == 0


def test_stage_and_fingerprint():
    split = leave_one_out(block_interactions(seed=1))
    fit, holdout = split.stage("test")
    assert fit is split.train_validation and holdout is split.test
    assert split.fingerprint() == leave_one_out(block_interactions(seed=1)).fingerprint()
    assert split.fingerprint() != leave_one_out(block_interactions(seed=2)).fingerprint()
    with pytest.raises(ConfigError, match="stage must be"):
        split.stage("train")


def test_leave_one_out_needs_three_titles():
    with pytest.raises(DataError, match="three"):
        leave_one_out(Interactions.from_arrays([1, 1], [1, 2], [1, 2]))


def test_global_temporal_windows_are_ordered_in_time():
    rng = np.random.default_rng(0)
    n = 600
    data = Interactions.from_arrays(rng.integers(0, 20, n), rng.integers(0, 50, n), rng.integers(0, 10_000, n))
    split = global_temporal(data, 0.1, 0.2)
    t_train = split.train.timestamps.max()
    val_fit = split.train_validation
    assert len(split.train) < len(val_fit) < len(data)
    assert split.train_validation.timestamps.max() >= t_train
    assert len(split.test) > 0
    fit = split.train_validation.matrix()
    for j, u in enumerate(split.test.member_idx):
        targets = split.test.title_idx[split.test.indptr[j] : split.test.indptr[j + 1]]
        assert fit[u].nnz > 0 and fit[u, targets].sum() == 0
    with pytest.raises(ConfigError, match="sum below 1"):
        global_temporal(data, 0.6, 0.5)
