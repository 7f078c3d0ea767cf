"""The personalised-search study on the tiny world: searches are prefixes of titles drawn from taste, the
blend is fitted on one half of the members and measured on the other, and personalisation helps."""

import numpy as np
import pytest

from marquee.data import Catalog, Interactions
from marquee.errors import ConfigError
from marquee.rank import EASE
from marquee.search import SearchIndex
from marquee.search.personalize import BlendConfig
from marquee.sim.search import PREFIX_KINDS, SearchStudyConfig, log_searches, search_study, world_searches

FIRST = ["Star", "Stone", "Storm", "Moon", "Money", "Mother", "Dark", "Dance", "Dawn", "Love"]
SECOND = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "India", "Juliet", "Kilo", "Lima"]


@pytest.fixture(scope="module")
def named(tiny_world):
    """The tiny world's titles (same ids) with names that share short prefixes."""
    ids = tiny_world.titles_.ids
    names = [f"{FIRST[i % len(FIRST)]} {SECOND[i // len(FIRST) % len(SECOND)]}" for i in range(ids.size)]
    return Catalog.from_arrays(ids, names=names)


@pytest.fixture(scope="module")
def index(named):
    return SearchIndex().build(named)


def test_searches_are_prefixes_of_titles_drawn_from_taste(tiny_world, named):
    members = np.arange(tiny_world.n_members).repeat(5)
    s = world_searches(tiny_world, members, named, seed=0)
    names = named.table.column("name").to_pylist()
    assert len(s) == members.size and set(s.kinds.tolist()) == set(PREFIX_KINDS)
    for text, target, kind in zip(s.texts, s.targets.tolist(), s.kinds.tolist(), strict=True):
        name = names[target]
        assert name.startswith(text)
        assert text == (name.split()[0] if kind == "first-word" else name[: int(kind[-1])])
    # The wanted titles follow taste: members favour the titles their affinity ranks high.
    top = np.argsort(-tiny_world.affinity(members), axis=1)[:, :20]
    assert np.mean((top == s.targets[:, None]).any(axis=1)) > 0.5
    again = world_searches(tiny_world, members, named, seed=0)
    assert again.texts == s.texts and np.array_equal(again.targets, s.targets)


def test_personalisation_beats_the_non_personalised_order_on_held_out_members(tiny_world, planted, index):
    ranker = EASE().fit(planted)
    config = SearchStudyConfig(train_searches=600, test_searches=600, n_bootstrap=300, blend=BlendConfig(candidates=60))
    study = search_study(tiny_world, ranker, index, config, seed=0)
    assert study.n_train > 400 and len(study.searches) == 600
    assert study.mrr["base"].estimate > study.mrr["text"].estimate  # popularity helps already
    assert study.mrr["personal"].estimate > study.mrr["base"].estimate
    assert study.difference.difference.low > 0 and study.lift.low > 0
    assert study.mrr["oracle"].estimate >= study.mrr["personal"].estimate - 0.05
    assert study.weights["member_z"] + study.weights["member_rank"] > 0
    d = study.to_dict()
    assert d["n_test"] == 600 and 0 < d["candidate_recall"] <= 1 and set(d["mrr"]) == {"text", "base", "personal", "oracle"}
    assert set(d["mrr_by_kind"]) == set(PREFIX_KINDS)


def test_log_searches_type_each_members_last_play(planted, named):
    log = Interactions(planted.table, planted.members, planted.titles, named)
    rest, s = log_searches(log, seed=0)
    assert len(rest) == len(log) - len(s) and len(s) == np.sum(np.diff(log.member_indptr) >= 2)
    last = log.member_indptr[1:][np.diff(log.member_indptr) >= 2] - 1
    np.testing.assert_array_equal(s.targets, log.title_idx[last])


def test_bad_input_is_refused(tiny_world, planted, named):
    with pytest.raises(ConfigError, match="no title names"):
        world_searches(tiny_world, np.arange(3))
    with pytest.raises(ConfigError, match="same ids"):
        world_searches(tiny_world, np.arange(3), Catalog.from_arrays(np.arange(1, 4), names=["a", "b", "c"]))
    with pytest.raises(ConfigError, match="kinds must be"):
        world_searches(tiny_world, np.arange(3), named, kinds=("prefix-9",))
    few = planted.select(planted.member_idx < 10)
    t = few.table
    small = Interactions.from_arrays(
        t.column("member_id").to_numpy(), t.column("title_id").to_numpy(), t.column("timestamp").to_numpy(), catalog=planted.catalog
    )
    with pytest.raises(ConfigError, match="persona"):
        search_study(tiny_world, EASE().fit(small), SearchIndex().build(named))
    with pytest.raises(ConfigError, match="train_searches"):
        SearchStudyConfig(train_searches=0)
