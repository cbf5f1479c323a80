"""Webhooks: the controller's decisions posted to receivers, signed, retried, logged.

Deliveries go through a durable queue in Redis (`store.controller.webhooks`), so the controller
only enqueues and never waits for a receiver: a slow or dead one delays nothing but its own
deliveries. `WebhookDispatcher` threads claim due deliveries and POST them.

- Receivers: the global `ROLLOUT_WEBHOOK_URLS` (comma-separated), each experiment's
  `webhooks` list and its environment's (`settings.webhooks`, signed like an experiment's); a
  URL in several gets one delivery.
- Payload: `{"id", "experiment", "environment", "decision", "reasons", "figures", "at", ...}`
  (JSON, UTF-8);
  `decision` is the action (`advance`, `hold`, `rollback`, `complete`) and the extensions
  `effect`, `applied`, `winner`, `codes` say what was done.
- Signature: `X-Rollout-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. A global URL is
  signed with `ROLLOUT_WEBHOOK_SECRET`; a per-experiment URL with its own secret derived from it,
  `hex(HMAC-SHA256(ROLLOUT_WEBHOOK_SECRET, "rollout-webhook:" + url))`, so each receiver holds
  a different secret and one leaked secret forges nothing for the others
  (`GET /api/v1/webhooks/secret?url=...`, admin, tells an operator the secret of a URL). Without
  ROLLOUT_WEBHOOK_SECRET a random master secret is generated once and kept in Redis.
- Destinations: public addresses only, checked on the resolved address at each attempt and
  connected to as checked (`webhook_destinations`); `ROLLOUT_WEBHOOK_ALLOW_HOSTS` allows private
  ones. A refused destination is given up at once; the log names why in a few words.
- Delivery: a timeout per attempt, retried on any non-2xx answer or network error with
  exponential backoff (1 s, 2 s, 4 s, ... capped at 5 minutes) up to `max_attempts`; every
  attempt lands in the delivery log (`GET /api/v1/webhooks/deliveries`). At least once: a
  receiver deduplicates by `id` (also in `X-Rollout-Delivery`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis

from experiments.environments import PRODUCTION
from experiments.store import Store
from rollout import webhook_delivery
from rollout.settings import Settings
from rollout.webhook_destinations import (
    AllowList,
    RefusedDestination,
    UnresolvedHost,
    redacted,
    resolve,
)

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Rollout-Signature"
DELIVERY_HEADER = "X-Rollout-Delivery"
SECRET_CONTEXT = "rollout-webhook:"
MAX_BACKOFF_S = 300.0


def body_of(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent and signed: compact JSON with sorted keys."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def sign(body: bytes, secret: str) -> str:
    """`sha256=<hex HMAC-SHA256(secret, body)>`, the value of X-Rollout-Signature."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(body: bytes, secret: str, header: str | None) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    return header is not None and hmac.compare_digest(sign(body, secret), header)


def derived_secret(master: str, url: str) -> str:
    """The secret of a per-experiment webhook URL: HMAC-SHA256(master, "rollout-webhook:" + url)."""
    return hmac.new(master.encode(), (SECRET_CONTEXT + url).encode(), hashlib.sha256).hexdigest()


def master_secret(store: Store, settings: Settings) -> str:
    return settings.webhook_secret or store.controller.webhooks.secret()


def secret_for(store: Store, settings: Settings, url: str, scope: str) -> str:
    master = master_secret(store, settings)
    return master if scope == "global" else derived_secret(master, url)


def payload(
    experiment: str,
    decision: Mapping[str, Any],
    applied: str | None,
    at: float,
    environment: str = PRODUCTION,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "experiment": experiment,
        "environment": environment,
        "decision": decision["action"],
        "reasons": list(decision["reasons"]),
        "figures": dict(decision["figures"]),
        "at": at,
        "effect": decision.get("effect"),
        "winner": decision.get("winner"),
        "codes": list(decision.get("codes", [])),
        "applied": applied,
    }


def receivers(global_urls: Iterable[str], experiment_urls: Iterable[str]) -> list[tuple[str, str]]:
    """(url, scope) pairs, each URL once; a URL configured globally is signed as global."""
    seen: dict[str, str] = {}
    for url in global_urls:
        seen.setdefault(url.strip(), "global")
    for url in experiment_urls:
        seen.setdefault(url.strip(), "experiment")
    return [(url, scope) for url, scope in seen.items() if url]


def enqueue(
    store: Store,
    body: Mapping[str, Any],
    global_urls: Iterable[str],
    experiment_urls: Iterable[str],
    now: float,
) -> int:
    """Schedule one delivery of `body` per receiver, due now; answers how many."""
    targets = receivers(global_urls, experiment_urls)
    for url, scope in targets:
        store.controller.webhooks.schedule(
            {
                "delivery": uuid.uuid4().hex,
                "url": url,
                "scope": scope,
                "experiment": body.get("experiment"),
                "environment": body.get("environment", PRODUCTION),
                "attempt": 0,
                "payload": dict(body),
            },
            due=now,
        )
    return len(targets)


class WebhookDispatcher:
    """Threads that deliver due webhooks; `start()` then `stop()`. Several dispatchers (in
    several processes) share the queue safely: a claim hides a delivery from the others."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        workers: int = 4,
        timeout_s: float = 5.0,
        max_attempts: int = 6,
        backoff_s: float = 1.0,
        poll_s: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._settings = settings
        self._workers = workers
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._poll_s = poll_s
        self._clock = clock
        self._allow = AllowList.parse(settings.webhook_allow_hosts)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._queue_down = threading.Event()

    def start(self) -> WebhookDispatcher:
        for index in range(self._workers):
            thread = threading.Thread(
                target=self._run, name=f"rollout-webhooks-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivered = self.deliver_one()
            except (redis.RedisError, OSError) as exc:
                # One line per outage, not a traceback per poll: Redis being away (a restart, a
                # shutdown in progress) is an operational state, not a bug.
                if not self._queue_down.is_set():
                    self._queue_down.set()
                    log.warning("webhook queue unavailable (%s); retrying", type(exc).__name__)
                self._stop.wait(max(self._poll_s, 1.0))
                continue
            if self._queue_down.is_set():
                self._queue_down.clear()
                log.info("webhook queue reachable again")
            if not delivered:
                self._stop.wait(self._poll_s)

    def deliver_one(self) -> bool:
        """Claim and attempt one due delivery; False when none is due."""
        queue = self._store.controller.webhooks
        # Hidden long enough for the attempt to finish; a dispatcher that dies leaves it due again.
        claimed = queue.claim(self._clock(), hide_s=self._timeout_s * 2 + 5)
        if claimed is None:
            return False
        raw, delivery = claimed
        attempt = int(delivery.get("attempt", 0)) + 1
        body = body_of(delivery["payload"])
        url = str(delivery["url"])
        secret = secret_for(self._store, self._settings, url, str(delivery.get("scope")))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, secret),
            DELIVERY_HEADER: str(delivery["payload"].get("id")),
            "User-Agent": "prompt-rollout-webhooks",
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        refused = False
        try:
            destination = resolve(url, self._allow)
        except RefusedDestination as exc:
            error, refused = str(exc), True
        except UnresolvedHost as exc:
            error = str(exc)
        else:
            outcome = webhook_delivery.post(
                destination, body, headers, min(2.0, self._timeout_s), self._timeout_s
            )
            status, error = outcome.status, outcome.error
        ok = status is not None and 200 <= status < 300
        now = self._clock()
        entry: dict[str, Any] = {
            "delivery": delivery["delivery"],
            "id": delivery["payload"].get("id"),
            "experiment": delivery.get("experiment"),
            "environment": delivery.get("environment", PRODUCTION),
            "decision": delivery["payload"].get("decision"),
            "url": redacted(url),
            "attempt": attempt,
            "at": now,
            "status_code": status,
            "ok": ok,
            "error": error,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
            "next_attempt_at": None,
        }
        if ok:
            queue.done(raw)
        elif refused:
            entry["error"] = f"{error}; not retried"
            queue.done(raw)
        elif attempt >= self._max_attempts:
            entry["error"] = (error or f"HTTP {status}") + f"; gave up after {attempt} attempts"
            queue.done(raw)
        else:
            due = now + min(MAX_BACKOFF_S, self._backoff_s * 2 ** (attempt - 1))
            entry["next_attempt_at"] = due
            queue.retry(raw, {**delivery, "attempt": attempt}, due)
        queue.log(entry)
        return True
