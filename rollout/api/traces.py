"""OpenTelemetry in (`sdk`): `POST /v1/traces`, OTLP/HTTP with protobuf or JSON, gzip or not.

An application already traced with GenAI spans (OpenLLMetry, OpenInference, LiteLLM's OTel
callback, or its own) points its OTLP exporter here with an `sdk` key
(`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=<service>/v1/traces`,
`OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer <key>`) and needs no other code: each span that
names its experiment and user becomes events on the experiment's standard LLM metrics
(experiments/genai_spans.py), through the same rules and the same deduplicated ingestion as
`POST /api/v1/events`. Metrics the experiment does not declare are skipped, not rejected. A span
that cannot count (no experiment or user, an unknown or ended experiment, a user never exposed)
is counted in OTLP's partial-success answer with the first reasons; the others count.
"""

from __future__ import annotations

from typing import Any, Final

from flask import Blueprint, Response, request
from pydantic import ValidationError

from experiments.errors import validation_details
from experiments.event_rules import EventWrite, event_write
from experiments.genai_spans import Span, SpanMeasures, Unmeasured, measures_of
from experiments.model import Experiment, Role
from experiments.store.events import Outcome
from rollout.api.events import Event
from rollout.api.routing import environment, environment_store, route, runtime
from rollout.metrics import EVENTS
from rollout.otlp_payload import decode_request, encode_response

blueprint = Blueprint("traces", __name__, url_prefix="/v1")

MAX_REASONS: Final = 5
"""How many rejection reasons the partial-success message quotes (the count covers them all)."""


@route(
    blueprint, "/traces", "POST",
    summary="OTLP/HTTP trace export: GenAI spans become events on the standard LLM metrics",
    roles=[Role.SDK],
    errors=(400, 413),
    extra_responses={200: "ExportTraceServiceResponse (partial success names rejected spans)"},
)
def export_traces() -> Any:
    rt = runtime()
    content_type = request.headers.get("Content-Type", "")
    spans = decode_request(
        request.get_data(cache=False), content_type, request.headers.get("Content-Encoding", "")
    )
    reasons: list[str] = []
    rejected_spans: set[int] = set()
    writes: list[EventWrite] = []
    owners: list[int] = []
    snapshot = rt.live.snapshot(environment().name)
    for index, span in enumerate(spans):
        measured = measures_of(span)
        if isinstance(measured, Unmeasured):
            rejected_spans.add(index)
            reasons.append(measured.message)
            continue
        span_writes = _writes(snapshot.experiments.get(measured.experiment), measured, span)
        if isinstance(span_writes, str):
            rejected_spans.add(index)
            reasons.append(f"span {span.span_id}: {span_writes}")
            continue
        writes.extend(span_writes)
        owners.extend([index] * len(span_writes))
    outcomes = environment_store().events.ingest(writes, rt.settings.dedupe_window_s)
    for index, outcome in zip(owners, outcomes, strict=True):
        EVENTS.labels(outcome.name.lower()).inc()
        if outcome is Outcome.NOT_EXPOSED and index not in rejected_spans:
            rejected_spans.add(index)
            reasons.append(f"span {spans[index].span_id}: the user has no recorded exposure")
    message = "; ".join(reasons[:MAX_REASONS])
    body, media = encode_response(len(rejected_spans), message, content_type)
    return Response(body, status=200, mimetype=media)


def _writes(
    experiment: Experiment | None, measured: SpanMeasures, span: Span
) -> list[EventWrite] | str:
    """The span's events on the metrics the experiment declares, or why none can count."""
    writes: list[EventWrite] = []
    for metric, value in measured.values.items():
        try:
            event = Event.model_validate({
                "event_id": measured.event_id(span, metric),
                "user_id": measured.user_id,
                "experiment": measured.experiment,
                "metric": metric,
                "value": value,
            })
        except ValidationError as exc:
            return "; ".join(
                f"{d['field']}: {d['message']}" for d in validation_details(exc)
            )
        write = event_write(experiment, event)
        if isinstance(write, EventWrite):
            writes.append(write)
        elif write.code != "unknown_metric":
            return write.message
    return writes
