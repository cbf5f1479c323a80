"""The demo's local OpenAI-compatible server, read by the official `openai` client.

`make demo` decides its rollback on what `rollout_sdk.llm` measures of these answers, so the
server must answer as OpenAI does (usage with reasoning tokens billed as output, OpenAI's error
document) and its latency must follow its tokens. A log-normal `spread` of 0 makes every draw its
median, so the figures below are exact.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest
from openai.types.chat import ChatCompletion

from rollout.demo.llm_server import LocalOpenAI, ModelBehaviour, local_openai
from rollout.demo.scenarios import FAST, MODELS, REASONING
from rollout_sdk.llm.pricing import PriceTable, Usage

WRITER = ModelBehaviour(output_tokens=20, first_token_ms=0, ms_per_token=2.0, spread=0)
THINKER = ModelBehaviour(
    output_tokens=20, reasoning_tokens=30, first_token_ms=0, ms_per_token=2.0, spread=0
)


@pytest.fixture
def server() -> Iterator[LocalOpenAI]:
    with local_openai({"writer": WRITER, "thinker": THINKER}, seed=1) as provider:
        yield provider


@pytest.fixture
def client(server: LocalOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0) as bare:
        yield bare


def ask(
    client: openai.OpenAI, model: str, text: str = "three little words", **extra: int
) -> ChatCompletion:
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], **extra
    )


def test_usage_counts_the_words_in_and_the_model_s_tokens_out(client: openai.OpenAI) -> None:
    reply = ask(client, "writer", "summarize these five words")
    assert reply.model == "writer"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (4, 20)
    assert reply.choices[0].message.content == " ".join(["word"] * 20)


def test_reasoning_tokens_are_billed_as_output_and_reported_apart(client: openai.OpenAI) -> None:
    reply = ask(client, "thinker")
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 50
    assert reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens == 30
    # Only the answer is written out: the reasoning is billed, not shown.
    assert len((reply.choices[0].message.content or "").split()) == 20


def test_an_answer_takes_as_long_as_its_tokens(client: openai.OpenAI) -> None:
    ask(client, "writer")  # the client's first call pays for its lazy set-up
    started = time.perf_counter()
    ask(client, "thinker")
    took_ms = (time.perf_counter() - started) * 1000
    assert took_ms >= 2.0 * 50


def test_max_tokens_caps_the_answer(client: openai.OpenAI) -> None:
    reply = ask(client, "writer", max_tokens=5)
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 5


def test_an_unknown_model_is_openai_s_404(client: openai.OpenAI, server: LocalOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        ask(client, "gpt-nonexistent")
    assert raised.value.code == "model_not_found"
    assert "gpt-nonexistent" not in server.served


def test_the_server_counts_the_calls_it_answered(
    client: openai.OpenAI, server: LocalOpenAI
) -> None:
    ask(client, "writer")
    ask(client, "writer")
    ask(client, "thinker")
    assert server.served == {"writer": 2, "thinker": 1}


def test_the_demo_s_reasoning_model_costs_more_a_call_though_less_a_token() -> None:
    """The demo's story holds in the SDK's own price table: both models are priced (an unknown
    one would record no cost at all), and the reasoning model's extra tokens outweigh its lower
    price per token."""
    prices = PriceTable.bundled()
    fast, reasoning = prices.price_of(FAST), prices.price_of(REASONING)
    assert fast is not None and reasoning is not None
    assert reasoning.output < fast.output
    question = 15

    def typical_call(behaviour: ModelBehaviour) -> Usage:
        out = behaviour.output_tokens + behaviour.reasoning_tokens
        return Usage(input_tokens=question, output_tokens=out, cached_input_tokens=0)

    fast_cost = prices.cost_of(FAST, typical_call(MODELS[FAST]))
    reasoning_cost = prices.cost_of(REASONING, typical_call(MODELS[REASONING]))
    assert fast_cost is not None and reasoning_cost is not None
    assert reasoning_cost > 1.3 * fast_cost
