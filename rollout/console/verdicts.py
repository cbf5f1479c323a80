"""A comparison's verdict in words a release manager reads at a glance.

The figures are the results document's own (experiments/analysis.py, read as the API's JSON
shows them). Whether a guardrail is breached is the document's `breached`, the very figure the
controller rolls back on (the one-sided always-valid test of the harm contrast, or of the
quantile for a quantile guardrail), so the words and the decision cannot disagree even where no
relative interval exists (a control without events, constant arms). Only the sentence is made
here; "within" reads the always-valid relative interval, as the contract words it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from experiments.guardrail_standing import guardrail_standing

Tone = Literal["good", "bad", "neutral"]


@dataclass(frozen=True)
class Verdict:
    words: str
    tone: Tone


def percent(value: float) -> str:
    """0.1 -> '10%', 0.025 -> '2.5%'."""
    return f"{value * 100:.4g}%"


def verdict_of(metric: Mapping[str, Any], comparison: Mapping[str, Any]) -> Verdict:
    if metric.get("role") == "guardrail":
        return _guardrail(metric, comparison)
    verdict = comparison.get("verdict", "inconclusive")
    if verdict == "better":
        return Verdict("better: confidently improves", "good")
    if verdict == "worse":
        return Verdict("worse: confidently harms", "bad")
    return Verdict("no clear difference yet", "neutral")


def judged_interval(
    metric: Mapping[str, Any], comparison: Mapping[str, Any]
) -> Sequence[float | None] | None:
    """The always-valid relative interval a guardrail is read on: of its quantile when it has
    one (the controller judges a quantile guardrail on it), else of its mean."""
    section = metric.get("quantile")
    if section:
        for judged in section.get("comparisons") or []:
            if judged.get("variant") == comparison.get("variant"):
                interval: Sequence[float | None] | None = judged.get("sequential_relative_ci")
                return interval
        return None
    interval = comparison.get("sequential_relative_ci")
    return interval


def _guardrail(metric: Mapping[str, Any], comparison: Mapping[str, Any]) -> Verdict:
    tolerance = float(metric.get("max_regression") or 0.0)
    allowed = f"the {percent(tolerance)} tolerance" if tolerance else "no tolerated harm"
    interval = judged_interval(metric, comparison)
    direction: Literal["increase", "decrease"] = (
        "increase" if metric.get("direction") == "increase" else "decrease"
    )
    standing = guardrail_standing(bool(comparison.get("breached")), interval, direction, tolerance)
    if standing == "breached":
        return Verdict(f"breached: harm beyond {allowed}", "bad")
    if standing == "within_tolerance":
        return Verdict(f"within {allowed}", "good")
    if interval is None:
        return Verdict("not enough data yet", "neutral")
    return Verdict(f"not yet known: could still exceed {allowed}", "neutral")
