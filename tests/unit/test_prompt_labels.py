"""Label rules and their review, as pure decisions."""

from __future__ import annotations

import pytest

from experiments.errors import Conflict, Invalid
from experiments.prompt_labels import (
    Move,
    check_approval,
    check_label_name,
    decide_move,
    find_proposal,
    new_proposal,
)

NOW = 1_750_000_000.0


@pytest.mark.parametrize("label", ["production", "staging", "canary-2", "v1", "a"])
def test_labels_are_keys(label: str) -> None:
    assert check_label_name(label) == label


@pytest.mark.parametrize("label", ["3", "007", "Prod", "-x", "", "a" * 65, "a b"])
def test_all_digit_or_malformed_labels_are_refused(label: str) -> None:
    with pytest.raises(Invalid):
        check_label_name(label)


def test_only_production_under_review_is_proposed() -> None:
    assert decide_move("production", 2, 1, None, review_required=True) is Move.PROPOSE
    assert decide_move("production", 2, 1, None, review_required=False) is Move.APPLY
    assert decide_move("staging", 2, 1, None, review_required=True) is Move.APPLY


def test_asking_for_where_a_label_already_points_changes_nothing() -> None:
    assert decide_move("production", 1, 1, None, review_required=True) is Move.UNCHANGED


def test_the_same_pending_move_is_not_proposed_again_but_an_outrun_one_is() -> None:
    waiting = new_proposal("production", 2, 1, "alice", NOW, None)

    assert decide_move("production", 2, 1, waiting, review_required=True) is Move.UNCHANGED
    assert decide_move("production", 3, 1, waiting, review_required=True) is Move.PROPOSE
    assert decide_move("production", 2, 4, waiting, review_required=True) is Move.PROPOSE


def test_an_approval_needs_another_key_and_an_unmoved_label() -> None:
    proposal = new_proposal("production", 2, 1, "alice", NOW, None)

    check_approval(proposal, "bob", 1)
    with pytest.raises(Conflict) as same:
        check_approval(proposal, "alice", 1)
    with pytest.raises(Conflict) as moved:
        check_approval(proposal, "bob", 3)

    assert (same.value.code, moved.value.code) == ("same_approver", "stale_approval")


def test_an_approval_finds_its_proposal_by_id_only() -> None:
    proposals = [new_proposal(label, 1, None, "alice", NOW, None) for label in ["a", "b"]]

    assert find_proposal(proposals, proposals[1].id) is proposals[1]
    with pytest.raises(Conflict):
        find_proposal(proposals, "nope")
