"""A simulated streaming world, calibrated on a real log, whose ground truth is known.

**Tastes.** ALS factors of the real log give a taste score ``s_ui = U_u · V_i`` (standardised);
a multinomial choice model ``p_u(i) ∝ exp(b_i + β s_ui)`` is fitted to the real log by maximum
likelihood, so the titles' popularity and their co-watch structure come from the data. The
world's members are noisy copies of real members ("personas"): factors ``U_p + ε``, and the
persona's activity (titles watched over the period), so the activity distribution is the real one.

**Context.** Every session has a device (each member has their own device shares, drawn around
the population's) and a local hour (from the device's hour profile, shifted by the member's own
habit). In context cell ``c`` (device × daypart) the logit of title ``i`` moves by
``shift[c, i]`` (see :mod:`marquee.sim.context`): kids' and short titles gain on tablets, phones
and in the morning, long films on the TV in the evening. The taste logit is
``a(u, i, c) = b_i + β s_ui + shift[c, i]``.

**Organic log** (:meth:`World.log`): each member watches ``activity`` distinct titles over the
period, each drawn from ``softmax_i a(u, i, c)`` over the titles not watched yet.

**A ranked row** (:meth:`World.play_probabilities`): a member sees ``k`` titles; title at rank
``r`` (0-based) is examined with weight ``θ_r = (r + 1)^-η`` (position bias) and played with
probability ``θ_r w_r / (1 + Σ_r' θ_r' w_r')``, ``w_r = exp(a(u, i_r, c)) / ν_u`` with the outside
option ``ν_u = outside · mean_j exp(b_j + β s_uj)`` (nothing played otherwise; titles already
watched are not played again). A played title is watched to a completion fraction
``~ Beta(m φ, (1 - m) φ)``, ``m = sigmoid(c0 + c1 · z_ui + shift[c, i] / 2)`` with ``z_ui`` the
member's standardised taste for it: members finish what they like, and what suits the context.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from marquee._validate import ints, non_negative, positive
from marquee.data.catalog import Catalog
from marquee.data.ids import IdIndex
from marquee.data.interactions import Interactions
from marquee.errors import ConfigError, DataError, NotFittedError
from marquee.random import SeedLike, as_generator
from marquee.sim._taste import fit_choice_model, sample_without_replacement
from marquee.sim.context import (
    DAYPARTS,
    DEVICE_SHARES,
    DEVICES,
    HOUR_PROFILES,
    context_shift,
    daypart_of,
    title_attributes,
)

__all__ = ["Engagement", "Responses", "Sessions", "World", "WorldConfig"]

EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z
_N_CELLS = len(DEVICES) * len(DAYPARTS)
_FIT_BLOCK = 16_384  # members per block of the per-member constants at fit
_CHUNK = 256  # members per block of the organic sampler (memory: chunk x 16 x n_titles doubles)


@dataclass(frozen=True)
class WorldConfig:
    """Args:
    n_members: members in the world (noisy copies of the real members, drawn with replacement).
    factors: ALS latent dimensions of the taste model.
    member_noise: noise on a member's factors, in units of the real factors' standard deviation.
    context_strength: multiplier of the context shifts (0 = context does not change taste).
    device_concentration: Dirichlet concentration of members' device shares around the population's
        (smaller = members differ more).
    hour_spread: standard deviation, in hours, of a member's shift of the hour profile.
    position_bias: ``η`` in the examination weight ``(rank + 1)^-η``.
    outside: weight of the outside option (not playing) relative to an average title.
    completion_base: ``c0``; completion_slope: ``c1``; completion_dispersion: ``φ``.
    days: length of the simulated period.
    calibration_rounds: passes that re-simulate the real members and correct the title biases
        towards the real popularity (the fit ignores context and watching without repeats).
    seed: seeds the fit (ALS) and the members; logs and responses take their own seed.
    """

    n_members: int = 2000
    factors: int = 32
    member_noise: float = 0.25
    context_strength: float = 1.0
    device_concentration: float = 4.0
    hour_spread: float = 1.5
    position_bias: float = 1.0
    outside: float = 20.0
    completion_base: float = 0.0
    completion_slope: float = 0.8
    completion_dispersion: float = 6.0
    days: int = 180
    calibration_rounds: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        ints(self, "n_members", "factors", "days")
        ints(self, "calibration_rounds", minimum=0)
        non_negative(self, "member_noise", "context_strength", "hour_spread", "position_bias", "completion_slope")
        positive(self, "device_concentration", "outside", "completion_dispersion")
        ints(self, "seed", minimum=None)


@dataclass(frozen=True, eq=False)
class Sessions:
    """Sessions: who, on which device, at what local hour and when.

    Attributes:
        member_idx: (n,) int64 member positions in the world.
        device: (n,) int8 codes into :data:`~marquee.sim.context.DEVICES`.
        hour: (n,) int8 local hours 0-23.
        timestamp: (n,) int64 unix seconds.
    """

    member_idx: np.ndarray
    device: np.ndarray
    hour: np.ndarray
    timestamp: np.ndarray

    def __len__(self) -> int:
        return int(self.member_idx.size)

    @property
    def cell(self) -> np.ndarray:
        """(n,) int64 context cells ``device · 4 + daypart``."""
        return self.device.astype(np.int64) * len(DAYPARTS) + daypart_of(self.hour)


@dataclass(frozen=True)
class Engagement:
    """Per-session engagement: plays (0/1, or the probability of a play) and hours watched."""

    plays: np.ndarray
    hours: np.ndarray


@dataclass(frozen=True)
class Responses:
    """What members did with their rows: the rank played (-1 none), its title (-1), completion (NaN)."""

    position: np.ndarray
    title_idx: np.ndarray
    completion: np.ndarray
    hours: np.ndarray

    @property
    def played(self) -> np.ndarray:
        return self.position >= 0

    def engagement(self) -> Engagement:
        return Engagement(self.played.astype(np.float64), self.hours)


class World:
    """A seeded streaming world calibrated on a real log (see the module docstring).

    ``World(n_members=5000).fit(dataset.interactions)`` learns tastes from the log (which must
    carry its catalog: runtimes and kids' appeal come from the genres) and draws the members.
    """

    def __init__(self, config: WorldConfig | None = None, /, **params: object) -> None:
        from marquee._validate import build_config

        self.config: WorldConfig = build_config("World", WorldConfig, config, params)

    def __repr__(self) -> str:
        return f"World({self.config!r})"

    # ---- fitting -------------------------------------------------------------------------
    def fit(self, data: Interactions) -> World:
        """Learn tastes, popularity and activity from ``data``; draw the world's members. Returns self."""
        from marquee.rank.mf import ALS

        if data.catalog is None:
            raise DataError(
                "the world derives runtimes and kids' appeal from genres; pass a log with its catalog (Dataset.interactions has one)"
            )
        c = self.config
        rng = as_generator(c.seed)
        catalog = data.catalog
        real = data.with_indices(
            IdIndex.from_values(data.table.column("member_id").to_numpy(), "member"), catalog.index
        )
        seen = real.matrix()
        seen.data[:] = 1.0
        n_titles = seen.shape[1]
        als = ALS(factors=c.factors, seed=c.seed, iterations=15).fit(real)
        u, v = als.member_factors_.astype(np.float64), als.title_factors_.astype(np.float64)
        raw = u @ v.T
        mu, sd = float(raw.mean()), float(raw.std())
        beta, bias = fit_choice_model(seen, (raw - mu) / sd)
        self.catalog_: Catalog = catalog
        self.titles_: IdIndex = catalog.index
        self.runtime_, self.kids_ = title_attributes(
            catalog.table.column("title_id").to_numpy(), catalog.table.column("genres").to_pylist()
        )
        self.shift_ = context_shift(self.runtime_, self.kids_, c.context_strength)
        self.title_factors_ = v * (beta / sd)
        self.taste_scale_ = beta
        self.real_counts_ = np.asarray(seen.sum(axis=0)).ravel().astype(np.int64)
        activity = np.asarray(seen.sum(axis=1)).ravel().astype(np.int64)
        self.real_activity_ = activity[activity > 0]
        real_u = u[activity > 0]
        self.real_factors_ = real_u
        self.title_bias_ = bias
        for round_ in range(c.calibration_rounds):
            counts = self._replica_counts(as_generator(c.seed + 1 + round_))
            self.title_bias_ = self.title_bias_ + (np.log(self.real_counts_ + 0.5) - np.log(counts + 0.5))
        # The members: noisy copies of real members, with the copied member's activity.
        n_real = real_u.shape[0]
        persona = rng.integers(0, n_real, c.n_members)
        noise = rng.normal(size=(c.n_members, u.shape[1])) * real_u.std(axis=0) * c.member_noise
        self.members_ = IdIndex(np.arange(1, c.n_members + 1, dtype=np.int64), "member")
        self.persona_ = persona
        # The real member each world member copies: a ranker fitted on the real log serves them by this id.
        self.persona_ids_ = real.members.ids[activity > 0][persona]
        self.member_factors_ = real_u[persona] + noise
        self.activity_ = np.minimum(self.real_activity_[persona], int(0.8 * n_titles)).astype(np.int64)
        self.device_shares_ = rng.dirichlet(c.device_concentration * DEVICE_SHARES * len(DEVICES), size=c.n_members)
        self.hour_shift_ = np.rint(rng.normal(0.0, c.hour_spread, c.n_members)).astype(np.int64)
        # Per-member constants, a block of members at a time: a world of a million members must not hold a
        # (members x titles) matrix.
        self.outside_log_ = np.empty(c.n_members)
        self.taste_mean_ = np.empty(c.n_members)
        self.taste_sd_ = np.empty(c.n_members)
        for start in range(0, c.n_members, _FIT_BLOCK):
            block = np.arange(start, min(start + _FIT_BLOCK, c.n_members))
            base = self.affinity(block)
            top = base.max(axis=1, keepdims=True)
            self.outside_log_[block] = top[:, 0] + np.log(np.exp(base - top).mean(axis=1)) + np.log(c.outside)
            taste = self.member_factors_[block] @ self.title_factors_.T
            self.taste_mean_[block] = taste.mean(axis=1)
            self.taste_sd_[block] = taste.std(axis=1) + 1e-9
        return self

    def _replica_counts(self, rng: np.random.Generator) -> np.ndarray:
        """Title counts when the real members themselves (real activity) live in this world."""
        n = self.real_factors_.shape[0]
        steps = self.real_activity_
        shares = np.broadcast_to(DEVICE_SHARES, (n, len(DEVICES)))
        _, device, hour, _ = self._contexts(np.arange(n), steps, shares, np.zeros(n, np.int64), rng)
        row = np.repeat(np.arange(n), steps)
        col = np.arange(row.size) - np.repeat(np.cumsum(steps) - steps, steps)
        grid = np.zeros((n, int(steps.max())), np.int64)
        grid[row, col] = device * len(DAYPARTS) + daypart_of(hour)
        titles = self._sample_titles(self.real_factors_, grid, steps, rng)
        return np.bincount(titles[titles >= 0], minlength=len(self.titles_))

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "member_factors_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError("this World is not fitted yet; call fit(data) first with a real log and its catalog")

    @property
    def n_members(self) -> int:
        return len(self.members_)

    @property
    def n_titles(self) -> int:
        return len(self.titles_)

    # ---- ground truth --------------------------------------------------------------------
    def affinity(self, member_idx: np.ndarray) -> np.ndarray:
        """(n, n_titles) float64 context-free taste logits ``b_i + β s_ui``."""
        return self.title_bias_[None, :] + self.member_factors_[np.asarray(member_idx)] @ self.title_factors_.T

    def _logits_at(self, member_idx: np.ndarray, cell: np.ndarray, titles: np.ndarray) -> np.ndarray:
        """(n, k) logits ``a(u, i, c)`` of ``titles`` (n, k) for members in cells."""
        m = np.asarray(member_idx)
        taste = np.einsum("nd,nkd->nk", self.member_factors_[m], self.title_factors_[titles])
        return self.title_bias_[titles] + taste + self.shift_[cell[:, None], titles]

    def completion_mean(self, member_idx: np.ndarray, cell: np.ndarray, titles: np.ndarray) -> np.ndarray:
        """(n, k) expected completion fraction of ``titles`` (n, k) if played."""
        c = self.config
        m = np.asarray(member_idx)
        taste = np.einsum("nd,nkd->nk", self.member_factors_[m], self.title_factors_[titles])
        z = (taste - self.taste_mean_[m, None]) / self.taste_sd_[m, None]
        return 1.0 / (
            1.0 + np.exp(-(c.completion_base + c.completion_slope * z + 0.5 * self.shift_[cell[:, None], titles]))
        )

    def play_probabilities(self, sessions: Sessions, rows: np.ndarray, seen: sp.csr_matrix | None = None) -> np.ndarray:
        """True probability that each row's title at each rank is played.

        Args:
            rows: (n, k) int title positions, best first; -1 pads a shorter row.
            seen: (n_members, n_titles) titles already watched (never played again), if any.
        Returns:
            (n, k) float64; ``1 - sum`` over ranks is the probability of no play.
        """
        self._check_fitted()
        rows = np.asarray(rows, np.int64)
        if rows.ndim != 2 or rows.shape[0] != len(sessions):
            raise ConfigError(f"rows must have shape (n_sessions={len(sessions)}, k), got {rows.shape}")
        valid = rows >= 0
        safe = np.where(valid, rows, 0)
        theta = (np.arange(rows.shape[1]) + 1.0) ** -self.config.position_bias
        w = theta * np.exp(
            self._logits_at(sessions.member_idx, sessions.cell, safe) - self.outside_log_[sessions.member_idx, None]
        )
        w = np.where(valid, w, 0.0)
        if seen is not None:
            w = np.where(_lookup(seen, sessions.member_idx, safe), 0.0, w)
        return w / (1.0 + w.sum(axis=1, keepdims=True))

    def expected_engagement(
        self, sessions: Sessions, rows: np.ndarray, seen: sp.csr_matrix | None = None
    ) -> Engagement:
        """Expected plays and hours watched per session for the given rows (the ground truth)."""
        p = self.play_probabilities(sessions, rows, seen)
        safe = np.where(np.asarray(rows) >= 0, rows, 0)
        hours = self.completion_mean(sessions.member_idx, sessions.cell, safe) * self.runtime_[safe] / 60.0
        return Engagement(p.sum(axis=1), (p * hours).sum(axis=1))

    # ---- sampling ------------------------------------------------------------------------
    def sessions(self, member_idx: np.ndarray, seed: SeedLike = None, *, day: int = 0) -> Sessions:
        """One session per entry of ``member_idx``, with a device and hour from the member's habits."""
        self._check_fitted()
        rng = as_generator(seed)
        m = np.asarray(member_idx, np.int64)
        device = _categorical(self.device_shares_[m], np.arange(m.size), rng)
        hour = (_categorical(HOUR_PROFILES, device, rng) + self.hour_shift_[m]) % 24
        ts = EPOCH + day * 86400 + hour.astype(np.int64) * 3600 + rng.integers(0, 3600, m.size)
        return Sessions(m, device.astype(np.int8), hour.astype(np.int8), ts)

    def respond(
        self, sessions: Sessions, rows: np.ndarray, seed: SeedLike = None, *, seen: sp.csr_matrix | None = None
    ) -> Responses:
        """Sample what each member does with their row: play one title (or none), and how much of it."""
        rng = as_generator(seed)
        p = self.play_probabilities(sessions, rows, seen)
        cum = np.cumsum(p, axis=1)
        pos = (rng.random(len(sessions))[:, None] >= cum).sum(axis=1)
        played = pos < p.shape[1]
        position = np.where(played, pos, -1)
        n = len(sessions)
        title = np.full(n, -1, np.int64)
        title[played] = np.asarray(rows)[played, pos[played]]
        completion = np.full(n, np.nan)
        idx = np.flatnonzero(played)
        completion[idx] = self._draw_completion(sessions.member_idx[idx], sessions.cell[idx], title[idx], rng)
        hours = np.where(played, np.nan_to_num(completion) * self.runtime_[np.maximum(title, 0)] / 60.0, 0.0)
        return Responses(position, title, completion, hours)

    def _draw_completion(
        self, member_idx: np.ndarray, cell: np.ndarray, titles: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        m = self.completion_mean(member_idx, cell, titles[:, None])[:, 0]
        phi = self.config.completion_dispersion
        return rng.beta(np.maximum(m * phi, 1e-3), np.maximum((1 - m) * phi, 1e-3))

    def _sample_titles(
        self, factors: np.ndarray, cells: np.ndarray, steps: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        out = np.full(cells.shape, -1, np.int64)
        for start in range(0, factors.shape[0], _CHUNK):
            sl = slice(start, start + _CHUNK)
            base = self.title_bias_[None, :] + factors[sl] @ self.title_factors_.T
            logits = base[:, None, :] + self.shift_[None, :, :]
            out[sl] = sample_without_replacement(logits, cells[sl], steps[sl], rng)
        return out

    def log(self, seed: SeedLike = 0, *, members: np.ndarray | None = None) -> Interactions:
        """The organic viewing log of the period: each member's ``activity`` plays, with context.

        Args:
            members: member positions to simulate (all by default).
        Returns:
            An :class:`~marquee.data.Interactions` log (event ``"play"``) with ``device``,
            ``local_hour`` and ``completion`` filled, indexed by the world's members and catalog.
        """
        self._check_fitted()
        rng = as_generator(seed)
        m = np.arange(self.n_members) if members is None else np.asarray(members, np.int64)
        steps = self.activity_[m]
        member_idx, device, hour, ts = self._contexts(m, steps, self.device_shares_[m], self.hour_shift_[m], rng)
        cells = device * len(DAYPARTS) + daypart_of(hour)
        row = np.repeat(np.arange(m.size), steps)
        col = np.arange(row.size) - np.repeat(np.cumsum(steps) - steps, steps)
        grid = np.zeros((m.size, int(steps.max(initial=0))), np.int64)
        grid[row, col] = cells
        title = self._sample_titles(self.member_factors_[m], grid, steps, rng)[row, col]
        completion = self._draw_completion(member_idx, cells, title, rng)
        return self._interactions(member_idx, title, ts, device, hour, completion)

    def _contexts(
        self, m: np.ndarray, steps: np.ndarray, shares: np.ndarray, hour_shift: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Flat per-event member, device, hour and time, ``steps[j]`` events for ``m[j]`` in time order."""
        row = np.repeat(np.arange(m.size), steps)
        device = _categorical(shares, row, rng)
        hour = (_categorical(HOUR_PROFILES, device, rng) + hour_shift[row]) % 24
        day = rng.integers(0, self.config.days, row.size)
        ts = EPOCH + day * 86400 + hour * 3600 + rng.integers(0, 3600, row.size)
        order = np.lexsort((ts, row))
        return m[row], device[order], hour[order], ts[order]

    def log_responses(self, sessions: Sessions, responses: Responses) -> Interactions:
        """The plays among ``responses`` as an interaction log (sessions without a play are dropped)."""
        played = responses.played
        if not played.any():
            raise DataError("no session ended in a play; there is nothing to log")
        return self._interactions(
            sessions.member_idx[played], responses.title_idx[played], sessions.timestamp[played],
            sessions.device[played].astype(np.int64), sessions.hour[played].astype(np.int64), responses.completion[played],
        )  # fmt: skip

    def _interactions(
        self,
        member_idx: np.ndarray,
        title_idx: np.ndarray,
        ts: np.ndarray,
        device: np.ndarray,
        hour: np.ndarray,
        completion: np.ndarray,
    ) -> Interactions:
        table = pa.table(
            {
                "member_id": pa.array(self.members_.ids[member_idx]),
                "title_id": pa.array(self.titles_.ids[title_idx]),
                "timestamp": pa.array(np.asarray(ts, np.int64)),
                "event": pa.array(np.full(len(member_idx), "play", dtype=object), pa.string()),
                "device": pa.DictionaryArray.from_arrays(
                    pa.array(np.asarray(device, np.int32)), pa.array(DEVICES)
                ).cast(pa.string()),
                "local_hour": pa.array(np.asarray(hour, np.int8)),
                "completion": pa.array(np.clip(completion, 0.0, 1.0).astype(np.float32)),
            }
        )
        return Interactions.from_table(
            table, members=self.members_, titles=self.titles_, catalog=self.catalog_, source="<world>"
        )


def _categorical(probs: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n,) int64 draws, draw ``j`` from the distribution ``probs[rows[j]]`` (inverse CDF in one flat array)."""
    k = probs.shape[1]
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(probs.shape[0])[:, None]).ravel()
    draw = np.searchsorted(flat, rows + rng.random(rows.size), side="right") - rows * k
    return np.minimum(draw, k - 1).astype(np.int64)


def _lookup(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(n, k) bool: ``matrix[rows[j], cols[j, r]] != 0``."""
    sub = matrix[np.asarray(rows)]
    r = np.repeat(np.arange(cols.shape[0]), cols.shape[1])
    return np.asarray(sub[r, cols.ravel()] != 0).reshape(cols.shape)
