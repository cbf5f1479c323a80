"""Auth and the keys API: who may call what, how keys are kept, and the per-key rate limit."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from flask import Flask

from rollout.api.routing import ROUTES
from tests.api.conftest import Api, Clock, experiment_body
from tests.conftest import ADMIN_KEY

ROLES = ("admin", "editor", "release", "sdk")
EVERYONE_BUT_SDK = frozenset({"admin", "editor", "release"})

Prepare = Callable[[Api, str], tuple[str, Any]]


def _experiment(admin: Api, key: str, *actions: str, **overrides: Any) -> str:
    """Create experiment `key` (as the bootstrap admin) and apply lifecycle `actions` to it."""
    created = admin.post("/api/v1/experiments", json=experiment_body(key, **overrides))
    assert created.status_code == 201, created.get_json()
    for action in actions:
        moved = admin.post(f"/api/v1/experiments/{key}/{action}", json={})
        assert moved.status_code in (200, 202), moved.get_json()
    return key


def _in_state(*actions: str, path: str = "", body: Any = None, **overrides: Any) -> Prepare:
    def prepare(admin: Api, tag: str) -> tuple[str, Any]:
        key = _experiment(admin, f"exp-{tag}", *actions, **overrides)
        return f"/api/v1/experiments/{key}{path}", body

    return prepare


def _fixed(path: str, body: Any = None) -> Prepare:
    return lambda admin, tag: (path, body)


def _new_key(admin: Api, tag: str) -> tuple[str, Any]:
    return "/api/v1/keys", {"name": f"new-{tag}", "role": "sdk"}


def _victim_key(admin: Api, tag: str) -> tuple[str, Any]:
    created = admin.post("/api/v1/keys", json={"name": f"victim-{tag}", "role": "sdk"})
    assert created.status_code == 201
    return f"/api/v1/keys/victim-{tag}", None


def _new_experiment(admin: Api, tag: str) -> tuple[str, Any]:
    return "/api/v1/experiments", experiment_body(f"exp-{tag}")


def _pending_start(admin: Api, tag: str) -> tuple[str, Any]:
    key = _experiment(admin, f"exp-{tag}", "start", review=True)
    change = admin.get(f"/api/v1/experiments/{key}").get_json()["pending"][0]["id"]
    return f"/api/v1/experiments/{key}/approve", {"change": change}


def _running_for_sdk(path: str, body: Any) -> Prepare:
    def prepare(admin: Api, tag: str) -> tuple[str, Any]:
        _experiment(admin, f"exp-{tag}", "start")
        return path, body

    return prepare


@dataclass(frozen=True)
class RouteCase:
    method: str
    name: str
    roles: frozenset[str]
    prepare: Prepare

    @property
    def id(self) -> str:
        return f"{self.method} {self.name}"


TWO_STAGES = {"stages": [{"traffic": 0.1}, {"traffic": 0.5}]}

# Every foundation route and the roles allowed on it (admin may do everything), from the contract.
FOUNDATION_ROUTES = [
    RouteCase("POST", "/keys", frozenset({"admin"}), _new_key),
    RouteCase("GET", "/keys", frozenset({"admin"}), _fixed("/api/v1/keys")),
    RouteCase("DELETE", "/keys/{name}", frozenset({"admin"}), _victim_key),
    RouteCase("POST", "/experiments", frozenset({"admin", "editor"}), _new_experiment),
    RouteCase("GET", "/experiments", EVERYONE_BUT_SDK, _fixed("/api/v1/experiments")),
    RouteCase("GET", "/experiments/{key}", EVERYONE_BUT_SDK, _in_state()),
    RouteCase("PATCH", "/experiments/{key}", EVERYONE_BUT_SDK, _in_state(body={"name": "Renamed"})),
    RouteCase("GET", "/experiments/{key}/history", EVERYONE_BUT_SDK, _in_state(path="/history")),
    RouteCase("POST", "/experiments/{key}/start", frozenset({"admin", "release"}),
              _in_state(path="/start", body={})),
    RouteCase("POST", "/experiments/{key}/pause", frozenset({"admin", "release"}),
              _in_state("start", path="/pause", body={})),
    RouteCase("POST", "/experiments/{key}/resume", frozenset({"admin", "release"}),
              _in_state("start", "pause", path="/resume", body={})),
    RouteCase("POST", "/experiments/{key}/advance", frozenset({"admin", "release"}),
              _in_state("start", path="/advance", body={}, rollout=TWO_STAGES)),
    RouteCase("POST", "/experiments/{key}/rollback", frozenset({"admin", "release"}),
              _in_state("start", path="/rollback", body={"reason": "test"})),
    RouteCase("POST", "/experiments/{key}/conclude", frozenset({"admin", "release"}),
              _in_state("start", path="/conclude", body={"winner": "friendly"})),
    RouteCase("POST", "/experiments/{key}/approve", EVERYONE_BUT_SDK, _pending_start),
    RouteCase("POST", "/experiments/{key}/archive", frozenset({"admin", "editor"}),
              _in_state(path="/archive", body={})),
    RouteCase("POST", "/experiments/{key}/unarchive", frozenset({"admin", "editor"}),
              _in_state(path="/unarchive", body={})),
    RouteCase("POST", "/experiments/{key}/promote", frozenset({"admin", "release"}),
              _in_state(path="/promote", body={"from": "production", "to": "staging"})),
    RouteCase("POST", "/assign", frozenset({"admin", "sdk"}),
              _running_for_sdk("/api/v1/assign", {"user_id": "u1"})),
    RouteCase("GET", "/sdk/config", frozenset({"admin", "sdk"}), _fixed("/api/v1/sdk/config")),
    RouteCase("POST", "/exposures", frozenset({"admin", "sdk"}),
              _fixed("/api/v1/exposures", {"exposures": []})),
]


def _call(api: Api, method: str, path: str, body: Any) -> Any:
    if method == "GET":
        return api.get(path)
    if method == "DELETE":
        return api.delete(path)
    return getattr(api, method.lower())(path, json=body)


def _key_of(admin: Api, role: str, name: str) -> Api:
    """A key of every environment: the roles are what is checked here (a promotion spans two
    environments); keys of one environment are tests/api/test_environments_isolation.py's."""
    created = admin.post("/api/v1/keys", json={"name": name, "role": role, "environment": None})
    assert created.status_code == 201, created.get_json()
    return Api(admin.client, created.get_json()["secret"])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", FOUNDATION_ROUTES, ids=lambda c: c.id)
def test_each_role_is_allowed_exactly_where_the_contract_says(
    admin: Api, case: RouteCase, role: str
) -> None:
    caller = _key_of(admin, role, f"caller-{role}")
    path, body = case.prepare(admin, role)
    response = _call(caller, case.method, path, body)
    if role in case.roles:
        assert 200 <= response.status_code < 300, response.get_json()
    else:
        assert response.status_code == 403, response.get_json()
        error = response.get_json()["error"]
        assert error["code"] == "forbidden"
        assert f"'{role}'" in error["message"]


def test_the_table_covers_every_route_of_the_foundation_blueprints(app: Flask) -> None:
    registered = {
        (spec.method.upper(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", spec.path))
        for spec in ROUTES
        if spec.tag in {"keys", "experiments", "assign"}
    }
    tabled = {(case.method, "/api/v1" + case.name) for case in FOUNDATION_ROUTES}
    assert tabled == registered


def test_a_refused_role_changes_nothing(admin: Api, editor: Api, sdk: Api) -> None:
    _experiment(admin, "guarded")
    assert sdk.post("/api/v1/experiments", json=experiment_body("sneaky")).status_code == 403
    assert editor.post("/api/v1/experiments/guarded/start", json={}).status_code == 403
    assert editor.post("/api/v1/keys", json={"name": "mine", "role": "admin"}).status_code == 403
    assert admin.get("/api/v1/experiments/sneaky").status_code == 404
    assert admin.get("/api/v1/experiments/guarded").get_json()["status"] == "draft"
    assert [k["name"] for k in admin.get("/api/v1/keys").get_json()["keys"]] == [
        "editor-key",
        "sdk-key",
    ]


def _authenticated_routes() -> list[tuple[str, str]]:
    return sorted(
        {
            (spec.method.upper(), re.sub(r"<(?:\w+:)?(\w+)>", lambda m: _sample(m[1]), spec.path))
            for spec in ROUTES
            if spec.roles is not None
        }
    )


def _sample(parameter: str) -> str:
    return "1" if parameter in {"n", "version", "a", "b"} else "some-key"


BAD_AUTHORIZATION = {
    "missing": None,
    "unknown key": "Bearer rk_this-key-was-never-issued",
    "basic scheme": "Basic YWRtaW46YWRtaW4=",
    "no secret": "Bearer",
    "blank secret": "Bearer    ",
    "secret alone": ADMIN_KEY,
    "oversized secret": "Bearer " + "x" * 5000,
}


@pytest.mark.parametrize("header", BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION.keys())
def test_every_api_route_refuses_a_missing_unknown_or_malformed_key(
    app: Flask, header: str | None
) -> None:
    client = app.test_client()
    routes = _authenticated_routes()
    assert len(routes) >= len(FOUNDATION_ROUTES)
    headers = {} if header is None else {"Authorization": header}
    for method, path in routes:
        response = client.open(path, method=method, json={}, headers=headers)
        assert response.status_code == 401, (method, path, response.get_json())
        assert response.get_json()["error"]["code"] == "unauthorized"


def test_the_bearer_scheme_is_case_insensitive(client: Any) -> None:
    response = client.get("/api/v1/keys", headers={"Authorization": f"bearer {ADMIN_KEY}"})
    assert response.status_code == 200


def test_the_bootstrap_admin_key_from_the_environment_is_accepted(client: Any) -> None:
    response = client.get("/api/v1/keys", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert response.status_code == 200
    assert response.get_json() == {"keys": []}


def test_without_a_bootstrap_key_only_issued_keys_are_accepted(
    make_app: Callable[..., Flask], store: Any
) -> None:
    app = make_app(admin_key=None)
    bootstrap = {"Authorization": f"Bearer {ADMIN_KEY}"}
    refused = app.test_client().get("/api/v1/keys", headers=bootstrap)
    assert refused.status_code == 401
    _, secret = store.apikeys.create("ops", _role("admin"), 0.0, "cli")
    store.announce_change()
    accepted = app.test_client().get("/api/v1/keys", headers={"Authorization": f"Bearer {secret}"})
    assert accepted.status_code == 200


def _role(value: str) -> Any:
    from experiments.model import Role

    return Role(value)


def test_a_created_key_answers_201_with_its_secret_once(admin: Api, clock: Clock) -> None:
    created = admin.post("/api/v1/keys", json={"name": "checkout-app", "role": "sdk"})
    assert created.status_code == 201
    body = created.get_json()
    assert body["name"] == "checkout-app"
    assert body["role"] == "sdk"
    assert body["created_at"] == clock.now
    assert body["created_by"] == "bootstrap-admin"
    assert re.fullmatch(r"rk_[A-Za-z0-9_-]{43}", body["secret"])
    app_client = Api(admin.client, body["secret"])
    assert app_client.post("/api/v1/assign", json={"user_id": "u1"}).status_code == 200
    listed = admin.get("/api/v1/keys").get_json()["keys"]
    assert listed == [
        {"name": "checkout-app", "role": "sdk", "environment": "production",
         "created_at": clock.now,
         "created_at_rfc3339": "2025-06-15T15:06:40.000Z", "created_by": "bootstrap-admin"}
    ]


def test_secrets_are_distinct_and_of_high_entropy(admin: Api) -> None:
    secrets_ = {
        admin.post("/api/v1/keys", json={"name": f"k{i}", "role": "sdk"}).get_json()["secret"]
        for i in range(20)
    }
    assert len(secrets_) == 20
    # token_urlsafe(32): 43 characters of a 64-letter alphabet, 256 bits.
    assert all(len(s.removeprefix("rk_")) == 43 for s in secrets_)


def test_the_key_list_never_shows_a_secret_or_its_hash(admin: Api) -> None:
    secret = admin.post("/api/v1/keys", json={"name": "app", "role": "sdk"}).get_json()["secret"]
    text = admin.get("/api/v1/keys").get_data(as_text=True)
    assert secret not in text
    assert hashlib.sha256(secret.encode()).hexdigest() not in text
    assert "secret" not in text and "hash" not in text


def test_keys_are_stored_hashed_and_the_secret_appears_nowhere_in_redis(
    admin: Api, redis_url: str
) -> None:
    secrets_ = [
        admin.post("/api/v1/keys", json={"name": f"key-{role}", "role": role}).get_json()["secret"]
        for role in ROLES
    ]
    dump = _dump_redis(redis_url)
    for secret in secrets_:
        assert secret not in dump
        assert secret.removeprefix("rk_") not in dump
        assert hashlib.sha256(secret.encode()).hexdigest() in dump


def _dump_redis(url: str) -> str:
    """Every key and value in the database, as one string to search."""
    client = redis.Redis.from_url(url)
    parts: list[object] = []
    try:
        for key in client.scan_iter(count=1000):
            parts.append(key)
            kind = client.type(key)
            if kind == b"string":
                parts.append(client.get(key))
            elif kind == b"hash":
                parts += [item for pair in client.hgetall(key).items() for item in pair]
            elif kind == b"list":
                parts += client.lrange(key, 0, -1)
            elif kind == b"set":
                parts += client.smembers(key)
            elif kind == b"zset":
                parts += client.zrange(key, 0, -1)
    finally:
        client.close()
    assert parts, "the database is empty: nothing was inspected"
    return "\n".join(p.decode() if isinstance(p, bytes) else str(p) for p in parts)


def test_a_duplicate_key_name_is_409(admin: Api) -> None:
    first = admin.post("/api/v1/keys", json={"name": "app", "role": "sdk"})
    again = admin.post("/api/v1/keys", json={"name": "app", "role": "editor"})
    assert first.status_code == 201
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "already_exists"
    assert admin.get("/api/v1/keys").get_json()["keys"][0]["role"] == "sdk"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "Bad Name", "role": "sdk"}, ["name"]),
        ({"name": "app", "role": "superuser"}, ["role"]),
        ({"role": "sdk"}, ["name"]),
        ({"name": "app", "role": "sdk", "scopes": ["all"]}, ["scopes"]),
        ({"name": "", "role": ""}, ["name", "role"]),
    ],
)
def test_an_invalid_key_request_is_422_naming_each_field(
    admin: Api, body: dict[str, Any], fields: list[str]
) -> None:
    response = admin.post("/api/v1/keys", json=body)
    assert response.status_code == 422
    assert sorted(d["field"] for d in response.get_json()["error"]["details"]) == fields


def test_a_revoked_key_is_refused_at_once(admin: Api, sdk: Api) -> None:
    assert sdk.get("/api/v1/sdk/config").status_code == 200  # cached by the worker now
    revoked = admin.delete("/api/v1/keys/sdk-key")
    assert revoked.status_code == 204
    assert revoked.get_data() == b""
    refused = sdk.get("/api/v1/sdk/config")
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "unauthorized"
    assert admin.get("/api/v1/keys").get_json() == {"keys": []}


def test_a_revoked_key_is_refused_by_another_worker_when_the_revoke_answers(
    make_app: Callable[..., Flask],
) -> None:
    first, second = make_app(), make_app()
    admin = Api(first.test_client(), ADMIN_KEY)
    secret = admin.post("/api/v1/keys", json={"name": "app", "role": "sdk"}).get_json()["secret"]
    elsewhere = Api(second.test_client(), secret)
    assert elsewhere.get("/api/v1/sdk/config").status_code == 200  # cached by the other worker
    assert admin.delete("/api/v1/keys/app").status_code == 204
    assert elsewhere.get("/api/v1/sdk/config").status_code == 401


def test_revoking_an_unknown_key_is_404(admin: Api) -> None:
    response = admin.delete("/api/v1/keys/never-issued")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_a_revoked_name_can_be_issued_again_with_a_new_secret(admin: Api, sdk: Api) -> None:
    assert admin.delete("/api/v1/keys/sdk-key").status_code == 204
    again = admin.post("/api/v1/keys", json={"name": "sdk-key", "role": "sdk"})
    assert again.status_code == 201
    assert again.get_json()["secret"] != sdk.secret
    assert sdk.get("/api/v1/sdk/config").status_code == 401
    renewed = Api(admin.client, again.get_json()["secret"])
    assert renewed.get("/api/v1/sdk/config").status_code == 200


def test_the_rate_limit_is_off_by_default(sdk: Api) -> None:
    statuses = {sdk.get("/api/v1/sdk/config").status_code for _ in range(50)}
    assert statuses == {200}


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(
    make_app: Callable[..., Flask], clock: Clock
) -> None:
    app = make_app(rate_limit_per_s=3)
    admin = Api(app.test_client(), ADMIN_KEY)
    clock.now = 1_750_000_100.25
    first = _key_of(admin, "sdk", "first-app")
    second = _key_of(admin, "sdk", "second-app")
    statuses = [first.get("/api/v1/sdk/config").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    limited = first.get("/api/v1/sdk/config")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.get_json()["error"]["code"] == "rate_limited"
    # The budget is per key: another key of the same role is untouched.
    assert second.get("/api/v1/sdk/config").status_code == 200
    # The bootstrap admin has spent 3 calls (two key creations and this one) of its budget.
    assert admin.get("/api/v1/keys").status_code == 200
    assert admin.get("/api/v1/keys").status_code == 429
    clock.advance(1.0)
    assert first.get("/api/v1/sdk/config").status_code == 200
    assert admin.get("/api/v1/keys").status_code == 200


def test_the_rate_limit_is_shared_by_every_worker(
    make_app: Callable[..., Flask], clock: Clock
) -> None:
    one, two = make_app(rate_limit_per_s=4), make_app(rate_limit_per_s=4)
    secret = _key_of(Api(one.test_client(), ADMIN_KEY), "sdk", "app").secret
    clock.advance(1.0)
    statuses = [
        Api(worker.test_client(), secret).get("/api/v1/sdk/config").status_code
        for worker in (one, two, one, two, one, two)
    ]
    assert statuses == [200, 200, 200, 200, 429, 429]


def test_unauthenticated_requests_are_not_rate_limited(make_app: Callable[..., Flask]) -> None:
    client = make_app(rate_limit_per_s=1).test_client()
    assert {client.get("/healthz").status_code for _ in range(10)} == {200}
    assert {client.get("/api/v1/keys").status_code for _ in range(10)} == {401}
