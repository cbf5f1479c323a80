"""Chat prompts through the provider integrations: the variant's rendered messages are what is
sent (OpenAI as they are; Anthropic with the system messages as `system`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from rollout_sdk import Prompt, RolloutClient, VariantAssignment
from rollout_sdk.llm.anthropic import RolloutAnthropic, messages_request
from rollout_sdk.llm.openai import RolloutOpenAI, chat_request, responses_request
from rollout_sdk.llm.pricing import PriceTable
from rollout_sdk.llm.quality import QualityHook, ScoredCall
from rollout_sdk.llm.variant_call import VariantCall
from tests.llm.conftest import CHEAP, DEAR, Service
from tests.llm.local_providers import LocalProvider

pytestmark = pytest.mark.timeout(120)

SYSTEM = {"role": "system", "content": "You are a terse greeter."}
USER = {"role": "user", "content": "Greet {{ name }} now"}
CALLER_TURN = {"role": "user", "content": "and then?"}


def call_of(messages: list[dict[str, Any]] | None, text: str | None = None) -> VariantCall:
    prompt = Prompt(name="p", version=1, template=text, model="m", params={})
    assignment = VariantAssignment("e", "v0", True, "assigned", prompt, None)
    return VariantCall("c1", "u1", assignment, text, {"model": "m"}, messages)  # type: ignore[arg-type]


def test_openai_requests_carry_the_chat_prompts_messages_then_the_callers() -> None:
    call = call_of([SYSTEM, {"role": "user", "content": "Greet Ann now"}])

    chat = chat_request(call, [CALLER_TURN], "user", stream=False)
    responses = responses_request(call, "and then?", "user", stream=False)

    expected = [SYSTEM, {"role": "user", "content": "Greet Ann now"}, CALLER_TURN]
    assert chat["messages"] == expected
    assert responses["input"] == expected


def test_anthropic_takes_the_system_messages_as_its_system_parameter() -> None:
    second_system = {"role": "system", "content": "Never apologise."}
    call = call_of([SYSTEM, second_system, {"role": "user", "content": "Greet Ann now"}])

    request = messages_request(call, [CALLER_TURN], "user", stream=False)

    assert request["system"] == "You are a terse greeter.\n\nNever apologise."
    assert request["messages"] == [{"role": "user", "content": "Greet Ann now"}, CALLER_TURN]


def test_a_one_template_prompt_is_still_sent_as_one_message() -> None:
    request = chat_request(call_of(None, "Say hi"), [], "system", stream=False)

    assert request["messages"] == [{"role": "system", "content": "Say hi"}]


def chat_prompt(service: Service, model: str) -> str:
    name = f"chat-{next(service.names)}"
    body = {"messages": [SYSTEM, USER], "model": model}
    version = service.call("POST", f"/api/v1/prompts/{name}/versions", "editor", body, ok=201)
    return f"{name}@{version['version']}"


def words(messages: list[dict[str, str]]) -> int:
    return sum(len(message["content"].split()) for message in messages)


def test_both_integrations_send_the_rendered_messages_and_measure_them(
    service: Service, provider: LocalProvider, make_rollout: Callable[[], RolloutClient]
) -> None:
    experiment = service.experiment([chat_prompt(service, CHEAP), chat_prompt(service, DEAR)])
    rollout = make_rollout()
    assignment = rollout.assign("ann", experiment)
    assert assignment.in_experiment and assignment.prompt is not None
    rendered = assignment.prompt.render_messages(name="Ann")
    assert words(rendered) == 8
    openai_llm = RolloutOpenAI(
        openai.OpenAI(base_url=provider.url + "/v1", api_key="local", max_retries=0),
        rollout, experiment=experiment, prices=PriceTable.bundled(),
    )
    anthropic_llm = RolloutAnthropic(
        anthropic.Anthropic(base_url=provider.url, api_key="local", max_retries=0),
        rollout, experiment=experiment, prices=PriceTable.bundled(),
    )

    by_openai = openai_llm.chat("ann", {"name": "Ann"})
    by_anthropic = anthropic_llm.message("ann", {"name": "Ann"}, max_tokens=64)

    served = provider.ledger.served[-2:]
    assert [s.input_tokens for s in served] == [words(rendered), words(rendered)]
    assert by_openai.measure.input_tokens == words(rendered)
    assert by_anthropic.measure.input_tokens == words(rendered)
    assert served[0].model == served[1].model == assignment.prompt.model
    assert rollout.flush(timeout=10)
    assert sum(service.sums(experiment, "input_tokens").values()) == 2 * words(rendered)


def test_a_quality_scorer_sees_the_chat_prompts_rendered_messages(
    service: Service, provider: LocalProvider, make_rollout: Callable[[], RolloutClient]
) -> None:
    quality = {"key": "quality", "type": "mean", "role": "primary"}
    experiment = service.experiment(
        [chat_prompt(service, CHEAP), chat_prompt(service, DEAR)], [{"preset": "llm"}, quality]
    )
    rollout = make_rollout()
    assert rollout.assign("bea", experiment).in_experiment
    seen: list[ScoredCall] = []

    def judge(call: ScoredCall) -> float:
        seen.append(call)
        return 1.0

    hook = QualityHook(judge, metric="quality")
    llm = RolloutOpenAI(
        openai.OpenAI(base_url=provider.url + "/v1", api_key="local", max_retries=0),
        rollout, experiment=experiment, prices=PriceTable.bundled(), quality=hook,
    )

    llm.chat("bea", {"name": "Bea"})
    hook.join()
    hook.close()

    assert [call.prompt_messages for call in seen] == [
        [SYSTEM, {"role": "user", "content": "Greet Bea now"}]
    ]
    assert seen[0].prompt_text is None
