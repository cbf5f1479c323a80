"""The official `anthropic` client, measured: Messages, sync and async, plain and streamed.

    from anthropic import Anthropic
    from rollout_sdk.llm.anthropic import RolloutAnthropic

    llm = RolloutAnthropic(Anthropic(), rollout, experiment="summary-tone")
    answer = llm.message("u1", {"document": doc}, max_tokens=512)   # answer.response: a Message

The variant's prompt is the first user turn, or the `system` prompt with `prompt_role="system"`
(the caller's `messages` then carry the conversation); a chat prompt's system messages are the
`system` prompt and its other messages the first turns. Anthropic reports cache reads apart from
`input_tokens`; they are added in, so `input_tokens` counts every prompt token as it does for
OpenAI, and `cached_input_tokens` the cache reads among them. A `refusal` stop is an error.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rollout_sdk.llm.answer import LLMAnswer
from rollout_sdk.llm.integration import Integration, ResponseFigures, RolloutLike, int_or_zero
from rollout_sdk.llm.pricing import Usage
from rollout_sdk.llm.streams import AsyncMeasuredStream, MeasuredStream, StreamTally
from rollout_sdk.llm.variant_call import VariantCall

if TYPE_CHECKING:  # the application's own package; the integration reads it duck-typed
    from anthropic.types import Message, RawMessageStreamEvent

Messages = Sequence[Mapping[str, Any]]

REFUSAL_STOP = "refusal"


class RolloutAnthropic(Integration):
    """An `anthropic.Anthropic` client whose calls are assigned, rendered and measured."""

    def __init__(self, client: Any, rollout: RolloutLike, **options: Any) -> None:
        super().__init__(rollout, **options)
        self.client = client

    def message(
        self, user_id: str, variables: Mapping[str, Any] | None = None, *,
        messages: Messages = (), experiment: str | None = None,
        attributes: Mapping[str, Any] | None = None, **overrides: Any,
    ) -> LLMAnswer[Message]:
        """`messages.create` with the variant's prompt, model and params."""
        call = self.prepare(user_id, variables, experiment, attributes, overrides)
        request = messages_request(call, messages, self.prompt_role, stream=False)
        started = time.perf_counter()
        try:
            response = self.client.messages.create(**request)
        except Exception as error:
            self.failed(call, started, error)
            raise
        return self.answered(call, started, response, read_message)

    def message_stream(
        self, user_id: str, variables: Mapping[str, Any] | None = None, *,
        messages: Messages = (), experiment: str | None = None,
        attributes: Mapping[str, Any] | None = None, **overrides: Any,
    ) -> MeasuredStream[RawMessageStreamEvent]:
        """`messages.create(stream=True)`: its events, measured as they are read."""
        call = self.prepare(user_id, variables, experiment, attributes, overrides)
        request = messages_request(call, messages, self.prompt_role, stream=True)
        started = time.perf_counter()
        try:
            stream = self.client.messages.create(**request)
        except Exception as error:
            self.failed(call, started, error)
            raise
        return MeasuredStream(stream, call, self.recorder, see_message_event, started)


class AsyncRolloutAnthropic(Integration):
    """An `anthropic.AsyncAnthropic` client whose calls are assigned, rendered and measured."""

    def __init__(self, client: Any, rollout: RolloutLike, **options: Any) -> None:
        super().__init__(rollout, **options)
        self.client = client

    async def message(
        self, user_id: str, variables: Mapping[str, Any] | None = None, *,
        messages: Messages = (), experiment: str | None = None,
        attributes: Mapping[str, Any] | None = None, **overrides: Any,
    ) -> LLMAnswer[Message]:
        call = self.prepare(user_id, variables, experiment, attributes, overrides)
        request = messages_request(call, messages, self.prompt_role, stream=False)
        started = time.perf_counter()
        try:
            response = await self.client.messages.create(**request)
        except Exception as error:
            self.failed(call, started, error)
            raise
        return self.answered(call, started, response, read_message)

    async def message_stream(
        self, user_id: str, variables: Mapping[str, Any] | None = None, *,
        messages: Messages = (), experiment: str | None = None,
        attributes: Mapping[str, Any] | None = None, **overrides: Any,
    ) -> AsyncMeasuredStream[RawMessageStreamEvent]:
        call = self.prepare(user_id, variables, experiment, attributes, overrides)
        request = messages_request(call, messages, self.prompt_role, stream=True)
        started = time.perf_counter()
        try:
            stream = await self.client.messages.create(**request)
        except Exception as error:
            self.failed(call, started, error)
            raise
        return AsyncMeasuredStream(stream, call, self.recorder, see_message_event, started)


def messages_request(
    call: VariantCall, messages: Messages, role: str, *, stream: bool
) -> dict[str, Any]:
    """The keyword arguments of `messages.create`: the rendered prompt as `system` or first turn.

    A chat prompt's system messages become the `system` parameter (Anthropic takes no system
    turn; several are joined by a blank line) and its other messages the first turns, before the
    caller's `messages`.
    """
    request = dict(call.request)
    turns = list(messages)
    if call.messages is not None:
        system = [m["content"] for m in call.messages if m["role"] == "system"]
        if system:
            request["system"] = "\n\n".join(system)
        turns[:0] = [
            {"role": m["role"], "content": m["content"]}
            for m in call.messages
            if m["role"] != "system"
        ]
    elif call.text is not None:
        if role == "user":
            turns.insert(0, {"role": "user", "content": call.text})
        else:
            request["system"] = call.text
    request["messages"] = turns
    if stream:
        request["stream"] = True
    return request


def message_usage(usage: Any, output_tokens: int | None = None) -> Usage | None:
    if usage is None:
        return None
    cached = int_or_zero(getattr(usage, "cache_read_input_tokens", None))
    created = int_or_zero(getattr(usage, "cache_creation_input_tokens", None))
    return Usage(
        input_tokens=int_or_zero(usage.input_tokens) + cached + created,
        output_tokens=int_or_zero(usage.output_tokens) if output_tokens is None else output_tokens,
        cached_input_tokens=cached,
    )


def read_message(response: Any) -> ResponseFigures:
    text = "".join(
        block.text for block in response.content or () if getattr(block, "type", None) == "text"
    )
    return ResponseFigures(
        response.model, message_usage(response.usage), response.stop_reason == REFUSAL_STOP, text
    )


def see_message_event(tally: StreamTally, event: Any) -> bool:
    """Tally one Messages stream event; True for the first content delta.

    `message_start` carries the input usage, each `message_delta` the output tokens so far.
    """
    kind = event.type
    if kind == "message_start":
        tally.model = event.message.model
        tally.usage = message_usage(event.message.usage)
    elif kind == "content_block_delta":
        text = getattr(event.delta, "text", None)
        if text:
            tally.text.append(text)
        return True
    elif kind == "message_delta":
        if tally.usage is not None and event.usage is not None:
            tally.usage = Usage(
                tally.usage.input_tokens, int_or_zero(event.usage.output_tokens),
                tally.usage.cached_input_tokens,
            )
        if getattr(event.delta, "stop_reason", None) == REFUSAL_STOP:
            tally.refused = True
    return False
