"""Four eyes: start, every raise of traffic and the `production` label wait for another key.

The contract's "Review (four eyes)": with ROLLOUT_REQUIRE_REVIEW=1 (or `"review": true`) a change
is proposed, then approved by a key other than the proposer's, naming the change it approves;
rollback and pause never wait; the change and its approval stand in the history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.api.conftest import Api, _key, experiment_body, ok
from tests.conftest import ADMIN_KEY

EXP = "/api/v1/experiments"
PROMPTS = "/api/v1/prompts"
STAGES = {
    "stages": [
        {"traffic": 0.05},
        {"traffic": 0.2},
        {"traffic": 0.5},
    ]
}


@pytest.fixture
def reviewed(make_app: Callable[..., Flask]) -> dict[str, Api]:
    """Clients of an app started with ROLLOUT_REQUIRE_REVIEW=1."""
    app = make_app(require_review=True)
    admin = Api(app.test_client(), ADMIN_KEY)
    return {
        "editor": _key(admin, "editor", "editor-one"),
        "editor2": _key(admin, "editor", "editor-two"),
        "release": _key(admin, "release", "release-one"),
        "release2": _key(admin, "release", "release-two"),
        "sdk": _key(admin, "sdk", "sdk-one"),
    }


def _error(response: Any) -> str:
    code: str = response.get_json()["error"]["code"]
    return code


def _define(editor: Api, **overrides: Any) -> None:
    response = editor.post(EXP, json=experiment_body(**overrides))
    assert response.status_code == 201, response.get_json()


def _running(keys: dict[str, Api], **overrides: Any) -> None:
    _define(keys["editor"], **overrides)
    proposed = keys["release"].post(f"{EXP}/summary-tone/start")
    approved = keys["release2"].post(
        f"{EXP}/summary-tone/approve", json={"change": proposed.get_json()["pending"]["id"]}
    )
    assert approved.status_code == 200, approved.get_json()


def _history(api: Api) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = api.get(f"{EXP}/summary-tone/history").get_json()["history"]
    return entries


# --- experiments ---------------------------------------------------------------------------------


def test_start_waits_for_a_second_key(reviewed: dict[str, Api]) -> None:
    _define(reviewed["editor"])

    proposed = reviewed["release"].post(f"{EXP}/summary-tone/start", json={"reason": "go"})

    assert proposed.status_code == 202
    pending = proposed.get_json()["pending"]
    assert (pending["kind"], pending["proposed_by"]) == ("start", "release-one")
    experiment = reviewed["release"].get(f"{EXP}/summary-tone").get_json()
    assert experiment["status"] == "draft"
    assert [p["id"] for p in experiment["pending"]] == [pending["id"]]


def test_the_proposer_cannot_approve_its_own_change(reviewed: dict[str, Api]) -> None:
    _define(reviewed["editor"])
    change = reviewed["release"].post(f"{EXP}/summary-tone/start").get_json()["pending"]["id"]

    refused = reviewed["release"].post(f"{EXP}/summary-tone/approve", json={"change": change})

    assert refused.status_code == 409
    assert _error(refused) == "same_approver"
    assert reviewed["release"].get(f"{EXP}/summary-tone").get_json()["status"] == "draft"


def test_another_key_approves_and_the_history_shows_both(reviewed: dict[str, Api]) -> None:
    _define(reviewed["editor"])
    change = reviewed["release"].post(f"{EXP}/summary-tone/start").get_json()["pending"]["id"]

    approved = reviewed["editor2"].post(f"{EXP}/summary-tone/approve", json={"change": change})

    assert approved.status_code == 200
    experiment = approved.get_json()["experiment"]
    assert (experiment["status"], experiment["pending"]) == ("running", [])
    actions = [(e["action"], e["actor"]) for e in _history(reviewed["editor"])]
    assert actions == [
        ("create", "editor-one"),
        ("propose", "release-one"),
        ("approve", "editor-two"),
        ("start", "release-one"),
    ]
    assert _history(reviewed["editor"])[2]["changes"]["change"] == change


def test_review_true_on_an_experiment_asks_for_review_without_the_setting(
    release: Api, second_release: Api, editor: Api
) -> None:
    _define(editor, review=True)

    proposed = release.post(f"{EXP}/summary-tone/start")
    approved = second_release.post(
        f"{EXP}/summary-tone/approve", json={"change": proposed.get_json()["pending"]["id"]}
    )

    assert proposed.status_code == 202
    assert approved.get_json()["experiment"]["status"] == "running"


def test_without_review_start_applies_at_once(release: Api, editor: Api) -> None:
    _define(editor)

    started = release.post(f"{EXP}/summary-tone/start")

    assert started.status_code == 200
    assert started.get_json()["experiment"]["status"] == "running"


def test_a_raise_of_traffic_waits_and_a_lowering_does_not(reviewed: dict[str, Api]) -> None:
    _running(reviewed, traffic=0.2)
    release, release2 = reviewed["release"], reviewed["release2"]

    raised = release.patch(f"{EXP}/summary-tone", json={"traffic": 0.6, "reason": "more"})
    assert raised.status_code == 202
    assert release.get(f"{EXP}/summary-tone").get_json()["traffic"] == 0.2

    change = raised.get_json()["pending"]["id"]
    approved = release2.post(f"{EXP}/summary-tone/approve", json={"change": change})
    assert approved.get_json()["experiment"]["traffic"] == 0.6

    lowered = release.patch(f"{EXP}/summary-tone", json={"traffic": 0.1})
    assert lowered.status_code == 200
    assert lowered.get_json()["traffic"] == 0.1


def test_an_advance_of_the_rollout_waits_for_review(reviewed: dict[str, Api]) -> None:
    _running(reviewed, rollout=STAGES)
    release, editor2 = reviewed["release"], reviewed["editor2"]
    assert release.get(f"{EXP}/summary-tone").get_json()["traffic"] == 0.05

    proposed = release.post(f"{EXP}/summary-tone/advance")
    assert proposed.status_code == 202
    assert release.get(f"{EXP}/summary-tone").get_json()["stage"] == 0

    again = release.post(f"{EXP}/summary-tone/advance")
    assert again.status_code == 202
    assert again.get_json()["pending"]["id"] == proposed.get_json()["pending"]["id"]

    change = proposed.get_json()["pending"]["id"]
    approved = editor2.post(f"{EXP}/summary-tone/approve", json={"change": change})
    assert (
        approved.get_json()["experiment"]["stage"],
        approved.get_json()["experiment"]["traffic"],
    ) == (1, 0.2)


def test_approving_a_replaced_proposal_is_refused_as_stale(reviewed: dict[str, Api]) -> None:
    _running(reviewed, traffic=0.1)
    release, release2 = reviewed["release"], reviewed["release2"]
    first = release.patch(f"{EXP}/summary-tone", json={"traffic": 0.3}).get_json()["pending"]["id"]
    second = release.patch(f"{EXP}/summary-tone", json={"traffic": 0.9}).get_json()["pending"]["id"]

    stale = release2.post(f"{EXP}/summary-tone/approve", json={"change": first})

    assert stale.status_code == 409
    assert _error(stale) == "stale_approval"
    assert release.get(f"{EXP}/summary-tone").get_json()["traffic"] == 0.1
    fresh = release2.post(f"{EXP}/summary-tone/approve", json={"change": second})
    assert fresh.get_json()["experiment"]["traffic"] == 0.9


def test_an_approval_names_its_change_and_cannot_approve_another(
    reviewed: dict[str, Api],
) -> None:
    _running(reviewed, rollout=STAGES)
    release, release2 = reviewed["release"], reviewed["release2"]
    ok(release.post(f"{EXP}/summary-tone/advance"))

    unknown = release2.post(f"{EXP}/summary-tone/approve", json={"change": "not-a-change"})
    missing = release2.post(f"{EXP}/summary-tone/approve", json={})

    assert (unknown.status_code, _error(unknown)) == (409, "stale_approval")
    assert missing.status_code == 422
    assert release.get(f"{EXP}/summary-tone").get_json()["stage"] == 0


def test_a_proposal_made_stale_by_a_rollback_is_refused(reviewed: dict[str, Api]) -> None:
    _running(reviewed, rollout=STAGES)
    release, release2 = reviewed["release"], reviewed["release2"]
    change = release.post(f"{EXP}/summary-tone/advance").get_json()["pending"]["id"]

    rolled_back = release.post(f"{EXP}/summary-tone/rollback", json={"reason": "latency"})
    stale = release2.post(f"{EXP}/summary-tone/approve", json={"change": change})

    assert rolled_back.status_code == 200
    assert rolled_back.get_json()["experiment"]["status"] == "rolled_back"
    assert (stale.status_code, _error(stale)) == (409, "stale_approval")


def test_pause_and_rollback_never_wait_for_review(reviewed: dict[str, Api]) -> None:
    _running(reviewed)
    release = reviewed["release"]

    paused = release.post(f"{EXP}/summary-tone/pause")
    assert (paused.status_code, paused.get_json()["experiment"]["status"]) == (200, "paused")
    rolled_back = release.post(f"{EXP}/summary-tone/rollback", json={"reason": "bad"})
    assert rolled_back.status_code == 200
    assert rolled_back.get_json()["experiment"]["status"] == "rolled_back"


def test_review_cannot_be_switched_off_once_started(
    release: Api, second_release: Api, editor: Api
) -> None:
    _define(editor, review=True, traffic=0.1)
    change = release.post(f"{EXP}/summary-tone/start").get_json()["pending"]["id"]
    ok(second_release.post(f"{EXP}/summary-tone/approve", json={"change": change}))

    refused = editor.patch(f"{EXP}/summary-tone", json={"review": False})
    raised = release.patch(f"{EXP}/summary-tone", json={"traffic": 1.0})

    assert (refused.status_code, _error(refused)) == (409, "review_locked")
    assert raised.status_code == 202


def test_only_release_editor_or_admin_keys_approve(reviewed: dict[str, Api]) -> None:
    _define(reviewed["editor"])
    change = reviewed["release"].post(f"{EXP}/summary-tone/start").get_json()["pending"]["id"]

    refused = reviewed["sdk"].post(f"{EXP}/summary-tone/approve", json={"change": change})

    assert refused.status_code == 403


# --- the production label ------------------------------------------------------------------------


def _two_versions(editor: Api) -> None:
    for template in ["one {{ x }}", "two {{ x }}", "three {{ x }}"]:
        created = editor.post(f"{PROMPTS}/summarize/versions", json={"template": template})
        assert created.status_code == 201


def test_moving_production_waits_for_a_second_key(reviewed: dict[str, Api]) -> None:
    editor, editor2 = reviewed["editor"], reviewed["editor2"]
    _two_versions(editor)

    proposed = editor.put(f"{PROMPTS}/summarize/labels/production", json={"version": 2})

    assert proposed.status_code == 202
    body = proposed.get_json()
    assert (body["version"], body["changed"]) == (None, False)
    assert (body["pending"]["version"], body["pending"]["proposed_by"]) == (2, "editor-one")
    detail = editor.get(f"{PROMPTS}/summarize").get_json()
    assert detail["labels"] == {}
    assert [p["id"] for p in detail["pending"]] == [body["pending"]["id"]]
    assert reviewed["sdk"].get(f"{PROMPTS}/summarize/resolve").status_code == 404

    approved = editor2.post(f"{PROMPTS}/summarize/approve", json={"change": body["pending"]["id"]})
    assert approved.status_code == 200
    assert (approved.get_json()["version"], approved.get_json()["changed"]) == (2, True)
    assert reviewed["sdk"].get(f"{PROMPTS}/summarize/resolve").get_json()["version"] == 2
    assert editor.get(f"{PROMPTS}/summarize").get_json()["pending"] == []


def test_the_proposer_cannot_approve_its_own_label_move(reviewed: dict[str, Api]) -> None:
    editor = reviewed["editor"]
    _two_versions(editor)
    proposed = editor.put(f"{PROMPTS}/summarize/labels/production", json={"version": 2})

    refused = editor.post(
        f"{PROMPTS}/summarize/approve", json={"change": proposed.get_json()["pending"]["id"]}
    )

    assert (refused.status_code, _error(refused)) == (409, "same_approver")
    assert editor.get(f"{PROMPTS}/summarize").get_json()["labels"] == {}


def test_a_release_key_may_approve_a_label_move(reviewed: dict[str, Api]) -> None:
    _two_versions(reviewed["editor"])
    change = (
        reviewed["editor"]
        .put(f"{PROMPTS}/summarize/labels/production", json={"version": 1})
        .get_json()["pending"]["id"]
    )

    approved = reviewed["release"].post(f"{PROMPTS}/summarize/approve", json={"change": change})
    refused = reviewed["sdk"].post(f"{PROMPTS}/summarize/approve", json={"change": change})

    assert approved.status_code == 200
    assert refused.status_code == 403


def test_a_replaced_label_proposal_is_stale(reviewed: dict[str, Api]) -> None:
    editor, editor2 = reviewed["editor"], reviewed["editor2"]
    _two_versions(editor)
    first = editor.put(f"{PROMPTS}/summarize/labels/production", json={"version": 2})
    second = editor.put(f"{PROMPTS}/summarize/labels/production", json={"version": 3})

    stale = editor2.post(
        f"{PROMPTS}/summarize/approve", json={"change": first.get_json()["pending"]["id"]}
    )
    fresh = editor2.post(
        f"{PROMPTS}/summarize/approve", json={"change": second.get_json()["pending"]["id"]}
    )

    assert (stale.status_code, _error(stale)) == (409, "stale_approval")
    assert fresh.get_json()["version"] == 3


def test_a_label_proposal_outrun_by_a_conclusion_is_stale(reviewed: dict[str, Api]) -> None:
    editor, editor2, release = reviewed["editor"], reviewed["editor2"], reviewed["release"]
    _two_versions(editor)
    variants = [
        {"key": "control", "weight": 0.5, "prompt": "summarize@1"},
        {"key": "friendly", "weight": 0.5, "prompt": "summarize@2"},
    ]
    _running(reviewed, variants=variants)
    change = editor.put(f"{PROMPTS}/summarize/labels/production", json={"version": 3}).get_json()[
        "pending"
    ]["id"]

    ok(release.post(f"{EXP}/summary-tone/conclude", json={"winner": "friendly"}))
    stale = editor2.post(f"{PROMPTS}/summarize/approve", json={"change": change})

    assert (stale.status_code, _error(stale)) == (409, "stale_approval")
    assert editor.get(f"{PROMPTS}/summarize").get_json()["labels"] == {"production": 2}


def test_asking_again_for_a_pending_move_keeps_the_same_proposal(
    reviewed: dict[str, Api],
) -> None:
    editor = reviewed["editor"]
    _two_versions(editor)
    first = editor.put(f"{PROMPTS}/summarize/labels/production", json={"version": 2})

    again = editor.put(f"{PROMPTS}/summarize/labels/production", json={"version": 2})

    assert again.status_code == 202
    assert again.get_json()["pending"]["id"] == first.get_json()["pending"]["id"]


def test_other_labels_move_at_once_under_review(reviewed: dict[str, Api]) -> None:
    editor = reviewed["editor"]
    _two_versions(editor)

    moved = editor.put(f"{PROMPTS}/summarize/labels/canary", json={"version": 3})

    assert (moved.status_code, moved.get_json()["version"]) == (200, 3)


def test_the_label_move_and_its_approval_stand_in_the_prompt_history(
    reviewed: dict[str, Api],
) -> None:
    editor, release2 = reviewed["editor"], reviewed["release2"]
    _two_versions(editor)
    change = editor.put(
        f"{PROMPTS}/summarize/labels/production", json={"version": 2, "reason": "warmer"}
    ).get_json()["pending"]["id"]
    ok(release2.post(f"{PROMPTS}/summarize/approve", json={"change": change}))

    history = editor.get(f"{PROMPTS}/summarize/history").get_json()["history"][3:]

    assert [(e["action"], e["actor"]) for e in history] == [
        ("propose_label", "editor-one"),
        ("approve_label", "release-two"),
        ("label", "editor-one"),
    ]
    assert {e["change"] for e in history} == {change}
    assert (history[2]["approved_by"], history[2]["reason"]) == ("release-two", "warmer")


def test_an_approved_label_move_reaches_the_sdk_config(reviewed: dict[str, Api]) -> None:
    editor, editor2, sdk = reviewed["editor"], reviewed["editor2"], reviewed["sdk"]
    _two_versions(editor)
    change = editor.put(f"{PROMPTS}/summarize/labels/production", json={"version": 2}).get_json()[
        "pending"
    ]["id"]
    assert "summarize" not in sdk.get("/api/v1/sdk/config").get_json()["prompts"]

    ok(editor2.post(f"{PROMPTS}/summarize/approve", json={"change": change}))

    assert sdk.get("/api/v1/sdk/config").get_json()["prompts"]["summarize"]["labels"] == {
        "production": 2
    }
