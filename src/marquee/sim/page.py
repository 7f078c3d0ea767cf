"""Whole home pages in the simulated world: the ground truth that page policies are judged on.

:class:`PageWorld` extends the world's one-row choice model (:meth:`World.play_probabilities`) to a
page of rows. The tile at row ``r``, column ``c`` is examined with weight
``(r + 1)^-η_row (c + 1)^-η_col``. Each session has an intent, a genre drawn from the member's *true*
shares (their choice probabilities ``softmax_i(b_i + β s_ui)`` summed by genre, a title with several
genres split among them); titles outside it are damped by ``e^-λ``. A title already finished is not
played again; one left unfinished is resumed with its weight times ``e^κ``. At most one play::

    P(tile | g) = θ w_g / (1 + Σ θ w_g),  w = exp(a(u, i, c) - ν_u) [× e^κ] [× e^-λ],   E[plays] = Σ_g π_ug Σ P

The policies never see these intents: they estimate them from the member's history
(:func:`marquee.page.intent_shares`). :func:`page_study` compares page policies on the same
sessions, paired, with intervals; :func:`log_impressions` draws the logged impressions a page model
is fitted on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from marquee.data.interactions import Interactions
from marquee.errors import ConfigError
from marquee.page import (
    GreedyPolicy,
    History,
    Impressions,
    Page,
    PageBuilder,
    PageModel,
    PagePolicy,
    RowCandidates,
    RuleTemplate,
    ShuffledTemplate,
)
from marquee.random import SeedLike, as_generator
from marquee.sim.world import Sessions, World

__all__ = ["PageRun", "PageStudy", "PageWorld", "log_impressions", "page_study", "replay_check", "run_page_study"]


class PageWorld:
    """The truth of how the world's members respond to whole pages.

    Args:
        world: a fitted :class:`~marquee.sim.World`.
        genre_matrix: (n_genres, n_titles) bool over the world's titles.
        intent: ``λ``, the damping (in log units) of titles outside the session's intent.
        resume: ``κ``, the log-boost of a title the member left unfinished.
        eta_row, eta_col: the position bias down the page and along a row.
        finished: a play at or above this completion is finished (as :class:`~marquee.page.RowCandidates` counts it).
    """

    def __init__(self, world: World, genre_matrix: np.ndarray, *, intent: float = 1.5, resume: float = 1.0,
                 eta_row: float = 1.0, eta_col: float = 0.7, finished: float = 0.9) -> None:  # fmt: skip
        world._check_fitted()
        if genre_matrix.shape[1] != world.n_titles:
            raise ConfigError(f"genre_matrix covers {genre_matrix.shape[1]} titles, the world {world.n_titles}")
        self.world, self.genres = world, np.asarray(genre_matrix, bool)
        self.intent, self.resume, self.eta_row, self.eta_col, self.finished = intent, resume, eta_row, eta_col, finished
        g = self.genres.astype(np.float64)
        per = g.sum(axis=0)
        self._split = (g / np.where(per > 0, per, 1.0)).T  # (n_titles, G)

    def intents(self, member_idx: np.ndarray) -> np.ndarray:
        """(n, G) float64: each member's true intent shares."""
        a = self.world.affinity(np.asarray(member_idx))
        p = np.exp(a - a.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        shares = p @ self._split
        return shares / shares.sum(axis=1, keepdims=True)

    def play_probabilities(self, sessions: Sessions, grids: np.ndarray, histories: list[History]) -> np.ndarray:
        """True probabilities, per session, intent and tile.

        Args:
            grids: (n, R, K) title positions, -1 where no tile.
            histories: each session's member history (what is finished, what is unfinished).
        Returns:
            (n, G, R * K) float64 ``P(play tile | intent)``; multiply by :meth:`intents` and sum over
            ``G`` for the tile's probability.
        """
        n, rows, cols = grids.shape
        if n != len(sessions) or len(histories) != n:
            raise ConfigError(f"need one grid and one history per session, got {n} grids, {len(histories)} histories, {len(sessions)} sessions")
        t = grids.reshape(n, -1)
        safe = np.maximum(t, 0)
        logit = self.world._logits_at(sessions.member_idx, sessions.cell, safe) - self.world.outside_log_[sessions.member_idx, None]
        theta = np.outer((np.arange(rows) + 1.0) ** -self.eta_row, (np.arange(cols) + 1.0) ** -self.eta_col).ravel()
        boost = np.zeros((n, rows * cols))
        for s, h in enumerate(histories):  # finished: never again; unfinished: resumed more readily
            done = h.titles[~(h.completion < self.finished)]
            left = h.titles[h.completion < self.finished]
            boost[s, np.isin(t[s], done)] = -np.inf
            boost[s, np.isin(t[s], left)] = self.resume
        w = np.where(t >= 0, theta * np.exp(logit + boost), 0.0)
        damp = np.where(self.genres[:, safe].transpose(1, 0, 2), 1.0, math.exp(-self.intent))
        wg = damp * w[:, None, :]
        return wg / (1.0 + wg.sum(axis=2, keepdims=True))

    def expected_plays(self, sessions: Sessions, grids: np.ndarray, histories: list[History]) -> np.ndarray:
        """(n,) float64 expected plays of each session's page (the ground truth)."""
        p = self.play_probabilities(sessions, grids, histories)
        return (self.intents(sessions.member_idx) * p.sum(axis=2)).sum(axis=1)

    def respond(self, sessions: Sessions, grids: np.ndarray, histories: list[History], seed: SeedLike = None) -> np.ndarray:
        """(n,) int64: the tile index each session played (``r * K + c``), -1 for none."""
        rng = as_generator(seed)
        p = self.play_probabilities(sessions, grids, histories)
        pi = self.intents(sessions.member_idx)
        g = (rng.random(len(sessions))[:, None] > np.cumsum(pi, axis=1)).sum(axis=1).clip(0, pi.shape[1] - 1)
        probs = p[np.arange(len(sessions)), g]  # (n, RK)
        cum = np.cumsum(probs, axis=1)
        u = rng.random(len(sessions))
        tile = (u[:, None] > cum).sum(axis=1)
        return np.where(tile < probs.shape[1], tile, -1).astype(np.int64)


def _pages(builder: PageBuilder, policy: PagePolicy, scores: np.ndarray, histories: list[History], n_rows: int) -> tuple[list[Page], np.ndarray]:
    pages = [builder.page(scores[i], histories[i], policy) for i in range(len(histories))]
    return pages, np.stack([p.grid(n_rows) for p in pages])


def log_impressions(
    page_world: PageWorld, builder: PageBuilder, policy: PagePolicy, sessions: Sessions, scores: np.ndarray,
    histories: list[History], *, n_rows: int = 10, seed: SeedLike = None,
) -> Impressions:  # fmt: skip
    """Show each session a page by ``policy`` (a randomising logging policy) and log the plays.

    Args:
        scores: (n, n_titles) the ranker's scores for each session's member.
    """
    pages, grids = _pages(builder, policy, scores, histories, n_rows)
    played = page_world.respond(sessions, grids, histories, seed)
    z = np.zeros(grids.shape)
    unfinished = np.zeros(grids.shape, bool)
    intents = np.empty((len(pages), builder.prior.size))
    for i, h in enumerate(histories):
        m = builder.member(scores[i], h)
        safe = np.maximum(grids[i], 0)
        z[i] = np.where(grids[i] >= 0, m.z[safe], 0.0)
        unfinished[i] = (grids[i] >= 0) & m.unfinished[safe]
        intents[i] = m.intents
    keys = np.array([[r.key for r in p.rows[:n_rows]] + [""] * (n_rows - len(p.rows[:n_rows])) for p in pages], dtype=object).astype(str)
    return Impressions(z, grids, unfinished, intents, played, np.array([p.propensity for p in pages]), keys.reshape(len(pages), n_rows))


@dataclass(frozen=True)
class PageStudy:
    """Expected plays per page of each policy on the same sessions.

    Attributes:
        plays: policy -> (n,) expected plays of each session's page (the world's truth).
        baseline: the policy the others are compared with.
        rows: policy -> mean rows shown; distinct_genres: policy -> mean genres the page's rows cover.
    """

    plays: Mapping[str, np.ndarray]
    baseline: str
    rows: Mapping[str, float]
    distinct_genres: Mapping[str, float]

    def compare(self, policy: str, against: str, level: float = 0.95) -> tuple[float, float, float]:
        """Mean paired difference in plays per page, ``policy`` minus ``against``, with its interval."""
        from scipy.stats import norm

        d = self.plays[policy] - self.plays[against]
        half = float(norm.ppf(0.5 + level / 2)) * d.std(ddof=1) / math.sqrt(d.size)
        return float(d.mean()), float(d.mean() - half), float(d.mean() + half)

    def summary(self, level: float = 0.95) -> list[dict[str, float | str]]:
        """Per policy: mean plays per page with a normal interval, and the paired difference and
        ratio against the baseline with intervals (sessions are independent draws)."""
        from scipy.stats import norm

        zq = float(norm.ppf(0.5 + level / 2))
        base = self.plays[self.baseline]
        out: list[dict[str, float | str]] = []
        mb = base.mean()
        for name, v in self.plays.items():
            n = v.size
            se = v.std(ddof=1) / math.sqrt(n)
            d = v - base
            dse = d.std(ddof=1) / math.sqrt(n) if name != self.baseline else 0.0
            lift = d.mean() / mb
            # The ratio's delta-method error: the baseline's mean is estimated too, on the same sessions.
            lse = (d - lift * base).std(ddof=1) / (math.sqrt(n) * mb) if name != self.baseline else 0.0
            out.append({
                "policy": name, "sessions": n, "plays_per_page": float(v.mean()), "low": float(v.mean() - zq * se), "high": float(v.mean() + zq * se),
                "diff": float(d.mean()), "diff_low": float(d.mean() - zq * dse), "diff_high": float(d.mean() + zq * dse),
                "lift": float(lift), "lift_low": float(lift - zq * lse), "lift_high": float(lift + zq * lse),
                "rows": self.rows[name], "distinct_genres": self.distinct_genres[name],
            })  # fmt: skip
        return out


def page_study(
    page_world: PageWorld, builder: PageBuilder, policies: Mapping[str, PagePolicy], sessions: Sessions, scores: np.ndarray,
    histories: list[History], *, baseline: str, n_rows: int = 10,
) -> PageStudy:  # fmt: skip
    """Each policy's pages for the same sessions, valued by the world's truth."""
    if baseline not in policies:
        raise ConfigError(f"baseline {baseline!r} is not among the policies {sorted(policies)}")
    plays, rows, genres = {}, {}, {}
    cand: RowCandidates = builder.candidates
    for name, policy in policies.items():
        pages, grids = _pages(builder, policy, scores, histories, n_rows)
        plays[name] = page_world.expected_plays(sessions, grids, histories)
        rows[name] = float(np.mean([len(p.rows) for p in pages]))
        genres[name] = float(np.mean([len({g for r in p.rows for g in np.flatnonzero(cand.genre_matrix_[:, r.items].any(axis=1)).tolist()})
                                      for p in pages]))  # fmt: skip
    return PageStudy(plays, baseline, rows, genres)


@dataclass(frozen=True)
class PageRun:
    """:func:`run_page_study`'s outcome: the fitted page model and the policies compared."""

    model: PageModel
    study: PageStudy
    impressions: int
    play_rate: float
    members: int
    replay: tuple[dict[str, float | str], ...] = ()


def run_page_study(
    data: Interactions, *, members: int = 3000, seed: int = 0, n_rows: int = 10, columns: int = 10,
    truth: Mapping[str, float] | None = None, progress: Callable[[str], None] = lambda _: None,
) -> PageRun:  # fmt: skip
    """The page experiment end to end, in a world calibrated on ``data``.

    A :class:`~marquee.sim.World` of ``members`` members watches for its period (the organic log);
    EASE is fitted on that log and scores every member. One session each is shown the template's rows
    in a random order (the logging policy) and responds by the world's truth; :class:`PageModel` is
    fitted on those impressions. On fresh sessions of the same members, the template, the learned page
    with the model's prior parameters and the learned page with the fitted model are valued by the truth.
    ``truth`` overrides :class:`PageWorld`'s parameters (a world the model's prior does not describe).
    """
    from marquee.rank import EASE
    from marquee.sim.world import World

    if data.catalog is None:
        raise ConfigError("run_page_study needs a log with its catalog (genres make the rows and the intents)")
    progress(f"fitting a {members:,}-member world on the log")
    world = World(n_members=members, seed=seed).fit(data)
    log = world.log(seed=seed + 1)
    progress(f"organic log: {len(log):,} plays; fitting EASE and the candidate rows")
    cand = RowCandidates().fit(log, data.catalog)
    idx = np.arange(members)
    scores = np.asarray(EASE().fit(log).score_index(idx), np.float64)
    histories = [cand.history(int(m)) for m in idx]
    truth_world = PageWorld(world, cand.genre_matrix_, finished=cand.finished, **(truth or {}))
    template = RuleTemplate(n_rows=n_rows, columns=columns, genres=cand.genres_)
    builder = PageBuilder(cand, template)
    progress("logging one page per member with the template's rows in a random order")
    logging_policy = ShuffledTemplate(n_rows=n_rows, columns=columns, genres=cand.genres_, seed=seed + 2)
    logged_sessions = world.sessions(idx, seed=seed + 3)
    imp = log_impressions(truth_world, builder, logging_policy, logged_sessions, scores, histories, n_rows=n_rows, seed=seed + 4)
    progress(f"fitting the page model on {len(imp):,} impressions ({(imp.played >= 0).mean():.1%} played)")
    model = PageModel().fit(imp, cand.genre_matrix_)
    policies: dict[str, PagePolicy] = {
        "template": template,
        "learned (prior)": GreedyPolicy(n_rows=n_rows, columns=columns, genre_matrix=cand.genre_matrix_, name="learned (prior)"),
        "learned": GreedyPolicy(n_rows=n_rows, columns=columns, model=model, genre_matrix=cand.genre_matrix_),
    }
    progress("valuing each policy's pages on fresh sessions by the world's truth")
    study = page_study(truth_world, builder, policies, world.sessions(idx, seed=seed + 5), scores, histories, baseline="template", n_rows=n_rows)
    progress("replaying the logged pages for two orders of the template's rows, against the truth")
    replay = replay_check(truth_world, builder, policies["learned"], imp, logged_sessions, scores, histories, n_rows=n_rows)  # type: ignore[arg-type]
    return PageRun(model, study, len(imp), float((imp.played >= 0).mean()), members, replay)


def replay_check(
    page_world: PageWorld, builder: PageBuilder, learned: GreedyPolicy, impressions: Impressions, sessions: Sessions,
    scores: np.ndarray, histories: list[History], *, n_rows: int = 10,
) -> tuple[dict[str, float | str], ...]:  # fmt: skip
    """:func:`~marquee.page.slot_replay` of two targets on the logged pages, each beside its true value on the same sessions.

    The targets order the rows each logged page showed: as the rule template does, and as the learned
    page would (greedy placement restricted to those rows). The gap between replay and truth is the
    estimator's bias where plays do not add up over rows."""
    from marquee.page import slot_replay

    out: list[dict[str, float | str]] = []
    for name in ("template order", "learned order"):
        targets, grids = [], []
        for i, h in enumerate(histories):
            page = builder.page(scores[i], h)  # the template: the logged page's rows in the template's order
            if name == "learned order":
                page = learned.arrange(list(page.rows), builder.member(scores[i], h))
            targets.append({r.key: slot for slot, r in enumerate(page.rows)})
            grids.append(page.grid(n_rows))
        est = slot_replay(impressions, targets)
        true = page_world.expected_plays(sessions, np.stack(grids), histories)
        se = true.std(ddof=1) / math.sqrt(true.size)
        out.append({"target": name, "replay": est.value, "replay_low": est.low, "replay_high": est.high, "matched": est.matched,
                    "truth": float(true.mean()), "truth_low": float(true.mean() - 1.96 * se), "truth_high": float(true.mean() + 1.96 * se)})  # fmt: skip
    return tuple(out)
