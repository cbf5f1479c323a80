"""Experiment operations: the imperative shell around the pure lifecycle and review rules.

Each reads what it needs, asks a pure function what to do, and writes the answer with
compare-and-set; HTTP handlers, the CLI and the controller all come through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from experiments import archiving, lifecycle
from experiments.errors import Conflict, DomainError, Invalid
from experiments.layer_ranges import allocate_layer_range
from experiments.model import (
    FINAL_STATUSES,
    Experiment,
    ExperimentCreate,
    ExperimentPatch,
    HistoryEntry,
    PendingChange,
    ResolvedPrompt,
    Status,
)
from experiments.store import Store
from rollout.operations.archiving import archived_prompts_of


@dataclass(frozen=True)
class Outcome:
    """An operation's result: the experiment now, and the change waiting for review, if any."""

    experiment: Experiment
    pending: PendingChange | None = None


def resolve_prompts(
    store: Store, body: ExperimentCreate | ExperimentPatch
) -> dict[str, ResolvedPrompt]:
    """Pin each variant's `name@version` or `name@label` to a version number, or 422."""
    resolved: dict[str, ResolvedPrompt] = {}
    details = []
    for index, variant in enumerate(body.variants or []):
        if variant.prompt is None:
            continue
        name, _, ref = variant.prompt.partition("@")
        version = store.prompts.resolve(name, ref)
        if version is None:
            details.append(
                {
                    "field": f"variants.{index}.prompt",
                    "message": f"unknown prompt reference {variant.prompt!r}",
                }
            )
            continue
        resolved[variant.key] = ResolvedPrompt(name=name, version=version)
    if details:
        raise Invalid("unknown prompt reference", details, code="unknown_prompt")
    archived = store.prompts.archived(sorted({p.name for p in resolved.values()}))
    details = [
        {"field": f"variants.{index}.prompt", "message": f"prompt {pinned.name!r} is archived"}
        for index, variant in enumerate(body.variants or [])
        if (pinned := resolved.get(variant.key)) is not None and pinned.name in archived
    ]
    if details:
        raise Invalid("archived prompt (unarchive it first)", details, code="archived_prompt")
    return resolved


def create(store: Store, body: ExperimentCreate, actor: str, now: float) -> Experiment:
    prompts = resolve_prompts(store, body)
    experiment = Experiment.model_validate(
        body.model_dump()
        | {
            "status": Status.DRAFT,
            "seed": body.key,
            "created_at": now,
            "updated_at": now,
            "created_by": actor,
            "prompts": prompts,
        }
    )
    entry = HistoryEntry(
        at=now,
        actor=actor,
        action="create",
        changes=body.model_dump(mode="json", exclude_none=True),
    )
    if experiment.layer is not None:
        experiment = experiment.model_copy(
            update={"layer_range": _claim_layer(store, experiment, experiment.layer_share)}
        )
    saved = store.experiments.create(experiment, entry)
    for variant, pinned in prompts.items():
        store.prompts.pin(pinned.name, pinned.version, f"{store.qualified(saved.key)}:{variant}")
    return saved


def _claim_layer(store: Store, experiment: Experiment, share: float | None) -> tuple[float, float]:
    assert experiment.layer is not None
    return store.layers.claim(experiment.layer, experiment.key, share, allocate_layer_range)


def patch(
    store: Store,
    key: str,
    body: ExperimentPatch,
    actor: str,
    now: float,
    review_required: bool,
    expected_revision: int | None = None,
) -> Outcome:
    """PATCH; a raise of traffic under review becomes a proposal, the rest applies at once.

    With `expected_revision` (If-Match) the change applies only to that revision, checked in the
    same compare-and-set that writes it, so of several writers holding one ETag exactly one wins.
    """
    prompts = resolve_prompts(store, body) if body.variants is not None else None
    proposal: list[PendingChange] = []
    move = _LayerMove.claim(store, key, body, actor, now)

    def change(current: Experiment) -> lifecycle.Result:
        proposal.clear()
        if expected_revision is not None and current.revision != expected_revision:
            raise Conflict(
                f"experiment {key!r} changed (revision {current.revision}); reload and retry",
                code="stale_revision",
            )
        effective = body
        if (
            body.traffic is not None
            and body.traffic > current.traffic
            and current.status in {Status.RUNNING, Status.PAUSED}
            and lifecycle.needs_review(current, review_required)
        ):
            pending = lifecycle.new_pending(
                "traffic", now, actor, traffic=body.traffic, reason=body.reason
            )
            proposal.append(pending)
            rest = body.model_dump(exclude_unset=True)
            rest.pop("traffic")
            effective = ExperimentPatch.model_validate(rest)
            current, entries = lifecycle.propose(current, pending, now, actor)
        else:
            entries = []
        updated, more = lifecycle.patch(current, effective, now, actor)
        if prompts is not None:
            updated = updated.model_copy(update={"prompts": prompts})
        if move is not None:
            updated = updated.model_copy(update={"layer_range": move.claimed})
        return updated, entries + more

    try:
        experiment = store.experiments.update(key, change)
    except DomainError:
        if move is not None:
            move.undo()
        raise
    if move is not None:
        move.release_old()
    return Outcome(experiment, proposal[0] if proposal else None)


@dataclass(frozen=True)
class _LayerMove:
    """A draft's new `layer` or `layer_share`: the new range is claimed before the experiment is
    written (so a full layer refuses the PATCH whole), the old one released only after."""

    store: Store
    before: Experiment
    layer: str | None
    claimed: tuple[float, float] | None

    @classmethod
    def claim(
        cls, store: Store, key: str, body: ExperimentPatch, actor: str, now: float
    ) -> _LayerMove | None:
        fields = body.model_fields_set
        if not {"layer", "layer_share"} & fields:
            return None
        before = store.experiments.get(key)
        lifecycle.patch(before, body, now, actor)  # refuses (not a draft, invalid) before claiming
        layer = body.layer if "layer" in fields else before.layer
        share = body.layer_share if "layer_share" in fields else before.layer_share
        claimed = (
            None
            if layer is None
            else store.layers.claim(layer, key, share, allocate_layer_range, replace=True)
        )
        return cls(store, before, layer, claimed)

    def undo(self) -> None:
        """The write failed: give back what was claimed, restore what was replaced."""
        key, old = self.before.key, self.before
        if self.layer is not None and self.layer != old.layer:
            self.store.layers.release(self.layer, key)
        elif self.layer is not None and old.layer_range is not None:
            self.store.layers.hold(self.layer, key, old.layer_range)

    def release_old(self) -> None:
        if self.before.layer is not None and self.before.layer != self.layer:
            self.store.layers.release(self.before.layer, self.before.key)


def start(
    store: Store, key: str, actor: str, now: float, review_required: bool, reason: str | None = None
) -> Outcome:
    proposal: list[PendingChange] = []
    archived = archived_prompts_of(store, store.experiments.get(key))

    def change(current: Experiment) -> lifecycle.Result:
        proposal.clear()
        archiving.check_prompts_not_archived(current, archived, "start")
        if lifecycle.needs_review(current, review_required):
            lifecycle.start(current, now, actor)  # refuses a transition the state does not allow
            pending = lifecycle.new_pending("start", now, actor, reason=reason)
            proposal.append(pending)
            return lifecycle.propose(current, pending, now, actor)
        return lifecycle.start(current, now, actor, reason)

    experiment = store.experiments.update(key, change)
    return Outcome(experiment, proposal[0] if proposal else None)


def advance(
    store: Store,
    key: str,
    actor: str,
    now: float,
    review_required: bool,
    reason: str | None = None,
    figures: dict[str, Any] | None = None,
) -> Outcome:
    proposal: list[PendingChange] = []

    def change(current: Experiment) -> lifecycle.Result:
        proposal.clear()
        updated, entries, pending = lifecycle.advance_or_propose(
            current, now, actor, review_required, reason, figures
        )
        if pending is not None:
            proposal.append(pending)
        return updated, entries

    experiment = store.experiments.update(key, change)
    return Outcome(experiment, proposal[0] if proposal else None)


def pause(
    store: Store,
    key: str,
    actor: str,
    now: float,
    reason: str | None = None,
    figures: dict[str, Any] | None = None,
) -> Outcome:
    # Salvaged: an experiment whose stored document cannot be read can still be stopped.
    return Outcome(
        store.experiments.update(
            key, lambda e: lifecycle.pause(e, now, actor, reason, figures), salvage=True
        )
    )


def resume(store: Store, key: str, actor: str, now: float, reason: str | None = None) -> Outcome:
    return Outcome(store.experiments.update(key, lambda e: lifecycle.resume(e, now, actor, reason)))


def rollback(
    store: Store,
    key: str,
    actor: str,
    now: float,
    reason: str | None,
    figures: dict[str, Any] | None = None,
) -> Outcome:
    experiment = store.experiments.update(
        key, lambda e: lifecycle.rollback(e, now, actor, reason, figures), salvage=True
    )
    _release_layer(store, experiment)
    return Outcome(experiment)


def conclude(
    store: Store,
    key: str,
    actor: str,
    now: float,
    winner: str,
    reason: str | None = None,
    figures: dict[str, Any] | None = None,
) -> Outcome:
    experiment = store.experiments.update(
        key, lambda e: lifecycle.conclude(e, now, actor, winner, reason, figures)
    )
    _release_layer(store, experiment)
    _promote_winner_prompt(store, experiment, actor, now)
    return Outcome(experiment)


def settle(store: Store, experiment: Experiment, actor: str, now: float) -> None:
    """What follows a rollback or conclusion written by another path (the controller's fenced
    apply, rollout/controller/runner.py): free the layer range, promote the winner's prompt.
    Safe to repeat after a crash (a repeat only writes the label and its history entry again)."""
    _release_layer(store, experiment)
    _promote_winner_prompt(store, experiment, actor, now)


def _release_layer(store: Store, experiment: Experiment) -> None:
    if experiment.layer is not None and experiment.status in FINAL_STATUSES:
        store.layers.release(experiment.layer, experiment.key)


def _promote_winner_prompt(store: Store, experiment: Experiment, actor: str, now: float) -> None:
    """Concluding moves each tested prompt's label of the experiment's environment (`production`
    in production) to the winner's version: that environment's live version."""
    label = store.environment
    if experiment.winner is None:
        return
    pinned = experiment.prompts.get(experiment.winner)
    if pinned is None:
        return
    reason = f"winner of experiment {experiment.key!r}"
    store.prompts.set_label(
        pinned.name,
        label,
        pinned.version,
        {
            "at": now,
            "actor": actor,
            "action": "label",
            "label": label,
            "version": pinned.version,
            "reason": reason,
        },
    )
    store.experiments.append_history(
        experiment.key,
        [
            HistoryEntry(
                at=now,
                actor=actor,
                action="label",
                reason=reason,
                changes={"prompt": pinned.name, "label": label, "version": pinned.version},
            )
        ],
    )
    store.announce_change()


def approve(store: Store, key: str, change_id: str, actor: str, now: float) -> Outcome:
    """Apply a pending change approved by a key other than its proposer's."""
    archived = archived_prompts_of(store, store.experiments.get(key))

    def change(current: Experiment) -> lifecycle.Result:
        pending = lifecycle.take_pending(current, change_id, actor)
        base = lifecycle.without_pending(current, change_id)
        approval = HistoryEntry(
            at=now,
            actor=actor,
            action="approve",
            reason=pending.reason,
            changes={
                "change": pending.id,
                "kind": pending.kind,
                "proposed_by": pending.proposed_by,
            },
        )
        if pending.kind == "start":
            archiving.check_prompts_not_archived(base, archived, "start")
            updated, entries = lifecycle.start(base, now, pending.proposed_by, pending.reason)
        elif pending.kind == "advance":
            if base.stage is None or pending.stage != base.stage + 1:
                raise Conflict(
                    "the proposal is stale: the experiment moved to another stage",
                    code="stale_approval",
                )
            updated, entries = lifecycle.advance(base, now, pending.proposed_by, pending.reason)
        else:
            assert pending.traffic is not None
            updated, entries = lifecycle.patch(
                base,
                ExperimentPatch(traffic=pending.traffic, reason=pending.reason),
                now,
                pending.proposed_by,
            )
        return updated, [approval, *entries]

    return Outcome(store.experiments.update(key, change))
