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
