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

Matching a query unit against the index's vocabulary (:class:`Lexicon`) happens once per query, over all
the distinct words of the catalog: a length window and a letter-set filter (an edit brings in at most one
letter the other string lacks) leave a few strings, whose distances rapidfuzz computes. The same matches
give the candidate search its terms and the rerank its distances (no string is compared twice).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numba import njit
from rapidfuzz.distance import OSA
from rapidfuzz.process import cdist

from marquee.search._titles import ALT, FIELDS, TITLE, TitleUnits
from marquee.search.query import QueryWord

__all__ = ["Lexicon", "Relevance", "UnitMatch", "query_units", "relevance"]

_K_TYPO, _K_FIELD, _K_KIND, _NONE = 10**7, 10**6, 10**5, 10**9
_EXACT, _PREFIX_OR_JOIN, _FUZZY = 0, 1, 2
_MAX_PROXIMITY = 7
_RULE_WEIGHTS = 100.0 ** np.arange(5, -1, -1)  # the six tie-breaking rules, two decimal digits each
_FIELD_IDS = np.arange(len(FIELDS))[:, None, None]
_FIELD_BITS = 1 << np.arange(len(FIELDS))


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


_CUM = 24  # letter sets of the first 1..24 characters are kept per word (prefix matching)
_MAX_CODE = 0x10FFFF


def _letter_bits(strings: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(V,) lengths, (V,) uint32 letter set and (V, _CUM) letter sets of each prefix.

    A letter set has bit ``i`` for ``a``-``z`` (0-25), digits (26-29) and any other character (30-31); strings
    sharing a bit may differ in that character, so the sets only ever let more strings through.
    """
    lens = np.fromiter(map(len, strings), np.int64, len(strings))
    width = max(int(lens.max(initial=0)), 1)
    codes = np.array(strings, dtype=f"U{width}").view(np.uint32).reshape(len(strings), width) if strings else np.zeros((0, width), np.uint32)
    lut = np.full(128, 30, np.uint32)
    lut[ord("a") : ord("z") + 1] = np.arange(26)
    lut[ord("0") : ord("9") + 1] = 26 + np.arange(10) % 4
    bit = np.where(codes < 128, lut[np.minimum(codes, 127)], 30 + (codes & 1))
    bits = np.where(codes == 0, np.uint32(0), np.left_shift(np.uint32(1), bit, dtype=np.uint32))
    cum = np.bitwise_or.accumulate(bits[:, :_CUM], axis=1)
    if cum.shape[1] < _CUM:
        cum = np.concatenate([cum, np.repeat(cum[:, -1:], _CUM - cum.shape[1], axis=1)], axis=1)
    return lens, np.bitwise_or.reduce(bits, axis=1).astype(np.uint32), np.ascontiguousarray(cum, np.uint32)


def _bit(c: str) -> int:
    o = ord(c)
    if 97 <= o <= 122:
        return 1 << (o - 97)
    if 48 <= o <= 57:
        return 1 << (26 + (o - 48) % 4)
    return 1 << (30 if o < 128 else 30 + (o & 1))


def _bits_of(text: str) -> int:
    """The letter set of one string, as :func:`_letter_bits` computes it."""
    bits = 0
    for c in set(text):
        bits |= _bit(c)
    return bits


@dataclass(frozen=True, eq=False)
class UnitMatch:
    """The vocabulary strings one query unit matches within its typo budget.

    Attributes:
        ids: (m,) int64 indices into the vocabulary.
        dist: (m,) int64 typos (for a prefix unit, of the best-matching prefix).
        kind: (m,) int64 0 exact, 1 prefix (no typo), 2 with typos.
    """

    ids: np.ndarray
    dist: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.size)


class Lexicon:
    """Typo-tolerant lookup of query units among a vocabulary of distinct strings (the catalog's words).

    Exact words are a dict lookup and exact prefixes a range of the sorted strings. A unit with a typo
    budget ``t`` is compared with the ``fuzzy`` strings only (the words; a title's joined word pairs match
    exactly or as a prefix): it keeps those of a possible length (``n - t`` to ``n + t``, or at least
    ``n - t`` for a prefix) whose letter sets differ from the unit's by at most ``t`` letters each way (each
    edit adds at most one letter the other string lacks), then computes the optimal string alignment
    distance of those few with rapidfuzz.

    Args:
        strings: (V,) the vocabulary; ids in the answers index it.
        fuzzy: (V,) bool, the strings a unit may match with typos (default: all).
    """

    def __init__(self, strings: np.ndarray | list[str], fuzzy: np.ndarray | None = None) -> None:
        self.strings = list(strings)
        self.ids = {s: i for i, s in enumerate(self.strings)}
        order = sorted(range(len(self.strings)), key=self.strings.__getitem__)
        self.sorted_ids = np.array(order, np.int64)
        self.sorted_strings = [self.strings[i] for i in order]
        scanned = np.arange(len(self.strings)) if fuzzy is None else np.flatnonzero(fuzzy)
        lens, full, cum = _letter_bits([self.strings[i] for i in scanned.tolist()])
        by_len = np.argsort(lens, kind="stable")
        self.by_len = scanned[by_len]
        self.len_start = np.searchsorted(lens[by_len], np.arange(int(lens.max(initial=0)) + 2))
        self.full_by_len = np.asarray(full, np.uint32)[by_len]
        self.cum_by_len = cum[by_len]

    def __len__(self) -> int:
        return len(self.strings)

    def prefix_range(self, text: str) -> np.ndarray:
        """(m,) int64 ids of the strings that start with ``text``."""
        lo = bisect_left(self.sorted_strings, text)
        hi = bisect_left(self.sorted_strings, text + chr(_MAX_CODE), lo)
        return self.sorted_ids[lo:hi]

    def _window(self, low: int, high: int) -> tuple[int, int]:
        top = self.len_start.size - 1
        return int(self.len_start[min(max(low, 0), top)]), int(self.len_start[min(max(high + 1, 0), top)])

    def match(self, text: str, typos: int, prefix: bool) -> UnitMatch:
        """The strings ``text`` matches with at most ``typos`` edits; as a prefix of them if ``prefix``."""
        n = len(text)
        if typos == 0:
            if prefix:
                ids = self.prefix_range(text)
                kind = np.ones(ids.size, np.int64)
                exact = self.ids.get(text)
                if exact is not None:
                    kind[ids == exact] = _EXACT
                return UnitMatch(ids, np.zeros(ids.size, np.int64), kind)
            exact = self.ids.get(text)
            one = np.array([] if exact is None else [exact], np.int64)
            return UnitMatch(one, np.zeros(one.size, np.int64), np.zeros(one.size, np.int64))
        q = np.uint32(_bits_of(text))
        if prefix:
            lo, hi = self._window(max(1, n - typos), 10**9)
            cut = n + typos
            letters = self.full_by_len[lo:hi] if cut > _CUM else self.cum_by_len[lo:hi, cut - 1]
            keep = np.bitwise_count(q & ~letters) <= typos
            if 1 <= n - typos <= _CUM:
                keep &= np.bitwise_count(self.cum_by_len[lo:hi, n - typos - 1] & ~q) <= typos
        else:
            lo, hi = self._window(n - typos, n + typos)
            letters = self.full_by_len[lo:hi]
            keep = (np.bitwise_count(q & ~letters) <= typos) & (np.bitwise_count(letters & ~q) <= typos)
        ids = self.by_len[lo + np.flatnonzero(keep)]
        strings = [self.strings[i] for i in ids.tolist()]
        dist = cdist([text], strings, scorer=OSA.distance, score_cutoff=typos + 1, dtype=np.int64, workers=1)[0]
        if prefix:
            best = dist.copy()
            for length in range(max(1, n - typos), n + typos + 1):  # a prefix of length n +- typos is within budget
                cuts = [s[:length] for s in strings]
                np.minimum(best, cdist([text], cuts, scorer=OSA.distance, score_cutoff=typos + 1, dtype=np.int64, workers=1)[0], out=best)
            kind = np.where(dist == 0, _EXACT, np.where(best == 0, _PREFIX_OR_JOIN, _FUZZY))
            dist = best
        else:
            kind = np.where(dist == 0, _EXACT, _FUZZY)
        ok = dist <= typos
        ids, dist, kind = ids[ok], dist[ok], kind[ok]
        # Joined pairs (not compared with typos) equal to the unit, or starting with it.
        exact = self.ids.get(text, -1)
        if prefix or (exact >= 0 and not (ids == exact).any()):
            extra = np.setdiff1d(self.prefix_range(text), ids, assume_unique=True) if prefix else np.array([exact], np.int64)
            if extra.size:
                ids = np.concatenate([ids, extra])
                dist = np.concatenate([dist, np.zeros(extra.size, np.int64)])
                kind = np.concatenate([kind, np.where(extra == exact, _EXACT, _PREFIX_OR_JOIN)])
        return UnitMatch(ids, dist, kind)


def query_units(words: tuple[QueryWord, ...]) -> list[tuple[str, int, bool, int]]:
    """(text, typo budget, prefix, span) per query unit: each word, then each adjacent pair joined (no typos)."""
    units = [(w.text, w.typos, w.prefix, 1) for w in words]
    units.extend((a.text + b.text, 0, b.prefix, 2) for a, b in pairwise(words))
    return units


def _empty() -> Relevance:
    empty = np.empty(0, np.int64)
    return Relevance(empty, np.empty(0), empty.astype(np.int16), empty.astype(np.int16), empty.astype(np.uint8))


def relevance(
    words: tuple[QueryWord, ...], candidates: np.ndarray, units: TitleUnits, matches: list[UnitMatch] | None = None
) -> Relevance:
    """Score and order ``candidates`` (catalog positions, (c,) int64, in index order) for the query ``words``.

    ``matches``: per unit of :func:`query_units` (words), the vocabulary strings it matches
    (:meth:`Lexicon.match` over ``units.vocabulary``); computed here over the candidates' words when absent.
    """
    n = len(words)
    candidates = np.asarray(candidates, np.int64)
    if n == 0 or candidates.size == 0:
        return _empty()
    qunits = query_units(words)
    if matches is None:  # a lexicon of the candidates' strings only
        starts, ends = units.offsets[candidates], units.offsets[candidates + 1]
        vocabulary = np.unique(np.concatenate([units.uid[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]))
        lexicon = Lexicon(units.vocabulary[vocabulary].tolist())
        matches = [UnitMatch(vocabulary[m.ids].astype(np.int64), m.dist, m.kind) for m in (lexicon.match(t, typos, prefix) for t, typos, prefix, _ in qunits)]
    ids = np.concatenate([m.ids for m in matches])
    matched_ids, column = np.unique(ids, return_inverse=True)  # the strings some unit matches
    table = np.full((len(qunits), matched_ids.size + 1), 255, np.uint8)  # typos * 4 + kind, 255: no match
    table[np.repeat(np.arange(len(matches)), [len(m) for m in matches]), column] = np.concatenate([m.dist * 4 + m.kind for m in matches])
    qspan = np.array([u[3] for u in qunits], np.int64)
    rows, packed, n_words, typos, masks = _rules(
        candidates, units.offsets, units.uid, units.span, units.field, units.pos, units.title_words, matched_ids, table, qspan, n
    )
    order = np.lexsort((units.title_chars[candidates[rows]], -packed))
    return Relevance(rows=rows[order], scores=packed[order], words=n_words[order], typos=typos[order], fields=masks[order])


# The rerank runs once per query over ~100-200 candidates, each a few words and pairs long: as numpy it was
# ~60 small array operations (most of a query's time at 0.2-0.3 ms), as one compiled loop over the candidates'
# entries about 20 microseconds a call, numba's dispatch included (cProfile over MovieLens queries). No library
# ranks by Meilisearch's rules over our own vocabulary matches.
@njit(cache=True, nogil=True)
def _rules(
    candidates: np.ndarray, offsets: np.ndarray, uid: np.ndarray, span: np.ndarray, field: np.ndarray, pos: np.ndarray,
    title_words: np.ndarray, matched_ids: np.ndarray, table: np.ndarray, qspan: np.ndarray, n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(rows, packed scores, words matched, typos, field masks) of the candidates holding a matched string, in
    candidate order (see the module docstring for the rules). Per query word, the best (lowest) key of
    ``typos * _K_TYPO + kind * _K_KIND + field * _K_FIELD + position`` over the title's units; a joined query
    pair (unit ``n + j``) counts for words ``j`` and ``j + 1``; a joined title pair matches only a single query word."""
    c, n_units, n_matched = candidates.size, qspan.size, matched_ids.size
    rows = np.empty(c, np.int64)
    packed = np.empty(c, np.float64)
    n_words = np.empty(c, np.int16)
    typos = np.empty(c, np.int16)
    masks = np.empty(c, np.uint8)
    best = np.empty(max(n, 1), np.int64)
    m = 0
    for ci in range(c):
        p = candidates[ci]
        best[:] = _NONE
        useful = False
        for e in range(offsets[p], offsets[p + 1]):
            u = uid[e]
            j = np.searchsorted(matched_ids, u)
            if j >= n_matched or matched_ids[j] != u:
                continue
            useful = True
            title_span = span[e]
            at = np.int64(field[e]) * _K_FIELD + np.int64(pos[e])
            for q in range(n_units):
                code = np.int64(table[q, j])
                if code == 255 or (qspan[q] != 1 and title_span != 1):
                    continue
                kind = code & 3
                if (qspan[q] == 2 or title_span == 2) and kind < _PREFIX_OR_JOIN:
                    kind = _PREFIX_OR_JOIN
                key = (code >> 2) * _K_TYPO + kind * _K_KIND + at
                if q < n:
                    best[q] = min(best[q], key)
                else:
                    best[q - n] = min(best[q - n], key)
                    best[q - n + 1] = min(best[q - n + 1], key)
        if not useful:
            continue
        words = total_typos = field_sum = in_title = exact = mask = 0
        for w in range(n):
            b = best[w]
            if b < _NONE:
                f = (b // _K_FIELD) % 10
                words += 1
                total_typos += b // _K_TYPO
                field_sum += f
                in_title += f == TITLE
                exact += (b // _K_KIND) % 10 == _EXACT
                mask |= 1 << f
        proximity = 0
        for w in range(n - 1):
            a, b = best[w], best[w + 1]
            cost = _MAX_PROXIMITY
            if a < _NONE and b < _NONE and (a // _K_FIELD) % 10 == (b // _K_FIELD) % 10 and (a // _K_FIELD) % 10 <= ALT:
                gap = b % _K_KIND - a % _K_KIND
                cost = min(max(gap - 1, 0) if gap >= 0 else 1 - gap, _MAX_PROXIMITY)
            proximity += cost
        whole = 1 if in_title >= title_words[p] and words == n else 0
        rules = (
            min(max(99 - total_typos, 0), 99) * 1e10 + min(max(99 - proximity, 0), 99) * 1e8
            + min(max(99 - field_sum, 0), 99) * 1e6 + whole * 1e4 + min(exact, 99) * 1e2 + min(max(99 - title_words[p], 0), 99)
        )
        rows[m] = ci
        packed[m] = words + rules / 1e12
        n_words[m] = words
        typos[m] = total_typos
        masks[m] = mask
        m += 1
    return rows[:m], packed[:m], n_words[:m], typos[:m], masks[:m]
