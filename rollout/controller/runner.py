"""The controller loop: lease, load, analyse, decide, apply, record, notify.

`run_forever` (run by `rollout controller`, and in-process by `rollout serve` / `make run`)
evaluates every running experiment every `ROLLOUT_CONTROLLER_INTERVAL_S`. With several replicas
only the holder of the Redis lease evaluates; each apply carries the lease's fencing token and
is refused once a newer token has applied to the experiment (experiments/store/controller.py).

One evaluation (`evaluate_once`, also behind `POST /api/v1/experiments/{key}/evaluate`):

1. read the definition and the sufficient statistics in one round trip;
2. compute the typed results and the decision (pure: experiments/analysis.py and
   experiments/decision.py);
3. write everything it changes in one Lua script: the experiment (compare-and-set on its
   revision), its history entries with the figures, the decision record, a results snapshot on
   the timeline, and a follow-up entry. A crash before the script leaves nothing written, after
   it everything; a decision made on a document that changed meanwhile is made again;
4. carry out the follow-ups (announce the configuration change to every worker, free the layer,
   promote a winner's prompt, enqueue webhooks) and remove them. The key is marked before the
   script runs, so the follow-ups of a crashed evaluator are found and done by the next tick.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import redis

from experiments.analysis import results as analyse
from experiments.decision import Applied, Decision, decide, decision_entry, transition
from experiments.environments import Environment, review_required
from experiments.errors import Conflict, DomainError, NotFound
from experiments.model import FINAL_STATUSES, Experiment, Status
from experiments.results import Results, to_json
from experiments.store import Store
from experiments.store.controller import ApplyStatus, Evaluated, FollowUp
from experiments.store.migrations import migrate_at_start
from rollout.controller import webhooks
from rollout.metrics import DECISIONS, FAILED_EVALUATIONS
from rollout.operations import experiments as operations
from rollout.settings import Settings

log = logging.getLogger(__name__)


ACTOR = "controller"
MAX_ATTEMPTS = 5
MIN_LEASE_TTL_S = 5.0


class LostLease(Conflict):
    """A newer lease holder has applied to this experiment: this evaluator's view is stale."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"a newer controller has evaluated {key!r}; this evaluation was not applied",
            code="stale_fence",
        )


@dataclass(frozen=True)
class Evaluation:
    """One evaluation: the decision, what it applied, and the results it was made on."""

    experiment: Experiment
    decision: Decision
    results: Results
    applied: Applied | None
    recorded: bool
    at: float

    def as_dict(self) -> dict[str, Any]:
        return self.decision.as_dict() | {
            "experiment": self.experiment.key,
            "applied": self.applied,
            "recorded": self.recorded,
            "at": self.at,
            "status": self.experiment.status.value,
            "stage": self.experiment.stage,
            "traffic": self.experiment.effective_traffic,
        }


def evaluate_once(
    store: Store,
    key: str,
    now: float,
    *,
    fence: int | None = None,
    actor: str = ACTOR,
    review_required: bool = False,
    webhook_urls: Iterable[str] = (),
    environment_webhooks: Iterable[str] = (),
    force_record: bool = False,
) -> Evaluation:
    """Evaluate `key` at `now` and apply the decision; see the module docstring.

    `fence` is the caller's lease token; without one (the HTTP endpoint) the newest token handed
    out is used, which the current lease holder also holds, so a manual evaluation and the runner
    never lock each other out while a runner that lost its lease still cannot apply. Raises
    NotFound, LostLease, or Conflict when the experiment changes under every attempt.
    `store` is the view of the experiment's environment; `environment_webhooks`, that
    environment's receivers, are signed like an experiment's own (a secret derived per URL).
    """
    token = store.controller.current_fence() if fence is None else fence
    for _ in range(MAX_ATTEMPTS):
        snapshot = store.events.snapshot(key)
        experiment = snapshot.experiment
        results = analyse(experiment, snapshot.stats, now)
        decision = decide(experiment, results, now)
        change = transition(experiment, decision, now, actor, review_required)
        document = (
            change.experiment.model_copy(update={"revision": experiment.revision + 1})
            if change.experiment is not None
            else None
        )
        after = document or experiment
        body = webhooks.payload(key, decision.as_dict(), change.applied, now, store.environment)
        follow_up = FollowUp(
            id=uuid.uuid4().hex,
            at=now,
            actor=actor,
            announce=document is not None,
            settle=document is not None and document.status in FINAL_STATUSES,
            notify=body,
            webhooks=tuple(dict.fromkeys(webhook_urls)),
            experiment_webhooks=tuple(dict.fromkeys([*after.webhooks, *environment_webhooks])),
        )
        store.controller.mark_follow_up(key)
        outcome = store.controller.apply(
            key,
            Evaluated(
                fence=token,
                expected_revision=experiment.revision,
                document=document,
                entries=change.entries,
                decision_entry=(
                    None if document is not None else decision_entry(decision, now, actor)
                ),
                signature=decision.signature(experiment),
                force_record=force_record,
                timeline_entry=timeline_entry(results, decision, change.applied, now, token),
                follow_up=follow_up,
            ),
        )
        if outcome.status is ApplyStatus.APPLIED:
            DECISIONS.labels(decision.action).inc()
            carry_out_follow_ups(store, key)
            recorded = outcome.recorded or document is not None
            return Evaluation(after, decision, results, change.applied, recorded, now)
        if outcome.status is ApplyStatus.MISSING:
            raise NotFound(f"experiment {key!r} not found")
        store.controller.forget_follow_ups_if_done(key)
        if outcome.status is ApplyStatus.STALE:
            raise LostLease(key)
        # MOVED: someone changed the experiment since we read it; decide again on the new one.
    raise Conflict(f"experiment {key!r} is changing too often; retry", code="contention")


def timeline_entry(
    results: Results, decision: Decision, applied: Applied | None, now: float, fence: int
) -> dict[str, Any]:
    """The results snapshot kept per evaluation: the results document without the bulky
    planning figures (`power`), plus the decision, so every metric's evolution can be plotted.

    It is stored as JSON and read back as JSON (the console's timeline chart), entries written
    by an older version included: this is where the runner's typed results meet the record."""
    without_power = tuple(replace(metric, power=None) for metric in results.metrics)
    document = to_json(replace(results, metrics=without_power))
    return {
        "at": now,
        "fence": fence,
        "status": document["status"],
        "stage": document["stage"],
        "traffic": document["traffic"],
        "srm": document["srm"],
        "variants": document["variants"],
        "sequential_alpha": document["sequential_alpha"],
        "metrics": document["metrics"],
        "decision": {
            "action": decision.action,
            "effect": decision.effect,
            "codes": list(decision.codes),
            "applied": applied,
        },
    }


def carry_out_follow_ups(store: Store, key: str) -> int:
    """Do the pending follow-ups of `key` (announce, settle, webhooks) and drop each when done.

    Each step is safe to repeat, so a crash between a step and the removal only repeats it
    (webhooks are at least once). Answers how many follow-ups were done.
    """
    done = 0
    for raw, follow_up in store.controller.follow_ups(key):
        if follow_up.announce:
            store.announce_change()
        if follow_up.settle:
            try:
                operations.settle(store, store.experiments.get(key), follow_up.actor, follow_up.at)
            except NotFound:
                log.warning("experiment %s vanished before its follow-ups", key)
        webhooks.enqueue(
            store,
            follow_up.notify,
            follow_up.webhooks,
            follow_up.experiment_webhooks,
            follow_up.at,
        )
        store.controller.follow_up_done(key, raw)
        done += 1
    store.controller.forget_follow_ups_if_done(key)
    return done


class Runner:
    """One replica's controller: takes the lease when free, then evaluates every running
    experiment once per `tick()`. Time comes from `clock`, so tests drive it."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
        lease_ttl_s: float | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.owner = owner or uuid.uuid4().hex
        self.clock = clock
        ttl = lease_ttl_s or max(3 * settings.controller_interval_s, MIN_LEASE_TTL_S)
        self.lease_ttl_ms = int(ttl * 1000)
        self.fence: int | None = None

    def renew(self) -> int | None:
        """Take or keep the lease; the fencing token while held, None while another holds it."""
        self.fence = self.store.controller.acquire(self.owner, self.lease_ttl_ms)
        return self.fence

    def tick(self) -> list[Evaluation]:
        """One round: the lease, then in every environment not archived its leftover follow-ups
        and every running experiment, under that environment's review and webhook settings."""
        if self.renew() is None:
            return []
        evaluations: list[Evaluation] = []
        for environment in self.store.environments.all().values():
            if environment.archived:
                continue
            if not self._tick_in(environment, evaluations):
                break
        return evaluations

    def _tick_in(self, environment: Environment, evaluations: list[Evaluation]) -> bool:
        """Evaluate one environment's running experiments into `evaluations`; False once the
        lease is lost (the round stops)."""
        store = self.store.in_environment(environment.name)
        for key in store.controller.with_follow_ups():
            carry_out_follow_ups(store, key)
        running = [e.key for e in store.experiments.all() if e.status is Status.RUNNING]
        review = review_required(environment, self.settings.require_review)
        for key in running:
            fence = self.renew()
            if fence is None:
                log.warning("controller %s lost its lease; standing by", self.owner)
                return False
            try:
                evaluations.append(
                    evaluate_once(
                        store,
                        key,
                        self.clock(),
                        fence=fence,
                        review_required=review,
                        webhook_urls=self.settings.webhook_urls,
                        environment_webhooks=[str(u) for u in environment.settings.webhooks],
                    )
                )
            except LostLease:
                log.warning("controller %s was fenced off on %s; standing by", self.owner, key)
                return False
            except DomainError as exc:
                log.warning("evaluating %s: %s", key, exc.message)
            except redis.RedisError:
                raise  # Redis down fails the whole tick, which run_forever retries
            except Exception:
                # One experiment must never stop the others being watched (a rollback that
                # does not happen is an incident): its failure is logged, the tick goes on.
                log.exception("evaluating %s failed; the other experiments go on", key)
                FAILED_EVALUATIONS.inc()
        return True

    def release(self) -> None:
        self.store.controller.release(self.owner)
        self.fence = None


def run_forever(redis_url: str, settings: Settings, stop: threading.Event) -> None:
    """Evaluate every running experiment every `settings.controller_interval_s` until `stop`.

    Also delivers webhooks (a WebhookDispatcher in this process). Redis being unreachable is
    logged and retried on the next tick; the lease is released on the way out so a standby
    replica takes over at once instead of after the lease's time to live.
    """
    store = Store.from_url(redis_url)
    migrate_at_start(store)
    dispatcher = webhooks.WebhookDispatcher(store, settings).start()
    runner = Runner(store, settings)
    log.info("rollout controller %s: every %s s", runner.owner, settings.controller_interval_s)
    redis_down = False
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                runner.tick()
            except (redis.RedisError, OSError) as exc:
                # One line per outage, not a traceback per tick: Redis being away (a restart, a
                # failover) is an operational state, not a bug.
                if not redis_down:
                    redis_down = True
                    log.warning(
                        "controller tick failed: Redis unavailable (%s); retrying every tick",
                        type(exc).__name__,
                    )
            else:
                if redis_down:
                    redis_down = False
                    log.info("Redis reachable again; controller ticks resumed")
            elapsed = time.monotonic() - started
            stop.wait(max(0.0, settings.controller_interval_s - elapsed))
    finally:
        dispatcher.stop()
        try:
            runner.release()
        except (redis.RedisError, OSError):
            log.warning("could not release the controller lease; it expires by itself")
        store.close()
