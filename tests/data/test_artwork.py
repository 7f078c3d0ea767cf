"""Artwork variants: generated deterministically from the catalog, or read from a user's table with errors that say where."""

import re

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
        ("title_id,variant_id,mood\n1.5,1,calm\n", r"v.csv, column 'title_id': must hold integers or text, got double"),
        ("title_id,variant_id,mood\n1,x,calm\n", r"v.csv, column 'variant_id': must hold integers, got string"),
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


# ---- text title ids ---------------------------------------------------------------------------
TEXT_CATALOG = Catalog.from_arrays([f"tt{i:07d}" for i in range(1, 41)], genres=[GENRES[i % 4] for i in range(40)])


def _fingerprint(v):
    import hashlib

    return hashlib.sha256(repr([v.table.column(c).to_pylist() for c in v.table.column_names]).encode()).hexdigest()[:16]


def test_integer_titles_keep_the_variants_they_always_had():
    """Seeded with (seed, title id) exactly as before text ids: the same catalog gives the same table, byte for byte."""
    assert _fingerprint(generate_variants(CATALOG)) == "2c3763186084e479"
    assert _fingerprint(generate_variants(CATALOG, seed=7)) == "583d5b278a162f21"
    v = generate_variants(CATALOG)
    assert v.table.schema.field("title_id").type == pa.int64() and v.title_ids.dtype == np.int64
    assert v.of(1).features[0].tolist() == [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def test_text_titles_get_stable_variants_seeded_by_a_hash_of_the_id():
    import hashlib

    a = generate_variants(TEXT_CATALOG, seed=0)
    assert a.table.equals(generate_variants(TEXT_CATALOG, seed=0).table)  # the same on every run and machine
    assert not generate_variants(TEXT_CATALOG, seed=1).table.equals(a.table)
    assert a.table.schema.field("title_id").type == pa.string()
    assert a.title_ids.tolist() == [f"tt{i:07d}" for i in range(1, 41)]
    found = a.of("tt0000003")
    assert found.title_id == "tt0000003" and found.variant_ids.tolist() == list(range(len(found)))
    # The seed is (seed, SHA-256 of the id's UTF-8): a title's variants do not depend on the rest of the catalog.
    alone = generate_variants(Catalog.from_arrays(["tt0000003"], genres=[GENRES[2]]), seed=0)
    assert alone.of("tt0000003").features.tolist() == found.features.tolist()
    rng = np.random.default_rng([0, int.from_bytes(hashlib.sha256(b"tt0000003").digest(), "big")])
    assert len(found) == int(rng.integers(3, 7))
    counts = np.unique(a.table.column("title_id").to_numpy(zero_copy_only=False), return_counts=True)[1]
    assert counts.min() >= 3 and counts.max() <= 6
    with pytest.raises(UnknownIdError, match="title 'tt9' has no artwork variants; supply a variants table that covers it"):
        a.of("tt9")
    with pytest.raises(UnknownIdError, match="title 7 has no artwork variants"):
        a.of(7)


def test_lookups_accept_either_kind_of_id_as_the_id_index_does():
    numbered_as_text = generate_variants(Catalog.from_arrays(["9", "10", "11"]), seed=0)
    assert numbered_as_text.title_ids.tolist() == ["9", "10", "11"]  # shortlex, as IdIndex orders them
    assert numbered_as_text.of(10).title_id == "10" and numbered_as_text.of(np.int64(9)).title_id == "9"
    ints = generate_variants(CATALOG, seed=0)
    assert ints.of("12").title_id == 12 and ints.of(np.int64(12)).title_id == 12
    assert ints.of("12").variant_ids.tolist() == ints.of(12).variant_ids.tolist()
    for unknown in ("012", "tt12", "", 10**30):
        with pytest.raises(UnknownIdError, match="has no artwork variants"):
            ints.of(unknown)


def test_user_table_with_text_title_ids(tmp_path):
    (tmp_path / "v.csv").write_text("title_id,variant_id,mood\ntt2,1,calm\ntt10,0,tense\ntt2,0,tense\n")
    v = ArtworkVariants.read(tmp_path / "v.csv")
    assert v.title_ids.tolist() == ["tt2", "tt10"] and v.of("tt2").variant_ids.tolist() == [0, 1]
    assert v.of("tt10").features.tolist() == [[0.0, 1.0]]
    back = ArtworkVariants.read(v.write(tmp_path / "v.parquet"))
    assert back.table.equals(v.table) and back.title_ids.tolist() == ["tt2", "tt10"]
    (tmp_path / "dup.csv").write_text("title_id,variant_id,mood\ntt2,1,calm\ntt2,1,tense\n")
    with pytest.raises(DataError, match=r"dup.csv, row 2, column 'variant_id': title 'tt2' has variant 1 twice"):
        ArtworkVariants.read(tmp_path / "dup.csv")
    long = "t" * 257
    with pytest.raises(DataError, match=r"row 2, column 'title_id': title id must be 1..256 bytes of text, got 257"):
        ArtworkVariants(pa.table({"title_id": ["a", long], "variant_id": [0, 0], "mood": ["calm", "calm"]}))
    with pytest.raises(DataError, match=r"column 'title_id': must hold integers or text, got double"):
        ArtworkVariants(pa.table({"title_id": [1.5], "variant_id": [0], "mood": ["calm"]}))


def test_artwork_log_reads_text_ids_with_their_type():
    rows = [(_record(0, 1, 2, member_id="alice", title_id="tt1"), 1.0), (_record(1, 0, 3, member_id="bob", title_id="tt2"), 0.0)]
    log = ArtworkLog.from_records(rows)
    assert log.member_id.tolist() == ["alice", "bob"] and log.title_id.tolist() == ["tt1", "tt2"]
    assert log.member_id.dtype == object and log.title_id.dtype == object
    ints = ArtworkLog.from_records([(_record(0, 1, 2), 1.0), (_record(1, 0, 3), 0.0)])
    assert ints.member_id.dtype == np.int64 and ints.title_id.tolist() == [10, 11]  # integer logs as before
    mixed = ArtworkLog.from_records([(_record(0, 1, 2, member_id=7), 1.0), (_record(1, 0, 3, member_id="7"), 0.0)])
    assert mixed.member_id.tolist() == [7, "7"]  # as logged: an integer and a string stay apart
    for bad, pattern in [("", "Expected `str` of length >= 1"), ("m" * 257, "Expected `str` of length <= 256"), (1.5, "Expected `int | str`, got `float`")]:
        with pytest.raises(DataError, match=rf"row 2, column 'member_id': {re.escape(pattern)}"):
            ArtworkLog.from_records([(_record(0, 1, 2), 1.0), (_record(1, 0, 3, member_id=bad), 0.0)])
    with pytest.raises(DataError, match=r"row 1, column 'title_id': Expected `int` <= 9223372036854775807"):
        ArtworkLog.from_records([(_record(0, 1, 2, title_id=2**63), 1.0)])
