"""Per-request model switching: the best model whose latency fits the budget, with fallbacks.

Tiers, best first: ``heavy`` (e.g. SASRec, micro-batched), ``light`` (e.g. a distilled factor
model, scored inline), and ``popular``, which always answers. ``auto`` estimates each tier's
latency from live measurements — an exponentially weighted mean of recent service times, plus
the heavy tier's queue (depth / max_batch more batches to wait for, plus the batching wait) —
and takes the best tier whose estimate fits the budget less the event loop's current lag (on a
saturated core every request waits for the loop before any model runs). A tier left unused
because it was too slow is probed again once its estimate is stale. A tier that errors or misses its
deadline hands the request to the next lighter one, so a member gets an answer whenever a
cheaper one exists. The router knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np

from marquee.errors import ConfigError
from marquee.rank.base import Recommender
from marquee.serve.batching import Batcher
from marquee.serve.precomputed import Precomputed

__all__ = ["MODES", "PRIORITIES", "Answer", "LatencyEstimate", "Router", "Shed", "Tier"]

MODES = ("auto", "heavy", "light")
ORDER = ("heavy", "light")
#: Request priorities, most important first: ``critical`` (a member opening the app) and ``prefetch``
#: (a background refresh), which is shed first when the service is overloaded.
PRIORITIES = ("critical", "prefetch")


class Shed(Exception):
    """A request refused to keep the budget of more important ones (no precomputed row to answer it with)."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"overloaded: retry after {retry_after_s:g} s")


class LatencyEstimate:
    """Exponentially weighted mean of observed milliseconds (``alpha`` = weight of the newest).

    An estimate not refreshed for ``stale_after_s`` describes a load that has passed: the next
    observation replaces it instead of being blended in.
    """

    def __init__(self, alpha: float = 0.2, initial_ms: float | None = None, stale_after_s: float = 1.0) -> None:
        self.alpha = alpha
        self.value = initial_ms
        self.stale_after_s = stale_after_s
        self.updated = time.monotonic()

    def observe(self, ms: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self.value is None or now - self.updated > self.stale_after_s:
            self.value = ms
        else:
            self.value = self.alpha * ms + (1 - self.alpha) * self.value
        self.updated = now

    def is_stale(self, now: float) -> bool:
        return now - self.updated > self.stale_after_s


@dataclass
class Tier:
    """A loaded model in one role. ``model`` and ``version`` are swapped together by promotion."""

    name: str
    model: Recommender
    version: str
    batcher: Batcher | None = None
    latency: LatencyEstimate = field(default_factory=LatencyEstimate)
    loaded_at: float = field(default_factory=time.time)
    probed_at: float = 0.0
    #: ``(model, version)`` in one reference: a swap from another thread (the admin API, registry
    #: following) replaces both at once, so a reader never pairs one version's model with another's label.
    serving: tuple[Recommender, str] = field(init=False)

    def __post_init__(self) -> None:
        self.serving = (self.model, self.version)

    def estimate_ms(self) -> float:
        base = self.latency.value if self.latency.value is not None else 0.0
        if self.batcher is None:
            return base
        waves = 1 + self.batcher.depth // self.batcher.max_batch
        return base * waves + self.batcher.max_wait_ms

    def wants_probe(self, now: float) -> bool:
        """True, once per staleness period, for a tier that ``auto`` has stopped choosing: its
        estimate only changes when it serves, so without a probe a tier judged too slow once
        would stay unused after the load that slowed it had gone."""
        if not self.latency.is_stale(now) or now - self.probed_at <= self.latency.stale_after_s:
            return False
        self.probed_at = now
        return True


@dataclass(frozen=True)
class Answer:
    """A ranked row for one member and how it was made."""

    member_id: int | str
    title_ids: np.ndarray
    scores: np.ndarray
    model_used: str
    model_version: str
    fallback_reason: str | None
    switched: bool
    latency_ms: float
    staleness_s: float | None = None


class Router:
    """Chooses and calls a tier per request.

    Args:
        popular: a fitted non-personalised ranker: the last resort and the cold-start answer.
        default_budget_ms: budget of requests that state none.
        headroom: fraction of the budget a tier's estimate may use (the rest absorbs noise).
    """

    def __init__(self, popular: Recommender, *, default_budget_ms: float = 50.0, headroom: float = 0.8) -> None:
        if not popular.is_fitted:
            raise ConfigError("the popularity fallback must be fitted before serving")
        if not 0 < headroom <= 1:
            raise ConfigError(f"headroom must be in (0, 1], got {headroom}")
        self.tiers: dict[str, Tier] = {}
        #: How late the event loop runs timers: the wait every request pays before any model runs.
        #: When the heavy tier's worker thread and the loop share a core, this is what rises first.
        self.loop_lag = LatencyEstimate(alpha=0.3, initial_ms=0.0)
        self.popular = popular
        self.default_budget_ms = default_budget_ms
        self.headroom = headroom
        # Popularity is the same for every member: rank it once, not per request.
        self._popular_scores = np.asarray(popular.score_index(np.array([0]))[0], np.float32)
        self._popular_order = np.argsort(-self._popular_scores, kind="stable")
        #: Every member's row scored offline (:mod:`marquee.serve.precomputed`): the tier before popularity.
        self.precomputed: Precomputed | None = None

    # ---- tiers -------------------------------------------------------------------------
    def set_tier(self, name: str, model: Recommender, version: str, *, batcher: Batcher | None = None) -> Tier:
        """Install or hot-swap a tier. In-flight requests finish on the model they started with."""
        if name not in ORDER:
            raise ConfigError(f"tier must be one of {ORDER}, got {name!r}")
        old = self.tiers.get(name)
        if old is not None:
            old.serving = (model, version)  # what requests read: one reference swap
            old.model, old.version, old.loaded_at = model, version, time.time()
            return old
        tier = Tier(name, model, version, batcher)
        self.tiers[name] = tier
        return tier

    def available(self) -> list[str]:
        return [n for n in ORDER if n in self.tiers]

    # ---- choice ------------------------------------------------------------------------
    def plan(self, mode: str, budget_ms: float) -> tuple[list[str], bool]:
        """Tiers to try in order, and whether ``auto`` switched down from the best tier for the budget."""
        if mode not in MODES:
            raise ConfigError(f"model must be one of {MODES}, got {mode!r}")
        names = self.available()
        if mode != "auto":
            start = ORDER.index(mode)
            return [n for n in names if ORDER.index(n) >= start], False
        now = time.monotonic()
        lag = self.loop_lag.value or 0.0
        allowed = budget_ms * self.headroom - lag
        # A batched tier is given up on by a timer on this loop, which fires as late as the loop lags: the
        # request falls back with the budget's headroom left, and a loop lagging by more than half of it
        # would land that fallback past the deadline. Batched tiers are tried only while the loop keeps time.
        punctual = lag <= (1 - self.headroom) * budget_ms / 2
        fits = []
        for n in names:
            tier = self.tiers[n]
            if tier.batcher is not None and not punctual:
                continue
            # A probe is safe: if the tier is still slow, the request falls back at its deadline.
            if tier.estimate_ms() <= allowed or tier.wants_probe(now):
                fits.append(n)
        if not fits:
            return names[-1:], bool(names) and names[-1] != names[0]
        first = names.index(fits[0])
        return names[first:], first > 0

    async def watch_loop(self, interval_s: float = 0.005) -> None:
        """Measure the event loop's lag forever (run as a task on the serving loop)."""
        while True:
            start = time.monotonic()
            await asyncio.sleep(interval_s)
            self.loop_lag.observe(max((time.monotonic() - start - interval_s) * 1000.0, 0.0))

    # ---- serving -----------------------------------------------------------------------
    async def recommend(
        self, member_id: int | str, k: int, *, mode: str = "auto", budget_ms: float | None = None, priority: str = "critical",
        arrived: float | None = None,
    ) -> Answer:  # fmt: skip
        """The member's row from the best tier that fits what is left of the budget.

        The budget counts from ``arrived`` (``time.perf_counter()`` when the request reached the
        service; default now), so time spent queued before the handler counts. Under overload (the
        best tier does not fit, or nothing is left of the budget) a ``prefetch`` request is answered
        from the precomputed table or :class:`Shed`; a ``critical`` one moves down the tiers, and with
        nothing left of its budget it is answered at once from the precomputed table or popularity.

        Raises:
            Shed: a prefetch request under overload with no precomputed row for the member.
        """
        start = time.perf_counter() if arrived is None else arrived
        budget = self.default_budget_ms if budget_ms is None else budget_ms
        deadline = start + budget / 1000.0
        left_ms = (deadline - time.perf_counter()) * 1000.0
        plan, switched = self.plan(mode, left_ms) if left_ms > 0 else ([], bool(self.tiers))
        if priority != "critical" and (switched or left_ms <= 0) and mode == "auto":
            answer = self._precomputed_answer(member_id, k, "shed", switched, start)
            if answer is None:
                raise Shed(retry_after_s=1.0)
            return answer
        if mode == "auto" and plan and self.precomputed is not None:
            # Even the lightest online tier does not fit what is left: the table answers in microseconds.
            allowed = left_ms * self.headroom - (self.loop_lag.value or 0.0)
            if self.tiers[plan[0]].estimate_ms() > allowed:
                answer = self._precomputed_answer(member_id, k, "overload", True, start)
                if answer is not None:
                    return answer
        reason: str | None = None if left_ms > 0 else "deadline"
        for i, name in enumerate(plan):
            tier = self.tiers[name]
            if i > 0 and mode == "auto" and self.precomputed is not None:
                # After a tier failed or ran out of time: a lighter one that no longer fits what is left
                # would answer past the deadline, where the table answers in microseconds.
                left_ms = (deadline - time.perf_counter()) * 1000.0
                if tier.estimate_ms() + (self.loop_lag.value or 0.0) > left_ms:
                    answer = self._precomputed_answer(member_id, k, reason or "deadline", switched, start)
                    if answer is not None:
                        return answer
            model, version = tier.serving
            u = model.members_.position(member_id)
            if u is None:
                reason = "unknown_member"
                break
            lighter = plan[i + 1 :]
            try:
                model, version, idx, scores = await self._call(tier, model, version, member_id, u, k, deadline, lighter, budget)
            except TimeoutError:
                reason = "deadline"
                continue
            except Exception:  # noqa: BLE001 - any model failure falls back to a lighter tier
                reason = "error"
                continue
            return Answer(member_id, model.titles_.ids[idx], scores, name, version, reason, switched,
                          (time.perf_counter() - start) * 1000.0)  # fmt: skip
        if reason != "unknown_member":
            answer = self._precomputed_answer(member_id, k, reason or "no_model", switched, start)
            if answer is not None:
                return answer
        return self._popular_answer(member_id, k, reason or "no_model", switched, start)

    def _precomputed_answer(self, member_id: int | str, k: int, reason: str, switched: bool, start: float) -> Answer | None:
        table = self.precomputed
        found = table.row(member_id, k) if table is not None else None
        if found is None:
            return None
        ids, scores = found
        return Answer(member_id, ids, scores, "precomputed", table.version, reason, switched,  # type: ignore[union-attr]
                      (time.perf_counter() - start) * 1000.0, round(table.staleness_s(), 1))  # type: ignore[union-attr]  # fmt: skip

    async def _call(
        self, tier: Tier, model: Recommender, version: str, member_id: int | str, u: int, k: int, deadline: float, lighter: list[str],
        budget_ms: float,
    ) -> tuple[Recommender, str, np.ndarray, np.ndarray]:  # fmt: skip
        """``(model, version, title positions, scores)`` for the member at position ``u`` of
        ``model``; the model returned is the one that computed the row (a batch may run on a
        model swapped in after the request arrived)."""
        if tier.batcher is None:
            t0 = time.perf_counter()
            idx, scores = model.recommend_one(u, k)
            tier.latency.observe((time.perf_counter() - t0) * 1000.0)
            return model, version, idx, scores
        # Leave time for the next lighter tier to answer if this one runs late, and for the timer that
        # stops this one to fire late (on a busy loop, by about the loop's lag, with spikes above it):
        # at least the budget's headroom, the share that absorbs noise.
        reserve_ms = sum(self.tiers[n].estimate_ms() for n in lighter[:1]) + (self.loop_lag.value or 0.0)
        reserve = max(reserve_ms, (1 - self.headroom) * budget_ms) / 1000.0
        timeout = max(deadline - time.perf_counter() - reserve, 0.0)
        async with asyncio.timeout(timeout):  # unlike wait_for, no extra task per request
            result = await tier.batcher.submit(u, k)
        if result.model is not model and result.model.members_.position(member_id) != u:
            # The swapped-in model indexes members differently: this row is someone else's.
            raise LookupError("member position differs in the swapped-in model")
        return result.model, result.version, result.title_idx, result.scores

    def _popular_answer(self, member_id: int | str, k: int, reason: str, switched: bool, start: float) -> Answer:
        pop = self.popular
        order = self._popular_order
        u = pop.members_.position(member_id)
        if u is not None:
            seen = pop.seen_.indices[pop.seen_.indptr[u] : pop.seen_.indptr[u + 1]]
            if seen.size:
                order = order[~np.isin(order, seen)]
        top = order[:k]
        scores = self._popular_scores[top]
        return Answer(member_id, pop.titles_.ids[top], scores, "popular", "popular", reason, switched,
                      (time.perf_counter() - start) * 1000.0)  # fmt: skip
