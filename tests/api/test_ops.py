"""Operational endpoints: liveness, readiness, metrics, and the API's own documentation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from experiments.model import ExperimentCreate, ExperimentPatch
from experiments.store import Store
from rollout.app import create_app
from rollout.embedded import free_port
from rollout.settings import Settings
from tests.api.conftest import Api, experiment_body, ok
from tests.conftest import ADMIN_KEY

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def test_healthz_answers_while_the_process_is_up(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_answers_200_when_redis_is_reachable(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "redis": "ok"}


@pytest.fixture
def dead_redis_app() -> Iterator[Flask]:
    url = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(
        Settings.from_env({"REDIS_URL": url, "ROLLOUT_ADMIN_KEY": ADMIN_KEY}), Store.from_url(url)
    )
    yield app
    app.extensions["rollout"].close()


def test_readyz_answers_503_when_redis_is_down_and_healthz_still_200(
    dead_redis_app: Flask,
) -> None:
    client = dead_redis_app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json() == {"status": "unavailable", "redis": "unreachable"}
    assert client.get("/healthz").status_code == 200


def _samples(client: FlaskClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The current value of every sample of metric `name`, keyed by its sorted labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def _value(samples: dict[tuple[tuple[str, str], ...], float], **labels: str) -> float:
    return samples.get(tuple(sorted(labels.items())), 0.0)


def test_metrics_is_prometheus_text(client: FlaskClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "# TYPE rollout_http_requests_total counter" in text
    assert "# TYPE rollout_http_request_duration_seconds histogram" in text
    assert "# TYPE rollout_assignments_total counter" in text
    assert list(text_string_to_metric_families(text))


def test_metrics_count_requests_by_route_and_status(client: FlaskClient, admin: Api) -> None:
    route = "/api/v1/experiments/<key>"
    before = _samples(client, "rollout_http_requests_total")
    for _ in range(3):
        admin.get("/api/v1/experiments/missing")
    ok(admin.post("/api/v1/experiments", json=experiment_body("counted")))
    admin.get("/api/v1/experiments/counted")
    after = _samples(client, "rollout_http_requests_total")
    not_found = {"method": "GET", "route": route, "status": "404"}
    found = {"method": "GET", "route": route, "status": "200"}
    assert _value(after, **not_found) - _value(before, **not_found) == 3
    assert _value(after, **found) - _value(before, **found) == 1
    latency = _samples(client, "rollout_http_request_duration_seconds_count")
    assert _value(latency, method="GET", route=route) >= 4


def test_metrics_count_assignments_by_experiment_and_variant(
    client: FlaskClient, admin: Api, sdk: Api
) -> None:
    ok(admin.post("/api/v1/experiments", json=experiment_body("metered")))
    ok(admin.post("/api/v1/experiments/metered/start", json={}))
    before = _samples(client, "rollout_assignments_total")
    served: dict[str, int] = {}
    for i in range(40):
        answer = sdk.post("/api/v1/assign", json={"user_id": f"u{i}", "track": False}).get_json()
        variant = answer["assignments"]["metered"]["variant"]
        served[variant] = served.get(variant, 0) + 1
    after = _samples(client, "rollout_assignments_total")
    assert set(served) == {"control", "friendly"}
    for variant, count in served.items():
        labels = {"experiment": "metered", "variant": variant, "in_experiment": "true"}
        assert _value(after, **labels) - _value(before, **labels) == count


def test_unmatched_requests_share_one_route_label(client: FlaskClient) -> None:
    """Scanners must not mint a time series per URL they try."""
    for i in range(5):
        client.get(f"/no-such-page-{i}")
    routes = {dict(labels)["route"] for labels in _samples(client, "rollout_http_requests_total")}
    assert not any(r.startswith("/no-such-page") for r in routes)
    assert "unmatched" in routes


@pytest.fixture
def openapi(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document: dict[str, Any] = response.get_json()
    return document


def test_the_openapi_document_is_valid_openapi_3_1(openapi: dict[str, Any]) -> None:
    definitions = pytest.importorskip("schemathesis.specs.openapi.definitions")
    assert openapi["openapi"].startswith("3.1.")
    errors = [str(e)[:300] for e in definitions.OPENAPI_31_VALIDATOR.iter_errors(openapi)]
    assert errors == []


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_the_openapi_document_holds_together(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    for ref in _refs(openapi):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    operation_ids = [op["operationId"] for _, _, op in _operations(openapi)]
    assert len(operation_ids) == len(set(operation_ids))
    schemes = set(openapi["components"]["securitySchemes"])
    for path, _method, operation in _operations(openapi):
        assert operation["responses"], path
        assert all(re.fullmatch(r"[1-5][0-9]{2}", code) for code in operation["responses"])
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), path
        for requirement in operation.get("security", []):
            assert set(requirement) <= schemes


def _rule_to_path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def test_the_openapi_document_lists_every_api_route(app: Flask, openapi: dict[str, Any]) -> None:
    served = {
        (_rule_to_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods or ()
        if method.lower() in HTTP_METHODS
    }
    documented = {(path, method) for path, method, _ in _operations(openapi)}
    assert served
    assert served <= documented, served - documented
    assert {p for p, _ in documented if p.startswith("/api/v1/")} == {p for p, _ in served}
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert "get" in openapi["paths"][path]


def test_authenticated_operations_say_so(openapi: dict[str, Any]) -> None:
    for path, _method, operation in _operations(openapi):
        if path.startswith("/api/v1/"):
            assert operation["security"] == [{"bearer": []}], path
            assert {"401", "403"} <= set(operation["responses"]), path


def test_the_openapi_schemas_come_from_the_validating_models(openapi: dict[str, Any]) -> None:
    create = openapi["paths"]["/api/v1/experiments"]["post"]
    body_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref == "#/components/schemas/ExperimentCreate"
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"] == (
        "#/components/schemas/ExperimentInEnvironment"
    )
    schemas = openapi["components"]["schemas"]
    assert set(schemas["ExperimentCreate"]["properties"]) == set(ExperimentCreate.model_fields)
    assert set(schemas["ExperimentPatch"]["properties"]) == set(ExperimentPatch.model_fields)
    key = schemas["ExperimentCreate"]["properties"]["key"]
    assert key["pattern"] == "^[a-z0-9][a-z0-9_-]{0,63}$"
    assert schemas["ExperimentCreate"]["additionalProperties"] is False
    for code in ("400", "413", "422"):
        assert code in create["responses"]


def test_docs_is_an_html_page_for_the_openapi_document(client: FlaskClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "/openapi.json" in page
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/docs/assets/swagger-ui-bundle.js" in sources
    assert all(s.startswith("/") and not s.startswith("//") for s in sources), sources
    assert "http://" not in page and "https://" not in page  # works with no internet access


@pytest.mark.parametrize(
    ("asset", "mimetypes"),
    [
        ("swagger-ui-bundle.js", {"application/javascript", "text/javascript"}),
        ("swagger-ui.css", {"text/css"}),
    ],
)
def test_docs_assets_are_served_by_the_service(
    client: FlaskClient, asset: str, mimetypes: set[str]
) -> None:
    response = client.get(f"/docs/assets/{asset}")
    assert response.status_code == 200
    assert response.mimetype in mimetypes
    assert len(response.get_data()) > 10_000
    response.close()


@pytest.mark.parametrize(
    "path",
    ["/docs/assets/no-such-file.js", "/docs/assets/../../../etc/passwd",
     "/docs/assets/%2e%2e/%2e%2e/setup.py"],
)
def test_a_missing_or_escaping_asset_is_404_json(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
