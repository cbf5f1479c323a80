"""Configuration poisoning (issue 10, item 1): free JSON is bounded at the edge, and one stored
experiment that cannot be read never takes the others down; it is listed, reported as the
service's failure (500 `stored_data_invalid`, never a 422), and can still be rolled back."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from experiments.store import Store, keys
from rollout.controller.runner import Runner
from rollout.settings import Settings
from tests.api.conftest import Api, experiment_body
from tests.api.test_assign_api import define
from tests.api.test_errors import assert_error

DEPTH = 200


def nested(depth: int) -> Any:
    value: Any = {"leaf": True}
    for _ in range(depth - 1):
        value = {"next": value}
    return value


def deep_json(depth: int) -> str:
    """A JSON object nested `depth` levels, built as text (no recursion to build or dump it)."""
    return '{"next":' * (depth - 1) + '{"leaf":true}' + "}" * (depth - 1)


def poisoned_document(raw_redis: redis.Redis, key: str) -> str:
    """The stored document of `key` with its second variant's config nested DEPTH deep."""
    raw = raw_redis.get(keys.experiment(key))
    assert raw is not None
    document = json.loads(raw)
    assert document["variants"][1]["config"] == {"tone": "friendly"}
    marker = '"__poison__"'
    document["variants"][1]["config"] = "__poison__"
    text = json.dumps(document)
    assert text.count(marker) == 1
    return text.replace(marker, deep_json(DEPTH))


CORRUPT = {
    "deep_config": None,  # built from the stored document by poisoned_document
    "not_json": "{not json",
    "not_an_object": "[1, 2, 3]",
    "wrong_types": json.dumps({"key": "bad", "traffic": "lots"}),
}


@pytest.fixture(params=sorted(CORRUPT))
def poisoned(
    request: pytest.FixtureRequest, admin: Api, store: Store, raw_redis: redis.Redis
) -> str:
    """Two running experiments, `good` and `bad`; `bad` then corrupted straight in Redis."""
    define(admin, "good")
    define(admin, "bad")
    kind: str = request.param
    text = poisoned_document(raw_redis, "bad") if kind == "deep_config" else CORRUPT[kind]
    raw_redis.set(keys.experiment("bad"), text)
    store.announce_change()
    return kind


def test_a_config_nested_too_deep_is_refused_naming_the_field(editor: Api) -> None:
    body = experiment_body("deep")
    body["variants"][1]["config"] = nested(DEPTH)
    error = assert_error(editor.post("/api/v1/experiments", json=body), 422, "invalid")
    assert [d["field"] for d in error["details"]] == ["variants.1.config"]
    assert "nested deeper than 32 levels" in error["details"][0]["message"]
    assert editor.get("/api/v1/experiments/deep").status_code == 404


@pytest.mark.parametrize(
    ("value", "bound"),
    [
        ({f"k{i}": i for i in range(1001)}, "more than 1000 keys"),
        ({"text": "x" * 16_385}, "longer than 16384 characters"),
        ({"list": list(range(10_001))}, "more than 10000 values"),
        ({f"k{i}": "y" * 16_000 for i in range(5)}, "larger than 65536 bytes"),
    ],
)
def test_every_bound_of_free_json_is_a_422(editor: Api, value: Any, bound: str) -> None:
    body = experiment_body("big")
    body["variants"][0]["config"] = value
    error = assert_error(editor.post("/api/v1/experiments", json=body), 422, "invalid")
    assert error["details"][0]["field"] == "variants.0.config"
    assert bound in error["details"][0]["message"]


def test_targeting_and_attributes_are_bounded_too(admin: Api, editor: Api, sdk: Api) -> None:
    body = experiment_body("deep", targeting={"plan": {"in": [nested(40)]}})
    error = assert_error(editor.post("/api/v1/experiments", json=body), 422, "invalid")
    assert error["details"][0]["field"] == "targeting"
    define(admin, "shallow")
    attributes = {"profile": nested(40)}
    answer = sdk.post("/api/v1/assign", json={"user_id": "u1", "attributes": attributes})
    error = assert_error(answer, 422, "invalid")
    assert error["details"][0]["field"] == "attributes"


def test_the_others_keep_working_beside_an_unreadable_experiment(
    poisoned: str, sdk: Api, release: Api
) -> None:
    everything = sdk.post("/api/v1/assign", json={"user_id": "u1", "track": True})
    assert everything.status_code == 200, everything.get_json()
    assert set(everything.get_json()["assignments"]) == {"good"}
    one = sdk.post("/api/v1/assign", json={"user_id": "u1", "experiments": ["good"]})
    assert one.status_code == 200
    variant = one.get_json()["assignments"]["good"]["variant"]
    event = {"event_id": "e1", "user_id": "u1", "experiment": "good", "metric": "thumbs_up",
             "value": 1}
    bad_event = {**event, "event_id": "e2", "experiment": "bad"}
    events = sdk.post("/api/v1/events", json={"events": [event, bad_event]})
    assert events.status_code == 202
    assert events.get_json()["accepted"] == 1
    assert [r["code"] for r in events.get_json()["rejected"]] == ["stored_data_invalid"]
    exposure = {"user_id": "u1", "experiment": "good", "variant": variant}
    exposures = sdk.post("/api/v1/exposures", json={"exposures": [exposure]})
    assert exposures.status_code == 202
    assert exposures.get_json()["duplicates"] == 1
    config = sdk.get("/api/v1/sdk/config")
    assert config.status_code == 200
    assert [e["key"] for e in config.get_json()["experiments"]] == ["good"]
    listed = release.get("/api/v1/experiments")
    assert listed.status_code == 200
    assert [e["key"] for e in listed.get_json()["experiments"]] == ["good"]
    assert [u["key"] for u in listed.get_json()["unreadable"]] == ["bad"]
    assert listed.get_json()["unreadable"][0]["code"] == "stored_data_invalid"


def test_reading_an_unreadable_experiment_is_the_services_failure(
    poisoned: str, sdk: Api, release: Api
) -> None:
    error = assert_error(release.get("/api/v1/experiments/bad"), 500, "stored_data_invalid")
    assert error["details"][0]["field"] == "bad"
    answer = sdk.post("/api/v1/assign", json={"user_id": "u1", "experiments": ["good", "bad"]})
    assert_error(answer, 500, "stored_data_invalid")
    assert_error(release.post("/api/v1/experiments/bad/evaluate", json={}), 500,
                 "stored_data_invalid")


@pytest.mark.parametrize("operation", ["rollback", "pause"])
def test_a_poisoned_config_can_still_be_stopped(
    admin: Api, store: Store, release: Api, sdk: Api, operation: str, raw_redis: redis.Redis
) -> None:
    define(admin, "bad")
    raw_redis.set(keys.experiment("bad"), poisoned_document(raw_redis, "bad"))
    store.announce_change()
    stopped = release.post(f"/api/v1/experiments/bad/{operation}", json={"reason": "poisoned"})
    assert stopped.status_code == 200, stopped.get_json()
    experiment = release.get("/api/v1/experiments/bad").get_json()
    assert experiment["status"] == {"rollback": "rolled_back", "pause": "paused"}[operation]
    assert experiment["variants"][1]["config"] is None
    history = release.get("/api/v1/experiments/bad/history").get_json()["history"]
    salvage = [h for h in history if h["action"] == "salvage"]
    assert [h["changes"] for h in salvage] == [{"dropped": ["variants.1.config"]}]
    answer = sdk.post("/api/v1/assign", json={"user_id": "u1", "experiments": ["bad"]})
    assert answer.status_code == 200
    assigned = answer.get_json()["assignments"]["bad"]
    assert (assigned["variant"], assigned["in_experiment"]) == ("control", False)
    assert assigned["config"] == {"tone": "neutral"}


def test_a_document_that_is_not_json_cannot_be_salvaged_and_says_so(
    admin: Api, store: Store, release: Api, raw_redis: redis.Redis
) -> None:
    define(admin, "bad")
    raw_redis.set(keys.experiment("bad"), "{not json")
    answer = release.post("/api/v1/experiments/bad/rollback", json={"reason": "corrupt"})
    error = assert_error(answer, 500, "stored_data_invalid")
    assert "cannot be salvaged" in error["message"]


def test_the_controller_goes_on_past_an_unreadable_experiment(
    poisoned: str, store: Store, redis_url: str
) -> None:
    evaluations = Runner(store, Settings.from_env({"REDIS_URL": redis_url})).tick()
    assert [e.experiment.key for e in evaluations] == ["good"]


def test_the_controller_goes_on_past_an_experiment_whose_evaluation_fails(
    admin: Api, store: Store, redis_url: str, raw_redis: redis.Redis
) -> None:
    define(admin, "broken")
    define(admin, "good")
    raw_redis.hset(keys.sufficient_stats("broken"), "users:0", "not a number")
    evaluations = Runner(store, Settings.from_env({"REDIS_URL": redis_url})).tick()
    assert [e.experiment.key for e in evaluations] == ["good"]
