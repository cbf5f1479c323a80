"""The figures each chart draws, as plain data; static/console.js hands them to Chart.js.

Every number comes from the typed results or the stored timeline (JSON) unchanged: the interval
plot shows each comparison's fixed-horizon `relative_ci` and always-valid `sequential_relative_ci`
with the guardrail's tolerance on the harmful side; the timeline shows the cumulative relative
lift with its always-valid band at each evaluation, and the decisions on the same time axis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from experiments.model import Direction, MetricRole
from experiments.results import MetricResult

LIFECYCLE_ACTIONS = frozenset(
    {"start", "pause", "resume", "advance", "rollback", "conclude", "approve", "traffic"}
)


def harmful_tolerance(metric: MetricResult) -> float | None:
    """Where the tolerated harm ends on the relative axis: +10% for a metric that should
    decrease, -10% for one that should increase; None for a metric that is not a guardrail."""
    if metric.role is not MetricRole.GUARDRAIL:
        return None
    tolerance = metric.max_regression
    return tolerance if metric.direction is Direction.DECREASE else -tolerance


def interval_chart(metric: MetricResult) -> dict[str, Any]:
    comparisons = metric.comparisons
    return {
        "metric": metric.metric,
        "labels": [f"{c.variant} vs {c.baseline}" for c in comparisons],
        "fixed": [_listed(c.relative_ci) for c in comparisons],
        "always_valid": [_listed(c.sequential_relative_ci) for c in comparisons],
        "lift": [c.relative_lift for c in comparisons],
        "tolerance": harmful_tolerance(metric),
    }


def _listed(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else list(interval)


def timeline_chart(
    metric_key: str, entries: Iterable[Mapping[str, Any]], history: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    series: dict[str, list[dict[str, float | None]]] = {}
    decisions: list[dict[str, Any]] = []
    for entry in entries:
        at = float(entry["at"])
        for metric in entry.get("metrics") or []:
            if metric.get("metric") != metric_key:
                continue
            for comparison in metric.get("comparisons", []):
                band = comparison.get("sequential_relative_ci") or [None, None]
                series.setdefault(comparison["variant"], []).append(
                    {"t": at, "lift": comparison.get("relative_lift"), "low": band[0],
                     "high": band[1]}
                )
        decision = entry.get("decision") or {}
        if decision.get("applied"):
            decisions.append({"t": at, "label": f"controller: {decision['applied']}"})
    for item in history:
        if item.get("action") in LIFECYCLE_ACTIONS:
            label = f"{item['actor']}: {item['action']}"
            decisions.append({"t": float(item["at"]), "label": label})
    decisions.sort(key=lambda d: d["t"])
    return {
        "metric": metric_key,
        "series": [{"variant": v, "points": p} for v, p in series.items()],
        "decisions": decisions,
    }
