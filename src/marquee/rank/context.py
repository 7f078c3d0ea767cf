"""Context-aware re-ranking: any ranker's candidates, re-ordered for the device and hour of the session.

The stage learns, from a log with ``device``, ``local_hour`` and ``completion``, how much more (or
less) each title is watched in each context cell (device × daypart) than its overall popularity
predicts, counting each play by how much of the title was completed:

``lift[c, i] = log((w_ci + α) / (w_c · w_i / w + α))``, with ``w_ci`` the completion-weighted plays
of title ``i`` in cell ``c`` (``w_c``, ``w_i``, ``w`` the margins) and ``α`` pseudo-plays that
shrink rare titles' lifts towards 0. A session's top ``candidates`` titles from the base ranker
are re-scored as ``z(base score) + λ · lift[c, i]`` (``z`` standardises the base scores over the
member's candidates) and re-sorted. ``λ`` is learned: the base ranker is fitted without each
member's last play, and ``λ`` maximises the MRR@10 of those last plays in their own contexts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from marquee._validate import ints, positive, require
from marquee.data.interactions import Interactions
from marquee.errors import DataError, NotFittedError
from marquee.rank.base import Recommender, top_k

__all__ = ["ContextReranker", "ContextRerankerConfig", "context_cells"]

#: Device classes in code order; the simulated world (:mod:`marquee.sim.context`) uses the same.
DEVICES: tuple[str, ...] = ("tv", "mobile", "web", "tablet")
N_DAYPARTS = 4


def context_cells(device: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """(n,) int64 cells ``device · 4 + hour // 6`` from device names (or codes) and local hours.

    An unknown device name maps to ``-1`` (no context: the base order is kept).
    """
    device = np.asarray(device)
    if device.dtype.kind in "iu":
        code = device.astype(np.int64)
    else:
        lookup = {d: j for j, d in enumerate(DEVICES)}
        code = np.array([lookup.get(d, -1) for d in device.tolist()], np.int64)
    cell = code * N_DAYPARTS + np.asarray(hour, np.int64) // 6
    return np.where(code >= 0, cell, -1)


@dataclass(frozen=True)
class ContextRerankerConfig:
    """Args:
    candidates: titles of the base ranker's list that are re-ranked.
    smoothing: ``α``, pseudo-plays shrinking each lift towards 0.
    completion_weighted: count each play by its completion fraction (else 1).
    grid: candidate values of ``λ`` (the weight of the lift); 0 keeps the base order.
    """

    candidates: int = 100
    smoothing: float = 10.0
    completion_weighted: bool = True
    grid: tuple[float, ...] = field(default=(0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0))

    def __post_init__(self) -> None:
        ints(self, "candidates")
        positive(self, "smoothing")
        require(len(self.grid) > 0, "ContextRerankerConfig", "grid", "a non-empty tuple of weights >= 0", self.grid)
        for g in self.grid:
            require(
                isinstance(g, int | float) and g >= 0,
                "ContextRerankerConfig",
                "grid",
                "a non-empty tuple of weights >= 0",
                self.grid,
            )


class ContextReranker:
    """A re-ranking stage on top of any ranker (see the module docstring).

    ``ContextReranker(EASE()).fit(log)`` fits the base ranker and the stage on ``log``;
    :meth:`recommend_index` then takes each session's device and hour.
    """

    def __init__(self, base: Recommender, config: ContextRerankerConfig | None = None, /, **params: object) -> None:
        from marquee._validate import build_config

        self.base = base
        self.config: ContextRerankerConfig = build_config("ContextReranker", ContextRerankerConfig, config, params)

    def __repr__(self) -> str:
        return f"ContextReranker({self.base!r}, {self.config!r})"

    @property
    def name(self) -> str:
        return f"{self.base.name}+context"

    def _lift(self, data: Interactions) -> np.ndarray:
        t = data.table
        if t.column("device").null_count == len(t) or t.column("local_hour").null_count == len(t):
            raise DataError(
                "the log has no device or local_hour; the context stage learns from logs that record them (e.g. marquee.sim.World.log)"
            )
        cell = context_cells(
            t.column("device").to_numpy(zero_copy_only=False), t.column("local_hour").fill_null(0).to_numpy()
        )
        w = np.ones(len(data))
        if self.config.completion_weighted and t.column("completion").null_count < len(t):
            w = np.nan_to_num(t.column("completion").to_numpy(zero_copy_only=False).astype(np.float64), nan=1.0)
        ok = (cell >= 0) & ~np.asarray(t.column("device").is_null().to_numpy(zero_copy_only=False))
        n_cells = len(DEVICES) * N_DAYPARTS
        wci = np.zeros((n_cells, data.n_titles))
        np.add.at(wci, (cell[ok], data.title_idx[ok]), w[ok])
        total = wci.sum()
        expected = wci.sum(axis=1, keepdims=True) * wci.sum(axis=0, keepdims=True) / max(total, 1e-12)
        a = self.config.smoothing
        return np.log((wci + a) / (expected + a))

    def fit(self, data: Interactions) -> ContextReranker:
        """Learn ``λ`` on each member's last play, then fit the base ranker and the lifts on all of ``data``."""
        last = np.zeros(len(data), bool)
        counts = np.diff(data.member_indptr)
        has = np.flatnonzero(counts >= 3)
        last[data.member_indptr[has + 1] - 1] = True
        tuning = data.select(~last)
        probe = copy.deepcopy(self.base).fit(tuning)
        lift = self._lift(tuning)
        t = data.table
        rows = np.flatnonzero(last)
        cell = context_cells(
            np.asarray(t.column("device").to_numpy(zero_copy_only=False))[rows],
            t.column("local_hour").fill_null(0).to_numpy()[rows],
        )
        cand, scores = probe.recommend_index(data.member_idx[rows], self.config.candidates)
        target = data.title_idx[rows]
        mrr = []
        for lam in self.config.grid:
            order = self._rerank(cand, scores, cell, lift, lam)
            hit = order[:, :10] == target[:, None]
            mrr.append(float((hit / np.arange(1, 11)).sum(axis=1).mean()))
        self.tuning_mrr_ = dict(zip(self.config.grid, mrr, strict=True))
        self.weight_ = float(self.config.grid[int(np.argmax(mrr))])
        self.base.fit(data)
        self.lift_ = self._lift(data)
        return self

    @staticmethod
    def _rerank(cand: np.ndarray, scores: np.ndarray, cell: np.ndarray, lift: np.ndarray, weight: float) -> np.ndarray:
        s = np.where(np.isfinite(scores), scores, np.nan).astype(np.float64)
        z = (s - np.nanmean(s, axis=1, keepdims=True)) / (np.nanstd(s, axis=1, keepdims=True) + 1e-9)
        bonus = np.where(cell[:, None] >= 0, lift[np.maximum(cell, 0)[:, None], cand], 0.0)
        final = np.where(np.isnan(z), -np.inf, z + weight * bonus)
        idx, _ = top_k(final, cand.shape[1])
        return np.take_along_axis(cand, idx, axis=1)

    def recommend_index(self, member_idx: np.ndarray, device: np.ndarray, hour: np.ndarray, k: int = 10) -> np.ndarray:
        """Top-``k`` title positions for sessions: (n,) members, devices (names or codes) and local hours.

        Returns:
            (n, k) int64 title positions, best first (seen titles excluded, as by the base ranker).
        """
        if not hasattr(self, "lift_"):
            raise NotFittedError(
                "this ContextReranker is not fitted yet; call fit(data) first with a log that has device and local_hour"
            )
        cand, scores = self.base.recommend_index(np.asarray(member_idx, np.int64), max(k, self.config.candidates))
        order = self._rerank(cand, scores, context_cells(device, hour), self.lift_, self.weight_)
        return order[:, :k]
