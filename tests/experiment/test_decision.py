"""Guardrails and the decision rules, on hand-made comparisons."""

import pytest

from marquee.experiment import Comparison, Decision, Guardrail, GuardrailStatus, check_guardrail, decide, sample_ratio_test
from marquee.metrics.intervals import Interval

OK_SRM = sample_ratio_test({"c": 1000, "a": 1000, "b": 1000}, {"c": 1, "a": 1, "b": 1})


def _cmp(metric, variant, lift, low, high, p):
    return Comparison(metric, variant, "c", "fixed", 1000, 1000, 1.0, 1 + lift, Interval(lift, low, high), Interval(lift, low, high), p, p)


@pytest.mark.parametrize(
    ("low", "high", "higher_is_better", "status"),
    [
        (-0.01, 0.03, True, GuardrailStatus.PASS),  # worst case -1% is inside the 2% margin
        (-0.03, 0.01, True, GuardrailStatus.INCONCLUSIVE),
        (-0.06, -0.03, True, GuardrailStatus.HARM),
        (0.03, 0.06, False, GuardrailStatus.HARM),  # lower is better: +3%..+6% is worse than the margin
        (-0.05, 0.01, False, GuardrailStatus.PASS),
    ],
)
def test_guardrail_status(low, high, higher_is_better, status):
    result = check_guardrail(Guardrail("g", 0.02), _cmp("g", "a", (low + high) / 2, low, high, 0.5), higher_is_better=higher_is_better)
    assert result.status is status


def test_invalid_beats_everything():
    srm = sample_ratio_test({"c": 1100, "a": 900}, {"c": 1, "a": 1})
    v = decide(srm, [_cmp("m", "a", 0.1, 0.05, 0.15, 1e-6)], [], alpha=0.05)
    assert v.decision is Decision.INVALID and v.reason.startswith("sample ratio mismatch (c 55.00% (expected 50.00%)")


def test_stop_for_harm_on_a_guardrail_or_a_worse_primary():
    harm = check_guardrail(Guardrail("g", 0.02), _cmp("g", "b", -0.05, -0.07, -0.03, 1e-4))
    v = decide(OK_SRM, [_cmp("m", "a", 0.1, 0.05, 0.15, 1e-6)], [harm], alpha=0.05)
    assert v.decision is Decision.STOP_FOR_HARM and v.variant == "b"
    assert v.reason == "b: g lower by more than its 2.0% margin (-5.00% [-7.00%, -3.00%])"
    v = decide(OK_SRM, [_cmp("m", "a", -0.1, -0.15, -0.05, 1e-6)], [], alpha=0.05)
    assert v.decision is Decision.STOP_FOR_HARM and "primary m significantly worse" in v.reason
    # For a metric where lower is better, a significant drop is a win, not harm.
    assert decide(OK_SRM, [_cmp("m", "a", -0.1, -0.15, -0.05, 1e-6)], [], alpha=0.05, higher_is_better=False).decision is Decision.SHIP


def test_ship_the_best_winner_whose_guardrails_pass():
    primary = [_cmp("m", "a", 0.10, 0.05, 0.15, 1e-6), _cmp("m", "b", 0.20, 0.1, 0.3, 1e-6)]
    guard = [check_guardrail(Guardrail("g", 0.02), _cmp("g", v, 0.0, lo, 0.01, 0.9)) for v, lo in (("a", -0.01), ("b", -0.05))]
    v = decide(OK_SRM, primary, guard, alpha=0.05)
    assert v.decision is Decision.SHIP and v.variant == "a"  # b lifts more but its guardrail is not yet shown safe
    assert v.reason.startswith("a: m +10.00% [+5.00%, +15.00%], adjusted p = 1e-06; every guardrail within its margin")


def test_keep_running_says_what_is_missing():
    # A fixed-horizon test has ended when it is read: no significant result is "no detectable effect", not "keep running".
    v = decide(OK_SRM, [_cmp("m", "a", 0.01, -0.01, 0.03, 0.3)], [], alpha=0.05)
    assert v.decision is Decision.NO_DETECTABLE_EFFECT and v.reason.startswith("no variant is significantly better or worse on m (best: a +1.00%")
    assert "read once, at the planned sample size" in v.reason
    # A confidence sequence may look again.
    v = decide(OK_SRM, [_cmp("m", "a", 0.01, -0.01, 0.03, 0.3)], [], alpha=0.05, sequential=True)
    assert v.decision is Decision.KEEP_RUNNING and v.reason.startswith("no variant is significantly better on m yet (best: a +1.00%")
    guard = [check_guardrail(Guardrail("g", 0.02), _cmp("g", "a", 0.0, -0.04, 0.01, 0.9))]
    v = decide(OK_SRM, [_cmp("m", "a", 0.1, 0.05, 0.15, 1e-6)], guard, alpha=0.05, sequential=True)
    assert v.decision is Decision.KEEP_RUNNING and "a wins on m" in v.reason and "not yet shown within its 2.0% margin" in v.reason
