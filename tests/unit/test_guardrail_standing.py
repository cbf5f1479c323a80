"""A guardrail's standing: breached, within tolerance, or not yet known."""

from __future__ import annotations

from experiments.guardrail_standing import guardrail_standing


def test_the_controllers_breach_decides_whatever_the_interval() -> None:
    assert guardrail_standing(True, None, "decrease", 0.1) == "breached"
    assert guardrail_standing(True, (-0.5, 0.01), "decrease", 0.1) == "breached"


def test_an_interval_wholly_short_of_the_tolerance_is_within_it() -> None:
    assert guardrail_standing(False, (-0.014, 0.012), "decrease", 0.10) == "within_tolerance"
    assert guardrail_standing(False, (-0.05, 0.2), "increase", 0.10) == "within_tolerance"


def test_an_interval_reaching_past_the_tolerance_is_inconclusive() -> None:
    assert guardrail_standing(False, (-0.014, 0.12), "decrease", 0.10) == "inconclusive"
    assert guardrail_standing(False, (-0.2, 0.05), "increase", 0.10) == "inconclusive"


def test_no_interval_or_an_unbounded_harmful_end_is_inconclusive() -> None:
    assert guardrail_standing(False, None, "decrease", 0.1) == "inconclusive"
    assert guardrail_standing(False, (0.0, None), "decrease", 0.1) == "inconclusive"
    assert guardrail_standing(False, (None, 0.3), "increase", 0.1) == "inconclusive"
