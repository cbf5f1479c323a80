"""The real Flask app against the real redis-server, and clients holding a key of each role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from experiments.store import Store
from rollout.app import create_app
from rollout.runtime import Runtime
from rollout.settings import Settings
from tests.conftest import ADMIN_KEY


class Clock:
    """An injected clock, so tests move time instead of waiting for it."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Api:
    """A Flask test client that sends one role's key with every request."""

    def __init__(self, client: FlaskClient, secret: str) -> None:
        self.client = client
        self.secret = secret

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}", **(extra or {})}

    def get(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.get(path, headers=self._headers(headers), **kw)

    def post(
        self, path: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        return self.client.post(path, json=json, headers=self._headers(headers), **kw)

    def patch(
        self, path: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        return self.client.patch(path, json=json, headers=self._headers(headers), **kw)

    def put(
        self, path: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        return self.client.put(path, json=json, headers=self._headers(headers), **kw)

    def delete(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.delete(path, headers=self._headers(headers), **kw)


def ok(response: Any) -> Any:
    """An arrange step's answer, checked: a test must not go on from a refused request."""
    assert 200 <= response.status_code < 300, (response.status_code, response.get_json())
    return response


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(redis_url: str, clock: Clock) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        settings = Settings.from_env(
            # A short poll: a key revoke waits two periods before it answers.
            {
                "REDIS_URL": redis_url,
                "ROLLOUT_ADMIN_KEY": ADMIN_KEY,
                "ROLLOUT_CONFIG_POLL_S": "0.05",
            },
            **overrides,
        )
        app = create_app(settings, Store.from_url(redis_url))
        runtime: Runtime = app.extensions["rollout"]
        runtime.clock = clock
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["rollout"].close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def admin(client: FlaskClient) -> Api:
    return Api(client, ADMIN_KEY)


def _key(admin: Api, role: str, name: str | None = None) -> Api:
    response = admin.post("/api/v1/keys", json={"name": name or f"{role}-key", "role": role})
    assert response.status_code == 201, response.get_json()
    return Api(admin.client, response.get_json()["secret"])


@pytest.fixture
def editor(admin: Api) -> Api:
    return _key(admin, "editor")


@pytest.fixture
def release(admin: Api) -> Api:
    return _key(admin, "release")


@pytest.fixture
def sdk(admin: Api) -> Api:
    return _key(admin, "sdk")


@pytest.fixture
def second_release(admin: Api) -> Api:
    return _key(admin, "release", "release-two")


def experiment_body(key: str = "summary-tone", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": key,
        "name": "Friendlier summaries",
        "owner": "team-growth",
        "variants": [
            {"key": "control", "weight": 0.5, "config": {"tone": "neutral"}},
            {"key": "friendly", "weight": 0.5, "config": {"tone": "friendly"}},
        ],
        "control": "control",
        "traffic": 1.0,
        "metrics": [
            {"key": "thumbs_up", "type": "binary", "role": "primary", "direction": "increase"},
            {
                "key": "latency_ms",
                "type": "mean",
                "role": "guardrail",
                "direction": "decrease",
                "max_regression": 0.10,
            },
            {
                "key": "cost_usd",
                "type": "ratio",
                "role": "guardrail",
                "direction": "decrease",
                "max_regression": 0.05,
            },
        ],
    }
    body.update(overrides)
    return body
