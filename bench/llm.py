"""The OpenAI integration's overhead per call against the bare client, on the same local server.

Both make the same Chat Completion with the official `openai` client against the local
OpenAI-compatible server of tests/llm (127.0.0.1, keep-alive, in a process of its own): the bare
client with a fixed prompt, the integration (`rollout_sdk.llm.openai.RolloutOpenAI`) assigning
the user locally, rendering the variant's template, and tracking seven events per call. The
rollout client starts from a bootstrap document and its service is unreachable with a sender
that sleeps, so what is timed is the integration's own work on the caller's thread, not the
network to the service.

The overhead is measured per call, on the call itself: the integration's provider client is
wrapped in a stopwatch, so that the time inside the provider's `create` (and, for streams,
inside each step of the stream) is subtracted from the measured call's own duration. What is
left is exactly what the integration added, free of the server's and the machine's noise,
which on a shared machine is larger than the overhead. Of it, the sandboxed render of the
variant's template (rollout_sdk.kernel.render, the same for any SDK call that renders) is
timed apart. The medians of bare and measured calls, alternating, are printed beside.

    .venv/bin/python bench/llm.py [--calls 2000] [--slow-calls 300]

Target: overhead < 2% of a 20 ms call (< 400 us).
"""

from __future__ import annotations

import argparse
import gc
import logging
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import openai

from rollout.embedded import free_port
from rollout_sdk import RolloutClient
from rollout_sdk.llm.openai import RolloutOpenAI
from tests.llm.local_providers import Behaviour, LocalProvider

QUICK = os.environ.get("ROLLOUT_BENCH_QUICK") == "1"
MODEL = "gpt-4o-mini"
TEMPLATE = "Summarize for {{ name }}: the quick brown fox jumps over the lazy dog"
TARGET_SHARE = 0.02
SLOW_S = 0.020


def bootstrap() -> dict[str, Any]:
    """An SDK document with one running experiment of two variants, each with a prompt."""
    def variant(key: str, version: int) -> dict[str, Any]:
        prompt = {"name": "summary", "version": version, "template": TEMPLATE, "model": MODEL,
                  "params": {"temperature": 0.2}}
        return {"key": key, "weight": 0.5, "config": None, "prompt": prompt}

    experiment = {"key": "bench", "seed": "bench", "status": "running", "control": "a",
                  "traffic": 1.0, "targeting": None, "layer": None, "layer_range": None,
                  "winner": None, "variants": [variant("a", 1), variant("b", 2)]}
    return {"version": 1, "experiments": [experiment], "prompts": {}}


def quiet_rollout() -> RolloutClient:
    logging.getLogger("rollout_sdk").setLevel(logging.CRITICAL)
    return RolloutClient(
        f"http://127.0.0.1:{free_port()}", "rk_bench", bootstrap=bootstrap(), max_queue=10**7,
        flush_interval_s=3600, refresh_interval_s=3600, timeout_s=0.2,
    )


class Stopwatch:
    """Seconds spent inside the wrapped provider client, stream steps included."""

    def __init__(self) -> None:
        self.inside = 0.0

    def timed(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = call(*args, **kwargs)
            finally:
                self.inside += time.perf_counter() - started
            return self.stream(result) if kwargs.get("stream") else result
        return run

    def stream(self, stream: Any) -> Any:
        watch = self

        class Timed:
            def __iter__(self) -> Any:
                return self

            def __next__(self) -> Any:
                started = time.perf_counter()
                try:
                    return next(stream)
                finally:
                    watch.inside += time.perf_counter() - started

            def close(self) -> None:
                stream.close()

        return Timed()


class TimedClient:
    """`client.chat.completions.create` through a stopwatch; the client's own otherwise."""

    def __init__(self, client: Any, watch: Stopwatch) -> None:
        self.chat = type("Chat", (), {})()
        self.chat.completions = type("Completions", (), {})()
        self.chat.completions.create = watch.timed(client.chat.completions.create)


def timed_calls(calls: int, bare: Callable[[int], Any], measured: Callable[[int], Any],
                watch: Stopwatch) -> tuple[list[float], list[float], list[float]]:
    """Per call, alternating: the bare call's seconds, the measured one's, and the measured
    one's overhead (its seconds less those inside the provider's client)."""
    bare_s: list[float] = []
    measured_s: list[float] = []
    overhead_s: list[float] = []
    for n in range(calls):
        started = time.perf_counter()
        bare(n)
        bare_s.append(time.perf_counter() - started)
        watch.inside = 0.0
        started = time.perf_counter()
        measured(n)
        took = time.perf_counter() - started
        measured_s.append(took)
        overhead_s.append(took - watch.inside)
    return bare_s, measured_s, overhead_s


def report(name: str, times: tuple[list[float], list[float], list[float]],
           budget_s: float) -> bool:
    bare, measured, overhead = times
    overhead_us = statistics.median(overhead) * 1e6
    share = overhead_us / 1e6 / budget_s
    ok = share < TARGET_SHARE
    print(f"  {name:<32} overhead {overhead_us:6.1f} us = {share:6.2%} of "
          f"{budget_s * 1000:.0f} ms  {'ok' if ok else 'OVER TARGET'}   (medians: bare "
          f"{statistics.median(bare) * 1000:.2f} ms, measured "
          f"{statistics.median(measured) * 1000:.2f} ms)")
    return ok


def render_us(calls: int) -> float:
    """The median microseconds of rendering the variant's template alone."""
    prompt = quiet_rollout().assign("user-0", "bench").prompt
    assert prompt is not None
    times = []
    for n in range(calls):
        started = time.perf_counter()
        prompt.render({"name": f"user-{n}"})
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def series(provider: ProviderProcess, calls: int, budget_s: float) -> bool:
    client = openai.OpenAI(base_url=provider.url + "/v1", api_key="bench", max_retries=0)
    watch = Stopwatch()
    rollout = quiet_rollout()
    llm = RolloutOpenAI(TimedClient(client, watch), rollout, experiment="bench")
    messages: Any = [{"role": "user", "content": TEMPLATE.replace("{{ name }}", "user-0")}]

    def bare_chat(n: int) -> Any:
        return client.chat.completions.create(model=MODEL, messages=messages, temperature=0.2)

    def measured_chat(n: int) -> Any:
        return llm.chat(f"user-{n}", {"name": f"user-{n}"})

    def bare_stream(n: int) -> None:
        for _ in client.chat.completions.create(
            model=MODEL, messages=messages, temperature=0.2, stream=True,
            stream_options={"include_usage": True},
        ):
            pass

    def measured_stream(n: int) -> None:
        for _ in llm.chat_stream(f"user-{n}", {"name": f"user-{n}"}):
            pass

    for warm in range(20):
        for call in (bare_chat, measured_chat, bare_stream, measured_stream):
            call(warm)
    gc.collect()
    ok = report("chat.completions.create", timed_calls(calls, bare_chat, measured_chat, watch),
                budget_s)
    ok &= report("chat.completions.create(stream)",
                 timed_calls(calls, bare_stream, measured_stream, watch), budget_s)
    print(f"  ({rollout.stats().events_queued} events queued; recorder failures "
          f"{llm.recorder.failures})")
    rollout.close(timeout=0)
    return ok and llm.recorder.failures == 0


class ProviderProcess:
    """The local provider in a process of its own, as a real provider is: its threads must not
    take the caller's interpreter lock, which would bill the caller for the server's work."""

    def __init__(self, behaviour: Behaviour) -> None:
        parent, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(behaviour, child), daemon=True)
        self.process.start()
        self.url = str(parent.recv())

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)


def _serve(behaviour: Behaviour, pipe: Any) -> None:
    provider = LocalProvider({MODEL: behaviour})
    pipe.send(provider.url)
    provider.thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500 if QUICK else 2000)
    parser.add_argument("--slow-calls", type=int, default=100 if QUICK else 300)
    args = parser.parse_args()
    fast = ProviderProcess(Behaviour(delay_s=0.0, output_tokens=12))
    slow = ProviderProcess(Behaviour(delay_s=SLOW_S, output_tokens=12))
    try:
        print(f"bench/llm.py: RolloutOpenAI vs the bare openai {openai.__version__} client, "
              "same local server")
        print(f"- a server that answers at once ({args.calls} calls each):")
        ok = series(fast, args.calls, SLOW_S)
        print(f"- a server that takes {SLOW_S * 1000:.0f} ms ({args.slow_calls} calls each):")
        ok &= series(slow, args.slow_calls, SLOW_S)
        print(f"- of the overhead, the sandboxed render of the template alone: "
              f"{render_us(args.calls):.1f} us (median of {args.calls})")
    finally:
        fast.stop()
        slow.stop()
    print(f"target: overhead < {TARGET_SHARE:.0%} of a {SLOW_S * 1000:.0f} ms call: "
          f"{'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
