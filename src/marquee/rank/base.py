"""The one API every ranker follows, and the value type of its answer."""

from __future__ import annotations

import dataclasses
import importlib
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from marquee.artifacts import read_artifact, write_artifact
from marquee.data.ids import IdIndex, id_array
from marquee.data.interactions import Interactions
from marquee.errors import ArtifactError, ConfigError, DataError, NotFittedError

__all__ = ["Recommendations", "Recommender", "top_k", "top_k_row"]


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest scores per row, best first.

    Equal scores are ordered by column (lower first), so results are deterministic.

    Args:
        scores: (n, n_titles) float; ``-inf`` marks excluded titles.
    Returns:
        ``(idx, values)``: (n, k) int64 and (n, k) float32.
    """
    n, m = scores.shape
    k = min(k, m)
    if k < m:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(m), (n, m))
    # Sort the candidates by column, then stably by score: ties keep the lower column first.
    part = np.sort(part, axis=1)
    vals = np.take_along_axis(scores, part, axis=1)
    idx = np.take_along_axis(part, np.argsort(-vals, axis=1, kind="stable"), axis=1).astype(np.int64)
    # argpartition may split a tie at the k-th score arbitrarily; make the boundary deterministic.
    if k < m:
        kth = np.take_along_axis(scores, idx[:, -1:], axis=1)
        tied_total = (scores == kth).sum(axis=1)
        tied_taken = (np.take_along_axis(scores, idx, axis=1) == kth).sum(axis=1)
        for r in np.flatnonzero(tied_total > tied_taken):
            idx[r] = np.lexsort((np.arange(m), -scores[r]))[:k]
    return idx, np.take_along_axis(scores, idx, axis=1).astype(np.float32)


def top_k_row(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k` of one (n_titles,) row, with the same order and tie rule, in a few
    vectorised calls: the single-request serving path, where each numpy call's fixed cost counts."""
    m = scores.size
    k = min(k, m)
    part = scores.argpartition(m - k)[m - k :] if k < m else np.arange(m)
    vals = scores[part]
    idx = part[np.lexsort((part, -vals))]
    if k < m:
        kth = scores[idx[-1]]
        if np.count_nonzero(scores == kth) > np.count_nonzero(vals == kth):  # a tie straddles the cut
            idx = np.lexsort((np.arange(m), -scores))[:k]
    return idx.astype(np.int64, copy=False), scores[idx].astype(np.float32, copy=False)


@dataclass(frozen=True, eq=False)
class Recommendations:
    """Top-k titles per member, best first.

    Attributes:
        member_ids: (n,) external member ids (int64, or object array of str).
        title_ids: (n, k) external title ids (int64, or object array of str).
        scores: (n, k) float32 model scores.
    """

    member_ids: np.ndarray
    title_ids: np.ndarray
    scores: np.ndarray

    def to_table(self) -> pa.Table:
        """Long format: ``member_id, rank (1..k), title_id, score``."""
        n, k = self.title_ids.shape
        return pa.table(
            {
                "member_id": id_array(np.repeat(self.member_ids, k)),
                "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), n),
                "title_id": id_array(self.title_ids.ravel()),
                "score": self.scores.ravel(),
            }
        )


class Recommender(ABC):
    """Base class of rankers: ``fit(data) -> self``, ``score``, ``recommend``, ``save``/``load``.

    Subclasses declare ``Config`` (a frozen dataclass validated in ``__post_init__``) and
    implement ``_fit``, ``score_index`` and the state pair ``_state``/``_restore``. Learned
    attributes end with ``_``; hyperparameters live only in ``config``.

    Construct with a config, keyword overrides of its fields, or both:
    ``EASE(l2=250.0)``, ``EASE(EASEConfig(l2=250.0))``.
    """

    Config: ClassVar[type]
    #: Short registry name, e.g. ``"ease"``.
    name: ClassVar[str]

    def __init__(self, config: Any = None, /, **params: Any) -> None:
        base = self.Config() if config is None else config
        if not isinstance(base, self.Config):
            raise ConfigError(f"{type(self).__name__} takes a {self.Config.__name__}, got {type(base).__name__}")
        if params:
            known = {f.name for f in dataclasses.fields(self.Config)}
            unknown = sorted(set(params) - known)
            if unknown:
                raise ConfigError(f"{type(self).__name__} has no hyperparameter {unknown[0]!r}; known: {sorted(known)}")
            base = dataclasses.replace(base, **params)
        self.config = base

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in dataclasses.asdict(self.config).items())
        return f"{type(self).__name__}({fields})"

    # ---- training --------------------------------------------------------------------------
    def fit(self, data: Interactions) -> Self:
        """Learn from ``data``; returns ``self``. The member and title indices of ``data`` become
        the model's: it scores every title of the index, watched or not."""
        start = time.perf_counter()
        self.members_: IdIndex = data.members
        self.titles_: IdIndex = data.titles
        self.seen_: sp.csr_matrix = data.matrix()
        self._fit(data)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    @abstractmethod
    def _fit(self, data: Interactions) -> None: ...

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "seen_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(data) first")

    # ---- scoring ---------------------------------------------------------------------------
    @abstractmethod
    def score_index(self, member_idx: np.ndarray) -> np.ndarray:
        """Scores of every title for members at dense positions ``member_idx``.

        Returns:
            (n, n_titles) float32; higher is better.
        """

    def score(self, member_ids: np.ndarray | list[int], title_ids: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Scores for external ids: (n_members, n_titles) over all titles, or over ``title_ids``."""
        self._check_fitted()
        scores = self.score_index(self.members_.positions(member_ids))
        if title_ids is not None:
            scores = scores[:, self.titles_.positions(title_ids)]
        return scores

    def recommend_index(
        self, member_idx: np.ndarray, k: int = 10, *, exclude_seen: bool = True, batch_size: int = 1024
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` dense title positions and scores for dense member positions; (n, k) each.

        This is the path evaluators and the service share. With ``exclude_seen`` the titles the
        member had in the fit data are never recommended.
        """
        self._check_fitted()
        if not isinstance(k, int | np.integer) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        member_idx = np.asarray(member_idx, dtype=np.int64)
        k = min(int(k), len(self.titles_))
        idx_out = np.empty((member_idx.size, k), np.int64)
        val_out = np.empty((member_idx.size, k), np.float32)
        for start in range(0, member_idx.size, batch_size):
            rows = member_idx[start : start + batch_size]
            scores = np.array(self.score_index(rows), dtype=np.float32, copy=True)
            if exclude_seen:
                scores[self._seen_entries(rows)] = -np.inf
            idx_out[start : start + rows.size], val_out[start : start + rows.size] = top_k(scores, k)
        return idx_out, val_out

    def score_one(self, member_idx: int) -> np.ndarray:
        """(n_titles,) float32 scores of one member position, in a new array the caller may change.
        Override where one row is much cheaper than a batch (e.g. a matrix-vector product)."""
        return np.array(self.score_index(np.array([member_idx]))[0], dtype=np.float32, copy=True)

    def recommend_one(self, member_idx: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (title positions, scores) of one member position, seen titles excluded: the
        same answer as ``recommend_index([member_idx], k)`` row 0, with less per-call overhead."""
        scores = self.score_one(member_idx)
        indptr = self.seen_.indptr
        scores[self.seen_.indices[indptr[member_idx] : indptr[member_idx + 1]]] = -np.inf
        return top_k_row(scores, k)

    def _seen_entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row position, title position) of every seen title of ``rows``, straight from the CSR
        arrays (scipy's row indexing costs tens of microseconds on the serving path)."""
        indptr, indices = self.seen_.indptr, self.seen_.indices
        starts, ends = indptr[rows], indptr[rows + 1]
        if rows.size == 1:
            cols = indices[starts[0] : ends[0]]
            return np.zeros(cols.size, np.intp), cols
        lengths = ends - starts
        offsets = np.arange(lengths.sum()) + np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return np.repeat(np.arange(rows.size), lengths), indices[offsets]

    def recommend(self, member_ids: np.ndarray | list[int], k: int = 10, *, exclude_seen: bool = True) -> Recommendations:
        """Top-``k`` titles for each of ``member_ids`` (external ids), best first."""
        self._check_fitted()
        pos = self.members_.positions(member_ids)
        idx, vals = self.recommend_index(pos, k, exclude_seen=exclude_seen)
        return Recommendations(self.members_.ids[pos], self.titles_.ids[idx], vals)

    def for_serving(self, *, threads: int = 1) -> Self:
        """Switch to the fastest inference path that keeps scores equal within float tolerance
        (e.g. an ONNX Runtime graph); ``threads`` bounds its thread pool. Returns ``self``.
        Most rankers score with one matrix product already and have nothing to switch."""
        self._check_fitted()
        return self

    # ---- persistence -----------------------------------------------------------------------
    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays (beyond the indices and seen matrix, which the base class saves)."""

    @abstractmethod
    def _restore(self, state: dict[str, np.ndarray]) -> None: ...

    def save(self, directory: str | os.PathLike[str], *, metadata: dict[str, Any] | None = None) -> None:
        """Write the model as safetensors plus a JSON manifest (class, config, checksums)."""
        self._check_fitted()
        arrays = {
            **self.members_.to_arrays("_members"),
            **self.titles_.to_arrays("_titles"),
            "_seen_indptr": self.seen_.indptr.astype(np.int64),
            "_seen_indices": self.seen_.indices.astype(np.int64),
            **self._state(),
        }
        meta = {
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "name": self.name,
            "config": dataclasses.asdict(self.config),
            **(metadata or {}),
        }
        write_artifact(directory, arrays, meta)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Recommender:
        """Load and verify a saved model. Call on :class:`Recommender` to load any ranker."""
        manifest, arrays = read_artifact(directory)
        target = _resolve_class(manifest.get("class", ""), directory)
        if not issubclass(target, cls):
            raise ArtifactError(f"{directory} holds a {target.__name__}, not a {cls.__name__}")
        try:
            model = target(target.Config(**manifest["config"]))
        except (TypeError, KeyError) as exc:
            raise ArtifactError(f"{directory}: its config does not fit {target.__name__} ({exc}); retrain it") from None
        try:
            model.members_ = IdIndex.from_arrays(arrays, "_members", "member")
            model.titles_ = IdIndex.from_arrays(arrays, "_titles", "title")
        except DataError as exc:
            raise ArtifactError(f"{directory}: {exc}") from None
        indptr, indices = arrays.pop("_seen_indptr"), arrays.pop("_seen_indices")
        model.seen_ = sp.csr_matrix(
            (np.ones(indices.size, np.float32), indices, indptr), shape=(len(model.members_), len(model.titles_))
        )
        try:
            model._restore(arrays)
        except (KeyError, ValueError, RuntimeError) as exc:
            raise ArtifactError(f"{directory}: arrays do not fit {target.__name__} ({exc}); retrain it") from None
        return model


def _resolve_class(path: str, directory: Any) -> type[Recommender]:
    module_name, _, qualname = path.partition(":")
    # Only Marquee's own rankers are loaded by name: a manifest must not import arbitrary code.
    if not module_name.startswith("marquee.") or not qualname:
        raise ArtifactError(f"{directory}: class {path!r} is not a Marquee ranker")
    try:
        obj = getattr(importlib.import_module(module_name), qualname)
    except (ImportError, AttributeError):
        raise ArtifactError(f"{directory}: class {path!r} does not exist in this version of Marquee") from None
    if not (isinstance(obj, type) and issubclass(obj, Recommender)):
        raise ArtifactError(f"{directory}: {path!r} is not a ranker")
    return obj
