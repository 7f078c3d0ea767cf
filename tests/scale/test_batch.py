"""Batch scoring into the precomputed table: the serial and process engines agree with the model, and the
table serves. Ray's engine is tested in test_ray.py (one module starts Ray)."""

import numpy as np
import pytest

from marquee.errors import ConfigError, UnknownIdError
from marquee.rank import EASE
from marquee.scale import batch_score
from marquee.serve.precomputed import Precomputed, write_precomputed
from marquee.serve.registry import ModelRegistry
from marquee.testing import block_interactions


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    data = block_interactions()
    ModelRegistry(root).register("ease", EASE(l2=5.0).fit(data), data_fingerprint=data.fingerprint())
    return root


def test_serial_scores_every_member_as_the_model_ranks_them(registry):
    result = batch_score(registry, "ease", 7, engine="serial", block=5)
    _, model = ModelRegistry(registry).load("ease")
    t = result.table
    n = len(model.members_)
    assert result.provenance["members"] == n and result.provenance["model_version"] == "ease:1" and result.provenance["data_fingerprint"]
    assert t.num_rows <= n * 7 and t.column_names == ["member_id", "rank", "title_id", "score"]
    idx, scores = model.recommend_index(np.arange(n), 7)
    for u in (0, n // 2, n - 1):
        rows = t.filter(t.column("member_id").to_numpy() == model.members_.ids[u])
        finite = np.isfinite(scores[u])
        assert rows.column("title_id").to_pylist() == np.asarray(model.titles_.ids)[idx[u][finite]].tolist()
        assert rows.column("rank").to_pylist() == list(range(1, int(finite.sum()) + 1))


def test_process_pool_gives_the_serial_table(registry):
    serial = batch_score(registry, "ease", 5, engine="serial", block=7)
    pooled = batch_score(registry, "ease", 5, engine="process", workers=2, block=7)
    assert pooled.table.equals(serial.table)
    assert pooled.provenance["engine"] == "process" and pooled.provenance["workers"] == 2


def test_several_passes_time_more_work_but_keep_one_row_per_member(registry):
    once = batch_score(registry, "ease", 5, engine="serial", block=4)
    thrice = batch_score(registry, "ease", 5, engine="process", workers=2, block=4, passes=3)
    assert thrice.table.equals(once.table) and thrice.provenance["members"] == 3 * once.provenance["members"]


def test_the_table_round_trips_into_the_precomputed_tier(registry, tmp_path):
    result = batch_score(registry, "ease:1", 4, engine="serial")
    pre = Precomputed.load(write_precomputed(tmp_path / "t", result.table, result.provenance))
    _, model = ModelRegistry(registry).load("ease")
    ids, _ = pre.row(model.members_.ids[0].item(), 4)
    want, _ = model.recommend_one(0, 4)
    assert ids.tolist() == np.asarray(model.titles_.ids)[want].tolist()


def test_bad_requests_are_refused(registry):
    with pytest.raises(ConfigError, match="engine must be one of"):
        batch_score(registry, "ease", engine="spark")
    with pytest.raises(ConfigError, match="workers must be a positive integer"):
        batch_score(registry, "ease", engine="process", workers=0)
    with pytest.raises(UnknownIdError):
        batch_score(registry, "nope")
