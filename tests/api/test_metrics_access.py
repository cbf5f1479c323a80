"""/metrics names every experiment, so an operator can require a key for it."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from tests.api.conftest import Api
from tests.conftest import ADMIN_KEY

TOKEN = "prometheus-scrape-token-0123456789"


def test_metrics_is_open_without_a_metrics_token(make_app: Callable[..., Flask]) -> None:
    assert make_app().test_client().get("/metrics").status_code == 200


def test_with_a_metrics_token_metrics_refuses_an_anonymous_scrape(
    make_app: Callable[..., Flask],
) -> None:
    response = make_app(metrics_token=TOKEN).test_client().get("/metrics")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_with_a_metrics_token_metrics_answers_that_token(make_app: Callable[..., Flask]) -> None:
    client = make_app(metrics_token=TOKEN).test_client()
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert "rollout_http_requests_total" in response.get_data(as_text=True)
    wrong = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert wrong.status_code == 401


def test_with_a_metrics_token_an_admin_key_reads_metrics_and_others_do_not(
    make_app: Callable[..., Flask],
) -> None:
    admin = Api(make_app(metrics_token=TOKEN).test_client(), ADMIN_KEY)
    assert admin.get("/metrics").status_code == 200
    created = admin.post("/api/v1/keys", json={"name": "app", "role": "sdk"})
    assert created.status_code == 201
    sdk = Api(admin.client, created.get_json()["secret"])
    assert sdk.get("/metrics").status_code == 403


def test_the_metrics_token_is_read_from_the_environment() -> None:
    from rollout.settings import Settings

    assert Settings.from_env({"ROLLOUT_METRICS_TOKEN": TOKEN}).metrics_token == TOKEN
