"""Archiving: what may be retired from lists and from the SDK configuration; pure.

An archived experiment or prompt is hidden, never deleted: its document and history stay, and
unarchiving brings it back as it was. Only what no application is being measured on may be
archived: an experiment that is a draft or has ended (concluded, rolled back), a prompt that no
running or paused experiment uses. An archived draft cannot start (it would run unseen), and no
experiment may start on, or newly reference, an archived prompt.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from experiments.errors import Conflict
from experiments.model import ACTIVE_STATUSES, Experiment, HistoryEntry

Result = tuple[Experiment, list[HistoryEntry]]


def archive(experiment: Experiment, now: float, actor: str, reason: str | None = None) -> Result:
    """Hide the experiment; refused (409) while it runs or is paused. Archiving twice changes
    nothing. A start waiting for review is dropped: it could only be refused now."""
    if experiment.status in ACTIVE_STATUSES:
        raise Conflict(
            f"experiment {experiment.key!r} is {experiment.status.value}: only a draft, concluded"
            " or rolled back experiment can be archived (conclude or roll it back first)",
            code="experiment_active",
        )
    if experiment.archived_at is not None:
        return experiment, []
    updated = experiment.model_copy(
        update={"archived_at": now, "archived_by": actor, "updated_at": now, "pending": []}
    )
    entry = HistoryEntry(
        at=now, actor=actor, action="archive", reason=reason, changes={"archived": True}
    )
    return updated, [entry]


def unarchive(
    experiment: Experiment, now: float, actor: str, reason: str | None = None
) -> Result:
    """Show the experiment again, in the state it was archived in."""
    if experiment.archived_at is None:
        return experiment, []
    updated = experiment.model_copy(
        update={"archived_at": None, "archived_by": None, "updated_at": now}
    )
    entry = HistoryEntry(
        at=now, actor=actor, action="unarchive", reason=reason, changes={"archived": False}
    )
    return updated, [entry]


def refuse_if_archived(experiment: Experiment, action: str) -> None:
    """An archived experiment does not start: unarchive it first."""
    if experiment.archived_at is not None:
        raise Conflict(
            f"cannot {action} experiment {experiment.key!r}: it is archived (unarchive it first)",
            code="archived",
        )


def check_prompt_archivable(name: str, experiments: Iterable[Experiment]) -> None:
    """Refuse (409) to archive prompt `name` while a running or paused experiment uses one of
    its versions; the conflict names each of them."""
    active = sorted(
        e.key
        for e in experiments
        if e.status in ACTIVE_STATUSES and any(p.name == name for p in e.prompts.values())
    )
    if active:
        raise Conflict(
            f"prompt {name!r} is used by {len(active)} running or paused experiment(s):"
            f" {', '.join(active)}",
            [{"field": "experiments", "message": f"{key!r} uses it"} for key in active],
            code="prompt_in_use",
        )


def check_prompts_not_archived(
    experiment: Experiment, archived: Iterable[str], action: str
) -> None:
    """Refuse (409) to `action` an experiment whose variants use an archived prompt."""
    names = set(archived)
    used = sorted({p.name for p in experiment.prompts.values()} & names)
    if used:
        raise Conflict(
            f"cannot {action} experiment {experiment.key!r}: it uses archived prompt(s)"
            f" {', '.join(used)} (unarchive them first)",
            [{"field": "prompts", "message": f"prompt {name!r} is archived"} for name in used],
            code="archived_prompt",
        )


def archive_record(now: float, actor: str, reason: str | None) -> dict[str, Any]:
    """What a prompt keeps while archived: who and when (and why), as the experiment's fields."""
    return {"archived_at": now, "archived_by": actor, "reason": reason}
