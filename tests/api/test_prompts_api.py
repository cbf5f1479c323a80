"""The prompt registry over HTTP: versions, labels, resolve, render (sandboxed), diff, history."""

from __future__ import annotations

import time
from typing import Any

import pytest

from experiments.prompts.version import content_sha256
from tests.api.conftest import Api, experiment_body, ok

BASE = "/api/v1/prompts"


def version(template: str = "Summarize {{ text }}\n", **fields: Any) -> dict[str, Any]:
    return {"template": template, "model": "gpt-4o-mini", **fields}


def create(api: Api, name: str = "summarize", **fields: Any) -> Any:
    return api.post(f"{BASE}/{name}/versions", json=version(**fields))


def error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.get_json()["error"]
    return body


# --- versions ------------------------------------------------------------------------------------


def test_a_new_version_answers_201_with_its_number_and_content_hash(editor: Api) -> None:
    response = create(editor, params={"temperature": 0.2}, message="first")

    assert response.status_code == 201
    body = response.get_json()
    assert body["version"] == 1
    assert body["sha256"] == content_sha256(
        "Summarize {{ text }}\n", "gpt-4o-mini", {"temperature": 0.2}
    )
    assert (body["author"], body["message"], body["created_at"]) == (
        "editor-key",
        "first",
        1_750_000_000.0,
    )


def test_versions_are_numbered_one_two_three(editor: Api) -> None:
    numbers = [create(editor, template=f"v{n} {{{{ text }}}}").get_json()["version"] for n in "abc"]

    assert numbers == [1, 2, 3]


def test_the_same_content_as_the_latest_answers_200_with_that_version(editor: Api) -> None:
    first = create(editor, params={"temperature": 0.2, "top_p": 0.9})
    again = create(editor, params={"top_p": 0.9, "temperature": 0.2}, message="another message")

    assert again.status_code == 200
    assert again.get_json()["version"] == 1
    assert again.get_json()["sha256"] == first.get_json()["sha256"]
    assert again.get_json()["message"] is None  # the stored version, not the request
    assert len(editor.get(f"{BASE}/summarize").get_json()["versions"]) == 1


def test_the_content_of_an_older_version_makes_a_new_version(editor: Api) -> None:
    ok(create(editor, template="A {{ x }}"))
    ok(create(editor, template="B {{ x }}"))

    response = create(editor, template="A {{ x }}")

    assert (response.status_code, response.get_json()["version"]) == (201, 3)


def test_the_variables_a_template_declares_are_stored_with_the_version(editor: Api) -> None:
    template = (
        "{% set greeting = 'Hi' %}{{ greeting }} {{ user.name }}:"
        " {% for d in docs %}{{ d }}{% endfor %}"
    )
    created = create(editor, template=template).get_json()

    assert created["variables"] == ["docs", "user"]
    assert editor.get(f"{BASE}/summarize/versions/1").get_json()["variables"] == ["docs", "user"]
    assert editor.get(f"{BASE}/summarize").get_json()["versions"][0]["variables"] == [
        "docs",
        "user",
    ]


def test_a_template_that_does_not_compile_is_422_with_its_line(editor: Api) -> None:
    response = create(editor, template="line one\nline two\n{% if %}\n")

    assert response.status_code == 422
    assert error(response)["code"] == "template_invalid"
    assert error(response)["details"][0]["field"] == "template"
    assert error(response)["details"][0]["line"] == 3
    assert editor.get(f"{BASE}/summarize").status_code == 404


def test_failing_prompt_tests_are_422_with_each_failing_case(editor: Api) -> None:
    tests = [
        {"variables": {"text": "ok"}, "expect": {"contains": ["Summarize ok"]}},
        {"variables": {"text": "x"}, "expect": {"contains": ["absent"], "max_chars": 3}},
        {"variables": {}, "expect": {}},
        {"variables": {"text": "secret"}, "expect": {"not_contains": ["secret"]}},
    ]
    response = create(editor, tests=tests)

    assert response.status_code == 422
    assert error(response)["code"] == "prompt_test_failed"
    details = {d["field"]: d["message"] for d in error(response)["details"]}
    assert set(details) == {"tests.1", "tests.2", "tests.3"}
    assert "does not contain 'absent'" in details["tests.1"]
    assert "longer than 3" in details["tests.1"]
    assert "text" in details["tests.2"]
    assert "contains 'secret'" in details["tests.3"]
    assert editor.get(f"{BASE}/summarize").status_code == 404


def test_passing_prompt_tests_are_stored_with_the_version(editor: Api) -> None:
    tests = [{"variables": {"text": "ok"}, "expect": {"contains": ["ok"], "max_chars": 100}}]
    created = create(editor, tests=tests)

    assert created.status_code == 201
    stored = editor.get(f"{BASE}/summarize/versions/1").get_json()["tests"]
    assert stored[0]["variables"] == {"text": "ok"}
    assert stored[0]["expect"]["contains"] == ["ok"]


@pytest.mark.parametrize(
    "params",
    [
        {"temperature": 2.5},
        {"temperature": -0.1},
        {"top_p": 1.5},
        {"max_tokens": 0},
        {"max_tokens": 1.5},
        {"temperature": "hot"},
    ],
)
def test_model_params_out_of_range_are_422_naming_params(editor: Api, params: Any) -> None:
    response = create(editor, params=params)

    assert response.status_code == 422
    assert [d["field"] for d in error(response)["details"]] == ["params"]


def test_other_params_pass_through(editor: Api) -> None:
    params = {"temperature": 2, "top_p": 0, "max_tokens": 1, "seed": 7, "stop": ["\n\n"]}

    assert create(editor, params=params).get_json()["params"] == params


def test_a_prompt_name_outside_the_key_pattern_is_422(editor: Api) -> None:
    response = editor.post(f"{BASE}/Summarize/versions", json=version())

    assert response.status_code == 422
    assert error(response)["details"][0]["field"] == "prompt"


def test_unknown_fields_and_oversized_templates_are_422(editor: Api) -> None:
    assert editor.post(f"{BASE}/p/versions", json=version(temperature=1)).status_code == 422
    huge = create(editor, name="p", template="x" * (64 * 1024 + 1))
    assert huge.status_code == 422
    assert error(huge)["details"][0]["field"] == "template"


def test_unknown_prompts_and_versions_are_404(editor: Api) -> None:
    ok(create(editor))

    assert editor.get(f"{BASE}/nothing").status_code == 404
    assert editor.get(f"{BASE}/summarize/versions/2").status_code == 404
    assert editor.get(f"{BASE}/summarize/versions/0").status_code == 404
    assert editor.get(f"{BASE}/nothing/history").status_code == 404
    assert editor.post(f"{BASE}/nothing/versions/1/render", json={}).status_code == 404
    huge = 10**20
    assert editor.get(f"{BASE}/summarize/versions/{huge}").status_code == 404
    assert editor.get(f"{BASE}/summarize/versions/1/diff/{huge}").status_code == 404
    assert editor.post(f"{BASE}/summarize/versions/{huge}/render", json={}).status_code == 404


def test_roles_editor_writes_release_reads_sdk_only_resolves(
    editor: Api, release: Api, sdk: Api
) -> None:
    ok(create(editor))
    ok(editor.put(f"{BASE}/summarize/labels/production", json={"version": 1}))

    assert create(release).status_code == 403
    assert create(sdk).status_code == 403
    assert release.get(f"{BASE}/summarize/versions/1").status_code == 200
    assert sdk.get(f"{BASE}/summarize/versions/1").status_code == 403
    assert release.put(f"{BASE}/summarize/labels/canary", json={"version": 1}).status_code == 403
    assert sdk.get(f"{BASE}/summarize/resolve?label=production").status_code == 200
    assert editor.client.get(f"{BASE}/summarize").status_code == 401


# --- listing -------------------------------------------------------------------------------------


def test_the_list_is_paginated_and_sorted_by_name(editor: Api) -> None:
    for name in ["delta", "alpha", "charlie", "bravo", "echo"]:
        ok(create(editor, name=name))
    ok(create(editor, name="alpha", template="second {{ x }}"))

    first = editor.get(f"{BASE}?limit=2").get_json()
    second = editor.get(f"{BASE}?limit=2&offset=2").get_json()
    last = editor.get(f"{BASE}?limit=2&offset=4").get_json()

    assert [p["name"] for p in first["prompts"]] == ["alpha", "bravo"]
    assert (first["total"], first["next_offset"]) == (5, 2)
    assert [p["name"] for p in second["prompts"]] == ["charlie", "delta"]
    assert [p["name"] for p in last["prompts"]] == ["echo"]
    assert last["next_offset"] is None
    alpha = first["prompts"][0]
    assert (alpha["versions"], alpha["latest"]["version"]) == (2, 2)
    assert editor.get(f"{BASE}?limit=0").status_code == 422


def test_a_prompt_shows_its_versions_without_templates_and_its_labels(editor: Api) -> None:
    ok(create(editor, template="one {{ x }}"))
    ok(create(editor, template="two {{ x }}"))
    ok(editor.put(f"{BASE}/summarize/labels/canary", json={"version": 2}))

    body = editor.get(f"{BASE}/summarize").get_json()

    assert [v["version"] for v in body["versions"]] == [1, 2]
    assert "template" not in body["versions"][0]
    assert body["labels"] == {"canary": 2}
    assert body["pending"] == []


# --- rendering -----------------------------------------------------------------------------------


def render(api: Api, template: str, variables: dict[str, Any], name: str = "r") -> Any:
    created = create(api, name=name, template=template)
    assert created.status_code in (200, 201), created.get_json()
    n = created.get_json()["version"]
    return api.post(f"{BASE}/{name}/versions/{n}/render", json={"variables": variables})


def test_render_answers_the_text(editor: Api, release: Api) -> None:
    created = create(editor, template="Summarize for {{ user.name }}:\n{{ text | upper }}")
    assert created.status_code == 201

    response = release.post(
        f"{BASE}/summarize/versions/1/render",
        json={"variables": {"user": {"name": "Ada"}, "text": "hello"}},
    )

    assert response.status_code == 200
    assert response.get_json() == {"text": "Summarize for Ada:\nHELLO"}


def test_a_missing_variable_is_422_naming_it(editor: Api) -> None:
    response = render(editor, "Hello {{ name }}, about {{ topic }}", {"name": "Ada"})

    assert response.status_code == 422
    assert error(response)["code"] == "missing_variable"
    assert "topic" in error(response)["message"]
    assert error(response)["details"][0]["field"] == "variables.topic"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ text.__class__.__base__.__subclasses__() }}",
        "{{ ().__class__.__bases__[0].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ self.__init__.__globals__['os'] }}",
        "{{ (text|attr('__class__')) }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ text.format.__globals__ }}",
        "{{ range.__globals__ }}",
        "{{ text.__len__() }}",
        "{% set l = [] %}{{ l.append(1) }}",
    ],
)
def test_python_internals_are_out_of_reach(editor: Api, template: str) -> None:
    response = render(editor, template, {"text": "x"})

    assert response.status_code == 422, response.get_json()
    assert error(response)["code"] == "template_unsafe"
    assert "is unsafe" in error(response)["message"]
    assert error(response)["details"][0]["field"] == "template"


def test_lipsum_is_not_offered_to_templates(editor: Api) -> None:
    response = render(editor, "{{ lipsum.__globals__ }}", {})

    assert response.status_code == 422
    assert error(response)["code"] == "missing_variable"


@pytest.mark.parametrize(
    ("template", "code"),
    [
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "render_limit_exceeded",
        ),
        ("{{ 'x' * 100000000 }}", "render_limit_exceeded"),
        ("{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}", "output_too_large"),
        ("{{ 10 ** 1000000 }}", "render_limit_exceeded"),
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", None),
    ],
)
def test_huge_loops_and_huge_outputs_stop_fast_with_422(
    editor: Api, template: str, code: str | None
) -> None:
    started = time.monotonic()
    response = render(editor, template, {})

    assert response.status_code == 422, response.get_json()
    if code is not None:
        assert error(response)["code"] == code
    assert time.monotonic() - started < 10


# --- diff ----------------------------------------------------------------------------------------


def test_diff_shows_the_template_model_and_params_changes(editor: Api) -> None:
    ok(create(editor, template="Summarize {{ text }}\nBe brief.\n", params={"temperature": 0.2}))
    ok(create(
        editor,
        template="Summarize {{ text }}\nBe friendly.\n",
        model="gpt-4o",
        params={"temperature": 0.4},
    ))

    body = editor.get(f"{BASE}/summarize/versions/1/diff/2").get_json()

    assert (body["from_version"], body["to_version"], body["identical"]) == (1, 2, False)
    diff = body["diff"]
    assert "--- summarize@1/template\n+++ summarize@2/template\n" in diff
    assert "-Be brief.\n+Be friendly.\n" in diff
    assert '-  "model": "gpt-4o-mini",' in diff
    assert '+  "model": "gpt-4o",' in diff
    assert '+    "temperature": 0.4' in diff


def test_diff_of_a_version_with_itself_is_empty(editor: Api) -> None:
    ok(create(editor))

    body = editor.get(f"{BASE}/summarize/versions/1/diff/1").get_json()

    assert (body["identical"], body["diff"]) == (True, "")
    assert editor.get(f"{BASE}/summarize/versions/1/diff/9").status_code == 404


# --- labels and resolve --------------------------------------------------------------------------


def test_a_label_points_at_a_version_and_resolves_to_it(editor: Api, sdk: Api) -> None:
    ok(create(editor, template="one {{ x }}"))
    ok(create(editor, template="two {{ x }}"))

    moved = editor.put(f"{BASE}/summarize/labels/production", json={"version": 1})
    resolved = sdk.get(f"{BASE}/summarize/resolve?label=production")

    assert moved.status_code == 200
    assert moved.get_json() | {"pending": None} == {
        "prompt": "summarize",
        "label": "production",
        "version": 1,
        "previous": None,
        "changed": True,
        "pending": None,
    }
    assert resolved.status_code == 200
    assert (resolved.get_json()["version"], resolved.get_json()["template"]) == (1, "one {{ x }}")
    assert resolved.get_json()["label"] == "production"

    ok(editor.put(f"{BASE}/summarize/labels/production", json={"version": 2}))
    assert sdk.get(f"{BASE}/summarize/resolve").get_json()["version"] == 2  # production by default


def test_putting_a_label_where_it_already_points_changes_nothing(editor: Api) -> None:
    ok(create(editor))
    ok(editor.put(f"{BASE}/summarize/labels/canary", json={"version": 1}))

    again = editor.put(f"{BASE}/summarize/labels/canary", json={"version": 1})

    assert again.status_code == 200
    assert again.get_json()["changed"] is False
    labels = [
        e
        for e in editor.get(f"{BASE}/summarize/history").get_json()["history"]
        if e["action"] == "label"
    ]
    assert len(labels) == 1


def test_labels_are_validated(editor: Api) -> None:
    ok(create(editor))

    unknown_version = editor.put(f"{BASE}/summarize/labels/production", json={"version": 2})
    assert unknown_version.status_code == 422
    assert error(unknown_version)["details"][0]["field"] == "version"
    for label in ["Prod", "3", "-x"]:
        bad = editor.put(f"{BASE}/summarize/labels/{label}", json={"version": 1})
        assert bad.status_code == 422, label
    assert editor.put(f"{BASE}/summarize/labels/p", json={"version": 0}).status_code == 422
    assert editor.put(f"{BASE}/nothing/labels/p", json={"version": 1}).status_code == 404


def test_resolving_an_unknown_label_or_prompt_is_404(editor: Api, sdk: Api) -> None:
    ok(create(editor))

    assert sdk.get(f"{BASE}/summarize/resolve?label=canary").status_code == 404
    assert sdk.get(f"{BASE}/nothing/resolve").status_code == 404
    assert sdk.get(f"{BASE}/summarize/resolve?label=Bad!").status_code == 422


def test_label_moves_reach_the_sdk_config(editor: Api, sdk: Api) -> None:
    ok(create(editor, template="one {{ x }}"))
    ok(create(editor, template="two {{ x }}"))
    ok(editor.put(f"{BASE}/summarize/labels/production", json={"version": 1}))
    before = sdk.get("/api/v1/sdk/config")

    ok(editor.put(f"{BASE}/summarize/labels/production", json={"version": 2}))
    after = sdk.get("/api/v1/sdk/config")

    assert before.get_json()["prompts"]["summarize"]["labels"] == {"production": 1}
    assert after.get_json()["prompts"]["summarize"]["labels"] == {"production": 2}
    assert after.headers["ETag"] != before.headers["ETag"]


def test_the_history_records_versions_and_label_moves_with_their_actors(editor: Api) -> None:
    ok(create(editor, message="first"))
    ok(create(editor, template="second {{ x }}"))
    ok(editor.put(f"{BASE}/summarize/labels/production", json={"version": 2, "reason": "ship it"}))

    history = editor.get(f"{BASE}/summarize/history").get_json()["history"]

    assert [(e["action"], e.get("version")) for e in history] == [
        ("version", 1),
        ("version", 2),
        ("label", 2),
    ]
    assert history[0]["message"] == "first"
    assert {e["actor"] for e in history} == {"editor-key"}
    assert (history[2]["label"], history[2]["reason"]) == ("production", "ship it")
    assert len(editor.get(f"{BASE}/summarize/history?offset=1&limit=1").get_json()["history"]) == 1


# --- versions in use by experiments --------------------------------------------------------------


def _prompted_experiment(control: str, friendly: str) -> dict[str, Any]:
    return experiment_body(
        variants=[
            {"key": "control", "weight": 0.5, "prompt": control},
            {"key": "friendly", "weight": 0.5, "prompt": friendly},
        ]
    )


def test_a_label_reference_is_pinned_to_a_version_when_the_experiment_is_defined(
    editor: Api,
) -> None:
    ok(create(editor, template="one {{ x }}"))
    ok(create(editor, template="two {{ x }}"))
    ok(editor.put(f"{BASE}/summarize/labels/production", json={"version": 1}))

    created = editor.post(
        "/api/v1/experiments", json=_prompted_experiment("summarize@production", "summarize@2")
    )

    assert created.status_code == 201, created.get_json()
    assert created.get_json()["prompts"] == {
        "control": {"name": "summarize", "version": 1},
        "friendly": {"name": "summarize", "version": 2},
    }
    pinned = editor.get(f"{BASE}/summarize").get_json()["versions"]
    assert [v["pinned_by"] for v in pinned] == [["summary-tone"], ["summary-tone"]]


def test_an_unknown_prompt_reference_is_422(editor: Api) -> None:
    ok(create(editor))

    for ref in ["summarize@2", "summarize@staging", "nothing@1"]:
        response = editor.post("/api/v1/experiments", json=_prompted_experiment("summarize@1", ref))
        assert response.status_code == 422, ref
        assert error(response)["details"][0]["field"] == "variants.1.prompt"


def test_a_version_in_use_by_a_running_experiment_never_changes_or_disappears(
    editor: Api, release: Api, sdk: Api
) -> None:
    ok(create(editor, template="Control {{ x }}", params={"temperature": 0.1}))
    ok(create(editor, template="Friendly {{ x }}"))
    ok(editor.put(f"{BASE}/summarize/labels/production", json={"version": 1}))
    ok(editor.post(
        "/api/v1/experiments", json=_prompted_experiment("summarize@production", "summarize@2")
    ))
    assert release.post("/api/v1/experiments/summary-tone/start").status_code == 200
    before = editor.get(f"{BASE}/summarize/versions/1").get_json()

    # Everything an editor can do to the prompt meanwhile:
    ok(create(editor, template="Newer {{ x }}"))
    ok(create(editor, template="Control {{ x }}", params={"temperature": 0.9}))
    ok(editor.put(f"{BASE}/summarize/labels/production", json={"version": 3}))
    assert editor.delete(f"{BASE}/summarize/versions/1").status_code == 405
    assert editor.delete(f"{BASE}/summarize").status_code == 405
    assert editor.put(f"{BASE}/summarize/versions/1", json=version()).status_code == 405
    assert editor.patch(f"{BASE}/summarize/versions/1", json=version()).status_code == 405

    after = editor.get(f"{BASE}/summarize/versions/1").get_json()
    assert after == before
    assert after["pinned_by"] == ["summary-tone"]
    experiment = editor.get("/api/v1/experiments/summary-tone").get_json()
    assert experiment["prompts"]["control"] == {"name": "summarize", "version": 1}
    seen = set()
    for user in range(40):
        answer = sdk.post("/api/v1/assign", json={"user_id": f"u{user}"}).get_json()
        prompt = answer["assignments"]["summary-tone"]["prompt"]
        seen.add((prompt["version"], prompt["template"], prompt["params"].get("temperature")))
    assert seen == {(1, "Control {{ x }}", 0.1), (2, "Friendly {{ x }}", None)}


def test_concluding_moves_production_to_the_winner_in_both_histories(
    editor: Api, release: Api
) -> None:
    ok(create(editor, template="one {{ x }}"))
    ok(create(editor, template="two {{ x }}"))
    ok(editor.put(f"{BASE}/summarize/labels/production", json={"version": 1}))
    ok(editor.post("/api/v1/experiments", json=_prompted_experiment("summarize@1", "summarize@2")))
    ok(release.post("/api/v1/experiments/summary-tone/start"))

    concluded = release.post(
        "/api/v1/experiments/summary-tone/conclude", json={"winner": "friendly"}
    )

    assert concluded.status_code == 200
    assert editor.get(f"{BASE}/summarize").get_json()["labels"] == {"production": 2}
    prompt_history = editor.get(f"{BASE}/summarize/history").get_json()["history"]
    assert prompt_history[-1]["action"] == "label"
    assert "summary-tone" in prompt_history[-1]["reason"]
    experiment_history = editor.get("/api/v1/experiments/summary-tone/history").get_json()
    assert experiment_history["history"][-1]["changes"] == {
        "prompt": "summarize",
        "label": "production",
        "version": 2,
    }


def test_the_openapi_document_describes_the_prompt_routes(client: Any) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]

    for path in [
        "/api/v1/prompts",
        "/api/v1/prompts/{prompt}",
        "/api/v1/prompts/{prompt}/versions",
        "/api/v1/prompts/{prompt}/versions/{n}",
        "/api/v1/prompts/{prompt}/versions/{n}/render",
        "/api/v1/prompts/{prompt}/versions/{a}/diff/{b}",
        "/api/v1/prompts/{prompt}/labels/{label}",
        "/api/v1/prompts/{prompt}/approve",
        "/api/v1/prompts/{prompt}/resolve",
        "/api/v1/prompts/{prompt}/history",
    ]:
        assert path in paths, path
