"""Small holes at the edge (issue 10, item 8): lone surrogates, deep configs, loose coercion and
pydantic's own text never reach a client; each is one 422 naming the field, as JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import Api, experiment_body
from tests.api.test_assign_api import define
from tests.api.test_errors import assert_error

SURROGATE = "\ud800"


def send(api: Api, method: str, path: str, body: Any) -> Any:
    """`body` as JSON text with `\\ud800` escapes, as any JSON client may send it."""
    text = json.dumps(body)  # ensure_ascii: a lone surrogate is written as its escape
    assert "\\ud800" in text
    return getattr(api, method)(path, data=text, headers={"Content-Type": "application/json"})


def only_field(error: dict[str, Any]) -> str:
    fields: list[str] = [d["field"] for d in error["details"]]
    assert len(fields) == 1, fields
    return fields[0]


def test_a_lone_surrogate_in_a_targeting_value_is_a_422(editor: Api) -> None:
    body = experiment_body("s", targeting={"country": {"in": [SURROGATE]}})
    error = assert_error(send(editor, "post", "/api/v1/experiments", body), 422, "invalid")
    assert only_field(error) == "targeting"
    assert "lone surrogate" in error["details"][0]["message"]


def test_a_lone_surrogate_in_a_config_value_is_a_422(editor: Api) -> None:
    body = experiment_body("s")
    body["variants"][0]["config"] = {"tone": "a" + SURROGATE}
    error = assert_error(send(editor, "post", "/api/v1/experiments", body), 422, "invalid")
    assert only_field(error) == "variants.0.config"


def test_a_lone_surrogate_as_a_config_key_is_refused_not_changed(editor: Api) -> None:
    body = experiment_body("s")
    body["variants"][0]["config"] = {"to" + SURROGATE + "ne": "neutral"}
    error = assert_error(send(editor, "post", "/api/v1/experiments", body), 422, "invalid")
    assert only_field(error) == "variants.0.config"
    assert "key with a lone surrogate" in error["details"][0]["message"]
    assert editor.get("/api/v1/experiments/s").status_code == 404


def test_a_lone_surrogate_in_a_patch_is_a_422(editor: Api) -> None:
    assert editor.post("/api/v1/experiments", json=experiment_body("s")).status_code == 201
    patch = {"targeting": {"country": {"eq": SURROGATE}}}
    error = assert_error(send(editor, "patch", "/api/v1/experiments/s", patch), 422, "invalid")
    assert only_field(error) == "targeting"
    assert editor.get("/api/v1/experiments/s").get_json()["targeting"] is None


def test_a_lone_surrogate_in_an_attribute_is_a_422(admin: Api, sdk: Api) -> None:
    define(admin, "s")
    body = {"user_id": "u1", "attributes": {"country": SURROGATE}}
    error = assert_error(send(sdk, "post", "/api/v1/assign", body), 422, "invalid")
    assert only_field(error) == "attributes"


# 975 levels, through gunicorn's shallower stack: tests/e2e/test_outage_start.py.
@pytest.mark.parametrize("depth", [33, 256, 500, 900])
def test_a_config_nested_hundreds_deep_is_a_422(editor: Api, depth: int) -> None:
    body = experiment_body("deep")
    body["variants"][0]["config"] = "__deep__"
    text = json.dumps(body).replace(
        '"__deep__"', '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)
    )
    answer = editor.post(
        "/api/v1/experiments", data=text, headers={"Content-Type": "application/json"}
    )
    error = assert_error(answer, 422, "invalid")
    assert only_field(error) == "variants.0.config"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/assign", {"user_id": "u1", "track": 0}, "track"),
        ("/api/v1/assign", {"user_id": "u1", "track": "false"}, "track"),
        ("/api/v1/experiments", experiment_body("t", traffic=True), "traffic"),
        ("/api/v1/experiments", experiment_body("t", traffic="1"), "traffic"),
        ("/api/v1/experiments", experiment_body("t", review=1), "review"),
        ("/api/v1/experiments", experiment_body("t", alpha="0.05"), "alpha"),
    ],
)
def test_types_are_strict_at_the_edge(
    admin: Api, path: str, body: dict[str, Any], field: str
) -> None:
    error = assert_error(admin.post(path, json=body), 422, "invalid")
    assert only_field(error) == field


@pytest.mark.parametrize("traffic", [True, "1", None])
def test_patch_traffic_must_be_a_number(editor: Api, traffic: Any) -> None:
    assert editor.post("/api/v1/experiments", json=experiment_body("p")).status_code == 201
    answer = editor.patch("/api/v1/experiments/p", json={"traffic": traffic})
    error = assert_error(answer, 422, "invalid")
    assert only_field(error) == "traffic"
    assert editor.get("/api/v1/experiments/p").get_json()["traffic"] == 1.0


def test_patch_null_answers_our_error_document(editor: Api) -> None:
    assert editor.post("/api/v1/experiments", json=experiment_body("p")).status_code == 201
    answer = editor.patch("/api/v1/experiments/p", json={"traffic": None, "name": None})
    error = assert_error(answer, 422, "invalid")
    assert sorted(d["field"] for d in error["details"]) == ["name", "traffic"]
    assert all("may not be null" in d["message"] for d in error["details"])


BAD_BODIES = [
    ("post", "/api/v1/experiments", experiment_body("x", traffic=2, alpha="a", owner=7)),
    ("post", "/api/v1/experiments", {**experiment_body("x"), "variants": [{"key": 1}]}),
    ("patch", "/api/v1/experiments/p", {"traffic": None}),
    ("patch", "/api/v1/experiments/p", {"name": None, "review": None}),
    ("patch", "/api/v1/experiments/p", {"traffic": None, "variants": None, "rollout": 3}),
    ("patch", "/api/v1/experiments/p", {"variants": [{"key": "a", "weight": 1.0}] * 2}),
    ("patch", "/api/v1/experiments/p", {"rollout": {"stages": [{"traffic": 0}]}}),
    ("post", "/api/v1/assign", {"user_id": "", "attributes": [], "experiments": "x"}),
    ("post", "/api/v1/events", {"events": [{"value": "x"}, 3]}),
    ("post", "/api/v1/exposures", {"exposures": [{"user_id": 1}]}),
    ("post", "/api/v1/keys", {"name": 5, "role": "king"}),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_BODIES)
def test_no_answer_carries_pydantic_links(
    admin: Api, method: str, path: str, body: dict[str, Any]
) -> None:
    assert admin.post("/api/v1/experiments", json=experiment_body("p")).status_code == 201
    answer = getattr(admin, method)(path, json=body)
    assert answer.status_code in {202, 409, 422}, answer.get_data(as_text=True)
    assert answer.mimetype == "application/json"
    text = answer.get_data(as_text=True)
    assert "errors.pydantic.dev" not in text
    assert "For further information" not in text
