import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marquee.errors import ConfigError, DataError
from marquee.search import Query, TypoBudget, normalize, tokenize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Amélie", "amelie"),
        ("Shawshank Redemption, The", "shawshank redemption the"),
        ("Schindler's List", "schindlers list"),
        ("SPIDER-MAN: Homecoming!", "spider man homecoming"),
        ("Straße", "strasse"),
        ("ﬁsh\u00a0and\tchips", "fish and chips"),
        ("a\x00b\x07c", "a b c"),
        ("   ", ""),
        ("Crème Brûlée", "creme brulee"),
    ],
)
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_tokenize():
    assert tokenize("Toy Story (1995)") == ["toy", "story", "1995"]


@pytest.mark.parametrize(("length", "typos"), [(1, 0), (4, 0), (5, 1), (8, 1), (9, 2), (20, 2)])
def test_typo_budget_boundaries(length, typos):
    assert TypoBudget().typos(length) == typos


def test_typo_budget_is_validated():
    with pytest.raises(ConfigError, match="two_from"):
        TypoBudget(one_from=5, two_from=5)
    with pytest.raises(ConfigError, match="one_from"):
        TypoBudget(one_from=0)


def test_last_word_is_a_prefix_until_a_space():
    q = Query.parse("toy st")
    assert [(w.text, w.typos, w.prefix) for w in q.words] == [("toy", 0, False), ("st", 0, True)]
    assert not Query.parse("toy story ").words[-1].prefix
    assert not Query.parse("toy story!").words[-1].prefix


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01\x02", "!!!"])
def test_empty_queries_parse_with_a_warning(text):
    q = Query.parse(text)
    assert q.is_empty and q.warnings and "empty query" in q.warnings[0]


def test_long_queries_are_cut_with_warnings():
    q = Query.parse("word " * 2000)
    assert len(q.text) == 256 and len(q.words) == 10
    assert any("256" in w for w in q.warnings) and any("10 of" in w for w in q.warnings)
    q = Query.parse("x" * 100)
    assert len(q.words[0].text) == 40 and any("40" in w for w in q.warnings)


def test_non_text_is_a_data_error():
    with pytest.raises(DataError, match="query must be a str"):
        Query.parse(42)  # type: ignore[arg-type]


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet="abcXYZ019 '_-,.\t"), st.from_regex(r"[A-Za-z0-9 ]*", fullmatch=True)))
def test_tokenize_is_the_split_of_normalize_on_its_fast_path_and_off_it(text):
    # tokenize skips normalize for ASCII letters, digits and spaces; the words must be the same
    assert tokenize(text) == normalize(text).split()
