"""Regressions: a write that touches two experiments (two slots, here on two masters) works on a
Redis Cluster. redis-py refuses EVALSHA in a cluster pipeline, so each of these answered 500."""

from __future__ import annotations

from typing import Any

from experiments.model import MetricType
from experiments.store import Store
from experiments.store.events import EventWrite, Outcome
from experiments.store.exposures import ExposureWrite
from tests.api.conftest import Api, experiment_body

# Hash tags {exp:alpha} and {exp:beta} fall in slots that three masters hold apart.
FIRST, SECOND = "alpha", "beta"


def test_the_two_experiments_live_on_different_masters(store: Store) -> None:
    first = store.redis.get_node_from_key(f"rollout:{{exp:{FIRST}}}:exposures")
    second = store.redis.get_node_from_key(f"rollout:{{exp:{SECOND}}}:exposures")
    assert first.name != second.name


def start(editor: Api, release: Api, key: str) -> None:
    created = editor.post("/api/v1/experiments", json=experiment_body(key))
    assert created.status_code == 201, created.get_json()
    started = release.post(f"/api/v1/experiments/{key}/start")
    assert started.status_code == 200, started.get_json()


def test_a_tracked_assign_into_two_experiments_records_both(
    editor: Api, release: Api, sdk: Api, store: Store
) -> None:
    start(editor, release, FIRST)
    start(editor, release, SECOND)
    response = sdk.post(
        "/api/v1/assign", json={"user_id": "u1", "experiments": [FIRST, SECOND], "track": True}
    )
    assert response.status_code == 200, response.get_json()
    assignments = response.get_json()["assignments"]
    assert all(assignments[key]["in_experiment"] for key in (FIRST, SECOND))
    assert store.exposures.variant_of(FIRST, "u1") is not None
    assert store.exposures.variant_of(SECOND, "u1") is not None


def event(index: int, experiment: str) -> dict[str, Any]:
    return {
        "event_id": f"e-{experiment}-{index}",
        "user_id": "u1",
        "experiment": experiment,
        "metric": "thumbs_up",
        "value": 1,
    }


def test_an_events_batch_across_two_experiments_counts_in_both(
    editor: Api, release: Api, sdk: Api
) -> None:
    start(editor, release, FIRST)
    start(editor, release, SECOND)
    assigned = sdk.post("/api/v1/assign", json={"user_id": "u1", "experiments": [FIRST, SECOND]})
    assert assigned.status_code == 200, assigned.get_json()
    batch = [event(i, key) for key in (FIRST, SECOND) for i in range(3)]
    response = sdk.post("/api/v1/events", json={"events": batch})
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {"accepted": 6, "duplicates": 0, "rejected": []}
    again = sdk.post("/api/v1/events", json={"events": batch})
    assert again.get_json() == {"accepted": 0, "duplicates": 6, "rejected": []}


def test_an_exposure_batch_across_two_experiments_is_recorded(
    editor: Api, release: Api, sdk: Api, store: Store
) -> None:
    start(editor, release, FIRST)
    start(editor, release, SECOND)
    exposures = []
    for key in (FIRST, SECOND):
        assigned = sdk.post(
            "/api/v1/assign", json={"user_id": "u2", "experiments": [key], "track": False}
        )
        assert assigned.status_code == 200, assigned.get_json()
        variant = assigned.get_json()["assignments"][key]["variant"]
        exposures.append({"user_id": "u2", "experiment": key, "variant": variant})
    response = sdk.post("/api/v1/exposures", json={"exposures": exposures})
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["accepted"] == 2
    assert store.exposures.variant_of(FIRST, "u2") is not None
    assert store.exposures.variant_of(SECOND, "u2") is not None


def test_a_batch_reloads_its_script_on_every_master_after_a_flush(store: Store) -> None:
    writes = [ExposureWrite(FIRST, "u1", 0), ExposureWrite(SECOND, "u1", 1)]
    assert [r.recorded_now for r in store.exposures.record(writes, now=100.0)] == [True, True]
    store.redis.script_flush()
    events = [
        EventWrite(key, "u1", f"e-{key}", "thumbs_up", MetricType.BINARY, 1.0)
        for key in (FIRST, SECOND)
    ]
    assert store.events.ingest(events) == [Outcome.ACCEPTED, Outcome.ACCEPTED]
