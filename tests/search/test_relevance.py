import numpy as np
import pytest
from rapidfuzz.distance import OSA

from marquee.search.relevance import Lexicon


def _brute(strings, text, typos, prefix):
    """{id: (typos, kind)} by comparing ``text`` with every string (and, for a prefix, every cut of it)."""
    out = {}
    n = len(text)
    for i, s in enumerate(strings):
        full = OSA.distance(text, s)
        best = min([full, *(OSA.distance(text, s[:length]) for length in range(max(1, n - typos), n + typos + 1))]) if prefix else full
        if best <= typos:
            out[i] = (best, 0 if full == 0 else 1 if prefix and best == 0 else 2)
    return out


@pytest.mark.parametrize("prefix", [False, True])
@pytest.mark.parametrize("typos", [0, 1, 2])
def test_lexicon_matches_a_full_scan(typos, prefix):
    rng = np.random.default_rng(7)
    alphabet = list("abcdeé1")
    strings = sorted({"".join(rng.choice(alphabet, rng.integers(1, 12))) for _ in range(3000)})
    lexicon = Lexicon(strings)
    for _ in range(40):
        text = strings[int(rng.integers(len(strings)))]
        cut = text[: int(rng.integers(1, len(text) + 1))] if prefix else text
        edited = "".join(rng.permutation(list(cut))) if rng.random() < 0.3 else cut + "a" * int(rng.integers(0, 2))
        for query in (cut, edited):
            m = lexicon.match(query, typos, prefix)
            got = {int(i): (int(d), int(k)) for i, d, k in zip(m.ids, m.dist, m.kind, strict=True)}
            assert got == _brute(strings, query, typos, prefix), query


def test_lexicon_fuzzy_only_where_allowed():
    strings = ["spider", "man", "spiderman", "spidermen"]
    lexicon = Lexicon(strings, fuzzy=np.array([True, True, False, False]))
    assert sorted(lexicon.match("spiderman", 1, False).ids.tolist()) == [2]  # exact still found, no typo match of a pair
    assert sorted(lexicon.match("spidermn", 1, False).ids.tolist()) == []
    assert sorted(lexicon.match("spiderm", 1, True).ids.tolist()) == [0, 2, 3]  # pairs by exact prefix
