"""Renewals: the world's members subscribe, renew or leave each month, and respond to retention offers.

Every member of a :class:`~marquee.sim.World` holds a subscription on a plan (with ads, standard, premium) and
renews each billing month with a hazard driven by what the rest of Marquee produces for them:

- **hours watched per week**: the expected hours of a session shown the service's row (the world's choice model,
  :meth:`World.expected_engagement`) times the member's session rate (their real activity);
- **recommendation fit**: expected plays per session from the service's row over those from the member's best
  possible row (their true top titles): 1 = the ranker shows exactly what they would pick;
- **rebuffering**: the rebuffer percentage of a real playback session on the member's main device over their home
  network (a trace of that device's networks, played once by an ABR scheme with :func:`marquee.playback.simulate`);
- **price**: the plan's price, and a price increase most members saw (the others were grandfathered).

``logit h_t(x) = a(t) + g(x)``, additive in those covariates (the analyst sees every one of them, so a model of the
right family can recover the truth, and per-member bands can be checked against it), with ``a(t)`` high in the first
months and flat after a year. Members sign up uniformly over the past ``months`` months and are observed until
"now": the :meth:`Subscriptions.history` is the right-censored table a churn model is fitted on.

Interventions offered now change the logit hazard of the next ``horizon`` months by a heterogeneous amount:

- ``reengage``: a personalised re-engagement row; helps light viewers whose recommendations fit poorly.
- ``discount``: a price cut for the horizon; helps the price-sensitive (those who saw the increase, mobile
  viewers) who like what they are shown (a discount does not fix a catalogue that misses their taste), and
  backfires for near-dormant members it reminds they are paying (Ascarza, Iyengar & Schleicher 2016, "The perils
  of proactive churn prevention using plan recommendations", J. Marketing Research 53(1)).
- ``ads_offer``: an offer to move to the ads plan; helps price-sensitive members who rarely watch on a TV; nothing
  for members already on ads.

So the members most likely to leave are not those an offer helps most, as Ascarza (2018, "Retention futility:
targeting high-risk customers might be ineffective", J. Marketing Research 55(1)) found in field experiments.
The truth is exposed: :meth:`Subscriptions.churn_probability` (any intervention), :meth:`Subscriptions.effect`
(each intervention's retention gain per member) and :meth:`Subscriptions.costs`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy.special import expit, log_expit

from marquee._validate import ints, non_negative, positive, require
from marquee.errors import ConfigError
from marquee.playback import load_traces, load_video, simulate
from marquee.playback.scheme import SCHEMES
from marquee.random import SeedLike, as_generator
from marquee.retention.table import SurvivalTable
from marquee.sim.context import DEVICES
from marquee.sim.playback import DEFAULT_NETWORKS, PLAYBACK_DEVICE
from marquee.sim.world import World

__all__ = ["COVARIATES", "INTERVENTIONS", "PLANS", "SubscriptionConfig", "Subscriptions"]

#: Monthly prices (USD) of the plans: Netflix's US prices of 2024 (Standard with ads, Standard, Premium).
PLANS: dict[str, float] = {"ads": 6.99, "standard": 15.49, "premium": 22.99}
INTERVENTIONS: tuple[str, ...] = ("reengage", "discount", "ads_offer")
#: The covariates an analyst sees per member (columns of :meth:`Subscriptions.table`).
COVARIATES: tuple[str, ...] = (
    "plan", "price", "price_increase", "hours_per_week", "rec_fit", "rebuffer_pct", "tv_share", "mobile_share",
)  # fmt: skip

RowPolicy = Callable[[np.ndarray], np.ndarray]
_CHUNK = 8192


@dataclass(frozen=True)
class SubscriptionConfig:
    """Args:
    months: sign-ups are spread uniformly over this many months before now (the history's longest tenure).
    horizon: months an intervention lasts; churn is measured over the same months.
    price_increase: USD added to the standard and premium plans for members not grandfathered.
    increase_share: share of standard and premium members who saw the increase.
    baseline: ``a`` of the flat monthly logit hazard after the first year; ``early``: extra logit in month 1,
        decaying with ``early_months``.
    scheme: the ABR scheme members' home sessions are played with.
    sessions: sessions per member averaged to measure hours and recommendation fit.
    discount: the discount's price cut (share of the price) and ``reengage_cost`` the row's cost (USD).
    """

    months: int = 24
    horizon: int = 3
    price_increase: float = 2.0
    increase_share: float = 0.5
    baseline: float = -3.2
    early: float = 1.3
    early_months: float = 2.5
    scheme: str = "robustmpc"
    sessions: int = 2
    discount: float = 0.25
    reengage_cost: float = 1.0

    def __post_init__(self) -> None:
        ints(self, "months", "horizon", "sessions")
        non_negative(self, "price_increase", "early", "reengage_cost")
        positive(self, "early_months", "discount")
        require(0 <= self.increase_share <= 1, "SubscriptionConfig", "increase_share", "in [0, 1]", self.increase_share)
        if self.scheme not in SCHEMES or SCHEMES[self.scheme].needs_future:
            raise ConfigError(f"scheme {self.scheme!r} is not an online ABR scheme")


class Subscriptions:
    """Subscriptions of a fitted world's members, with their history until now and the exposed truth.

    Args:
        world: a fitted :class:`World` (its members, devices, activity and choice model).
        rows: the service's row per member position (e.g. :func:`marquee.sim.delivery.persona_rows`).
        config: :class:`SubscriptionConfig`.
        seed: draws sessions, home networks, plans, sign-ups and the history.
    """

    def __init__(self, world: World, rows: RowPolicy, config: SubscriptionConfig | None = None, *,
                 seed: SeedLike = 0) -> None:  # fmt: skip
        self.world = world
        self.config = c = config or SubscriptionConfig()
        rng = as_generator(seed)
        n = world.n_members
        self.hours_per_week, self.rec_fit = _engagement(world, rows, c.sessions, rng)
        self.rebuffer_pct = _rebuffering(world, c.scheme, rng)
        shares = world.device_shares_
        self.tv_share = shares[:, DEVICES.index("tv")].copy()
        self.mobile_share = shares[:, DEVICES.index("mobile")].copy()
        p_premium = 0.1 + 0.4 * self.tv_share
        p_ads = 0.15 + 0.4 * self.mobile_share
        u = rng.random(n)
        self.plan = np.where(u < p_ads, "ads", np.where(u < p_ads + p_premium, "premium", "standard")).astype(object)
        raised = (self.plan != "ads") & (rng.random(n) < c.increase_share)
        self.price_increase = np.where(raised, c.price_increase, 0.0)
        self.price = np.array([PLANS[p] for p in self.plan]) + self.price_increase
        self.score_ = self._score()
        # The history: sign-up month, tenure now, and the month each member left (if they did).
        self.tenure = rng.integers(1, c.months + 1, n)  # months since sign-up, now
        left_at = self._draw_departures(np.arange(n), np.zeros(n, np.int64), self.tenure, rng)
        self.duration = np.where(left_at > 0, left_at, self.tenure)
        self.event = (left_at > 0).astype(np.int8)

    # ---- the analyst's view ------------------------------------------------------------------
    @property
    def n_members(self) -> int:
        return self.world.n_members

    @property
    def active(self) -> np.ndarray:
        """(n,) bool: still subscribed now."""
        return self.event == 0

    def table(self, members: np.ndarray | None = None) -> pa.Table:
        """Members' ids, covariates (:data:`COVARIATES`), ``duration`` (months observed) and ``event`` (1 = left)."""
        m = np.arange(self.n_members) if members is None else np.asarray(members, np.int64)
        return pa.table({
            "member_id": pa.array(self.world.members_.ids[m]),
            "plan": pa.array(self.plan[m].tolist(), pa.string()),
            "price": self.price[m], "price_increase": self.price_increase[m],
            "hours_per_week": self.hours_per_week[m], "rec_fit": self.rec_fit[m], "rebuffer_pct": self.rebuffer_pct[m],
            "tv_share": self.tv_share[m], "mobile_share": self.mobile_share[m],
            "duration": self.duration[m].astype(np.int64), "event": self.event[m],
        })  # fmt: skip

    def history(self) -> SurvivalTable:
        """The right-censored history of every member as a :class:`~marquee.retention.SurvivalTable`."""
        return SurvivalTable.from_arrow(self.table(), covariates=COVARIATES, source="<subscriptions>")

    # ---- the truth ---------------------------------------------------------------------------
    def _score(self) -> np.ndarray:
        """(n,) ``g(x)``: the covariates' part of the logit hazard."""
        return (
            0.35 * (self.plan == "ads") - 0.2 * (self.plan == "premium")
            - 0.5 * np.log1p(self.hours_per_week) + 1.5 * (0.6 - self.rec_fit)
            + 0.4 * np.log1p(self.rebuffer_pct) + 0.25 * self.price_increase + 0.5 * self.mobile_share
        )  # fmt: skip

    def baseline(self, month: np.ndarray) -> np.ndarray:
        """``a(t)`` for 1-based tenure months."""
        c = self.config
        return c.baseline + c.early * np.exp(-(np.asarray(month, np.float64) - 1) / c.early_months)

    def shift(self, members: np.ndarray, intervention: str | None) -> np.ndarray:
        """(n,) the intervention's true change of the logit hazard for each member while it lasts."""
        m = np.asarray(members, np.int64)
        if intervention is None:
            return np.zeros(m.size)
        hours, fit, inc = self.hours_per_week[m], self.rec_fit[m], self.price_increase[m]
        if intervention == "reengage":
            return -1.0 * (1 - fit) * expit(1.5 * (3.0 - hours))
        if intervention == "discount":
            return -0.6 * (1 + inc / 2) * (0.5 + self.mobile_share[m]) * fit + 0.9 * expit(3.0 * (2.0 - hours))
        if intervention == "ads_offer":
            return np.where(self.plan[m] == "ads", 0.0, -0.5 * (1 + inc / 2) * (1 - self.tv_share[m]))
        raise ConfigError(f"unknown intervention {intervention!r}; known: {', '.join(INTERVENTIONS)}")

    def churn_probability(self, members: np.ndarray, intervention: str | None = None, *,
                          horizon: int | None = None) -> np.ndarray:  # fmt: skip
        """(n,) true probability of leaving within ``horizon`` months from now, given subscribed now."""
        m = np.asarray(members, np.int64)
        h = horizon or self.config.horizon
        eta = self.score_[m] + self.shift(m, intervention)
        months = self.tenure[m][:, None] + np.arange(1, h + 1)[None, :]
        return -np.expm1(log_expit(-(self.baseline(months) + eta[:, None])).sum(axis=1))

    def effect(self, members: np.ndarray) -> np.ndarray:
        """(n, K) true retention gain of each intervention (:data:`INTERVENTIONS`): churn without minus with."""
        base = self.churn_probability(members)
        return np.stack([base - self.churn_probability(members, k) for k in INTERVENTIONS], axis=1)

    def costs(self, members: np.ndarray) -> np.ndarray:
        """(n, K) cost (USD) of each intervention per member: the row's cost, the discount's forgone revenue over
        the horizon, and half the revenue the move to ads forgoes over the horizon (ads earn the rest)."""
        m = np.asarray(members, np.int64)
        c = self.config
        price = self.price[m]
        return np.stack([
            np.full(m.size, c.reengage_cost),
            c.discount * price * c.horizon,
            np.maximum(price - PLANS["ads"], 1.0) * 0.5 * c.horizon,
        ], axis=1)  # fmt: skip

    # ---- sampling ----------------------------------------------------------------------------
    def _draw_departures(self, m: np.ndarray, start: np.ndarray, stop: np.ndarray, rng: np.random.Generator,
                         shift: np.ndarray | None = None, shift_until: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
        """(n,) month in (start, stop] each member leaves in (0 = stays), month by month."""
        out = np.zeros(m.size, np.int64)
        eta = self.score_[m]
        for month in range(1, int(stop.max(initial=0)) + 1):
            live = (out == 0) & (month > start) & (month <= stop)
            if not live.any():
                continue
            logit = self.baseline(month) + eta[live]
            if shift is not None and shift_until is not None:
                logit = logit + np.where(month <= shift_until[live], shift[live], 0.0)
            out[np.flatnonzero(live)[rng.random(int(live.sum())) < expit(logit)]] = month
        return out

    def experiment(self, members: np.ndarray, shares: tuple[float, ...] = (0.4, 0.2, 0.2, 0.2), *,
                   seed: SeedLike = 0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """A randomised test among active members: arm 0 = nothing, arm k = ``INTERVENTIONS[k-1]``.

        Returns:
            (treatment (n,) int, retained (n,) int8: still subscribed ``horizon`` months later).
        """
        m = np.asarray(members, np.int64)
        if not self.active[m].all():
            raise ConfigError("experiment members must be active (still subscribed now)")
        p = np.asarray(shares, np.float64)
        if p.size != len(INTERVENTIONS) + 1 or (p <= 0).any() or not np.isclose(p.sum(), 1.0):
            raise ConfigError(f"shares must be {len(INTERVENTIONS) + 1} positive numbers summing to 1, got {shares}")
        rng = as_generator(seed)
        arm = rng.choice(p.size, size=m.size, p=p)
        shift = np.zeros(m.size)
        for k, name in enumerate(INTERVENTIONS, start=1):
            rows = arm == k
            shift[rows] = self.shift(m[rows], name)
        now = self.tenure[m]
        left = self._draw_departures(m, now, now + self.config.horizon, rng, shift, now + self.config.horizon)
        return arm.astype(np.int64), (left == 0).astype(np.int8)


def _engagement(
    world: World, rows: RowPolicy, sessions: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(hours per week, recommendation fit) per member from the world's choice model over ``sessions`` sessions."""
    n = world.n_members
    plays = np.zeros(n)
    hours = np.zeros(n)
    best = np.zeros(n)
    for start in range(0, n, _CHUNK):
        m = np.arange(start, min(start + _CHUNK, n))
        row = np.asarray(rows(m))
        top = np.argpartition(-world.affinity(m), row.shape[1] - 1, axis=1)[:, : row.shape[1]]
        for _ in range(sessions):
            s = world.sessions(m, rng)
            e = world.expected_engagement(s, row)
            plays[m] += e.plays
            hours[m] += e.hours
            best[m] += world.expected_engagement(s, top).plays
    fit = np.clip(plays / np.maximum(best, 1e-12), 0.0, 1.0)
    per_session = hours / sessions
    plays_per_session = plays / sessions
    sessions_per_week = 7.0 * world.activity_ / world.config.days / max(float(plays_per_session.mean()), 1e-9)
    return sessions_per_week * per_session, fit


def _rebuffering(world: World, scheme: str, rng: np.random.Generator) -> np.ndarray:
    """(n,) rebuffer % of each member's home session: their main device over a trace of its networks."""
    video = load_video("envivio")
    main = world.device_shares_.argmax(axis=1)
    out = np.empty(world.n_members)
    for code, name in enumerate(DEVICES):
        rows = np.flatnonzero(main == code)
        if rows.size == 0:
            continue
        device = PLAYBACK_DEVICE[name]
        traces = load_traces(DEFAULT_NETWORKS[device])
        played = simulate(traces, video, SCHEMES[scheme](), device=device)
        pct = 100.0 * played.rebuffer_ratio
        out[rows] = pct[rng.integers(0, pct.size, rows.size)]
    return out
