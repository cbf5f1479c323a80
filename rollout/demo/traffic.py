"""Simulated users: each is assigned through the API, then reports its metrics as events."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from rollout.demo.scenarios import SCENARIOS, Behaviour
from rollout.http import ServiceClient, ServiceError

USERS_PER_S = 300
SENDERS = 3
BATCH = 20
"""Users assigned one by one, then their events sent in one request."""


class Traffic:
    """`SENDERS` threads sending users at `USERS_PER_S` in all until `close`."""

    def __init__(self, base: str, sdk_key: str, seed: int) -> None:
        self.base = base
        self.sdk_key = sdk_key
        self.seed = seed
        self.stop = threading.Event()
        self.users = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(SENDERS):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _failed(self) -> None:
        with self._lock:
            self.errors += 1

    def _run(self, index: int) -> None:
        api = ServiceClient(self.base, self.sdk_key, timeout_s=10.0)
        rng = np.random.default_rng(self.seed + index)
        behaviours = {s.key: s.behaviour for s in SCENARIOS}
        per_sender = USERS_PER_S / SENDERS
        serial = 0
        started = time.monotonic()
        while not self.stop.is_set():
            events: list[dict[str, Any]] = []
            for _ in range(BATCH):
                serial += 1
                user = f"user-{index}-{serial}"
                try:
                    answer = api.post("/api/v1/assign", {"user_id": user})
                except ServiceError:
                    self._failed()
                    continue
                for key, assignment in answer["assignments"].items():
                    if key in behaviours and assignment["in_experiment"]:
                        act = behaviours[key][assignment["variant"]]
                        events += user_events(rng, user, key, act)
            if events:
                try:
                    api.post("/api/v1/events", {"events": events})
                except ServiceError:
                    self._failed()
            with self._lock:
                self.users += BATCH
            # Pace the senders so the service, Redis and the demo share two cores comfortably.
            ahead = serial / per_sender - (time.monotonic() - started)
            if ahead > 0:
                self.stop.wait(ahead)


def user_events(
    rng: np.random.Generator, user: str, experiment: str, act: Behaviour
) -> list[dict[str, Any]]:
    """One user's latency, cost (over its requests) and, at the variant's rate, a thumbs up."""
    requests_made = 1 + int(rng.poisson(1.0))
    latency = float(rng.lognormal(np.log(700.0), 0.35)) * act.latency
    cost = float(rng.gamma(4.0, 0.0005)) * act.cost * requests_made
    base = {"user_id": user, "experiment": experiment}
    events = [
        {**base, "event_id": f"{experiment}-{user}-l", "metric": "latency_ms", "value": latency},
        {
            **base,
            "event_id": f"{experiment}-{user}-c",
            "metric": "cost_usd",
            "value": cost,
            "denominator": requests_made,
        },
    ]
    if rng.random() < act.thumbs_up:
        events.append(
            {**base, "event_id": f"{experiment}-{user}-t", "metric": "thumbs_up", "value": 1}
        )
    return events
