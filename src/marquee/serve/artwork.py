"""Artwork in the service: choose a title's artwork variant per request, log it durably, learn from feedback.

``POST /v1/artwork`` asks :meth:`Artwork.decide` for a variant of the title in the member's
context; the decision (with its propensity and every candidate's features) is appended to a
crash-safe log *before* the answer is sent. ``POST /v1/feedback`` appends the reward to the same
log first, then updates the online policy, then answers. Feedback is idempotent: the same reward
for the same decision again is acknowledged (``"duplicate": true``) without a second update; a
different reward for a decision that has one is refused (409). At start the policy re-learns
from the rewards already in the log, so a restart keeps what it had learned.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Annotated, Any, Protocol

import msgspec
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from marquee.bandit.artwork import (
    CANDIDATE_POLICIES,
    ArtworkDecision,
    CandidatePolicy,
    context_features,
    cross_fitted_distribution,
    joint_features,
)
from marquee.bandit.durable import SQLiteDecisionLog
from marquee.data.artwork import ArtworkVariants, TitleVariants, generate_variants
from marquee.data.artwork_log import ArtworkLog
from marquee.data.catalog import Catalog
from marquee.data.ids import normalize_id
from marquee.errors import ConfigError, DataError, UnknownIdError
from marquee.ope.base import Estimator
from marquee.ope.comparison import Comparison
from marquee.random import SeedLike, as_generator
from marquee.serve.schemas import MAX_ID, MAX_ID_CHARS, Context, Device, MemberId

__all__ = ["Artwork", "ArtworkBody", "ArtworkRequest", "ArtworkSink", "FeedbackBody", "FeedbackRequest", "build_artwork", "default_log", "evaluate_artwork", "parse_candidate"]

log = logging.getLogger("marquee.serve.artwork")


#: Titles whose variant tuples :meth:`Artwork.choose_many` keeps (a catalog's worth on most services).
_TITLE_CACHE = 1_000_000


def _report_failure(future: Future[None]) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("artwork decisions of a page were not logged", extra={"reason": str(exc)})


class ArtworkSink(Protocol):
    """A durable decision log (:class:`~marquee.bandit.durable.SQLiteDecisionLog`; ``":memory:"`` is its in-memory double).

    Appends return futures that complete once the record is durable."""

    def submit_decisions(self, decisions: Any) -> Future[None]: ...

    def submit_reward(self, decision_id: str, reward: float, *, timestamp_us: int = 0) -> Future[tuple[bool, dict[str, Any]]]: ...

    def submit_missing_rewards(self, decision_ids: Sequence[str], reward: float, *, timestamp_us: int = 0) -> Future[list[dict[str, Any]]]: ...

    def rows(self) -> list[tuple[int, str, float | None]]: ...


# ---- wire types: msgspec on the wire (one C pass, errors that name the field), pydantic for the docs
# Ids are int64 or text (1..256 characters) all the way to the decision log and the arrays evaluation
# builds from it: a larger number, or an empty or longer string, is refused here, naming the field,
# instead of being logged and breaking every later read.
#: A member or title id on the wire: an integer in [0, 2**63 - 1] or a non-empty string of at most 256 characters.
ExternalId = MemberId
_ID_DOC = Annotated[int, Field(ge=0, le=MAX_ID)] | Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]


class ArtworkRequest(msgspec.Struct, forbid_unknown_fields=True):
    member_id: ExternalId
    title_id: ExternalId
    context: Context | None = None


class FeedbackRequest(msgspec.Struct, forbid_unknown_fields=True):
    decision_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    reward: Annotated[float, msgspec.Meta(ge=-1e6, le=1e6)]


class ContextBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, title="ArtworkContext")
    device: Device | None = Field(None, description="Device class of the session.")
    local_hour: int | None = Field(None, ge=0, le=23, description="Member's local hour, 0-23.")


class ArtworkBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, title="ArtworkRequest")
    member_id: _ID_DOC = Field(..., description="The member: an integer id (0..2**63-1) or a string id (1..256 characters), logged as given.")
    title_id: _ID_DOC = Field(..., description="The title whose artwork to choose: an integer or a string id, as the catalog has it.")
    context: ContextBody | None = None


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, title="FeedbackRequest")
    decision_id: str = Field(..., min_length=1, max_length=64, description="The decision_id /v1/artwork returned.")
    reward: float = Field(..., ge=-1e6, le=1e6, description="What came of it, e.g. 1 for a play, 0 for none.")


# ---- the component ----------------------------------------------------------------------------
class Artwork:
    """Variants, a candidate policy and a durable log, behind the two endpoints.

    Args:
        variants: each title's variants and their features.
        policy: chooses among a title's variants (and learns online).
        sink: the durable decision log.
        seed: the choices' randomness.
        learn: update the policy on feedback.
        clock, new_id: unix microseconds now; decision ids (injectable for tests).
    """

    def __init__(
        self,
        variants: ArtworkVariants,
        policy: CandidatePolicy,
        sink: ArtworkSink,
        *,
        seed: SeedLike = None,
        learn: bool = True,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.variants, self.policy, self.sink, self.learn = variants, policy, sink, learn
        self.clock, self.new_id = clock, new_id
        self.rng = as_generator(seed)
        self._lock = threading.Lock()
        self._titles: dict[int | str, tuple[TitleVariants, tuple[Any, ...], tuple[tuple[float, ...], ...]]] = {}

    def __repr__(self) -> str:
        return f"Artwork({self.policy!r}, titles={len(self.variants.title_ids)}, variants={len(self.variants)})"

    def replay(self) -> int:
        """Re-learn the policy from the rewards in the log (at start: a restart keeps what was
        learned); returns how many rounds it learned from.

        A row that cannot be read, or that does not fit this service (its candidates have another
        number of features: logged with another variants table), is left out and logged as a
        warning with its row id: it neither stops the service nor reaches the policy."""
        source = str(getattr(self.sink, "path", "decision log"))

        def skip(exc: DataError) -> None:
            log.warning("artwork log row skipped", extra={"log_path": source, "row_id": exc.row, "field": exc.column, "reason": str(exc)})

        dims = (len(context_features(None, None)), len(self.variants.feature_names))
        try:
            data = ArtworkLog.from_rows(self.sink.rows(), source=source, on_bad_row=skip, dims=dims)
        except DataError:  # no row with a reward (yet)
            return 0
        self.policy.fit(data.feedback.context, data.chosen_features, data.feedback.reward)
        log.info("artwork policy re-learned from the log", extra={"rounds": len(data), "policy": self.policy.name})
        return len(data)

    def _choose(self, member_id: int | str, title_id: int | str, device: str | None, local_hour: int | None) -> ArtworkDecision:
        found = self.variants.of(title_id)
        if type(member_id) is not int and type(member_id) is not str:  # np.int64 and the like, from Python callers
            member_id = normalize_id(member_id, "member")
        x = context_features(device, local_hour)
        with self._lock:
            index, propensity = self.policy.choose(x, found.features, self.rng)
        return ArtworkDecision(
            decision_id=self.new_id(), policy=self.policy.name, context=tuple(x.tolist()), action=index, propensity=propensity,
            timestamp_us=self.clock(), member_id=member_id, title_id=found.title_id,
            variant_ids=tuple(found.variant_ids.tolist()), candidates=tuple(map(tuple, found.features.tolist())),
        )  # fmt: skip

    def decide(self, member_id: int | str, title_id: int | str, device: str | None = None, local_hour: int | None = None) -> ArtworkDecision:
        """Choose one of the title's variants; the decision is durably logged when this returns.

        The member id is logged as given (an int or a str); the title id as the variants table
        holds it (``"42"`` for an integer table's title 42 is logged as ``42``).

        Raises:
            UnknownIdError: the title has no variants.
        """
        decision = self._choose(member_id, title_id, device, local_hour)
        self.sink.submit_decisions([decision]).result()
        return decision

    async def decide_async(self, member_id: int | str, title_id: int | str, device: str | None = None, local_hour: int | None = None) -> ArtworkDecision:
        """:meth:`decide` for an event loop: it waits for the log's commit without blocking the loop."""
        decision = self._choose(member_id, title_id, device, local_hour)
        await asyncio.wrap_future(self.sink.submit_decisions([decision]))
        return decision

    def _title(self, title_id: int | str) -> tuple[TitleVariants, tuple[Any, ...], tuple[tuple[float, ...], ...]] | None:
        """A title's variants with the tuples its decisions record, built once per title (they never change)."""
        found = self._titles.get(title_id) if type(title_id) is int or type(title_id) is str else None
        if found is None:
            try:
                v = self.variants.of(title_id)
            except UnknownIdError:
                return None
            found = (v, tuple(v.variant_ids.tolist()), tuple(map(tuple, v.features.tolist())))
            if len(self._titles) < _TITLE_CACHE:
                self._titles[title_id] = found
        return found

    def variant_ids(self, title_id: int | str) -> tuple[Any, ...]:
        """The title's variant ids (empty when it has none)."""
        found = self._title(title_id)
        return found[1] if found is not None else ()

    def choose_many(
        self, member_id: int | str, title_ids: Sequence[int | str], device: str | None = None, local_hour: int | None = None
    ) -> list[ArtworkDecision | None]:
        """One decision per title (``None`` for a title without variants), chosen in one batched
        call of the policy (:meth:`CandidatePolicy.choose_many`): a page of tiles is one model call."""
        found = [self._title(t) for t in title_ids]
        shown = [f for f in found if f is not None]
        if not shown:
            return [None] * len(found)
        if type(member_id) is not int and type(member_id) is not str:
            member_id = normalize_id(member_id, "member")
        x = context_features(device, local_hour)
        stacked = np.concatenate([f[0].features for f in shown])
        sizes = np.array([len(f[1]) for f in shown])
        with self._lock:
            index, propensity = self.policy.choose_many(x, stacked, sizes, self.rng)
        context, now, name = tuple(x.tolist()), self.clock(), self.policy.name
        made = iter(
            ArtworkDecision(
                decision_id=self.new_id(), policy=name, context=context, action=a, propensity=p, timestamp_us=now,
                member_id=member_id, title_id=f[0].title_id, variant_ids=f[1], candidates=f[2],
            )
            for f, a, p in zip(shown, index.tolist(), propensity.tolist(), strict=True)
        )  # fmt: skip
        return [next(made) if f is not None else None for f in found]

    async def decide_many_async(
        self, member_id: int | str, title_ids: Sequence[int | str], device: str | None = None, local_hour: int | None = None,
        *, wait: bool = True,
    ) -> list[ArtworkDecision | None]:
        """:meth:`choose_many`, then all the decisions logged in one transaction: a page of tiles
        costs one commit, not one per tile.

        With ``wait`` the call returns once the commit is durable (awaited without blocking the loop).
        Without, it returns once the decisions are queued to the log's one writer: a reward for one of
        them, queued later, is still written after them (the writer keeps order), but a crash before
        the commit (milliseconds) loses them; a failed commit is logged as an error."""
        decisions = self.choose_many(member_id, title_ids, device, local_hour)
        made = [d for d in decisions if d is not None]
        if made:
            future = self.sink.submit_decisions(made)
            if wait:
                await asyncio.wrap_future(future)
            else:
                future.add_done_callback(_report_failure)
        return decisions

    def attributes(self, decision: ArtworkDecision) -> dict[str, Any]:
        """The shown variant's attributes (palette, subject, text, ...)."""
        return self.variants.attributes_of(int(self.variants.of(decision.title_id).rows[decision.action]))

    def _learn(self, record: dict[str, Any], reward: float, new: bool) -> ArtworkDecision:
        decision = ArtworkDecision.from_dict(record)
        if new and self.learn:
            with self._lock:
                self.policy.update(np.asarray(decision.context), np.asarray(decision.candidates[decision.action]), reward)
        return decision

    def expire(self, decision_ids: Sequence[str], reward: float = 0.0) -> Future[list[dict[str, Any]]]:
        """Give ``reward`` (0: not clicked) to each of ``decision_ids`` that has none yet, durably, and
        learn from each such decision once it is written. Returns the log's future (the records rewarded)."""
        future = self.sink.submit_missing_rewards(decision_ids, reward, timestamp_us=self.clock())

        def learn(done: Future[list[dict[str, Any]]]) -> None:
            if done.exception() is not None:
                log.error("missing rewards were not logged", extra={"decisions": len(decision_ids), "reason": str(done.exception())})
                return
            for record in done.result():
                self._learn(record, reward, True)

        future.add_done_callback(learn)
        return future

    def feedback(self, decision_id: str, reward: float) -> tuple[ArtworkDecision, bool]:
        """Log a decision's reward durably, then (if new and ``learn``) update the policy.

        Returns:
            The decision, and False when this exact reward was logged already (nothing changed).
        Raises:
            UnknownIdError: no decision has this id.
            DataError: the decision has a different reward already.
        """
        new, record = self.sink.submit_reward(decision_id, reward, timestamp_us=self.clock()).result()
        return self._learn(record, reward, new), new

    async def feedback_async(self, decision_id: str, reward: float) -> tuple[ArtworkDecision, bool]:
        """:meth:`feedback` for an event loop."""
        new, record = await asyncio.wrap_future(self.sink.submit_reward(decision_id, reward, timestamp_us=self.clock()))
        return self._learn(record, reward, new), new


def default_log(log: str | Path | None, home: str | Path | None) -> Path:
    """The service's decision log: ``log``, or ``$MARQUEE_HOME/artwork/decisions.sqlite``."""
    from marquee import config

    return Path(log) if log is not None else config.home(home) / "artwork" / "decisions.sqlite"


def parse_candidate(spec: str, *, allow_uniform: bool = True) -> Any:
    """``uniform`` or ``NAME[:key=value,...]`` (e.g. ``epsilon_greedy:epsilon=0.05``) -> a candidate."""
    import json

    from marquee.bandit.artwork import CANDIDATE_POLICIES

    name, _, params = spec.partition(":")
    if name == "uniform" and not params and allow_uniform:
        return "uniform"
    if name not in CANDIDATE_POLICIES:
        choices = f"{'uniform or ' if allow_uniform else ''}one of {sorted(CANDIDATE_POLICIES)}"
        raise ConfigError(f"unknown policy {name!r} in {spec!r}; choose {choices}, optionally with :key=value,... (e.g. epsilon_greedy:epsilon=0.2)")
    values: dict[str, Any] = {}
    for item in filter(None, params.split(",")):
        key, eq, raw = item.partition("=")
        if not eq:
            raise ConfigError(f"candidate parameter {item!r} in {spec!r} is not key=value (e.g. {name}:l2=2.0)")
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return CANDIDATE_POLICIES[name](**values)


def build_artwork(
    catalog: Catalog,
    log_path: str | Path,
    *,
    policy: str | CandidatePolicy = "epsilon_greedy",
    variants: str | Path | None = None,
    seed: SeedLike = None,
) -> Artwork:
    """The component ``marquee serve`` runs: variants from ``variants`` (a Parquet/CSV table) or
    generated from the catalog, the policy (a name from ``CANDIDATE_POLICIES`` with default
    hyperparameters, or a configured policy), and a SQLite log at ``log_path``."""
    if isinstance(policy, str):
        if policy not in CANDIDATE_POLICIES:
            raise ConfigError(f"unknown artwork policy {policy!r}; choose one of {sorted(CANDIDATE_POLICIES)}")
        policy = CANDIDATE_POLICIES[policy]()
    table = ArtworkVariants.read(variants) if variants is not None else generate_variants(catalog)
    artwork = Artwork(table, policy, SQLiteDecisionLog(log_path), seed=seed)
    artwork.replay()
    return artwork



def evaluate_artwork(
    log: ArtworkLog,
    candidate: CandidatePolicy | str,
    estimators: Sequence[Estimator] | None = None,
    *,
    n_folds: int = 2,
    l2: float = 1.0,
    seed: int = 0,
) -> list[Comparison]:
    """Off-policy evaluation of a candidate artwork policy on the service's decision log.

    The candidate (a :class:`CandidatePolicy` config, learned from the log out of fold by
    :func:`~marquee.bandit.artwork.cross_fitted_distribution`, or ``"uniform"``) is compared with
    the logging policy's on-policy value by each estimator (default: SNIPS and DR, whose reward
    model is a cross-fitted :class:`~marquee.ope.FeatureRewardModel` on the joint
    context-variant features).
    """
    from marquee.ope import SNIPS, DoublyRobust, FeatureRewardModel, compare

    estimators = list(estimators) if estimators is not None else [SNIPS(seed=seed), DoublyRobust(seed=seed)]
    fb = log.feedback
    if isinstance(candidate, str):
        if candidate != "uniform":
            raise ConfigError(f"unknown candidate {candidate!r}; pass 'uniform' or a CandidatePolicy")
        dist = log.uniform()
    else:
        dist = cross_fitted_distribution(candidate, fb.context, log.candidates, log.mask, fb.action, fb.reward, n_folds=n_folds, seed=seed)
    reward_hat = None
    if any(e.uses_reward_model for e in estimators):
        z = joint_features(fb.context, log.candidates) * log.mask[:, :, None]
        reward_hat = FeatureRewardModel(n_folds=max(n_folds, 2), l2=l2, seed=seed).fit(fb, z).cross_fitted_
    return compare(fb, dist, estimators, reward_hat=reward_hat)
