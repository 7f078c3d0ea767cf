"""Page policies: which candidate rows a member sees, in what order, with no title twice.

- :class:`RuleTemplate`: the usual hand-made page, the baseline: Continue Watching, Top Picks, Because
  You Watched, Trending, New, then genre rows in the order of the member's genre shares.
- :class:`GreedyPolicy`: the learned page. Rows are placed top to bottom, each slot taking the
  candidate that most raises the expected plays of the page so far under a fitted
  :class:`~marquee.page.model.PageModel` (relevance, position bias in both directions, and the
  member's mixture of intents, which rewards covering several tastes). A greedy heuristic, about a
  millisecond a page: no approximation guarantee is claimed (the value depends on the rows' order and
  on de-duplication, so it is not a set function with the (1 - 1/e) bound of Nemhauser et al. 1978).
- :class:`ShuffledTemplate`: the template's rows in a random order, each order logged with its
  probability: the logging policy whose impressions identify the model's position bias.

:class:`PageBuilder` puts candidates, a policy and the member's state together: one call per page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from marquee.errors import ConfigError
from marquee.page.model import PageModel, intent_shares, standardise
from marquee.page.rows import History, Row, RowCandidates
from marquee.random import SeedLike, as_generator

__all__ = ["GreedyPolicy", "MemberState", "Page", "PageBuilder", "PagePolicy", "RuleTemplate", "ShuffledTemplate"]


@dataclass(frozen=True, eq=False)
class MemberState:
    """What a policy knows of the member for one page.

    Attributes:
        z: (n_titles,) float64 ranker scores standardised over the member's titles.
        intents: (n_genres,) float64 estimated intent shares.
        unfinished: (n_titles,) bool, titles the member started and left.
    """

    z: np.ndarray
    intents: np.ndarray
    unfinished: np.ndarray


@dataclass(frozen=True, eq=False)
class Page:
    """A member's page: rows top to bottom, each at most ``columns`` titles, no title twice.

    Attributes:
        rows: the rows shown, their items already de-duplicated and cut.
        policy: the policy's name.
        propensity: the policy's probability of this arrangement (1 for deterministic policies).
    """

    rows: tuple[Row, ...]
    policy: str
    propensity: float = 1.0
    columns: int = 10

    def grid(self, n_rows: int | None = None) -> np.ndarray:
        """(n_rows, columns) int64 title positions, -1 where no tile."""
        n_rows = len(self.rows) if n_rows is None else n_rows
        out = np.full((n_rows, self.columns), -1, np.int64)
        for r, row in enumerate(self.rows[:n_rows]):
            out[r, : row.items.size] = row.items
        return out


class PagePolicy(Protocol):
    """Arranges a member's candidate rows into a page."""

    name: str

    def arrange(self, rows: list[Row], member: MemberState) -> Page: ...


@dataclass
class _Layout:
    """Shared shape: how many rows, how many titles each, the fewest a row may keep after de-duplication
    (Continue Watching excepted: one unfinished title is a row)."""

    n_rows: int = 10
    columns: int = 10
    min_tiles: int = 4

    def __post_init__(self) -> None:
        if not (self.n_rows >= 1 and self.columns >= 1 and 1 <= self.min_tiles <= self.columns):
            raise ConfigError(f"need n_rows >= 1 and 1 <= min_tiles <= columns, got {self.n_rows}, {self.min_tiles}, {self.columns}")

    def fill(self, ordered: list[Row], name: str, propensity: float = 1.0) -> Page:
        """Rows in the given order, each without titles shown above it, short rows dropped."""
        used: set[int] = set()
        out: list[Row] = []
        for row in ordered:
            items = np.array([t for t in row.items.tolist() if t not in used][: self.columns], np.int64)
            if items.size < _fewest(row, self.min_tiles):
                continue
            used.update(items.tolist())
            out.append(Row(row.kind, row.key, row.label, items, row.evidence))
            if len(out) == self.n_rows:
                break
        return Page(tuple(out), name, propensity, self.columns)


def _fewest(row: Row, min_tiles: int) -> int:
    """The fewest titles a row may show: ``min_tiles``, but Continue Watching is worth showing with one."""
    return 1 if row.kind == "continue" else min_tiles


_KIND_ORDER = {"continue": 0, "top_picks": 1, "because_you_watched": 2, "trending": 3, "new": 4, "genre": 5}


def _template_order(rows: list[Row], member: MemberState, genre_index: dict[str, int]) -> list[Row]:
    def key(row: Row) -> tuple[int, float]:
        share = member.intents[genre_index[row.evidence]] if row.kind == "genre" and row.evidence in genre_index else 0.0
        return _KIND_ORDER.get(row.kind, len(_KIND_ORDER)), -share

    return sorted(rows, key=key)  # stable: anchors keep their most-recent-first order


@dataclass
class RuleTemplate(_Layout):
    """The hand-made template (the baseline): rows by kind in :data:`~marquee.page.rows.ROW_KINDS`
    order, genre rows by the member's genre share, titles as each row ranks them."""

    genres: tuple[str, ...] = ()
    name: str = "template"

    def arrange(self, rows: list[Row], member: MemberState) -> Page:
        return self.fill(_template_order(rows, member, {g: i for i, g in enumerate(self.genres)}), self.name)


@dataclass
class ShuffledTemplate(_Layout):
    """The template's rows (its first ``n_rows`` after de-duplication) in a uniformly random order;
    the page's ``propensity`` is ``1 / n!``. The logging policy that lets :meth:`PageModel.fit`
    tell row position from row quality."""

    genres: tuple[str, ...] = ()
    seed: SeedLike = None
    name: str = "shuffled-template"
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.rng = as_generator(self.seed)

    def arrange(self, rows: list[Row], member: MemberState) -> Page:
        base = self.fill(_template_order(rows, member, {g: i for i, g in enumerate(self.genres)}), self.name)
        order = self.rng.permutation(len(base.rows))
        return Page(tuple(base.rows[i] for i in order), self.name, 1.0 / math.factorial(len(base.rows)), self.columns)


@dataclass
class GreedyPolicy(_Layout):
    """The learned page: greedy slot-by-slot maximisation of the model's expected plays.

    Args:
        model: the fitted response model (its prior parameters when unfitted).
        genre_matrix: (n_genres, n_titles) bool, the intents' genres.
    """

    model: PageModel = field(default_factory=PageModel)
    genre_matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    name: str = "learned"

    def arrange(self, rows: list[Row], member: MemberState) -> Page:
        p = self.model.current
        if self.genre_matrix.shape[1] != member.z.size:
            raise ConfigError(f"GreedyPolicy: genre_matrix covers {self.genre_matrix.shape[1]} titles, the member's scores {member.z.size}")
        if not rows:
            return Page((), self.name, 1.0, self.columns)
        weight = np.exp(p.alpha * member.z + p.beta + p.resume * member.unfinished)
        # (G, n_titles): each title's weight under each intent; a catalog without genres has one intent, all titles.
        if self.genre_matrix.shape[0] == 0:
            w, pi = weight[None, :], np.ones(1)
        else:
            w, pi = np.where(self.genre_matrix, weight, weight * math.exp(-p.intent)), member.intents
        col = np.r_[(np.arange(self.columns) + 1.0) ** -p.eta_col, 0.0]  # the last: a title past the row's end
        # Every candidate's titles in one (C, L) matrix (-1 pads), scored for every slot at once.
        length = max(r.items.size for r in rows)
        items = np.full((len(rows), length), -1, np.int64)
        for j, r in enumerate(rows):
            items[j, : r.items.size] = r.items
        present = items >= 0
        safe = np.maximum(items, 0)
        fewest = np.array([_fewest(r, self.min_tiles) for r in rows])
        wz = w[:, safe]  # (G, C, L)
        s = np.zeros(pi.size)
        used = np.zeros(member.z.size, bool)
        open_ = np.ones(len(rows), bool)
        out: list[Row] = []
        for r in range(self.n_rows):
            keep = present & ~used[safe]
            place = np.cumsum(keep, axis=1) - 1  # each kept title's column once the row is de-duplicated
            shown = keep & (place < self.columns)
            n_shown = shown.sum(axis=1)
            ok = open_ & (n_shown >= fewest)
            if not ok.any():
                break
            weights = np.where(shown, col[np.minimum(place, self.columns)], 0.0)  # (C, L)
            add = ((r + 1.0) ** -p.eta_row) * np.einsum("gcl,cl->gc", wz, weights)  # (G, C)
            value = pi @ ((s[:, None] + add) / (1.0 + s[:, None] + add))
            value[~ok] = -np.inf
            best = int(np.argmax(value))
            if value[best] <= float(pi @ (s / (1.0 + s))):
                break
            chosen = items[best][shown[best]]
            used[chosen] = True
            open_[best] = False
            s = s + add[:, best]
            row = rows[best]
            out.append(Row(row.kind, row.key, row.label, chosen, row.evidence))
        return Page(tuple(out), self.name, 1.0, self.columns)


class PageBuilder:
    """Candidates, a policy and the member's state: ``page(scores, history)`` per member.

    Args:
        candidates: fitted :class:`RowCandidates`.
        policy: a :class:`PagePolicy`.
        prior_strength: how many titles' worth the population's genre shares weigh in a member's intents.
    """

    def __init__(self, candidates: RowCandidates, policy: PagePolicy, *, prior_strength: float = 5.0) -> None:
        candidates._check_fitted()
        self.candidates, self.policy, self.prior_strength = candidates, policy, prior_strength
        g = candidates.genre_matrix_.astype(np.float64)
        per = g.sum(axis=0)
        pop = (g / np.where(per > 0, per, 1.0)) @ candidates.popularity_
        self.prior = pop / pop.sum() if pop.sum() > 0 else np.full(g.shape[0], 1.0 / max(g.shape[0], 1))

    def member(self, scores: np.ndarray, history: History) -> MemberState:
        """The member's state from their scores and history."""
        unfinished = np.zeros(self.candidates.n_titles, bool)
        unfinished[history.titles[history.completion < self.candidates.finished]] = True
        intents = intent_shares(history.titles, self.candidates.genre_matrix_, self.prior, self.prior_strength)
        return MemberState(standardise(scores), intents, unfinished)

    def page(self, scores: np.ndarray, history: History, policy: PagePolicy | None = None) -> Page:
        """One member's page by ``policy`` (default: the builder's)."""
        rows = self.candidates.rows(scores, history)
        return (policy or self.policy).arrange(rows, self.member(scores, history))
