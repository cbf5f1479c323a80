"""From an OpenTelemetry GenAI span to the standard LLM metrics of the experiment that served it.

Pure: a decoded span in, the metric values it measures (or why it cannot count) out. The
transport (OTLP protobuf or JSON, gzip) is the HTTP edge's business, the ingestion the store's.

A span counts when it carries the experiment (`rollout.experiment`) and the user
(`rollout.user_id`, else `enduser.id`), on the span or on its resource. It then measures, following
the GenAI semantic conventions (opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans):

| metric          | from                                                                          |
| --------------- | ----------------------------------------------------------------------------- |
| `latency_ms`    | the span's duration                                                           |
| `ttft_ms`       | `gen_ai.response.time_to_first_chunk` (s; also `..._first_token`), if present |
| `input_tokens`  | `gen_ai.usage.input_tokens` (older instrumentations: `..prompt_tokens`)       |
| `output_tokens` | `gen_ai.usage.output_tokens` (older: `gen_ai.usage.completion_tokens`)        |
| `cost_usd`      | `rollout.cost_usd` or `gen_ai.usage.cost`, if the application sent one        |
| `llm_error`     | 1 when the span's status is ERROR or it has `error.type`, else 0              |

Each metric's event id is `otel:<trace id>:<span id>:<metric>`, so a span exported twice (an
exporter's retry, a collector fanning out) counts once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

STATUS_ERROR: Final = 2
"""`Status.code` of OTLP: 0 unset, 1 ok, 2 error."""

EXPERIMENT_ATTRIBUTE: Final = "rollout.experiment"
USER_ATTRIBUTES: Final = ("rollout.user_id", "enduser.id")

AttributeValue = str | bool | int | float


@dataclass(frozen=True, slots=True)
class Span:
    """The parts of an OTLP span that measurement reads; attributes already merged with the
    resource's (the span's own win)."""

    trace_id: str
    span_id: str
    start_unix_nano: int
    end_unix_nano: int
    status_code: int
    attributes: Mapping[str, AttributeValue]


@dataclass(frozen=True, slots=True)
class SpanMeasures:
    """What one span measured for one user of one experiment."""

    experiment: str
    user_id: str
    values: Mapping[str, float]

    def event_id(self, span: Span, metric: str) -> str:
        return f"otel:{span.trace_id}:{span.span_id}:{metric}"


@dataclass(frozen=True, slots=True)
class Unmeasured:
    """Why a span cannot count (it is reported in OTLP's partial-success answer)."""

    message: str


def measures_of(span: Span) -> SpanMeasures | Unmeasured:
    """The standard LLM metrics a span measures, or why it cannot be attributed."""
    experiment = _text(span.attributes.get(EXPERIMENT_ATTRIBUTE))
    if experiment is None:
        return Unmeasured(f"span {span.span_id} has no {EXPERIMENT_ATTRIBUTE} attribute")
    user_id = next(
        (u for u in (_text(span.attributes.get(a)) for a in USER_ATTRIBUTES) if u is not None),
        None,
    )
    if user_id is None:
        return Unmeasured(f"span {span.span_id} has neither rollout.user_id nor enduser.id")
    if span.end_unix_nano < span.start_unix_nano or span.start_unix_nano <= 0:
        return Unmeasured(f"span {span.span_id} has no valid start and end time")
    values: dict[str, float] = {
        "latency_ms": (span.end_unix_nano - span.start_unix_nano) / 1e6,
        "llm_error": 1.0 if _failed(span) else 0.0,
    }
    for metric, names, scale in _ATTRIBUTE_METRICS:
        value = _first_number(span.attributes, names)
        if value is not None:
            values[metric] = value * scale
    return SpanMeasures(experiment=experiment, user_id=user_id, values=values)


_ATTRIBUTE_METRICS: Final[tuple[tuple[str, tuple[str, ...], float], ...]] = (
    ("ttft_ms", (
        "gen_ai.response.time_to_first_chunk", "gen_ai.response.time_to_first_token",
    ), 1000.0),
    ("input_tokens", ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"), 1.0),
    ("output_tokens", ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"), 1.0),
    ("cost_usd", ("rollout.cost_usd", "gen_ai.usage.cost"), 1.0),
)


def _failed(span: Span) -> bool:
    return span.status_code == STATUS_ERROR or "error.type" in span.attributes


def _text(value: AttributeValue | None) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _first_number(attributes: Mapping[str, AttributeValue], names: tuple[str, ...]) -> float | None:
    for name in names:
        value = attributes.get(name)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
            return float(value)
    return None
