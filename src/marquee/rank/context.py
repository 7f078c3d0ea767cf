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
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from marquee._validate import ints, positive, require
from marquee.artifacts import read_artifact, write_artifact
from marquee.data.ids import IdIndex
from marquee.data.interactions import Interactions
from marquee.errors import ArtifactError, DataError, NotFittedError
from marquee.rank.base import Recommender, top_k, top_k_row

__all__ = ["ContextReranker", "ContextRerankerConfig", "ContextStage", "context_cells"]

#: Device classes in code order; the simulated world (:mod:`marquee.sim.context`) uses the same.
DEVICES: tuple[str, ...] = ("tv", "mobile", "web", "tablet")
N_DAYPARTS = 4
_DEVICE_CODE = {d: j for j, d in enumerate(DEVICES)}


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


def _standardise(scores: np.ndarray) -> np.ndarray:
    """``z`` of each row's finite scores (NaN where a score is not finite)."""
    s = np.where(np.isfinite(scores), scores, np.nan).astype(np.float64)
    return (s - np.nanmean(s, axis=-1, keepdims=True)) / (np.nanstd(s, axis=-1, keepdims=True) + 1e-9)


class ContextStage:
    """The learned re-ranking stage alone, for serving in front of any tier's candidates.

    It holds what :class:`ContextReranker` learned (the lifts per context cell and title, and
    ``λ``) keyed by title id, so it applies to whichever model produced the candidates. Saved
    like a model (safetensors + a JSON manifest with checksums), so the registry versions,
    promotes and rolls it back like one.

    Attributes:
        title_ids: (n_titles,) ids of the lift table's columns (int64, or object array of str).
        lift: (cells, n_titles) float32 log-lifts (cells: device × daypart, see :func:`context_cells`).
        weight: ``λ``.
        config: the :class:`ContextRerankerConfig` it was fitted with.
        base_name: the ranker ``λ`` was tuned with.
    """

    name = "context"

    def __init__(self, title_ids: Any, lift: Any, weight: float, config: ContextRerankerConfig, base_name: str = "") -> None:
        lift = np.asarray(lift, np.float32)
        ids = title_ids.ids if isinstance(title_ids, IdIndex) else np.asarray(title_ids)
        # String ids are looked up through an IdIndex (its columns put in the index's order);
        # integer ids, in any order, by the tables below.
        self._index: IdIndex | None = None
        if ids.dtype.kind in "OUT":
            self._index = IdIndex.from_values(ids, "title")
            if lift.ndim == 2 and lift.shape[1] == ids.size == len(self._index):
                reordered = np.empty_like(lift)
                reordered[:, self._index.positions(ids)] = lift
                lift = reordered
            ids = self._index.ids
        self.title_ids = ids if self._index is not None else ids.astype(np.int64)
        self.lift = lift
        n_cells = len(DEVICES) * N_DAYPARTS
        if self.lift.shape != (n_cells, self.title_ids.size):
            raise ArtifactError(f"a context stage's lift table must be ({n_cells}, {self.title_ids.size}), got {self.lift.shape}")
        self.weight, self.config, self.base_name = float(weight), config, base_name
        n = self.title_ids.size
        # Request-path lookups: a title id -> its lift column, with one extra zero column for
        # titles the stage never saw; a dense table when ids are small non-negative ints.
        self._padded = np.concatenate([self.lift, np.zeros((n_cells, 1), np.float32)], axis=1)
        self._order = np.argsort(self.title_ids, kind="stable")
        self._sorted = self.title_ids[self._order]
        self._dense: np.ndarray | None = None
        if self._index is None and n and self._sorted[0] >= 0 and self._sorted[-1] < 8 * n + 1024:
            self._dense = np.full(int(self._sorted[-1]) + 2, n, np.int64)
            self._dense[self.title_ids] = np.arange(n)

    def __repr__(self) -> str:
        return f"ContextStage(titles={self.title_ids.size}, weight={self.weight:g}, candidates={self.config.candidates}, base={self.base_name!r})"

    @property
    def candidates(self) -> int:
        """How many of the base ranker's titles to re-rank."""
        return self.config.candidates

    def _columns(self, title_ids: np.ndarray) -> np.ndarray:
        """Lift columns of title ids; ``n_titles`` (the zero column) for ids the stage never saw."""
        if self._index is not None:
            pos = self._index.lookup(title_ids)
            return np.where(pos >= 0, pos, self.title_ids.size)
        if self._dense is not None and (title_ids.size == 0 or title_ids.min() >= 0):
            return self._dense.take(np.minimum(title_ids, self._dense.size - 1))
        pos = np.minimum(np.searchsorted(self._sorted, title_ids), self._sorted.size - 1)
        return np.where(self._sorted[pos] == title_ids, self._order[pos], self.title_ids.size)

    def rerank(
        self, title_ids: Any, scores: Any, device: str | None, local_hour: int | None, k: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """Re-order one session's candidates (best first) for its device and hour.

        Args:
            k: keep only the best ``k`` (cheaper than ordering all the candidates).
        Returns:
            (ids, scores, applied): the candidates re-sorted by ``z(score) + λ · lift`` with those
            scores, and whether the context changed anything; without a known device and hour
            the input comes back unchanged (``applied`` False).
        """
        ids = np.asarray(title_ids)
        if ids.dtype.kind not in "OUT":
            ids = ids.astype(np.int64, copy=False)
        base = np.asarray(scores, np.float64)
        code = _DEVICE_CODE.get(device) if device is not None else None  # type: ignore[arg-type]
        if code is None or local_hour is None or ids.size == 0:
            return ids, base, False
        # The batch path's arithmetic for one row in few numpy calls (its NaN-aware reductions cost
        # ~15x more at 100 titles), unless a score is not finite: this runs on every request with context.
        bonus = self._padded[code * N_DAYPARTS + int(local_hour) // 6].take(self._columns(ids))
        mean = float(base.sum()) / base.size
        if np.isfinite(mean):
            centred = base - mean
            final = centred / (np.sqrt(np.dot(centred, centred) / centred.size) + 1e-9) + self.weight * bonus
        else:  # an excluded (-inf) or missing score: the batch path's NaN-aware form
            z = _standardise(base)
            final = np.where(np.isnan(z), -np.inf, z + self.weight * bonus)
        order, _ = top_k_row(final, final.size if k is None else k)  # the batch path's order, ties included
        return ids[order], final[order], True

    # ---- persistence -----------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str], *, metadata: dict[str, Any] | None = None) -> None:
        """Write the stage as safetensors plus a JSON manifest (class, config, checksums)."""
        config = dataclasses.asdict(self.config)
        config["grid"] = list(config["grid"])
        meta = {
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "name": self.name,
            "config": config,
            "weight": self.weight,
            "base_name": self.base_name,
            **(metadata or {}),
        }
        ids = self._index.to_arrays("title_ids") if self._index is not None else {"title_ids": self.title_ids}
        write_artifact(directory, {**ids, "lift": self.lift}, meta)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ContextStage:
        """Load and verify a saved stage."""
        manifest, arrays = read_artifact(directory)
        if manifest.get("class") != f"{cls.__module__}:{cls.__qualname__}":
            raise ArtifactError(f"{directory} holds a {manifest.get('class')!r}, not a context stage; pass a stage made by `marquee train-context`")
        try:
            config = ContextRerankerConfig(**{**manifest["config"], "grid": tuple(manifest["config"]["grid"])})
            ids = arrays["title_ids"] if "title_ids" in arrays else IdIndex.from_arrays(arrays, "title_ids", "title")
            return cls(ids, arrays["lift"], float(manifest["weight"]), config, str(manifest.get("base_name", "")))
        except (KeyError, TypeError, DataError) as exc:
            raise ArtifactError(f"{directory}: not a complete context stage ({exc}); refit it") from None


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
        z = _standardise(scores)
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

    def stage(self) -> ContextStage:
        """The fitted stage alone, keyed by title id, to serve in front of any model."""
        if not hasattr(self, "lift_"):
            raise NotFittedError("this ContextReranker is not fitted yet; call fit(data) first")
        return ContextStage(self.base.titles_, self.lift_, self.weight_, self.config, self.base.name)
