"""Text relevance: the rerank of the candidates the index found, by Meilisearch's ranking rules.

For each query word the best-matching unit of a candidate title (a word, or a joined pair of words) is
found by optimal string alignment distance (``rapidfuzz``), within the word's typo budget; the last word may
match as a prefix. Query-word pairs joined (``"spider man"`` -> ``"spiderman"``, no typo) match a title word, and a
query word matches a title's joined pair (``"spiderman"`` -> ``"Spider-Man"``). Candidates are then ordered
by, in turn (Meilisearch's rules ``words``, ``typo``, ``proximity``, ``attribute``, ``exactness``):

1. query words matched (more first);
2. typos summed over matched words (fewer first);
3. proximity: for consecutive query words matched in the same title field, the gap between their
   positions (``0`` adjacent, ``d - 1`` for a gap of ``d``, ``d + 1`` when reversed; 7 at most or when
   the words are not in one title field), summed;
4. attribute: the field of each match, title < alternative title < genres < year, summed;
5. whole title matched (every title word covered by the query), then exact words (not a prefix, not
   a typo, not a join);
6. fewer words in the title, then fewer characters (shorter titles first on ties).

The score is these rules packed into one number: its integer part is the words matched, its fraction the
other rules (two decimal digits each, in order), so a higher score always ranks higher. It orders results within one query; it is not a probability.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from rapidfuzz.distance import OSA
from rapidfuzz.process import cdist

from marquee.search._titles import ALT, FIELDS, TITLE, TitleUnits
from marquee.search.query import QueryWord

__all__ = ["Relevance", "relevance"]

_K_TYPO, _K_FIELD, _K_KIND, _NONE = 10**7, 10**6, 10**5, np.int64(10**9)
_EXACT, _PREFIX_OR_JOIN, _FUZZY = 0, 1, 2
_MAX_PROXIMITY = 7
_MAX_PREFIX = 42  # longest prefix compared (words are cut to 40 characters)


@dataclass(frozen=True, eq=False)
class Relevance:
    """Candidates in relevance order (best first), only those matching at least one query word.

    Attributes:
        rows: (m,) int64 indices into the candidate array that was passed in.
        scores: (m,) float64 packed ranking rules (higher first; integer part = words matched).
        words: (m,) int16 query words matched.
        typos: (m,) int16 typos over the matched words.
        fields: (m,) uint8 bit mask of matched fields (bit ``i`` = :data:`FIELDS` ``[i]``).
    """

    rows: np.ndarray
    scores: np.ndarray
    words: np.ndarray
    typos: np.ndarray
    fields: np.ndarray


def _query_units(words: tuple[QueryWord, ...]) -> list[tuple[str, int, bool, int]]:
    """(text, typo budget, prefix, span) per query unit: each word, then each adjacent pair joined (no typos)."""
    units = [(w.text, w.typos, w.prefix, 1) for w in words]
    units.extend((a.text + b.text, 0, b.prefix, 2) for a, b in pairwise(words))
    return units


def _distances(units: list[tuple[str, int, bool, int]], strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(Q, V) typo counts (3 where over 2) and (Q, V) match kinds of query units x strings."""
    texts = [u[0] for u in units]
    dist = cdist(texts, strings, scorer=OSA.distance, score_cutoff=2, dtype=np.int32, workers=1)
    kind = np.where(dist == 0, _EXACT, _FUZZY)
    fixed = None
    for q, (text, typos, prefix, _) in enumerate(units):
        if not prefix:
            continue
        if fixed is None:
            fixed = np.array(strings, dtype=f"U{_MAX_PREFIX}")
        n = min(len(text), _MAX_PREFIX - typos)
        best = dist[q].copy()
        for length in range(max(1, n - typos), n + typos + 1):  # a prefix of length n +- typos is within budget
            cut = fixed.astype(f"U{length}").tolist()
            np.minimum(best, cdist([text], cut, scorer=OSA.distance, score_cutoff=2, dtype=np.int32, workers=1)[0], out=best)
        kind[q] = np.where(dist[q] == 0, _EXACT, np.where(best == 0, _PREFIX_OR_JOIN, _FUZZY))
        dist[q] = best
    return dist, kind


def relevance(words: tuple[QueryWord, ...], candidates: np.ndarray, units: TitleUnits) -> Relevance:
    """Score and order ``candidates`` (catalog positions, (c,) int64, in index order) for the query ``words``."""
    n = len(words)
    starts, ends = units.offsets[candidates], units.offsets[candidates + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0 or n == 0:
        empty = np.empty(0, np.int64)
        return Relevance(empty, np.empty(0), empty.astype(np.int16), empty.astype(np.int16), empty.astype(np.uint8))
    seg = np.cumsum(lengths) - lengths
    entries = np.repeat(starts - seg, lengths) + np.arange(total)
    owner = np.repeat(np.arange(candidates.size), lengths)
    uniq, inv = np.unique(units.uid[entries], return_inverse=True)
    qunits = _query_units(words)
    dist, kind = _distances(qunits, units.vocabulary[uniq].tolist())
    qbudget = np.array([u[1] for u in qunits])[:, None]
    qspan = np.array([u[3] for u in qunits])[:, None]
    useful = (dist <= qbudget).any(0)[inv]  # entries some query unit matches: the only ones that count
    entries, owner, inv = entries[useful], owner[useful], inv[useful]
    if entries.size == 0:
        empty = np.empty(0, np.int64)
        return Relevance(empty, np.empty(0), empty.astype(np.int16), empty.astype(np.int16), empty.astype(np.uint8))
    rows = np.unique(owner)  # candidates (rows of ``candidates``) with a match, in order
    seg = np.searchsorted(owner, rows)
    candidates = candidates[rows]

    d, k = dist[:, inv], kind[:, inv]
    span = units.span[entries]
    k = np.where((qspan == 2) | (span[None, :] == 2), np.maximum(k, _PREFIX_OR_JOIN), k)
    valid = (d <= qbudget) & ((qspan == 1) | (span[None, :] == 1))
    field = units.field[entries].astype(np.int64)
    key = d * _K_TYPO + field * _K_FIELD + k * _K_KIND + units.pos[entries]
    key = np.where(valid, key, _NONE)
    per_word = key[:n].copy()
    for i in range(n - 1):  # a joined pair covers both its words
        np.minimum(per_word[i], key[n + i], out=per_word[i])
        np.minimum(per_word[i + 1], key[n + i], out=per_word[i + 1])
    best = np.minimum.reduceat(per_word, seg, axis=1)  # (n, c)

    matched = best < _NONE
    typos = np.where(matched, best // _K_TYPO, 0)
    fld = np.where(matched, (best // _K_FIELD) % 10, 0)
    knd = (best // _K_KIND) % 10
    pos = best % _K_KIND
    n_words = matched.sum(0)
    proximity = np.zeros(candidates.size, np.int64)
    for i in range(n - 1):
        same = matched[i] & matched[i + 1] & (fld[i] == fld[i + 1]) & (fld[i] <= ALT)
        gap = pos[i + 1] - pos[i]
        cost = np.where(gap >= 0, np.maximum(gap - 1, 0), 1 - gap)
        proximity += np.where(same, np.minimum(cost, _MAX_PROXIMITY), _MAX_PROXIMITY)
    in_title = (matched & (fld == TITLE)).sum(0)
    whole = (in_title >= units.title_words[candidates]) & (n_words == n)
    exact = (matched & (knd == _EXACT)).sum(0)
    attribute = np.where(matched, fld, 0).sum(0)
    total_typos = typos.sum(0)

    packed = np.zeros(candidates.size, np.float64)
    for rule in (99 - total_typos, 99 - proximity, 99 - attribute, whole, exact,
                 99 - np.minimum(units.title_words[candidates], 99)):  # fmt: skip
        packed = packed * 100 + np.clip(rule, 0, 99)
    packed = n_words + packed / 100.0**6
    order = np.lexsort((units.title_chars[candidates], -packed))
    masks = np.zeros(candidates.size, np.uint8)
    for f in range(len(FIELDS)):
        masks |= ((matched & (fld == f)).any(0) << f).astype(np.uint8)
    return Relevance(
        rows=rows[order],
        scores=packed[order],
        words=n_words[order].astype(np.int16),
        typos=total_typos[order].astype(np.int16),
        fields=masks[order],
    )
