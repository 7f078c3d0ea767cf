"""The title search index: tantivy finds candidates, :mod:`marquee.search.relevance` orders them.

Build once, query many: ``SearchIndex().build(catalog)`` indexes every title's words (display title and
alternative title), its joined word pairs, the first 1 to 4 letters of each word, and its genres and year,
in memory, with tantivy. Each query word is looked up once in the index's vocabulary
(:class:`~marquee.search.relevance.Lexicon`: exact, prefix, within its typo budget); the strings it
matches become one tantivy clause per word (exact term, prefix, the set of fuzzy terms; joined pairs of query
words too), OR-ed, and the same matches feed the rerank (:func:`~marquee.search.relevance.relevance`) of the
best ``candidates`` documents by words matched. Words that many titles hold (over 5% of them: ``the``, a
one-letter prefix) do not pull in documents by themselves when rarer words are in the query: the rarer words
find the documents and the common ones only add to their score. Documents are stored shortest title first, so among
equally good tantivy matches the shorter titles become candidates.

``save(dir)`` writes the index's words and the catalog's fingerprint (arrays + JSON manifest, no pickle);
``SearchIndex.load(dir, catalog)`` refuses a catalog whose fingerprint differs and rebuilds the tantivy
index in memory from the saved words (no re-parsing of titles).

The text stage (tantivy and the rerank) of the last ``config.cache_queries`` distinct queries is kept, keyed
by the parsed words: as-you-type traffic repeats the same short prefixes across members, and a member's own
keystrokes repeat the query on every re-render. A ``rescore`` hook (personalisation) runs on every search,
cached text stage or not.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import tantivy

from marquee._validate import Configured, ints, require
from marquee.artifacts import read_artifact, write_artifact
from marquee.data.catalog import Catalog
from marquee.errors import ArtifactError, ConfigError, DataError, NotFittedError
from marquee.search._titles import ALT, FIELDS, TitleUnits
from marquee.search.query import Query, QueryWord, TypoBudget
from marquee.search.relevance import Lexicon, UnitMatch, query_units, relevance

__all__ = ["DEFAULT_CACHE_QUERIES", "SearchConfig", "SearchHits", "SearchIndex", "catalog_fingerprint"]

_INDEX_FORMAT = 1
# tantivy scores: each query word adds the best of these (so its score counts words matched first).
_EXACT, _PREFIX, _FUZZY, _JOINED, _META = 1.0, 0.95, 0.9, 0.95, 0.3
#: Distinct queries whose text stage an index keeps by default (``SearchConfig.cache_queries``).
DEFAULT_CACHE_QUERIES = 16_384
_CACHED_UNITS = 32_768  # query units (word, typo budget, prefix) whose matches and clause are kept per index (~1.2 kB each)
_FEW_TERMS = 64  # up to this many terms of a query word are OR-ed term queries, more a term set
_EDGE = 4  # prefixes of up to this many letters are indexed as terms of their own (field "edge")
_COMMON, _COMMON_MIN = 0.05, 2_000  # a query word in more titles than this share (and number) only adds to rarer words' matches

#: The names of the fields in each bit mask of matched fields (bit i: ``FIELDS[i]``).
_FIELD_SETS = tuple(tuple(f for i, f in enumerate(FIELDS) if m >> i & 1) for m in range(1 << len(FIELDS)))

Rescore = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""A ranking hook: ``(positions (m,) int64, text scores (m,) float64) -> (m,) float64`` final scores."""


def catalog_fingerprint(catalog: Catalog) -> str:
    """SHA-256 (hex, 16 chars) of the catalog's ids, names, years and genres, in id order."""
    h = hashlib.sha256()
    table = catalog.table
    ids = table.column("title_id")
    if pa.types.is_string(ids.type):
        for v in ids.to_pylist():
            b = v.encode()
            h.update(len(b).to_bytes(4, "little") + b)
    else:
        h.update(np.ascontiguousarray(ids.cast(pa.int64()).to_numpy()).tobytes())
    for name in ("name", "year", "genres"):
        h.update(repr(table.column(name).to_pylist()).encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class SearchConfig:
    """How the index matches and ranks.

    Attributes:
        typos: typo budget by word length.
        fields: catalog text fields indexed, a subset of ``("title", "alt_title", "genres", "year")``
            (the display title is always indexed).
        candidates: documents tantivy hands to the rerank per query (more: better recall, slower).
        max_query_chars: longer queries are cut to this many characters.
        max_query_words: words beyond this many are dropped.
        cache_queries: distinct queries whose text-stage candidates are kept (least recently used out;
            0: none). Each holds 21 bytes per candidate: at most about 4 kB with 200 candidates, 3.2 kB on average
            for MovieLens queries (about 50 MB for the default 16,384).
    """

    typos: TypoBudget = field(default_factory=TypoBudget)
    fields: tuple[str, ...] = FIELDS
    candidates: int = 100
    max_query_chars: int = 256
    max_query_words: int = 10
    cache_queries: int = DEFAULT_CACHE_QUERIES

    def __post_init__(self) -> None:
        require(isinstance(self.typos, TypoBudget), "SearchConfig", "typos", "a TypoBudget(one_from=..., two_from=...)", self.typos)
        fields = tuple(self.fields) if isinstance(self.fields, list | tuple) else self.fields
        require(
            isinstance(fields, tuple) and bool(fields) and all(f in FIELDS for f in fields),
            "SearchConfig", "fields", f"a non-empty tuple of {FIELDS}", self.fields,
        )  # fmt: skip
        object.__setattr__(self, "fields", fields)
        ints(self, "candidates", "max_query_chars", "max_query_words")
        require(
            isinstance(self.cache_queries, int) and not isinstance(self.cache_queries, bool) and self.cache_queries >= 0,
            "SearchConfig", "cache_queries", "an int >= 0 (0: no cache)", self.cache_queries,
        )  # fmt: skip


@dataclass(frozen=True, eq=False)
class SearchHits:
    """The answer to one query, best first.

    Attributes:
        query: the parsed query (its ``warnings`` say what parsing dropped or fixed).
        title_ids: (m,) external title ids, m <= k.
        positions: (m,) int64 title positions in the catalog.
        scores: (m,) float64 relevance (higher first); see :mod:`marquee.search.relevance`.
        words: (m,) int16 query words each title matched.
        typos: (m,) int16 typos in those matches.
        matched_fields: per hit, the names of the fields that matched (e.g. ``("title", "year")``).
    """

    query: Query
    title_ids: np.ndarray
    positions: np.ndarray
    scores: np.ndarray
    words: np.ndarray
    typos: np.ndarray
    matched_fields: tuple[tuple[str, ...], ...]

    def __len__(self) -> int:
        return int(self.positions.size)

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.query.warnings


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    for name in ("words", "edge", "meta"):
        sb.add_text_field(name, tokenizer_name="whitespace", index_option="basic")
    return sb.build()


def _const(query: tantivy.Query, score: float) -> tantivy.Query:
    return tantivy.Query.const_score_query(query, score)


def _any_term(schema: tantivy.Schema, field: str, terms: list[str]) -> tantivy.Query:
    """Documents holding any of ``terms`` in ``field``. A term set query costs a walk of the term dictionary
    (a few hundred microseconds), so a few terms are OR-ed term queries instead."""
    Q = tantivy.Query
    if len(terms) == 1:
        return Q.term_query(schema, field, terms[0])
    if len(terms) <= _FEW_TERMS:
        return Q.boolean_query([(tantivy.Occur.Should, Q.term_query(schema, field, t)) for t in terms])
    return Q.term_set_query(schema, field, terms)


class SearchIndex(Configured):
    """Typo-tolerant, as-you-type title search over a :class:`~marquee.data.Catalog`.

    Example:
        >>> index = SearchIndex().build(catalog)
        >>> hits = index.search("shawshnak redemp", k=10)
        >>> hits.title_ids[0], hits.matched_fields[0]
    """

    Config = SearchConfig
    config: SearchConfig

    def build(self, catalog: Catalog) -> SearchIndex:
        """Index ``catalog``'s titles, alternative titles, genres and years; returns ``self``.

        Raises:
            DataError: ``catalog`` is not a :class:`Catalog`.
        """
        if not isinstance(catalog, Catalog):
            raise DataError(f"SearchIndex.build takes a marquee.data.Catalog, got {type(catalog).__name__}")
        t = catalog.table
        units, texts = TitleUnits.from_fields(
            t.column("name").to_pylist(), t.column("year").to_pylist(), t.column("genres").to_pylist(), self.config.fields
        )
        self._install(catalog, catalog_fingerprint(catalog), units, texts)
        return self

    def _install(self, catalog: Catalog, fingerprint: str, units: TitleUnits, texts: Sequence[tuple[str, str, str]]) -> None:
        # Shortest titles first: tantivy breaks score ties by document order.
        doc_order = np.lexsort((units.title_chars, units.title_words)).astype(np.int64)
        schema = _schema()
        index = tantivy.Index(schema)
        writer = index.writer(50_000_000, 1)
        vocabulary = units.vocabulary.tolist()
        in_words = units.field <= ALT
        edges = _edges(units, vocabulary)
        for p in doc_order.tolist():
            words, joined, meta = texts[p]
            writer.add_document(tantivy.Document(words=f"{words} {joined}", edge=edges[p], meta=meta))
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        self.catalog_ = catalog
        self.fingerprint_ = fingerprint
        self.units_ = units
        self.texts_ = list(texts)
        self.lexicon_ = Lexicon(vocabulary, np.bincount(units.uid[units.span == 1], minlength=len(vocabulary)) > 0)
        # Titles holding each string (an upper bound: a word twice in a title counts twice).
        self.title_counts_ = np.bincount(units.uid, minlength=len(vocabulary))
        self.meta_terms_ = sorted({vocabulary[u] for u in np.unique(units.uid[~in_words]).tolist()})
        self.meta_set_ = frozenset(self.meta_terms_)
        self.common_at_ = max(_COMMON * doc_order.size, _COMMON_MIN)
        self.doc_positions_ = doc_order
        self.schema_ = schema
        self.tantivy_ = index
        self.searcher_ = index.searcher()
        self._units = lru_cache(maxsize=_CACHED_UNITS)(self._unit)
        self._texts = lru_cache(maxsize=self.config.cache_queries)(self._text_stage)  # size 0: counts, keeps none

    def cache_info(self) -> tuple[int, int]:
        """``(hits, misses)`` of the text-stage cache since the index was built or the cache cleared."""
        self._require_built()
        info = self._texts.cache_info()
        return info.hits, info.misses

    def cache_clear(self) -> None:
        """Forget the cached text stages (e.g. before timing cold queries)."""
        self._require_built()
        self._texts.cache_clear()

    def _require_built(self) -> None:
        if not hasattr(self, "searcher_"):
            raise NotFittedError("this SearchIndex holds no titles; call build(catalog) first")

    def parse(self, text: str) -> Query:
        """``text`` as this index reads it (its typo budget and limits); never raises for a ``str``."""
        c = self.config
        return Query.parse(text, c.typos, max_chars=c.max_query_chars, max_words=c.max_query_words)

    def _unit(self, text: str, typos: int, prefix: bool, span: int) -> tuple[tuple[np.ndarray, ...], tantivy.Query | None, bool]:
        """A query unit's vocabulary matches (ids, typos, kinds: a :class:`UnitMatch`'s fields), its tantivy clause
        (None: it matches nothing) and whether it is common.

        Cached per index (``_units``): as-you-type queries and common words repeat the same units. What the caches
        hold is tuples of strings, numbers and arrays only, which Python's collector stops tracking: tens of
        thousands of cached dataclass instances made each full collection a pause of 30-90 ms on the serving path.
        """
        m = self.lexicon_.match(text, typos, prefix)
        for a in (m.ids, m.dist, m.kind):
            a.flags.writeable = False
        titles = int(self.title_counts_[m.ids].sum())
        if not titles:
            return (m.ids, m.dist, m.kind), None, False
        s, Q = self.schema_, tantivy.Query
        strings = self.lexicon_.strings
        if span == 2:  # split words, joined back
            if prefix and len(text) <= _EDGE:
                q = Q.term_query(s, "edge", text)
            else:
                q = _any_term(s, "words", [strings[i] for i in m.ids.tolist()])
            return (m.ids, m.dist, m.kind), _const(q, 2 * _JOINED), titles > self.common_at_
        alts = []
        if text in self.lexicon_.ids:
            alts.append(_const(Q.term_query(s, "words", text), _EXACT))
        metas = [t for t in self.meta_terms_ if t.startswith(text)] if prefix else [text] if text in self.meta_set_ else []
        if metas:
            alts.append(_const(_any_term(s, "meta", metas), _META))
        if prefix and len(text) <= _EDGE:
            alts.append(_const(Q.term_query(s, "edge", text), _PREFIX))
        elif prefix:
            prefixed = m.ids[m.kind == 1]
            if prefixed.size:
                alts.append(_const(_any_term(s, "words", [strings[i] for i in prefixed.tolist()]), _PREFIX))
        fuzzy = m.ids[m.kind == 2] if typos else m.ids[:0]
        if fuzzy.size:
            alts.append(_const(_any_term(s, "words", [strings[i] for i in fuzzy.tolist()]), _FUZZY))
        if not alts:
            return (m.ids, m.dist, m.kind), None, False
        return (m.ids, m.dist, m.kind), Q.disjunction_max_query(alts) if len(alts) > 1 else alts[0], titles > self.common_at_

    def _tantivy_query(self, words: tuple[QueryWord, ...]) -> tuple[tantivy.Query, list[UnitMatch]]:
        """One clause per distinct word and per joined pair (rare clauses find documents, common ones add),
        and the matches of every unit of :func:`~marquee.search.relevance.query_units`."""
        matches, rare, common = [], [], []
        seen = set()
        for unit in query_units(words):
            found, clause, is_common = self._units(*unit)
            matches.append(UnitMatch(*found))
            if clause is None or unit[:3] in seen:
                continue
            seen.add(unit[:3])
            (common if is_common else rare).append((tantivy.Occur.Should, clause))
        Q = tantivy.Query
        if not rare or not common:
            return Q.boolean_query(rare + common), matches
        return Q.boolean_query([(tantivy.Occur.Must, Q.boolean_query(rare)), *common]), matches

    def _text_stage(self, key: tuple[tuple[str, int, bool], ...], limit: int) -> tuple[np.ndarray, ...]:
        """(positions, scores, words, typos, field masks) of up to ``limit`` candidates in text order, read-only
        (cached in ``_texts``, keyed by each query word's ``(text, typos, prefix)``: see :meth:`_unit` on why atoms)."""
        words = tuple(QueryWord(*w) for w in key)
        query, matches = self._tantivy_query(words)
        found = self.searcher_.search(query, limit=max(limit, 1), count=False).hits
        docs = np.array([a.doc for _, a in found], np.int64)
        docs.sort()
        positions = self.doc_positions_[docs]
        rel = relevance(words, positions, self.units_, matches)
        out = (positions[rel.rows][:limit], rel.scores[:limit], rel.words[:limit], rel.typos[:limit], rel.fields[:limit])
        for a in out:
            a.flags.writeable = False
        return out

    def _rank(self, parsed: Query, limit: int, rescore: Rescore | None) -> tuple[np.ndarray, ...]:
        """(positions, scores, words, typos, field masks) of up to ``limit`` candidates, best first."""
        positions, scores, words, typos, masks = self._texts(tuple((w.text, w.typos, w.prefix) for w in parsed.words), limit)
        if rescore is not None and positions.size:
            final = np.asarray(rescore(positions, scores), np.float64)
            if final.shape != scores.shape:
                raise ConfigError(f"rescore must return shape {scores.shape}, got {final.shape}")
            order = np.argsort(-final, kind="stable")
            positions, scores, words, typos, masks = positions[order], final[order], words[order], typos[order], masks[order]
        return positions, scores, words, typos, masks

    def candidates(self, query: str | Query, n: int | None = None, *, rescore: Rescore | None = None) -> SearchHits:
        """Up to ``n`` (default ``config.candidates``) matching titles in text-relevance order.

        The hook for blending other scores in (personalisation): ``rescore(positions, text_scores)``
        returns the final scores, and hits are re-sorted by them (stable, so text order breaks ties).

        Raises:
            NotFittedError: before :meth:`build`.
            DataError: ``query`` is neither text nor a :class:`Query`.
        """
        self._require_built()
        parsed = query if isinstance(query, Query) else self.parse(query)
        limit = self.config.candidates if n is None else n
        if parsed.is_empty:
            return self._hits(parsed, np.empty(0, np.int64), np.empty(0), None, None, None)
        return self._hits(parsed, *self._rank(parsed, limit, rescore))

    def search(
        self, query: str | Query, k: int = 10, *, rescore: Rescore | None = None, candidates: int | None = None
    ) -> SearchHits:
        """The ``k`` best titles for ``query``; an empty query gives no hits (see ``hits.warnings``).

        ``candidates`` (default ``config.candidates``, and never fewer than ``k``): titles taken in text order
        and re-sorted by ``rescore`` (see :meth:`candidates`) before the ``k`` best are kept.

        Raises:
            ConfigError: ``k`` or ``candidates`` is not a positive int.
            NotFittedError: before :meth:`build`.
            DataError: ``query`` is neither text nor a :class:`Query`.
        """
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"k must be an int >= 1, got {k!r}; pass the number of titles wanted, e.g. k=10")
        n = self.config.candidates if candidates is None else candidates
        if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"candidates must be an int >= 1, got {candidates!r}; pass how many titles to re-rank, e.g. 200")
        self._require_built()
        parsed = query if isinstance(query, Query) else self.parse(query)
        if parsed.is_empty:
            return self._hits(parsed, np.empty(0, np.int64), np.empty(0), None, None, None)
        k = int(k)
        return self._hits(parsed, *(a[:k] for a in self._rank(parsed, max(k, int(n)), rescore)))

    def search_many(self, queries: Sequence[str], k: int = 10) -> list[SearchHits]:
        """:meth:`search` for each of ``queries``, in order."""
        return [self.search(q, k) for q in queries]

    def _hits(self, query: Query, positions: np.ndarray, scores: np.ndarray, words: Any, typos: Any, masks: Any) -> SearchHits:
        empty16 = np.empty(0, np.int16)
        fields = () if masks is None else tuple(map(_FIELD_SETS.__getitem__, masks.tolist()))
        return SearchHits(
            query=query,
            title_ids=self.catalog_.index.ids[positions],
            positions=positions,
            scores=scores,
            words=empty16 if words is None else words,
            typos=empty16 if typos is None else typos,
            matched_fields=fields,
        )

    def __len__(self) -> int:
        self._require_built()
        return int(self.doc_positions_.size)

    # -- persistence -------------------------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the index (words per title, config, catalog fingerprint) to ``directory``; returns it."""
        self._require_built()
        u = self.units_
        arrays = {
            "uid": u.uid, "field": u.field, "pos": u.pos, "span": u.span, "offsets": u.offsets,
            "title_words": u.title_words, "title_chars": u.title_chars,
            "vocabulary": _encode(u.vocabulary.tolist()), "keys": _encode(u.keys.tolist()),
            "texts": _encode([part for t in self.texts_ for part in t]),
        }  # fmt: skip
        config = asdict(self.config)
        config["fields"] = list(self.config.fields)
        metadata = {
            "kind": "search_index", "index_format": _INDEX_FORMAT, "class": "marquee.search:SearchIndex",
            "config": config, "catalog_fingerprint": self.fingerprint_, "n_titles": len(self),
        }  # fmt: skip
        return write_artifact(directory, arrays, metadata)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], catalog: Catalog) -> SearchIndex:
        """Read an index saved by :meth:`save`, for the same ``catalog`` it was built from.

        Raises:
            ArtifactError: ``directory`` holds no search index, a damaged one, or one built from another
                catalog (rebuild it with ``SearchIndex().build(catalog)``).
        """
        manifest, arrays = read_artifact(directory)
        if manifest.get("kind") != "search_index" or manifest.get("index_format") != _INDEX_FORMAT:
            raise ArtifactError(f"{directory} holds no search index (format {_INDEX_FORMAT}); build one with SearchIndex().build(catalog).save(dir)")
        fingerprint = catalog_fingerprint(catalog)
        if manifest["catalog_fingerprint"] != fingerprint:
            raise ArtifactError(
                f"{directory} was built from catalog {manifest['catalog_fingerprint']}, but this catalog is {fingerprint}; "
                "rebuild it with SearchIndex().build(catalog)"
            )
        cfg = dict(manifest["config"])
        cfg["typos"] = TypoBudget(**cfg["typos"])
        cfg["fields"] = tuple(cfg["fields"])
        self = cls(SearchConfig(**cfg))
        units = TitleUnits(
            vocabulary=np.array(_decode(arrays["vocabulary"]), dtype=object),
            uid=arrays["uid"], field=arrays["field"], pos=arrays["pos"], span=arrays["span"], offsets=arrays["offsets"],
            title_words=arrays["title_words"], title_chars=arrays["title_chars"],
            keys=np.array(_decode(arrays["keys"]), dtype=object),
        )  # fmt: skip
        flat = _decode(arrays["texts"])
        texts = [tuple(flat[i : i + 3]) for i in range(0, len(flat), 3)]
        self._install(catalog, fingerprint, units, texts)  # type: ignore[arg-type]
        return self


def _edges(units: TitleUnits, vocabulary: list[str]) -> list[str]:
    """Per title (in catalog order): the first 1 to ``_EDGE`` letters of each of its title words, space-separated."""
    keep = (units.span == 1) & (units.field <= ALT)
    uid = units.uid[keep]
    distinct = np.unique(uid).tolist()
    edge = dict(zip(distinct, (" ".join(w[:i] for i in range(1, min(len(w), _EDGE) + 1)) for w in map(vocabulary.__getitem__, distinct)), strict=True))
    parts = list(map(edge.__getitem__, uid.tolist()))
    bounds = np.concatenate([[0], np.cumsum(np.add.reduceat(keep, units.offsets[:-1]) if keep.size else [])]).astype(np.int64).tolist()
    return [" ".join(parts[a:b]) for a, b in pairwise(bounds)]


def _encode(strings: list[str]) -> np.ndarray:
    """Strings as one uint8 array, NUL-separated (the words never hold NUL: normalisation removes it)."""
    return np.frombuffer("\0".join(strings).encode(), np.uint8).copy()


def _decode(data: np.ndarray) -> list[str]:
    return data.tobytes().decode().split("\0")
