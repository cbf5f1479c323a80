"""What one LLM call measured, and the events it becomes on the standard metrics.

The metric keys are the service's standard ones (`experiments/llm_metrics.py`, the `llm` preset,
and OTLP ingestion in `experiments/genai_spans.py`); each value is one event of the call, so a
`ratio` metric (denominator 1 an event, the service's default) reads "per call".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

LATENCY_MS: Final = "latency_ms"
TTFT_MS: Final = "ttft_ms"
INPUT_TOKENS: Final = "input_tokens"
OUTPUT_TOKENS: Final = "output_tokens"
CACHED_INPUT_TOKENS: Final = "cached_input_tokens"
COST_USD: Final = "cost_usd"
LLM_ERROR: Final = "llm_error"

STANDARD_METRICS: Final = frozenset(
    {LATENCY_MS, TTFT_MS, INPUT_TOKENS, OUTPUT_TOKENS, CACHED_INPUT_TOKENS, COST_USD, LLM_ERROR}
)
"""What the integrations record by default: the metrics of the service's `llm` preset."""


@dataclass(frozen=True, slots=True)
class CallMeasure:
    """One call as measured: time, tokens (as the provider counted them), cost, and failure.

    `input_tokens` counts every prompt token and `cached_input_tokens` the part of them read from
    the provider's cache (OpenAI's accounting; the Anthropic integration adds its cache reads in).
    `error` names the failure (`timeout`, `http_429`, `connection`, `stream`, `refusal`, ...) or is
    None. A failed call measures only its failure: its latency is the failure's, not the
    prompt's, and would blur the latency guardrail. `latency_ms` is None for a stream its reader
    closed before the end (the call's duration is then unknown).
    """

    model: str | None
    latency_ms: float | None
    ttft_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    cost_usd: float | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None and self.error != REFUSAL

    def events(self) -> list[tuple[str, float]]:
        """(metric, value) for every figure this call measured; `llm_error` always."""
        figures: list[tuple[str, float | None]] = [
            (LLM_ERROR, 0.0 if self.error is None else 1.0),
        ]
        if not self.failed:
            figures += [
                (LATENCY_MS, self.latency_ms),
                (TTFT_MS, self.ttft_ms),
                (INPUT_TOKENS, self.input_tokens),
                (OUTPUT_TOKENS, self.output_tokens),
                (CACHED_INPUT_TOKENS, self.cached_input_tokens),
                (COST_USD, self.cost_usd),
            ]
        return [(metric, float(value)) for metric, value in figures if value is not None]


REFUSAL: Final = "refusal"
"""The `error` of a call the model answered by refusing: billed, measured, and an error."""


def event_id(call_id: str, metric: str) -> str:
    """The event id of one metric of one call: tracking the same call twice counts it once."""
    return f"llm:{call_id}:{metric}"
