"""Segments and covariates through the real app: tracked assign and the exposures batch keep
them from the first exposure, the edge bounds them, and the results break the figures down."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from flask import Flask

from experiments.model import MetricType
from experiments.stats.moments import Moments
from experiments.store import Store
from experiments.store.events import EventWrite, Outcome
from experiments.store.exposures import exposure_write
from rollout.runtime import Runtime
from tests.api.conftest import Api, experiment_body
from tests.api.test_archive import signed_in_console

EXP = "summary-tone"
SEGMENTS = [{"attribute": "model", "values": ["gpt-4o", "claude"]}]
METRICS = [
    {"key": "thumbs_up", "type": "binary", "role": "primary", "direction": "increase"},
    {
        "key": "latency_ms",
        "type": "mean",
        "role": "guardrail",
        "direction": "decrease",
        "max_regression": 0.10,
    },
    {"key": "requests", "type": "mean", "covariate": "requests_before"},
]


@pytest.fixture
def running(editor: Api, release: Api) -> str:
    body = experiment_body(EXP, segments=SEGMENTS, metrics=METRICS)
    created = editor.post("/api/v1/experiments", json=body)
    assert created.status_code == 201, created.get_json()
    assert release.post(f"/api/v1/experiments/{EXP}/start", json={}).status_code == 200
    return EXP


def assign(sdk: Api, user: str, **body: Any) -> Any:
    return sdk.post("/api/v1/assign", json={"user_id": user, "experiments": [EXP], **body})


def test_tracked_assign_keeps_the_segment_and_the_covariate(
    sdk: Api, store: Store, running: str
) -> None:
    answered = assign(
        sdk, "u1", attributes={"model": "claude"}, covariates={"requests_before": 12}
    )
    assert answered.status_code == 200, answered.get_json()
    variant = ["control", "friendly"].index(answered.get_json()["assignments"][EXP]["variant"])

    stats = store.events.snapshot(EXP).stats
    gpt, claude, other = stats.segments[0]
    assert claude.users[variant] == 1 and gpt.users == (0, 0) and other.users == (0, 0)
    sums = stats.covariates["requests"][variant]
    assert (sums.n, sums.sum_x, sums.sum_xx) == (1, 12.0, 144.0)


def test_an_exposure_sent_by_an_sdk_keeps_them_too(sdk: Api, store: Store, running: str) -> None:
    own = assign(sdk, "u2", attributes={"model": "llama"}, track=False).get_json()
    variant = own["assignments"][EXP]["variant"]
    item = {
        "user_id": "u2",
        "experiment": EXP,
        "variant": variant,
        "attributes": {"model": "llama"},
        "covariates": {"requests_before": 3.5},
    }
    response = sdk.post("/api/v1/exposures", json={"exposures": [item]})
    assert response.status_code == 202 and response.get_json()["accepted"] == 1

    stats = store.events.snapshot(EXP).stats
    index = ["control", "friendly"].index(variant)
    assert stats.segments[0][2].users[index] == 1  # llama is not declared: other
    assert stats.covariates["requests"][index].sum_x == 3.5


def test_events_count_in_the_segment_of_the_user(sdk: Api, store: Store, running: str) -> None:
    answered = assign(sdk, "u3", attributes={"model": "gpt-4o"})
    variant = ["control", "friendly"].index(answered.get_json()["assignments"][EXP]["variant"])
    event = {"event_id": "e1", "user_id": "u3", "experiment": EXP, "metric": "latency_ms",
             "value": 420}
    assert sdk.post("/api/v1/events", json={"events": [event]}).get_json()["accepted"] == 1

    gpt = store.events.snapshot(EXP).stats.segments[0][0]
    assert gpt.metrics["latency_ms"][variant] == Moments(1, 420.0, 420.0 * 420.0)


@pytest.mark.parametrize(
    "covariates",
    [{"requests_before": "12"}, {"requests_before": True}, {"Requests": 1}, {"x": 1e16}],
)
def test_assign_refuses_a_bad_covariate_naming_the_field(
    sdk: Api, running: str, covariates: dict[str, Any]
) -> None:
    response = assign(sdk, "u1", covariates=covariates)
    assert response.status_code == 422, response.get_json()
    fields = [d["field"] for d in response.get_json()["error"]["details"]]
    assert all(f.startswith("covariates") for f in fields) and fields


def test_assign_refuses_more_than_ten_covariates(sdk: Api, running: str) -> None:
    response = assign(sdk, "u1", covariates={f"c{i}": 1 for i in range(11)})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["field"] == "covariates"


def test_assign_refuses_a_non_finite_covariate(sdk: Api, running: str) -> None:
    response = sdk.post(
        "/api/v1/assign",
        data='{"user_id": "u1", "covariates": {"requests_before": NaN}}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), response.get_json()
    assert response.get_json()["error"]["code"] in ("malformed", "invalid")


def test_the_exposures_batch_rejects_a_bad_covariate_by_index(sdk: Api, running: str) -> None:
    variant = assign(sdk, "u4", track=False).get_json()["assignments"][EXP]["variant"]
    good = {"user_id": "u4", "experiment": EXP, "variant": variant}
    bad = good | {"covariates": {"requests_before": "many"}}
    response = sdk.post("/api/v1/exposures", json={"exposures": [bad, good]})
    body = response.get_json()
    assert response.status_code == 202 and body["accepted"] == 1
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(0, "invalid")]


def test_segments_change_only_in_draft(editor: Api, running: str) -> None:
    response = editor.patch(
        f"/api/v1/experiments/{EXP}", json={"segments": [{"attribute": "plan", "values": ["pro"]}]}
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "not_draft"


def test_segments_beyond_the_bounds_are_422(editor: Api) -> None:
    segments = [{"attribute": "model", "values": [f"m{i}" for i in range(21)]}]
    response = editor.post("/api/v1/experiments", json=experiment_body(EXP, segments=segments))
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["field"].startswith("segments")


def seed(app: Flask, model: str, users: int, control_ms: float, friendly_ms: float) -> None:
    """`users` exposures an arm on `model`, each with one latency event, through the store."""
    runtime: Runtime = app.extensions["rollout"]
    experiment = runtime.store.events.snapshot(EXP).experiment
    rng = np.random.default_rng(users)
    exposures, events = [], []
    for arm, mean in ((0, control_ms), (1, friendly_ms)):
        for i in range(users):
            user = f"{model}-{arm}-{i}"
            exposures.append(exposure_write(experiment, user, arm, {"model": model}, {}))
            events.append(
                EventWrite(EXP, user, f"e-{user}", "latency_ms", MetricType.MEAN,
                           float(rng.normal(mean, mean / 8)))
            )
    assert all(r.recorded_now for r in runtime.store.exposures.record(exposures, 1.0))
    assert set(runtime.store.events.ingest(events)) == {Outcome.ACCEPTED}


def test_the_results_show_each_segment_and_the_adjusted_figures(
    app: Flask, editor: Api, running: str
) -> None:
    seed(app, "gpt-4o", 300, 800, 800)
    seed(app, "claude", 40, 800, 800)

    body = editor.get(f"/api/v1/experiments/{EXP}/results").get_json()

    (dimension,) = body["segments"]
    assert dimension["attribute"] == "model"
    assert [s["value"] for s in dimension["segments"]] == ["gpt-4o", "claude", "other"]
    assert [s["variants"]["friendly"]["users"] for s in dimension["segments"]] == [300, 40, 0]
    requests = next(m for m in body["metrics"] if m["metric"] == "requests")
    adjusted = requests["comparisons"][0]["adjusted"]
    assert adjusted["covariate"] == "requests_before"
    latency = next(m for m in body["metrics"] if m["metric"] == "latency_ms")
    assert "adjusted" not in latency["comparisons"][0]


def test_evaluate_rolls_back_on_a_guardrail_breached_in_one_segment(
    app: Flask, release: Api, running: str
) -> None:
    seed(app, "gpt-4o", 900, 800, 800)
    seed(app, "claude", 100, 800, 1600)

    answer = release.post(f"/api/v1/experiments/{EXP}/evaluate", json={})

    assert answer.status_code == 200, answer.get_json()
    decision = answer.get_json()
    assert decision["action"] == "rollback"
    assert any("in segment model=claude" in reason for reason in decision["reasons"])
    history = release.get(f"/api/v1/experiments/{EXP}/history?limit=1000").get_json()["history"]
    rollback = next(entry for entry in history if entry["action"] == "rollback")
    assert "in segment model=claude" in rollback["reason"]


def test_the_console_shows_the_segments_and_the_adjusted_figures(
    app: Flask, editor: Api, sdk: Api, running: str
) -> None:
    seed(app, "gpt-4o", 900, 800, 800)
    seed(app, "claude", 100, 800, 1600)
    for i in range(40):
        answered = assign(sdk, f"c{i}", covariates={"requests_before": i % 9})
        assert answered.status_code == 200

    page = signed_in_console(app.test_client(), editor.secret).get(f"/experiments/{EXP}")
    assert page.status_code == 200
    markup = page.get_data(as_text=True)

    found = re.search(r'<section class="card segments"[^>]*data-attribute="model">(.*?)</section>',
                      markup, re.S)
    assert found is not None
    claude = re.search(
        r'<tr data-segment="claude" data-metric="latency_ms" data-variant="friendly">(.*?)</tr>',
        found.group(1), re.S,
    )
    assert claude is not None and "breached" in claude.group(1)
    assert 'class="figures adjusted" data-covariate="requests_before"' in markup
