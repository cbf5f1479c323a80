"""POST /experiments/{key}/evaluate, GET /experiments/{key}/timeline and the webhook log routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask import Flask

from experiments.store.exposures import ExposureWrite
from rollout.controller.webhooks import derived_secret
from tests.api.conftest import Api, Clock, experiment_body, ok

EXP = "summary-tone"
PLAN = {
    "stages": [
        {"traffic": 0.5, "min_duration_s": 3600, "min_users_per_variant": 100},
        {"traffic": 1.0, "min_duration_s": 3600, "min_users_per_variant": 200},
    ]
}


def start(editor: Api, release: Api, **overrides: Any) -> None:
    body = experiment_body(EXP, **({"rollout": PLAN} | overrides))
    assert editor.post("/api/v1/experiments", json=body).status_code == 201
    assert release.post(f"/api/v1/experiments/{EXP}/start", json={}).status_code == 200


def evaluate(release: Api) -> dict[str, Any]:
    response = release.post(f"/api/v1/experiments/{EXP}/evaluate")
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def expose(app: Flask, per_variant: int, now: float) -> None:
    """Exposures written straight to the store: a split the hash alone would not give."""
    store = app.extensions["rollout"].store
    writes = [ExposureWrite(EXP, f"c{i}", 0) for i in range(per_variant)]
    writes += [ExposureWrite(EXP, f"t{i}", 1) for i in range(per_variant)]
    store.exposures.record(writes, now)


def history(reader: Api) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = reader.get(
        f"/api/v1/experiments/{EXP}/history?limit=1000"
    ).get_json()["history"]
    return entries


# -- evaluate ------------------------------------------------------------------------------------


def test_evaluate_is_for_release_managers(editor: Api, release: Api, sdk: Api, client: Any) -> None:
    start(editor, release)
    assert editor.post(f"/api/v1/experiments/{EXP}/evaluate").status_code == 403
    assert sdk.post(f"/api/v1/experiments/{EXP}/evaluate").status_code == 403
    assert client.post(f"/api/v1/experiments/{EXP}/evaluate").status_code == 401


def test_evaluate_an_unknown_experiment_is_404(release: Api) -> None:
    response = release.post("/api/v1/experiments/nope/evaluate")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_evaluate_a_draft_holds(editor: Api, release: Api) -> None:
    assert editor.post("/api/v1/experiments", json=experiment_body(EXP)).status_code == 201
    answer = evaluate(release)
    assert answer["action"] == "hold"
    assert answer["codes"] == ["not_running"]


def test_evaluate_a_young_stage_holds_and_says_why(editor: Api, release: Api, clock: Clock) -> None:
    start(editor, release)
    clock.advance(120)
    answer = evaluate(release)
    assert answer["action"] == "hold"
    assert "stage 0 has run 120 s of 3600 s" in answer["reasons"]
    assert answer["applied"] is None


def test_evaluate_advances_a_ready_stage_and_the_history_has_its_figures(
    app: Flask, editor: Api, release: Api, clock: Clock
) -> None:
    start(editor, release)
    expose(app, 120, clock())
    clock.advance(3600)
    answer = evaluate(release)
    assert (answer["action"], answer["applied"]) == ("advance", "advanced")
    assert (answer["stage"], answer["traffic"]) == (1, 1.0)
    experiment = release.get(f"/api/v1/experiments/{EXP}").get_json()
    assert (experiment["stage"], experiment["traffic"]) == (1, 1.0)
    [entry] = [e for e in history(release) if e["action"] == "advance"]
    assert entry["actor"] == "release-key"
    assert entry["figures"]["users"] == {"control": 120, "friendly": 120}
    metrics = {c["metric"] for c in entry["figures"]["comparisons"]}
    assert metrics == {"thumbs_up", "latency_ms", "cost_usd"}


def test_every_evaluation_asked_for_lands_in_the_history(editor: Api, release: Api) -> None:
    start(editor, release)
    evaluate(release)
    evaluate(release)
    decisions = [e for e in history(release) if e["action"] == "decision"]
    assert len(decisions) == 2
    assert all(
        e["figures"]["codes"] == ["stage_too_young", "too_few_users", "too_few_users"]
        for e in decisions
    )


def test_a_sample_ratio_mismatch_pauses_the_experiment(
    app: Flask, editor: Api, release: Api, clock: Clock
) -> None:
    start(editor, release)
    store = app.extensions["rollout"].store
    writes = [ExposureWrite(EXP, f"u{i}", 0 if i % 10 else 1) for i in range(1000)]
    store.exposures.record(writes, clock())
    answer = evaluate(release)
    assert (answer["action"], answer["effect"], answer["applied"]) == ("hold", "pause", "paused")
    assert release.get(f"/api/v1/experiments/{EXP}").get_json()["status"] == "paused"


def test_a_latency_regression_sent_through_the_api_is_rolled_back(
    editor: Api, release: Api, sdk: Api
) -> None:
    start(editor, release, rollout={"stages": [{"traffic": 1.0, "min_duration_s": 3600}]})
    rng = np.random.default_rng(7)
    events = []
    for i in range(800):
        user = f"user-{i}"
        answer = sdk.post("/api/v1/assign", json={"user_id": user, "experiments": [EXP]})
        variant = answer.get_json()["assignments"][EXP]["variant"]
        latency = rng.lognormal(np.log(800), 0.3) * (1.5 if variant == "friendly" else 1.0)
        events.append(
            {
                "event_id": f"e{i}",
                "user_id": user,
                "experiment": EXP,
                "metric": "latency_ms",
                "value": float(latency),
            }
        )
    assert sdk.post("/api/v1/events", json={"events": events}).get_json()["rejected"] == []

    answer = evaluate(release)

    assert (answer["action"], answer["applied"]) == ("rollback", "rolled_back")
    assert answer["codes"] == ["guardrail_breach"]
    assert "latency_ms of friendly breached" in answer["reasons"][0]
    assert release.get(f"/api/v1/experiments/{EXP}").get_json()["status"] == "rolled_back"
    assigned = sdk.post("/api/v1/assign", json={"user_id": "user-1", "experiments": [EXP]})
    assert assigned.get_json()["assignments"][EXP]["variant"] == "control"
    [entry] = [e for e in history(release) if e["action"] == "rollback"]
    [breach] = entry["figures"]["comparisons"]
    assert breach["metric"] == "latency_ms" and breach["breached"] is True
    assert breach["sequential_relative_ci"][0] > 0.10


def test_under_review_an_evaluation_proposes_the_advance(
    make_app: Callable[..., Flask], clock: Clock
) -> None:
    app = make_app(require_review=True)
    admin = Api(app.test_client(), "rk_test-admin-key-0123456789abcdef0123456789abcdef")
    keys = {}
    for name, role in (("ed", "editor"), ("rel", "release"), ("rel2", "release")):
        created = admin.post("/api/v1/keys", json={"name": name, "role": role}).get_json()
        keys[name] = Api(admin.client, created["secret"])
    editor, release, other = keys["ed"], keys["rel"], keys["rel2"]
    assert (
        editor.post("/api/v1/experiments", json=experiment_body(EXP, rollout=PLAN)).status_code
        == 201
    )
    started = release.post(f"/api/v1/experiments/{EXP}/start", json={}).get_json()
    ok(other.post(f"/api/v1/experiments/{EXP}/approve", json={"change": started["pending"]["id"]}))
    expose(app, 120, clock())
    clock.advance(3600)

    answer = evaluate(release)

    assert (answer["action"], answer["applied"]) == ("advance", "proposed")
    experiment = release.get(f"/api/v1/experiments/{EXP}").get_json()
    assert experiment["stage"] == 0
    [pending] = experiment["pending"]
    assert (
        release.post(
            f"/api/v1/experiments/{EXP}/approve", json={"change": pending["id"]}
        ).status_code
        == 409
    )  # the key that asked for the evaluation proposed it
    approved = other.post(f"/api/v1/experiments/{EXP}/approve", json={"change": pending["id"]})
    assert approved.status_code == 200
    assert approved.get_json()["experiment"]["stage"] == 1


def test_the_results_decision_is_the_one_evaluate_applies(
    app: Flask, editor: Api, release: Api, clock: Clock
) -> None:
    start(editor, release)
    expose(app, 120, clock())
    clock.advance(3600)
    predicted = release.get(f"/api/v1/experiments/{EXP}/results").get_json()["decision"]
    answer = evaluate(release)
    assert (predicted["action"], predicted["reasons"]) == (answer["action"], answer["reasons"])


# -- timeline ------------------------------------------------------------------------------------


def test_the_timeline_keeps_a_results_snapshot_per_evaluation(
    app: Flask, editor: Api, release: Api, clock: Clock
) -> None:
    start(editor, release)
    for _ in range(3):
        clock.advance(60)
        evaluate(release)
    response = editor.get(f"/api/v1/experiments/{EXP}/timeline")
    assert response.status_code == 200
    entries = response.get_json()["entries"]
    assert [e["at"] for e in entries] == [clock() - 120, clock() - 60, clock()]
    first = entries[0]
    assert first["decision"]["action"] == "hold"
    assert [m["metric"] for m in first["metrics"]] == ["thumbs_up", "latency_ms", "cost_usd"]
    assert "sequential_relative_ci" in first["metrics"][1]["comparisons"][0]
    assert first["srm"]["ok"] is True
    since = editor.get(f"/api/v1/experiments/{EXP}/timeline?since={clock() - 60}").get_json()
    assert len(since["entries"]) == 2
    newest = editor.get(f"/api/v1/experiments/{EXP}/timeline?limit=1").get_json()
    assert [e["at"] for e in newest["entries"]] == [clock()]


def test_the_timeline_is_for_readers_only(sdk: Api, editor: Api, release: Api) -> None:
    start(editor, release)
    assert sdk.get(f"/api/v1/experiments/{EXP}/timeline").status_code == 403
    assert release.get(f"/api/v1/experiments/{EXP}/timeline").status_code == 200
    assert release.get("/api/v1/experiments/nope/timeline").status_code == 404
    bad = release.get(f"/api/v1/experiments/{EXP}/timeline?limit=0")
    assert bad.status_code == 422


# -- webhook routes ------------------------------------------------------------------------------


def test_the_delivery_log_starts_empty_and_is_not_for_applications(release: Api, sdk: Api) -> None:
    assert release.get("/api/v1/webhooks/deliveries").get_json() == {"deliveries": []}
    assert sdk.get("/api/v1/webhooks/deliveries").status_code == 403


@pytest.mark.parametrize("url", ["https://hooks.example/a", "https://hooks.example/b"])
def test_an_admin_reads_the_secret_of_a_per_experiment_webhook(
    make_app: Callable[..., Flask], url: str
) -> None:
    app = make_app(webhook_secret="master-secret", webhook_urls=("https://global.example/h",))
    admin = Api(app.test_client(), "rk_test-admin-key-0123456789abcdef0123456789abcdef")
    answer = admin.get(f"/api/v1/webhooks/secret?url={url}").get_json()
    assert answer == {
        "url": url,
        "scope": "experiment",
        "secret": derived_secret("master-secret", url),
    }
    globally = admin.get("/api/v1/webhooks/secret?url=https://global.example/h").get_json()
    assert (globally["scope"], globally["secret"]) == ("global", "master-secret")


def test_only_an_admin_reads_webhook_secrets(release: Api) -> None:
    assert release.get("/api/v1/webhooks/secret?url=https://x.example/").status_code == 403


def test_the_routes_are_in_the_openapi_document(client: Any) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "post" in paths["/api/v1/experiments/{key}/evaluate"]
    assert "get" in paths["/api/v1/experiments/{key}/timeline"]
    assert "get" in paths["/api/v1/webhooks/deliveries"]
