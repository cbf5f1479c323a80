"""The rollout controller's state in Redis: its lease, fenced applies, timelines, follow-ups and
the webhook delivery queue.

One runner evaluates at a time: it holds `keys.CONTROLLER_LEASE` (SET NX PX, renewed by its
owner id) and every acquisition takes a new fencing token from `keys.CONTROLLER_FENCE` (INCR, in
the same script). Each apply passes its token; `lua/controller_apply.lua` refuses it when a newer
token has already applied to that experiment, so a runner that lost its lease (paused, cut off)
cannot apply a decision made on what it read before. The experiment keeps the highest token
that applied to it in its own slot, so the check and the write are one script on one Cluster
slot. docs/controller.md has the design.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from experiments.environments import PRODUCTION
from experiments.model import Experiment, HistoryEntry
from experiments.store import keys
from experiments.store.connection import Redis
from experiments.store.keys import PRODUCTION_KEYS, EnvironmentKeys
from experiments.store.scripts import Scripts
from experiments.store.stored_json import stored_json

TIMELINE_CAPACITY = 2000
DELIVERY_LOG_LENGTH = 1000


class ApplyStatus(IntEnum):
    APPLIED = 1
    MOVED = 0
    MISSING = -1
    STALE = -3


@dataclass(frozen=True)
class ApplyResult:
    status: ApplyStatus
    recorded: bool


@dataclass(frozen=True)
class FollowUp:
    """What is left to do after an applied evaluation, kept in the experiment's outbox (in the
    same script as the apply) until it is done: announce the change to every worker, settle a
    concluded or rolled-back experiment (layer, winner prompt), and deliver `notify`, the
    webhook payload, to the global `webhooks` and the experiment's own."""

    id: str
    at: float
    actor: str
    announce: bool
    settle: bool
    notify: Mapping[str, Any]
    webhooks: tuple[str, ...] = ()
    experiment_webhooks: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "at": self.at,
                "actor": self.actor,
                "announce": self.announce,
                "settle": self.settle,
                "notify": self.notify,
                "webhooks": list(self.webhooks),
                "experiment_webhooks": list(self.experiment_webhooks),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str) -> FollowUp:
        record = json.loads(raw)
        return cls(
            id=str(record["id"]),
            at=float(record["at"]),
            actor=str(record["actor"]),
            announce=bool(record["announce"]),
            settle=bool(record["settle"]),
            notify=record["notify"],
            webhooks=tuple(record.get("webhooks", ())),
            experiment_webhooks=tuple(record.get("experiment_webhooks", ())),
        )


@dataclass(frozen=True)
class Evaluated:
    """What one evaluation writes; `document` is None when the experiment does not change."""

    fence: int
    expected_revision: int
    document: Experiment | None
    entries: Sequence[HistoryEntry]
    decision_entry: HistoryEntry | None
    signature: str
    force_record: bool
    timeline_entry: Mapping[str, Any]
    follow_up: FollowUp | None


class ControllerStore:
    def __init__(
        self,
        redis: Redis,
        scripts: Scripts,
        layout: EnvironmentKeys = PRODUCTION_KEYS,
        webhooks: WebhookQueue | None = None,
    ) -> None:
        self._redis = redis
        self._scripts = scripts
        self._keys = layout
        # One queue for every environment: a delivery carries its environment in its body.
        self.webhooks = webhooks or WebhookQueue(redis, scripts)

    def acquire(self, owner: str, ttl_ms: int) -> int | None:
        """Take or renew the lease; the fencing token while `owner` holds it, else None."""
        if ":" in owner:
            raise ValueError("a lease owner id must not contain ':'")
        fence = int(
            self._scripts["controller_acquire"](
                keys=[keys.CONTROLLER_LEASE, keys.CONTROLLER_FENCE], args=[owner, str(ttl_ms)]
            )
        )
        return fence or None

    def release(self, owner: str) -> bool:
        return bool(self._scripts["controller_release"](keys=[keys.CONTROLLER_LEASE], args=[owner]))

    def holder(self) -> str | None:
        """The lease's value `<owner>:<fence>`, for operators and tests."""
        value: str | None = self._redis.get(keys.CONTROLLER_LEASE)
        return value

    def current_fence(self) -> int:
        """The newest fencing token handed out (that of the current or last lease holder)."""
        return int(self._redis.get(keys.CONTROLLER_FENCE) or 0)

    def apply(self, key: str, evaluated: Evaluated) -> ApplyResult:
        """Write one evaluation atomically (lua/controller_apply.lua), or refuse all of it."""
        args = [
            str(evaluated.fence),
            str(evaluated.expected_revision),
            stored_json(evaluated.document) if evaluated.document is not None else "",
            evaluated.signature,
            stored_json(evaluated.decision_entry) if evaluated.decision_entry else "",
            "1" if evaluated.force_record else "0",
            json.dumps(evaluated.timeline_entry, separators=(",", ":")),
            str(TIMELINE_CAPACITY),
            evaluated.follow_up.to_json() if evaluated.follow_up is not None else "",
            *(stored_json(entry) for entry in evaluated.entries),
        ]
        status, recorded = self._scripts["controller_apply"](
            keys=[
                self._keys.experiment(key),
                self._keys.experiment_history(key),
                self._keys.timeline(key),
                self._keys.controller_fence(key),
                self._keys.controller_decision(key),
                self._keys.controller_outbox(key),
            ],
            args=args,
        )
        return ApplyResult(ApplyStatus(int(status)), bool(recorded))

    def timeline(self, key: str, since: float | None = None, limit: int = 500) -> list[Any]:
        """The per-evaluation snapshots, oldest first, those at or after `since`, at most `limit`
        (the newest ones when there are more)."""
        raw = self._redis.lrange(self._keys.timeline(key), 0, -1)
        entries = [json.loads(item) for item in raw]
        if since is not None:
            entries = [e for e in entries if float(e.get("at", 0)) >= since]
        return entries[-limit:]

    def mark_follow_up(self, key: str) -> None:
        """Note, before an apply, that `key` may get follow-ups: a crash after the apply leaves
        them findable by the next runner (`with_follow_ups`)."""
        self._redis.sadd(self._keys.controller_outbox_index, key)

    def with_follow_ups(self) -> list[str]:
        return sorted(self._redis.smembers(self._keys.controller_outbox_index))

    def follow_ups(self, key: str) -> list[tuple[str, FollowUp]]:
        """Pending follow-ups of `key`, oldest first, each as (raw JSON, parsed); the raw text
        is what `follow_up_done` removes."""
        return [
            (raw, FollowUp.from_json(raw))
            for raw in self._redis.lrange(self._keys.controller_outbox(key), 0, -1)
        ]

    def follow_up_done(self, key: str, raw: str) -> None:
        self._redis.lrem(self._keys.controller_outbox(key), 1, raw)

    def forget_follow_ups_if_done(self, key: str) -> None:
        """Unmark `key` once its outbox is empty (an evaluator that marks it again after this
        carries out its own follow-ups right after its apply)."""
        if not self._redis.llen(self._keys.controller_outbox(key)):
            self._redis.srem(self._keys.controller_outbox_index, key)


class WebhookQueue:
    """Durable webhook deliveries: a schedule (sorted set by due time) and a delivery log.

    A delivery is claimed by hiding it until a visibility deadline instead of removing it, so a
    dispatcher that dies mid-delivery leaves it to be retried; deliveries are at least once, and
    receivers deduplicate by the payload's `id` (also sent as `X-Rollout-Delivery`).
    """

    def __init__(self, redis: Redis, scripts: Scripts) -> None:
        self._redis = redis
        self._scripts = scripts

    def schedule(self, delivery: Mapping[str, Any], due: float) -> None:
        self._redis.zadd(keys.WEBHOOK_SCHEDULE, {_member(delivery): _ms(due)})

    def claim(self, now: float, hide_s: float) -> tuple[str, dict[str, Any]] | None:
        raw = self._scripts["webhook_claim"](
            keys=[keys.WEBHOOK_SCHEDULE], args=[str(_ms(now)), str(_ms(now + hide_s))]
        )
        if not raw:
            return None
        return raw, json.loads(raw)

    def done(self, raw: str) -> None:
        self._redis.zrem(keys.WEBHOOK_SCHEDULE, raw)

    def retry(self, raw: str, delivery: Mapping[str, Any], due: float) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.zrem(keys.WEBHOOK_SCHEDULE, raw)
        pipe.zadd(keys.WEBHOOK_SCHEDULE, {_member(delivery): _ms(due)})
        pipe.execute()

    def scheduled(self) -> int:
        return int(self._redis.zcard(keys.WEBHOOK_SCHEDULE))

    def log(self, entry: Mapping[str, Any]) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.lpush(keys.WEBHOOK_DELIVERIES, json.dumps(entry, separators=(",", ":")))
        pipe.ltrim(keys.WEBHOOK_DELIVERIES, 0, DELIVERY_LOG_LENGTH - 1)
        pipe.execute()

    def deliveries(
        self, experiment: str | None = None, limit: int = 100, environment: str = PRODUCTION
    ) -> list[Any]:
        """The newest delivery attempts of one environment first, optionally of one experiment
        (an entry logged before environments is production's)."""
        entries = [json.loads(raw) for raw in self._redis.lrange(keys.WEBHOOK_DELIVERIES, 0, -1)]
        entries = [e for e in entries if e.get("environment", PRODUCTION) == environment]
        if experiment is not None:
            entries = [e for e in entries if e.get("experiment") == experiment]
        return entries[:limit]

    def secret(self) -> str:
        """The signing secret used when ROLLOUT_WEBHOOK_SECRET is not set: generated once and kept
        in Redis, so every process signs alike and an admin can read it (GET /webhooks/secret)."""
        self._redis.set(keys.WEBHOOK_SECRET, secrets.token_hex(32), nx=True)
        value: str = self._redis.get(keys.WEBHOOK_SECRET)
        return value


def _member(delivery: Mapping[str, Any]) -> str:
    return json.dumps(delivery, sort_keys=True, separators=(",", ":"))


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
