"""What a member typed, parsed leniently into a :class:`Query`: normalised words, each with its typo budget.

Normalisation (the same for titles at build time and for queries): Unicode NFKD, combining accents
stripped, case folded, apostrophes dropped inside words (``"Schindler's"`` -> ``"schindlers"``), every other
character that is not a letter or digit (punctuation, symbols, control characters) turned into a space.

Typo budget per word, by its length in characters, as Meilisearch and Typesense set it: no typo below
``one_from`` (5) characters, one from 5, two from ``two_from`` (9). An edit is an insertion, a deletion, a
substitution or a swap of two adjacent characters (optimal string alignment distance).

As-you-type: the last word is a prefix (``"toy st"`` finds *Toy Story*) unless the text ends in a space or
punctuation, which marks the word as finished. Parsing never raises on text: an empty query, one of control
characters only, or one too long comes back as a :class:`Query` whose ``warnings`` say what happened.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from marquee._validate import ints, require
from marquee.errors import DataError

__all__ = ["Query", "QueryWord", "TypoBudget", "normalize", "tokenize"]

_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
_APOSTROPHES = str.maketrans("", "", "'\u2019\u02bc`\u00b4")
_SEPARATORS = re.compile(r"[\W_]+")


def normalize(text: str) -> str:
    """Fold ``text`` for matching: NFKD, accents stripped, case folded, punctuation to single spaces.

    ``normalize("Amélie (Le Fabuleux Destin d'Amélie Poulain)") == "amelie le fabuleux destin damelie poulain"``
    """
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    text = text.casefold().translate(_APOSTROPHES)
    return _SEPARATORS.sub(" ", text).strip()


def tokenize(text: str) -> list[str]:
    """The normalised words of ``text``, in order."""
    if text.isascii() and text.replace(" ", "").isalnum():  # ASCII letters, digits and spaces: lower-casing is all
        return text.lower().split()
    return normalize(text).split()


@dataclass(frozen=True)
class TypoBudget:
    """Typos a word may hold by its length: none below ``one_from`` characters, one from it, two from ``two_from``.

    Defaults are Meilisearch's and Typesense's (``minWordSizeForTypos``: 5 and 9).
    """

    one_from: int = 5
    two_from: int = 9

    def __post_init__(self) -> None:
        ints(self, "one_from", "two_from")
        require(self.two_from > self.one_from, "TypoBudget", "two_from", f"> one_from ({self.one_from})", self.two_from)

    def typos(self, length: int) -> int:
        """Edits a word of ``length`` characters may hold (0, 1 or 2)."""
        return 2 if length >= self.two_from else 1 if length >= self.one_from else 0


@dataclass(frozen=True)
class QueryWord:
    """One normalised query word: ``typos`` is its budget; ``prefix`` is True for the word still being typed."""

    text: str
    typos: int
    prefix: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed query: its words (at most ``max_words``) and what parsing had to drop or fix.

    Attributes:
        text: the text as given, cut to ``max_chars`` characters.
        words: the normalised words with their typo budgets; the last is a prefix unless the text ended
            in a space or punctuation.
        warnings: human-readable notes (empty query, text or words cut); empty when all went well.
    """

    text: str
    words: tuple[QueryWord, ...]
    warnings: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when nothing searchable is left (the search then returns no hits)."""
        return not self.words

    @classmethod
    def parse(
        cls, text: str, budget: TypoBudget | None = None, *, max_chars: int = 256, max_words: int = 10, max_word_chars: int = 40
    ) -> Query:
        """Parse what a member typed. Never raises for a ``str``; problems come back in ``warnings``.

        Args:
            text: the raw query.
            budget: typo budget by word length (default :class:`TypoBudget`).
            max_chars: longer text is cut to this many characters first (a 10 kB paste costs nothing).
            max_words: words beyond this many are dropped (Meilisearch keeps 10).
            max_word_chars: longer words are cut to this many characters (no title word is that long).

        Raises:
            DataError: ``text`` is not a ``str`` (a programming error, not user input).
        """
        if not isinstance(text, str):
            raise DataError(f"query must be a str, got {type(text).__name__}; pass the text the member typed")
        budget = budget or TypoBudget()
        warnings: list[str] = []
        if len(text) > max_chars:
            warnings.append(f"query cut to its first {max_chars} of {len(text)} characters")
            text = text[:max_chars]
        tokens = tokenize(text)
        if not tokens:
            warnings.append("empty query: nothing to search (no letters or digits)" if text else "empty query")
            return cls(text, (), tuple(warnings))
        # The last word is still being typed unless a separator follows it.
        prefix = normalize(text[-1]) != "" if text else False
        if len(tokens) > max_words:
            warnings.append(f"query cut to its first {max_words} of {len(tokens)} words")
            tokens, prefix = tokens[:max_words], False
        if any(len(t) > max_word_chars for t in tokens):
            warnings.append(f"words longer than {max_word_chars} characters cut to that length")
            tokens = [t[:max_word_chars] for t in tokens]
        words = tuple(
            QueryWord(t, budget.typos(len(t)), prefix and i == len(tokens) - 1) for i, t in enumerate(tokens)
        )
        return cls(text, words, tuple(warnings))
