"""The official `openai` client, measured: Chat Completions and Responses, sync and async, streamed.

    from openai import OpenAI
    from rollout_sdk.llm.openai import RolloutOpenAI

    llm = RolloutOpenAI(OpenAI(), rollout, experiment="summary-tone")
    answer = llm.chat("u1", {"document": doc})          # answer.response is a ChatCompletion
    for chunk in llm.chat_stream("u1", {"document": doc}):
        ...                                              # the ChatCompletionChunks, unchanged

The wrapped client is used as it is (its base URL, retries, timeouts): set `max_retries=0` on it
to measure each attempt rather than the call with its retries. Streamed Chat Completions ask for
usage in the last chunk (`stream_options={"include_usage": True}`) unless the caller says
otherwise; without it a stream records no tokens and no cost.
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
    from openai.types.chat import ChatCompletion, ChatCompletionChunk
    from openai.types.responses import Response, ResponseStreamEvent

Messages = Sequence[Mapping[str, Any]]

CONTENT_FILTER = "content_filter"


class RolloutOpenAI(Integration):
    """An `openai.OpenAI` client whose calls are assigned, rendered and measured."""

    def __init__(self, client: Any, rollout: RolloutLike, **options: Any) -> None:
        super().__init__(rollout, **options)
        self.client = client

    def chat(
        self, user_id: str, variables: Mapping[str, Any] | None = None, *,
        messages: Messages = (), experiment: str | None = None,
        attributes: Mapping[str, Any] | None = None, **overrides: Any,
    ) -> LLMAnswer[ChatCompletion]:
        """`chat.completions.create` with the variant's prompt, model and params."""
        call = self.prepare(user_id, variables, experiment, attributes, overrides)
        request = chat_request(call, messages, self.prompt_role, stream=False)
        started = time.perf_counter()
        try:
            response = self.client.chat.completions.create(**request)
        except Exception as error:
            self.failed(call, started, error)
            raise
        return self.answered(call, started, response, read_chat)

    def chat_stream(
        self, user_id: str, variables: Mapping[str, Any] | None = None, *,
        messages: Messages = (), experiment: str | None = None,
        attributes: Mapping[str, Any] | None = None, **overrides: Any,
    ) -> MeasuredStream[ChatCompletionChunk]:
        """`chat.completions.create(stream=True)`, measured as it is read."""
        call = self.prepare(user_id, variables, experiment, attributes, overrides)
        request = chat_request(call, messages, self.prompt_role, stream=True)
        started = time.perf_counter()
        try:
            stream = self.client.chat.completions.create(**request)
        except Exception as error:
            self.failed(call, started, error)
            raise
        return MeasuredStream(stream, call, self.recorder, see_chat_chunk, started)

    def respond(
        self, user_id: str, variables: Mapping[str, Any] | None = None, *,
        input: str | Messages = (), experiment: str | None = None,
        attributes: Mapping[str, Any] | None = None, **overrides: Any,
    ) -> LLMAnswer[Response]:
        """`responses.create` with the variant's prompt as the first input item."""
        call = self.prepare(user_id, variables, experiment, attributes, overrides)
        request = responses_request(call, input, self.prompt_role, stream=False)
        started = time.perf_counter()
        try:
            response = self.client.responses.create(**request)
        except Exception as error:
            self.failed(call, started, error)
            raise
        return self.answered(call, started, response, read_response)

    def respond_stream(
        self, user_id: str, variables: Mapping[str, Any] | None = None, *,
        input: str | Messages = (), experiment: str | None = None,
        attributes: Mapping[str, Any] | None = None, **overrides: Any,
    ) -> MeasuredStream[ResponseStreamEvent]:
        """`responses.create(stream=True)`: its events, measured as they are read."""
        call = self.prepare(user_id, variables, experiment, attributes, overrides)
        request = responses_request(call, input, self.prompt_role, stream=True)
        started = time.perf_counter()
        try:
            stream = self.client.responses.create(**request)
        except Exception as error:
            self.failed(call, started, error)
            raise
        return MeasuredStream(stream, call, self.recorder, see_response_event, started)


class AsyncRolloutOpenAI(Integration):
    """An `openai.AsyncOpenAI` client whose calls are assigned, rendered and measured."""

    def __init__(self, client: Any, rollout: RolloutLike, **options: Any) -> None:
        super().__init__(rollout, **options)
        self.client = client

    async def chat(
        self, user_id: str, variables: Mapping[str, Any] | None = None, *,
        messages: Messages = (), experiment: str | None = None,
        attributes: Mapping[str, Any] | None = None, **overrides: Any,
    ) -> LLMAnswer[ChatCompletion]:
        call = self.prepare(user_id, variables, experiment, attributes, overrides)
        request = chat_request(call, messages, self.prompt_role, stream=False)
        started = time.perf_counter()
        try:
            response = await self.client.chat.completions.create(**request)
        except Exception as error:
            self.failed(call, started, error)
            raise
        return self.answered(call, started, response, read_chat)

    async def chat_stream(
        self, user_id: str, variables: Mapping[str, Any] | None = None, *,
        messages: Messages = (), experiment: str | None = None,
        attributes: Mapping[str, Any] | None = None, **overrides: Any,
    ) -> AsyncMeasuredStream[ChatCompletionChunk]:
        call = self.prepare(user_id, variables, experiment, attributes, overrides)
        request = chat_request(call, messages, self.prompt_role, stream=True)
        started = time.perf_counter()
        try:
            stream = await self.client.chat.completions.create(**request)
        except Exception as error:
            self.failed(call, started, error)
            raise
        return AsyncMeasuredStream(stream, call, self.recorder, see_chat_chunk, started)

    async def respond(
        self, user_id: str, variables: Mapping[str, Any] | None = None, *,
        input: str | Messages = (), experiment: str | None = None,
        attributes: Mapping[str, Any] | None = None, **overrides: Any,
    ) -> LLMAnswer[Response]:
        call = self.prepare(user_id, variables, experiment, attributes, overrides)
        request = responses_request(call, input, self.prompt_role, stream=False)
        started = time.perf_counter()
        try:
            response = await self.client.responses.create(**request)
        except Exception as error:
            self.failed(call, started, error)
            raise
        return self.answered(call, started, response, read_response)

    async def respond_stream(
        self, user_id: str, variables: Mapping[str, Any] | None = None, *,
        input: str | Messages = (), experiment: str | None = None,
        attributes: Mapping[str, Any] | None = None, **overrides: Any,
    ) -> AsyncMeasuredStream[ResponseStreamEvent]:
        call = self.prepare(user_id, variables, experiment, attributes, overrides)
        request = responses_request(call, input, self.prompt_role, stream=True)
        started = time.perf_counter()
        try:
            stream = await self.client.responses.create(**request)
        except Exception as error:
            self.failed(call, started, error)
            raise
        return AsyncMeasuredStream(stream, call, self.recorder, see_response_event, started)


# --- Chat Completions ----------------------------------------------------------------------------


def chat_request(
    call: VariantCall, messages: Messages, role: str, *, stream: bool
) -> dict[str, Any]:
    """The keyword arguments of `chat.completions.create`: the rendered prompt (a chat prompt's
    messages as they are, one template's text as a message of `role`), then `messages`."""
    request = {**call.request, "messages": [*call.prompt_messages(role), *messages]}
    if stream:
        request["stream"] = True
        request.setdefault("stream_options", {"include_usage": True})
    return request


def chat_usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    details = getattr(usage, "prompt_tokens_details", None)
    return Usage(
        input_tokens=int_or_zero(usage.prompt_tokens),
        output_tokens=int_or_zero(usage.completion_tokens),
        cached_input_tokens=int_or_zero(getattr(details, "cached_tokens", None)),
    )


def read_chat(response: Any) -> ResponseFigures:
    """A ChatCompletion: a refusal is the message's `refusal`, or a content-filter finish."""
    choice = response.choices[0] if response.choices else None
    message = getattr(choice, "message", None)
    refused = bool(getattr(message, "refusal", None)) or (
        getattr(choice, "finish_reason", None) == CONTENT_FILTER
    )
    return ResponseFigures(
        response.model, chat_usage(response.usage), refused, getattr(message, "content", None)
    )


def see_chat_chunk(tally: StreamTally, chunk: Any) -> bool:
    """Tally one ChatCompletionChunk; True when it carries output (content, refusal or a tool).

    Called for every chunk of every stream: plain attribute reads, nothing built per chunk.
    """
    if tally.model is None:
        tally.model = chunk.model
    usage = chunk.usage
    if usage is not None:
        tally.usage = chat_usage(usage)
    first = False
    for choice in chunk.choices:
        delta = choice.delta
        content = delta.content
        if content:
            tally.text.append(content)
            first = True
        if delta.refusal:
            tally.refused = first = True
        if delta.tool_calls:
            first = True
        if choice.finish_reason == CONTENT_FILTER:
            tally.refused = True
    return first


# --- Responses -----------------------------------------------------------------------------------


def responses_request(
    call: VariantCall, input: str | Messages, role: str, *, stream: bool
) -> dict[str, Any]:
    """The keyword arguments of `responses.create`: the rendered prompt, then the caller's input."""
    items: list[Any] = list(call.prompt_messages(role))
    if isinstance(input, str):
        items.append({"role": "user", "content": input})
    else:
        items.extend(input)
    request = {**call.request, "input": items}
    if stream:
        request["stream"] = True
    return request


def responses_usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    details = getattr(usage, "input_tokens_details", None)
    return Usage(
        input_tokens=int_or_zero(usage.input_tokens),
        output_tokens=int_or_zero(usage.output_tokens),
        cached_input_tokens=int_or_zero(getattr(details, "cached_tokens", None)),
    )


def responses_refused(response: Any) -> bool:
    """A refusal item in the output, or an answer cut short by the content filter."""
    for item in response.output or ():
        for part in getattr(item, "content", None) or ():
            if getattr(part, "type", None) == "refusal":
                return True
    details = getattr(response, "incomplete_details", None)
    return getattr(details, "reason", None) == CONTENT_FILTER


def read_response(response: Any) -> ResponseFigures:
    return ResponseFigures(
        response.model, responses_usage(response.usage), responses_refused(response),
        getattr(response, "output_text", None),
    )


FIRST_OUTPUT_EVENTS = frozenset({
    "response.output_text.delta",
    "response.refusal.delta",
    "response.function_call_arguments.delta",
})
FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def see_response_event(tally: StreamTally, event: Any) -> bool:
    """Tally one Responses stream event; True for the first kinds that carry output."""
    kind = event.type
    if kind == "response.output_text.delta":
        tally.text.append(event.delta)
    elif kind == "response.refusal.delta":
        tally.refused = True
    elif kind in FINAL_EVENTS:
        response = event.response
        tally.final = response
        tally.model = response.model
        tally.usage = responses_usage(response.usage)
        tally.refused = tally.refused or responses_refused(response)
        if kind == "response.failed":
            tally.error = "response_failed"
    elif kind == "error":
        tally.error = "stream"
    return kind in FIRST_OUTPUT_EVENTS
