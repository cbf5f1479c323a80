"""`portable` on prompt versions over HTTP: set at creation, shown on every read, served to SDKs."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, experiment_body, ok

BASE = "/api/v1/prompts"
PORTABLE = "Summarize {{ text|trim }} for {{ user.name }}"
NOT_PORTABLE = "{% set n = 3 %}Summarize {{ text }} in {{ n }} lines"


def create(api: Api, template: str, name: str = "summarize") -> dict[str, Any]:
    response = api.post(f"{BASE}/{name}/versions", json={"template": template})
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def test_a_version_inside_the_subset_is_created_portable(editor: Api) -> None:
    assert create(editor, PORTABLE)["portable"] is True


def test_a_version_outside_the_subset_is_created_not_portable(editor: Api) -> None:
    assert create(editor, NOT_PORTABLE)["portable"] is False


def test_every_read_of_a_version_shows_its_flag(editor: Api) -> None:
    create(editor, PORTABLE)
    create(editor, NOT_PORTABLE)

    one = ok(editor.get(f"{BASE}/summarize/versions/2")).get_json()
    detail = ok(editor.get(f"{BASE}/summarize")).get_json()
    listed = ok(editor.get(BASE)).get_json()["prompts"]

    assert one["portable"] is False
    assert [v["portable"] for v in detail["versions"]] == [True, False]
    assert [p["latest"]["portable"] for p in listed] == [False]


def test_the_same_content_again_answers_the_version_with_its_flag(editor: Api) -> None:
    create(editor, NOT_PORTABLE)
    again = editor.post(f"{BASE}/summarize/versions", json={"template": NOT_PORTABLE})

    assert again.status_code == 200
    assert (again.get_json()["version"], again.get_json()["portable"]) == (1, False)


def test_resolving_a_label_tells_the_flag(editor: Api, sdk: Api) -> None:
    create(editor, NOT_PORTABLE)
    ok(editor.put(f"{BASE}/summarize/labels/canary", json={"version": 1}))

    resolved = ok(sdk.get(f"{BASE}/summarize/resolve?label=canary")).get_json()

    assert resolved["portable"] is False


def test_the_sdk_document_carries_the_flag_of_labelled_and_pinned_versions(
    editor: Api, release: Api, sdk: Api
) -> None:
    create(editor, PORTABLE)
    create(editor, NOT_PORTABLE)
    ok(editor.put(f"{BASE}/summarize/labels/canary", json={"version": 2}))
    body = experiment_body()
    body["variants"][0]["prompt"] = "summarize@1"
    body["variants"][1]["prompt"] = "summarize@2"
    assert editor.post("/api/v1/experiments", json=body).status_code == 201
    ok(release.post("/api/v1/experiments/summary-tone/start", json={}))

    document = ok(sdk.get("/api/v1/sdk/config")).get_json()

    assert document["prompts"]["summarize"]["versions"]["2"]["portable"] is False
    variants = document["experiments"][0]["variants"]
    assert [v["prompt"]["portable"] for v in variants] == [True, False]


def test_an_assignment_hands_out_the_flag_with_the_prompt(
    editor: Api, release: Api, sdk: Api
) -> None:
    create(editor, NOT_PORTABLE)
    body = experiment_body()
    body["variants"][0]["prompt"] = "summarize@1"
    body["variants"][1]["prompt"] = "summarize@1"
    assert editor.post("/api/v1/experiments", json=body).status_code == 201
    ok(release.post("/api/v1/experiments/summary-tone/start", json={}))

    answer = ok(sdk.post("/api/v1/assign", json={"user_id": "u1"})).get_json()

    assert answer["assignments"]["summary-tone"]["prompt"]["portable"] is False


def test_the_openapi_document_describes_the_flag(editor: Api) -> None:
    schemas = ok(editor.get("/openapi.json")).get_json()["components"]["schemas"]

    for name in ("PromptVersionOut", "PromptVersionSummary", "ResolvedVersion"):
        assert schemas[name]["properties"]["portable"]["type"] == "boolean", name
        assert "portable" in schemas[name]["required"], name
        assert "TypeScript SDK" in schemas[name]["properties"]["portable"]["description"]
