"""Prompt operations: the imperative shell around experiments/prompts/ and prompt_labels.py.

Each reads what it needs, asks a pure function what to do, and writes the answer atomically;
the HTTP handlers come through here (and `rollout apply` through the HTTP API).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from experiments import prompt_labels
from experiments.errors import Invalid, NotFound
from experiments.prompt_labels import LabelProposal, Move
from experiments.prompts.prompt_tests import check_version
from experiments.prompts.sandbox import declared_variables, messages_variables
from experiments.prompts.version import PromptVersionCreate, check_prompt_name
from experiments.store import Store
from rollout_sdk.kernel.portability import is_portable


@dataclass(frozen=True)
class LabelOutcome:
    """Where a label points after a request, and the proposal waiting for review, if any."""

    prompt: str
    label: str
    version: int | None
    previous: int | None
    changed: bool
    pending: LabelProposal | None = None


def create_version(
    store: Store, name: str, body: PromptVersionCreate, actor: str, now: float
) -> tuple[dict[str, Any], bool]:
    """Validate (compile, run the version's tests) and append; (document, created).

    The same content as the latest version creates nothing and answers that version. Whether both
    SDKs render the template alike (`portable`) is decided here, once: versions are immutable.
    """
    check_prompt_name(name)
    check_version(body)
    sha256 = body.sha256()
    messages = body.chat_messages()
    document = {
        "name": name,
        "sha256": sha256,
        "template": body.template,
        "messages": messages,
        "model": body.model,
        "params": body.params,
        "message": body.message,
        "variables": (
            declared_variables(body.template or "")
            if messages is None
            else messages_variables(messages)
        ),
        "portable": all(map(is_portable, body.templates())),
        "tests": [test.model_dump(mode="json") for test in body.tests],
        "author": actor,
        "created_at": now,
    }
    entry = {"at": now, "actor": actor, "action": "version", "sha256": sha256}
    if body.message is not None:
        entry["message"] = body.message
    version, created = store.prompts.add_version(name, sha256, document, entry)
    return store.prompts.get_version(name, version), created


def move_label(
    store: Store,
    name: str,
    label: str,
    version: int,
    actor: str,
    now: float,
    review_required: bool,
    reason: str | None = None,
    reviewed: frozenset[str] = prompt_labels.REVIEWED_LABELS,
) -> LabelOutcome:
    """Point `label` at `version`, or propose it when the label is under review (`reviewed`:
    the labels of the environments that require review)."""
    prompt_labels.check_label_name(label)
    count = store.prompts.version_count(name)
    if count == 0:
        raise NotFound(f"prompt {name!r} not found")
    if version > count:
        message = f"prompt {name!r} has no version {version} (it has {count})"
        raise Invalid(message, [{"field": "version", "message": message}], code="unknown_version")
    current = store.prompts.labels(name).get(label)
    pending = next((p for p in store.prompts.pending(name) if p.label == label), None)
    move = prompt_labels.decide_move(label, version, current, pending, review_required, reviewed)
    if move is Move.UNCHANGED:
        return LabelOutcome(name, label, current, current, False, pending)
    entry: dict[str, Any] = {"at": now, "actor": actor, "label": label, "version": version}
    entry |= {"previous": current, "reason": reason}
    if move is Move.PROPOSE:
        proposal = prompt_labels.new_proposal(label, version, current, actor, now, reason)
        proposed = entry | {"action": "propose_label", "change": proposal.id}
        store.prompts.propose_label(name, proposal, proposed)
        return LabelOutcome(name, label, current, current, False, proposal)
    store.prompts.set_label(name, label, version, entry | {"action": "label"})
    store.announce_change()
    return LabelOutcome(name, label, version, current, True)


def approve_label(store: Store, name: str, change_id: str, actor: str, now: float) -> LabelOutcome:
    """Apply a pending label move approved by a key other than its proposer's."""
    store.prompts.require(name)
    proposal = prompt_labels.find_proposal(store.prompts.pending(name), change_id)
    current = store.prompts.labels(name).get(proposal.label)
    prompt_labels.check_approval(proposal, actor, current)
    base = {"at": now, "label": proposal.label, "version": proposal.version, "change": proposal.id}
    entries = [
        base | {"actor": actor, "action": "approve_label", "proposed_by": proposal.proposed_by},
        base
        | {
            "actor": proposal.proposed_by,
            "action": "label",
            "previous": current,
            "reason": proposal.reason,
            "approved_by": actor,
        },
    ]
    store.prompts.approve_label(name, proposal, entries)
    store.announce_change()
    return LabelOutcome(name, proposal.label, proposal.version, current, True)


def resolve_label(store: Store, name: str, label: str) -> dict[str, Any]:
    """The version an application should use outside any experiment; an archived prompt has
    none, as it has none in the SDK configuration."""
    if store.prompts.archived([name]):
        raise NotFound(f"prompt {name!r} is archived")
    version = store.prompts.labels(name).get(label)
    if version is None:
        store.prompts.require(name)
        raise NotFound(f"prompt {name!r} has no label {label!r}")
    return store.prompts.get_version(name, version)
