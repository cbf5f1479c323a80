"""LiteLLM, measured through its callbacks: any provider LiteLLM routes to, attributed.

    import litellm
    from rollout_sdk.llm.litellm import RolloutLiteLLM

    measured = RolloutLiteLLM(rollout, experiment="summary-tone")
    litellm.callbacks = [measured]
    response = litellm.completion(**measured.request("u1", {"document": doc}))

`request` assigns the user and renders the variant's prompt into LiteLLM's keyword arguments
(model, messages, params, the caller's overrides) and a `metadata` entry that LiteLLM writes to
its spend logs and hands back to its callbacks: `rollout_experiment`, `rollout_variant`,
`rollout_prompt_version` and `rollout_call_id`, plus tags of the same, so LiteLLM's own spend
tracking shows the experiment too. When the call ends LiteLLM calls this object back, sync or
async, streamed or not, and the call is recorded: LiteLLM's own latency and time to first
token, its usage, and its `response_cost` (its maintained model cost map) where it priced the
call, else the price table. Calls made without `request` carry no such metadata and are left
alone.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from rollout_sdk.llm.failures import OTHER, failure_of
from rollout_sdk.llm.integration import Integration, RolloutLike
from rollout_sdk.llm.openai import chat_request, read_chat
from rollout_sdk.llm.variant_call import VariantCall

try:
    from litellm.integrations.custom_logger import CustomLogger as _CallbackBase
except ImportError:  # the callback protocol is duck-typed; the base class only registers it
    _CallbackBase = object

CALL_ID: Final = "rollout_call_id"
MAX_PENDING_CALLS: Final = 100_000
"""Calls requested but not yet called back: beyond this the oldest are forgotten (never sent)."""


class RolloutLiteLLM(Integration, _CallbackBase):  # type: ignore[misc,valid-type,unused-ignore]
    """Builds LiteLLM requests for a user's variant, and records them when LiteLLM calls back."""

    def __init__(self, rollout: RolloutLike, **options: Any) -> None:
        Integration.__init__(self, rollout, **options)
        _CallbackBase.__init__(self)
        self._pending: OrderedDict[str, VariantCall] = OrderedDict()
        self._lock = threading.Lock()

    def request(
        self, user_id: str, variables: Mapping[str, Any] | None = None, *,
        messages: Sequence[Mapping[str, Any]] = (), experiment: str | None = None,
        attributes: Mapping[str, Any] | None = None, **overrides: Any,
    ) -> dict[str, Any]:
        """The keyword arguments of `litellm.completion` / `acompletion` for the user's variant."""
        call = self.prepare(user_id, variables, experiment, attributes, overrides)
        stream = bool(call.request.get("stream"))
        request = chat_request(call, messages, self.prompt_role, stream=stream)
        assignment = call.assignment
        attribution: dict[str, Any] = {
            CALL_ID: call.call_id,
            "rollout_experiment": assignment.experiment,
            "rollout_variant": assignment.variant,
            "rollout_prompt_version": None if assignment.prompt is None
            else f"{assignment.prompt.name}@{assignment.prompt.version}",
        }
        metadata = {**dict(request.get("metadata") or {}), **attribution}
        metadata["tags"] = [*metadata.get("tags", ()),
                            f"rollout_experiment:{assignment.experiment}",
                            f"rollout_variant:{assignment.variant}"]
        request["metadata"] = metadata
        with self._lock:
            self._pending[call.call_id] = call
            while len(self._pending) > MAX_PENDING_CALLS:
                self._pending.popitem(last=False)
        return request

    # --- LiteLLM's callback protocol (litellm.integrations.custom_logger.CustomLogger) -----------

    def log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: datetime, end_time: datetime
    ) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=False)

    def log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: datetime, end_time: datetime
    ) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=True)

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: datetime, end_time: datetime
    ) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=False)

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: datetime, end_time: datetime
    ) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=True)

    def _record(
        self, kwargs: dict[str, Any], response: Any, start: datetime, end: datetime, *,
        failed: bool,
    ) -> None:
        try:
            call = self._call_of(kwargs)
            if call is None:
                return
            latency_ms = (end - start).total_seconds() * 1000
            if failed:
                error = kwargs.get("exception")
                failure = failure_of(error) if isinstance(error, BaseException) else OTHER
                measure = self.recorder.measure(
                    call, model=None, usage=None, latency_ms=latency_ms, error=failure
                )
                self.recorder.record(call, measure)
                return
            figures = read_chat(response)
            first = kwargs.get("completion_start_time")
            ttft_ms = None
            if kwargs.get("stream") and isinstance(first, datetime) and first < end:
                ttft_ms = (first - start).total_seconds() * 1000
            measure = self.recorder.measure(
                call, model=figures.model, usage=figures.usage, latency_ms=latency_ms,
                ttft_ms=ttft_ms, refused=figures.refused,
            )
            cost = kwargs.get("response_cost")
            if isinstance(cost, int | float) and not isinstance(cost, bool) and cost > 0:
                measure = replace(measure, cost_usd=float(cost))
            self.recorder.record(call, measure, response=response, output_text=figures.text)
        except Exception:  # a payload of a shape this version does not know: never LiteLLM's
            self.recorder.failures += 1

    def _call_of(self, kwargs: Mapping[str, Any]) -> VariantCall | None:
        params = kwargs.get("litellm_params") or {}
        metadata = params.get("metadata") or kwargs.get("metadata") or {}
        call_id = metadata.get(CALL_ID) if isinstance(metadata, Mapping) else None
        if not isinstance(call_id, str):
            return None
        with self._lock:
            return self._pending.pop(call_id, None)
