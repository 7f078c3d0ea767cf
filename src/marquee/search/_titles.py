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
    if "(" not in name and ", " not in name:  # most names: no year, alternative title or moved article to parse
        return name.strip(), None, None
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
        """Units of every title plus, per title, the ``(words, joined pairs, genres and year)`` texts to index.

        Per title only the tokens are produced in Python; the vocabulary (Arrow's dictionary encoding, in order of
        first appearance) and the per-entry field, position and span arrays are built at the end, vectorised.
        """
        import pyarrow as pa

        units: list[str] = []  # every entry's unit string, in entry order
        runs: list[int] = []  # per run of one field: its field, then its number of words
        run_n: list[int] = []
        offsets = [0]
        title_words, title_chars, keys, texts = [], [], [], []
        use = [f in fields for f in FIELDS]
        meta_cache: dict[tuple[tuple[str, ...], int | None], tuple[list[str], list[int], list[int], int, str]] = {}

        def run(f: int, tokens: list[str], out_units: list[str], out_f: list[int], out_n: list[int]) -> list[str]:
            pairs = [a + b for a, b in pairwise(tokens)]
            out_units += tokens
            out_units += pairs
            out_f.append(f)
            out_n.append(len(tokens))
            return pairs

        for name, year, genre_list in zip(names, years, genres, strict=True):
            main, alt, name_year = split_title(name) if name else ("", None, None)
            year = year if year is not None else name_year
            main_tokens = tokenize(main)
            words = list(main_tokens)
            joins = run(TITLE, main_tokens, units, runs, run_n)
            if alt and use[ALT]:
                alt_tokens = tokenize(alt)
                words += alt_tokens
                joins += run(ALT, alt_tokens, units, runs, run_n)
            mkey = (tuple(genre_list or ()) if use[GENRES] else (), year if use[YEAR] else None)
            meta = meta_cache.get(mkey)
            if meta is None:
                m_units: list[str] = []
                m_f: list[int] = []
                m_n: list[int] = []
                meta_words: list[str] = []
                for g in mkey[0]:
                    tokens = tokenize(g)
                    meta_words += tokens
                    meta_words += run(GENRES, tokens, m_units, m_f, m_n)
                if mkey[1] is not None:
                    meta_words.append(str(mkey[1]))
                    run(YEAR, [str(mkey[1])], m_units, m_f, m_n)
                meta = (m_units, m_f, m_n, len(m_units), " ".join(meta_words))
                meta_cache[mkey] = meta
            units += meta[0]
            runs += meta[1]
            run_n += meta[2]
            offsets.append(len(units))
            key = " ".join(main_tokens)
            title_words.append(len(main_tokens))
            title_chars.append(len(key))
            keys.append(key)
            texts.append((" ".join(words), " ".join(joins), meta[4]))
        encoded = pa.array(units, pa.string()).dictionary_encode()
        n = np.asarray(run_n, np.int64)
        pairs = np.maximum(n - 1, 0)
        # Each run holds n words (span 1, positions 0..n-1) then n-1 joined pairs (span 2, positions 0..n-2).
        seg = np.stack([n, pairs], axis=1).ravel()
        seg_start = np.cumsum(seg) - seg
        pos = np.arange(int(seg.sum()), dtype=np.int64) - np.repeat(seg_start, seg)
        span = np.repeat(np.tile(np.array([1, 2], np.int8), n.size), seg)
        units_out = cls(
            vocabulary=np.asarray(encoded.dictionary.to_pylist(), dtype=object),
            uid=encoded.indices.to_numpy().astype(np.int32),
            field=np.repeat(np.asarray(runs, np.int8), n + pairs),
            pos=pos.astype(np.int16),
            span=span,
            offsets=np.array(offsets, np.int64),
            title_words=np.array(title_words, np.int16),
            title_chars=np.array(title_chars, np.int32),
            keys=np.array(keys, dtype=object),
        )
        return units_out, texts
