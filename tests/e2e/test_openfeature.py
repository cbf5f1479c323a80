"""The Python OpenFeature provider (rollout_sdk.openfeature), through the OpenFeature SDK itself
(`api.set_provider`, `get_client().get_string_details`, `track`), against the real service under
gunicorn: values and reasons as the service answers them, exposures and events as its results
count them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason
from openfeature.track import TrackingEventDetails

from rollout_sdk import RolloutClient
from rollout_sdk.openfeature import RolloutProvider
from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import Server

pytestmark = pytest.mark.timeout(180)

DOMAIN = "rollout-e2e"
CONFIGS = {"control": {"tone": "neutral", "limits": {"words": 100}},
           "friendly": {"tone": "friendly"}}


@dataclass
class Service:
    base_url: str
    keys: dict[str, str]

    def call(self, method: str, path: str, role: str, body: Any = None, ok: int = 200) -> Any:
        response = requests.request(
            method, self.base_url + path, json=body, timeout=10,
            headers={"Authorization": f"Bearer {self.keys[role]}", "Connection": "close"},
        )
        assert response.status_code == ok, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def define(self, key: str, *actions: tuple[str, dict[str, Any]], **fields: Any) -> None:
        body = {
            "key": key, "name": key, "control": "control",
            "variants": [{"key": v, "weight": 0.5, "config": c} for v, c in CONFIGS.items()],
            "metrics": [{"key": "clicks", "type": "mean", "role": "primary"},
                        {"key": "cost_usd", "type": "ratio", "role": "guardrail"}],
            **fields,
        }
        self.call("POST", "/api/v1/experiments", "editor", body, ok=201)
        for action, payload in actions:
            self.call("POST", f"/api/v1/experiments/{key}/{action}", "release", payload)

    def assigned(self, key: str, user_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
        document = self.call("POST", "/api/v1/assign", "sdk", {
            "user_id": user_id, "attributes": attributes, "experiments": [key], "track": False,
        })
        answer: dict[str, Any] = document["assignments"][key]
        return answer

    def results(self, key: str) -> dict[str, Any]:
        document: dict[str, Any] = self.call("GET", f"/api/v1/experiments/{key}/results", "editor")
        return document

    def wait_for_config(self, keys: set[str]) -> None:
        """Until eight fresh connections in a row (either worker) serve every experiment of
        `keys`, so the provider's first configuration holds them all."""
        deadline = time.monotonic() + 15
        in_a_row = 0
        while in_a_row < 8:
            assert time.monotonic() < deadline, "the workers did not serve the experiments"
            document = self.call("GET", "/api/v1/sdk/config", "sdk")
            served = {entry["key"] for entry in document["experiments"]}
            in_a_row = in_a_row + 1 if keys <= served else 0
            time.sleep(0.02)


START: tuple[str, dict[str, Any]] = ("start", {})
RUNNING: dict[str, dict[str, Any]] = {"of-split": {"targeting": {"country": {"in": ["DE", "FR"]}}},
           "of-half": {"traffic": 0.5},
           "of-exposed": {},
           "of-tracked": {}}


@pytest.fixture(scope="module")
def service(gunicorn: Server) -> Service:
    keys = {}
    for role in ("editor", "release", "sdk"):
        response = requests.post(
            gunicorn.base_url + "/api/v1/keys", json={"name": f"openfeature-{role}", "role": role},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10,
        )
        assert response.status_code == 201, response.text
        keys[role] = str(response.json()["secret"])
    service = Service(gunicorn.base_url, keys)
    for key, fields in RUNNING.items():
        service.define(key, START, **fields)
    service.define("of-paused", START, ("pause", {}))
    service.define("of-concluded", START, ("conclude", {"winner": "friendly"}))
    service.define("of-draft")
    service.wait_for_config({*RUNNING, "of-paused", "of-concluded"})
    return service


@pytest.fixture(scope="module")
def provider(service: Service) -> Iterator[RolloutProvider]:
    made = RolloutProvider.connect(service.base_url, service.keys["sdk"],
                                   refresh_interval_s=0.2, flush_interval_s=0.05, timeout_s=2.0)
    api.set_provider(made, domain=DOMAIN)
    yield made
    api.clear_providers()
    assert made.client.stats().exposures_queued == 0, "shutdown closes the provider's own client"


@pytest.fixture
def flags(provider: RolloutProvider) -> OpenFeatureClient:
    return api.get_client(domain=DOMAIN)


def user(user_id: str, **attributes: Any) -> EvaluationContext:
    return EvaluationContext(targeting_key=user_id, attributes=attributes)


def test_string_evaluations_answer_the_services_variant_with_split_or_default(
    service: Service, flags: OpenFeatureClient
) -> None:
    reasons = set()
    for i in range(200):
        country = ("DE", "FR", "US")[i % 3]
        details = flags.get_string_details("of-split", "fallback", user(f"s-{i}", country=country))
        expected = service.assigned("of-split", f"s-{i}", {"country": country})
        assert (details.value, details.variant) == (expected["variant"], expected["variant"])
        assert details.error_code is None
        assert details.reason == (Reason.SPLIT if expected["in_experiment"] else Reason.DEFAULT)
        assert details.flag_metadata == {"in_experiment": expected["in_experiment"],
                                         "rollout_reason": expected["reason"]}
        reasons.add(expected["reason"])
    assert reasons == {"assigned", "targeting"}


def test_users_outside_the_traffic_get_control_by_default(
    service: Service, flags: OpenFeatureClient
) -> None:
    outside = [flags.get_string_details("of-half", "fallback", user(f"h-{i}")) for i in range(200)]
    by_traffic = [d for d in outside if d.flag_metadata["rollout_reason"] == "traffic"]
    assert 60 < len(by_traffic) < 140
    assert {(d.value, d.reason) for d in by_traffic} == {("control", Reason.DEFAULT)}


def test_object_evaluations_answer_the_variants_config_as_a_copy(
    service: Service, flags: OpenFeatureClient
) -> None:
    for i in range(50):
        details = flags.get_object_details("of-split", {}, user(f"o-{i}", country="DE"))
        expected = service.assigned("of-split", f"o-{i}", {"country": "DE"})
        assert details.reason == Reason.SPLIT
        variant = expected["variant"]
        assert (details.variant, details.value) == (variant, CONFIGS[variant])
        assert isinstance(details.value, dict)
        details.value.get("limits", {})["words"] = -1
    for i in range(50):
        value = flags.get_object_value("of-split", {}, user(f"o-{i}", country="DE"))
        assert value in CONFIGS.values(), "a caller's change must not reach the next answer"


def test_paused_is_disabled_and_concluded_is_static(flags: OpenFeatureClient) -> None:
    paused = flags.get_string_details("of-paused", "fallback", user("u1"))
    concluded = flags.get_string_details("of-concluded", "fallback", user("u1"))
    assert (paused.value, paused.reason, paused.error_code) == ("control", Reason.DISABLED, None)
    assert (concluded.value, concluded.reason) == ("friendly", Reason.STATIC)
    assert flags.get_object_value("of-concluded", {}, user("u1")) == CONFIGS["friendly"]


def test_an_experiment_not_running_is_flag_not_found_with_the_callers_default(
    flags: OpenFeatureClient,
) -> None:
    for key in ("of-draft", "no-such-experiment"):
        details = flags.get_string_details(key, "fallback", user("u1"))
        assert (details.value, details.reason, details.error_code) == (
            "fallback", Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)


def test_a_context_without_targeting_key_and_a_number_evaluation_are_errors(
    flags: OpenFeatureClient,
) -> None:
    anonymous = EvaluationContext(attributes={"country": "DE"})
    missing = flags.get_string_details("of-split", "fallback", anonymous)
    assert (missing.value, missing.error_code) == ("fallback", ErrorCode.TARGETING_KEY_MISSING)
    for details in (flags.get_boolean_details("of-split", True, user("u1")),
                    flags.get_integer_details("of-split", 7, user("u1")),
                    flags.get_float_details("of-split", 0.5, user("u1"))):
        assert (details.reason, details.error_code) == (Reason.ERROR, ErrorCode.TYPE_MISMATCH)
    assert flags.get_integer_value("of-split", 7, user("u1")) == 7


def test_a_provider_that_never_reached_the_service_is_not_ready() -> None:
    client = RolloutClient("http://127.0.0.1:9", "rk_none", timeout_s=0.5)
    api.set_provider(RolloutProvider(client), domain="rollout-offline")
    try:
        details = api.get_client(domain="rollout-offline").get_string_details(
            "of-split", "fallback", user("u1"))
        assert (details.value, details.reason, details.error_code) == (
            "fallback", Reason.ERROR, ErrorCode.PROVIDER_NOT_READY)
    finally:
        client.close(timeout=0.5)


def test_evaluations_record_each_users_exposure_once(
    service: Service, provider: RolloutProvider, flags: OpenFeatureClient
) -> None:
    """Some contexts carry a datetime (OpenFeature allows it): their exposures still arrive."""
    signed_up = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    variants: dict[str, int] = {}
    for i in range(120):
        context = user(f"e-{i}", signed_up=signed_up) if i % 2 else user(f"e-{i}")
        for _ in range(3):
            value = flags.get_string_value("of-exposed", "fallback", context)
        variants[value] = variants.get(value, 0) + 1
    assert set(variants) == {"control", "friendly"}
    assert provider.client.flush(timeout=10)
    figures = service.results("of-exposed")["variants"]
    users = {variant: figures[variant]["users"] for variant in figures}
    assert users == variants


def test_openfeature_tracking_sends_events_counted_once(
    service: Service, provider: RolloutProvider, flags: OpenFeatureClient
) -> None:
    sent = 0.0
    for i in range(40):
        context = user(f"t-{i}")
        assert flags.get_string_value("of-tracked", "fallback", context) in CONFIGS
        flags.track("clicks", context, TrackingEventDetails(i % 4, {"experiment": "of-tracked"}))
        flags.track("cost_usd", context, TrackingEventDetails(0.5, {"experiment": "of-tracked",
                                                                   "denominator": 2}))
        sent += i % 4
    flags.track("clicks", user("t-0"))  # no experiment named: not sent, and no exception
    assert provider.client.flush(timeout=10)
    stats = provider.client.stats()
    assert (stats.events_accepted, stats.events_rejected) == (80, 0)
    metrics = {m["metric"]: m for m in service.results("of-tracked")["metrics"]}
    clicks = sum(v["mean"] * v["users"] for v in metrics["clicks"]["variants"].values())
    assert clicks == pytest.approx(sent)
    ratios = [v["mean"] for v in metrics["cost_usd"]["variants"].values()]
    assert ratios == [pytest.approx(0.25)] * 2
