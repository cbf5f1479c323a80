"""Every time in a JSON answer is Unix seconds with an RFC 3339 UTC string beside it
(`<name>_rfc3339`), and the OpenAPI document says which is which."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.api.conftest import Api, Clock, experiment_body, ok
from tests.conftest import ADMIN_KEY

CREATED = "2025-06-15T15:06:40.000Z"
"""The test clock's start, 1_750_000_000 s, as RFC 3339."""
AN_HOUR_LATER = "2025-06-15T16:06:40.000Z"


def test_an_experiment_carries_each_time_as_a_number_and_as_rfc3339(
    admin: Api, clock: Clock
) -> None:
    created = ok(admin.post("/api/v1/experiments", json=experiment_body())).get_json()
    assert (created["created_at"], created["created_at_rfc3339"]) == (clock.now, CREATED)
    assert (created["started_at"], created["started_at_rfc3339"]) == (None, None)
    clock.advance(3600)
    started = ok(admin.post("/api/v1/experiments/summary-tone/start", json={})).get_json()
    experiment = started["experiment"]
    assert experiment["started_at_rfc3339"] == AN_HOUR_LATER
    assert experiment["updated_at_rfc3339"] == AN_HOUR_LATER
    assert experiment["created_at_rfc3339"] == CREATED
    listed = ok(admin.get("/api/v1/experiments")).get_json()["experiments"]
    assert listed[0]["started_at_rfc3339"] == AN_HOUR_LATER


def test_history_entries_and_pending_changes_carry_rfc3339(
    make_app: Any, clock: Clock
) -> None:
    client = make_app(require_review=True).test_client()
    admin = Api(client, ADMIN_KEY)
    ok(admin.post("/api/v1/experiments", json=experiment_body()))
    proposed = admin.post("/api/v1/experiments/summary-tone/start", json={})
    assert proposed.status_code == 202, proposed.get_json()
    assert proposed.get_json()["pending"]["proposed_at_rfc3339"] == CREATED
    history = ok(admin.get("/api/v1/experiments/summary-tone/history")).get_json()["history"]
    assert [e["at_rfc3339"] for e in history] == [CREATED, CREATED]


def test_prompt_versions_history_and_label_proposals_carry_rfc3339(
    make_app: Any, clock: Clock
) -> None:
    client = make_app(require_review=True).test_client()
    admin = Api(client, ADMIN_KEY)
    body = {"template": "Summarize {{ text }}", "model": "gpt-4o-mini"}
    created = admin.post("/api/v1/prompts/summarize/versions", json=body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["created_at_rfc3339"] == CREATED
    clock.advance(3600)
    moved = admin.put("/api/v1/prompts/summarize/labels/production", json={"version": 1})
    assert moved.status_code == 202, moved.get_json()
    assert moved.get_json()["pending"]["proposed_at_rfc3339"] == AN_HOUR_LATER
    detail = ok(admin.get("/api/v1/prompts/summarize")).get_json()
    assert detail["versions"][0]["created_at_rfc3339"] == CREATED
    assert detail["pending"][0]["proposed_at_rfc3339"] == AN_HOUR_LATER
    assert detail["archived_at_rfc3339"] is None
    listed = ok(admin.get("/api/v1/prompts")).get_json()["prompts"]
    assert listed[0]["latest"]["created_at_rfc3339"] == CREATED
    history = ok(admin.get("/api/v1/prompts/summarize/history")).get_json()["history"]
    assert [e["at_rfc3339"] for e in history] == [CREATED, AN_HOUR_LATER]
    archived = ok(admin.post("/api/v1/prompts/summarize/archive", json={})).get_json()
    assert archived["archived_at_rfc3339"] == AN_HOUR_LATER


def test_timeline_entries_carry_rfc3339(admin: Api, clock: Clock) -> None:
    ok(admin.post("/api/v1/experiments", json=experiment_body()))
    ok(admin.post("/api/v1/experiments/summary-tone/start", json={}))
    clock.advance(3600)
    ok(admin.post("/api/v1/experiments/summary-tone/evaluate", json={}))
    timeline = ok(admin.get("/api/v1/experiments/summary-tone/timeline")).get_json()
    assert [(e["at"], e["at_rfc3339"]) for e in timeline["entries"]] == [
        (clock.now, AN_HOUR_LATER)
    ]


def test_api_keys_carry_rfc3339(admin: Api) -> None:
    created = admin.post("/api/v1/keys", json={"name": "checkout-app", "role": "sdk"})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["created_at_rfc3339"] == CREATED
    [key] = ok(admin.get("/api/v1/keys")).get_json()["keys"]
    assert key["created_at_rfc3339"] == CREATED and "secret" not in key


def test_the_openapi_document_says_which_is_the_number_and_which_the_string(
    client: FlaskClient,
) -> None:
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    for model, name in [
        ("Experiment", "created_at"),
        ("Experiment", "archived_at"),
        ("HistoryEntry", "at"),
        ("PendingChange", "proposed_at"),
        ("LabelProposal", "proposed_at"),
        ("PromptVersionBrief", "created_at"),
        ("KeyInfo", "created_at"),
        ("TimelineEntry", "at"),
        ("Delivery", "next_attempt_at"),
    ]:
        properties = schemas[model]["properties"]
        assert "Unix time in seconds (UTC)" in properties[name]["description"], (model, name)
        assert f"{name}_rfc3339" in properties[name]["description"], (model, name)
        text = properties[f"{name}_rfc3339"]
        assert text["readOnly"] is True, (model, name)
        assert "RFC 3339" in text["description"] and f"`{name}`" in text["description"]
