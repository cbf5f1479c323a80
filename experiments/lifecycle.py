"""Lifecycle transitions and review rules: pure functions of (experiment, request, now, actor).

Each returns the changed experiment and the history entries that explain it, or raises Conflict
when the state does not allow it. The store applies them with compare-and-set, so a transition
decided on a stale document is simply decided again.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import ValidationError

from experiments.archiving import refuse_if_archived
from experiments.errors import Conflict, Invalid
from experiments.model import (
    DRAFT_ONLY_FIELDS,
    Experiment,
    ExperimentPatch,
    HistoryEntry,
    PendingChange,
    Status,
    check_variants,
)

Result = tuple[Experiment, list[HistoryEntry]]

ALLOWED: dict[str, frozenset[Status]] = {
    "start": frozenset({Status.DRAFT}),
    "pause": frozenset({Status.RUNNING}),
    "resume": frozenset({Status.PAUSED}),
    "advance": frozenset({Status.RUNNING}),
    "rollback": frozenset({Status.RUNNING, Status.PAUSED}),
    "conclude": frozenset({Status.RUNNING, Status.PAUSED}),
}


def _require(experiment: Experiment, action: str) -> None:
    if experiment.status not in ALLOWED[action]:
        allowed = ", ".join(sorted(s.value for s in ALLOWED[action]))
        raise Conflict(
            f"cannot {action} experiment {experiment.key!r} in status {experiment.status.value!r}"
            f" (only from {allowed})",
            code="invalid_transition",
        )


def _entry(
    now: float, actor: str, action: str, reason: str | None = None, **changes: Any
) -> HistoryEntry:
    return HistoryEntry(at=now, actor=actor, action=action, reason=reason, changes=changes)


def needs_review(experiment: Experiment, review_required: bool) -> bool:
    return review_required or experiment.review


def start(experiment: Experiment, now: float, actor: str, reason: str | None = None) -> Result:
    _require(experiment, "start")
    refuse_if_archived(experiment, "start")
    update: dict[str, Any] = {
        "status": Status.RUNNING,
        "started_at": now,
        "updated_at": now,
        "pending": [],
    }
    changes: dict[str, Any] = {"status": "running"}
    if experiment.rollout is not None:
        update |= {
            "stage": 0,
            "stage_started_at": now,
            "traffic": experiment.rollout.stages[0].traffic,
        }
        changes |= {"stage": 0, "traffic": update["traffic"]}
    return experiment.model_copy(update=update), [_entry(now, actor, "start", reason, **changes)]


def pause(
    experiment: Experiment,
    now: float,
    actor: str,
    reason: str | None = None,
    figures: dict[str, Any] | None = None,
) -> Result:
    _require(experiment, "pause")
    updated = experiment.model_copy(update={"status": Status.PAUSED, "updated_at": now})
    entry = _entry(now, actor, "pause", reason, status="paused")
    entry.figures = figures
    return updated, [entry]


def resume(experiment: Experiment, now: float, actor: str, reason: str | None = None) -> Result:
    _require(experiment, "resume")
    updated = experiment.model_copy(update={"status": Status.RUNNING, "updated_at": now})
    return updated, [_entry(now, actor, "resume", reason, status="running")]


def advance(
    experiment: Experiment,
    now: float,
    actor: str,
    reason: str | None = None,
    figures: dict[str, Any] | None = None,
) -> Result:
    """Move to the next rollout stage; its traffic becomes the experiment's."""
    _require(experiment, "advance")
    if experiment.rollout is None or experiment.stage is None:
        raise Conflict(f"experiment {experiment.key!r} has no rollout plan", code="no_rollout")
    nxt = experiment.stage + 1
    if nxt >= len(experiment.rollout.stages):
        raise Conflict(
            f"experiment {experiment.key!r} is at its last stage; conclude it", code="last_stage"
        )
    traffic = experiment.rollout.stages[nxt].traffic
    updated = experiment.model_copy(
        update={"stage": nxt, "stage_started_at": now, "traffic": traffic, "updated_at": now}
    )
    entry = _entry(now, actor, "advance", reason, stage=nxt, traffic=traffic)
    entry.figures = figures
    return updated, [entry]


def advance_or_propose(
    experiment: Experiment,
    now: float,
    actor: str,
    review_required: bool,
    reason: str | None = None,
    figures: dict[str, Any] | None = None,
) -> tuple[Experiment, list[HistoryEntry], PendingChange | None]:
    """Advance, or under review propose the advance; answers the proposal that stands, if any.

    Shared by a manual advance and the controller's. A proposal already waiting for the same
    stage is answered as it is: proposing again would replace the one a reviewer may be approving.
    """
    if not needs_review(experiment, review_required):
        updated, entries = advance(experiment, now, actor, reason, figures)
        return updated, entries, None
    advance(experiment, now, actor)  # refuses what the state does not allow, like the real one
    assert experiment.stage is not None
    target = experiment.stage + 1
    waiting = next(
        (p for p in experiment.pending if p.kind == "advance" and p.stage == target), None
    )
    if waiting is not None:
        return experiment, [], waiting
    pending = new_pending("advance", now, actor, stage=target, reason=reason)
    updated, entries = propose(experiment, pending, now, actor)
    entries[0].figures = figures
    return updated, entries, pending


def rollback(
    experiment: Experiment,
    now: float,
    actor: str,
    reason: str | None = None,
    figures: dict[str, Any] | None = None,
) -> Result:
    """Everyone gets control from now on; never waits for review."""
    _require(experiment, "rollback")
    updated = experiment.model_copy(
        update={
            "status": Status.ROLLED_BACK,
            "rollback_reason": reason,
            "ended_at": now,
            "updated_at": now,
            "pending": [],
        }
    )
    entry = _entry(now, actor, "rollback", reason, status="rolled_back")
    entry.figures = figures
    return updated, [entry]


def conclude(
    experiment: Experiment,
    now: float,
    actor: str,
    winner: str,
    reason: str | None = None,
    figures: dict[str, Any] | None = None,
) -> Result:
    """Everyone gets the winner from now on."""
    _require(experiment, "conclude")
    if winner not in experiment.variant_keys():
        raise Invalid(
            f"winner {winner!r} is not a variant of {experiment.key!r}",
            [{"field": "winner", "message": f"must be one of {experiment.variant_keys()}"}],
        )
    updated = experiment.model_copy(
        update={
            "status": Status.CONCLUDED,
            "winner": winner,
            "ended_at": now,
            "updated_at": now,
            "pending": [],
        }
    )
    entry = _entry(now, actor, "conclude", reason, status="concluded", winner=winner)
    entry.figures = figures
    return updated, [entry]


def patch(experiment: Experiment, body: ExperimentPatch, now: float, actor: str) -> Result:
    """Apply a PATCH: descriptive fields, traffic and targeting always; the design only in draft."""
    fields = body.model_fields_set - {"reason"}
    values = {name: getattr(body, name) for name in fields}
    locked = sorted(fields & DRAFT_ONLY_FIELDS)
    if locked and experiment.status is not Status.DRAFT:
        raise Conflict(
            f"{', '.join(locked)} can only change while the experiment is a draft",
            [{"field": name, "message": "only in draft"} for name in locked],
            code="not_draft",
        )
    started = experiment.status is not Status.DRAFT
    if values.get("review") is False and experiment.review and started:
        # Otherwise one key could switch review off and then raise traffic alone.
        raise Conflict(
            "review cannot be switched off once the experiment has started",
            [{"field": "review", "message": "only in draft"}],
            code="review_locked",
        )
    if "variants" in values or "control" in values:
        variants = values.get("variants") or experiment.variants
        control = values.get("control") or experiment.control
        try:
            check_variants(variants, control)
        except ValueError as exc:
            raise Invalid(str(exc), [{"field": "variants", "message": str(exc)}]) from exc
    if not values:
        return experiment, []
    merged = experiment.model_dump() | {
        name: (value.model_dump() if hasattr(value, "model_dump") else value)
        for name, value in values.items()
    }
    merged["updated_at"] = now
    if "layer" in values and values["layer"] != experiment.layer:
        merged["layer_range"] = None  # a range belongs to its layer; the store claims a new one
    try:
        updated = Experiment.model_validate(merged)
    except ValidationError as exc:
        raise Invalid.of_validation(exc) from exc
    shown = {
        name: (value.model_dump(mode="json") if hasattr(value, "model_dump") else value)
        for name, value in values.items()
    }
    return updated, [_entry(now, actor, "update", body.reason, **shown)]


def propose(experiment: Experiment, change: PendingChange, now: float, actor: str) -> Result:
    """Record a change that waits for a second pair of eyes; replaces an older one of its kind."""
    pending = [p for p in experiment.pending if p.kind != change.kind] + [change]
    updated = experiment.model_copy(update={"pending": pending, "updated_at": now})
    entry = _entry(
        now,
        actor,
        "propose",
        change.reason,
        change=change.model_dump(mode="json", exclude_none=True),
    )
    return updated, [entry]


def new_pending(
    kind: str,
    now: float,
    actor: str,
    *,
    traffic: float | None = None,
    stage: int | None = None,
    reason: str | None = None,
) -> PendingChange:
    return PendingChange(
        id=secrets.token_hex(8),
        kind=kind,
        proposed_by=actor,
        proposed_at=now,
        traffic=traffic,
        stage=stage,
        reason=reason,
    )


def take_pending(experiment: Experiment, change_id: str, approver: str) -> PendingChange:
    """The pending change an approval names; refused for its own proposer or a stale id."""
    change = next((p for p in experiment.pending if p.id == change_id), None)
    if change is None:
        raise Conflict(
            f"no pending change {change_id!r} on {experiment.key!r} (it may have been replaced)",
            code="stale_approval",
        )
    if change.proposed_by == approver:
        raise Conflict(
            "a change must be approved by a key other than the one that proposed it",
            code="same_approver",
        )
    return change


def without_pending(experiment: Experiment, change_id: str) -> Experiment:
    return experiment.model_copy(
        update={"pending": [p for p in experiment.pending if p.id != change_id]}
    )
