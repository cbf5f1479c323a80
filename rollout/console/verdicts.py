"""A comparison's verdict in words a release manager reads at a glance.

The figures are the results document's own (experiments/analysis.py); whether a guardrail is
breached is asked of the same `harm_exceeds` the controller uses, so the words and the decision
cannot disagree. Only the sentence is made here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from experiments.stats.sequential import harm_exceeds

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


def _guardrail(metric: Mapping[str, Any], comparison: Mapping[str, Any]) -> Verdict:
    tolerance = float(metric.get("max_regression") or 0.0)
    direction = str(metric.get("direction", "decrease"))
    allowed = f"the {percent(tolerance)} tolerance" if tolerance else "no tolerated harm"
    interval = comparison.get("sequential_relative_ci")
    if interval is None:
        if comparison.get("verdict") == "worse":
            return Verdict("breached: confidently harms (relative change unbounded)", "bad")
        return Verdict("not enough data yet", "neutral")
    low, high = float(interval[0]), float(interval[1])
    if harm_exceeds((low, high), direction, tolerance):  # type: ignore[arg-type]
        return Verdict(f"breached: harm beyond {allowed}", "bad")
    harm_bound = high if direction == "decrease" else -low
    if harm_bound <= tolerance:
        return Verdict(f"within {allowed}", "good")
    return Verdict(f"not yet known: could still exceed {allowed}", "neutral")
