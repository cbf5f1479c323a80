"""POST /v1/traces: GenAI spans from the OpenTelemetry SDK's own exporter become metric events."""

from __future__ import annotations

import base64
import gzip
import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from flask import Flask
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from werkzeug.serving import make_server

from experiments.stats.moments import Moments
from rollout.runtime import Runtime
from tests.api.conftest import Api, experiment_body

EXP = "summary-tone"
LLM_METRICS = [
    {"key": "latency_ms", "type": "mean", "role": "guardrail", "direction": "decrease"},
    {"key": "input_tokens", "type": "mean", "role": "secondary", "direction": "decrease"},
    {"key": "output_tokens", "type": "mean", "role": "secondary", "direction": "decrease"},
    {"key": "llm_error", "type": "binary", "role": "guardrail", "direction": "decrease"},
    {"key": "ttft_ms", "type": "mean", "role": "secondary", "direction": "decrease"},
]


@pytest.fixture
def running(editor: Api, release: Api) -> str:
    body = experiment_body(EXP, metrics=LLM_METRICS)
    assert editor.post("/api/v1/experiments", json=body).status_code == 201
    assert release.post(f"/api/v1/experiments/{EXP}/start", json={}).status_code == 200
    return EXP


def expose(sdk: Api, *users: str) -> None:
    for user in users:
        answer = sdk.post("/api/v1/assign", json={"user_id": user, "experiments": [EXP]})
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["assignments"][EXP]["in_experiment"]


def genai_spans(calls: Sequence[dict[str, Any]]) -> list[ReadableSpan]:
    """Finished spans as an instrumented application makes them, with explicit times."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "summarizer"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for call in calls:
        start = 1_750_000_000_000_000_000
        span = tracer.start_span("chat gpt-4o-mini", start_time=start)
        span.set_attributes({
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            **call.get("attributes", {}),
        })
        if call.get("error"):
            span.set_status(Status(StatusCode.ERROR, "upstream 500"))
        span.end(end_time=start + int(call["latency_ms"] * 1e6))
    provider.shutdown()
    return list(memory.get_finished_spans())


def call(user: str, latency_ms: float, tokens_in: int, tokens_out: int, **more: Any) -> Any:
    attributes = {
        "rollout.experiment": EXP, "enduser.id": user,
        "gen_ai.usage.input_tokens": tokens_in, "gen_ai.usage.output_tokens": tokens_out,
        **more.pop("attributes", {}),
    }
    return {"latency_ms": latency_ms, "attributes": attributes, **more}


def protobuf_body(spans: Sequence[ReadableSpan]) -> bytes:
    return bytes(encode_spans(spans).SerializeToString())


def json_body(spans: Sequence[ReadableSpan]) -> bytes:
    """OTLP/JSON as the specification writes it: protobuf's JSON mapping with hex ids."""
    document = json_format.MessageToDict(encode_spans(spans))
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for name in ("traceId", "spanId", "parentSpanId"):
                    if name in span:
                        span[name] = base64.b64decode(span[name]).hex()
    return json.dumps(document).encode()


def post_traces(sdk: Api, body: bytes, content_type: str, **headers: str) -> Any:
    response = sdk.client.post(
        "/v1/traces", data=body,
        headers={"Authorization": f"Bearer {sdk.secret}", "Content-Type": content_type, **headers},
    )
    return response


def totals(app: Flask, metric: str) -> float:
    """The metric's sum of per-user values over both variants."""
    runtime: Runtime = app.extensions["rollout"]
    arms = runtime.store.events.snapshot(EXP).stats.metrics[metric]
    assert all(isinstance(a, Moments) for a in arms)
    return sum(a.total for a in arms if isinstance(a, Moments))


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """The app on a real socket, so the OpenTelemetry exporter posts over HTTP as it would."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def test_the_sdk_exporter_sends_spans_that_become_events(
    app: Flask, sdk: Api, running: str, served: str
) -> None:
    expose(sdk, "u1", "u2")
    spans = genai_spans([call("u1", 120.0, 300, 40), call("u2", 80.0, 200, 60, error=True)])
    exporter = OTLPSpanExporter(
        endpoint=f"{served}/v1/traces", headers={"Authorization": f"Bearer {sdk.secret}"},
        compression=Compression.Gzip,
    )
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert totals(app, "input_tokens") == 500.0
    assert totals(app, "output_tokens") == 100.0
    assert totals(app, "latency_ms") == pytest.approx(200.0)
    assert totals(app, "llm_error") == 1.0


def test_the_same_span_sent_twice_counts_once(app: Flask, sdk: Api, running: str) -> None:
    expose(sdk, "u1")
    body = protobuf_body(genai_spans([call("u1", 50.0, 10, 5)]))
    for _ in range(2):
        response = post_traces(sdk, body, "application/x-protobuf")
        assert response.status_code == 200
        answer = ExportTraceServiceResponse.FromString(response.data)
        assert answer.partial_success.rejected_spans == 0
    assert totals(app, "input_tokens") == 10.0


def test_json_and_gzip_payloads_count_like_protobuf(app: Flask, sdk: Api, running: str) -> None:
    expose(sdk, "u1", "u2")
    first = json_body(genai_spans([call("u1", 10.0, 7, 3)]))
    second = gzip.compress(json_body(genai_spans([call("u2", 10.0, 11, 3)])))
    assert post_traces(sdk, first, "application/json").get_json() == {}
    response = post_traces(sdk, second, "application/json", **{"Content-Encoding": "gzip"})
    assert response.status_code == 200 and response.get_json() == {}
    assert totals(app, "input_tokens") == 18.0


def test_spans_that_cannot_count_are_rejected_while_the_rest_count(
    app: Flask, sdk: Api, running: str
) -> None:
    expose(sdk, "u1")
    spans = genai_spans([
        call("u1", 10.0, 5, 1),
        {"latency_ms": 10.0, "attributes": {"enduser.id": "u1"}},  # no experiment
        call("never-exposed", 10.0, 5, 1),
        call("u1", 10.0, 5, 1, attributes={"rollout.experiment": "no-such-experiment"}),
    ])
    response = post_traces(sdk, protobuf_body(spans), "application/x-protobuf")
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.data).partial_success
    assert partial.rejected_spans == 3
    assert "rollout.experiment" in partial.error_message
    assert "no recorded exposure" in partial.error_message
    assert "unknown experiment" in partial.error_message
    assert totals(app, "input_tokens") == 5.0


def test_time_to_first_chunk_is_recorded_in_milliseconds(
    app: Flask, sdk: Api, running: str
) -> None:
    expose(sdk, "u1")
    spans = genai_spans([
        call("u1", 900.0, 5, 1, attributes={"gen_ai.response.time_to_first_chunk": 0.25}),
    ])
    assert post_traces(sdk, json_body(spans), "application/json").status_code == 200
    assert totals(app, "ttft_ms") == 250.0


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "status"),
    [
        (b"\xff\x00garbage", "application/x-protobuf", "", 400),
        (b"{not json", "application/json", "", 400),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
         "application/json", "", 400),
        (b"{}", "text/plain", "", 400),
        (b"not gzip", "application/json", "gzip", 400),
        (gzip.compress(b" " * (9 * 1024 * 1024)), "application/json", "gzip", 413),
    ],
)
def test_bad_payloads_get_a_clear_json_error(
    sdk: Api, running: str, body: bytes, content_type: str, encoding: str, status: int
) -> None:
    headers = {"Content-Encoding": encoding} if encoding else {}
    response = post_traces(sdk, body, content_type, **headers)
    assert response.status_code == status
    assert response.get_json()["error"]["message"]


def test_only_sdk_keys_may_export(editor: Api, running: str) -> None:
    response = post_traces(editor, b"", "application/x-protobuf")
    assert response.status_code == 403
