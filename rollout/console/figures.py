"""The figures a console page shows, read the way the API reads them.

`results_of` computes what GET /api/v1/experiments/{key}/results answers (one round trip for the
definition and the sums, experiments.analysis for the statistics, the controller's own `decide`
for the decision), kept typed: the templates read the results by attribute. The timeline and
history come from the store as their routes read them; timeline entries are stored JSON, written
by whichever version of the runner evaluated, and are read as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from experiments import analysis
from experiments.decision import Decision, decide
from experiments.model import Experiment, HistoryEntry, MetricRole
from experiments.results import Results
from experiments.store import Store

TIMELINE_LIMIT = 500
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Judged:
    """An experiment's results and the decision the controller would make on them now."""

    experiment: Experiment
    results: Results
    decision: Decision


@dataclass(frozen=True)
class ExperimentFigures:
    judged: Judged
    timeline: list[dict[str, Any]]
    history: list[HistoryEntry]


def results_of(store: Store, key: str, now: float) -> Judged:
    """`key`'s results in the environment `store` acts in."""
    snapshot = store.events.snapshot(key)
    results = analysis.results(snapshot.experiment, snapshot.stats, now)
    return Judged(snapshot.experiment, results, decide(snapshot.experiment, results, now))


def figures_of(store: Store, key: str, now: float) -> ExperimentFigures:
    judged = results_of(store, key, now)
    timeline = store.controller.timeline(key, None, TIMELINE_LIMIT)
    history = store.experiments.history(key, 0, HISTORY_LIMIT)
    return ExperimentFigures(judged, timeline, history)


def primary_verdict(results: Results) -> str | None:
    """The first primary metric's verdicts, e.g. 'friendly: better'; None without one."""
    for metric in results.metrics:
        if metric.role is MetricRole.PRIMARY:
            return ", ".join(f"{c.variant}: {c.verdict}" for c in metric.comparisons)
    return None
