"""Schemathesis against /openapi.json through the Flask app: every operation, with generated valid
and invalid input, answers no 5xx and nothing outside its documented responses and schemas.

Each operation of the document is one test per generation mode, driving the operation's own
hypothesis strategy. (Schemathesis' `from_fixture` pytest integration, which would do the same,
reaches into pytest internals that pytest 9 no longer has.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import rollout.api  # noqa: F401  (registers every route, so the document below is complete)
from experiments.store import Store
from rollout.app import create_app
from rollout.openapi import build_openapi
from rollout.settings import Settings
from tests.conftest import ADMIN_KEY

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}
DOCUMENT = build_openapi("test")
OPERATIONS = sorted(
    (path, method)
    for path, item in DOCUMENT["paths"].items()
    for method in item
    if method in HTTP_METHODS
)
# Invalid input needs some input to be invalid: operations taking none run positive cases only.
RUNS = [
    pytest.param(path, method, mode, id=f"{method.upper()} {path} {mode.value}")
    for path, method in OPERATIONS
    for mode in EXAMPLES
    if mode is GenerationMode.POSITIVE
    or "parameters" in DOCUMENT["paths"][path][method]
    or "requestBody" in DOCUMENT["paths"][path][method]
]


@pytest.fixture
def api_schema(redis_url: str) -> Iterator[schemathesis.schemas.BaseSchema]:
    app = create_app(
        Settings.from_env({"REDIS_URL": redis_url, "ROLLOUT_ADMIN_KEY": ADMIN_KEY}),
        Store.from_url(redis_url),
    )
    yield schemathesis.openapi.from_wsgi("/openapi.json", app)
    app.extensions["rollout"].close()


@pytest.mark.parametrize(("path", "method", "mode"), RUNS)
def test_every_operation_answers_within_its_schema(
    api_schema: schemathesis.schemas.BaseSchema, path: str, method: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large
        ],
    )
    def run(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN_KEY}"}, checks=CHECKS)

    run()


def test_every_api_route_is_exercised() -> None:
    assert len(OPERATIONS) >= 20
    assert ("/api/v1/experiments", "post") in OPERATIONS
    assert ("/api/v1/assign", "post") in OPERATIONS
