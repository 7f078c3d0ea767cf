"""Per-member ranking metrics over top-k lists, vectorised over members.

All functions take ``hits``: (n_members, k) bool, ``hits[u, r]`` true when the title at rank
``r`` (0-based) of member ``u``'s list is relevant, and return (n_members,) float64 so that
intervals and paired tests can resample members.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["coverage", "hit_matrix", "hit_rate", "mrr", "ndcg", "recall"]


def hit_matrix(topk: np.ndarray, relevance: sp.csr_matrix) -> np.ndarray:
    """(n, k) bool: which recommended titles are relevant.

    Args:
        topk: (n, k) int title positions, best first.
        relevance: (n, n_titles) CSR whose non-zeros mark relevant titles (row j ↔ topk row j).
    """
    n, k = topk.shape
    if relevance.shape[0] != n:
        raise ValueError(f"topk has {n} rows but relevance has {relevance.shape[0]}")
    rel = relevance.tocsr()
    rel.sort_indices()
    n_titles = rel.shape[1]
    rel_rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(rel.indptr))
    rel_keys = rel_rows * n_titles + rel.indices  # sorted: CSR is row-major with sorted columns
    keys = np.arange(n, dtype=np.int64)[:, None] * n_titles + topk
    pos = np.searchsorted(rel_keys, keys).clip(max=max(rel_keys.size - 1, 0))
    return (rel_keys.size > 0) & (rel_keys[pos] == keys) if rel_keys.size else np.zeros((n, k), bool)


def ndcg(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Binary NDCG@k: ``DCG = sum_r hit_r / log2(r + 2)``, normalised by the DCG of
    ``min(n_relevant, k)`` hits at the top (Järvelin & Kekäläinen, TOIS 2002)."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits[:, :k] @ discounts
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_relevant, k)]
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


def hit_rate(hits: np.ndarray, k: int) -> np.ndarray:
    """HR@k: 1 if any relevant title is in the top k."""
    return hits[:, :k].any(axis=1).astype(np.float64)


def recall(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Recall@k: relevant titles in the top k over all relevant titles."""
    found = hits[:, :k].sum(axis=1).astype(np.float64)
    return np.divide(found, n_relevant, out=np.zeros_like(found), where=n_relevant > 0)


def mrr(hits: np.ndarray, k: int) -> np.ndarray:
    """MRR@k: 1 / rank of the first relevant title in the top k (0 if none)."""
    h = hits[:, :k]
    first = np.argmax(h, axis=1)
    return np.where(h.any(axis=1), 1.0 / (first + 1), 0.0)


def coverage(topk: np.ndarray, n_titles: int, k: int) -> float:
    """Catalog coverage@k: share of all titles that appear in anybody's top k."""
    return float(np.unique(topk[:, :k]).size / n_titles)
