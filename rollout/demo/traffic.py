"""Simulated users of an application that calls OpenAI through `rollout_sdk.llm`.

Each of `WORKERS` application threads serves one new user after another: for each experiment
the user is in, one `RolloutOpenAI.chat` call (assign locally, render the variant's prompt, call
the local OpenAI-compatible server with the variant's model, record latency, tokens and cost),
then, at the variant's rate, a thumbs up through `track`: the human feedback, the only figure
the demo makes up. A user outside an experiment would be served the control prompt and recorded
nowhere, so the demo skips that call and spends the machine's two cores on the measured ones.
"""

from __future__ import annotations

import random
import threading
import time

import openai

from rollout.demo.scenarios import PRIMARY, SCENARIOS
from rollout_sdk import RolloutClient
from rollout_sdk.answers import ClientStats
from rollout_sdk.llm.openai import RolloutOpenAI

WORKERS = 12
USERS_PER_S = 1500
"""At most this many users a second in all: out of the experiments a user costs no call, and
the bound keeps the threads from spinning when few users are in."""


class Traffic:
    """The application: one `RolloutClient`, one `openai.OpenAI`, an integration per experiment."""

    def __init__(self, base: str, sdk_key: str, llm_url: str, seed: int) -> None:
        self.seed = seed
        self.stop = threading.Event()
        self.users = 0
        self.calls = 0
        self.failed_calls = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False
        # Refreshed and flushed often: a stage's new traffic reaches the users within half a
        # second, and measured calls reach the controller as fast as it evaluates.
        self.rollout = RolloutClient(base, sdk_key, refresh_interval_s=0.5, flush_interval_s=0.25)
        # No retries: each attempt is one measured call.
        self.openai = openai.OpenAI(base_url=llm_url, api_key="local-demo", max_retries=0,
                                    timeout=10.0)
        # The client imports its resources on first use (tens of ms): done here, before the
        # first measured call, as a long-running application has long done it.
        _ = self.openai.chat.completions
        self.llms = {
            s.key: RolloutOpenAI(self.openai, self.rollout, experiment=s.key) for s in SCENARIOS
        }

    def start(self) -> None:
        for index in range(WORKERS):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        """Stop the users, then send what the SDK still holds (once, however often called)."""
        if self._closed:
            return
        self._closed = True
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        self._threads.clear()
        self.rollout.close()
        self.openai.close()

    def stats(self) -> ClientStats:
        return self.rollout.stats()

    def _run(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        per_worker = USERS_PER_S / WORKERS
        serial = 0
        started = time.monotonic()
        while not self.stop.is_set():
            serial += 1
            user = f"user-{index}-{serial}"
            calls = failed = 0
            for scenario in SCENARIOS:
                if not self.rollout.assign(user, scenario.key).in_experiment:
                    continue
                calls += 1
                try:
                    answer = self.llms[scenario.key].chat(user, scenario.variables(rng))
                except openai.OpenAIError:
                    failed += 1
                    continue
                if rng.random() < scenario.thumbs_up[answer.assignment.variant]:
                    self.rollout.track(user, scenario.key, PRIMARY, 1)
            with self._lock:
                self.users += 1
                self.calls += calls
                self.failed_calls += failed
            ahead = serial / per_worker - (time.monotonic() - started)
            if ahead > 0:
                self.stop.wait(ahead)
