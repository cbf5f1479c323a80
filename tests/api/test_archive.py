"""Archiving experiments and prompts: hidden from lists and from the SDK configuration, kept with
their history, refused while an application is measured on them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.api.conftest import Api, Clock, experiment_body, ok

EXPERIMENTS = "/api/v1/experiments"
PROMPTS = "/api/v1/prompts"


def define(api: Api, key: str = "summary-tone", **overrides: Any) -> dict[str, Any]:
    created = api.post(EXPERIMENTS, json=experiment_body(key, **overrides))
    assert created.status_code == 201, created.get_json()
    document: dict[str, Any] = created.get_json()
    return document


def operate(api: Api, key: str, action: str, **body: Any) -> dict[str, Any]:
    document: dict[str, Any] = ok(api.post(f"{EXPERIMENTS}/{key}/{action}", json=body)).get_json()
    return document


def listed_experiments(api: Api, query: str = "") -> list[str]:
    return [e["key"] for e in ok(api.get(f"{EXPERIMENTS}{query}")).get_json()["experiments"]]


def new_prompt(api: Api, name: str = "summarize") -> None:
    body = {"template": f"{name}: {{{{ text }}}}", "model": "gpt-4o-mini"}
    assert api.post(f"{PROMPTS}/{name}/versions", json=body).status_code == 201


def with_prompt(name: str = "summarize") -> list[dict[str, Any]]:
    return [
        {"key": "control", "weight": 0.5, "prompt": f"{name}@1"},
        {"key": "friendly", "weight": 0.5, "prompt": f"{name}@1"},
    ]


def sdk_config(sdk: Api) -> dict[str, Any]:
    document: dict[str, Any] = ok(sdk.get("/api/v1/sdk/config")).get_json()
    return document


def error_of(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.get_json()["error"]
    return error


# --- experiments -------------------------------------------------------------------------------


def test_an_archived_draft_leaves_the_list_and_shows_with_archived_true(
    admin: Api, editor: Api, clock: Clock
) -> None:
    define(admin, "kept")
    define(admin, "retired")
    archived = operate(editor, "retired", "archive", reason="walk-through leftovers")["experiment"]
    assert archived["archived_at"] == clock.now
    assert archived["archived_by"] == "editor-key"
    assert listed_experiments(editor) == ["kept"]
    assert listed_experiments(editor, "?archived=true") == ["kept", "retired"]
    shown = ok(editor.get(f"{EXPERIMENTS}/retired")).get_json()
    assert shown["archived_at"] == clock.now and shown["status"] == "draft"


def test_archiving_is_kept_in_the_history_with_who_when_and_why(
    admin: Api, editor: Api, clock: Clock
) -> None:
    define(admin)
    operate(editor, "summary-tone", "archive", reason="done with it")
    clock.advance(60)
    operate(editor, "summary-tone", "unarchive")
    history = ok(editor.get(f"{EXPERIMENTS}/summary-tone/history")).get_json()["history"]
    archive, unarchive = [e for e in history if e["action"] in {"archive", "unarchive"}]
    assert (archive["actor"], archive["at"], archive["reason"]) == (
        "editor-key",
        clock.now - 60,
        "done with it",
    )
    assert (unarchive["action"], unarchive["at"]) == ("unarchive", clock.now)


@pytest.mark.parametrize("state", ["running", "paused"])
def test_a_running_or_paused_experiment_cannot_be_archived(
    admin: Api, editor: Api, state: str
) -> None:
    define(admin)
    operate(admin, "summary-tone", "start")
    if state == "paused":
        operate(admin, "summary-tone", "pause")
    response = editor.post(f"{EXPERIMENTS}/summary-tone/archive", json={})
    assert response.status_code == 409
    assert error_of(response)["code"] == "experiment_active"
    assert ok(editor.get(f"{EXPERIMENTS}/summary-tone")).get_json()["archived_at"] is None
    assert listed_experiments(editor) == ["summary-tone"]


@pytest.mark.parametrize("ending", ["conclude", "rollback"])
def test_an_ended_experiment_can_be_archived_and_leaves_the_sdk_config(
    admin: Api, editor: Api, sdk: Api, ending: str
) -> None:
    define(admin)
    operate(admin, "summary-tone", "start")
    body = {"winner": "friendly"} if ending == "conclude" else {}
    operate(admin, "summary-tone", ending, **body)
    assert [e["key"] for e in sdk_config(sdk)["experiments"]] == ["summary-tone"]
    operate(editor, "summary-tone", "archive")
    assert sdk_config(sdk)["experiments"] == []
    refused = sdk.post("/api/v1/assign", json={"user_id": "u1", "experiments": ["summary-tone"]})
    assert refused.status_code == 404
    operate(editor, "summary-tone", "unarchive")
    assert [e["key"] for e in sdk_config(sdk)["experiments"]] == ["summary-tone"]


def test_an_archived_draft_cannot_start_until_unarchived(admin: Api, editor: Api) -> None:
    define(admin)
    operate(editor, "summary-tone", "archive")
    refused = admin.post(f"{EXPERIMENTS}/summary-tone/start", json={})
    assert refused.status_code == 409
    assert error_of(refused)["code"] == "archived"
    operate(editor, "summary-tone", "unarchive")
    assert operate(admin, "summary-tone", "start")["experiment"]["status"] == "running"


def test_archiving_twice_changes_nothing_more(admin: Api, editor: Api, clock: Clock) -> None:
    define(admin)
    first = operate(editor, "summary-tone", "archive")["experiment"]
    clock.advance(10)
    again = operate(editor, "summary-tone", "archive")["experiment"]
    assert again["archived_at"] == first["archived_at"]
    assert again["revision"] == first["revision"]


def test_only_editors_archive_experiments_and_unknown_ones_are_404(
    admin: Api, editor: Api, release: Api, sdk: Api
) -> None:
    define(admin)
    assert release.post(f"{EXPERIMENTS}/summary-tone/archive", json={}).status_code == 403
    assert sdk.post(f"{EXPERIMENTS}/summary-tone/archive", json={}).status_code == 403
    assert editor.post(f"{EXPERIMENTS}/no-such/archive", json={}).status_code == 404
    assert editor.post(f"{EXPERIMENTS}/no-such/unarchive", json={}).status_code == 404


# --- prompts -----------------------------------------------------------------------------------


def listed_prompts(api: Api, query: str = "") -> list[str]:
    return [p["name"] for p in ok(api.get(f"{PROMPTS}{query}")).get_json()["prompts"]]


def test_an_archived_prompt_leaves_the_list_and_shows_with_archived_true(
    editor: Api, clock: Clock
) -> None:
    new_prompt(editor, "kept")
    new_prompt(editor, "retired")
    answer = ok(editor.post(f"{PROMPTS}/retired/archive", json={"reason": "old"})).get_json()
    assert answer == {
        "prompt": "retired",
        "archived_at": clock.now,
        "archived_by": "editor-key",
        "archived_at_rfc3339": "2025-06-15T15:06:40.000Z",
    }
    assert listed_prompts(editor) == ["kept"]
    everything = ok(editor.get(f"{PROMPTS}?archived=true")).get_json()
    assert [(p["name"], p["archived_at"]) for p in everything["prompts"]] == [
        ("kept", None),
        ("retired", clock.now),
    ]
    assert everything["total"] == 2
    assert ok(editor.get(f"{PROMPTS}/retired")).get_json()["archived_by"] == "editor-key"


def test_archiving_a_prompt_is_kept_in_its_history(editor: Api, clock: Clock) -> None:
    new_prompt(editor)
    ok(editor.post(f"{PROMPTS}/summarize/archive", json={"reason": "superseded"}))
    ok(editor.post(f"{PROMPTS}/summarize/unarchive", json={}))
    history = ok(editor.get(f"{PROMPTS}/summarize/history")).get_json()["history"]
    assert [(e["action"], e["actor"], e["at"]) for e in history[1:]] == [
        ("archive", "editor-key", clock.now),
        ("unarchive", "editor-key", clock.now),
    ]
    assert history[1]["reason"] == "superseded"
    assert listed_prompts(editor) == ["summarize"]


@pytest.mark.parametrize("state", ["running", "paused"])
def test_a_prompt_in_use_by_a_running_or_paused_experiment_cannot_be_archived(
    admin: Api, editor: Api, state: str
) -> None:
    new_prompt(editor)
    define(admin, variants=with_prompt())
    operate(admin, "summary-tone", "start")
    if state == "paused":
        operate(admin, "summary-tone", "pause")
    response = editor.post(f"{PROMPTS}/summarize/archive", json={})
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "prompt_in_use"
    assert "summary-tone" in error["message"]
    assert listed_prompts(editor) == ["summarize"]


def test_a_prompt_used_only_by_ended_experiments_can_be_archived(admin: Api, editor: Api) -> None:
    new_prompt(editor)
    define(admin, variants=with_prompt())
    operate(admin, "summary-tone", "start")
    operate(admin, "summary-tone", "rollback")
    ok(editor.post(f"{PROMPTS}/summarize/archive", json={}))
    assert listed_prompts(editor) == []


def test_an_archived_prompt_leaves_the_sdk_config_and_resolves_no_more(
    editor: Api, sdk: Api
) -> None:
    new_prompt(editor)
    ok(editor.put(f"{PROMPTS}/summarize/labels/production", json={"version": 1}))
    assert list(sdk_config(sdk)["prompts"]) == ["summarize"]
    ok(sdk.get(f"{PROMPTS}/summarize/resolve"))
    ok(editor.post(f"{PROMPTS}/summarize/archive", json={}))
    assert sdk_config(sdk)["prompts"] == {}
    assert sdk.get(f"{PROMPTS}/summarize/resolve").status_code == 404
    ok(editor.post(f"{PROMPTS}/summarize/unarchive", json={}))
    assert list(sdk_config(sdk)["prompts"]) == ["summarize"]


def test_an_archived_prompt_cannot_be_referenced_or_started_on(admin: Api, editor: Api) -> None:
    new_prompt(editor)
    define(admin, variants=with_prompt())
    ok(editor.post(f"{PROMPTS}/summarize/archive", json={}))
    created = admin.post(EXPERIMENTS, json=experiment_body("another", variants=with_prompt()))
    assert created.status_code == 422
    assert error_of(created)["code"] == "archived_prompt"
    assert error_of(created)["details"][0]["field"] == "variants.0.prompt"
    started = admin.post(f"{EXPERIMENTS}/summary-tone/start", json={})
    assert started.status_code == 409
    assert error_of(started)["code"] == "archived_prompt"


def test_only_editors_archive_prompts_and_unknown_ones_are_404(
    editor: Api, release: Api, sdk: Api
) -> None:
    new_prompt(editor)
    assert release.post(f"{PROMPTS}/summarize/archive", json={}).status_code == 403
    assert sdk.post(f"{PROMPTS}/summarize/archive", json={}).status_code == 403
    assert editor.post(f"{PROMPTS}/no-such/archive", json={}).status_code == 404
    assert editor.post(f"{PROMPTS}/no-such/unarchive", json={}).status_code == 404


def test_the_archive_routes_are_in_the_openapi_document(client: Any) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    for resource in ("/api/v1/experiments/{key}", "/api/v1/prompts/{prompt}"):
        assert "409" in paths[f"{resource}/archive"]["post"]["responses"]
        assert "200" in paths[f"{resource}/unarchive"]["post"]["responses"]


# --- the console's lists -----------------------------------------------------------------------


def signed_in_console(client: FlaskClient, secret: str) -> FlaskClient:
    page = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None, page[:500]
    signed = client.post("/sign-in", data={"key": secret, "csrf_token": token.group(1)})
    assert signed.status_code == 302, signed.get_data(as_text=True)[:500]
    return client


def test_the_consoles_lists_leave_archived_ones_out(app: Flask, admin: Api, editor: Api) -> None:
    define(admin, "kept")
    define(admin, "retired")
    new_prompt(editor, "kept-prompt")
    new_prompt(editor, "retired-prompt")
    operate(editor, "retired", "archive")
    ok(editor.post(f"{PROMPTS}/retired-prompt/archive", json={}))
    console = signed_in_console(app.test_client(), editor.secret)
    experiments = ok(console.get("/")).get_data(as_text=True)
    assert "/experiments/kept" in experiments and "/experiments/retired" not in experiments
    prompts = ok(console.get("/prompts")).get_data(as_text=True)
    assert "kept-prompt" in prompts and "retired-prompt" not in prompts
