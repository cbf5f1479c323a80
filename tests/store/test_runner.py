"""The controller runner against the real redis-server: lease, fencing, atomic applies."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from experiments import analysis
from experiments.model import ExperimentCreate, MetricType, Status
from experiments.prompts.version import PromptVersionCreate
from experiments.results import Results
from experiments.store import Store, keys
from experiments.store.controller import ApplyStatus, Evaluated, FollowUp
from experiments.store.events import EventWrite
from experiments.store.exposures import ExposureWrite
from rollout.controller import runner
from rollout.controller.runner import LostLease, Runner, evaluate_once, run_forever
from rollout.operations import experiments as operations
from rollout.operations.prompts import create_version
from rollout.settings import Settings

T0 = 1_750_000_000.0
EXP = "tone"


class Clock:
    """Shared, thread-safe injected time."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def define(
    store: Store,
    key: str = EXP,
    stages: list[dict[str, Any]] | None = None,
    review: bool = False,
    webhooks: list[str] | None = None,
    users_per_variant: int = 50,
) -> None:
    body = ExperimentCreate.model_validate(
        {
            "key": key,
            "name": "Tone",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "friendly", "weight": 0.5}],
            "control": "control",
            "metrics": [
                {"key": "thumbs_up", "type": "binary", "role": "primary"},
                {
                    "key": "latency_ms",
                    "type": "mean",
                    "role": "guardrail",
                    "direction": "decrease",
                    "max_regression": 0.1,
                },
            ],
            "rollout": {
                "stages": stages
                or [
                    {"traffic": t, "min_duration_s": 10, "min_users_per_variant": 20}
                    for t in (0.1, 0.2, 0.4, 0.6, 0.8)
                ]
            },
            "review": review,
            "webhooks": webhooks or [],
        }
    )
    operations.create(store, body, "editor", T0)
    started = operations.start(store, key, "release", T0, review_required=False)
    if started.pending is not None:
        operations.approve(store, key, started.pending.id, "release-two", T0)
    writes = [ExposureWrite(key, f"u{i}", i % 2) for i in range(2 * users_per_variant)]
    store.exposures.record(writes, T0)


def history(store: Store, key: str = EXP) -> list[Any]:
    return store.experiments.history(key, 0, 10_000)


def advances(store: Store, key: str = EXP) -> list[int]:
    return [e.changes["stage"] for e in history(store, key) if e.action == "advance"]


@pytest.fixture
def stores(redis_url: str) -> Iterator[list[Store]]:
    """Two independent clients (two replicas) of the one Redis."""
    opened = [Store.from_url(redis_url), Store.from_url(redis_url)]
    yield opened
    for s in opened:
        s.redis.close()


SETTINGS = Settings(controller_interval_s=1.0)


# -- the lease -----------------------------------------------------------------------------------


def test_only_one_runner_holds_the_lease(stores: list[Store]) -> None:
    first = Runner(stores[0], SETTINGS, owner="a")
    second = Runner(stores[1], SETTINGS, owner="b")
    assert first.renew() == 1
    assert second.renew() is None
    assert first.renew() == 1  # renewal keeps the token


def test_a_released_lease_goes_to_the_next_runner_with_a_higher_token(stores: list[Store]) -> None:
    first = Runner(stores[0], SETTINGS, owner="a")
    second = Runner(stores[1], SETTINGS, owner="b")
    first.renew()
    first.release()
    assert second.renew() == 2
    assert first.renew() is None


def test_an_expired_lease_is_taken_over(stores: list[Store]) -> None:
    first = Runner(stores[0], SETTINGS, owner="a", lease_ttl_s=0.1)
    second = Runner(stores[1], SETTINGS, owner="b")
    first.renew()
    time.sleep(0.2)
    assert second.renew() == 2


def test_a_runner_never_releases_a_lease_it_does_not_hold(stores: list[Store]) -> None:
    first = Runner(stores[0], SETTINGS, owner="a")
    second = Runner(stores[1], SETTINGS, owner="b")
    first.renew()
    second.release()
    assert stores[0].controller.holder() == "a:1"


def test_a_standby_runner_evaluates_nothing(stores: list[Store]) -> None:
    define(stores[0])
    clock = Clock(T0 + 60)
    assert Runner(stores[0], SETTINGS, owner="a", clock=clock).tick()
    assert Runner(stores[1], SETTINGS, owner="b", clock=clock).tick() == []


# -- two runners, one experiment -----------------------------------------------------------------


def test_two_runners_never_apply_an_evaluation_twice_nor_skip_a_stage(stores: list[Store]) -> None:
    define(stores[0])
    clock = Clock()
    runners = [
        Runner(stores[i], SETTINGS, owner=name, clock=clock, lease_ttl_s=0.05)
        for i, name in enumerate("ab")
    ]
    evaluated = [0, 0]
    stop = threading.Event()

    failures: list[BaseException] = []

    def loop(index: int) -> None:
        try:
            while not stop.is_set():
                done = len(runners[index].tick())
                evaluated[index] += done
                if done:
                    # A runner that evaluated stalls past its lease, so the other, ticking
                    # meanwhile, takes the lease for the next evaluation (stalling only now and
                    # then let one runner make them all on a slow machine).
                    time.sleep(0.06)
        except BaseException as error:  # a thread's exception would otherwise be lost
            failures.append(error)
            raise

    def time_passes() -> None:
        while not stop.is_set():
            clock.advance(1.0)
            time.sleep(0.002)

    threads = [threading.Thread(target=loop, args=(i,)) for i in (0, 1)]
    threads.append(threading.Thread(target=time_passes))
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(advances(stores[0])) < 4:
        time.sleep(0.02)
    stop.set()
    for thread in threads:
        thread.join()

    assert failures == []
    assert advances(stores[0]) == [1, 2, 3, 4]
    entries = stores[0].controller.timeline(EXP, limit=2000)
    assert len(entries) == sum(evaluated)
    fences = [e["fence"] for e in entries]
    assert fences == sorted(fences)  # an older lease holder never applied after a newer one
    assert len(set(fences)) >= 2 and min(evaluated) > 0  # the lease did change hands
    assert stores[0].experiments.get(EXP).stage == 4


def test_concurrent_evaluators_with_one_token_never_advance_twice(stores: list[Store]) -> None:
    """The endpoint and the runner share the current token: compare-and-set keeps them apart."""
    define(stores[0])
    clock = Clock()
    applied: list[str | None] = []
    lock = threading.Lock()

    def evaluator(store: Store) -> None:
        for _ in range(150):
            clock.advance(0.5)
            outcome = evaluate_once(store, EXP, clock(), fence=7).applied
            with lock:
                applied.append(outcome)

    threads = [threading.Thread(target=evaluator, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert advances(stores[0]) == [1, 2, 3, 4]
    assert applied.count("advanced") == 4
    assert len(stores[0].controller.timeline(EXP, limit=2000)) == 300


# -- fencing -------------------------------------------------------------------------------------


def test_a_runner_that_lost_its_lease_cannot_apply_a_stale_decision(stores: list[Store]) -> None:
    define(stores[0])
    old = Runner(stores[0], SETTINGS, owner="old", lease_ttl_s=0.1, clock=lambda: T0 + 5)
    new = Runner(stores[1], SETTINGS, owner="new", clock=lambda: T0 + 6)
    stale_token = old.renew()
    assert stale_token is not None
    time.sleep(0.2)
    assert len(new.tick()) == 1
    before = (stores[0].experiments.get(EXP), history(stores[0]))
    timeline = stores[0].controller.timeline(EXP)

    with pytest.raises(LostLease):
        evaluate_once(stores[0], EXP, T0 + 3600, fence=stale_token)

    assert (stores[0].experiments.get(EXP), history(stores[0])) == before
    assert stores[0].controller.timeline(EXP) == timeline
    assert old.tick() == []  # and on its next tick it finds the lease taken and stands by


def test_a_stale_runner_is_refused_even_when_its_decision_would_advance(
    stores: list[Store],
) -> None:
    define(stores[0])
    stores[0].controller.acquire("old", 60_000)
    stores[0].controller.release("old")
    fresh = stores[1].controller.acquire("new", 60_000)
    assert fresh == 2
    evaluate_once(stores[1], EXP, T0 + 1, fence=fresh)
    with pytest.raises(LostLease):
        evaluate_once(stores[0], EXP, T0 + 3600, fence=1)
    assert advances(stores[0]) == []


def test_a_refused_apply_writes_nothing(store: Store) -> None:
    define(store)
    experiment = store.experiments.get(EXP)
    version = store.config.current().version
    result = store.controller.apply(
        EXP,
        Evaluated(
            fence=1,
            expected_revision=experiment.revision - 1,
            document=experiment.model_copy(update={"stage": 1, "revision": experiment.revision}),
            entries=[],
            decision_entry=None,
            signature="x",
            force_record=True,
            timeline_entry={"at": T0},
            follow_up=FollowUp(
                id="f1", at=T0, actor="t", announce=True, settle=False, notify={}
            ),
        ),
    )
    assert result.status is ApplyStatus.MOVED
    assert store.experiments.get(EXP) == experiment
    assert store.controller.timeline(EXP) == []
    assert store.redis.get(keys.controller_fence(EXP)) is None
    assert store.controller.follow_ups(EXP) == []
    assert store.config.current().version == version


def test_a_follow_up_reads_back_as_it_was_written() -> None:
    written = FollowUp(
        id="f1",
        at=T0,
        actor="controller",
        announce=True,
        settle=False,
        notify={"event": "advanced", "experiment": EXP},
        webhooks=("https://hooks.example/a",),
        experiment_webhooks=("https://hooks.example/b",),
    )
    assert FollowUp.from_json(written.to_json()) == written


# -- crashes -------------------------------------------------------------------------------------


class Crash(BaseException):
    """A process dying: not an Exception, so nothing on the way catches it."""


def test_a_crash_before_the_apply_leaves_nothing_written(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    define(store)
    experiment, entries = store.experiments.get(EXP), history(store)

    def die(*args: Any, **kwargs: Any) -> Any:
        raise Crash

    monkeypatch.setattr(store.controller, "apply", die)
    with pytest.raises(Crash):
        evaluate_once(store, EXP, T0 + 3600, fence=1)
    assert store.experiments.get(EXP) == experiment
    assert history(store) == entries
    assert store.controller.timeline(EXP) == []
    monkeypatch.undo()
    assert evaluate_once(store, EXP, T0 + 3600, fence=1).applied == "advanced"


def test_a_crash_after_the_apply_leaves_follow_ups_the_next_tick_carries_out(
    stores: list[Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = stores[0]
    define(store, webhooks=["http://127.0.0.1:9/hook"])
    version = store.config.current().version

    def die(*args: Any, **kwargs: Any) -> int:
        raise Crash

    monkeypatch.setattr(runner, "carry_out_follow_ups", die)
    with pytest.raises(Crash):
        evaluate_once(store, EXP, T0 + 3600, fence=1)
    monkeypatch.undo()

    # The apply is whole: the stage moved, with its history entry and its timeline snapshot ...
    assert store.experiments.get(EXP).stage == 1
    assert advances(store) == [1]
    assert len(store.controller.timeline(EXP)) == 1
    # ... and what follows it is pending, not lost.
    assert store.config.current().version == version
    assert len(store.controller.follow_ups(EXP)) == 1
    assert store.controller.with_follow_ups() == [EXP]

    Runner(stores[1], SETTINGS, owner="next", clock=lambda: T0 + 3601).tick()
    assert store.config.current().version > version
    assert store.controller.follow_ups(EXP) == []
    assert store.controller.with_follow_ups() == []
    assert store.controller.webhooks.scheduled() >= 1


def test_a_decision_made_on_a_document_that_changed_meanwhile_is_made_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    define(store)
    calls: list[int] = []

    def analyse_while_someone_pauses(*args: Any, **kwargs: Any) -> Results:
        document = analysis.results(*args, **kwargs)
        if not calls:
            operations.pause(store, EXP, "release", T0 + 3599, "by hand")
        calls.append(1)
        return document

    monkeypatch.setattr(runner, "analyse", analyse_while_someone_pauses)
    evaluation = evaluate_once(store, EXP, T0 + 3600, fence=1)
    assert len(calls) == 2
    assert evaluation.decision.codes == ("not_running",)
    assert store.experiments.get(EXP).status is Status.PAUSED
    assert advances(store) == []


# -- what lands in the history and the timeline --------------------------------------------------


def test_a_repeated_hold_lands_in_the_history_once_and_in_the_timeline_every_time(
    store: Store,
) -> None:
    define(store)
    for second in range(1, 6):
        evaluate_once(store, EXP, T0 + second, fence=1)
    decisions = [e for e in history(store) if e.action == "decision"]
    assert len(decisions) == 1
    assert decisions[0].figures is not None and decisions[0].figures["codes"] == ["stage_too_young"]
    assert [e["at"] for e in store.controller.timeline(EXP)] == [T0 + s for s in range(1, 6)]


def test_every_applied_decision_carries_its_figures(store: Store) -> None:
    define(store)
    evaluate_once(store, EXP, T0 + 3600, fence=1)
    [entry] = [e for e in history(store) if e.action == "advance"]
    assert entry.actor == "controller"
    assert entry.figures is not None
    assert {c["metric"] for c in entry.figures["comparisons"]} == {"thumbs_up", "latency_ms"}
    assert entry.figures["users"] == {"control": 50, "friendly": 50}


def test_under_review_the_runner_proposes_and_a_person_approves(store: Store) -> None:
    define(store, review=True)
    first = evaluate_once(store, EXP, T0 + 3600, fence=1, review_required=True)
    again = evaluate_once(store, EXP, T0 + 3700, fence=1, review_required=True)
    assert (first.applied, again.applied) == ("proposed", "awaiting_approval")
    [pending] = store.experiments.get(EXP).pending
    operations.approve(store, EXP, pending.id, "release-two", T0 + 3800)
    assert store.experiments.get(EXP).stage == 1


def test_the_timeline_thins_its_oldest_half_when_full(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("experiments.store.controller.TIMELINE_CAPACITY", 10)
    define(store)
    for second in range(1, 12):
        evaluate_once(store, EXP, T0 + second, fence=1)
    kept = [e["at"] - T0 for e in store.controller.timeline(EXP)]
    assert kept == [1, 3, 5, 6, 7, 8, 9, 10, 11]


# -- the loop ------------------------------------------------------------------------------------


def test_run_forever_ramps_a_ready_experiment_and_releases_its_lease(
    redis_url: str, store: Store
) -> None:
    define(
        store,
        stages=[{"traffic": 0.1}, {"traffic": 0.5}],
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever, args=(redis_url, Settings(controller_interval_s=0.05), stop)
    )
    thread.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and store.experiments.get(EXP).stage != 1:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert store.experiments.get(EXP).stage == 1
    assert store.controller.holder() is None


def test_an_outage_is_logged_once_not_with_a_traceback_every_tick(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on: Redis is down
        probe.bind(("127.0.0.1", 0))
        down_url = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever, args=(down_url, Settings(controller_interval_s=0.02), stop)
    )
    with caplog.at_level(logging.INFO, logger=runner.__name__):
        thread.start()
        time.sleep(0.5)  # some twenty ticks
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    failed = [r for r in caplog.records if r.name == runner.__name__ and "tick" in r.message]
    assert len(failed) == 1, [r.message for r in failed]
    assert failed[0].levelno == logging.WARNING and failed[0].exc_info is None


def test_an_automatic_ship_concludes_frees_the_layer_and_promotes_the_winner_prompt(
    store: Store,
) -> None:
    for template in ("Summarize: {{ text }}", "Summarize warmly: {{ text }}"):
        create_version(store, "summarize", PromptVersionCreate(template=template), "editor", T0)
    body = ExperimentCreate.model_validate(
        {
            "key": EXP,
            "name": "Tone",
            "variants": [
                {"key": "control", "weight": 0.5, "prompt": "summarize@1"},
                {"key": "friendly", "weight": 0.5, "prompt": "summarize@2"},
            ],
            "control": "control",
            "layer": "summaries",
            "metrics": [{"key": "thumbs_up", "type": "binary", "role": "primary"}],
            "rollout": {"stages": [{"traffic": 1.0, "min_duration_s": 60}], "auto_ship": True},
        }
    )
    operations.create(store, body, "editor", T0)
    operations.start(store, EXP, "release", T0, review_required=False)
    users = [(f"u{i}", i % 2) for i in range(800)]
    store.exposures.record([ExposureWrite(EXP, u, v) for u, v in users], T0)
    store.events.ingest(
        [
            EventWrite(EXP, u, f"e-{u}", "thumbs_up", MetricType.BINARY, 1.0)
            for i, (u, v) in enumerate(users)
            if v == 1 or i % 10 == 0
        ]
    )
    assert store.layers.ranges("summaries")

    evaluation = evaluate_once(store, EXP, T0 + 61, fence=1)

    assert (evaluation.decision.action, evaluation.applied) == ("complete", "concluded")
    experiment = store.experiments.get(EXP)
    assert (experiment.status, experiment.winner) == (Status.CONCLUDED, "friendly")
    assert store.layers.ranges("summaries") == {}
    assert store.prompts.labels("summarize")["production"] == 2
