"""Which metric events count, and what each one writes; pure.

An event counts for an experiment that is running or paused (a draft has no exposures yet; an
ended experiment's figures are final), for one of its metrics, with a finite value no larger
than MAX_MAGNITUDE in size, and a denominator only on a ratio metric, > 0. Whether the user was
exposed, and whether the event id was already counted within the dedupe window, only the store
can tell (experiments/store/events.py). The HTTP edge (rollout/api/events.py) and the OTLP edge
(rollout/api/traces.py) both judge events here.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

from experiments.model import ACTIVE_STATUSES, Experiment, Metric, MetricType

MAX_MAGNITUDE = 1e15
"""Larger values are refused: squares of per-user sums of such values stay finite in doubles."""

DEFAULT_DEDUPE_WINDOW_S = 7 * 86400
"""How long an event id is remembered as counted (`ROLLOUT_DEDUPE_WINDOW_S`)."""


class MetricEvent(Protocol):
    """An event as the edge validated it: well-formed, not yet judged against the experiment."""

    @property
    def event_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def experiment(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def value(self) -> float: ...
    @property
    def denominator(self) -> float | None: ...


class EventWrite(NamedTuple):
    """One event that counts: the experiment, metric and value have been checked.

    A named tuple rather than a frozen dataclass: it is built once per event on the hot path,
    and a frozen dataclass costs several times as much to construct."""

    experiment: str
    user_id: str
    event_id: str
    metric: str
    metric_type: MetricType
    value: float
    denominator: float = 1.0
    cap: float | None = None
    """The metric's cap on each user's total (`Metric.cap`), applied by the store's script."""
    sketched: bool = False
    """Whether the store counts the value in the metric's quantile sketch (`Metric.quantile`)."""
    shards: int = 1
    """The experiment's `shards`: the store counts the event in its user's shard."""
    covariate: int | None = None
    """The position of the metric's covariate among the exposure's (CUPED), None without one."""


class Rejection(NamedTuple):
    """Why an event does not count: a stable `code` and a message for people."""

    code: str
    message: str


def event_write(experiment: Experiment | None, event: MetricEvent) -> EventWrite | Rejection:
    """The write for an event of `experiment` (None: no such experiment), or why it is refused."""
    if experiment is None:
        return Rejection("unknown_experiment", f"unknown experiment {event.experiment!r}")
    if experiment.status not in ACTIVE_STATUSES:
        return Rejection(
            "experiment_not_running",
            f"experiment {event.experiment!r} is {experiment.status.value}: events count only"
            " while it is running or paused",
        )
    metric = experiment.metric(event.metric)
    if metric is None:
        return Rejection(
            "unknown_metric", f"experiment {event.experiment!r} has no metric {event.metric!r}"
        )
    if not _bounded(event.value):
        return Rejection(
            "invalid_value", f"value must be a finite number of size <= {MAX_MAGNITUDE:g}"
        )
    denominator = 1.0
    if event.denominator is not None:
        if metric.type is not MetricType.RATIO:
            return Rejection(
                "invalid_value",
                f"denominator applies to ratio metrics; {metric.key!r} is {metric.type.value}",
            )
        if not (_bounded(event.denominator) and event.denominator > 0):
            return Rejection(
                "invalid_value", f"denominator must be > 0 and <= {MAX_MAGNITUDE:g}"
            )
        denominator = event.denominator
    return EventWrite(
        experiment=experiment.key,
        user_id=event.user_id,
        event_id=event.event_id,
        metric=metric.key,
        metric_type=metric.type,
        value=event.value,
        denominator=denominator,
        cap=metric.cap,
        sketched=metric.quantile is not None,
        shards=experiment.shards,
        covariate=_covariate_position(experiment, metric),
    )


def _covariate_position(experiment: Experiment, metric: Metric) -> int | None:
    """Where the metric's covariate sits among the values an exposure stores (CUPED)."""
    if metric.covariate is None or metric.type is MetricType.RATIO:
        return None
    return experiment.covariate_names().index(metric.covariate)


def _bounded(value: float) -> bool:
    return math.isfinite(value) and abs(value) <= MAX_MAGNITUDE
