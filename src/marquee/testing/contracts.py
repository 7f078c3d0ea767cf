"""The contract every ranker honours, as a pytest suite a new model opts into in a few lines::

    class TestEASE(RecommenderContract):
        def make(self):
            return EASE(l2=10.0)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from marquee.data.interactions import Interactions
from marquee.errors import ArtifactError, ConfigError, NotFittedError, UnknownIdError
from marquee.rank.base import Recommender
from marquee.testing.fixtures import block_interactions

__all__ = ["RecommenderContract"]


class RecommenderContract:
    """Subclass and implement :meth:`make`. Class flags relax what a model cannot promise."""

    #: The model ranks a member's own taste group first (false for non-personalised models).
    personalized: bool = True
    #: Two fits with the same config and data give the same scores.
    deterministic: bool = True

    def make(self) -> Recommender:
        raise NotImplementedError

    def data(self) -> Interactions:
        return block_interactions()

    def fitted(self) -> tuple[Recommender, Interactions]:
        data = self.data()
        return self.make().fit(data), data

    # ---- construction and config -------------------------------------------------------
    def test_fit_returns_self(self) -> None:
        model = self.make()
        assert model.fit(self.data()) is model
        assert model.is_fitted

    def test_use_before_fit_says_call_fit(self) -> None:
        model = self.make()
        with pytest.raises(NotFittedError, match=r"call fit\(data\) first"):
            model.recommend([1000])
        with pytest.raises(NotFittedError, match=r"call fit\(data\) first"):
            model.score([1000])

    def test_unknown_hyperparameter_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="has no hyperparameter 'no_such_param'"):
            type(self.make())(no_such_param=1)

    def test_config_round_trips_json(self) -> None:
        config = self.make().config
        again = type(config)(**json.loads(json.dumps(dataclasses.asdict(config))))
        assert again == config

    # ---- scoring -----------------------------------------------------------------------
    def test_scores_cover_every_catalog_title(self) -> None:
        model, data = self.fitted()
        scores = model.score([1000, 1001, 1002])
        assert scores.shape == (3, data.n_titles)
        assert scores.dtype == np.float32
        assert np.isfinite(scores).all()
        sub = model.score([1000], [5001, 5000])
        np.testing.assert_allclose(sub[0], scores[0, [1, 0]], rtol=1e-5, atol=1e-6)

    def test_recommend_excludes_seen_and_is_sorted(self) -> None:
        model, data = self.fitted()
        members = data.members.ids[:10]
        recs = model.recommend(members, k=5)
        assert recs.title_ids.shape == (10, 5) and recs.scores.shape == (10, 5)
        seen = data.matrix()
        for row, member in enumerate(members):
            watched = set(data.titles.ids[seen[data.members.positions(member)[0]].indices].tolist())
            assert not watched & set(recs.title_ids[row].tolist())
            assert len(set(recs.title_ids[row].tolist())) == 5
            assert np.all(np.diff(recs.scores[row]) <= 0)

    def test_single_member_path_gives_the_batch_answer(self) -> None:
        model, data = self.fitted()
        rows = np.arange(min(data.n_members, 20))
        for k in (1, 5, data.n_titles + 3):
            idx, vals = model.recommend_index(rows, k)
            for r in rows.tolist():
                one_idx, one_vals = model.recommend_one(r, k)
                np.testing.assert_array_equal(one_idx, idx[r])
                np.testing.assert_allclose(one_vals, vals[r], rtol=1e-5, atol=1e-6)  # one row vs a batch product

    def test_k_larger_than_catalog_is_clamped(self) -> None:
        model, data = self.fitted()
        recs = model.recommend([1000], k=10_000, exclude_seen=False)
        assert recs.title_ids.shape == (1, data.n_titles)

    def test_unknown_member_names_the_id(self) -> None:
        model, _ = self.fitted()
        with pytest.raises(UnknownIdError, match="unknown member id 424242"):
            model.recommend([424242])

    def test_bad_k_is_refused(self) -> None:
        model, _ = self.fitted()
        with pytest.raises(ConfigError, match="k must be a positive integer"):
            model.recommend([1000], k=0)

    def test_learns_taste_groups(self) -> None:
        if not self.personalized:
            pytest.skip("not a personalised model")
        model, data = self.fitted()
        recs = model.recommend(data.members.ids, k=3)
        member_group = (data.members.ids - 1000) % 2
        title_group = (recs.title_ids - 5000) % 2
        same = (title_group == member_group[:, None]).mean()
        assert same >= 0.9, f"only {same:.0%} of top-3 titles are from the member's own taste group"

    def test_deterministic(self) -> None:
        if not self.deterministic:
            pytest.skip("not deterministic")
        data = self.data()
        a = self.make().fit(data).score(data.members.ids[:5])
        b = self.make().fit(data).score(data.members.ids[:5])
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    def test_string_ids_give_the_integer_answer(self, tmp_path: Path) -> None:
        """The same log with ids as text ("m1000", "t5000"): same scores, string ids out, and back from disk."""
        model, data = self.fitted()
        named = block_interactions(string_ids=True)
        assert np.array_equal(named.member_idx, data.member_idx) and np.array_equal(named.title_idx, data.title_idx)
        other = self.make().fit(named)
        recs = other.recommend(["m1000", "m1001"], k=3)
        assert recs.member_ids.tolist() == ["m1000", "m1001"]
        assert all(isinstance(t, str) and t.startswith("t") for t in recs.title_ids.ravel().tolist())
        if self.deterministic:
            np.testing.assert_allclose(other.score(["m1000", "m1001"]), model.score([1000, 1001]), rtol=1e-5, atol=1e-6)
        other.save(tmp_path / "named")
        loaded = Recommender.load(tmp_path / "named")
        np.testing.assert_array_equal(loaded.recommend(["m1000", "m1001"], 3).title_ids, recs.title_ids)
        with pytest.raises(UnknownIdError, match="unknown member id 'm9'"):
            loaded.recommend(["m9"])

    # ---- persistence -------------------------------------------------------------------
    def test_save_load_round_trip(self, tmp_path: Path) -> None:
        model, data = self.fitted()
        model.save(tmp_path / "m")
        loaded = Recommender.load(tmp_path / "m")
        assert type(loaded) is type(model) and loaded.config == model.config
        ids = data.members.ids[:7]
        np.testing.assert_allclose(loaded.score(ids), model.score(ids), rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(loaded.recommend(ids, 4).title_ids, model.recommend(ids, 4).title_ids)
        manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
        assert manifest["class"].startswith("marquee.") and "sha256" in json.dumps(manifest)
        assert not list((tmp_path / "m").glob("*.pkl")) and not list((tmp_path / "m").glob("*.pt"))

    def test_damaged_artifact_is_refused(self, tmp_path: Path) -> None:
        model, _ = self.fitted()
        model.save(tmp_path / "m")
        arrays = tmp_path / "m" / "arrays.safetensors"
        blob = bytearray(arrays.read_bytes())
        blob[-1] ^= 0xFF
        arrays.write_bytes(bytes(blob))
        with pytest.raises(ArtifactError, match="fails its checksum"):
            Recommender.load(tmp_path / "m")
