"""The LiteLLM callback: calls made by `litellm.completion` itself, measured and attributed.

Runs where LiteLLM is installed (the SDK's `[litellm]` extra); LiteLLM is told to read its
bundled model cost map rather than fetch one (`LITELLM_LOCAL_MODEL_COST_MAP`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rollout_sdk import RolloutClient
from rollout_sdk.llm.litellm import RolloutLiteLLM
from tests.llm.conftest import CHEAP, Service, run_in_own_loop
from tests.llm.local_providers import LocalProvider

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def measured(
    service: Service, make_rollout: Callable[[], RolloutClient]
) -> Iterator[tuple[RolloutLiteLLM, str, RolloutClient]]:
    prompt = service.prompt("hello", "Say hello to {{ name }}", f"openai/{CHEAP}")
    experiment = service.experiment([prompt, prompt])
    rollout = make_rollout()
    assert rollout.assign("probe", experiment).in_experiment
    callback = RolloutLiteLLM(rollout, experiment=experiment)
    litellm.callbacks = [callback]
    yield callback, experiment, rollout
    litellm.callbacks = []


def settled(callback: RolloutLiteLLM, recorded: int) -> None:
    """LiteLLM calls its callbacks back on its own threads: wait for them."""
    deadline = time.monotonic() + 10
    while callback.recorder.recorded < recorded:
        assert time.monotonic() < deadline, ("LiteLLM did not call back", callback.recorder)
        time.sleep(0.02)


def test_completions_plain_streamed_and_async_are_recorded_once_each(
    measured: tuple[RolloutLiteLLM, str, RolloutClient], provider: LocalProvider,
    service: Service,
) -> None:
    callback, experiment, rollout = measured
    route: dict[str, Any] = {"api_base": provider.url + "/v1", "api_key": "local"}
    plain = litellm.completion(**callback.request("ann", {"name": "Ann"}), **route)
    stream = litellm.completion(**callback.request("bob", {"name": "Bob"}, stream=True), **route)
    for _ in stream:
        pass

    async def later() -> Any:
        answer = await litellm.acompletion(**callback.request("cy", {"name": "Cy"}), **route)
        for _ in range(500):  # LiteLLM's async callbacks are tasks on this loop: let them run
            if callback.recorder.recorded == 3:
                break
            await asyncio.sleep(0.02)
        return answer

    other = run_in_own_loop(later())
    settled(callback, 3)
    assert rollout.flush(timeout=10)
    served = provider.ledger.served[-3:]
    assert sum(service.sums(experiment, "output_tokens").values()) == sum(
        s.output_tokens for s in served)
    assert sum(service.counts(experiment, "ttft_ms").values()) == 1
    assert sum(service.counts(experiment, "latency_ms").values()) == 3
    assert sum(service.sums(experiment, "cost_usd").values()) == pytest.approx(
        plain._hidden_params["response_cost"] * 2 + other._hidden_params["response_cost"])


def test_a_failed_completion_counts_as_an_error_and_still_raises(
    measured: tuple[RolloutLiteLLM, str, RolloutClient], provider: LocalProvider,
    service: Service,
) -> None:
    callback, experiment, rollout = measured
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(**callback.request("di", {"name": "Di"}), api_base=provider.url + "/v1",
                           api_key="local", extra_headers={"x-fault": "429"}, max_retries=0)
    settled(callback, 1)
    assert rollout.flush(timeout=10)
    assert sum(service.sums(experiment, "llm_error").values()) == 1


def test_the_request_attributes_the_call_in_litellms_metadata(
    measured: tuple[RolloutLiteLLM, str, RolloutClient],
) -> None:
    callback, experiment, rollout = measured
    request = callback.request("ed", {"name": "Ed"}, metadata={"team": "growth"})
    variant = rollout.assign("ed", experiment).variant
    assert request["metadata"]["team"] == "growth"
    assert request["metadata"]["rollout_experiment"] == experiment
    assert request["metadata"]["rollout_variant"] == variant
    assert f"rollout_variant:{variant}" in request["metadata"]["tags"]
    assert request["messages"] == [{"role": "user", "content": "Say hello to Ed"}]
