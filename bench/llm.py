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

Then OTLP ingestion against `/events` on the same machine (unless --ingest-seconds 0): the
service under `rollout serve` (gunicorn, embedded Redis), 2,000 exposed users, and for the same
number of seconds each, from 4 client threads: `POST /v1/traces` with protobuf exports of 1,000
GenAI spans (each span becomes 4 events: latency, input and output tokens, error), against
`POST /api/v1/events` with batches of 1,000 events, as accepted spans and events a second.

    .venv/bin/python bench/llm.py [--calls 2000] [--slow-calls 300] [--ingest-seconds 10]

Target: overhead < 2% of a 20 ms call (< 400 us). The script prints its verdict and exits 0
whatever the figures (a shared machine moves them); it fails when a call could not be recorded.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import logging
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

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
    if llm.recorder.failures:
        raise SystemExit(f"the integration failed to record {llm.recorder.failures} calls")
    return ok


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


# --- OTLP ingestion against /events --------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1000
SENDERS = 4
EXPOSED_USERS = 2000


def serve(workdir: Path, admin: str) -> tuple[subprocess.Popen[bytes], str]:
    """`rollout serve` with its embedded Redis in `workdir`, ready."""
    port = free_port()
    env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), ROLLOUT_ADMIN_KEY=admin,
               ROLLOUT_DATA_DIR=str(workdir / "data"), LOG_LEVEL="warning")
    env.pop("REDIS_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "rollout.cli", "serve"], env=env,
                               cwd=ROOT, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("rollout serve exited at start-up")
        try:
            if requests.get(url + "/readyz", timeout=1).status_code == 200:
                return process, url
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("rollout serve did not become ready")


def call(url: str, key: str, path: str, body: Any) -> Any:
    response = requests.post(url + path, json=body, timeout=30,
                             headers={"Authorization": f"Bearer {key}"})
    response.raise_for_status()
    return response.json()


def exposed_experiment(url: str, admin: str) -> tuple[str, list[str]]:
    """An sdk key, and the users exposed to a running experiment with the `llm` preset."""
    keys = {role: call(url, admin, "/api/v1/keys", {"name": f"bench-{role}", "role": role})[
        "secret"] for role in ("editor", "release", "sdk")}
    experiment = {"key": "bench", "name": "bench", "control": "a",
                  "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
                  "metrics": [{"preset": "llm"}]}
    call(url, keys["editor"], "/api/v1/experiments", experiment)
    call(url, keys["release"], "/api/v1/experiments/bench/start", {})
    users = [f"user-{n}" for n in range(EXPOSED_USERS)]
    rollout = RolloutClient(url, keys["sdk"], flush_interval_s=0.05)
    for user in users:
        assert rollout.assign(user, "bench").in_experiment
    assert rollout.close(timeout=30)
    return keys["sdk"], users


def attribute(key: str, value: str | int) -> KeyValue:
    any_value = AnyValue(string_value=value) if isinstance(value, str) else AnyValue(
        int_value=value)
    return KeyValue(key=key, value=any_value)


def spans_export(users: list[str], count: int) -> bytes:
    """One OTLP protobuf export of `count` GenAI spans of fresh ids, for exposed users."""
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    trace_id = secrets.token_bytes(16)
    now = time.time_ns()
    for n in range(count):
        span = scope.spans.add(
            trace_id=trace_id, span_id=secrets.token_bytes(8), name="chat gpt-4o-mini",
            start_time_unix_nano=now - 20_000_000, end_time_unix_nano=now,
        )
        span.attributes.extend([
            attribute("rollout.experiment", "bench"),
            attribute("rollout.user_id", users[n % len(users)]),
            attribute("gen_ai.request.model", MODEL),
            attribute("gen_ai.usage.input_tokens", 120),
            attribute("gen_ai.usage.output_tokens", 40),
        ])
    return bytes(request.SerializeToString())


def events_batch(users: list[str], count: int) -> bytes:
    prefix = secrets.token_hex(6)
    return json.dumps({"events": [
        {"event_id": f"{prefix}-{n}", "user_id": users[n % len(users)], "experiment": "bench",
         "metric": "latency_ms", "value": 20.0} for n in range(count)]}).encode()


def rate(seconds: float, send: Callable[[requests.Session], int]) -> float:
    """Accepted items a second over `seconds`, from SENDERS threads."""
    stop = threading.Event()
    done = itertools.count()
    counts: list[int] = []
    lock = threading.Lock()

    def sender() -> None:
        session = requests.Session()
        total = 0
        while not stop.is_set():
            total += send(session)
            next(done)
        with lock:
            counts.append(total)

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def ingestion(seconds: float) -> None:
    admin = "rk_bench-admin-" + secrets.token_hex(16)
    with tempfile.TemporaryDirectory() as tmp:
        process, url = serve(Path(tmp), admin)
        try:
            sdk, users = exposed_experiment(url, admin)
            headers = {"Authorization": f"Bearer {sdk}"}

            def send_spans(session: requests.Session) -> int:
                response = session.post(
                    url + "/v1/traces", data=spans_export(users, BATCH), timeout=60,
                    headers={**headers, "Content-Type": "application/x-protobuf"})
                response.raise_for_status()
                answer = ExportTraceServiceResponse()
                answer.ParseFromString(response.content)
                return BATCH - int(answer.partial_success.rejected_spans)

            def send_events(session: requests.Session) -> int:
                response = session.post(
                    url + "/api/v1/events", data=events_batch(users, BATCH), timeout=60,
                    headers={**headers, "Content-Type": "application/json"})
                response.raise_for_status()
                return int(response.json()["accepted"])

            events_per_s = rate(seconds, send_events)
            spans_per_s = rate(seconds, send_spans)
        finally:
            process.terminate()
            process.wait(30)
    print(f"- ingestion, {SENDERS} senders, batches of {BATCH}, {seconds:.0f} s each "
          "(client, gunicorn and Redis on this machine):")
    print(f"  POST /api/v1/events   {events_per_s:9.0f} events/s")
    print(f"  POST /v1/traces       {spans_per_s:9.0f} spans/s  (= {spans_per_s * 4:.0f} "
          f"events/s; {spans_per_s / events_per_s:.2f} spans per event of /events)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500 if QUICK else 2000)
    parser.add_argument("--slow-calls", type=int, default=100 if QUICK else 300)
    parser.add_argument("--ingest-seconds", type=float, default=3 if QUICK else 10)
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
    if args.ingest_seconds > 0:
        ingestion(args.ingest_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
