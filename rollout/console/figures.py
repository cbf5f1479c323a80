"""The figures a console page shows, read the way the API reads them.

`results_of` is what GET /api/v1/experiments/{key}/results answers (one round trip for the
definition and the sums, experiments.analysis for the statistics, the controller's own `decide`
for the decision); the timeline and history come from the store as their routes read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from experiments import analysis
from experiments.decision import decide
from experiments.model import Experiment, HistoryEntry
from rollout.runtime import Runtime

TIMELINE_LIMIT = 500
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class ExperimentFigures:
    experiment: Experiment
    results: dict[str, Any]
    timeline: list[dict[str, Any]]
    history: list[HistoryEntry]


def results_of(rt: Runtime, key: str) -> tuple[Experiment, dict[str, Any]]:
    now = rt.now()
    snapshot = rt.store.events.snapshot(key)
    document = analysis.results(snapshot.experiment, snapshot.stats, now)
    document["decision"] = decide(snapshot.experiment, document, now).as_dict()
    return snapshot.experiment, document


def figures_of(rt: Runtime, key: str) -> ExperimentFigures:
    experiment, results = results_of(rt, key)
    timeline = rt.store.controller.timeline(key, None, TIMELINE_LIMIT)
    history = rt.store.experiments.history(key, 0, HISTORY_LIMIT)
    return ExperimentFigures(experiment, results, timeline, history)


def primary_verdict(results: dict[str, Any]) -> str | None:
    """The first primary metric's verdicts, e.g. 'friendly: better'; None without one."""
    for metric in results.get("metrics", []):
        if metric.get("role") == "primary":
            return ", ".join(f"{c['variant']}: {c['verdict']}" for c in metric["comparisons"])
    return None
