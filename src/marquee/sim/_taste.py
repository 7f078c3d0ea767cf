"""Fitting the world's choice model to a real log, and sampling titles from it quickly."""

from __future__ import annotations

import numpy as np
import scipy.optimize
import scipy.sparse as sp

__all__ = ["fit_choice_model", "sample_without_replacement"]


def fit_choice_model(seen: sp.csr_matrix, affinity: np.ndarray, l2: float = 1e-3) -> tuple[float, np.ndarray]:
    """Maximum-likelihood scale and title biases of a multinomial choice model.

    Each of member ``u``'s ``n_u`` titles is taken to be a draw from
    ``p_u(i) = softmax_i(b_i + β · s_ui)``; the log-likelihood
    ``Σ_(u,i) seen (b_i + β s_ui) - Σ_u n_u log Σ_j exp(b_j + β s_uj)`` is concave in ``(β, b)``
    and maximised by L-BFGS (with a small ridge ``l2 · ||b||²`` that fixes the softmax's shift).
    At the optimum the model's expected title counts equal the real ones (the bias gradient is
    ``count_i - Σ_u n_u p_u(i)``): the popularity curve is matched by construction.

    Args:
        seen: (n_members, n_titles) CSR of what members watched.
        affinity: (n_members, n_titles) standardised taste scores ``s``.
    Returns:
        ``(β, b)``: the scale and (n_titles,) float64 biases.
    """
    n_u = np.asarray(seen.sum(axis=1)).ravel()
    counts = np.asarray(seen.sum(axis=0)).ravel()
    s = np.asarray(affinity, np.float32)
    s_seen = float(seen.multiply(s).sum())

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        beta, b = theta[0], theta[1:]
        z = b.astype(np.float32)[None, :] + np.float32(beta) * s
        top = z.max(axis=1, keepdims=True)
        e = np.exp(z - top)
        total = e.sum(axis=1, dtype=np.float64)
        lse = top[:, 0] + np.log(total)
        weight = (n_u / total).astype(np.float32)  # n_u · p_u(j) = weight_u · e_uj
        ll = float(counts @ b) + beta * s_seen - float(n_u @ lse)
        grad_b = counts - (weight @ e).astype(np.float64) - 2 * l2 * b
        grad_beta = s_seen - float(weight @ (e * s).sum(axis=1, dtype=np.float64))
        return -(ll - l2 * float(b @ b)), -np.concatenate([[grad_beta], grad_b])

    # Optimise in variables scaled by the square root of the Hessian's diagonal (about the counts
    # for the biases, and the number of events for the scale): L-BFGS then needs few steps.
    scale = np.sqrt(np.concatenate([[n_u.sum()], counts + 1.0]))

    def scaled(x: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = loss(x / scale)
        return f, g / scale

    start = np.concatenate([[1.0], np.log(counts + 0.5) - np.log(counts + 0.5).mean()])
    res = scipy.optimize.minimize(scaled, start * scale, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    theta = res.x / scale
    return float(theta[0]), theta[1:]


def sample_without_replacement(
    logits: np.ndarray, cells: np.ndarray, steps: np.ndarray, rng: np.random.Generator, rounds: int = 8
) -> np.ndarray:
    """Sequential draws from per-cell softmaxes, never repeating a title for a member.

    Member ``m`` makes its draws in order; draw ``t`` comes from ``softmax(logits[m, cells[m, t]])``
    restricted to the titles it has not drawn yet. Each draw is an inverse-CDF lookup in one
    flattened array of all ``(member, cell)`` CDFs (row ``r``'s CDF offset by ``r``); a draw that
    hits a watched title is redrawn (exact: rejection sampling of the restricted softmax), and
    after ``rounds`` misses the restricted distribution is sampled directly.

    Args:
        logits: (n, n_cells, n_titles) float64 logits.
        cells: (n, max_steps) int cell of each draw (ignored past ``steps[m]``).
        steps: (n,) int draws per member, each at most ``n_titles``.
    Returns:
        (n, max_steps) int64 titles, -1 past each member's draws.
    """
    n, n_cells, n_titles = logits.shape
    z = logits - logits.max(axis=2, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=2, keepdims=True)
    cdf = np.cumsum(p, axis=2)
    cdf[:, :, -1] = 1.0
    flat = (cdf + np.arange(n * n_cells, dtype=np.float64).reshape(n, n_cells, 1)).ravel()
    watched = np.zeros((n, n_titles), bool)
    out = np.full(cells.shape, -1, np.int64)
    for t in range(int(steps.max(initial=0))):
        members = np.flatnonzero(steps > t)
        rows = members * n_cells + cells[members, t]
        titles = np.empty(members.size, np.int64)
        todo = np.arange(members.size)
        for _ in range(rounds):
            r = rows[todo]
            draw = np.searchsorted(flat, r + rng.random(todo.size), side="right") - r * n_titles
            draw = np.minimum(draw, n_titles - 1)
            titles[todo] = draw
            todo = todo[watched[members[todo], draw]]
            if todo.size == 0:
                break
        for j in todo.tolist():  # members who have watched most of their likely titles
            m = members[j]
            q = np.where(watched[m], 0.0, np.maximum(p[m, cells[m, t]], 1e-300))
            titles[j] = rng.choice(n_titles, p=q / q.sum())
        watched[members, titles] = True
        out[members, t] = titles
    return out
