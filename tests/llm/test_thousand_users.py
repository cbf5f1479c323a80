"""1,000 users through the OpenAI and Anthropic integrations: the service's sums are the truth.

Every user makes one call, by turns Chat Completions, Responses and Messages, plain and streamed,
with the official clients against the local provider; one in 25 meets a scripted failure (500,
429, a timeout, a broken stream, a refusal). The service's running sums per variant must equal
what the provider served (tokens, and their cost from the price table), what the integration
measured (latency, itself within the test's own timing), each call counted once and each
failure as an error.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from rollout_sdk import RolloutClient
from rollout_sdk.llm.anthropic import RolloutAnthropic
from rollout_sdk.llm.openai import RolloutOpenAI
from rollout_sdk.llm.pricing import PriceTable, Usage
from rollout_sdk.llm.streams import MeasuredStream
from tests.llm.conftest import BEHAVIOURS, CHEAP, DEAR, Service
from tests.llm.local_providers import LocalProvider

pytestmark = pytest.mark.timeout(240)

USERS = 1000
FAULTS = ("500", "429", "timeout", "broken", "refusal")
MODES = ("chat", "chat_stream", "respond", "respond_stream", "message", "message_stream")
CLIENT_TIMEOUT_S = 0.4


RAISING = {"500", "429", "timeout", "broken"}


def fault_of(user: int) -> str | None:
    return FAULTS[(user // 25) % len(FAULTS)] if user % 25 == 7 else None


def call_once(
    mode: str, oai: RolloutOpenAI, claude: RolloutAnthropic, user: str, fault: str | None
) -> Any:
    """One call in `mode`, read to its end; the measure the integration recorded."""
    headers = {"x-fault": fault} if fault else {}
    variables = {"name": user}
    if mode == "chat":
        return oai.chat(user, variables, extra_headers=headers).measure
    if mode == "respond":
        return oai.respond(user, variables, extra_headers=headers).measure
    if mode == "message":
        return claude.message(user, variables, max_tokens=64, extra_headers=headers).measure
    stream: MeasuredStream[Any]
    if mode == "chat_stream":
        stream = oai.chat_stream(user, variables, extra_headers=headers)
    elif mode == "respond_stream":
        stream = oai.respond_stream(user, variables, extra_headers=headers)
    else:
        stream = claude.message_stream(user, variables, max_tokens=64, extra_headers=headers)
    for _ in stream:
        pass
    assert stream.measure is not None
    return stream.measure


def test_the_services_sums_equal_what_was_served_and_measured(
    service: Service, provider: LocalProvider, make_rollout: Callable[[], RolloutClient]
) -> None:
    cheap = service.prompt("greet-cheap", "Write a short greeting for {{ name }} please", CHEAP)
    dear = service.prompt("greet-dear", "Write a warm and personal greeting for {{ name }}", DEAR)
    experiment = service.experiment([cheap, dear])
    rollout = make_rollout()
    assert rollout.assign("probe", experiment).in_experiment
    prices = PriceTable.bundled()
    options: dict[str, Any] = {"experiment": experiment, "prices": prices}
    oai = RolloutOpenAI(openai.OpenAI(base_url=provider.url + "/v1", api_key="local",
                                      max_retries=0, timeout=CLIENT_TIMEOUT_S), rollout, **options)
    claude = RolloutAnthropic(anthropic.Anthropic(base_url=provider.url, api_key="local",
                                                  max_retries=0, timeout=CLIENT_TIMEOUT_S),
                              rollout, **options)
    served_before = len(provider.ledger.served)

    latency: defaultdict[str, float] = defaultdict(float)
    calls: Counter[str] = Counter()
    streams_answered: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    raised: Counter[str] = Counter()
    tracked = 0
    for n in range(USERS):
        user, fault, mode = f"user-{n}", fault_of(n), MODES[n % len(MODES)]
        variant = rollout.assign(user, experiment).variant
        started = time.perf_counter()
        try:
            measure = call_once(mode, oai, claude, user, fault)
        except Exception as error:  # the provider's own exception, whatever its kind
            assert fault in RAISING, (fault, mode, error)
            raised[variant] += 1
            errors[variant] += 1
            tracked += 1  # llm_error alone
            continue
        own_ms = (time.perf_counter() - started) * 1000
        assert measure.latency_ms is not None
        assert BEHAVIOURS[measure.model].delay_s * 1000 <= measure.latency_ms <= own_ms
        latency[variant] += measure.latency_ms
        calls[variant] += 1
        streams_answered[variant] += mode.endswith("_stream")
        errors[variant] += measure.error == "refusal"
        tracked += len(measure.events())
    assert rollout.flush(timeout=30)

    served = provider.ledger.served[served_before:]
    assert len(served) == USERS
    by_variant = {"v0": CHEAP, "v1": DEAR}
    for variant, model in by_variant.items():
        mine = [s for s in served if s.model == model]
        tokens_in = sum(s.input_tokens for s in mine)
        tokens_out = sum(s.output_tokens for s in mine)
        cost = math.fsum(
            prices.cost_of(model, Usage(s.input_tokens, s.output_tokens, s.cached_tokens)) or 0.0
            for s in mine if s.input_tokens
        )
        assert service.sums(experiment, "input_tokens")[variant] == tokens_in
        assert service.sums(experiment, "output_tokens")[variant] == tokens_out
        assert service.sums(experiment, "cached_input_tokens")[variant] == sum(
            s.cached_tokens for s in mine)
        assert service.sums(experiment, "cost_usd")[variant] == pytest.approx(cost, rel=1e-9)
        assert service.sums(experiment, "latency_ms")[variant] == pytest.approx(
            latency[variant], rel=1e-9)
        assert service.counts(experiment, "latency_ms")[variant] == calls[variant]
        assert service.counts(experiment, "ttft_ms")[variant] == streams_answered[variant]
        assert service.sums(experiment, "llm_error")[variant] == errors[variant]
    assert sum(raised.values()) == sum(1 for n in range(USERS) if fault_of(n) in {
        "500", "429", "timeout"}) + sum(1 for n in range(USERS) if fault_of(n) == "broken"
                                        and MODES[n % len(MODES)].endswith("_stream"))
    stats = rollout.stats()
    assert stats.events_rejected == 0
    assert stats.events_duplicates == 0
    assert stats.events_accepted == tracked
