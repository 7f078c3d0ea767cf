import numpy as np
import pyarrow as pa
import pytest

from marquee.data import Catalog, Interactions
from marquee.errors import ConfigError, DataError, NotFittedError
from marquee.rank import MostPopular
from marquee.rank.context import ContextReranker, ContextRerankerConfig, ContextStage, context_cells


def test_context_cells_known_answers():
    np.testing.assert_array_equal(
        context_cells(np.array(["tv", "mobile", "tablet", "vr"]), np.array([0, 7, 23, 12])), [0, 5, 15, -1]
    )
    np.testing.assert_array_equal(context_cells(np.array([2, 2]), np.array([13, 18])), [10, 11])


def test_config_is_checked():
    with pytest.raises(ConfigError, match=r"ContextRerankerConfig.candidates must be an int >= 1, got 0"):
        ContextRerankerConfig(candidates=0)
    with pytest.raises(ConfigError, match=r"ContextRerankerConfig.grid must be a non-empty tuple of weights >= 0"):
        ContextReranker(MostPopular(), grid=(-1.0,))
    with pytest.raises(NotFittedError, match=r"call fit\(data\) first"):
        ContextReranker(MostPopular()).recommend_index(np.array([0]), np.array(["tv"]), np.array([20]))


def _log(n_members: int = 200) -> Interactions:
    """Ten titles; title 9 is rarely watched, except on mobile in the morning where everyone picks it."""
    rng = np.random.default_rng(0)
    members, titles, devices, hours, times = [], [], [], [], []
    for u in range(n_members):
        seq = [(int(t), "tv", 20) for t in rng.permutation(9)[:4]]
        if u % 2 == 0:  # half the members also watch title 9, at some point, always on their phone at 8am
            seq.insert(int(rng.integers(0, 5)), (9, "mobile", 8))
        for j, (t, d, h) in enumerate(seq):
            members.append(u)
            titles.append(t)
            devices.append(d)
            hours.append(h)
            times.append(j)
    n = len(members)
    table = pa.table(
        {
            "member_id": np.array(members) + 1,
            "title_id": np.array(titles) + 1,
            "timestamp": np.array(times),
            "device": devices,
            "local_hour": pa.array(hours, pa.int8()),
            "completion": pa.array(np.ones(n), pa.float32()),
        }
    )
    return Interactions.from_table(table, catalog=Catalog.from_arrays(np.arange(1, 11)))


def test_lift_moves_a_title_up_only_in_its_context():
    log = _log()
    stage = ContextReranker(MostPopular(), candidates=10, grid=(0.0, 5.0)).fit(log)
    assert stage.weight_ == 5.0  # the held-out last plays are title 9 on mobile mornings for half the members
    members = np.array([1, 1])  # member position 1 (odd) never watched title 9
    rows = stage.recommend_index(members, np.array(["mobile", "tv"]), np.array([8, 20]), k=3)
    assert rows[0, 0] == 9 and 9 not in rows[1]
    assert stage.lift_[context_cells(np.array(["mobile"]), np.array([8]))[0], 9] > 1.0


def test_needs_a_log_with_context():
    log = Interactions.from_arrays([1, 1, 1, 2, 2, 2], [1, 2, 3, 1, 2, 3], [1, 2, 3, 4, 5, 6])
    with pytest.raises(DataError, match="the log has no device or local_hour"):
        ContextReranker(MostPopular()).fit(log)


def test_stage_reranks_one_session_exactly_as_the_fitted_reranker(tmp_path):
    """The serving stage, fed the base ranker's candidates by title id, gives the batch path's
    order; it survives a save/load round trip; without a known context it changes nothing."""
    log = _log()
    reranker = ContextReranker(MostPopular(), candidates=10, grid=(0.0, 5.0)).fit(log)
    stage = reranker.stage()
    stage.save(tmp_path / "stage")
    loaded = ContextStage.load(tmp_path / "stage")
    assert loaded.weight == 5.0 and loaded.candidates == 10 and loaded.base_name == reranker.base.name
    ids_of = reranker.base.titles_.ids
    for member, device, hour in ((1, "mobile", 8), (1, "tv", 20), (2, "tablet", 13)):
        cand, scores = reranker.base.recommend_index(np.array([member]), 10)
        want = reranker.recommend_index(np.array([member]), np.array([device]), np.array([hour]), k=10)[0]
        for s in (stage, loaded):
            got, _, applied = s.rerank(ids_of[cand[0]], scores[0], device, hour)
            assert applied
            np.testing.assert_array_equal(got, ids_of[want])
    cand, scores = reranker.base.recommend_index(np.array([1]), 10)
    for device, hour in ((None, 8), ("mobile", None), ("console", 8)):
        got, same, applied = stage.rerank(ids_of[cand[0]], scores[0], device, hour)
        assert not applied
        np.testing.assert_array_equal(got, ids_of[cand[0]])
    # Titles the stage never saw get no lift (and are not dropped).
    got, _, applied = stage.rerank(np.array([999, 10]), np.array([1.0, 0.5]), "mobile", 8)
    assert applied and sorted(got.tolist()) == [10, 999]


def test_stage_refuses_a_model_artifact_and_a_damaged_one(tmp_path):
    from marquee.errors import ArtifactError

    MostPopular().fit(_log()).save(tmp_path / "model")
    with pytest.raises(ArtifactError, match="not a context stage"):
        ContextStage.load(tmp_path / "model")
    with pytest.raises(ArtifactError, match=r"must be \(16, 3\)"):
        ContextStage(np.arange(3), np.zeros((2, 3)), 1.0, ContextRerankerConfig())


@pytest.mark.parametrize("ids", [np.array([5, 1, 3, 2, 4]), np.array([5, 1, 3, 2, 4]) * 10**9])  # dense and sparse id lookups
def test_stage_rerank_matches_the_batch_arithmetic_with_excluded_titles(ids):
    """-inf scores (excluded titles) stay last; the rest follow z(score) + λ·lift as in the batch path."""
    rng = np.random.default_rng(0)
    lift = rng.normal(size=(16, 5)).astype(np.float32)
    stage = ContextStage(ids, lift, 0.7, ContextRerankerConfig(candidates=5))
    cand = ids[[4, 0, 2, 1, 3]]
    scores = np.array([3.0, 2.5, -np.inf, 1.0, 0.5])
    got, final, applied = stage.rerank(cand, scores, "web", 19)
    (cell,) = context_cells(np.array(["web"]), np.array([19]))
    cols = np.array([int(np.flatnonzero(ids == t)[0]) for t in cand])
    want = ContextReranker._rerank(np.arange(5)[None, :], scores[None, :], np.array([cell]), lift[:, cols], 0.7)[0]
    assert applied
    np.testing.assert_array_equal(got, cand[want])
    assert got[-1] == cand[2] and final[-1] == -np.inf


def test_stage_with_string_ids_matches_the_integer_stage(tmp_path):
    """Titles named by text, given in any order: the same re-ranking, and the same after a save/load."""
    rng = np.random.default_rng(1)
    ints = np.array([5, 1, 3, 2, 4])
    names = np.array([f"tt{i}" for i in ints], dtype=object)
    lift = rng.normal(size=(16, 5)).astype(np.float32)
    config = ContextRerankerConfig(candidates=5)
    by_int, by_name = ContextStage(ints, lift, 0.7, config), ContextStage(names, lift, 0.7, config)
    order = [4, 0, 2, 1, 3]
    scores = np.array([3.0, 2.5, 2.0, 1.0, 0.5])
    a_ids, a_scores, _ = by_int.rerank(ints[order], scores, "tv", 20)
    b_ids, b_scores, applied = by_name.rerank(names[order], scores, "tv", 20)
    assert applied and [f"tt{i}" for i in a_ids.tolist()] == b_ids.tolist()
    np.testing.assert_allclose(a_scores, b_scores)
    by_name.save(tmp_path / "s")
    loaded = ContextStage.load(tmp_path / "s")
    assert loaded.rerank(names[order], scores, "tv", 20)[0].tolist() == b_ids.tolist()
    with_unseen = loaded.rerank(np.append(names[order], "unseen"), np.append(scores, 0.1), "tv", 20)[0]
    assert sorted(with_unseen.tolist()) == sorted([*names.tolist(), "unseen"])
