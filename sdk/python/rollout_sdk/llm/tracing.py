"""OpenTelemetry out: the experiment, variant and prompt version on the application's span.

When `opentelemetry-api` is installed (the `[otel]` extra, or any instrumented application) and
the current span is recording, every measured call puts on it `rollout.experiment`,
`rollout.variant`, `rollout.in_experiment` and, when the variant has one, `rollout.prompt.name`
and `rollout.prompt.version`: traces in any backend then show which prompt served them. The
user is not added: a span that carries both experiment and user counts as a measured call when
exported to the service's `/v1/traces`, and this call is already measured by the SDK.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Any

from rollout_sdk.answers import VariantAssignment

_UNSET: Any = object()
_trace: Any = _UNSET


def annotate_current_span(assignment: VariantAssignment) -> None:
    """Put the assignment on the current span, if OpenTelemetry is there and one is recording."""
    trace = _trace_api()
    if trace is None:
        return
    span = trace.get_current_span()
    if not span.is_recording():
        return
    attributes: dict[str, str | int | bool] = {
        "rollout.experiment": assignment.experiment,
        "rollout.variant": assignment.variant,
        "rollout.in_experiment": assignment.in_experiment,
    }
    if assignment.prompt is not None:
        attributes["rollout.prompt.name"] = assignment.prompt.name
        attributes["rollout.prompt.version"] = assignment.prompt.version
    span.set_attributes(attributes)


def _trace_api() -> ModuleType | None:
    """`opentelemetry.trace`, imported once, or None when the application does not have it."""
    global _trace
    if _trace is _UNSET:
        try:
            _trace = import_module("opentelemetry.trace")
        except ImportError:
            _trace = None
    return _trace  # type: ignore[no-any-return]
