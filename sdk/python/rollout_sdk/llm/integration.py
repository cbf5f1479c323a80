"""What every provider integration does around its provider's call, written once.

    call = integration.prepare(user_id, variables, ...)    # assign, render, build the request
    started = time.perf_counter()
    try: response = <the provider's call>
    except Exception as error: integration.failed(call, started, error); raise
    return integration.answered(call, started, response, read)

The provider's exception is re-raised untouched; `failed` and `answered` record through a
`CallRecorder`, which never raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from rollout_sdk.llm.answer import LLMAnswer
from rollout_sdk.llm.failures import failure_of
from rollout_sdk.llm.measurement import STANDARD_METRICS
from rollout_sdk.llm.pricing import PriceTable, Usage
from rollout_sdk.llm.quality import QualityHook, Tracker
from rollout_sdk.llm.recorder import CallRecorder
from rollout_sdk.llm.variant_call import Assigner, VariantCall, prepare

R = TypeVar("R")

PromptRole = Literal["system", "developer", "user"]


class RolloutLike(Assigner, Tracker, Protocol):
    """What an integration needs of `rollout_sdk.RolloutClient`: `assign` and `track`."""


@dataclass(frozen=True, slots=True)
class ResponseFigures:
    """What a provider's (non-streamed) response says about itself."""

    model: str | None
    usage: Usage | None
    refused: bool
    text: str | None


Read = Callable[[Any], ResponseFigures]


class Integration:
    """Assignment, request building and recording shared by the provider integrations.

    - `experiment`: the default experiment of every call (each call may name another).
    - `prompt_role`: the role the variant's rendered prompt is sent as (`user`, or `system`
      when the caller's `messages` carry the user's turn).
    - `defaults`: request fields under the variant's (a fallback `model` for answers without a
      prompt); the caller's keyword arguments override both.
    - `prices`, `metrics`, `quality`: see `CallRecorder` and `QualityHook`.
    """

    def __init__(
        self,
        rollout: RolloutLike,
        *,
        experiment: str | None = None,
        prompt_role: PromptRole = "user",
        defaults: Mapping[str, Any] | None = None,
        prices: PriceTable | None = None,
        metrics: Iterable[str] = STANDARD_METRICS,
        quality: QualityHook | None = None,
    ) -> None:
        self.rollout = rollout
        self.experiment = experiment
        self.prompt_role = prompt_role
        self.defaults = dict(defaults or {})
        self.recorder = CallRecorder(rollout, prices=prices, metrics=metrics, quality=quality)

    def prepare(
        self,
        user_id: str,
        variables: Mapping[str, Any] | None,
        experiment: str | None,
        attributes: Mapping[str, Any] | None,
        overrides: Mapping[str, Any],
    ) -> VariantCall:
        key = experiment or self.experiment
        if key is None:
            raise ValueError("name the experiment: on the integration or on the call")
        return prepare(self.rollout, user_id, key, variables, attributes, self.defaults, overrides)

    def failed(self, call: VariantCall, started: float, error: BaseException) -> None:
        measure = self.recorder.measure(
            call, model=None, usage=None, latency_ms=_since(started), error=failure_of(error)
        )
        self.recorder.record(call, measure)

    def answered(self, call: VariantCall, started: float, response: R, read: Read) -> LLMAnswer[R]:
        latency_ms = _since(started)
        try:
            figures = read(response)
        except Exception:  # a response of a shape the integration does not know: still answered
            figures = ResponseFigures(None, None, False, None)
        measure = self.recorder.measure(
            call, model=figures.model, usage=figures.usage, latency_ms=latency_ms,
            refused=figures.refused,
        )
        self.recorder.record(call, measure, response=response, output_text=figures.text)
        return LLMAnswer(response, call.assignment, measure, call.call_id)


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def int_or_zero(value: Any) -> int:
    """A token count from a usage object, where a missing or null count is 0."""
    return value if isinstance(value, int) else 0
