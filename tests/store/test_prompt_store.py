"""The prompt store against the real redis-server: append-only versions, labels, proposals."""

from __future__ import annotations

from typing import Any

import pytest

from experiments.errors import Conflict, NotFound
from experiments.prompt_labels import new_proposal
from experiments.store import Store, keys

NOW = 1_750_000_000.0


def add(store: Store, name: str, sha: str) -> tuple[int, bool]:
    document = {"name": name, "sha256": sha, "template": sha, "params": {}, "tests": []}
    return store.prompts.add_version(name, sha, document, {"at": NOW, "action": "version"})


def entry(**fields: Any) -> dict[str, Any]:
    return {"at": NOW, "actor": "a", **fields}


def test_versions_only_grow_and_equal_latest_content_is_not_repeated(store: Store) -> None:
    assert add(store, "p", "a") == (1, True)
    assert add(store, "p", "a") == (1, False)
    assert add(store, "p", "b") == (2, True)
    assert add(store, "p", "a") == (3, True)

    assert [v["sha256"] for v in store.prompts.versions("p")] == ["a", "b", "a"]
    assert store.prompts.get_version("p", 2)["version"] == 2
    assert store.prompts.get_version("p", 3)["tests"] == []  # an empty list stays a list
    with pytest.raises(NotFound):
        store.prompts.get_version("p", 4)
    with pytest.raises(NotFound):
        store.prompts.get_version("p", 2**70)


def test_summaries_give_count_latest_and_labels(store: Store) -> None:
    add(store, "p", "a")
    add(store, "p", "b")
    store.prompts.set_label("p", "production", 1, entry(action="label"))

    (summary,) = store.prompts.summaries(["p", "absent"])

    assert (summary["versions"], summary["latest"]["sha256"]) == (2, "b")
    assert summary["labels"] == {"production": 1}


def test_an_approval_applies_the_proposal_and_its_history_at_once(store: Store) -> None:
    add(store, "p", "a")
    add(store, "p", "b")
    proposal = new_proposal("production", 2, None, "alice", NOW, "why")
    store.prompts.propose_label("p", proposal, entry(action="propose_label"))

    store.prompts.approve_label("p", proposal, [entry(action="approve_label")])

    assert store.prompts.labels("p") == {"production": 2}
    assert store.prompts.pending("p") == []
    actions = [e["action"] for e in store.prompts.history("p")]
    assert actions[-2:] == ["propose_label", "approve_label"]


def test_an_approval_raced_by_a_new_proposal_is_refused(store: Store) -> None:
    add(store, "p", "a")
    first = new_proposal("production", 1, None, "alice", NOW, None)
    second = new_proposal("production", 1, None, "alice", NOW, None)
    store.prompts.propose_label("p", first, entry(action="propose_label"))
    store.prompts.propose_label("p", second, entry(action="propose_label"))

    with pytest.raises(Conflict) as refused:
        store.prompts.approve_label("p", first, [entry(action="approve_label")])

    assert refused.value.code == "stale_approval"
    assert store.prompts.labels("p") == {}


def test_an_approval_raced_by_a_label_move_is_refused(store: Store) -> None:
    add(store, "p", "a")
    add(store, "p", "b")
    proposal = new_proposal("production", 2, None, "alice", NOW, None)
    store.prompts.propose_label("p", proposal, entry(action="propose_label"))
    # The label moves between the approver's read and its write, without touching the proposal.
    store.redis.hset(keys.prompt_labels("p"), "production", 1)

    with pytest.raises(Conflict):
        store.prompts.approve_label("p", proposal, [entry(action="approve_label")])

    assert store.prompts.labels("p") == {"production": 1}
    assert [p.id for p in store.prompts.pending("p")] == [proposal.id]


def test_a_direct_move_supersedes_a_proposal_for_the_same_label(store: Store) -> None:
    add(store, "p", "a")
    store.prompts.propose_label(
        "p", new_proposal("production", 1, None, "alice", NOW, None), entry(action="propose_label")
    )
    store.prompts.propose_label(
        "p", new_proposal("canary", 1, None, "alice", NOW, None), entry(action="propose_label")
    )

    store.prompts.set_label("p", "production", 1, entry(action="label"))

    assert [p.label for p in store.prompts.pending("p")] == ["canary"]


def test_resolve_takes_a_number_or_a_label(store: Store) -> None:
    add(store, "p", "a")
    store.prompts.set_label("p", "staging", 1, entry(action="label"))

    assert store.prompts.resolve("p", "1") == 1
    assert store.prompts.resolve("p", "2") is None
    assert store.prompts.resolve("p", "staging") == 1
    assert store.prompts.resolve("p", "production") is None
    with pytest.raises(NotFound):
        store.prompts.require("absent")
