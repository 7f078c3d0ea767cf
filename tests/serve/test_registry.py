"""The model registry: provenance, aliases, history, rollback, refusal of damaged artifacts."""

import numpy as np
import pytest

from marquee.data import leave_one_out
from marquee.errors import ArtifactError, ConfigError, UnknownIdError
from marquee.provenance import code_version
from marquee.rank import EASE, MostPopular
from marquee.serve import ModelRegistry
from marquee.testing import block_interactions


@pytest.fixture
def registry(tmp_path):
    return ModelRegistry(tmp_path / "reg")


@pytest.fixture
def data():
    return block_interactions()


def test_register_records_provenance(registry, data):
    split = leave_one_out(data)
    model = EASE(l2=5.0).fit(split.train_validation)
    mv = registry.register(
        "home", model, data_fingerprint=split.train_validation.fingerprint(), split_fingerprint=split.fingerprint(),
        metrics={"ndcg@10": 0.5}, description="first",
    )
    assert (mv.name, mv.version) == ("home", 1)
    assert mv.cls == "marquee.rank.ease:EASE" and mv.config == {"l2": 5.0}
    assert mv.data_fingerprint == split.train_validation.fingerprint() and mv.split_fingerprint == split.fingerprint()
    assert mv.code_version == code_version() and mv.metrics == {"ndcg@10": 0.5}
    assert len(mv.artifact_sha256) == 64 and mv.created_at.endswith("+00:00")
    loaded_mv, loaded = registry.load("home:1")
    np.testing.assert_allclose(loaded.score([1000]), model.score([1000]))
    child = registry.register("home-light", MostPopular().fit(data), parent="home:1")
    assert child.parent == ("home", 1)


def test_versions_aliases_history_and_rollback(registry, data):
    for l2 in (1.0, 2.0, 3.0):
        registry.register("home", EASE(l2=l2).fit(data))
    assert [v.version for v in registry.versions("home")] == [1, 2, 3]
    assert registry.resolve("home").version == 3
    registry.set_alias("home", "production", 1, actor="alice", reason="launch")
    registry.set_alias("home", "production", 2)
    registry.set_alias("home", "production", 3)
    assert registry.resolve("home@production").version == 3
    back = registry.rollback("home", "production")
    assert (back.from_version, back.to_version, back.kind) == (3, 2, "rollback")
    registry.rollback("home", "production")
    assert registry.alias("home", "production") == 1
    with pytest.raises(ConfigError, match="no earlier version"):
        registry.rollback("home", "production")
    history = registry.history("home", "production")
    assert [(m.from_version, m.to_version) for m in history] == [(None, 1), (1, 2), (2, 3), (3, 2), (2, 1)]
    assert history[0].actor == "alice" and history[0].reason == "launch"


def test_unknown_refs_say_what_exists(registry, data):
    registry.register("home", EASE().fit(data))
    with pytest.raises(UnknownIdError, match=r"no version 9 of model 'home'; versions: \[1\]"):
        registry.get("home", 9)
    with pytest.raises(UnknownIdError, match="has no alias 'production'"):
        registry.resolve("home@production")
    with pytest.raises(UnknownIdError, match="no model named 'away'"):
        registry.resolve("away")
    with pytest.raises(ConfigError, match="must be 1-64 characters"):
        registry.register("Bad Name", EASE().fit(data))


def test_damaged_artifact_is_refused(registry, data):
    mv = registry.register("home", EASE().fit(data))
    arrays = mv.path / "arrays.safetensors"
    blob = bytearray(arrays.read_bytes())
    blob[-1] ^= 1
    arrays.write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="fails its checksum"):
        registry.load("home:1")


def test_a_second_registry_object_sees_the_same_state(registry, data):
    registry.register("home", EASE().fit(data))
    registry.set_alias("home", "candidate", 1)
    other = ModelRegistry(registry.root)
    assert other.aliases("home") == {"candidate": 1}


def test_alias_never_moves_onto_a_damaged_artifact(registry, data):
    registry.register("home", EASE().fit(data))
    mv = registry.register("home", EASE(l2=9.0).fit(data))
    registry.set_alias("home", "production", 1)
    (mv.path / "arrays.safetensors").write_bytes(b"damaged")
    with pytest.raises(ArtifactError, match="fails its checksum"):
        registry.set_alias("home", "production", 2)
    assert registry.alias("home", "production") == 1


def test_promoting_the_current_version_is_no_move(registry, data):
    registry.register("home", EASE(l2=1.0).fit(data))
    registry.register("home", EASE(l2=2.0).fit(data))
    first = registry.set_alias("home", "production", 1)
    assert first.changed and (first.from_version, first.to_version) == (None, 1)
    again = registry.set_alias("home", "production", 1, actor="bob", reason="again")
    assert not again.changed and (again.from_version, again.to_version) == (1, 1)
    assert [(m.from_version, m.to_version) for m in registry.history("home")] == [(None, 1)]
    # Nothing to step back to: the repeated promotion is not a step (rollback used to "succeed" 1 -> 1).
    with pytest.raises(ConfigError, match=r"no earlier version to roll back to \(it points at 1\)"):
        registry.rollback("home", "production")
    registry.set_alias("home", "production", 2)
    registry.set_alias("home", "production", 2)
    assert registry.rollback_target("home", "production") == 1
    back = registry.rollback("home", "production")
    assert (back.from_version, back.to_version) == (2, 1)
    assert [(m.from_version, m.to_version, m.kind) for m in registry.history("home")] == [
        (None, 1, "set"), (1, 2, "set"), (2, 1, "rollback")
    ]


def test_rollback_skips_no_moves_recorded_by_older_versions(registry, data):
    """Histories written before repeated promotions became no-ops hold 1 -> 1 rows; they are not steps."""
    import sqlite3

    registry.register("home", EASE(l2=1.0).fit(data))
    registry.register("home", EASE(l2=2.0).fit(data))
    registry.set_alias("home", "production", 1)
    registry.set_alias("home", "production", 2)
    con = sqlite3.connect(registry.root / "registry.sqlite")
    with con:
        con.execute(
            "INSERT INTO alias_history (name, alias, from_version, to_version, at, actor, reason, kind) "
            "VALUES ('home', 'production', 2, 2, '2025-01-01T00:00:00.000+00:00', 'old', '', 'set')"
        )
    con.close()
    assert registry.rollback_target("home", "production") == 1
    registry.rollback("home", "production")
    with pytest.raises(ConfigError, match="no earlier version"):
        registry.rollback("home", "production")


def test_history_of_an_unknown_model_names_the_known_ones(registry, data):
    registry.register("home", EASE().fit(data))
    registry.register("away-light", MostPopular().fit(data))
    assert registry.names() == ["away-light", "home"]
    with pytest.raises(UnknownIdError, match=r"no model named 'nope' .*known models: away-light, home"):
        registry.history("nope")
    with pytest.raises(ConfigError, match=r"nope@production was never set"):
        registry.rollback("nope")  # the service answers this 409 nothing_to_roll_back; `marquee models rollback` names the known models
    with pytest.raises(UnknownIdError, match=r"no model named 'nope'"):
        registry.set_alias("nope", "production", 1)
    assert registry.history("home") == []  # known, never promoted: an empty history, not an error
    with pytest.raises(UnknownIdError, match=r"no model named 'x' .*\(it is empty\)"):
        ModelRegistry(registry.root.parent / "empty").history("x")
