"""Chat prompts over HTTP: a version as a list of messages, created, rendered, tested, diffed,
resolved and assigned like a version of one template."""

from __future__ import annotations

from typing import Any

import pytest

from experiments.prompts.version import content_sha256
from rollout_sdk.kernel.render import MAX_OUTPUT_CHARS
from tests.api.conftest import Api, experiment_body, ok

BASE = "/api/v1/prompts"

MESSAGES = [
    {"role": "system", "content": "You summarize for {{ audience }}."},
    {"role": "user", "content": "Summarize: {{ text }}"},
]


def chat(messages: list[dict[str, str]] | None = None, **fields: Any) -> dict[str, Any]:
    return {"messages": MESSAGES if messages is None else messages, "model": "gpt-4o", **fields}


def create(api: Api, name: str = "chat", **fields: Any) -> Any:
    return api.post(f"{BASE}/{name}/versions", json=chat(**fields))


def answer_of(response: Any) -> Any:
    """The JSON of a successful answer (asserting it succeeded)."""
    return ok(response).get_json()


def error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.get_json()["error"]
    return body


def test_a_chat_version_answers_201_with_its_messages_and_their_content_hash(editor: Api) -> None:
    response = create(editor, params={"temperature": 0.3})

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["version"] == 1
    assert body["template"] is None
    assert body["messages"] == MESSAGES
    assert body["sha256"] == content_sha256(None, "gpt-4o", {"temperature": 0.3}, MESSAGES)


def test_the_content_hash_includes_the_messages_and_differs_from_a_template() -> None:
    one = content_sha256(None, "m", {}, [{"role": "user", "content": "Hi"}])
    other_role = content_sha256(None, "m", {}, [{"role": "system", "content": "Hi"}])
    template = content_sha256("Hi", "m", {})

    assert len({one, other_role, template}) == 3


def test_the_same_messages_answer_200_with_that_version(editor: Api) -> None:
    ok(create(editor))

    again = create(editor)

    assert again.status_code == 200
    assert again.get_json()["version"] == 1


def test_the_variables_are_the_union_of_the_messages(editor: Api) -> None:
    body = answer_of(create(editor))

    assert body["variables"] == ["audience", "text"]


@pytest.mark.parametrize(
    "body",
    [
        {"template": "Hi", "messages": MESSAGES},
        {"model": "m"},
        {"messages": []},
        {"messages": [{"role": "tool", "content": "Hi"}]},
        {"messages": [{"role": "user", "content": ""}]},
        {"messages": [{"role": "user"}]},
    ],
)
def test_a_version_must_have_exactly_one_template_or_valid_messages(
    editor: Api, body: dict[str, Any]
) -> None:
    response = editor.post(f"{BASE}/chat/versions", json=body)

    assert response.status_code == 422, body
    assert error(response)["details"], body


def test_a_message_that_does_not_compile_is_422(editor: Api) -> None:
    response = create(editor, messages=[{"role": "user", "content": "Hi {{ name "}])

    assert response.status_code == 422
    assert error(response)["code"] == "template_invalid"


def test_render_answers_the_messages_rendered(editor: Api, release: Api) -> None:
    ok(create(editor))

    response = release.post(
        f"{BASE}/chat/versions/1/render",
        json={"variables": {"audience": "engineers", "text": "a long text"}},
    )

    assert response.status_code == 200
    assert response.get_json() == {
        "messages": [
            {"role": "system", "content": "You summarize for engineers."},
            {"role": "user", "content": "Summarize: a long text"},
        ]
    }


def test_a_variable_missing_from_any_message_is_422_naming_it(editor: Api) -> None:
    ok(create(editor))

    response = editor.post(
        f"{BASE}/chat/versions/1/render", json={"variables": {"audience": "engineers"}}
    )

    assert response.status_code == 422
    assert error(response)["code"] == "missing_variable"
    assert "text" in error(response)["message"]


def test_the_output_budget_is_one_for_all_the_messages(editor: Api) -> None:
    half = MAX_OUTPUT_CHARS // 2 + 1
    ok(create(editor, messages=[{"role": "system", "content": "{{ 'a' * n }}"}] * 2))

    one_message = editor.post(f"{BASE}/chat/versions/1/render", json={"variables": {"n": 1}})
    both_over = editor.post(f"{BASE}/chat/versions/1/render", json={"variables": {"n": half}})

    assert one_message.status_code == 200, one_message.get_json()
    assert both_over.status_code == 422
    assert error(both_over)["code"] == "output_too_large"


def test_prompt_tests_check_the_rendered_messages(editor: Api) -> None:
    passing = [{"variables": {"audience": "kids", "text": "t"}, "expect": {"contains": ["kids"]}}]
    failing = [{"variables": {"audience": "kids", "text": "t"}, "expect": {"contains": ["adults"]}}]

    created = create(editor, tests=passing)
    refused = create(editor, name="other", tests=failing)

    assert created.status_code == 201, created.get_json()
    assert created.get_json()["tests"] == [passing[0] | {"expect": {
        "contains": ["kids"], "not_contains": [], "max_chars": None}}]
    assert refused.status_code == 422
    assert "adults" in str(error(refused)["details"])


def test_the_diff_shows_each_changed_message_and_the_roles(editor: Api) -> None:
    ok(create(editor))
    ok(create(editor, messages=[
        {"role": "system", "content": "You summarize for {{ audience }}."},
        {"role": "assistant", "content": "Summarize briefly: {{ text }}"},
    ]))

    body = answer_of(editor.get(f"{BASE}/chat/versions/1/diff/2"))

    assert body["identical"] is False
    diff = body["diff"]
    assert "chat@1/messages/0" not in diff
    assert "--- chat@1/messages/1\n+++ chat@2/messages/1\n" in diff
    assert "-Summarize: {{ text }}\n" in diff
    assert "+Summarize briefly: {{ text }}\n" in diff
    assert '-    "user"\n' in diff
    assert '+    "assistant"\n' in diff


def test_the_diff_from_a_template_to_messages_shows_both(editor: Api) -> None:
    ok(editor.post(f"{BASE}/chat/versions", json={"template": "Summarize: {{ text }}"}))
    ok(create(editor))

    diff = answer_of(editor.get(f"{BASE}/chat/versions/1/diff/2"))["diff"]

    assert "-Summarize: {{ text }}" in diff
    assert "+++ chat@2/messages/0\n" in diff
    assert "+++ chat@2/messages/1\n" in diff


def test_a_label_resolves_to_the_messages(editor: Api, sdk: Api) -> None:
    ok(create(editor))
    ok(editor.put(f"{BASE}/chat/labels/canary", json={"version": 1}))

    resolved = answer_of(sdk.get(f"{BASE}/chat/resolve", query_string={"label": "canary"}))

    assert resolved["messages"] == MESSAGES
    assert resolved["template"] is None


def test_assignment_and_the_sdk_config_carry_the_messages(
    editor: Api, release: Api, sdk: Api
) -> None:
    ok(create(editor))
    ok(editor.post(f"{BASE}/chat/versions", json={"template": "Summarize: {{ text }}"}))
    ok(editor.post("/api/v1/experiments", json=experiment_body(variants=[
        {"key": "control", "weight": 0.5, "prompt": "chat@2"},
        {"key": "friendly", "weight": 0.5, "prompt": "chat@1"},
    ])))
    ok(release.post("/api/v1/experiments/summary-tone/start"))

    seen = set()
    for user in range(40):
        answer = answer_of(sdk.post("/api/v1/assign", json={"user_id": f"u{user}"}))
        prompt = answer["assignments"]["summary-tone"]["prompt"]
        seen.add((prompt["version"], prompt["template"], str(prompt["messages"])))
    config = answer_of(sdk.get("/api/v1/sdk/config"))

    assert seen == {(2, "Summarize: {{ text }}", "None"), (1, None, str(MESSAGES))}
    variants = config["experiments"][0]["variants"]
    assert [v["prompt"]["messages"] for v in variants] == [None, MESSAGES]


def test_a_chat_prompt_is_portable_only_when_every_message_is(editor: Api) -> None:
    beyond = {"role": "user", "content": "{{ '\\x41' }}"}

    portable = answer_of(create(editor))
    not_portable = answer_of(create(editor, name="beyond", messages=[MESSAGES[0], beyond]))

    assert (portable["portable"], not_portable["portable"]) == (True, False)
