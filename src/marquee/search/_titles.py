"""From catalog rows to the words the index holds: display titles, alternative titles, genres, years.

MovieLens spells titles library-style: ``"Shawshank Redemption, The"``, with a translated or original title
in parentheses (``"City of Lost Children, The (Cité des enfants perdus, La)"``) and sometimes the year
still attached (``"Toy Story (1995)"``). The display form moves the article back to the front
(``"The Shawshank Redemption"``); the parenthesised part is an alternative title, itself in display form.

Every title becomes *units*: its normalised words (span 1) and each pair of adjacent words joined
(span 2: ``"spider man"`` also holds ``"spiderman"``), tagged with their field and word position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from marquee.search.query import tokenize

__all__ = ["FIELDS", "TitleUnits", "display_title", "split_title"]

FIELDS = ("title", "alt_title", "genres", "year")
TITLE, ALT, GENRES, YEAR = range(4)

_ARTICLES = (
    "The|A|An|Les|Le|La|L'|Il|Lo|Gli|I|Der|Die|Das|Den|Det|De|El|Los|Las|Un|Une|Una|Uno|Ein|Eine|Het|O|Os|As"
)
_MOVED_ARTICLE = re.compile(rf"^(?P<rest>.+), (?P<article>{_ARTICLES})$")
_YEAR = re.compile(r"\s*\((?P<year>\d{4})\)\s*$")
_ALT = re.compile(r"^(?P<main>.+?)\s*\((?P<alt>[^()]+)\)\s*$")


def display_title(name: str) -> str:
    """``"Shawshank Redemption, The"`` -> ``"The Shawshank Redemption"``; other names unchanged."""
    m = _MOVED_ARTICLE.match(name.strip())
    if not m:
        return name.strip()
    article = m["article"]
    return f"{article}{m['rest']}" if article.endswith("'") else f"{article} {m['rest']}"


def split_title(name: str) -> tuple[str, str | None, int | None]:
    """A catalog name -> ``(display title, display alternative title or None, year in the name or None)``.

    ``"City of Lost Children, The (Cité des enfants perdus, La) (1995)"`` ->
    ``("The City of Lost Children", "La Cité des enfants perdus", 1995)``.
    """
    year = None
    m = _YEAR.search(name)
    if m and m.start() > 0:
        year, name = int(m["year"]), name[: m.start()]
    alt = None
    m = _ALT.match(name)
    if m:
        name, alt = m["main"], display_title(m["alt"])
    return display_title(name), alt, year


@dataclass(frozen=True, eq=False)
class TitleUnits:
    """The units of every title, flat, in catalog position order.

    Attributes:
        vocabulary: (n_units,) the distinct unit strings.
        uid, field, pos, span: (n_entries,) per entry: index into ``vocabulary``, field (index into
            :data:`FIELDS`), word position in that field, 1 for a word or 2 for a joined pair.
        offsets: (n_titles + 1,) entries of title ``i`` are ``offsets[i]:offsets[i + 1]``.
        title_words: (n_titles,) words in the display title (shorter titles win ties).
        title_chars: (n_titles,) characters in the normalised display title.
        keys: (n_titles,) the normalised display title (titles with equal keys are indistinguishable).
    """

    vocabulary: np.ndarray
    uid: np.ndarray
    field: np.ndarray
    pos: np.ndarray
    span: np.ndarray
    offsets: np.ndarray
    title_words: np.ndarray
    title_chars: np.ndarray
    keys: np.ndarray

    @classmethod
    def from_fields(
        cls, names: list[str | None], years: list[int | None], genres: list[list[str] | None], fields: tuple[str, ...]
    ) -> tuple[TitleUnits, list[tuple[str, str, str]]]:
        """Units of every title plus, per title, the ``(words, joined pairs, genres and year)`` texts to index."""
        vocab: dict[str, int] = {}
        intern = vocab.setdefault
        uid: list[int] = []
        fld: list[int] = []
        pos: list[int] = []
        span: list[int] = []
        offsets = [0]
        title_words, title_chars, keys, texts = [], [], [], []
        use = [f in fields for f in FIELDS]
        meta_cache: dict[tuple[tuple[str, ...], int | None], tuple[list[int], list[int], list[int], list[int], str]] = {}

        def units_of(f: int, tokens: list[str], words: list[str], joins: list[str]) -> None:
            n = len(tokens)
            pairs = [a + b for a, b in pairwise(tokens)]
            uid.extend([intern(t, len(vocab)) for t in tokens])
            uid.extend([intern(t, len(vocab)) for t in pairs])
            fld.extend([f] * (2 * n - 1 if n else 0))
            pos.extend(range(n))
            pos.extend(range(n - 1))
            span.extend([1] * n)
            span.extend([2] * (n - 1 if n else 0))
            words.extend(tokens)
            joins.extend(pairs)

        for name, year, genre_list in zip(names, years, genres, strict=True):
            main, alt, name_year = split_title(name) if name else ("", None, None)
            year = year if year is not None else name_year
            words: list[str] = []
            joins: list[str] = []
            main_tokens = tokenize(main)
            units_of(TITLE, main_tokens, words, joins)
            if alt and use[ALT]:
                units_of(ALT, tokenize(alt), words, joins)
            mkey = (tuple(genre_list or ()) if use[GENRES] else (), year if use[YEAR] else None)
            meta = meta_cache.get(mkey)
            if meta is None:
                start = len(uid)
                meta_words: list[str] = []
                for g in mkey[0]:
                    units_of(GENRES, tokenize(g), meta_words, meta_words)
                if mkey[1] is not None:
                    units_of(YEAR, [str(mkey[1])], meta_words, meta_words)
                meta = (uid[start:], fld[start:], pos[start:], span[start:], " ".join(meta_words))
                meta_cache[mkey] = meta
            else:
                uid.extend(meta[0])
                fld.extend(meta[1])
                pos.extend(meta[2])
                span.extend(meta[3])
            offsets.append(len(uid))
            key = " ".join(main_tokens)
            title_words.append(len(main_tokens))
            title_chars.append(len(key))
            keys.append(key)
            texts.append((" ".join(words), " ".join(joins), meta[4]))
        units = cls(
            vocabulary=np.array(list(vocab), dtype=object),
            uid=np.fromiter(uid, np.int32, len(uid)),
            field=np.fromiter(fld, np.int8, len(fld)),
            pos=np.fromiter(pos, np.int16, len(pos)),
            span=np.fromiter(span, np.int8, len(span)),
            offsets=np.array(offsets, np.int64),
            title_words=np.array(title_words, np.int16),
            title_chars=np.array(title_chars, np.int32),
            keys=np.array(keys, dtype=object),
        )
        return units, texts
