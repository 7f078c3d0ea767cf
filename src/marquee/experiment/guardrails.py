"""Guardrail metrics: a variant may ship only if it is shown not to hurt them by more than a margin.

A guardrail is a non-inferiority test on the relative lift: with margin ``δ`` (e.g. 0.02, "at
most 2% worse"), the null hypothesis is *the variant is worse by δ or more*. Marquee reads it off
the comparison's two-sided ``1 - α`` interval (fixed-horizon or confidence sequence), i.e. a
one-sided test at ``α/2`` — the convention of ICH E9 for non-inferiority:

* **pass**: the whole interval lies on the good side of ``-δ`` (non-inferiority shown);
* **harm**: the whole interval lies beyond ``-δ`` (the variant is worse by more than the margin);
* **inconclusive**: otherwise — more data needed.

A variant ships only if *every* guardrail passes. That rule is an intersection-union test
(Berger, Technometrics 1982), whose error rate is at most ``α`` without any multiplicity
correction, so guardrails are left out of the correction applied to success metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from marquee.experiment import _checks
from marquee.experiment.analysis import Comparison

__all__ = ["Guardrail", "GuardrailResult", "GuardrailStatus", "check_guardrail"]


@dataclass(frozen=True)
class Guardrail:
    """Metric ``metric`` may get worse by at most ``margin`` (relative: 0.02 = 2%).

    Which direction is "worse" is the metric's ``higher_is_better``.
    """

    metric: str
    margin: float

    def __post_init__(self) -> None:
        _checks.name(self.metric, "Guardrail", "metric")
        _checks.require(_checks.is_number(self.margin) and 0 <= self.margin < 1, f"Guardrail({self.metric!r})", "margin",
                        "a relative margin in [0, 1), e.g. 0.02 for 'at most 2% worse'", self.margin)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "margin": self.margin}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Guardrail:
        _checks.known_keys(data, {"metric", "margin"}, "guardrail")
        return cls(data.get("metric"), data.get("margin"))  # type: ignore[arg-type]


class GuardrailStatus(StrEnum):
    PASS = "pass"
    HARM = "harm"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class GuardrailResult:
    """A guardrail's verdict for one variant, with the interval it was read from."""

    metric: str
    variant: str
    margin: float
    higher_is_better: bool
    estimate: float
    low: float
    high: float
    status: GuardrailStatus

    def describe(self) -> str:
        worse = "lower" if self.higher_is_better else "higher"
        what = {
            GuardrailStatus.PASS: f"within its {self.margin:.1%} margin",
            GuardrailStatus.HARM: f"{worse} by more than its {self.margin:.1%} margin",
            GuardrailStatus.INCONCLUSIVE: f"not yet shown within its {self.margin:.1%} margin",
        }[self.status]
        return f"{self.variant}: {self.metric} {what} ({self.estimate:+.2%} [{self.low:+.2%}, {self.high:+.2%}])"

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self)) | {"status": str(self.status)}


def check_guardrail(guardrail: Guardrail, comparison: Comparison, *, higher_is_better: bool = True) -> GuardrailResult:
    """Read a guardrail's status off a comparison's relative-lift interval."""
    iv = comparison.relative
    # Express everything so that "worse" is negative.
    sign = 1.0 if higher_is_better else -1.0
    low, high = sorted((sign * iv.low, sign * iv.high))
    if low > -guardrail.margin:
        status = GuardrailStatus.PASS
    elif high < -guardrail.margin:
        status = GuardrailStatus.HARM
    else:
        status = GuardrailStatus.INCONCLUSIVE
    return GuardrailResult(guardrail.metric, comparison.variant, guardrail.margin, higher_is_better, iv.estimate, iv.low, iv.high, status)
