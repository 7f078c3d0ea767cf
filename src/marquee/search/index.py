"""The title search index: tantivy finds candidates, :mod:`marquee.search.relevance` orders them.

Build once, query many: ``SearchIndex().build(catalog)`` indexes every title's words (display title and
alternative title), its joined word pairs, and its genres and year, in memory, with tantivy. A query
becomes one tantivy query per word (an exact term, a fuzzy term within the word's typo budget, a prefix
for the last word, joined pairs of query words), OR-ed; the best ``candidates`` documents by words matched
are reranked in Python (:func:`~marquee.search.relevance.relevance`). Documents are stored shortest title
first, so among equally good tantivy matches the shorter titles become candidates.

``save(dir)`` writes the index's words and the catalog's fingerprint (arrays + JSON manifest, no pickle);
``SearchIndex.load(dir, catalog)`` refuses a catalog whose fingerprint differs and rebuilds the tantivy
index in memory from the saved words (no re-parsing of titles).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
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
from marquee.search._titles import FIELDS, TitleUnits
from marquee.search.query import Query, TypoBudget
from marquee.search.relevance import relevance

__all__ = ["SearchConfig", "SearchHits", "SearchIndex", "catalog_fingerprint"]

_INDEX_FORMAT = 1
# tantivy scores: each query word adds the best of these (so its score counts words matched first).
_EXACT, _PREFIX, _FUZZY, _JOINED, _META = 1.0, 0.95, 0.9, 0.95, 0.3

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
    """

    typos: TypoBudget = field(default_factory=TypoBudget)
    fields: tuple[str, ...] = FIELDS
    candidates: int = 200
    max_query_chars: int = 256
    max_query_words: int = 10

    def __post_init__(self) -> None:
        require(isinstance(self.typos, TypoBudget), "SearchConfig", "typos", "a TypoBudget(one_from=..., two_from=...)", self.typos)
        fields = tuple(self.fields) if isinstance(self.fields, list | tuple) else self.fields
        require(
            isinstance(fields, tuple) and bool(fields) and all(f in FIELDS for f in fields),
            "SearchConfig", "fields", f"a non-empty tuple of {FIELDS}", self.fields,
        )  # fmt: skip
        object.__setattr__(self, "fields", fields)
        ints(self, "candidates", "max_query_chars", "max_query_words")


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
    for name in ("words", "meta"):
        sb.add_text_field(name, tokenizer_name="whitespace", index_option="basic")
    return sb.build()


def _const(query: tantivy.Query, score: float) -> tantivy.Query:
    return tantivy.Query.const_score_query(query, score)


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
        for p in doc_order.tolist():
            words, joined, meta = texts[p]
            writer.add_document(tantivy.Document(words=f"{words} {joined}", meta=meta))
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        self.catalog_ = catalog
        self.fingerprint_ = fingerprint
        self.units_ = units
        self.texts_ = list(texts)
        self.doc_positions_ = doc_order
        self.schema_ = schema
        self.tantivy_ = index
        self.searcher_ = index.searcher()

    def _require_built(self) -> None:
        if not hasattr(self, "searcher_"):
            raise NotFittedError("this SearchIndex holds no titles; call build(catalog) first")

    def parse(self, text: str) -> Query:
        """``text`` as this index reads it (its typo budget and limits); never raises for a ``str``."""
        c = self.config
        return Query.parse(text, c.typos, max_chars=c.max_query_chars, max_words=c.max_query_words)

    def _tantivy_query(self, query: Query) -> tantivy.Query:
        s, Q = self.schema_, tantivy.Query
        clauses, seen = [], set()
        words = query.words
        for w in words:
            if (w.text, w.prefix) in seen:
                continue
            seen.add((w.text, w.prefix))
            alts = [_const(Q.term_query(s, "words", w.text), _EXACT), _const(Q.term_query(s, "meta", w.text), _META)]
            if w.prefix:
                alts.append(_const(Q.fuzzy_term_query(s, "words", w.text, distance=0, prefix=True), _PREFIX))
                alts.append(_const(Q.fuzzy_term_query(s, "meta", w.text, distance=0, prefix=True), _META))
            if w.typos:
                alts.append(_const(Q.fuzzy_term_query(s, "words", w.text, distance=w.typos, prefix=w.prefix), _FUZZY))
            clauses.append((tantivy.Occur.Should, Q.disjunction_max_query(alts)))
        for a, b in pairwise(words):  # split words, joined back: exact (or a prefix) only
            joined = a.text + b.text
            q = Q.fuzzy_term_query(s, "words", joined, distance=0, prefix=True) if b.prefix else Q.term_query(s, "words", joined)
            clauses.append((tantivy.Occur.Should, _const(q, 2 * _JOINED)))
        return Q.boolean_query(clauses)

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
        found = self.searcher_.search(self._tantivy_query(parsed), limit=max(limit, 1), count=False).hits
        docs = np.fromiter((a.doc for _, a in found), np.int64, len(found))
        docs.sort()
        positions = self.doc_positions_[docs]
        rel = relevance(parsed.words, positions, self.units_)
        positions, scores = positions[rel.rows][:limit], rel.scores[:limit]
        words, typos, masks = rel.words[:limit], rel.typos[:limit], rel.fields[:limit]
        if rescore is not None and positions.size:
            final = np.asarray(rescore(positions, scores), np.float64)
            if final.shape != scores.shape:
                raise ConfigError(f"rescore must return shape {scores.shape}, got {final.shape}")
            order = np.argsort(-final, kind="stable")
            positions, scores, words, typos, masks = positions[order], final[order], words[order], typos[order], masks[order]
        return self._hits(parsed, positions, scores, words, typos, masks)

    def search(self, query: str | Query, k: int = 10, *, rescore: Rescore | None = None) -> SearchHits:
        """The ``k`` best titles for ``query``; an empty query gives no hits (see ``hits.warnings``).

        Raises:
            ConfigError: ``k`` is not a positive int.
            NotFittedError: before :meth:`build`.
            DataError: ``query`` is neither text nor a :class:`Query`.
        """
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"k must be an int >= 1, got {k!r}; pass the number of titles wanted, e.g. k=10")
        hits = self.candidates(query, max(int(k), self.config.candidates), rescore=rescore)
        if len(hits) <= k:
            return hits
        return SearchHits(
            hits.query, hits.title_ids[:k], hits.positions[:k], hits.scores[:k], hits.words[:k], hits.typos[:k],
            hits.matched_fields[:k],
        )  # fmt: skip

    def search_many(self, queries: Sequence[str], k: int = 10) -> list[SearchHits]:
        """:meth:`search` for each of ``queries``, in order."""
        return [self.search(q, k) for q in queries]

    def _hits(self, query: Query, positions: np.ndarray, scores: np.ndarray, words: Any, typos: Any, masks: Any) -> SearchHits:
        empty16 = np.empty(0, np.int16)
        masks_list = [] if masks is None else masks.tolist()
        fields = tuple(tuple(f for i, f in enumerate(FIELDS) if m >> i & 1) for m in masks_list)
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


def _encode(strings: list[str]) -> np.ndarray:
    """Strings as one uint8 array, NUL-separated (the words never hold NUL: normalisation removes it)."""
    return np.frombuffer("\0".join(strings).encode(), np.uint8).copy()


def _decode(data: np.ndarray) -> list[str]:
    return data.tobytes().decode().split("\0")
