"""Allocation: deterministic, stable across processes and versions, weighted, layered, held out."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from marquee.errors import ConfigError
from marquee.experiment import Allocator, Experiment, Holdout, Layer, Variant, bucket


def _allocator() -> Allocator:
    home = Layer("home", (
        Experiment("row-order", (Variant("control"), Variant("new")), traffic=0.5),
        Experiment("artwork", (Variant("control"), Variant("bandit")), traffic=0.5),
    ))  # fmt: skip
    search = Layer("search", (Experiment("ranker", (Variant("ease"), Variant("sasrec"))),))
    return Allocator([home, search], [Holdout("global", 0.1)])


def test_bucket_is_the_documented_sha256():
    digest = hashlib.sha256(b"s1\x1f42").hexdigest()
    assert bucket(42, "s1") == (int(digest[:16], 16) >> 11) / 2**53
    assert bucket(42, "s1") == bucket("42", "s1")  # the id's text form is what is hashed


# Pinned: these must never change, or every running experiment would reshuffle its members.
def test_pinned_buckets_and_variants():
    assert [bucket(m, "s1") for m in (0, 42, "alice")] == [0.9738529585341698, 0.4285784648879174, 0.8367732060095509]
    e = Experiment("row-order", (Variant("control", 1), Variant("a", 1), Variant("b", 2)))
    assert [e.variant_for(m) for m in range(12)] == ["a", "b", "control", "b", "a", "b", "a", "control", "a", "b", "b", "control"]


PINNED_MEMBERS = {
    0: {"assignments": [], "holdouts": ["global"]},
    1: {"assignments": [("row-order", "new"), ("ranker", "ease")], "holdouts": []},
    3: {"assignments": [("artwork", "control"), ("ranker", "sasrec")], "holdouts": []},
    6: {"assignments": [("row-order", "control"), ("ranker", "sasrec")], "holdouts": []},
}


def test_pinned_member_assignments():
    for m in _allocator().assign(PINNED_MEMBERS):
        want = PINNED_MEMBERS[m.member_id]
        assert [(a.experiment, a.variant) for a in m.assignments] == want["assignments"]
        assert list(m.holdouts) == want["holdouts"]


def test_same_assignments_in_a_fresh_process_with_another_hash_seed():
    code = (
        "import json; from marquee.experiment import Allocator; "
        "a = Allocator.from_dict(json.loads(input())); print(json.dumps([m.to_dict() for m in a.assign(range(300))]))"
    )
    allocator = _allocator()
    for seed in ("12345",):  # the parent runs with a random hash seed
        out = subprocess.run(
            [sys.executable, "-c", code], input=json.dumps(allocator.to_dict()), capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout  # fmt: skip
        assert json.loads(out) == [m.to_dict() for m in allocator.assign(range(300))]


def test_weights_are_honoured():
    e = Experiment("w", (Variant("control", 1), Variant("a", 1), Variant("b", 2)))
    names = [e.variant_for(m) for m in range(20_000)]
    counts = [names.count(v) for v in ("control", "a", "b")]
    assert stats.chisquare(counts, np.array([0.25, 0.25, 0.5]) * 20_000).pvalue > 0.001


def test_layers_are_exclusive_inside_and_independent_across():
    allocator = _allocator()
    members = allocator.assign(range(20_000))
    home = [m.variant("row-order") or m.variant("artwork") for m in members if not m.holdouts]
    both = sum(1 for m in members if m.variant("row-order") and m.variant("artwork"))
    assert both == 0 and all(v is not None for v in home)  # the layer's traffic adds to 1
    # Independence: the ranker's split is the same inside row-order's arms and artwork's arms.
    table = np.zeros((3, 2))
    rows = {"new": 0, "control": 1}
    for m in members:
        r = m.variant("ranker")
        if r is None:
            continue
        row = rows[m.variant("row-order")] if m.variant("row-order") else 2
        table[row, ("ease", "sasrec").index(r)] += 1
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_holdout_fraction_and_members_get_nothing():
    members = _allocator().assign(range(20_000))
    held = [m for m in members if m.holdouts]
    assert 0.09 < len(held) / 20_000 < 0.11
    assert all(not m.assignments for m in held)


def test_traffic_and_variants_api_agree_with_assign():
    allocator = _allocator()
    ids = list(range(2000))
    by_assign = [m.variant("artwork") for m in allocator.assign(ids)]
    assert allocator.variants(ids, "artwork") == by_assign
    share = sum(v is not None for v in by_assign) / len(ids)
    assert 0.40 < share < 0.50  # half the layer, less the 10% holdout


def test_growing_traffic_keeps_members_in_their_variant():
    small = Allocator([Layer("l", (Experiment("e", (Variant("c"), Variant("t")), traffic=0.2),))])
    large = Allocator([Layer("l", (Experiment("e", (Variant("c"), Variant("t")), traffic=0.6),))])
    ids = range(5000)
    for before, after in zip(small.variants(ids, "e"), large.variants(ids, "e"), strict=True):
        if before is not None:
            assert after == before


def test_new_salt_reshuffles():
    a = Experiment("e", (Variant("c"), Variant("t")))
    b = Experiment("e", (Variant("c"), Variant("t")), salt="e-v2")
    same = np.mean([a.variant_for(m) == b.variant_for(m) for m in range(4000)])
    assert 0.45 < same < 0.55


def test_round_trip_through_dict():
    allocator = _allocator()
    again = Allocator.from_dict(json.loads(json.dumps(allocator.to_dict())))
    assert [m.to_dict() for m in again.assign(range(500))] == [m.to_dict() for m in allocator.assign(range(500))]


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Variant("a", 0), r"Variant\('a'\)\.weight must be > 0, got 0"),
        (lambda: Experiment("e", (Variant("a"),)), r"variants must list at least two variants"),
        (lambda: Experiment("e", (Variant("a"), Variant("a"))), r"names 'a' twice"),
        (lambda: Experiment("e", (Variant("a"), Variant("b")), traffic=1.5), r"traffic must be in \(0, 1\], got 1.5"),
        (lambda: Layer("l", (Experiment("x", ("a", "b"), traffic=0.7), Experiment("y", ("a", "b"), traffic=0.5))), r"adds up to 1.2 > 1"),
        (lambda: Holdout("h", 1.0), r"Holdout\('h'\)\.fraction must be in \(0, 1\), got 1.0"),
        (lambda: Allocator([Layer("l", (Experiment("x", ("a", "b")),))], [Holdout("h", 0.1, layers=("nope",))]), r"unknown layer 'nope'"),
        (lambda: _allocator().variants([1], "nope"), r"unknown experiment 'nope'"),
        (lambda: Allocator.from_dict({"layers": [{"name": "l", "experiments": [{"name": "x", "variants": ["a", "b"], "trafic": 1}]}]}), r"unknown key 'trafic'"),
    ],
)
def test_config_errors_say_what_to_fix(build, match):
    with pytest.raises(ConfigError, match=match):
        build()
