"""The call a team acts on: ship, keep running, no detectable effect, stop for harm, or invalid — with its reason.

Rules, in order:

1. **invalid** — the sample-ratio check fails: the arms are not the populations the design
   promised, so no metric can be trusted until the cause is found.
2. **stop for harm** — some variant is worse on a guardrail by more than its margin, or
   significantly worse on the primary metric (after the multiplicity correction).
3. **ship** — some variant is significantly better on the primary metric (after correction) and
   passes every guardrail; among several, the one with the largest relative lift.
4. **no detectable effect** — a fixed-horizon test with neither: it is read once, at its planned
   size, so it has ended; the reason gives its minimum detectable effect (the lift it would have
   found 80% of the time): smaller effects may exist and went undetected.
5. **keep running** — otherwise (a confidence sequence may simply look again, or a winner's
   guardrails are not yet shown safe); the reason says what is still missing.

Intervals in reasons are the ones consistent with the adjusted p-values (``relative_adjusted``),
labelled with their level where the multiplicity correction widened them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from marquee.experiment.analysis import Comparison
from marquee.experiment.guardrails import GuardrailResult, GuardrailStatus
from marquee.experiment.srm import SampleRatio

__all__ = ["Decision", "Verdict", "decide"]


class Decision(StrEnum):
    SHIP = "ship"
    KEEP_RUNNING = "keep running"
    NO_DETECTABLE_EFFECT = "no detectable effect"
    STOP_FOR_HARM = "stop for harm"
    INVALID = "invalid"


@dataclass(frozen=True)
class Verdict:
    """The decision, the variant it concerns (if any) and why."""

    decision: Decision
    reason: str
    variant: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"decision": str(self.decision), "reason": self.reason, "variant": self.variant}


def level_text(level: float) -> str:
    """``0.975`` -> ``"97.5%"``, ``0.98765`` -> ``"98.77%"``."""
    return f"{100 * level:.2f}".rstrip("0").rstrip(".") + "%"


def _lift(c: Comparison) -> str:
    """The relative lift with the interval that agrees with the adjusted p-value, labelled when corrected."""
    iv = c.relative_adjusted if c.relative_adjusted is not None else c.relative
    label = f" ({level_text(iv.level)} interval, corrected for {c.tests} tests)" if iv.level != c.relative.level else ""
    return f"{c.relative.estimate:+.2%} [{iv.low:+.2%}, {iv.high:+.2%}]{label}, adjusted p = {c.p_adjusted:.2g}"


def _detectable(primary: Sequence[Comparison], alpha: float) -> str:
    known = [c for c in primary if c.mde is not None and c.mde == c.mde]
    if not known:
        return ""
    tests = max(c.tests for c in known)
    at = f"80% power at alpha {alpha / tests:.3g}" + (f", {alpha:g} over {tests} tests" if tests > 1 else "")
    sizes = ", ".join(f"{c.variant} ±{c.mde:.2%}" for c in known) if len(known) > 1 else f"±{known[0].mde:.2%}"
    return f"; minimum detectable effect {sizes} ({at})"


def decide(
    srm: SampleRatio,
    primary: Sequence[Comparison],
    guardrails: Sequence[GuardrailResult],
    *,
    alpha: float,
    higher_is_better: bool = True,
    sequential: bool = False,
) -> Verdict:
    """Apply the rules above to the primary metric's comparisons (one per treatment) and the guardrails."""
    if srm.mismatch:
        return Verdict(
            Decision.INVALID,
            f"sample ratio mismatch ({srm.describe()} < {srm.alpha:g}): the arms are not the populations the design "
            "promised; find the cause (assignment, exposure logging, bots, crashes in one arm) before reading any metric",
        )
    sign = 1.0 if higher_is_better else -1.0
    harms = [(g.variant, g.describe()) for g in guardrails if g.status is GuardrailStatus.HARM]
    harms += [
        (c.variant, f"{c.variant}: primary {c.metric} significantly worse ({_lift(c)})")
        for c in primary
        if c.significant(alpha) and sign * c.absolute.estimate < 0
    ]
    if harms:
        variants = sorted({v for v, _ in harms})
        return Verdict(Decision.STOP_FOR_HARM, "; ".join(text for _, text in harms), variants[0] if len(variants) == 1 else None)
    winners = [c for c in primary if c.significant(alpha) and sign * c.absolute.estimate > 0]
    blocked = []
    for c in sorted(winners, key=lambda c: -sign * c.relative.estimate):
        pending = [g for g in guardrails if g.variant == c.variant and g.status is not GuardrailStatus.PASS]
        if not pending:
            checked = [g for g in guardrails if g.variant == c.variant]
            tail = f"; every guardrail within its margin ({len(checked)} checked)" if checked else ""
            return Verdict(Decision.SHIP, f"{c.variant}: {c.metric} {_lift(c)}{tail}", c.variant)
        blocked.append(f"{c.variant} wins on {c.metric} ({_lift(c)}) but " + "; ".join(g.describe() for g in pending))
    if blocked:
        return Verdict(Decision.KEEP_RUNNING, "; ".join(blocked))
    if not primary:
        return Verdict(Decision.KEEP_RUNNING, "no treatment has members yet")
    best = max(primary, key=lambda c: sign * c.relative.estimate if c.relative.estimate == c.relative.estimate else float("-inf"))
    if sequential:
        return Verdict(
            Decision.KEEP_RUNNING,
            f"no variant is significantly better on {best.metric} yet (best: {best.variant} {_lift(best)}); "
            "the confidence sequence may be checked again at any time",
        )
    return Verdict(
        Decision.NO_DETECTABLE_EFFECT,
        f"no variant is significantly better or worse on {best.metric} (best: {best.variant} {_lift(best)}){_detectable(primary, alpha)}; "
        "a fixed-horizon test is read once, at the planned sample size: a smaller effect needs a larger test, planned anew "
        "(or set sequential = true to look every day)",
    )
