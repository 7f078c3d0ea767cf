"""Ranking metrics: known answers and a cross-check against a naive implementation."""

import math

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from marquee.metrics import coverage, hit_matrix, hit_rate, mrr, ndcg, recall


def _rel(rows, n_titles):
    indptr = np.cumsum([0] + [len(r) for r in rows])
    idx = np.concatenate([sorted(r) for r in rows]).astype(np.int64) if rows else np.array([], np.int64)
    return sp.csr_matrix((np.ones(idx.size, bool), idx, indptr), shape=(len(rows), n_titles))


def test_perfect_ranking_scores_one():
    topk = np.array([[3, 1, 2], [0, 2, 1]])
    rel = _rel([[3], [0, 2]], 4)
    hits = hit_matrix(topk, rel)
    n_rel = np.array([1, 2])
    np.testing.assert_allclose(ndcg(hits, n_rel, 3), [1.0, 1.0])
    np.testing.assert_allclose(hit_rate(hits, 3), [1.0, 1.0])
    np.testing.assert_allclose(mrr(hits, 3), [1.0, 1.0])


def test_hand_computed_values():
    # Target at rank 3 (0-based 2): NDCG = 1/log2(4) = 0.5, MRR = 1/3.
    topk = np.array([[5, 6, 7, 8], [1, 2, 3, 4]])
    rel = _rel([[7], [9]], 10)
    hits = hit_matrix(topk, rel)
    n_rel = np.array([1, 1])
    np.testing.assert_allclose(ndcg(hits, n_rel, 4), [0.5, 0.0])
    np.testing.assert_allclose(mrr(hits, 4), [1 / 3, 0.0])
    np.testing.assert_allclose(hit_rate(hits, 2), [0.0, 0.0])
    np.testing.assert_allclose(hit_rate(hits, 3), [1.0, 0.0])
    # Two relevant titles at ranks 1 and 3 of k=3: DCG = 1 + 1/2, IDCG = 1 + 1/log2(3).
    hits2 = hit_matrix(np.array([[1, 0, 2]]), _rel([[1, 2]], 3))
    np.testing.assert_allclose(ndcg(hits2, np.array([2]), 3), [(1 + 0.5) / (1 + 1 / math.log2(3))])
    np.testing.assert_allclose(recall(hits2, np.array([2]), 2), [0.5])


def test_coverage_counts_distinct_titles():
    topk = np.array([[0, 1], [1, 2], [1, 0]])
    assert coverage(topk, 10, 2) == 0.3
    assert coverage(topk, 10, 1) == 0.2


def _naive(topk_row, relevant, k):
    dcg = sum(1 / math.log2(r + 2) for r, t in enumerate(topk_row[:k]) if t in relevant)
    idcg = sum(1 / math.log2(r + 2) for r in range(min(len(relevant), k)))
    first = next((r for r, t in enumerate(topk_row[:k]) if t in relevant), None)
    return (dcg / idcg if idcg else 0.0), float(first is not None), (1 / (first + 1) if first is not None else 0.0)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_vectorised_metrics_equal_naive_loop(n_members, k, seed):
    rng = np.random.default_rng(seed)
    n_titles = 15
    topk = np.array([rng.permutation(n_titles)[:k] for _ in range(n_members)])
    rows = [rng.choice(n_titles, size=rng.integers(1, 4), replace=False).tolist() for _ in range(n_members)]
    hits = hit_matrix(topk, _rel(rows, n_titles))
    n_rel = np.array([len(r) for r in rows])
    got = np.stack([ndcg(hits, n_rel, k), hit_rate(hits, k), mrr(hits, k)], axis=1)
    want = np.array([_naive(topk[u].tolist(), set(rows[u]), k) for u in range(n_members)])
    np.testing.assert_allclose(got, want, atol=1e-12)
