"""Candidate rows of a home page, and the viewing history they are built from.

A home page is a column of rows, each a theme with its titles best first. :class:`RowCandidates`
learns what does not depend on the member once, at :meth:`~RowCandidates.fit` (each title's nearest
neighbours by co-watching, what is trending at the end of the log, the newest titles, each genre's
titles), then builds one member's candidates from their ranker scores and :class:`History` in a few
vectorised numpy calls:

- ``continue``: titles the member started and left unfinished (completion under
  :attr:`RowCandidates.finished`), most recent first;
- ``top_picks``: the member's best-scored unseen titles;
- ``because_you_watched``: for each of the member's last few titles (the evidence), its co-watched
  neighbours, in the member's order;
- ``trending``: the titles most watched over the log's last days, the same order for everyone;
- ``new``: the catalog's newest titles, in the member's order;
- ``genre``: one row per genre, the member's best-scored unseen titles of that genre.

Which rows a member is shown and in what order is a page policy's choice (:mod:`marquee.page.policy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

import numpy as np
import pyarrow.compute as pc
import scipy.sparse as sp

from marquee.data.catalog import Catalog
from marquee.data.interactions import Interactions
from marquee.errors import ConfigError, DataError, NotFittedError

__all__ = ["ROW_KINDS", "History", "Row", "RowCandidates"]

#: The kinds of candidate row, in the order the rule template shows them.
ROW_KINDS: tuple[str, ...] = ("continue", "top_picks", "because_you_watched", "trending", "new", "genre")


@dataclass(frozen=True, eq=False)
class Row:
    """One candidate row.

    Attributes:
        kind: one of :data:`ROW_KINDS`.
        key: unique among one member's candidates (``"genre:Comedy"``, ``"because_you_watched:41"``).
        label: what the page shows above the row.
        items: (m,) int64 title positions, best first.
        evidence: why the row is there: the anchor title's position (``because_you_watched``) or the
            genre's name (``genre``); ``None`` for the others.
    """

    kind: str
    key: str
    label: str
    items: np.ndarray
    evidence: int | str | None = None


@dataclass(frozen=True, eq=False)
class History:
    """What one member watched, oldest first.

    Attributes:
        titles: (n,) int64 title positions, each once (its latest play).
        completion: (n,) float64 fraction of each watched to its end; NaN where the log does not say.
    """

    titles: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    completion: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        t = np.asarray(self.titles, np.int64)
        c = np.asarray(self.completion, np.float64)
        if t.shape != c.shape or t.ndim != 1:
            raise DataError(f"History needs titles and completion of one length, got {t.shape} and {c.shape}")
        object.__setattr__(self, "titles", t)
        object.__setattr__(self, "completion", c)

    def __len__(self) -> int:
        return self.titles.size

    def with_play(self, title: int, completion: float) -> History:
        """This history with ``title`` played last to ``completion`` (an earlier play of it replaced)."""
        keep = self.titles != title
        return History(np.append(self.titles[keep], title), np.append(self.completion[keep], completion))


class RowCandidates:
    """Builds the candidate rows of a member's page.

    Args:
        row_length: titles per candidate row (a page shows a prefix of each).
        neighbours: co-watched neighbours kept per title for ``because_you_watched``.
        anchors: how many of the member's latest titles get a ``because_you_watched`` row.
        trending_days: the window, ending at the log's last event, that ``trending`` counts.
        new_years: ``new`` holds titles of the catalog's latest ``new_years`` years.
        finished: a play at or above this completion is finished; below it, ``continue`` offers it.
    """

    def __init__(
        self, *, row_length: int = 20, neighbours: int = 40, anchors: int = 3, trending_days: float = 30.0,
        new_years: int = 1, finished: float = 0.9,
    ) -> None:  # fmt: skip
        for name, value in (("row_length", row_length), ("neighbours", neighbours), ("new_years", new_years)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"RowCandidates: {name} must be a positive integer, got {value!r}")
        if not isinstance(anchors, int) or anchors < 0:
            raise ConfigError(f"RowCandidates: anchors must be a non-negative integer, got {anchors!r}")
        if not trending_days > 0 or not 0 < finished <= 1:
            raise ConfigError(f"RowCandidates: need trending_days > 0 and 0 < finished <= 1, got {trending_days} and {finished}")
        self.row_length, self.neighbours, self.anchors = row_length, neighbours, anchors
        self.trending_days, self.new_years, self.finished = float(trending_days), new_years, float(finished)

    def __repr__(self) -> str:
        return f"RowCandidates(row_length={self.row_length}, neighbours={self.neighbours}, anchors={self.anchors})"

    # ---- fit --------------------------------------------------------------------------------
    def fit(self, data: Interactions, catalog: Catalog | None = None) -> Self:
        """Learn the member-independent parts from a log and its catalog (the log's own by default).

        Raises:
            DataError: no catalog, or the log's titles are not the catalog's.
        """
        catalog = catalog if catalog is not None else data.catalog
        if catalog is None:
            raise DataError("RowCandidates.fit needs a catalog: the log has none, pass catalog=")
        if data.titles != catalog.index:
            raise DataError(f"the log indexes other titles ({len(data.titles)}) than the catalog ({len(catalog)}); fit on the catalog's log")
        n = len(catalog)
        x = data.matrix()
        x.data[:] = 1.0
        self.names_: list[str] = [s if s else f"title {t}" for s, t in zip(catalog.table.column("name").to_pylist(),
                                                                           catalog.table.column("title_id").to_pylist(), strict=True)]  # fmt: skip
        self.neighbours_ = _cowatch_neighbours(x.tocsc(), self.neighbours)
        self.popularity_ = np.asarray(x.sum(axis=0)).ravel()
        ts = data.timestamps
        recent = ts >= (ts.max() - self.trending_days * 86400) if ts.size else np.zeros(0, bool)
        counts = np.bincount(data.title_idx[recent], minlength=n).astype(np.float64)
        # Recent plays first, all-time popularity breaking ties (a quiet log still has a trending row).
        order = np.lexsort((-self.popularity_, -counts))
        self.trending_ = order[counts[order] > 0][: 4 * self.row_length]
        years = catalog.table.column("year").to_numpy(zero_copy_only=False).astype(np.float64)
        self.new_ = np.zeros(n, bool)
        if np.isfinite(years).any():
            self.new_ = years > np.nanmax(years) - self.new_years
        genres = catalog.table.column("genres")
        flat = pc.list_flatten(genres).to_numpy(zero_copy_only=False)
        owner = np.repeat(np.arange(n), pc.list_value_length(genres).fill_null(0).to_numpy())
        names, code = np.unique(flat.astype(str), return_inverse=True) if flat.size else (np.zeros(0, str), np.zeros(0, np.int64))
        keep = names != "(no genres listed)"
        self.genres_: tuple[str, ...] = tuple(names[keep].tolist())
        g = sp.csr_matrix((np.ones(code.size), (code, owner)), shape=(names.size, n))[np.flatnonzero(keep)]
        self.genre_matrix_ = (g.toarray() > 0)  # (n_genres, n_titles) bool
        self.seen_ = x.tocsr()
        self._history = (data.member_indptr, data.title_idx, data.table.column("completion").to_numpy(zero_copy_only=False))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "neighbours_"):
            raise NotFittedError("RowCandidates is not fitted; call fit(interactions, catalog) first")

    @property
    def n_titles(self) -> int:
        self._check_fitted()
        return self.genre_matrix_.shape[1]

    def history(self, member_idx: int | None) -> History:
        """A member's :class:`History` in the fitted log (empty for ``None`` or a member it lacks)."""
        self._check_fitted()
        indptr, titles, completion = self._history
        if member_idx is None or not 0 <= member_idx < indptr.size - 1:
            return History()
        lo, hi = indptr[member_idx], indptr[member_idx + 1]
        t = titles[lo:hi]
        c = np.asarray(completion[lo:hi], np.float64)
        # Each title once, at its latest play (rows are in time order).
        _, last = np.unique(t[::-1], return_index=True)
        keep = np.sort(t.size - 1 - last)
        return History(t[keep], c[keep])

    # ---- one member's candidates -----------------------------------------------------------
    def rows(self, scores: np.ndarray, history: History) -> list[Row]:
        """The member's candidate rows.

        Args:
            scores: (n_titles,) the ranker's scores of every title for this member (higher is better).
            history: what the member watched (:meth:`history`, plus plays since).
        Returns:
            Every non-empty candidate, in :data:`ROW_KINDS` order; no row holds a watched title, but
            ``continue`` holds only unfinished ones.
        """
        self._check_fitted()
        scores = np.asarray(scores, np.float64)
        if scores.shape != (self.n_titles,):
            raise ConfigError(f"scores must have shape ({self.n_titles},), got {scores.shape}")
        L = self.row_length
        open_ = np.ones(self.n_titles, bool)
        open_[history.titles] = False
        ranked = np.where(open_, scores, -np.inf)
        order = np.argsort(-ranked, kind="stable")
        order = order[: int(open_.sum())]  # unseen titles, the member's best first
        rank = np.empty(self.n_titles, np.int64)
        rank[order] = np.arange(order.size)
        rank[~open_] = self.n_titles
        out: list[Row] = []
        # Unfinished plays only where the log says how far they went (MovieLens does not).
        cont = history.titles[history.completion < self.finished][::-1][:L]
        if cont.size:
            out.append(Row("continue", "continue", "Continue watching", cont))
        if order.size:
            out.append(Row("top_picks", "top_picks", "Top picks for you", order[:L]))
        seen_anchor: set[int] = set()
        for anchor in history.titles[::-1]:
            if len(seen_anchor) == self.anchors:
                break
            a = int(anchor)
            near = self.neighbours_[a]
            near = near[(near >= 0) & open_[np.maximum(near, 0)]]
            if near.size < 4:
                continue
            seen_anchor.add(a)
            items = near[np.argsort(rank[near], kind="stable")][:L]
            out.append(Row("because_you_watched", f"because_you_watched:{a}", f"Because you watched {self.names_[a]}", items, a))
        trend = self.trending_[open_[self.trending_]][:L]
        if trend.size:
            out.append(Row("trending", "trending", "Trending now", trend))
        new = order[self.new_[order]][:L]
        if new.size:
            out.append(Row("new", "new", "New releases", new))
        # Each genre's best unseen titles: one boolean gather over the member's order.
        in_genre = self.genre_matrix_[:, order]  # (n_genres, n_unseen)
        for g, name in enumerate(self.genres_):
            items = order[np.flatnonzero(in_genre[g])[:L]]
            if items.size >= min(L, 6):
                out.append(Row("genre", f"genre:{name}", name, items, name))
        return out


def _cowatch_neighbours(x: sp.csc_matrix, k: int, block: int = 2048) -> np.ndarray:
    """(n_titles, k) int64: each title's ``k`` most co-watched titles by cosine, -1 where fewer exist.

    Blocks of columns keep the dense similarity slab at ``block x n_titles``."""
    n = x.shape[1]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    norms[norms == 0] = 1.0
    xn = (x @ sp.diags(1.0 / norms)).tocsc()
    out = np.full((n, k), -1, np.int64)
    kk = min(k, n - 1)
    if kk < 1:
        return out
    xt = xn.T.tocsr()
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        sim = (xt[lo:hi] @ xn).toarray()
        sim[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf
        part = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]
        vals = np.take_along_axis(sim, part, axis=1)
        o = np.lexsort((part, -vals), axis=1)
        part, vals = np.take_along_axis(part, o, axis=1), np.take_along_axis(vals, o, axis=1)
        out[lo:hi, :kk] = np.where(vals > 0, part, -1)
    return out
