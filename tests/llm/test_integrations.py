"""What one measured call promises, call by call: the official clients against the local provider,
the real `RolloutClient` and service between."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rollout_sdk import RolloutClient
from rollout_sdk.llm.anthropic import AsyncRolloutAnthropic, RolloutAnthropic
from rollout_sdk.llm.openai import AsyncRolloutOpenAI, RolloutOpenAI
from rollout_sdk.llm.pricing import PriceTable
from rollout_sdk.llm.quality import QualityHook, ScoredCall
from tests.llm.conftest import CHEAP, DEAR, Service, run_in_own_loop
from tests.llm.local_providers import LocalProvider

pytestmark = pytest.mark.timeout(120)

QUALITY = {"key": "quality", "type": "mean", "role": "primary"}


@dataclass
class Setup:
    experiment: str
    rollout: RolloutClient
    provider: LocalProvider
    service: Service

    def openai(self, **options: Any) -> RolloutOpenAI:
        client = openai.OpenAI(base_url=self.provider.url + "/v1", api_key="local",
                               max_retries=0, timeout=0.4)
        return RolloutOpenAI(client, self.rollout, experiment=self.experiment,
                             prices=PriceTable.bundled(), **options)

    def anthropic(self, **options: Any) -> RolloutAnthropic:
        client = anthropic.Anthropic(base_url=self.provider.url, api_key="local", max_retries=0,
                                     timeout=0.4)
        return RolloutAnthropic(client, self.rollout, experiment=self.experiment,
                                prices=PriceTable.bundled(), **options)

    def sum(self, metric: str) -> float:
        assert self.rollout.flush(timeout=10)
        return sum(self.service.sums(self.experiment, metric).values())

    def count(self, metric: str) -> float:
        assert self.rollout.flush(timeout=10)
        return sum(self.service.counts(self.experiment, metric).values())


@pytest.fixture
def setup(
    service: Service, provider: LocalProvider, make_rollout: Callable[[], RolloutClient]
) -> Setup:
    prompt = service.prompt("hello", "Say hello to {{ name }}", CHEAP)
    other = service.prompt("hello", "Say hello warmly to {{ name }}", DEAR)
    experiment = service.experiment([prompt, other], [{"preset": "llm"}, QUALITY])
    rollout = make_rollout()
    assert rollout.assign("probe", experiment).in_experiment
    return Setup(experiment, rollout, provider, service)


def test_the_answer_carries_the_response_the_assignment_and_the_measure(setup: Setup) -> None:
    answer = setup.openai().chat("ann", {"name": "Ann"})
    assignment = setup.rollout.assign("ann", setup.experiment)
    assert answer.assignment == assignment
    assert answer.variant == assignment.variant
    assert answer.prompt_version == assignment.prompt.version  # type: ignore[union-attr]
    assert (answer.response.choices[0].message.content or "").startswith("word")
    assert answer.response.usage is not None
    assert answer.measure.input_tokens == answer.response.usage.prompt_tokens
    assert setup.sum("input_tokens") == answer.measure.input_tokens
    assert setup.sum("latency_ms") == pytest.approx(answer.measure.latency_ms)


def test_the_variants_prompt_and_model_are_sent_and_the_caller_may_override(
    setup: Setup,
) -> None:
    served = len(setup.provider.ledger.served)
    answer = setup.openai().chat("bob", {"name": "Bob"}, model="o4-mini")
    assert setup.provider.ledger.served[served].model == "o4-mini"
    assert answer.measure.model == "o4-mini"
    plain = setup.openai().chat("bob", {"name": "Bob"})
    assert plain.measure.model == answer.assignment.prompt.model  # type: ignore[union-attr]


def test_the_providers_exception_reaches_the_caller_and_counts_as_an_error(setup: Setup) -> None:
    with pytest.raises(openai.RateLimitError):
        setup.openai().chat("cy", {"name": "Cy"}, extra_headers={"x-fault": "429"})
    with pytest.raises(anthropic.InternalServerError):
        setup.anthropic().message("cy2", {"name": "Cy"}, max_tokens=9,
                                  extra_headers={"x-fault": "500"})
    with pytest.raises(openai.APITimeoutError):
        setup.openai().respond("cy3", {"name": "Cy"}, extra_headers={"x-fault": "timeout"})
    assert setup.sum("llm_error") == 3
    assert setup.count("latency_ms") == 0


def test_a_refusal_is_an_error_whose_tokens_and_cost_still_count(setup: Setup) -> None:
    answer = setup.anthropic().message("di", {"name": "Di"}, max_tokens=9,
                                       extra_headers={"x-fault": "refusal"})
    assert answer.measure.error == "refusal"
    assert setup.sum("llm_error") == 1
    assert setup.sum("output_tokens") == answer.response.usage.output_tokens
    assert setup.sum("cost_usd") == pytest.approx(answer.measure.cost_usd)


def test_a_failure_to_record_never_breaks_the_call(setup: Setup) -> None:
    class Unreachable:
        def assign(self, *args: Any, **kw: Any) -> Any:
            return setup.rollout.assign(*args, **kw)

        def track(self, *args: Any, **kw: Any) -> Any:
            raise RuntimeError("the queue is on fire")

    llm = RolloutOpenAI(openai.OpenAI(base_url=setup.provider.url + "/v1", api_key="local"),
                        Unreachable(), experiment=setup.experiment)
    answer = llm.chat("ed", {"name": "Ed"})
    assert answer.response.choices[0].message.content
    assert llm.recorder.failures == 1


def test_a_call_recorded_twice_counts_once(setup: Setup) -> None:
    stream = setup.openai().chat_stream("flo", {"name": "Flo"})
    for _ in stream:
        pass
    stream.close()  # a second ending of the same call: nothing more is recorded
    assert stream.measure is not None
    setup.openai().recorder.record(stream.call, stream.measure)  # and an explicit second record
    assert setup.rollout.flush(timeout=10)
    stats = setup.rollout.stats()
    assert stats.events_duplicates == len(stream.measure.events())
    assert setup.count("ttft_ms") == 1
    assert setup.sum("ttft_ms") == pytest.approx(stream.measure.ttft_ms)


def test_a_stream_closed_early_records_its_first_token_but_no_latency(setup: Setup) -> None:
    with setup.anthropic().message_stream("gus", {"name": "Gus"}, max_tokens=9) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                break
    assert stream.measure is not None
    assert stream.measure.latency_ms is None
    assert stream.measure.ttft_ms is not None
    assert setup.count("latency_ms") == 0
    assert setup.count("ttft_ms") == 1
    assert setup.sum("llm_error") == 0


def test_a_broken_stream_raises_to_its_reader_and_counts_as_an_error(setup: Setup) -> None:
    stream = setup.openai().respond_stream("hal", {"name": "Hal"},
                                           extra_headers={"x-fault": "broken"})
    with pytest.raises(openai.APIConnectionError):
        for _ in stream:
            pass
    assert stream.measure is not None
    assert stream.measure.error == "stream"
    assert setup.sum("llm_error") == 1
    assert setup.count("output_tokens") == 0


def test_async_clients_are_measured_like_sync_ones(setup: Setup) -> None:
    oai = AsyncRolloutOpenAI(
        openai.AsyncOpenAI(base_url=setup.provider.url + "/v1", api_key="local", max_retries=0),
        setup.rollout, experiment=setup.experiment, prices=PriceTable.bundled())
    claude = AsyncRolloutAnthropic(
        anthropic.AsyncAnthropic(base_url=setup.provider.url, api_key="local", max_retries=0),
        setup.rollout, experiment=setup.experiment, prices=PriceTable.bundled())

    async def calls() -> list[Any]:
        chat = await oai.chat("ivy", {"name": "Ivy"})
        response = await oai.respond("ivy", {"name": "Ivy"})
        stream = await oai.chat_stream("ivy", {"name": "Ivy"})
        async for _ in stream:
            pass
        message = await claude.message("ivy", {"name": "Ivy"}, max_tokens=9)
        events = await claude.message_stream("ivy", {"name": "Ivy"}, max_tokens=9)
        async with events:
            async for _ in events:
                pass
        return [chat.measure, response.measure, stream.measure, message.measure, events.measure]

    measures = run_in_own_loop(calls())
    assert all(m is not None and m.error is None for m in measures)
    assert setup.sum("output_tokens") == sum(m.output_tokens for m in measures)
    assert setup.count("ttft_ms") == 2
    assert setup.sum("cost_usd") == pytest.approx(sum(m.cost_usd for m in measures))


def test_users_outside_the_experiment_are_answered_and_not_recorded(
    service: Service, provider: LocalProvider, make_rollout: Callable[[], RolloutClient]
) -> None:
    prompt = service.prompt("hello", "Say hello to {{ name }}", CHEAP)
    experiment = service.experiment([prompt, prompt], traffic=0.0)
    rollout = make_rollout()
    llm = RolloutOpenAI(openai.OpenAI(base_url=provider.url + "/v1", api_key="local"), rollout,
                        experiment=experiment)
    answer = llm.chat("jo", {"name": "Jo"})
    assert not answer.assignment.in_experiment
    assert answer.response.choices[0].message.content
    assert rollout.flush(timeout=10)
    assert rollout.stats().events_accepted == 0


def test_an_unpriced_model_records_no_cost_and_counts_a_warning(setup: Setup) -> None:
    llm = setup.openai()
    answer = llm.chat("kai", {"name": "Kai"}, model="local-model-9")
    assert answer.measure.cost_usd is None
    assert answer.measure.output_tokens
    assert llm.recorder.prices is not None
    assert llm.recorder.prices.unknown_models["local-model-9"] == 1
    assert setup.count("cost_usd") == 0
    assert setup.count("output_tokens") == 1


def test_quality_scores_are_recorded_off_the_request_path(setup: Setup) -> None:
    release, busy = threading.Event(), threading.Event()
    seen: list[ScoredCall] = []

    def judge(call: ScoredCall) -> float:
        busy.set()
        assert release.wait(10)
        seen.append(call)
        return float(len((call.output_text or "").split()))

    hook = QualityHook(judge, metric="quality", max_pending=4)
    llm = setup.openai(quality=hook)
    answers = [llm.chat("lu-0", {"name": "Lu"})]
    assert busy.wait(10)  # the worker holds the first, and the judge keeps it waiting
    answers += [llm.chat(f"lu-{n}", {"name": "Lu"}) for n in range(1, 6)]
    assert hook.scored == 0
    assert hook.dropped == 1  # four more queued, the sixth dropped: the calls never waited
    release.set()
    hook.join()
    hook.close()
    assert hook.scored == 5
    assert {c.call_id for c in seen} <= {a.call_id for a in answers}
    assert seen[0].prompt_text is not None and "Lu" in seen[0].prompt_text
    scores = [float(len((c.output_text or "").split())) for c in seen]
    assert setup.sum("quality") == sum(scores)


def test_a_sample_rate_of_zero_scores_nothing(setup: Setup) -> None:
    hook = QualityHook(lambda call: 1.0, sample_rate=0.0)
    setup.openai(quality=hook).chat("mo", {"name": "Mo"})
    hook.join()
    assert hook.scored == 0


@pytest.fixture
def spans() -> Iterator[tuple[Any, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("app"), exporter
    provider.shutdown()


def test_the_current_span_names_the_experiment_variant_and_prompt_version(
    setup: Setup, spans: tuple[Any, InMemorySpanExporter]
) -> None:
    tracer, exporter = spans
    with tracer.start_as_current_span("summarize"):
        answer = setup.openai().chat("nia", {"name": "Nia"})
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["rollout.experiment"] == setup.experiment
    assert span.attributes["rollout.variant"] == answer.variant
    assert span.attributes["rollout.prompt.version"] == answer.prompt_version
    assert "rollout.user_id" not in span.attributes
