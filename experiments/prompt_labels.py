"""Prompt labels and their review: pure decisions of (current labels, request, actor, now).

A label (`production`, `staging`, any key that is not all digits) points at one version. Moving
`production` changes what every application outside an experiment renders, so under review it is
proposed first and applied only when a key other than the proposer's approves that very proposal.
An approval is refused when the proposal is gone (replaced by a newer one, or superseded by a
direct move) or when the label has moved since it was proposed: the approver would otherwise
approve something other than what they saw.
"""

from __future__ import annotations

import secrets
from enum import StrEnum

from pydantic import BaseModel, Field, computed_field

from experiments.errors import Conflict, Invalid
from experiments.model import KEY_RE
from experiments.timestamps import as_rfc3339, described

PRODUCTION = "production"
REVIEWED_LABELS = frozenset({PRODUCTION})


class LabelProposal(BaseModel):
    """A label move waiting for a second pair of eyes."""

    id: str
    label: str
    version: int = Field(ge=1)
    previous: int | None = Field(
        default=None, description="the label's version when proposed (None: it had none)"
    )
    proposed_by: str
    proposed_at: float = Field(description=described("proposed_at"))
    reason: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def proposed_at_rfc3339(self) -> str | None:
        """`proposed_at` as an RFC 3339 string in UTC (e.g. 2026-12-01T21:39:08.123Z)."""
        return as_rfc3339(self.proposed_at)


class Move(StrEnum):
    UNCHANGED = "unchanged"
    APPLY = "apply"
    PROPOSE = "propose"


def check_label_name(label: str) -> str:
    """A label is a key that is not all digits: `name@3` must always mean version 3."""
    if not KEY_RE.match(label) or label.isdigit():
        message = f"label {label!r} must match {KEY_RE.pattern} and not be all digits"
        raise Invalid(message, [{"field": "label", "message": message}], code="invalid_label")
    return label


def needs_review(
    label: str, review_required: bool, reviewed: frozenset[str] = REVIEWED_LABELS
) -> bool:
    """Whether moving `label` waits for an approval: `reviewed` are the labels under review
    (the environments whose settings require it; production alone before environments)."""
    return review_required and label in reviewed


def decide_move(
    label: str,
    version: int,
    current: int | None,
    pending: LabelProposal | None,
    review_required: bool,
    reviewed: frozenset[str] = REVIEWED_LABELS,
) -> Move:
    """What a request to point `label` at `version` does.

    Asking for what is already there changes nothing, and neither does asking again for a move
    that already waits for review: re-proposing would replace the proposal and make the
    reviewer's approval of it stale.
    """
    if version == current:
        return Move.UNCHANGED
    if needs_review(label, review_required, reviewed):
        if pending is not None and pending.version == version and pending.previous == current:
            return Move.UNCHANGED
        return Move.PROPOSE
    return Move.APPLY


def new_proposal(
    label: str, version: int, current: int | None, actor: str, now: float, reason: str | None
) -> LabelProposal:
    return LabelProposal(
        id=secrets.token_hex(8),
        label=label,
        version=version,
        previous=current,
        proposed_by=actor,
        proposed_at=now,
        reason=reason,
    )


def find_proposal(pending: list[LabelProposal], change_id: str) -> LabelProposal:
    found = next((p for p in pending if p.id == change_id), None)
    if found is None:
        raise Conflict(
            f"no pending label change {change_id!r} (it may have been replaced or applied)",
            code="stale_approval",
        )
    return found


def check_approval(proposal: LabelProposal, approver: str, current: int | None) -> None:
    """Refuse an approval by the proposer's own key, or of a proposal the label has outrun."""
    if proposal.proposed_by == approver:
        raise Conflict(
            "a change must be approved by a key other than the one that proposed it",
            code="same_approver",
        )
    if proposal.previous != current:
        raise Conflict(
            f"the proposal is stale: label {proposal.label!r} moved to version {current} since it"
            f" was proposed (from {proposal.previous})",
            code="stale_approval",
        )
