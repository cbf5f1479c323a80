"""Metric events from applications (`sdk`): `POST /api/v1/events`.

Each event is checked on its own and the good ones count whatever is wrong with the others; the
answer is 202 `{"accepted", "duplicates", "rejected": [{"index", "code", "message"}]}`. Codes:

- `invalid`: a field is missing or malformed (`event_id` 1 to 128 characters, `value` a number);
- `unknown_experiment`, `unknown_metric`: not defined (the metric not in that experiment);
- `experiment_not_running`: a draft (no exposures yet) or an ended experiment (its figures are
  final); a paused experiment still counts events of users exposed before the pause;
- `invalid_value`: `value` or `denominator` beyond 1e15 in size, a `denominator` not > 0, or
  a `denominator` on a metric that is not a ratio (NaN and Infinity are not JSON: a body with
  them is refused whole as malformed, 400);
- `stored_data_invalid`: the experiment is stored but cannot be read (the service's fault; the
  other events of the batch still count);
- `not_exposed`: the user has no recorded exposure to the experiment. The event id is not
  consumed, so the event counts when sent again after its exposure.

More than 1000 events in one request is a 422 naming `events` (as for exposures): the request
is well-formed JSON, one of its fields is out of bounds. Experiments and metrics are looked up
in the worker's cached configuration; only when one is missing or not running is the cache
refreshed first, so a just-started experiment is not rejected for a second.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from experiments.model import (
    ACTIVE_STATUSES,
    EventId,
    Experiment,
    Key,
    MetricType,
    Role,
    UnitId,
)
from experiments.store.events import EventWrite, Outcome
from rollout.api.batches import BatchAnswer, validate_items
from rollout.api.routing import route, runtime
from rollout.errors import unreadable
from rollout.live_config import Snapshot
from rollout.observability import EVENTS

blueprint = Blueprint("events", __name__, url_prefix="/api/v1")

MAX_EVENTS = 1000
MAX_MAGNITUDE = 1e15
"""Larger values are refused: squares of per-user sums of such values stay finite in doubles."""


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: EventId
    user_id: UnitId
    experiment: Key
    metric: Key
    value: float = Field(strict=True, description="binary: > 0 is a success")
    denominator: float | None = Field(
        default=None, strict=True, description="ratio metrics only, > 0; default 1 an event"
    )


class EventsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[dict[str, Any]] = Field(
        max_length=MAX_EVENTS, description="up to 1000 objects of the Event schema"
    )


@route(
    blueprint, "/events", "POST", summary="Record metric events (each event id counted once)",
    roles=[Role.SDK], body=EventsRequest, response=BatchAnswer, status=202,
)
def record_events(body: EventsRequest) -> Any:
    rt = runtime()
    answer = BatchAnswer()
    valid = [
        (index, item)
        for index, item in validate_items(Event, body.events, "events", answer)
        if isinstance(item, Event)
    ]
    snapshot = rt.live.snapshot()
    if any(_stale_suspect(snapshot, item) for _, item in valid):
        rt.watcher.refresh()
        snapshot = rt.live.snapshot()
    writes: list[EventWrite] = []
    positions: list[int] = []
    for index, item in valid:
        experiment = snapshot.experiments.get(item.experiment)
        write = (
            unreadable(item.experiment)
            if item.experiment in snapshot.unreadable
            else event_write(experiment, item)
        )
        if isinstance(write, EventWrite):
            writes.append(write)
            positions.append(index)
        else:
            answer.reject(index, *write)
    outcomes = rt.store.events.ingest(writes, rt.settings.dedupe_window_s)
    for index, write, outcome in zip(positions, writes, outcomes, strict=True):
        if outcome is Outcome.ACCEPTED:
            answer.accepted += 1
        elif outcome is Outcome.DUPLICATE:
            answer.duplicates += 1
        else:
            answer.reject(
                index,
                "not_exposed",
                f"user {write.user_id!r} has no recorded exposure to experiment"
                f" {write.experiment!r}; send the event again after the exposure",
            )
    answer.rejected.sort(key=lambda r: r.index)
    _count(answer)
    return answer.model_dump(), 202


def _stale_suspect(snapshot: Snapshot, event: Event) -> bool:
    experiment = snapshot.experiments.get(event.experiment)
    return experiment is None or experiment.status not in ACTIVE_STATUSES


def event_write(experiment: Experiment | None, event: Event) -> EventWrite | tuple[str, str]:
    """The write for a valid event, or the (code, message) it is rejected with."""
    if experiment is None:
        return "unknown_experiment", f"unknown experiment {event.experiment!r}"
    if experiment.status not in ACTIVE_STATUSES:
        return (
            "experiment_not_running",
            f"experiment {event.experiment!r} is {experiment.status.value}: events count only"
            " while it is running or paused",
        )
    metric = experiment.metric(event.metric)
    if metric is None:
        return (
            "unknown_metric",
            f"experiment {event.experiment!r} has no metric {event.metric!r}",
        )
    if not _bounded(event.value):
        return "invalid_value", f"value must be a finite number of size <= {MAX_MAGNITUDE:g}"
    denominator = 1.0
    if event.denominator is not None:
        if metric.type is not MetricType.RATIO:
            return (
                "invalid_value",
                f"denominator applies to ratio metrics; {metric.key!r} is {metric.type.value}",
            )
        if not (_bounded(event.denominator) and event.denominator > 0):
            return "invalid_value", f"denominator must be > 0 and <= {MAX_MAGNITUDE:g}"
        denominator = event.denominator
    return EventWrite(
        experiment=experiment.key,
        user_id=event.user_id,
        event_id=event.event_id,
        metric=metric.key,
        metric_type=metric.type,
        value=event.value,
        denominator=denominator,
    )


def _bounded(value: float) -> bool:
    return math.isfinite(value) and abs(value) <= MAX_MAGNITUDE


def _count(answer: BatchAnswer) -> None:
    if answer.accepted:
        EVENTS.labels("accepted").inc(answer.accepted)
    if answer.duplicates:
        EVENTS.labels("duplicate").inc(answer.duplicates)
    for rejection in answer.rejected:
        EVENTS.labels(rejection.code).inc()
