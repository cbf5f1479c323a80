"""Issue 10, items 2 and 3 over HTTP: a template bomb or a backtracking regex is one clear 422 and a
quick answer, never a frozen worker."""

from __future__ import annotations

import time
from typing import Any

import pytest
import re2

from tests.api.conftest import Api, experiment_body

DOUBLED_40_TIMES = (
    "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = [ns.l, ns.l] %}"
    "{% endfor %}{{ ns.l|string }}"
)


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


@pytest.mark.parametrize(
    ("template", "variables"),
    [(DOUBLED_40_TIMES, {}), ("{{ doc|wordwrap(1) }}", {"doc": "ab " * 300_000})],
)
def test_a_template_bomb_is_a_quick_422_render_limit_exceeded(
    editor: Api, template: str, variables: dict[str, Any]
) -> None:
    created = editor.post("/api/v1/prompts/bomb/versions", json={"template": template})
    assert created.status_code == 201, created.get_json()

    response, took = timed(
        lambda: editor.post("/api/v1/prompts/bomb/versions/1/render", json={"variables": variables})
    )

    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "render_limit_exceeded"
    assert took < 3.0


def test_a_version_whose_test_case_is_a_bomb_is_refused_quickly(editor: Api) -> None:
    body = {"template": DOUBLED_40_TIMES, "tests": [{"variables": {}}]}

    response, took = timed(lambda: editor.post("/api/v1/prompts/bomb/versions", json=body))

    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "prompt_test_failed"
    assert "larger than 1000000 characters" in response.get_json()["error"]["message"] + str(
        response.get_json()["error"]["details"]
    )
    assert took < 3.0


@pytest.mark.parametrize("pattern", [r"(\w+\s?)+$", r"(a+a?)+$", r"(a|a)*$", r"a*a*a*a*a*a*a*b"])
def test_a_regex_that_backtracks_elsewhere_is_accepted_and_assigns_in_microseconds(
    editor: Api, release: Api, sdk: Api, pattern: str
) -> None:
    body = experiment_body(targeting={"bio": {"regex": pattern}})
    created = editor.post("/api/v1/experiments", json=body)
    assert created.status_code == 201, created.get_json()
    started = release.post("/api/v1/experiments/summary-tone/start", json={})
    assert started.status_code == 200, started.get_json()
    hostile = {"user_id": "u1", "attributes": {"bio": "a" * 40 + "!"}, "track": False}

    response, took = timed(lambda: sdk.post("/api/v1/assign", json=hostile))

    assert response.status_code == 200, response.get_json()
    matched = re2.search(pattern, hostile["attributes"]["bio"]) is not None
    assert response.get_json()["assignments"]["summary-tone"]["in_experiment"] is matched
    assert took < 0.5  # the whole request; the match itself takes microseconds


def test_a_pattern_re2_cannot_run_is_422_naming_the_place(editor: Api) -> None:
    body = experiment_body(targeting={"email": {"regex": r"(a)\1"}})

    response = editor.post("/api/v1/experiments", json=body)

    assert response.status_code == 422
    details = str(response.get_json()["error"])
    assert "does not compile as RE2" in details
    assert "attribute 'email'" in details
