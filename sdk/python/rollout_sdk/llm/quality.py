"""Quality scores off the request path: an application's scorer on a sample of responses.

The scorer (an LLM judge, a regex, a classifier) gets a `ScoredCall` and answers a number, or
None to record nothing. It runs on a small pool of daemon threads fed by a bounded queue: the
call that produced the response never waits for it, and when the scorers fall behind, new
samples are dropped and counted rather than piling up in memory. The score is tracked on
`metric` for the call's user, with an event id derived from the call, so it counts once.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from rollout_sdk.answers import VariantAssignment
from rollout_sdk.kernel.chat import ChatMessage
from rollout_sdk.llm.measurement import event_id

log = logging.getLogger("rollout_sdk.llm")

DEFAULT_MAX_PENDING: Final = 256


@dataclass(frozen=True, slots=True)
class ScoredCall:
    """What a scorer sees of one call: who, which variant, what was asked and answered.

    `response` is the provider's response (for a stream: its final response where the provider
    sends one, else the measured stream itself, read to its end). `prompt_text` is the rendered
    prompt of one template; a chat prompt's rendered messages are `prompt_messages` instead.
    """

    call_id: str
    user_id: str
    assignment: VariantAssignment
    prompt_text: str | None
    output_text: str | None
    response: Any
    prompt_messages: list[ChatMessage] | None = None


Scorer = Callable[[ScoredCall], float | None]


class Tracker(Protocol):
    def track(
        self, user_id: str, experiment: str, metric: str, value: float,
        denominator: float | None = None, *, event_id: str | None = None,
    ) -> str | None: ...


class QualityHook:
    """Scores a `sample_rate` share of calls with `scorer` and tracks the score on `metric`."""

    def __init__(
        self,
        scorer: Scorer,
        *,
        metric: str = "quality",
        sample_rate: float = 1.0,
        workers: int = 1,
        max_pending: int = DEFAULT_MAX_PENDING,
        rng: random.Random | None = None,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError("sample_rate must be between 0 and 1")
        if workers < 1 or max_pending < 1:
            raise ValueError("workers and max_pending must be positive")
        self.scorer = scorer
        self.metric = metric
        self.sample_rate = sample_rate
        self._rng = rng or random.Random()
        self._pending: queue.Queue[tuple[Tracker, ScoredCall] | None] = queue.Queue(max_pending)
        self._max_pending = max_pending
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self.scored = 0
        self.dropped = 0
        self.failed = 0

    def offer(self, tracker: Tracker, call: ScoredCall) -> bool:
        """Queue `call` for scoring if it is sampled and there is room; never blocks."""
        if self.sample_rate < 1.0 and self._rng.random() >= self.sample_rate:
            return False
        self._start()
        try:
            self._pending.put_nowait((tracker, call))
        except queue.Full:
            with self._lock:
                self.dropped += 1
            return False
        return True

    def join(self) -> None:
        """Wait until every queued sample has been scored (tests, and before `close`)."""
        self._pending.join()

    def close(self, timeout: float | None = None) -> None:
        """Score what is queued, then stop the workers."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._pending.put(None)
        for thread in threads:
            thread.join(timeout)

    def _start(self) -> None:
        if self._pid != os.getpid():
            # A forked child (gunicorn --preload) has none of its parent's threads; what the
            # parent queued is the parent's to score.
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._threads = []
            self._pending = queue.Queue(self._max_pending)
        if len(self._threads) >= self._workers:
            return
        with self._lock:
            while len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, name="rollout-quality", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while True:
            item = self._pending.get()
            try:
                if item is None:
                    return
                self._score(*item)
            finally:
                self._pending.task_done()

    def _score(self, tracker: Tracker, call: ScoredCall) -> None:
        try:
            score = self.scorer(call)
            if score is not None:
                tracker.track(
                    call.user_id, call.assignment.experiment, self.metric, float(score),
                    event_id=event_id(call.call_id, self.metric),
                )
        except Exception:  # the application's scorer: its failure is counted, never raised
            with self._lock:
                self.failed += 1
            log.exception("rollout: quality scorer failed on call %s", call.call_id)
            return
        with self._lock:
            self.scored += 1
