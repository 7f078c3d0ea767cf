"""Artwork variants: generated deterministically from the catalog, or read from a user's table with errors that say where."""

import numpy as np
import pyarrow as pa
import pytest

from marquee.data.artwork import ATTRIBUTES, ArtworkVariants, generate_variants
from marquee.data.artwork_log import ArtworkLog
from marquee.data.catalog import Catalog
from marquee.errors import DataError, UnknownIdError

GENRES = [["Horror", "Thriller"], ["Children's", "Animation"], ["Drama"], []]
CATALOG = Catalog.from_arrays(np.arange(1, 401), genres=[GENRES[i % 4] for i in range(400)])


def test_generated_variants_are_deterministic_distinct_and_featurised():
    a, b = generate_variants(CATALOG, seed=0), generate_variants(CATALOG, seed=0)
    assert a.table.equals(b.table)
    assert not generate_variants(CATALOG, seed=1).table.equals(a.table)
    counts = np.bincount(a.table.column("title_id").to_numpy())[1:]
    assert counts.min() >= 3 and counts.max() <= 6 and len(set(counts)) > 1
    for title in (1, 2, 399):
        found = a.of(title)
        assert found.variant_ids.tolist() == list(range(len(found)))
        # One level per attribute: each row's one-hot blocks sum to 1, and no two variants of a title look alike.
        assert found.features.shape == (len(found), sum(len(v) for v in ATTRIBUTES.values()))
        assert (found.features.sum(axis=1) == len(ATTRIBUTES)).all()
        assert len({tuple(r) for r in found.features}) == len(found)
    assert a.feature_names[:4] == ("palette=warm", "palette=cool", "palette=dark", "palette=bright")


def test_genres_shift_the_palette():
    v = generate_variants(CATALOG, seed=0)
    title = v.table.column("title_id").to_numpy()
    palette = np.array(v.table.column("palette").to_pylist())
    horror, children = (title - 1) % 4 == 0, (title - 1) % 4 == 1
    # Weights 5:1:1:1 in favour of the genre's palette vs 1:1:1:1: well over a quarter of ~450 variants each.
    assert (palette[horror] == "dark").mean() > 0.4 > (palette[children] == "dark").mean()
    assert (palette[children] == "bright").mean() > 0.4 > (palette[horror] == "bright").mean()


def test_user_table_round_trips_through_parquet_and_csv(tmp_path):
    table = pa.table({"title_id": [7, 7, 3], "variant_id": [2, 1, 9], "mood": ["calm", "tense", "calm"], "faces": [1, 0, 2]})
    v = ArtworkVariants(table)
    assert v.title_ids.tolist() == [3, 7] and v.of(7).variant_ids.tolist() == [1, 2]
    assert v.feature_names == ("mood=calm", "mood=tense", "faces")
    assert v.of(7).features.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]
    back = ArtworkVariants.read(v.write(tmp_path / "v.parquet"))
    assert back.table.equals(v.table)
    (tmp_path / "v.csv").write_text("title_id,variant_id,mood,faces\n7,2,calm,1\n7,1,tense,0\n3,9,calm,2\n")
    assert ArtworkVariants.read(tmp_path / "v.csv").of(7).features.tolist() == v.of(7).features.tolist()
    with pytest.raises(UnknownIdError, match="title 5 has no artwork variants; supply a variants table that covers it"):
        v.of(5)


@pytest.mark.parametrize(
    ("csv", "pattern"),
    [
        ("title_id,mood\n1,calm\n", r"v.csv, column 'variant_id': missing column 'variant_id'"),
        ("title_id,variant_id\n1,1\n", r"v.csv: has no attribute columns"),
        ("title_id,variant_id,mood\n1,1,calm\n1,2,\n", r"v.csv, row 2, column 'mood': is empty"),
        ("title_id,variant_id,mood\n1,1,calm\n1,1,tense\n", r"v.csv, row 2, column 'variant_id': title 1 has variant 1 twice"),
        ("title_id,variant_id,mood\nx,1,calm\n", r"v.csv, column 'title_id': must hold integers, got string"),
    ],
)
def test_bad_user_tables_name_file_row_and_column(tmp_path, csv, pattern):
    (tmp_path / "v.csv").write_text(csv)
    with pytest.raises(DataError, match=pattern):
        ArtworkVariants.read(tmp_path / "v.csv")


def test_missing_file_says_what_to_pass(tmp_path):
    with pytest.raises(DataError, match="nope.parquet: does not exist; pass a Parquet or CSV variants table"):
        ArtworkVariants.read(tmp_path / "nope.parquet")


def _record(i, action, m, **over):
    r = {"decision_id": f"d{i}", "policy": "epsilon_greedy", "context": [1.0, 0.0], "action": action, "propensity": 0.5,
         "timestamp_us": i, "member_id": 1, "title_id": 10 + i, "variant_ids": list(range(m)), "candidates": [[float(j)] for j in range(m)]}  # fmt: skip
    return {**r, **over}


def test_artwork_log_pads_candidate_sets_and_drops_rounds_without_feedback():
    log = ArtworkLog.from_records([(_record(0, 1, 2), 1.0), (_record(1, 3, 4), None), (_record(2, 0, 3), 0.0)])
    assert len(log) == 2 and log.feedback.n_actions == 3
    assert log.mask.tolist() == [[True, True, False], [True, True, True]]
    assert log.chosen_features.tolist() == [[1.0], [0.0]]
    assert log.uniform()[0].tolist() == [0.5, 0.5, 0.0]
    assert len(ArtworkLog.from_records([(_record(1, 3, 4), None)], missing_reward=0.0)) == 1
    with pytest.raises(DataError, match="has no decisions with feedback yet"):
        ArtworkLog.from_records([(_record(1, 3, 4), None)])
    with pytest.raises(DataError, match="row 1, column 'action': shows action 5, but the round had 2 candidates"):
        ArtworkLog.from_records([(_record(0, 5, 2), 1.0), (_record(1, 0, 6), 1.0)])
    with pytest.raises(DataError, match="row 1, column 'candidates': is not an artwork decision"):
        ArtworkLog.from_records([({"decision_id": "x"}, 1.0)])
