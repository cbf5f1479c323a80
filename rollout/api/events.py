"""Metric events from applications (`sdk`): `POST /api/v1/events`.

Each event is checked on its own (by the rules of experiments/event_rules.py) and the good ones
count whatever is wrong with the others; the answer is 202
`{"accepted", "duplicates", "rejected": [{"index", "code", "message"}]}`. Codes:

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

from typing import Any

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from experiments.event_rules import EventWrite, event_write
from experiments.model import ACTIVE_STATUSES, EventId, Key, Role, UnitId
from experiments.store.events import Outcome
from rollout.api.batches import BatchAnswer, validate_items
from rollout.api.routing import environment, environment_store, route, runtime
from rollout.config.live import Snapshot
from rollout.errors import unreadable
from rollout.metrics import EVENTS

blueprint = Blueprint("events", __name__, url_prefix="/api/v1")

MAX_EVENTS = 1000


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
    snapshot = rt.live.snapshot(environment().name)
    if any(_stale_suspect(snapshot, item) for _, item in valid):
        rt.watcher.refresh()
        snapshot = rt.live.snapshot(environment().name)
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
    outcomes = environment_store().events.ingest(writes, rt.settings.dedupe_window_s)
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


def _count(answer: BatchAnswer) -> None:
    if answer.accepted:
        EVENTS.labels("accepted").inc(answer.accepted)
    if answer.duplicates:
        EVENTS.labels("duplicate").inc(answer.duplicates)
    for rejection in answer.rejected:
        EVENTS.labels(rejection.code).inc()
