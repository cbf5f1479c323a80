"""The quality hook's worker pool on its own: bounded, never raising, and fork-safe."""

from __future__ import annotations

import multiprocessing
import queue
from typing import Any

from rollout_sdk.answers import VariantAssignment
from rollout_sdk.llm.quality import QualityHook, ScoredCall

ASSIGNMENT = VariantAssignment("summary-tone", "short", True, "assigned", None, None)


class Tracked:
    """What the hook tracked, in place of the rollout client (no service is involved here)."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def track(self, user_id: str, experiment: str, metric: str, value: float,
              denominator: float | None = None, *, event_id: str | None = None) -> str | None:
        self.events.append((user_id, experiment, metric, value, event_id))
        return event_id


def scored(call_id: str) -> ScoredCall:
    return ScoredCall(call_id, "u1", ASSIGNMENT, "prompt", "an answer", object())


def test_the_score_is_tracked_once_per_call_on_the_hooks_metric() -> None:
    tracked = Tracked()
    hook = QualityHook(lambda call: 0.75, metric="helpful")
    assert hook.offer(tracked, scored("c1"))
    hook.join()
    hook.close()
    assert tracked.events == [("u1", "summary-tone", "helpful", 0.75, "llm:c1:helpful")]


def test_a_scorer_that_raises_or_abstains_records_nothing_and_is_counted() -> None:
    def judge(call: ScoredCall) -> float | None:
        if call.call_id == "bad":
            raise RuntimeError("judge unavailable")
        return None

    tracked = Tracked()
    hook = QualityHook(judge)
    hook.offer(tracked, scored("bad"))
    hook.offer(tracked, scored("none"))
    hook.join()
    hook.close()
    assert tracked.events == []
    assert (hook.failed, hook.scored) == (1, 1)


def _score_in_child(hook: QualityHook, answers: Any) -> None:
    tracked = Tracked()
    hook.offer(tracked, scored("child"))
    hook.join()
    answers.put(len(tracked.events))


def test_a_forked_child_scores_on_threads_of_its_own() -> None:
    hook = QualityHook(lambda call: 1.0)
    parent = Tracked()
    hook.offer(parent, scored("parent"))
    hook.join()  # the parent's worker thread is running, and a fork does not copy it
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    child = context.Process(target=_score_in_child, args=(hook, answers))
    child.start()
    child.join(10)
    if child.is_alive():
        child.kill()
    try:
        scored_in_child = answers.get(timeout=1)
    except queue.Empty:
        scored_in_child = None
    hook.close()
    assert scored_in_child == 1
    assert len(parent.events) == 1
