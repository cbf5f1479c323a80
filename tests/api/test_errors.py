"""Every failure answers the contract's JSON error shape with the right status; never HTML, never
a 500 for bad input."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from experiments.store import Store
from rollout.app import create_app
from rollout.embedded import free_port
from rollout.settings import Settings
from tests.api.conftest import Api, experiment_body
from tests.conftest import ADMIN_KEY

JSON_HEADERS = {"Content-Type": "application/json"}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The contract's shape: {"error": {"code", "message", "details": [...]}}, as JSON."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    return error


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"user_id": "u1",}',
        b'{"user_id": "u1"',
        b'{"user_id": "\xff"}',
        b'{"user_id": "u1", "attributes": {"score": NaN}}',
        b'{"user_id": "u1", "attributes": {"score": Infinity}}',
        b'{"user_id": "u1", "attributes": {"score": 1e400}}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    ],
    ids=["truncated", "trailing-comma", "unclosed", "not-utf8", "nan", "infinity", "overflow",
         "deep-array", "deep-object"],
)
def test_malformed_json_is_400(sdk: Api, raw: bytes) -> None:
    response = sdk.post("/api/v1/assign", data=raw, headers=JSON_HEADERS)
    assert_error(response, 400, "malformed")


@pytest.mark.parametrize("raw", [b"[]", b'["user_id"]', b'"u1"', b"42", b"null", b"true"])
def test_a_body_that_is_not_an_object_is_400(admin: Api, raw: bytes) -> None:
    response = admin.post("/api/v1/experiments", data=raw, headers=JSON_HEADERS)
    error = assert_error(response, 400, "malformed")
    assert "object" in error["message"]


def test_the_malformed_message_says_where(sdk: Api) -> None:
    response = sdk.post("/api/v1/assign", data=b'{"user_id": }', headers=JSON_HEADERS)
    assert "column 13" in assert_error(response, 400, "malformed")["message"]


@pytest.mark.parametrize(
    "path", ["/nope", "/api/v1/nope", "/api/v2/experiments", "/api/v1/experiments/x/y/z"]
)
def test_an_unknown_route_is_404_json(client: FlaskClient, path: str) -> None:
    assert_error(client.get(path), 404, "not_found")
    assert_error(
        client.post(path, data=b"{}", headers={"Authorization": f"Bearer {ADMIN_KEY}"}),
        404,
        "not_found",
    )


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/experiments", {"GET", "POST"}),
        ("DELETE", "/api/v1/experiments/summary-tone", {"GET", "PATCH"}),
        ("GET", "/api/v1/assign", {"POST"}),
        ("GET", "/api/v1/experiments/summary-tone/start", {"POST"}),
        ("POST", "/healthz", {"GET"}),
        ("DELETE", "/metrics", {"GET"}),
    ],
)
def test_a_wrong_method_is_405_json_with_allow(
    admin: Api, method: str, path: str, allowed: set[str]
) -> None:
    response = admin.client.open(path, method=method, headers=admin._headers(None))
    assert_error(response, 405, "method_not_allowed")
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


@pytest.fixture
def small_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(max_body_bytes=2048)


def test_a_body_above_the_limit_is_413(small_app: Flask) -> None:
    admin = Api(small_app.test_client(), ADMIN_KEY)
    body = experiment_body("big", description="x" * 4000)
    response = admin.post("/api/v1/experiments", json=body)
    assert_error(response, 413, "too_large")
    assert admin.get("/api/v1/experiments/big").status_code == 404


def test_a_chunked_body_above_the_limit_is_413(small_app: Flask) -> None:
    """Without a Content-Length (chunked, as gunicorn passes it on) the limit still holds."""
    admin = Api(small_app.test_client(), ADMIN_KEY)
    payload = json.dumps(experiment_body("big", description="x" * 4000)).encode()
    response = admin.client.post(
        "/api/v1/experiments",
        input_stream=io.BytesIO(payload),
        headers={**admin._headers(None), **JSON_HEADERS, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_error(response, 413, "too_large")


def test_a_body_within_the_limit_passes(small_app: Flask) -> None:
    admin = Api(small_app.test_client(), ADMIN_KEY)
    assert admin.post("/api/v1/experiments", json=experiment_body("fits")).status_code == 201


def test_the_default_body_limit_is_one_mebibyte(admin: Api) -> None:
    # An events batch: each item is checked alone, so a near-limit body is read whole (202).
    near = {"events": [{"blob": "x" * (1024 * 1024 - 200)}]}
    over = {"events": [{"blob": "x" * (1024 * 1024)}]}
    assert admin.post("/api/v1/events", json=near).status_code == 202
    assert_error(admin.post("/api/v1/events", json=over), 413, "too_large")


def test_422_has_one_details_entry_per_bad_field(admin: Api) -> None:
    body = experiment_body(
        "Bad Key!", traffic=1.5, alpha=0.7, name="", owner=7, surprise="field"
    )
    body["metrics"][1]["max_regression"] = -0.1
    error = assert_error(admin.post("/api/v1/experiments", json=body), 422, "invalid")
    fields = sorted(d["field"] for d in error["details"])
    assert fields == [
        "alpha", "key", "metrics.1.max_regression", "name", "owner", "surprise", "traffic"
    ]
    for detail in error["details"]:
        assert detail["message"]
        assert detail["field"] in error["message"]


def test_422_names_nested_fields_by_their_path(admin: Api) -> None:
    body = experiment_body("nested")
    body["variants"][1]["weight"] = "heavy"
    body["rollout"] = {"stages": [{"traffic": 0.1, "min_duration_s": -5}]}
    error = assert_error(admin.post("/api/v1/experiments", json=body), 422, "invalid")
    assert sorted(d["field"] for d in error["details"]) == [
        "rollout.stages.0.min_duration_s", "variants.1.weight"
    ]


def test_a_missing_required_field_is_named(admin: Api) -> None:
    body = experiment_body("partial")
    del body["variants"], body["control"]
    error = assert_error(admin.post("/api/v1/experiments", json=body), 422, "invalid")
    assert sorted(d["field"] for d in error["details"]) == ["control", "variants"]
    assert {d["type"] for d in error["details"]} == {"missing"}


def test_an_invalid_query_parameter_is_422_naming_it(admin: Api) -> None:
    response = admin.get("/api/v1/experiments?limit=many&status=finished&colour=red")
    error = assert_error(response, 422, "invalid")
    assert sorted(d["field"] for d in error["details"]) == ["colour", "limit", "status"]


@pytest.fixture
def dead_redis_app() -> Iterator[Flask]:
    """An app whose Redis is a closed port: nothing listens there."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(
        Settings.from_env({"REDIS_URL": url, "ROLLOUT_ADMIN_KEY": ADMIN_KEY}), Store.from_url(url)
    )
    yield app
    app.extensions["rollout"].close()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/experiments", None),
        ("GET", "/api/v1/experiments/summary-tone", None),
        ("POST", "/api/v1/experiments", experiment_body()),
        ("POST", "/api/v1/experiments/summary-tone/start", {}),
        ("POST", "/api/v1/keys", {"name": "app", "role": "sdk"}),
        ("GET", "/api/v1/keys", None),
        ("POST", "/api/v1/assign", {"user_id": "u1"}),
        ("GET", "/api/v1/sdk/config", None),
        ("POST", "/api/v1/exposures", {"exposures": []}),
    ],
)
def test_redis_down_is_503(dead_redis_app: Flask, method: str, path: str, body: Any) -> None:
    admin = Api(dead_redis_app.test_client(), ADMIN_KEY)
    response = admin.client.open(path, method=method, json=body, headers=admin._headers(None))
    error = assert_error(response, 503, "unavailable")
    assert "127.0.0.1" not in error["message"]


def test_redis_down_is_503_even_for_an_issued_key(dead_redis_app: Flask) -> None:
    """An issued key cannot be checked without Redis: 503, not 401."""
    issued = Api(dead_redis_app.test_client(), "rk_an-issued-key-the-worker-cannot-check")
    assert_error(issued.get("/api/v1/sdk/config"), 503, "unavailable")


def test_auth_comes_before_redis(dead_redis_app: Flask) -> None:
    assert_error(dead_redis_app.test_client().get("/api/v1/experiments"), 401, "unauthorized")


NASTY_VALUES: list[Any] = [
    None, True, -1, 0, 2**70, -(2**70), 1e308, -0.0, "", "\x00", "\ud7ff\ue000", "é" * 300,
    "a" * 70_000, [], [None], {}, {"": None}, [[[[[[[[[[]]]]]]]]]], {"$gt": 1}, "../../etc",
]


def _nasty_bodies(template: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The template with each field in turn replaced by each nasty value."""
    for field in template:
        for value in NASTY_VALUES:
            yield {**template, field: value}


@pytest.mark.parametrize(
    ("role", "method", "path", "template"),
    [
        ("editor", "POST", "/api/v1/experiments", experiment_body("nasty")),
        ("editor", "PATCH", "/api/v1/experiments/target",
         {"traffic": 0.5, "targeting": {"country": "DE"}, "name": "n", "variants": []}),
        ("release", "POST", "/api/v1/experiments/target/conclude",
         {"winner": "control", "reason": "r"}),
        ("sdk", "POST", "/api/v1/assign",
         {"user_id": "u1", "attributes": {}, "experiments": ["target"], "track": True}),
        ("sdk", "POST", "/api/v1/exposures",
         {"exposures": [{"user_id": "u", "experiment": "target", "variant": "control"}]}),
        ("admin", "POST", "/api/v1/keys", {"name": "k", "role": "sdk"}),
    ],
    ids=["create", "patch", "conclude", "assign", "exposures", "keys"],
)
def test_bad_input_never_causes_a_server_error(
    request: pytest.FixtureRequest, admin: Api, role: str, method: str, path: str,
    template: dict[str, Any],
) -> None:
    caller: Api = request.getfixturevalue(role) if role != "admin" else admin
    assert admin.post("/api/v1/experiments", json=experiment_body("target")).status_code == 201
    assert admin.post("/api/v1/experiments/target/start", json={}).status_code == 200
    seen: set[int] = set()
    for body in _nasty_bodies(template):
        response = caller.client.open(path, method=method, json=body, headers=caller._headers(None))
        assert response.status_code < 500, (body, response.get_json())
        assert response.mimetype == "application/json"
        seen.add(response.status_code)
    assert 422 in seen
