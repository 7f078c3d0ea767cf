"""How a member responds to a whole page: the model a learned page policy maximises.

A member looks down the page and along each row; the tile at row ``r``, column ``c`` is examined
with weight ``θ_rc = (r + 1)^-η_row (c + 1)^-η_col`` (position bias in two directions, as eye-tracking
of grid pages finds: Zhao et al., "Gaze prediction in grid-based interfaces", 2016; the two-sided
power law of Xie et al., "Grid-based evaluation metrics for web image search", WWW 2019). A session
has an intent, a genre ``g`` drawn from the member's shares ``π_u`` (estimated from what they watched);
a title outside the intent is damped by ``e^-λ``. The member plays at most one title, with the
multinomial-logit probability over the page and an outside option (Train, *Discrete Choice
Methods*, ch. 3, a latent-class logit with the classes known up to their shares)::

    w_i|g = exp(α z_ui + β + κ [i unfinished] - λ [i ∉ g])
    P(play tile rc | g) = θ_rc w / (1 + Σ_shown θ w),   E[plays] = Σ_g π_ug Σ θ w / (1 + Σ θ w)

``z_ui`` is the ranker's score standardised over the member's titles, so the model works on any
ranker's scale. Under one intent the best page is the best titles at the top; a mixture of intents
rewards a page whose rows cover the member's several tastes: that is where diversity comes from.

:meth:`PageModel.fit` learns ``(α, β, κ, λ, η_row, η_col)`` by maximum likelihood on logged page
impressions (:class:`Impressions`; identified when the logging policy randomises row order).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Self

import numpy as np

from marquee.errors import ConfigError, DataError, NotFittedError

__all__ = ["Impressions", "PageModel", "PageParams", "intent_shares", "standardise"]


@dataclass(frozen=True)
class PageParams:
    """The response model's parameters (see the module's formula); the defaults are the prior a
    policy uses before :meth:`PageModel.fit` has seen impressions."""

    alpha: float = 1.0
    beta: float = -4.0
    resume: float = 1.0
    intent: float = 1.0
    eta_row: float = 1.0
    eta_col: float = 0.5

    def examination(self, rows: int, columns: int) -> np.ndarray:
        """(rows, columns) float64 ``θ_rc``."""
        r = (np.arange(rows) + 1.0) ** -self.eta_row
        c = (np.arange(columns) + 1.0) ** -self.eta_col
        return np.outer(r, c)


def standardise(scores: np.ndarray) -> np.ndarray:
    """Scores standardised per member (last axis): ``(s - mean) / sd``; non-finite scores count as the mean."""
    s = np.asarray(scores, np.float64)
    finite = np.isfinite(s)
    s = np.where(finite, s, np.nan)
    mean = np.nanmean(s, axis=-1, keepdims=True)
    sd = np.nanstd(s, axis=-1, keepdims=True)
    sd = np.where(sd > 0, sd, 1.0)
    return np.where(finite, (s - mean) / sd, 0.0)


def intent_shares(titles: np.ndarray, genre_matrix: np.ndarray, prior: np.ndarray, strength: float = 5.0) -> np.ndarray:
    """A member's intent shares: their watched titles' genres (a title with several splits its one
    count among them), shrunk towards ``prior`` with weight ``strength`` titles (a Dirichlet mean).

    Args:
        titles: (n,) title positions watched.
        genre_matrix: (n_genres, n_titles) bool.
        prior: (n_genres,) population shares, summing to 1.
    Returns:
        (n_genres,) float64 summing to 1.
    """
    g = genre_matrix[:, np.asarray(titles, np.int64)].astype(np.float64)
    per = g.sum(axis=0)
    counts = (g / np.where(per > 0, per, 1.0)).sum(axis=1)
    out = counts + strength * prior
    return out / out.sum()


def _one_intent_without_genres(genre_matrix: np.ndarray, intents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A catalog without genres has one intent that every title serves."""
    if genre_matrix.shape[0]:
        return genre_matrix, intents
    return np.ones((1, genre_matrix.shape[1]), bool), np.ones((intents.shape[0], 1))


@dataclass(frozen=True, eq=False)
class Impressions:
    """Logged page impressions: what each session was shown and what it played.

    Attributes:
        z: (n, R, K) float64 standardised scores of the shown titles (0 where no tile).
        titles: (n, R, K) int64 title positions shown, -1 where no tile.
        unfinished: (n, R, K) bool, the title was an unfinished play of the member's.
        intents: (n, G) float64 the member's estimated intent shares.
        played: (n,) int64 flat tile index ``r * K + c`` played, -1 for none.
        propensity: (n,) float64 the logging policy's probability of the page's arrangement.
        row_keys: (n, R) str, each shown row's key ("" where no row), for replay
            (:func:`~marquee.page.slot_replay`); ``None`` when not logged.
    """

    z: np.ndarray
    titles: np.ndarray
    unfinished: np.ndarray
    intents: np.ndarray
    played: np.ndarray
    propensity: np.ndarray
    row_keys: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, r, k = self.titles.shape
        if self.z.shape != (n, r, k) or self.unfinished.shape != (n, r, k) or self.played.shape != (n,) or self.intents.shape[0] != n:
            raise DataError("Impressions: z, titles and unfinished must be (n, R, K), intents (n, G), played (n,)")
        if self.row_keys is not None and self.row_keys.shape != (n, r):
            raise DataError(f"Impressions: row_keys must be (n, R) = {(n, r)}, got {self.row_keys.shape}")
        bad = (self.played >= r * k) | (self.played < -1)
        if bad.any():
            raise DataError(f"Impressions: played must be -1 or a tile index below {r * k}", row=int(np.argmax(bad)) + 1, column="played")
        shown = np.take_along_axis(self.titles.reshape(n, -1), np.maximum(self.played, 0)[:, None], axis=1)[:, 0]
        empty = (self.played >= 0) & (shown < 0)
        if empty.any():
            raise DataError("Impressions: a play on a tile that shows no title", row=int(np.argmax(empty)) + 1, column="played")

    def __len__(self) -> int:
        return int(self.played.size)


class PageModel:
    """The page response model, fitted by maximum likelihood on :class:`Impressions`.

    Args:
        params: the starting point (and the model used before fit).
        max_iter: L-BFGS iterations.
    """

    def __init__(self, params: PageParams | None = None, *, max_iter: int = 200) -> None:
        self.params = params if params is not None else PageParams()
        self.max_iter = max_iter

    def __repr__(self) -> str:
        p = self.params_ if self.is_fitted else self.params
        return f"PageModel({', '.join(f'{k}={v:.3g}' for k, v in asdict(p).items())}{'' if self.is_fitted else ', unfitted'})"

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "params_")

    @property
    def current(self) -> PageParams:
        """The fitted parameters, or the prior before fit."""
        return self.params_ if self.is_fitted else self.params

    def fit(self, impressions: Impressions, genre_matrix: np.ndarray) -> Self:
        """Maximise the latent-intent logit likelihood of the logged plays (torch L-BFGS, float64).

        Args:
            genre_matrix: (n_genres, n_titles) bool, as the intents' genres.
        """
        import torch

        if len(impressions) == 0:
            raise DataError("PageModel.fit needs at least one impression")
        genre_matrix, intents = _one_intent_without_genres(genre_matrix, impressions.intents)
        n, rows, cols = impressions.titles.shape
        t = impressions.titles.reshape(n, -1)
        shown = torch.as_tensor(t >= 0)
        # (n, G, R*K): the tile's title is outside genre g.
        outside = torch.as_tensor(~genre_matrix[:, np.maximum(t, 0)].transpose(1, 0, 2), dtype=torch.float64)
        z = torch.as_tensor(impressions.z.reshape(n, -1), dtype=torch.float64)
        unf = torch.as_tensor(impressions.unfinished.reshape(n, -1), dtype=torch.float64)
        log_r = torch.as_tensor(np.repeat(np.log1p(np.arange(rows)), cols), dtype=torch.float64)
        log_c = torch.as_tensor(np.tile(np.log1p(np.arange(cols)), rows), dtype=torch.float64)
        log_pi = torch.log(torch.as_tensor(intents, dtype=torch.float64).clamp_min(1e-300))
        played = torch.as_tensor(impressions.played)
        hit = played >= 0
        pick = played.clamp_min(0)
        p0 = self.params
        theta = torch.tensor([p0.alpha, p0.beta, p0.resume, p0.intent, p0.eta_row, p0.eta_col], dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([theta], max_iter=self.max_iter, line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)

        def nll() -> torch.Tensor:
            opt.zero_grad()
            a, b, kappa, lam, er, ec = theta
            base = a * z + b + kappa * unf - er * log_r - ec * log_c  # (n, RK)
            logu = base[:, None, :] - lam * outside  # (n, G, RK)
            logu = logu.masked_fill(~shown[:, None, :], -math.inf)
            log_s = torch.logsumexp(logu, dim=2)  # (n, G)
            log_norm = torch.nn.functional.softplus(log_s)
            chosen = torch.gather(logu, 2, pick[:, None, None].expand(n, logu.shape[1], 1))[:, :, 0]
            log_p = torch.where(hit[:, None], chosen, torch.zeros_like(chosen)) - log_norm
            loss = -torch.logsumexp(log_pi + log_p, dim=1).mean()
            loss.backward()
            return loss

        opt.step(nll)
        values = theta.detach().numpy().tolist()
        if not all(math.isfinite(v) for v in values):
            raise DataError("PageModel.fit diverged (non-finite parameters); log more impressions with randomised row order")
        self.params_ = PageParams(*values)
        self.n_impressions_ = n
        return self

    def expected_plays(self, z: np.ndarray, titles: np.ndarray, unfinished: np.ndarray, intents: np.ndarray, genre_matrix: np.ndarray) -> np.ndarray:
        """Expected plays of pages under the model.

        Args:
            z, titles, unfinished: (n, R, K) as in :class:`Impressions`.
            intents: (n, G).
        Returns:
            (n,) float64.
        """
        p = self.current
        genre_matrix, intents = _one_intent_without_genres(genre_matrix, intents)
        n, rows, cols = titles.shape
        t = titles.reshape(n, -1)
        theta = p.examination(rows, cols).ravel()
        w = theta * np.exp(p.alpha * z.reshape(n, -1) + p.beta + p.resume * unfinished.reshape(n, -1))
        w = np.where(t >= 0, w, 0.0)
        damp = np.where(genre_matrix[:, np.maximum(t, 0)].transpose(1, 0, 2), 1.0, math.exp(-p.intent))  # (n, G, RK)
        s = (damp * w[:, None, :]).sum(axis=2)
        return (intents * s / (1.0 + s)).sum(axis=1)

    # ---- artifact: a JSON file (six numbers need no array store) --------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted parameters as JSON (atomically)."""
        if not self.is_fitted:
            raise NotFittedError("PageModel is not fitted; call fit(impressions, genre_matrix) first")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps({"kind": "marquee.page.PageModel", "params": asdict(self.params_), "n_impressions": self.n_impressions_}, indent=2))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> PageModel:
        """Read :meth:`save`'s file; a file that is not one is refused, naming what is wrong."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
            params = PageParams(**{k: float(v) for k, v in doc["params"].items()})
        except FileNotFoundError:
            raise DataError("no page model here; fit one with `marquee page fit`", source=str(path)) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"not a page model file ({exc})", source=str(path)) from None
        if doc.get("kind") != "marquee.page.PageModel":
            raise DataError(f"not a page model file (kind {doc.get('kind')!r})", source=str(path))
        if not all(math.isfinite(v) for v in asdict(params).values()):
            raise ConfigError(f"{path}: page model parameters must be finite")
        model = cls(params)
        model.params_ = params
        model.n_impressions_ = int(doc.get("n_impressions", 0))
        return model
