"""The Python SDK with a key of one environment, against the real service under gunicorn: it
assigns from that environment's experiments only and `get_prompt(name)` resolves the label
named like that environment (the SDK document's `environment`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rollout_sdk import RolloutClient
from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import Server

pytestmark = pytest.mark.timeout(120)


class Admin:
    """An all-environments admin key, choosing the environment of each call."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def call(self, method: str, path: str, body: Any = None, environment: str = "production",
             ok: int = 200) -> Any:
        response = requests.request(
            method, self.base_url + path, json=body, timeout=10,
            headers={"Authorization": f"Bearer {ADMIN_KEY}",
                     "X-Rollout-Environment": environment},
        )
        assert response.status_code == ok, (method, path, response.status_code, response.text)
        return response.json() if response.content else None


@pytest.fixture
def admin(gunicorn: Server) -> Admin:
    return Admin(gunicorn.base_url)


@pytest.fixture
def staging_client(admin: Admin) -> Iterator[RolloutClient]:
    created = admin.call(
        "POST", "/api/v1/keys",
        {"name": "sdk-env-staging", "role": "sdk", "environment": "staging"}, ok=201,
    )
    client = RolloutClient(admin.base_url, created["secret"], refresh_interval_s=0.1)
    yield client
    client.close(timeout=1.0)


def _experiment(key: str) -> dict[str, Any]:
    return {
        "key": key, "name": key, "control": "control",
        "variants": [{"key": "control", "weight": 0.5}, {"key": "treated", "weight": 0.5}],
        "metrics": [{"key": "clicks", "type": "mean", "role": "primary"}],
    }


def test_a_staging_key_assigns_and_resolves_in_staging(
    admin: Admin, staging_client: RolloutClient
) -> None:
    for template in ("Live {{ name }}", "Tried {{ name }}"):
        admin.call("POST", "/api/v1/prompts/env-greet/versions", {"template": template}, ok=201)
    admin.call("PUT", "/api/v1/prompts/env-greet/labels/production", {"version": 1})
    admin.call("PUT", "/api/v1/prompts/env-greet/labels/staging", {"version": 2})
    for environment, key in (("production", "env-live"), ("staging", "env-tried")):
        admin.call("POST", "/api/v1/experiments", _experiment(key), environment, ok=201)
        admin.call("POST", f"/api/v1/experiments/{key}/start", {}, environment)
    staging_client.refresh()

    prompt = staging_client.get_prompt("env-greet")
    tried = staging_client.assign("u1", "env-tried")
    live = staging_client.assign("u1", "env-live")

    assert prompt is not None and prompt.version == 2
    assert staging_client.render("env-greet", {"name": "Ada"}) == "Tried Ada"
    assert staging_client.get_prompt("env-greet", label="production") is None
    assert tried.in_experiment is True
    assert live.in_experiment is False  # production's experiment is not in staging's document
