"""POST /api/v1/events: per-item answers, dedupe and exposure checks, on the real app and Redis."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask import Flask

from experiments.stats.moments import Moments, RatioMoments
from experiments.store import keys
from rollout.runtime import Runtime
from tests.api.conftest import Api, experiment_body

EXP = "summary-tone"


@pytest.fixture
def running(editor: Api, release: Api) -> str:
    assert editor.post("/api/v1/experiments", json=experiment_body(EXP)).status_code == 201
    assert release.post(f"/api/v1/experiments/{EXP}/start", json={}).status_code == 200
    return EXP


def expose(sdk: Api, *users: str, experiment: str = EXP) -> None:
    for user in users:
        answer = sdk.post("/api/v1/assign", json={"user_id": user, "experiments": [experiment]})
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["assignments"][experiment]["in_experiment"]


def event(
    event_id: str, user: str, metric: str = "latency_ms", value: Any = 1.0, **extra: Any
) -> dict[str, Any]:
    return {"event_id": event_id, "user_id": user, "experiment": EXP, "metric": metric,
            "value": value, **extra}


def send(sdk: Api, *events: dict[str, Any]) -> dict[str, Any]:
    response = sdk.post("/api/v1/events", json={"events": list(events)})
    assert response.status_code == 202, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def latency(app: Flask) -> tuple[float, float]:
    """Total of the latency metric over both variants, and its sum of squares."""
    runtime: Runtime = app.extensions["rollout"]
    arms = runtime.store.events.snapshot(EXP).stats.metrics["latency_ms"]
    assert all(isinstance(a, Moments) for a in arms)
    return sum(a.total for a in arms if isinstance(a, Moments)), sum(
        a.total_sq for a in arms if isinstance(a, Moments)
    )


def test_events_are_counted_and_answered_with_202(app: Flask, sdk: Api, running: str) -> None:
    expose(sdk, "u1", "u2")
    answer = send(sdk, event("e1", "u1", value=120), event("e2", "u1", value=30),
                  event("e3", "u2", value=50))
    assert answer == {"accepted": 3, "duplicates": 0, "rejected": []}
    assert latency(app) == (200.0, 150.0**2 + 50.0**2)


def test_a_resent_batch_counts_as_duplicates(app: Flask, sdk: Api, running: str) -> None:
    expose(sdk, "u1")
    batch = [event("e1", "u1", value=3), event("e2", "u1", value=4)]
    send(sdk, *batch)
    assert send(sdk, *batch, event("e3", "u1", value=5)) == {
        "accepted": 1, "duplicates": 2, "rejected": []
    }
    assert latency(app) == (12.0, 144.0)


def test_bad_items_are_rejected_by_index_while_the_rest_counts(
    app: Flask, sdk: Api, running: str
) -> None:
    expose(sdk, "u1")
    batch = [
        event("ok-1", "u1", value=10),
        {"event_id": "no-user", "experiment": EXP, "metric": "latency_ms", "value": 1},
        event("x" * 129, "u1"),
        event("", "u1"),
        event("str", "u1", value="1"),
        event("bool", "u1", value=True),
        event("extra", "u1", colour="red"),
        {**event("unknown-exp", "u1"), "experiment": "nope"},
        event("unknown-metric", "u1", metric="clicks"),
        event("stranger", "never-assigned"),
        event("zero-denominator", "u1", metric="cost_usd", value=1, denominator=0),
        event("negative-denominator", "u1", metric="cost_usd", value=1, denominator=-2),
        event("denominator-on-mean", "u1", value=1, denominator=2),
        event("huge", "u1", value=1e16),
        event("ok-2", "u1", value=5),
    ]
    answer = send(sdk, *batch)
    assert answer["accepted"] == 2
    assert answer["duplicates"] == 0
    assert [(r["index"], r["code"]) for r in answer["rejected"]] == [
        (1, "invalid"),
        (2, "invalid"),
        (3, "invalid"),
        (4, "invalid"),
        (5, "invalid"),
        (6, "invalid"),
        (7, "unknown_experiment"),
        (8, "unknown_metric"),
        (9, "not_exposed"),
        (10, "invalid_value"),
        (11, "invalid_value"),
        (12, "invalid_value"),
        (13, "invalid_value"),
    ]
    assert "events.1.user_id" in answer["rejected"][0]["message"]
    assert all(r["message"] for r in answer["rejected"])
    assert latency(app) == (15.0, 225.0)


def test_a_body_with_non_finite_numbers_is_malformed_json(sdk: Api, running: str) -> None:
    """NaN and Infinity are not JSON: the whole body is refused, nothing is counted."""
    expose(sdk, "u1")
    for constant in ("NaN", "Infinity", "1e400"):
        body = (
            f'{{"events": [{{"event_id": "e", "user_id": "u1", "experiment": "{EXP}",'
            f' "metric": "latency_ms", "value": {constant}}}]}}'
        )
        response = sdk.post("/api/v1/events", data=body, content_type="application/json")
        assert response.status_code == 400, constant
        assert response.get_json()["error"]["code"] == "malformed"


def test_a_ratio_event_without_denominator_counts_one(app: Flask, sdk: Api, running: str) -> None:
    expose(sdk, "u1")
    send(sdk, event("a", "u1", metric="cost_usd", value=0.5),
         event("b", "u1", metric="cost_usd", value=0.25, denominator=2))
    runtime: Runtime = app.extensions["rollout"]
    arms = runtime.store.events.snapshot(EXP).stats.metrics["cost_usd"]
    pairs = sorted((a.sum_x, a.sum_y) for a in arms if isinstance(a, RatioMoments))
    assert pairs == [(0.0, 0.0), (0.75, 3.0)]


def test_an_unexposed_event_counts_when_resent_after_the_exposure(
    app: Flask, sdk: Api, running: str
) -> None:
    early = event("early", "late-user", value=7)
    assert send(sdk, early)["rejected"][0]["code"] == "not_exposed"
    expose(sdk, "late-user")
    assert send(sdk, early) == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert latency(app) == (7.0, 49.0)


def test_events_of_a_paused_experiment_still_count(
    app: Flask, sdk: Api, release: Api, running: str
) -> None:
    expose(sdk, "u1")
    assert release.post(f"/api/v1/experiments/{EXP}/pause", json={}).status_code == 200
    assert send(sdk, event("e1", "u1", value=2))["accepted"] == 1
    assert latency(app) == (2.0, 4.0)


def test_events_of_a_draft_experiment_are_rejected_as_not_running(editor: Api, sdk: Api) -> None:
    assert editor.post("/api/v1/experiments", json=experiment_body(EXP)).status_code == 201
    answer = send(sdk, event("e1", "u1"))
    assert [r["code"] for r in answer["rejected"]] == ["experiment_not_running"]


def test_events_of_a_concluded_experiment_are_rejected_as_not_running(
    sdk: Api, release: Api, running: str
) -> None:
    expose(sdk, "u1")
    concluded = release.post(f"/api/v1/experiments/{EXP}/conclude", json={"winner": "friendly"})
    assert concluded.status_code == 200
    answer = send(sdk, event("e1", "u1"))
    assert [r["code"] for r in answer["rejected"]] == ["experiment_not_running"]


def test_a_thousand_events_are_accepted_and_more_are_422(sdk: Api, running: str) -> None:
    expose(sdk, "u1")
    batch = [event(f"e{i}", "u1") for i in range(1001)]
    too_many = sdk.post("/api/v1/events", json={"events": batch})
    assert too_many.status_code == 422
    assert too_many.get_json()["error"]["details"][0]["field"] == "events"
    assert send(sdk, *batch[:1000])["accepted"] == 1000


def test_events_need_an_sdk_key(client: Any, editor: Api, running: str) -> None:
    assert editor.post("/api/v1/events", json={"events": []}).status_code == 403
    assert client.post("/api/v1/events", json={"events": []}).status_code == 401


def test_an_empty_batch_is_an_empty_answer(sdk: Api) -> None:
    assert send(sdk) == {"accepted": 0, "duplicates": 0, "rejected": []}


def test_the_dedupe_window_comes_from_the_settings(
    make_app: Callable[..., Flask],
    admin_key: str,
    editor: Api,
    release: Api,
    raw_redis: redis.Redis,
) -> None:
    app = make_app(dedupe_window_s=60)
    admin = Api(app.test_client(), admin_key)
    secret = admin.post("/api/v1/keys", json={"name": "sdk-short", "role": "sdk"}).get_json()
    sdk = Api(app.test_client(), secret["secret"])
    assert editor.post("/api/v1/experiments", json=experiment_body(EXP)).status_code == 201
    assert release.post(f"/api/v1/experiments/{EXP}/start", json={}).status_code == 200
    expose(sdk, "u1")
    send(sdk, event("e1", "u1"))
    # A window of 60 s: buckets of 8 s, each kept until its last id has had its 60 s.
    (bucket,) = raw_redis.keys(keys.event_ids_counted(EXP, 8) + "*:*")
    assert raw_redis.hexists(bucket, "e1")
    assert 50 <= raw_redis.ttl(bucket) <= 68


def test_a_worker_with_a_stale_configuration_accepts_events_of_a_just_started_experiment(
    app: Flask, make_app: Callable[..., Flask], editor: Api, release: Api, sdk: Api
) -> None:
    assert editor.post("/api/v1/experiments", json=experiment_body(EXP)).status_code == 201
    send(sdk, event("warm-up", "u0"))  # this worker now caches the experiment as a draft
    runtime: Runtime = app.extensions["rollout"]
    runtime.watcher.close()  # and hears of no change by itself any more,
    time.sleep(runtime.watcher.propagation_s)  # once its listening thread has stopped
    other = make_app()
    other_release = Api(other.test_client(), release.secret)
    assert other_release.post(f"/api/v1/experiments/{EXP}/start", json={}).status_code == 200
    expose(Api(other.test_client(), sdk.secret), "u1")
    assert send(sdk, event("e1", "u1")) == {"accepted": 1, "duplicates": 0, "rejected": []}



def test_ids_with_a_lone_surrogate_are_rejected_alone_not_a_server_error(
    sdk: Api, running: str
) -> None:
    expose(sdk, "u1")
    # json.dumps writes a lone surrogate as the escape \ud800, which JSON allows.
    body = json.dumps(
        {"events": [event("\ud800", "u1"), event("e2", "\udfff"), event("e1", "u1", value=2)]}
    )
    response = sdk.post(
        "/api/v1/events", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202
    answer = response.get_json()
    assert answer["accepted"] == 1
    assert [(r["index"], r["code"]) for r in answer["rejected"]] == [(0, "invalid"), (1, "invalid")]
