"""Personalised title search: text relevance blended with a member's ranker score and the title's popularity.

A short prefix ("st") matches dozens of titles; the member wants one. :class:`Personalized` re-ranks the
index's candidates for a query with a score learned from logged searches:

``score(i) = w · x(i)``, with the features of candidate ``i`` normalised within its query's candidates, so
weights learned on one catalog, ranker or query length carry over:

- ``text_rank``: ``-log(1 + r)``, ``r`` its 0-based rank in text-relevance order;
- ``words_gap``: query words it matched minus the most any candidate matched (``<= 0``; the integer part
  of the text score, see :mod:`marquee.search.relevance`);
- ``popularity``: ``log(1 + plays)`` in the ranker's training data, standardised over the candidates;
- ``member_z``: the member's ranker score, standardised over the candidates;
- ``member_rank``: ``-log(1 + r)``, ``r`` its 0-based rank by the member's ranker score among the candidates.

The weights are those of a conditional logit (McFadden, 1974; the softmax over one query's candidates, as in
learning-to-rank's ListNet with the played title as the only relevant one): ``P(played = i | query) =
exp(w · x_i) / sum_j exp(w · x_j)``, fitted by L2-penalised maximum likelihood (L-BFGS) on a
:class:`SearchLog`. Two models are fitted: the personal one (all five features) on searches by members the
ranker knows, and the non-personalised one (text and popularity only) on every search; an unknown or absent
member gets the non-personalised order. Final scores re-sort the candidates through the index's ``rescore``
hook, so text order breaks ties.

On the serving path a member's ranker scores over the catalog are kept in a small least-recently-used cache
(``BlendConfig.member_cache_mb``): a member typing as-you-type sends one search per keystroke, and every one of
them re-ranks with the same scores. Titles the ranker does not know score below every known candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from marquee._validate import build_config, ints, non_negative
from marquee.errors import ConfigError, DataError, NotFittedError
from marquee.search.index import SearchHits, SearchIndex

__all__ = ["BASE_FEATURES", "FEATURES", "BlendConfig", "Personalized", "SearchLog", "SearchRanks"]

#: Feature names, in the order of the personal model's weights.
FEATURES = ("text_rank", "words_gap", "popularity", "member_z", "member_rank")
#: The non-personalised model's features (a prefix of :data:`FEATURES`).
BASE_FEATURES = FEATURES[:3]
_N_BASE = len(BASE_FEATURES)
_SCORE_BATCH = 1024


@dataclass(frozen=True)
class BlendConfig:
    """How candidates are blended.

    Attributes:
        candidates: titles the index hands over per query (in text order) to be re-ranked.
        l2: L2 penalty on the weights, per search in the log.
        max_iter: L-BFGS iterations at most.
        member_cache_mb: memory for the ranker scores of recent members (one row over the catalog each, at
            least one row); 0 scores every search afresh.
    """

    candidates: int = 200
    l2: float = 0.01
    max_iter: int = 500
    member_cache_mb: float = 32.0

    def __post_init__(self) -> None:
        ints(self, "candidates", "max_iter")
        non_negative(self, "l2", "member_cache_mb")


@dataclass(frozen=True, eq=False)
class SearchLog:
    """Logged searches: member ``member_ids[i]`` typed ``queries[i]`` and then played ``played[i]``.

    Attributes:
        queries: the texts typed.
        member_ids: (n,) external member ids in the ranker's id space (an id the ranker does not know is an
            anonymous search).
        played: (n,) external title ids (the catalog's) of the titles played.
    """

    queries: tuple[str, ...]
    member_ids: np.ndarray
    played: np.ndarray

    def __post_init__(self) -> None:
        queries = tuple(self.queries)
        if not all(isinstance(q, str) for q in queries):
            raise DataError("SearchLog.queries must be strings, the texts members typed")
        members, played = np.asarray(self.member_ids), np.asarray(self.played)
        if members.shape != (len(queries),) or played.shape != (len(queries),):
            raise DataError(
                f"SearchLog needs one member id and one played title per query: got {len(queries)} queries, "
                f"member_ids of shape {members.shape} and played of shape {played.shape}"
            )
        object.__setattr__(self, "queries", queries)
        object.__setattr__(self, "member_ids", members)
        object.__setattr__(self, "played", played)

    def __len__(self) -> int:
        return len(self.queries)


@dataclass(frozen=True, eq=False)
class SearchRanks:
    """1-based rank of each logged search's played title among its query's candidates (0: not a candidate).

    Attributes:
        text: (n,) int64 in text-relevance order.
        base: (n,) int64 in the non-personalised blend's order.
        personal: (n,) int64 in the personal blend's order (the base order for members the ranker does not know).
        known: (n,) bool, the ranker knows the member.
    """

    text: np.ndarray
    base: np.ndarray
    personal: np.ndarray
    known: np.ndarray


@dataclass(frozen=True, eq=False)
class _Candidates:
    """Every logged search's candidates, flat: features (N, 5), query of each row, played flag."""

    features: np.ndarray
    group: np.ndarray
    offsets: np.ndarray
    played: np.ndarray
    known: np.ndarray


def _fill_unknown(scores: np.ndarray) -> np.ndarray:
    """``scores`` with NaN (a title the ranker does not know) below every known one (all 0 when none is known)."""
    unknown = np.isnan(scores)
    if not unknown.any():
        return scores
    out = scores.copy()
    out[unknown] = np.nanmin(scores) - 1.0 if not unknown.all() else 0.0
    return out


# Hot path: features() runs once per search over ~200 candidates, where numpy's per-call overhead is most
# of the cost, so these helpers avoid the Python-level wrappers (mean, std) and recompute nothing constant.
@lru_cache(maxsize=64)
def _neg_log1p_range(m: int) -> np.ndarray:
    """``-log(1 + r)`` for ``r = 0 .. m - 1`` (read-only, cached per length)."""
    out = -np.log1p(np.arange(m, dtype=np.float64))
    out.flags.writeable = False
    return out


def _within(values: np.ndarray) -> np.ndarray:
    """``values`` standardised (zero mean, unit standard deviation; all zero when constant)."""
    d = values - np.add.reduce(values) / values.size
    sd = float(np.sqrt(np.dot(d, d) / values.size))
    return d / sd if sd > 1e-12 else np.zeros_like(values)


def _rank_feature(values: np.ndarray) -> np.ndarray:
    """``-log(1 + r)``, ``r`` the 0-based rank of each value (highest first, ties by position)."""
    out = np.empty(values.size, np.float64)
    out[np.argsort(-values, kind="stable")] = _neg_log1p_range(values.size)
    return out


def features(text_scores: np.ndarray, popularity: np.ndarray, member_scores: np.ndarray | None) -> np.ndarray:
    """(m, 5) features of one query's candidates given in text order (see the module docstring).

    Args:
        text_scores: (m,) text relevance, best first.
        popularity: (m,) plays of each candidate.
        member_scores: (m,) the member's ranker scores (NaN: a title the ranker does not know, ranked below
            the others), or None (anonymous: the member columns are 0).
    """
    m = text_scores.size
    x = np.zeros((m, len(FEATURES)))
    if m == 0:
        return x
    x[:, 0] = _neg_log1p_range(m)
    words = np.floor(text_scores + 1e-9)
    x[:, 1] = words - words.max()
    x[:, 2] = _within(np.log1p(popularity))
    if member_scores is not None:
        s = _fill_unknown(np.asarray(member_scores, np.float64))
        x[:, 3] = _within(s)
        x[:, 4] = _rank_feature(s)
    return x


def _conditional_logit(x: np.ndarray, offsets: np.ndarray, positive: np.ndarray, l2: float, max_iter: int) -> np.ndarray:
    """Weights maximising ``sum_q log softmax(x_q w)[positive_q] - l2 / 2 |w|^2 n_q`` (mean over queries)."""
    from scipy.optimize import minimize

    n_q = offsets.size - 1
    starts = offsets[:-1]
    group = np.repeat(np.arange(n_q), np.diff(offsets))

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        u = x @ w
        top = np.maximum.reduceat(u, starts)
        e = np.exp(u - top[group])
        z = np.add.reduceat(e, starts)
        p = e / z[group]
        nll = np.sum(top + np.log(z)) - np.sum(u[positive])
        grad = x.T @ p - x[positive].sum(axis=0)
        return nll / n_q + 0.5 * l2 * (w @ w), grad / n_q + l2 * w

    res = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    return np.asarray(res.x, np.float64)


class Personalized:
    """Title search re-ranked for the member: text relevance, the member's ranker score and popularity.

    Example:
        >>> index = SearchIndex().build(dataset.catalog)
        >>> ranker = EASE().fit(dataset.interactions)
        >>> search = Personalized(index, ranker).fit(search_log)
        >>> hits = search.search("st", k=10, member_id=42)   # unknown or None: the non-personalised order
        >>> search.weights_                                    # {"text_rank": ..., "member_z": ..., ...}

    Args:
        index: a built :class:`~marquee.search.SearchIndex` over the catalog the ranker's titles come from.
        ranker: any fitted :class:`~marquee.rank.Recommender`; its title ids are matched to the catalog's by id
            (a title it does not know scores lowest), its training data gives the popularity.
        config: a :class:`BlendConfig`; keyword overrides of its fields are accepted too.
    """

    Config = BlendConfig

    def __init__(self, index: SearchIndex, ranker: Any, config: BlendConfig | None = None, /, **params: Any) -> None:
        self.config: BlendConfig = build_config("Personalized", BlendConfig, config, params)
        self.index = index
        self.ranker = ranker

    def __repr__(self) -> str:
        return f"Personalized({type(self.ranker).__name__}, {self.config!r})"

    # ---- fitting ---------------------------------------------------------------------------
    def fit(self, log: SearchLog) -> Personalized:
        """Learn the blend weights from ``log``; returns ``self``.

        Searches whose played title is not among the query's candidates teach nothing and are skipped
        (counted in ``n_skipped_``).

        Raises:
            DataError: ``log`` is not a :class:`SearchLog`, or no search in it (none by a member the ranker
                knows, for the personal model) found its played title.
            NotFittedError: the index is not built or the ranker not fitted.
        """
        if not isinstance(log, SearchLog):
            raise DataError(f"Personalized.fit takes a SearchLog(queries, member_ids, played), got {type(log).__name__}")
        self._prepare()
        c = self._collect(log)
        has = np.zeros(len(log), bool)
        has[c.group[c.played]] = True
        if not has.any():
            raise DataError("no logged search found its played title among the candidates; nothing to learn from")
        self.base_weights_ = self._fit_rows(c, has, _N_BASE)
        known = has & c.known
        if not known.any():
            raise DataError("no logged search by a member the ranker knows found its played title; nothing to personalise from")
        self.personal_weights_ = self._fit_rows(c, known, len(FEATURES))
        self.n_searches_ = int(has.sum())
        self.n_skipped_ = int(len(log) - has.sum())
        return self

    def _fit_rows(self, c: _Candidates, use: np.ndarray, d: int) -> np.ndarray:
        rows = use[c.group]
        x = c.features[rows, :d]
        sizes = np.diff(c.offsets)[use]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        positive = np.flatnonzero(c.played[rows])
        return _conditional_logit(x, offsets, positive, self.config.l2, self.config.max_iter)

    @property
    def weights_(self) -> dict[str, float]:
        """The personal model's weights by feature name."""
        self._check_fitted()
        return dict(zip(FEATURES, self.personal_weights_.tolist(), strict=True))

    @property
    def base_weights(self) -> dict[str, float]:
        """The non-personalised model's weights by feature name."""
        self._check_fitted()
        return dict(zip(BASE_FEATURES, self.base_weights_.tolist(), strict=True))

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "personal_weights_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError("this Personalized search has no blend weights yet; call fit(search_log) first")

    # ---- the ranker, mapped onto the catalog -----------------------------------------------
    def _prepare(self) -> None:
        """Title map and popularity, once (the index and ranker are fixed for the life of this object)."""
        if hasattr(self, "title_map_"):
            return
        self.index._require_built()
        if not getattr(self.ranker, "is_fitted", False):
            raise NotFittedError(f"the ranker {type(self.ranker).__name__} is not fitted; call fit(data) on it first")
        catalog_ids = self.index.catalog_.index.ids
        self.title_map_ = self.ranker.titles_.lookup(catalog_ids)
        counts = np.asarray(self.ranker.seen_.sum(axis=0)).ravel()
        known = self.title_map_ >= 0
        self.popularity_ = np.zeros(catalog_ids.size)
        self.popularity_[known] = counts[self.title_map_[known]]
        self.all_known_ = bool(known.all())
        row_bytes = 8 * max(catalog_ids.size, 1)
        rows = int(self.config.member_cache_mb * 2**20 // row_bytes)
        self._row = lru_cache(maxsize=max(rows, 1))(self._score_row) if self.config.member_cache_mb > 0 else self._score_row

    def _catalog_scores(self, scores: np.ndarray) -> np.ndarray:
        """(u, n_ranker_titles) ranker scores as (u, n_catalog) float64, NaN where the ranker does not know the title."""
        out = np.asarray(scores, np.float64)[:, np.maximum(self.title_map_, 0)]
        if not self.all_known_:
            out[:, self.title_map_ < 0] = np.nan
        return out

    def _score_row(self, member_idx: int) -> np.ndarray:
        """One member's scores over the catalog (read-only: it may be cached and shared)."""
        row = self._catalog_scores(self.ranker.score_one(member_idx)[None, :])[0]
        row.flags.writeable = False
        return row

    def member_index(self, member_id: Any) -> int:
        """The ranker's position of ``member_id``; -1 for None or a member it does not know.

        Raises:
            NotFittedError: before :meth:`fit`.
        """
        self._check_fitted()
        if member_id is None or isinstance(member_id, bool):
            return -1
        if isinstance(member_id, np.integer):
            member_id = int(member_id)
        pos = self.ranker.members_.position(member_id)
        return -1 if pos is None else int(pos)

    def _member_rows(self, member_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, which)``: (u, n_catalog) float64 scores of the distinct known members (NaN: a title the
        ranker does not know), and per member id the row of its scores (-1: unknown, anonymous or None)."""
        ids = np.asarray(member_ids, dtype=object)
        present = np.array([i is not None for i in ids.tolist()], bool)
        pos = np.full(ids.size, -1, np.int64)
        if present.any():
            pos[present] = self.ranker.members_.lookup(_id_values(ids[present]))
        known = pos >= 0
        uniq, inverse = np.unique(pos[known], return_inverse=True)
        which = np.full(ids.size, -1, np.int64)
        which[known] = inverse
        rows = np.empty((uniq.size, self.title_map_.size))
        for start in range(0, uniq.size, _SCORE_BATCH):
            block = self._catalog_scores(self.ranker.score_index(uniq[start : start + _SCORE_BATCH]))
            rows[start : start + block.shape[0]] = block
        return rows, which

    def _collect(self, log: SearchLog) -> _Candidates:
        catalog = self.index.catalog_.index
        played = catalog.lookup(log.played)
        rows, which = self._member_rows(log.member_ids)
        feats, groups, flags, sizes = [], [], [], []
        for q, text in enumerate(log.queries):
            hits = self.index.candidates(text, self.config.candidates)
            member = rows[which[q], hits.positions] if which[q] >= 0 else None
            feats.append(features(hits.scores, self.popularity_[hits.positions], member))
            flags.append(hits.positions == played[q])
            sizes.append(len(hits))
            groups.append(np.full(len(hits), q, np.int64))
        n = sum(sizes)
        return _Candidates(
            features=np.concatenate(feats) if n else np.zeros((0, len(FEATURES))),
            group=np.concatenate(groups) if n else np.zeros(0, np.int64),
            offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            played=np.concatenate(flags) if n else np.zeros(0, bool),
            known=which >= 0,
        )

    # ---- searching -------------------------------------------------------------------------
    def _hook(self, member_scores: np.ndarray | None) -> Any:
        weights = self.base_weights_ if member_scores is None else self.personal_weights_
        d = weights.size

        def rescore(positions: np.ndarray, text_scores: np.ndarray) -> np.ndarray:
            member = None if member_scores is None else member_scores[positions]
            return features(text_scores, self.popularity_[positions], member)[:, :d] @ weights

        return rescore

    def search(self, query: str, k: int = 10, *, member_id: Any = None) -> SearchHits:
        """The ``k`` best titles for ``member_id`` (None, or one the ranker does not know: the
        non-personalised order); ``hits.scores`` are the blended scores.

        Raises:
            ConfigError: ``k`` is not a positive int.
            NotFittedError: before :meth:`fit`.
        """
        return self.search_position(query, k, self.member_index(member_id))

    def search_position(self, query: str, k: int, position: int) -> SearchHits:
        """:meth:`search` for the member at the ranker's ``position`` (:meth:`member_index`; -1: the
        non-personalised order), for callers that looked the member up already.

        Raises:
            ConfigError: ``k`` is not a positive int.
            NotFittedError: before :meth:`fit`.
        """
        self._check_fitted()
        return self._search(query, k, self._row(position) if position >= 0 else None)

    def search_many(self, queries: list[str] | tuple[str, ...], member_ids: Any, k: int = 10) -> list[SearchHits]:
        """:meth:`search` for each ``(queries[i], member_ids[i])``; the members' ranker scores come in one batch.

        Raises:
            ConfigError: ``k`` is not a positive int, or the lengths differ.
            NotFittedError: before :meth:`fit`.
        """
        self._check_fitted()
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"k must be an int >= 1, got {k!r}; pass the number of titles wanted, e.g. k=10")
        members = list(member_ids)
        if len(members) != len(queries):
            raise ConfigError(f"search_many needs one member id per query (None for anonymous): {len(queries)} queries, {len(members)} ids")
        rows, which = self._member_rows(np.array(members, dtype=object))
        return [self._search(text, k, rows[which[q]] if which[q] >= 0 else None) for q, text in enumerate(queries)]

    def _search(self, query: str, k: int, member_scores: np.ndarray | None) -> SearchHits:
        # The index checks k and reranks max(k, candidates) titles.
        return self.index.search(query, k, rescore=self._hook(member_scores), candidates=self.config.candidates)

    def ranks(self, log: SearchLog) -> SearchRanks:
        """Where each logged search's played title lands in text order, the non-personalised and the personal blend.

        Raises:
            NotFittedError: before :meth:`fit`.
        """
        self._check_fitted()
        c = self._collect(log)
        base = c.features[:, :_N_BASE] @ self.base_weights_
        personal = c.features @ self.personal_weights_
        n = len(log)
        out = {name: np.zeros(n, np.int64) for name in ("text", "base", "personal")}
        for q in range(n):
            lo, hi = int(c.offsets[q]), int(c.offsets[q + 1])
            hit = np.flatnonzero(c.played[lo:hi])
            if not hit.size:
                continue
            t = int(hit[0])
            out["text"][q] = t + 1
            for name, s in (("base", base[lo:hi]), ("personal", personal[lo:hi] if c.known[q] else base[lo:hi])):
                # Stable order by score, text order breaking ties: the rank of the title at text position t.
                out[name][q] = int(np.sum(s > s[t]) + np.sum(s[:t] == s[t])) + 1
        return SearchRanks(out["text"], out["base"], out["personal"], c.known)


def _id_values(ids: np.ndarray) -> np.ndarray:
    """Object ids as the ranker's index reads them: int64 when every id is an int, else as given."""
    values = ids.tolist()
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        return np.array(values, np.int64)
    return np.array([str(v) for v in values], dtype=object)
