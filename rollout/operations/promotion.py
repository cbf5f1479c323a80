"""Promotion: an experiment's definition copied from one environment into another, as a draft.

What is copied is the design (`ExperimentFields`: variants, weights, metrics, targeting, rollout,
layer, ...) with each variant's prompt pinned to the very version the source pinned, so what was
tried is what is promoted; the state (status, stage, exposures, results) stays behind. The copy
keeps the key, hence the seed: a user gets the same variant in both environments. A target that
already holds the key is refused (409) unless it is a draft, which the copy replaces. Both
histories say so.
"""

from __future__ import annotations

from experiments.errors import Conflict, NotFound
from experiments.model import (
    NOT_NULLABLE,
    Experiment,
    ExperimentCreate,
    ExperimentFields,
    ExperimentPatch,
    HistoryEntry,
    Status,
)
from experiments.store import Store
from rollout.operations import experiments as operations


def definition_of(experiment: Experiment) -> ExperimentCreate:
    """The body that defines `experiment` again, its prompts pinned to the versions it uses."""
    fields = experiment.model_dump(include=set(ExperimentFields.model_fields))
    for variant in fields["variants"]:
        pinned = experiment.prompts.get(variant["key"])
        if pinned is not None:
            variant["prompt"] = f"{pinned.name}@{pinned.version}"
    return ExperimentCreate.model_validate(fields)


def _replacing(body: ExperimentCreate) -> ExperimentPatch:
    """The PATCH that makes a draft's design `body`'s: every field, those unset as null (the
    key and the shard count, fixed at creation, are the draft's already)."""
    fields = body.model_dump(exclude={"key", "shards"})
    return ExperimentPatch.model_validate(
        {k: v for k, v in fields.items() if v is not None or k not in NOT_NULLABLE}
    )


def promote(source: Store, target: Store, key: str, actor: str, now: float) -> Experiment:
    """Copy `key` from `source`'s environment into `target`'s as a draft; answers the draft."""
    experiment = source.experiments.get(key)
    body = definition_of(experiment)
    try:
        existing: Experiment | None = target.experiments.get(key)
    except NotFound:
        existing = None
    if existing is not None and existing.status is not Status.DRAFT:
        raise Conflict(
            f"experiment {key!r} exists in {target.environment!r} as {existing.status.value};"
            " only a draft is replaced by a promotion",
            code="already_exists",
        )
    if existing is not None and existing.shards != experiment.shards:
        raise Conflict(
            f"the draft of {key!r} in {target.environment!r} has {existing.shards} shard(s), the"
            f" promoted one {experiment.shards}; a shard count is fixed when an experiment is"
            " created",
            code="already_exists",
        )
    if existing is None:
        draft = operations.create(target, body, actor, now)
    else:
        draft = operations.patch(target, key, _replacing(body), actor, now, False).experiment
    target.experiments.append_history(
        key,
        [
            HistoryEntry(
                at=now,
                actor=actor,
                action="promoted",
                reason=f"promoted from {source.environment}",
                changes={"from": source.environment, "revision": experiment.revision},
            )
        ],
    )
    source.experiments.append_history(
        key,
        [
            HistoryEntry(
                at=now,
                actor=actor,
                action="promote",
                reason=f"promoted to {target.environment} as a draft",
                changes={"to": target.environment, "revision": experiment.revision},
            )
        ],
    )
    return draft
