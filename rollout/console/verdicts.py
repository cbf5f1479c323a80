"""A comparison's verdict in words a release manager reads at a glance.

The figures are the typed results' own (experiments/results.py). Whether a guardrail is breached
is the results' `breached`, the very figure the controller rolls back on (the one-sided
always-valid test of the harm contrast, or of the quantile for a quantile guardrail), so the
words and the decision cannot disagree even where no relative interval exists (a control without
events, constant arms). Only the sentence is made here; "within" reads the always-valid relative
interval, as the contract words it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from experiments.guardrail_standing import guardrail_standing
from experiments.model import Direction, MetricRole
from experiments.results import Bounds, Comparison, Interval, MetricResult

Tone = Literal["good", "bad", "neutral"]


@dataclass(frozen=True)
class Verdict:
    words: str
    tone: Tone


def percent(value: float) -> str:
    """0.1 -> '10%', 0.025 -> '2.5%'."""
    return f"{value * 100:.4g}%"


def verdict_of(metric: MetricResult, comparison: Comparison) -> Verdict:
    if metric.role is MetricRole.GUARDRAIL:
        return _guardrail(metric, comparison)
    if comparison.verdict == "better":
        return Verdict("better: confidently improves", "good")
    if comparison.verdict == "worse":
        return Verdict("worse: confidently harms", "bad")
    return Verdict("no clear difference yet", "neutral")


def judged_interval(metric: MetricResult, comparison: Comparison) -> Bounds | Interval | None:
    """The always-valid relative interval a guardrail is read on: of its quantile when it has
    one (the controller judges a quantile guardrail on it), else of its mean."""
    if metric.quantile is not None:
        judged = metric.quantile_comparison(comparison.variant)
        return None if judged is None else judged.sequential_relative_ci
    return comparison.sequential_relative_ci


def _guardrail(metric: MetricResult, comparison: Comparison) -> Verdict:
    tolerance = metric.max_regression
    allowed = f"the {percent(tolerance)} tolerance" if tolerance else "no tolerated harm"
    interval = judged_interval(metric, comparison)
    direction: Literal["increase", "decrease"] = (
        "increase" if metric.direction is Direction.INCREASE else "decrease"
    )
    standing = guardrail_standing(bool(comparison.breached), interval, direction, tolerance)
    if standing == "breached":
        return Verdict(f"breached: harm beyond {allowed}", "bad")
    if standing == "within_tolerance":
        return Verdict(f"within {allowed}", "good")
    if interval is None:
        return Verdict("not enough data yet", "neutral")
    return Verdict(f"not yet known: could still exceed {allowed}", "neutral")
