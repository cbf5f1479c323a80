"""`{"preset": "llm"}` in an experiment's metrics: the standard LLM metrics in one line."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from experiments.llm_metrics import LLM_PRESET, expand_presets
from experiments.model import ExperimentCreate, ExperimentPatch, MetricRole, MetricType
from tests.llm.conftest import Service

STANDARD_KEYS = {"latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cost_usd", "llm_error"}


def experiment(metrics: list[Any]) -> dict[str, Any]:
    return {
        "key": "summary-tone",
        "name": "Friendlier summaries",
        "variants": [{"key": "control", "weight": 0.5}, {"key": "friendly", "weight": 0.5}],
        "control": "control",
        "metrics": metrics,
    }


def test_the_preset_declares_the_standard_metrics_beside_the_teams_own() -> None:
    created = ExperimentCreate.model_validate(
        experiment([{"key": "thumbs_up", "type": "binary", "role": "primary"}, {"preset": "llm"}])
    )
    keys = [m.key for m in created.metrics]
    assert keys[0] == "thumbs_up"
    assert set(keys[1:]) >= STANDARD_KEYS
    assert len(keys) == 1 + len(LLM_PRESET)


def test_cost_is_a_ratio_per_request_and_errors_are_binary_guardrails() -> None:
    created = ExperimentCreate.model_validate(experiment([{"preset": "llm"}]))
    metrics = {m.key: m for m in created.metrics}
    assert metrics["cost_usd"].type is MetricType.RATIO
    assert metrics["cost_usd"].role is MetricRole.GUARDRAIL
    assert metrics["llm_error"].type is MetricType.BINARY
    assert metrics["llm_error"].role is MetricRole.GUARDRAIL
    assert metrics["latency_ms"].max_regression == pytest.approx(0.10)


def test_an_explicit_metric_replaces_the_presets_entry_of_the_same_key() -> None:
    tight = {"key": "latency_ms", "type": "ratio", "role": "guardrail", "direction": "decrease",
             "max_regression": 0.02}
    metrics = ExperimentCreate.model_validate(experiment([{"preset": "llm"}, tight])).metrics
    latency = [m for m in metrics if m.key == "latency_ms"]
    assert len(latency) == 1
    assert latency[0].max_regression == pytest.approx(0.02)


def test_an_unknown_preset_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as refused:
        ExperimentCreate.model_validate(experiment([{"preset": "vibes"}]))
    (error,) = refused.value.errors()
    assert error["loc"][0] == "metrics"
    assert "unknown metric preset 'vibes'" in error["msg"]


def test_the_preset_twice_is_refused_as_duplicate_keys() -> None:
    with pytest.raises(ValidationError, match="metric keys must be unique"):
        ExperimentCreate.model_validate(experiment([{"preset": "llm"}, {"preset": "llm"}]))


def test_a_patch_in_draft_may_declare_the_preset() -> None:
    patch = ExperimentPatch.model_validate({"metrics": [{"preset": "llm"}]})
    assert patch.metrics is not None
    assert {m.key for m in patch.metrics} >= STANDARD_KEYS


def test_metrics_without_a_preset_are_answered_as_they_are() -> None:
    plain = [{"key": "thumbs_up", "type": "binary"}]
    assert expand_presets(plain) is plain
    assert expand_presets("not a list") == "not a list"


def test_over_http_the_stored_experiment_names_the_presets_metrics(service: Service) -> None:
    body = experiment([{"preset": "llm"}])
    body["key"] = "preset-over-http"
    service.call("POST", "/api/v1/experiments", "editor", body, ok=201)
    stored = service.call("GET", "/api/v1/experiments/preset-over-http", "editor")
    assert {m["key"] for m in stored["metrics"]} >= STANDARD_KEYS


def test_over_http_an_unknown_preset_is_a_422_naming_the_field(service: Service) -> None:
    body = experiment([{"preset": "vibes"}])
    body["key"] = "preset-unknown"
    refused = service.call("POST", "/api/v1/experiments", "editor", body, ok=422)
    assert refused["error"]["details"][0]["field"].startswith("metrics")
