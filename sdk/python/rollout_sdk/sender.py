"""Exposures and events, queued by the application's threads and sent by one background thread.

Queuing appends a tuple to a deque; the JSON is built at send time, in batches (by size and by
time), exposures before events (an event of a user whose exposure the service has not seen would
be rejected). A failed batch is retried with backoff and jitter on connection errors, 5xx and 429
(honouring `Retry-After`); a 413 sends the batch in halves. Every event carries an `event_id` and
exposures are set-if-absent, so a batch the service received but could not acknowledge is never
counted twice. Other 4xx answers are not retried: the batch is dropped, logged and counted. The
queues are bounded (`max_queue` each); what does not fit is counted and logged, and what is
queued is never lost while the service is away.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import requests

from rollout_sdk.retry import backoff_delay, parse_retry_after
from rollout_sdk.throttled_log import ThrottledLog

log = logging.getLogger(__name__)

MAX_BATCH: Final = 1000
"""The service accepts at most this many exposures or events in one request."""

Exposure = tuple[str, str, str, dict[str, Any] | None, dict[str, float] | None]
"""experiment, user id, variant, attributes (the service re-checks targeting with them and
takes the user's segments from them), covariates (for CUPED)."""

Event = tuple[str, str, str, str, float, float | None]
"""event id, user id, experiment, metric, value, denominator."""

Kind = Literal["exposures", "events"]


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one POST came to: settled (sent or dropped for good), retry later, or split in two."""

    action: Literal["settled", "retry", "split"]
    retry_after_s: float | None = None


class Sender:
    """The two queues and the thread that empties them (`run`); `flush` waits for them.

    `exposures` and `events` are appended to by `queue` from any thread; everything else
    belongs to the sender thread, except the counters, which `stats` readers only read.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        session: requests.Session,
        batch_size: int,
        flush_interval_s: float,
        max_queue: int,
        timeout_s: float,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        if max_queue < 1:
            raise ValueError("max_queue must be positive")
        self._base_url = base_url
        self._headers = dict(headers)
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self.max_queue = max_queue
        self._timeout_s = timeout_s
        self._rng = random.Random()
        self.exposures: deque[Exposure] = deque()
        self.events: deque[Event] = deque()
        self.closed = False
        self._close_deadline: float | None = None
        self.reset(session)

    def reset(self, session: requests.Session) -> None:
        """Fresh locks, counters and session, empty queues: at start and in a forked child,
        whose inherited queues are the parent's to send."""
        self.session = session
        self.exposures.clear()
        self.events.clear()
        self._lock = threading.Lock()
        self._settled = threading.Condition(threading.Lock())
        self.wake = threading.Event()
        self._hurry = threading.Event()
        self.stop = threading.Event()
        self._in_flight = False
        self._log = ThrottledLog(log)
        self.accepted = {"exposures": 0, "events": 0}
        self.duplicates = {"exposures": 0, "events": 0}
        self.rejected = {"exposures": 0, "events": 0}
        self.dropped = {"exposures": 0, "events": 0}
        self.overflow = {"exposures": 0, "events": 0}
        self.requests = 0
        self.retries = 0

    # --- the application's side ------------------------------------------------------------------

    def queue(self, kind: Kind, item: Exposure | Event) -> bool:
        """Append `item` to the queue of `kind`; False, counted as overflow, when it is full or
        the client is closed. A full batch wakes the sender at once."""
        queue: deque[Any] = self.exposures if kind == "exposures" else self.events
        if len(queue) >= self.max_queue or self.closed:
            self.overflowed(kind)
            return False
        queue.append(item)
        if len(queue) >= self._batch_size and not self.wake.is_set():
            self.wake.set()
        return True

    def overflowed(self, kind: Kind) -> None:
        with self._lock:
            self.overflow[kind] += 1
        self._log.log(
            f"overflow-{kind}", logging.WARNING,
            "rollout: %s queue full (%d) or client closed; %d dropped so far",
            kind, self.max_queue, self.overflow[kind],
        )

    def pending(self) -> bool:
        return bool(self.exposures or self.events)

    def flush(self, timeout: float | None = None) -> bool:
        """Send what is queued now; True once the queues are empty and nothing is in flight,
        False if `timeout` seconds passed first (nothing is lost: the sender keeps trying)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._hurry.set()
        with self._settled:
            while self.pending() or self._in_flight:
                self.wake.set()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._settled.wait(0.05 if remaining is None else min(remaining, 0.05))
        return True

    def close_by(self, deadline: float) -> None:
        """Stop taking items and stop the thread; a retry still waiting gives up at `deadline`."""
        self._close_deadline = deadline
        self.closed = True
        self.stop.set()
        self._hurry.set()
        self.wake.set()

    # --- the sender thread ------------------------------------------------------------------------

    def run(self) -> None:
        """One cycle when a queue reaches `batch_size` (or on flush and close), else every
        `flush_interval_s`; each cycle sends what was queued when it began."""
        wake, stop = self.wake, self.stop
        while True:
            wake.wait(self._flush_interval_s)
            wake.clear()
            self._send_cycle()
            if stop.is_set():
                return

    def _send_cycle(self) -> None:
        # Events are counted before exposures: each event's exposure was queued before the event
        # (assign runs before track, and the client queues before it remembers), so every
        # exposure those events need is among the exposures counted next, and is sent first.
        events_ready = len(self.events)
        exposures_ready = len(self.exposures)
        if not (
            self._send_queued("exposures", self.exposures, exposures_ready)
            and self._send_queued("events", self.events, events_ready)
        ):
            return
        if not self.pending():
            with self._settled:
                self._settled.notify_all()

    def _send_queued(self, kind: Kind, queue: deque[Any], count: int) -> bool:
        """Send the first `count` items of `queue` in batches; False when the client gave up."""
        while count > 0:
            size = min(count, self._batch_size)
            with self._settled:
                self._in_flight = True
                batch = [queue.popleft() for _ in range(min(size, len(queue)))]
            try:
                delivered = self._deliver(kind, batch)
                if not delivered:
                    queue.extendleft(reversed(batch))
                    return False
            finally:
                with self._settled:
                    self._in_flight = False
                    self._settled.notify_all()
            count -= size
        return True

    def _deliver(self, kind: Kind, batch: Sequence[Any]) -> bool:
        """POST `batch` until it is settled; False only when a closing client runs out of time."""
        if not batch:
            return True
        items = _items(kind, batch)
        try:
            body = _encoded(kind, items)
        except ValueError:
            # A NaN or an infinity (in an attribute, say) is not JSON, and the service would
            # refuse the whole batch for it: only the items that carry one are dropped.
            good = [item for item in items if _is_json(item)]
            self._drop(kind, len(items) - len(good), "not JSON (NaN or infinity)")
            if not good:
                return True
            body = _encoded(kind, good)
        attempt = 0
        self._hurry.clear()  # a flush asked for before this batch has nothing to hurry
        while True:
            outcome = self._post(kind, body, len(batch))
            if outcome.action == "settled":
                return True
            if outcome.action == "split":
                half = len(batch) // 2
                return self._deliver(kind, batch[:half]) and self._deliver(kind, batch[half:])
            attempt += 1
            self.retries += 1
            delay = backoff_delay(attempt, self._rng, outcome.retry_after_s)
            if not self._pause(delay, outcome.retry_after_s or 0.0):
                return False

    def _pause(self, delay: float, floor: float) -> bool:
        """Wait `delay` seconds before a retry. flush() and close() cut the wait short, but
        never below `floor` (the server's Retry-After); a closing client waits at most until its
        deadline. False when that deadline comes before the server would take a retry."""
        started = time.monotonic()
        not_before, until = started + floor, started + delay
        while True:
            now = time.monotonic()
            if self.stop.is_set():
                deadline = self._close_deadline or now
                if not_before >= deadline:
                    return False
                until = min(until, deadline)
            if now >= until:
                return True
            if self._hurry.wait(until - now):
                self._hurry.clear()
                until = max(not_before, time.monotonic())

    def _post(self, kind: Kind, body: bytes, size: int) -> _Outcome:
        self.requests += 1
        try:
            response = self.session.post(
                f"{self._base_url}/api/v1/{kind}", data=body, headers=self._headers,
                timeout=self._timeout_s,
            )
        except requests.RequestException as exc:
            self._log.log(f"send-{kind}", logging.WARNING,
                          "rollout: sending %d %s failed (%s); retrying", size, kind, exc)
            return _Outcome("retry")
        status = response.status_code
        if 200 <= status < 300:
            self._count_answer(kind, response, size)
            return _Outcome("settled")
        if status == 429 or status >= 500:
            self._log.log(f"send-{kind}", logging.WARNING,
                          "rollout: sending %d %s answered HTTP %d; retrying", size, kind, status)
            return _Outcome("retry", parse_retry_after(response.headers.get("Retry-After"),
                                                       time.time()))
        if status == 413 and size > 1:
            return _Outcome("split")
        self._drop(kind, size, f"the service refused them with HTTP {status} "
                               f"({_error_message(response)}), not retried")
        return _Outcome("settled")

    def _drop(self, kind: Kind, size: int, why: str) -> None:
        self.dropped[kind] += size
        log.error("rollout: %d %s dropped: %s", size, kind, why)

    def _count_answer(self, kind: Kind, response: requests.Response, size: int) -> None:
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        self.accepted[kind] += int(answer.get("accepted", 0))
        self.duplicates[kind] += int(answer.get("duplicates", 0))
        rejected = answer.get("rejected") or []
        self.rejected[kind] += len(rejected)
        if rejected:
            self._log.log(f"rejected-{kind}", logging.WARNING,
                          "rollout: the service rejected %d of %d %s, e.g. %s",
                          len(rejected), size, kind, rejected[0])


def _encoded(kind: Kind, items: list[dict[str, Any]]) -> bytes:
    return json.dumps({kind: items}, separators=(",", ":"), allow_nan=False).encode()


def _is_json(item: dict[str, Any]) -> bool:
    try:
        json.dumps(item, allow_nan=False)
    except ValueError:
        return False
    return True


def _items(kind: Kind, batch: Sequence[Any]) -> list[dict[str, Any]]:
    """The request's JSON items, built on the sender thread rather than the caller's."""
    if kind == "exposures":
        items = []
        for experiment, user_id, variant, attributes, covariates in batch:
            item: dict[str, Any] = {
                "user_id": user_id, "experiment": experiment, "variant": variant,
            }
            if attributes:
                item["attributes"] = attributes
            if covariates:
                item["covariates"] = covariates
            items.append(item)
        return items
    events = []
    for event_id, user_id, experiment, metric, value, denominator in batch:
        event: dict[str, Any] = {
            "event_id": event_id, "user_id": user_id, "experiment": experiment,
            "metric": metric, "value": value,
        }
        if denominator is not None:
            event["denominator"] = denominator
        events.append(event)
    return events


def _error_message(response: requests.Response) -> str:
    try:
        error = response.json()["error"]
        return str(error.get("message") or error)
    except (ValueError, KeyError, TypeError, AttributeError):
        return response.text[:200]
