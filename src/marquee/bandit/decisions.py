"""Every choice logged with its propensity: decision records, the sink interface, an in-memory double.

A :class:`Decider` wraps a policy: ``decide`` chooses, stamps each choice with an id and a time
and appends it to a :class:`DecisionSink` *before* returning it; ``feedback`` appends the reward
and updates the policy online. The log a sink holds becomes :class:`~marquee.data.LoggedFeedback`
for off-policy evaluation. A durable sink (for the service) implements the same two methods.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from marquee.bandit.base import Policy, as_contexts
from marquee.data.feedback import LoggedFeedback
from marquee.errors import DataError, UnknownIdError
from marquee.random import SeedLike, as_generator

__all__ = ["Decider", "Decision", "DecisionSink", "InMemoryDecisionLog"]


@dataclass(frozen=True)
class Decision:
    """One logged choice.

    Attributes:
        decision_id: unique id, quoted back with the reward.
        policy: name of the policy that chose.
        context: the (d,) features it chose on.
        action: the chosen action.
        propensity: the probability the policy gave that action, in (0, 1].
        timestamp_us: when (unix microseconds).
        position: the slot it was shown in.
    """

    decision_id: str
    policy: str
    context: tuple[float, ...]
    action: int
    propensity: float
    timestamp_us: int
    position: int = 0


@runtime_checkable
class DecisionSink(Protocol):
    """Where decisions and rewards are appended. Implementations must not lose an appended record."""

    def append_decisions(self, decisions: Sequence[Decision]) -> None: ...

    def append_reward(self, decision_id: str, reward: float) -> None: ...


class InMemoryDecisionLog:
    """A :class:`DecisionSink` in memory, for tests and simulations."""

    def __init__(self) -> None:
        self.decisions: list[Decision] = []
        self.rewards: dict[str, float] = {}
        self._ids: set[str] = set()

    def append_decisions(self, decisions: Sequence[Decision]) -> None:
        for d in decisions:
            if d.decision_id in self._ids:
                raise DataError(f"decision id {d.decision_id!r} was logged already; ids must be unique")
            self._ids.add(d.decision_id)
        self.decisions.extend(decisions)

    def append_reward(self, decision_id: str, reward: float) -> None:
        if decision_id not in self._ids:
            raise UnknownIdError(f"unknown decision id {decision_id!r}; rewards must quote an id returned by decide()")
        self.rewards[decision_id] = float(reward)

    def __len__(self) -> int:
        return len(self.decisions)

    def to_feedback(self, n_actions: int, *, missing_reward: float | None = 0.0) -> LoggedFeedback:
        """The log as :class:`LoggedFeedback`.

        Args:
            n_actions: the policy's number of actions.
            missing_reward: reward of a decision without feedback (0: no click), or ``None`` to drop it.
        """
        rows = [d for d in self.decisions if missing_reward is not None or d.decision_id in self.rewards]
        if not rows:
            raise DataError("the decision log has no rows with rewards yet")
        policies = sorted({d.policy for d in rows})
        return LoggedFeedback(
            context=np.array([d.context for d in rows], dtype=np.float64).reshape(len(rows), -1),
            action=np.array([d.action for d in rows]),
            reward=np.array([self.rewards.get(d.decision_id, missing_reward) for d in rows], dtype=np.float64),
            propensity=np.array([d.propensity for d in rows]),
            position=np.array([d.position for d in rows]),
            timestamp=np.array([d.timestamp_us for d in rows]),
            n_actions=n_actions,
            policy="+".join(policies),
            source="decision log",
        )


class Decider:
    """Chooses with a policy and logs every choice, with its propensity, before returning it.

    Args:
        policy: the policy that chooses (and learns online from ``feedback``).
        sink: where decisions and rewards are appended.
        seed: the choices' randomness.
        clock: unix microseconds now (injectable for tests).
        new_id: makes decision ids.
        learn: update the policy on feedback.
        max_pending: decisions remembered for their feedback (oldest forgotten first).
    """

    def __init__(
        self,
        policy: Policy,
        sink: DecisionSink,
        *,
        seed: SeedLike = None,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        learn: bool = True,
        max_pending: int = 100_000,
    ) -> None:
        self.policy, self.sink, self.clock, self.new_id, self.learn = policy, sink, clock, new_id, learn
        self.rng = as_generator(seed)
        self.max_pending = max_pending
        self._pending: OrderedDict[str, tuple[np.ndarray, int]] = OrderedDict()

    def decide(self, context: Any) -> list[Decision]:
        """Choose for each of the (n, d) contexts; every decision is in the sink when this returns."""
        x = as_contexts(context)
        chosen = self.policy.choose(x, self.rng)
        now = self.clock()
        out = [
            Decision(self.new_id(), self.policy.name, tuple(map(float, x[i])), int(chosen.action[i]), float(chosen.propensity[i]), now)
            for i in range(x.shape[0])
        ]
        self.sink.append_decisions(out)
        for d, row in zip(out, x, strict=True):
            self._pending[d.decision_id] = (row, d.action)
        while len(self._pending) > self.max_pending:
            self._pending.popitem(last=False)
        return out

    def feedback(self, decision_id: str, reward: float) -> None:
        """Log the reward of a decision and (if ``learn``) update the policy with it."""
        self.sink.append_reward(decision_id, reward)
        pending = self._pending.pop(decision_id, None)
        if self.learn and pending is not None:
            self.policy.update(pending[0][None, :], [pending[1]], [reward])
