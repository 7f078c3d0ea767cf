"""Distillation: a light factor model trained to reproduce a heavy teacher's rankings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np

from marquee.data.interactions import Interactions
from marquee.errors import ConfigError
from marquee._validate import ints, non_negative, positive
from marquee.rank.base import Recommender

__all__ = ["Distilled", "DistilledConfig"]


@dataclass(frozen=True)
class DistilledConfig:
    """Args:
    factors: latent dimensions of members and titles.
    temperature: softmax temperature ``τ`` of the distillation term, applied to the teacher's
        scores standardised per member (so it means the same for any teacher's scale).
    observed_weight: weight ``λ`` of the observed-data term.
    steps: full-batch Adam steps.
    learning_rate: Adam step size.
    l2: L2 penalty on the factors.
    seed: initialisation seed.
    """

    factors: int = 64
    temperature: float = 0.5
    observed_weight: float = 0.1
    steps: int = 400
    learning_rate: float = 0.02
    l2: float = 1e-6
    seed: int = 0

    def __post_init__(self) -> None:
        ints(self, "factors", "steps")
        ints(self, "seed", minimum=None)
        positive(self, "temperature", "learning_rate")
        non_negative(self, "observed_weight", "l2")


class Distilled(Recommender):
    """A factor model ``s(u, i) = U_u · V_i + b_i`` distilled from a teacher (Hinton et al., 2015).

    Loss per member, over the titles the teacher may recommend (unseen ones):
    ``τ² · KL(softmax(t_u / τ) ‖ softmax(s_u / τ))`` plus ``λ`` times the multinomial
    log-likelihood of the member's observed titles under ``softmax(s_u)`` (Liang et al., 2018).
    Serving costs one ``(1, d) × (d, n_titles)`` product per member.

    Fit with ``Distilled(...).fit(data, teacher=fitted_model)``; ``data`` should be the
    teacher's fit data, so that "seen" means the same for both.
    """

    Config = DistilledConfig
    name = "distilled"

    def fit(self, data: Interactions, teacher: Recommender | None = None) -> Self:  # type: ignore[override]
        if teacher is None or not teacher.is_fitted:
            raise ConfigError("Distilled learns from a teacher: call fit(data, teacher=<a fitted ranker>)")
        if teacher.titles_ != data.titles:
            raise ConfigError("the teacher's title index differs from the data's; distil on the teacher's own data")
        self._teacher = teacher
        try:
            return super().fit(data)
        finally:
            del self._teacher

    def _fit(self, data: Interactions) -> None:
        import torch

        c = self.config
        teacher = self._teacher
        known = teacher.members_.contains(data.members.ids)
        members = np.flatnonzero(known)
        t_scores = np.full((data.n_members, data.n_titles), 0.0, np.float32)
        for start in range(0, members.size, 512):
            rows = members[start : start + 512]
            t_scores[rows] = teacher.score_index(teacher.members_.positions(data.members.ids[rows]))
        seen = self.seen_.toarray().astype(bool)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            seen_t = torch.from_numpy(seen)
            # Teachers score on any scale (EASE ~0.1, SASRec logits ~5): standardise each member's
            # unseen scores so that the temperature means the same for every teacher.
            t = torch.from_numpy(t_scores)
            free = (~seen_t).float()
            n_free = free.sum(1, keepdim=True).clamp(min=1)
            mean = (t * free).sum(1, keepdim=True) / n_free
            std = (((t - mean) * free).square().sum(1, keepdim=True) / n_free).sqrt().clamp(min=1e-6)
            t = (t - mean) / std
            has_teacher = torch.from_numpy(known)
            target = torch.softmax((t / c.temperature).masked_fill(seen_t, float("-inf")), dim=1)
            target = torch.nan_to_num(target)  # members who have seen everything
            observed = seen_t.float() / seen_t.sum(1, keepdim=True).clamp(min=1)
            u = torch.nn.Parameter(torch.randn(data.n_members, c.factors) * 0.01)
            v = torch.nn.Parameter(torch.randn(data.n_titles, c.factors) * 0.01)
            b = torch.nn.Parameter(torch.zeros(data.n_titles))
            opt = torch.optim.Adam([u, v, b], lr=c.learning_rate)
            for _ in range(c.steps):
                s = u @ v.T + b
                log_p = torch.log_softmax((s / c.temperature).masked_fill(seen_t, float("-inf")), dim=1)
                kd = -(target * torch.nan_to_num(log_p, neginf=0.0)).sum(1)[has_teacher].mean() * c.temperature**2
                obs = -(observed * torch.log_softmax(s, dim=1)).sum(1).mean()
                loss = kd + c.observed_weight * obs + c.l2 * (u.square().sum() + v.square().sum())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        self.member_factors_ = u.detach().numpy().astype(np.float32)
        self.title_factors_ = v.detach().numpy().astype(np.float32)
        self.title_bias_ = b.detach().numpy().astype(np.float32)

    def score_index(self, member_idx: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.member_factors_[member_idx] @ self.title_factors_.T + self.title_bias_

    def score_one(self, member_idx: int) -> np.ndarray:
        # A matrix-vector product over the row-major title factors: half the cost of a (1, d) batch.
        out = self.title_factors_ @ self.member_factors_[member_idx]
        out += self.title_bias_
        return out

    def _state(self) -> dict[str, np.ndarray]:
        return {"member_factors": self.member_factors_, "title_factors": self.title_factors_, "title_bias": self.title_bias_}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.member_factors_ = state["member_factors"]
        self.title_factors_ = state["title_factors"]
        self.title_bias_ = state["title_bias"]
