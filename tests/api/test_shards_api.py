"""`shards` through the HTTP API: set at creation, never changed, and routed by the service."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api, experiment_body, ok

EXP = "summary-tone"
SHARDS = 16


@pytest.fixture
def sharded(editor: Api, release: Api) -> str:
    ok(editor.post("/api/v1/experiments", json=experiment_body(EXP, shards=SHARDS)))
    ok(release.post(f"/api/v1/experiments/{EXP}/start", json={}))
    return EXP


def fields_of(response: Any) -> list[str]:
    return [d["field"] for d in response.get_json()["error"]["details"]]


def test_an_experiment_has_one_shard_unless_created_with_more(editor: Api) -> None:
    ok(editor.post("/api/v1/experiments", json=experiment_body("plain")))
    ok(editor.post("/api/v1/experiments", json=experiment_body("wide", shards=SHARDS)))
    assert editor.get("/api/v1/experiments/plain").get_json()["shards"] == 1
    assert editor.get("/api/v1/experiments/wide").get_json()["shards"] == SHARDS


@pytest.mark.parametrize("shards", [0, 65, "4", 2.0])
def test_a_shard_count_that_is_not_an_integer_from_1_to_64_is_refused(
    editor: Api, shards: Any
) -> None:
    response = editor.post("/api/v1/experiments", json=experiment_body(shards=shards))
    assert response.status_code == 422
    assert "shards" in fields_of(response)


def test_a_patch_cannot_change_the_shard_count(editor: Api) -> None:
    ok(editor.post("/api/v1/experiments", json=experiment_body(EXP, shards=SHARDS)))
    for shards in (4, SHARDS):
        response = editor.patch(f"/api/v1/experiments/{EXP}", json={"shards": shards})
        assert response.status_code == 422, response.get_json()
        (detail,) = response.get_json()["error"]["details"]
        assert detail["field"] == "shards"
        assert "fixed when the experiment is created" in detail["message"]
    assert editor.get(f"/api/v1/experiments/{EXP}").get_json()["shards"] == SHARDS


def test_the_openapi_document_describes_shards(client: Any) -> None:
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    created = schemas["ExperimentCreate"]["properties"]["shards"]
    assert (created["minimum"], created["maximum"], created["default"]) == (1, 64, 1)
    assert "shards" in schemas["Experiment"]["properties"]


def test_a_sharded_experiments_results_count_every_exposure_and_event_once(
    sdk: Api, editor: Api, sharded: str
) -> None:
    variant_of = {}
    for i in range(60):
        answer = ok(sdk.post("/api/v1/assign", json={"user_id": f"u{i}", "experiments": [EXP]}))
        assignment = answer.get_json()["assignments"][EXP]
        assert assignment["in_experiment"]
        variant_of[f"u{i}"] = assignment["variant"]
    local = [{"user_id": u, "experiment": EXP, "variant": v} for u, v in variant_of.items()]
    assert (
        ok(sdk.post("/api/v1/exposures", json={"exposures": local})).get_json()["duplicates"] == 60
    )
    events = [
        {
            "event_id": f"e{i}",
            "user_id": f"u{i % 60}",
            "experiment": EXP,
            "metric": "latency_ms",
            "value": i % 7,
        }
        for i in range(180)
    ]
    for _ in range(2):  # the retry of a whole batch counts nothing twice
        ok(sdk.post("/api/v1/events", json={"events": events}))
    results = ok(editor.get(f"/api/v1/experiments/{EXP}/results")).get_json()
    users = {v: list(variant_of.values()).count(v) for v in ("control", "friendly")}
    assert {v: r["users"] for v, r in results["variants"].items()} == users
    latency = next(m for m in results["metrics"] if m["metric"] == "latency_ms")
    for variant, count in users.items():
        total = sum(e["value"] for e in events if variant_of[e["user_id"]] == variant)
        assert latency["variants"][variant]["mean"] == pytest.approx(total / count, rel=1e-12)
