"""The experiments API: definition rules, reading, PATCH, the lifecycle, history, concurrency and
layers, through the Flask app against a real Redis."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.api.conftest import Api, Clock, experiment_body, ok
from tests.conftest import ADMIN_KEY

ACTIONS = ("start", "pause", "resume", "advance", "rollback", "conclude")
ACTION_BODY: dict[str, dict[str, Any]] = {
    "rollback": {"reason": "guardrail looked bad"},
    "conclude": {"winner": "friendly"},
}
TWO_STAGES = {"stages": [{"traffic": 0.1}, {"traffic": 0.5}]}


def create(api: Api, key: str = "summary-tone", **overrides: Any) -> dict[str, Any]:
    response = api.post("/api/v1/experiments", json=experiment_body(key, **overrides))
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def act(api: Api, key: str, action: str, **body: Any) -> Any:
    return api.post(f"/api/v1/experiments/{key}/{action}", json=body or ACTION_BODY.get(action, {}))


def details(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == "invalid"
    found: list[dict[str, Any]] = response.get_json()["error"]["details"]
    assert found
    return found


# --- create -------------------------------------------------------------------------------


def test_create_answers_201_with_the_draft_and_its_etag(editor: Api, clock: Clock) -> None:
    response = editor.post("/api/v1/experiments", json=experiment_body())
    assert response.status_code == 201
    body = response.get_json()
    assert body["key"] == "summary-tone"
    assert body["status"] == "draft"
    assert body["revision"] == 1
    assert body["created_by"] == "editor-key"
    assert body["created_at"] == clock.now
    assert body["variants"][1]["config"] == {"tone": "friendly"}
    assert [m["key"] for m in body["metrics"]] == ["thumbs_up", "latency_ms", "cost_usd"]
    assert response.headers["ETag"] == '"1"'


def test_the_contract_example_is_accepted_whole(editor: Api) -> None:
    body = experiment_body(
        targeting={"country": {"in": ["DE", "FR"]}},
        layer="summaries",
        alpha=0.05,
        rollout={
            "stages": [
                {"traffic": 0.02, "min_duration_s": 3600, "min_users_per_variant": 200},
                {"traffic": 0.10, "min_duration_s": 3600, "min_users_per_variant": 1000},
                {"traffic": 0.50, "min_duration_s": 86400, "min_users_per_variant": 5000},
            ],
            "auto_advance": True,
            "auto_rollback": True,
        },
    )
    response = editor.post("/api/v1/experiments", json=body)
    assert response.status_code == 201, response.get_json()
    saved = response.get_json()
    assert saved["targeting"] == {"country": {"in": ["DE", "FR"]}}
    assert saved["layer"] == "summaries"
    assert [s["traffic"] for s in saved["rollout"]["stages"]] == [0.02, 0.10, 0.50]


def test_a_taken_key_is_409(editor: Api) -> None:
    create(editor)
    again = editor.post("/api/v1/experiments", json=experiment_body(name="Another"))
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "already_exists"
    assert editor.get("/api/v1/experiments/summary-tone").get_json()["name"] != "Another"


@pytest.mark.parametrize(
    "key", ["Summary", "-leading-dash", "_under", "a" * 65, "with space", "", "ümlaut", "a.b"]
)
def test_a_key_outside_the_pattern_is_422(editor: Api, key: str) -> None:
    found = details(editor.post("/api/v1/experiments", json=experiment_body(key)))
    assert [d["field"] for d in found] == ["key"]


@pytest.mark.parametrize("key", ["a", "0", "a" * 64, "summary_tone-2"])
def test_a_key_inside_the_pattern_is_accepted(editor: Api, key: str) -> None:
    assert editor.post("/api/v1/experiments", json=experiment_body(key)).status_code == 201


def _variants(weights: list[float], keys: list[str] | None = None) -> list[dict[str, Any]]:
    names = keys or ["control", *(f"v{i}" for i in range(1, len(weights)))]
    return [{"key": k, "weight": w} for k, w in zip(names, weights, strict=True)]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"variants": _variants([1.0])}, "variants", "at least 2"),
        ({"variants": _variants([1 / 21] * 21)}, "variants", "at most 20"),
        ({"variants": _variants([0.5, 0.5], ["control", "control"])}, None, "unique"),
        ({"variants": _variants([0.5, 0.4])}, None, "sum to 1"),
        ({"variants": _variants([0.5, 0.5 + 2e-9])}, None, "sum to 1"),
        ({"variants": _variants([1.5, 0.5])}, "variants.0.weight", "less than or equal to 1"),
        ({"variants": _variants([-0.5, 0.5])}, "variants.0.weight", "greater than or equal to 0"),
        ({"variants": _variants([0.5, 0.5], ["control", "Bad"])}, "variants.1.key", "pattern"),
        ({"control": "missing"}, None, "control 'missing' is not one of the variants"),
        ({"traffic": -0.01}, "traffic", "greater than or equal to 0"),
        ({"traffic": 1.01}, "traffic", "less than or equal to 1"),
        ({"metrics": [{"key": "m", "type": "binary"}, {"key": "m", "type": "mean"}]},
         None, "metric keys must be unique"),
        ({"metrics": [{"key": "m", "type": "mean", "max_regression": -0.01}]},
         "metrics.0.max_regression", "greater than or equal to 0"),
        ({"metrics": [{"key": "m", "type": "median"}]}, "metrics.0.type", "binary"),
        ({"alpha": 0}, "alpha", "greater than 0"),
        ({"alpha": 0.5}, "alpha", "less than 0.5"),
        ({"rollout": {"stages": []}}, "rollout.stages", "at least 1"),
        ({"rollout": {"stages": [{"traffic": 0.5}, {"traffic": 0.5}]}}, "rollout.stages",
         "increase"),
        ({"rollout": {"stages": [{"traffic": 0.5}, {"traffic": 0.2}]}}, "rollout.stages",
         "increase"),
        ({"rollout": {"stages": [{"traffic": 0.0}]}}, "rollout.stages.0.traffic", "greater than 0"),
        ({"rollout": {"stages": [{"traffic": 1.5}]}}, "rollout.stages.0.traffic",
         "less than or equal to 1"),
        ({"targeting": {"country": {"like": "D%"}}}, None, "unknown operator 'like'"),
        ({"targeting": {"any": "DE"}}, None, "any"),
    ],
    ids=[
        "one-variant", "21-variants", "duplicate-variant", "weights-0.9", "weights-over-1e-9",
        "weight-above-1", "weight-negative", "variant-key", "control-not-a-variant",
        "traffic-below", "traffic-above", "duplicate-metric", "negative-max-regression",
        "unknown-metric-type",
        "alpha-0", "alpha-0.5", "no-stages", "flat-stages", "falling-stages", "stage-traffic-0",
        "stage-traffic-above-1", "unknown-operator", "bad-combinator",
    ],
)
def test_a_definition_breaking_a_rule_is_422(
    editor: Api, overrides: dict[str, Any], field: str | None, message: str
) -> None:
    found = details(editor.post("/api/v1/experiments", json=experiment_body(**overrides)))
    assert len(found) == 1
    if field is not None:
        assert found[0]["field"] == field
    assert message in found[0]["message"]
    assert editor.get("/api/v1/experiments/summary-tone").status_code == 404


@pytest.mark.parametrize(
    "overrides",
    [
        {"variants": _variants([0.1, 0.2, 0.7])},  # sums to 0.9999999999999999 in floats
        {"variants": _variants([1 / 3] * 3)},
        {"variants": _variants([0.05] * 20)},
        {"variants": _variants([1.0, 0.0])},
        {"traffic": 0.0},
        {"traffic": 1.0},
        {"alpha": 0.001},
        {"alpha": 0.499},
        {"metrics": []},
        {"metrics": [{"key": "m", "type": "mean", "max_regression": 0}]},
        {"rollout": {"stages": [{"traffic": 0.01}, {"traffic": 0.5}, {"traffic": 1.0}]}},
    ],
    ids=["float-sum", "thirds", "20-variants", "zero-weight", "traffic-0", "traffic-1",
         "alpha-small", "alpha-large", "no-metrics", "max-regression-0", "stages-to-1"],
)
def test_a_definition_on_the_edge_of_the_rules_is_accepted(
    editor: Api, overrides: dict[str, Any]
) -> None:
    response = editor.post("/api/v1/experiments", json=experiment_body(**overrides))
    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize(
    "targeting",
    [
        {"country": {"eq": "DE"}},
        {"country": {"ne": "DE"}},
        {"country": {"in": ["DE", "FR"]}},
        {"country": {"nin": ["DE", "FR"]}},
        {"age": {"gt": 18, "lte": 65}},
        {"age": {"gte": 18, "lt": 65}},
        {"beta": {"exists": True}},
        {"all": [{"country": "DE"}, {"plan": {"in": ["pro", "team"]}}]},
        {"any": [{"country": "DE"}, {"age": {"gte": 21}}]},
    ],
)
def test_every_contract_targeting_operator_is_accepted(
    editor: Api, targeting: dict[str, Any]
) -> None:
    response = editor.post("/api/v1/experiments", json=experiment_body(targeting=targeting))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["targeting"] == targeting


# --- get and list -------------------------------------------------------------------------


def test_get_answers_the_experiment_and_an_unknown_one_is_404(editor: Api, release: Api) -> None:
    create(editor)
    found = release.get("/api/v1/experiments/summary-tone")
    assert found.status_code == 200
    assert found.get_json()["name"] == "Friendlier summaries"
    assert found.headers["ETag"] == '"1"'
    missing = release.get("/api/v1/experiments/nothing-here")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"


@pytest.fixture
def catalogue(admin: Api) -> Api:
    """Six experiments across statuses, owners and layers."""
    create(admin, "alpha", owner="growth")
    create(admin, "bravo", owner="growth", layer="summaries")
    create(admin, "charlie", owner="search", layer="summaries")
    create(admin, "delta", owner="search")
    create(admin, "echo", owner="growth")
    create(admin, "foxtrot", owner="search")
    for key in ("bravo", "charlie", "delta"):
        assert act(admin, key, "start").status_code == 200
    assert act(admin, "delta", "pause").status_code == 200
    assert act(admin, "foxtrot", "start").status_code == 200
    assert act(admin, "foxtrot", "rollback").status_code == 200
    return admin


@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ("", ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]),
        ("status=running", ["bravo", "charlie"]),
        ("status=paused", ["delta"]),
        ("status=draft", ["alpha", "echo"]),
        ("status=rolled_back", ["foxtrot"]),
        ("status=concluded", []),
        ("owner=growth", ["alpha", "bravo", "echo"]),
        ("layer=summaries", ["bravo", "charlie"]),
        ("owner=search&status=running", ["charlie"]),
        ("owner=nobody", []),
    ],
)
def test_list_filters_by_status_owner_and_layer(
    catalogue: Api, query: str, keys: list[str]
) -> None:
    response = catalogue.get(f"/api/v1/experiments?{query}")
    assert response.status_code == 200
    body = response.get_json()
    assert [e["key"] for e in body["experiments"]] == keys
    assert body["total"] == len(keys)


def test_list_pages_through_everything_once(catalogue: Api) -> None:
    seen: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        body = catalogue.get(f"/api/v1/experiments?limit=4&offset={offset}").get_json()
        assert body["limit"] == 4 and body["offset"] == offset and body["total"] == 6
        seen += [e["key"] for e in body["experiments"]]
        offset = body["next_offset"]
        pages += 1
    assert pages == 2
    assert seen == ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]


def test_list_past_the_end_is_empty(catalogue: Api) -> None:
    body = catalogue.get("/api/v1/experiments?offset=10").get_json()
    assert body["experiments"] == [] and body["next_offset"] is None and body["total"] == 6


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=501", "limit"), ("offset=-1", "offset"),
     ("status=live", "status"), ("layer=Not%20A%20Key", "layer"), ("sort=key", "sort")],
)
def test_a_bad_list_query_is_422(editor: Api, query: str, field: str) -> None:
    found = details(editor.get(f"/api/v1/experiments?{query}"))
    assert [d["field"] for d in found] == [field]


# --- PATCH --------------------------------------------------------------------------------


def _to_status(api: Api, key: str, status: str) -> None:
    path = {
        "draft": [],
        "running": ["start"],
        "paused": ["start", "pause"],
        "concluded": ["start", "conclude"],
        "rolled_back": ["start", "rollback"],
    }[status]
    for action in path:
        assert act(api, key, action).status_code == 200


@pytest.mark.parametrize("status", ["draft", "running", "paused", "concluded", "rolled_back"])
def test_traffic_targeting_and_descriptive_fields_change_at_any_time(
    admin: Api, editor: Api, status: str
) -> None:
    create(admin)
    _to_status(admin, "summary-tone", status)
    change = {
        "name": "Warmer summaries",
        "owner": "team-voice",
        "description": "Tone test",
        "traffic": 0.25,
        "targeting": {"country": {"in": ["DE"]}},
        "reason": "narrow the audience",
    }
    response = editor.patch("/api/v1/experiments/summary-tone", json=change)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    for field in ("name", "owner", "description", "traffic", "targeting"):
        assert body[field] == change[field]
    assert body["status"] == status
    assert response.headers["ETag"] == f'"{body["revision"]}"'


DESIGN_CHANGES: dict[str, dict[str, Any]] = {
    "variants": {"variants": _variants([0.3, 0.7], ["control", "friendly"])},
    "control": {"control": "friendly"},
    "metrics": {"metrics": [{"key": "clicks", "type": "binary", "role": "primary"}]},
    "layer": {"layer": "summaries"},
}


@pytest.mark.parametrize("field", DESIGN_CHANGES)
@pytest.mark.parametrize("status", ["running", "paused", "concluded", "rolled_back"])
def test_the_design_changes_only_in_draft(admin: Api, editor: Api, field: str, status: str) -> None:
    create(admin)
    _to_status(admin, "summary-tone", status)
    before = admin.get("/api/v1/experiments/summary-tone").get_json()
    response = editor.patch("/api/v1/experiments/summary-tone", json=DESIGN_CHANGES[field])
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "not_draft"
    assert error["details"] == [{"field": field, "message": "only in draft"}]
    assert admin.get("/api/v1/experiments/summary-tone").get_json() == before


@pytest.mark.parametrize("field", DESIGN_CHANGES)
def test_the_design_changes_in_draft(editor: Api, field: str) -> None:
    create(editor)
    response = editor.patch("/api/v1/experiments/summary-tone", json=DESIGN_CHANGES[field])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    for name, value in DESIGN_CHANGES[field].items():
        shown = body[name]
        if name == "variants":
            shown = [{"key": v["key"], "weight": v["weight"]} for v in shown]
        if name == "metrics":
            shown = [{"key": m["key"], "type": m["type"], "role": m["role"]} for m in shown]
        assert shown == value


def test_a_patch_that_breaks_the_variant_rules_is_422_and_changes_nothing(editor: Api) -> None:
    create(editor)
    response = editor.patch(
        "/api/v1/experiments/summary-tone", json={"variants": _variants([0.6, 0.6])}
    )
    assert "sum to 1" in details(response)[0]["message"]
    dropped = editor.patch(
        "/api/v1/experiments/summary-tone",
        json={"variants": _variants([0.5, 0.5], ["treatment", "other"])},
    )
    assert "control" in details(dropped)[0]["message"]
    assert editor.get("/api/v1/experiments/summary-tone").get_json()["revision"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"traffic": 2}, "traffic"),
        ({"alpha": 0.9}, "alpha"),
        ({"name": ""}, "name"),
        ({"status": "running"}, "status"),
        ({"key": "renamed"}, "key"),
        ({"revision": 7}, "revision"),
        ({"targeting": {"country": {"like": "D%"}}}, "targeting"),
    ],
)
def test_a_bad_patch_is_422_naming_the_field(
    editor: Api, change: dict[str, Any], field: str
) -> None:
    create(editor)
    found = details(editor.patch("/api/v1/experiments/summary-tone", json=change))
    assert [d["field"] for d in found] == [field]


def test_patching_an_unknown_experiment_is_404(editor: Api) -> None:
    response = editor.patch("/api/v1/experiments/nothing-here", json={"traffic": 0.5})
    assert response.status_code == 404


def test_an_empty_patch_changes_nothing(editor: Api) -> None:
    create(editor)
    response = editor.patch("/api/v1/experiments/summary-tone", json={})
    assert response.status_code == 200
    assert response.get_json()["revision"] == 1
    assert len(editor.get("/api/v1/experiments/summary-tone/history").get_json()["history"]) == 1


# --- lifecycle ----------------------------------------------------------------------------

ALLOWED = {
    "draft": {"start": "running"},
    "running": {"pause": "paused", "advance": "running", "rollback": "rolled_back",
                "conclude": "concluded"},
    "paused": {"resume": "running", "rollback": "rolled_back", "conclude": "concluded"},
    "concluded": {},
    "rolled_back": {},
}


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("status", list(ALLOWED))
def test_every_transition_is_allowed_or_409(
    admin: Api, release: Api, status: str, action: str
) -> None:
    create(admin, rollout=TWO_STAGES)
    _to_status(admin, "summary-tone", status)
    response = act(release, "summary-tone", action)
    after = release.get("/api/v1/experiments/summary-tone").get_json()
    if action in ALLOWED[status]:
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["experiment"]["status"] == ALLOWED[status][action]
        assert response.get_json()["pending"] is None
        assert after["status"] == ALLOWED[status][action]
    else:
        assert response.status_code == 409
        error = response.get_json()["error"]
        assert error["code"] == "invalid_transition"
        assert f"'{status}'" in error["message"]
        assert after["status"] == status


@pytest.mark.parametrize("action", ACTIONS)
def test_a_transition_of_an_unknown_experiment_is_404(release: Api, action: str) -> None:
    assert act(release, "nothing-here", action).status_code == 404


def test_start_sets_the_first_stage_and_advance_walks_the_stages(
    editor: Api, release: Api, clock: Clock
) -> None:
    create(editor, traffic=1.0, rollout={"stages": [{"traffic": 0.02}, {"traffic": 0.1},
                                                   {"traffic": 0.5}]})
    started = act(release, "summary-tone", "start").get_json()["experiment"]
    assert (started["stage"], started["traffic"], started["started_at"]) == (0, 0.02, clock.now)
    clock.advance(60)
    first = act(release, "summary-tone", "advance").get_json()["experiment"]
    assert (first["stage"], first["traffic"], first["stage_started_at"]) == (1, 0.1, clock.now)
    second = act(release, "summary-tone", "advance").get_json()["experiment"]
    assert (second["stage"], second["traffic"]) == (2, 0.5)
    last = act(release, "summary-tone", "advance")
    assert last.status_code == 409
    assert last.get_json()["error"]["code"] == "last_stage"


def test_advance_without_a_rollout_plan_is_409(editor: Api, release: Api) -> None:
    create(editor)
    ok(act(release, "summary-tone", "start"))
    response = act(release, "summary-tone", "advance")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "no_rollout"


def test_conclude_records_the_winner_and_rollback_the_reason(
    editor: Api, release: Api, clock: Clock
) -> None:
    create(editor, "shipped")
    create(editor, "reverted")
    ok(act(release, "shipped", "start"))
    ok(act(release, "reverted", "start"))
    shipped = act(release, "shipped", "conclude", winner="friendly").get_json()["experiment"]
    assert (shipped["winner"], shipped["ended_at"]) == ("friendly", clock.now)
    reverted = act(release, "reverted", "rollback", reason="latency").get_json()["experiment"]
    assert (reverted["rollback_reason"], reverted["ended_at"]) == ("latency", clock.now)


def test_conclude_with_an_unknown_winner_is_422(editor: Api, release: Api) -> None:
    create(editor)
    ok(act(release, "summary-tone", "start"))
    found = details(act(release, "summary-tone", "conclude", winner="nobody"))
    assert found[0]["field"] == "winner"
    assert release.get("/api/v1/experiments/summary-tone").get_json()["status"] == "running"


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [("conclude", {}, "winner"), ("rollback", {"reason": "x" * 2001}, "reason"),
     ("start", {"force": True}, "force")],
)
def test_a_bad_transition_body_is_422(
    editor: Api, release: Api, action: str, body: dict[str, Any], field: str
) -> None:
    create(editor)
    ok(act(release, "summary-tone", "start"))
    response = release.post(f"/api/v1/experiments/summary-tone/{action}", json=body)
    assert [d["field"] for d in details(response)] == [field]


# --- history ------------------------------------------------------------------------------


def test_history_records_who_when_what_and_why(
    editor: Api, release: Api, clock: Clock
) -> None:
    t0 = clock.now
    create(editor)
    clock.advance(10)
    ok(editor.patch(
        "/api/v1/experiments/summary-tone", json={"traffic": 0.5, "reason": "be careful"}
    ))
    clock.advance(10)
    ok(act(release, "summary-tone", "start", reason="approved in review"))
    clock.advance(10)
    ok(act(release, "summary-tone", "pause"))
    clock.advance(10)
    ok(act(release, "summary-tone", "resume", reason="fixed"))
    clock.advance(10)
    ok(act(release, "summary-tone", "rollback", reason="latency up 20%"))
    response = editor.get("/api/v1/experiments/summary-tone/history")
    assert response.status_code == 200
    body = response.get_json()
    assert body["experiment"] == "summary-tone"
    history = body["history"]
    assert [(h["action"], h["actor"], h["at"], h["reason"]) for h in history] == [
        ("create", "editor-key", t0, None),
        ("update", "editor-key", t0 + 10, "be careful"),
        ("start", "release-key", t0 + 20, "approved in review"),
        ("pause", "release-key", t0 + 30, None),
        ("resume", "release-key", t0 + 40, "fixed"),
        ("rollback", "release-key", t0 + 50, "latency up 20%"),
    ]
    assert history[0]["changes"]["variants"][1]["key"] == "friendly"
    assert history[1]["changes"] == {"traffic": 0.5}
    assert history[2]["changes"] == {"status": "running"}
    assert history[5]["changes"] == {"status": "rolled_back"}


def test_history_pages(editor: Api) -> None:
    create(editor)
    for i in range(5):
        ok(editor.patch("/api/v1/experiments/summary-tone", json={"description": f"d{i}"}))
    page = editor.get("/api/v1/experiments/summary-tone/history?offset=2&limit=2").get_json()
    assert [h["changes"] for h in page["history"]] == [{"description": "d1"}, {"description": "d2"}]


def test_history_of_an_unknown_experiment_is_404(editor: Api) -> None:
    assert editor.get("/api/v1/experiments/nothing-here/history").status_code == 404


def test_a_refused_change_leaves_no_history(editor: Api, release: Api) -> None:
    create(editor)
    assert act(release, "summary-tone", "pause").status_code == 409  # a draft cannot pause
    assert editor.patch("/api/v1/experiments/summary-tone", json={"traffic": 3}).status_code == 422
    history = editor.get("/api/v1/experiments/summary-tone/history").get_json()["history"]
    assert [h["action"] for h in history] == ["create"]


# --- concurrency --------------------------------------------------------------------------


def _in_threads(*work: Callable[[], Any]) -> list[Any]:
    """Run each callable in its own thread, released together; answer their results in order."""
    barrier = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)
    errors: list[BaseException] = []

    def run(index: int, task: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = task()
        except BaseException as exc:  # re-raised in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def test_two_concurrent_patch_streams_never_lose_a_change(app: Flask, admin: Api) -> None:
    create(admin)
    rounds = 25

    def patcher(field: str) -> Callable[[], list[int]]:
        def run() -> list[int]:
            api = Api(app.test_client(), ADMIN_KEY)
            path = "/api/v1/experiments/summary-tone"
            return [
                api.patch(path, json={field: f"{field}-{i}"}).status_code for i in range(rounds)
            ]

        return run

    descriptions, owners = _in_threads(patcher("description"), patcher("owner"))
    assert set(descriptions) == {200} and set(owners) == {200}
    final = admin.get("/api/v1/experiments/summary-tone").get_json()
    assert final["description"] == f"description-{rounds - 1}"
    assert final["owner"] == f"owner-{rounds - 1}"
    assert final["revision"] == 1 + 2 * rounds
    history = admin.get("/api/v1/experiments/summary-tone/history?limit=1000").get_json()["history"]
    changes = [h["changes"] for h in history[1:]]
    assert sorted(c.get("description", "") for c in changes if "description" in c) == sorted(
        f"description-{i}" for i in range(rounds)
    )
    assert len(changes) == 2 * rounds


def test_concurrent_transitions_apply_exactly_one(
    make_app: Callable[..., Flask], admin: Api
) -> None:
    """Two workers pausing and rolling back at once: one wins, the other sees the new state."""
    create(admin)
    ok(act(admin, "summary-tone", "start"))
    one, two = make_app(), make_app()
    first = Api(one.test_client(), ADMIN_KEY)
    second = Api(two.test_client(), ADMIN_KEY)
    conclude, rollback = _in_threads(
        lambda: act(first, "summary-tone", "conclude").status_code,
        lambda: act(second, "summary-tone", "rollback").status_code,
    )
    assert sorted([conclude, rollback]) == [200, 409]
    final = admin.get("/api/v1/experiments/summary-tone").get_json()
    assert final["status"] == ("concluded" if conclude == 200 else "rolled_back")
    actions = [h["action"] for h in admin.get("/api/v1/experiments/summary-tone/history")
               .get_json()["history"]]
    assert actions.count("conclude") + actions.count("rollback") == 1


def test_if_match_with_the_current_revision_applies(editor: Api) -> None:
    etag = editor.post("/api/v1/experiments", json=experiment_body()).headers["ETag"]
    response = editor.patch(
        "/api/v1/experiments/summary-tone", json={"traffic": 0.5}, headers={"If-Match": etag}
    )
    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'


def test_if_match_with_a_stale_revision_is_409(editor: Api, release: Api) -> None:
    stale = editor.post("/api/v1/experiments", json=experiment_body()).headers["ETag"]
    moved = release.patch("/api/v1/experiments/summary-tone", json={"traffic": 0.3})
    assert moved.status_code == 200
    response = editor.patch(
        "/api/v1/experiments/summary-tone", json={"traffic": 0.9}, headers={"If-Match": stale}
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "stale_revision"
    assert editor.get("/api/v1/experiments/summary-tone").get_json()["traffic"] == 0.3


@pytest.mark.parametrize(
    ("if_match", "status"),
    [('"1"', 200), ("1", 200), ('W/"1"', 200), ("*", 200), ('"2"', 409), ('"abc"', 409),
     ('"' + "9" * 40 + '"', 409), ('"²"', 409)],
)
def test_if_match_forms(editor: Api, if_match: str, status: int) -> None:
    create(editor)
    response = editor.patch(
        "/api/v1/experiments/summary-tone", json={"traffic": 0.5}, headers={"If-Match": if_match}
    )
    assert response.status_code == status, response.get_json()


def test_if_match_on_an_unknown_experiment_is_404(editor: Api) -> None:
    response = editor.patch(
        "/api/v1/experiments/nothing-here", json={"traffic": 0.5}, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 404


def test_if_match_is_atomic_under_concurrent_patches(app: Flask, admin: Api) -> None:
    """Many writers holding the same ETag: exactly one of them wins, every time."""
    for round_ in range(10):
        key = f"race-{round_}"
        etag = admin.post("/api/v1/experiments", json=experiment_body(key)).headers["ETag"]

        def writer(n: int, key: str = key, etag: str = etag) -> Callable[[], int]:
            def run() -> int:
                api = Api(app.test_client(), ADMIN_KEY)
                return int(
                    api.patch(
                        f"/api/v1/experiments/{key}",
                        json={"description": f"writer-{n}"},
                        headers={"If-Match": etag},
                    ).status_code
                )

            return run

        statuses = _in_threads(*(writer(n) for n in range(4)))
        assert sorted(statuses) == [200, 409, 409, 409], statuses
        assert admin.get(f"/api/v1/experiments/{key}").get_json()["revision"] == 2


# --- layers -------------------------------------------------------------------------------


def _ranges(api: Api, layer: str) -> list[tuple[float, float]]:
    listed = api.get(f"/api/v1/experiments?layer={layer}").get_json()["experiments"]
    return sorted(tuple(e["layer_range"]) for e in listed)


def _disjoint(ranges: list[tuple[float, float]]) -> bool:
    return all(a[1] <= b[0] for a, b in itertools.pairwise(ranges))


def test_experiments_of_a_layer_get_disjoint_ranges(editor: Api) -> None:
    for key in ("one", "two", "three"):
        create(editor, key, layer="summaries")
    create(editor, "elsewhere", layer="search")
    ranges = _ranges(editor, "summaries")
    assert len(ranges) == 3
    assert _disjoint(ranges)
    assert all(0.0 <= lo < hi <= 1.0 for lo, hi in ranges)
    assert editor.get("/api/v1/experiments/elsewhere").get_json()["layer_range"][0] == 0.0


def test_a_layer_share_is_honoured_until_the_layer_is_full(editor: Api) -> None:
    for key in ("one", "two", "three"):
        create(editor, key, layer="summaries", layer_share=0.3)
    ranges = _ranges(editor, "summaries")
    assert [round(hi - lo, 9) for lo, hi in ranges] == [0.3, 0.3, 0.3]
    assert _disjoint(ranges)
    full = editor.post("/api/v1/experiments",
                       json=experiment_body("four", layer="summaries", layer_share=0.3))
    assert full.status_code == 409
    assert full.get_json()["error"]["code"] == "layer_full"
    assert editor.get("/api/v1/experiments/four").status_code == 404


def test_an_ended_experiment_gives_its_range_back(editor: Api, release: Api) -> None:
    create(editor, "one", layer="summaries", layer_share=0.6)
    create(editor, "two", layer="summaries", layer_share=0.4)
    ok(act(release, "one", "start"))
    ok(act(release, "one", "conclude", winner="control"))
    created = create(editor, "three", layer="summaries", layer_share=0.6)
    assert created["layer_range"] == [0.0, 0.6]


def test_concurrent_claims_in_one_layer_stay_disjoint(app: Flask, editor: Api) -> None:
    def creator(key: str) -> Callable[[], int]:
        return lambda: Api(app.test_client(), editor.secret).post(
            "/api/v1/experiments", json=experiment_body(key, layer="summaries", layer_share=0.2)
        ).status_code

    statuses = _in_threads(*(creator(f"exp-{i}") for i in range(5)))
    assert statuses == [201] * 5
    ranges = _ranges(editor, "summaries")
    assert len(ranges) == 5 and _disjoint(ranges)


def test_moving_a_draft_to_another_layer_frees_its_old_range(editor: Api) -> None:
    create(editor, "one", layer="summaries", layer_share=1.0)
    moved = editor.patch("/api/v1/experiments/one", json={"layer": "search"})
    assert moved.status_code == 200, moved.get_json()
    assert (moved.get_json()["layer"], moved.get_json()["layer_range"]) == ("search", [0.0, 1.0])
    assert create(editor, "two", layer="summaries", layer_share=1.0)["layer_range"] == [0.0, 1.0]


def test_a_draft_may_change_its_share_within_its_layer(editor: Api) -> None:
    create(editor, "one", layer="summaries", layer_share=0.5)
    create(editor, "two", layer="summaries", layer_share=0.3)
    shrunk = editor.patch("/api/v1/experiments/one", json={"layer_share": 0.2})
    assert shrunk.status_code == 200, shrunk.get_json()
    assert shrunk.get_json()["layer_range"] == [0.0, 0.2]
    assert create(editor, "three", layer="summaries", layer_share=0.3)["layer_range"] == [0.2, 0.5]
    assert _disjoint(_ranges(editor, "summaries"))


def test_a_draft_may_leave_its_layer(editor: Api) -> None:
    create(editor, "one", layer="summaries", layer_share=1.0)
    left = editor.patch("/api/v1/experiments/one", json={"layer": None})
    assert left.status_code == 200, left.get_json()
    assert (left.get_json()["layer"], left.get_json()["layer_range"]) == (None, None)
    assert create(editor, "two", layer="summaries", layer_share=1.0)["layer_range"] == [0.0, 1.0]


def test_a_layer_move_into_a_full_layer_is_409_and_changes_nothing(editor: Api) -> None:
    create(editor, "one", layer="summaries", layer_share=0.5)
    create(editor, "big", layer="search", layer_share=1.0)
    refused = editor.patch("/api/v1/experiments/one", json={"layer": "search"})
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "layer_full"
    kept = editor.get("/api/v1/experiments/one").get_json()
    assert (kept["layer"], kept["layer_range"], kept["revision"]) == ("summaries", [0.0, 0.5], 1)
    grown = editor.patch("/api/v1/experiments/one", json={"layer_share": 0.9, "name": "N"})
    assert grown.status_code == 200
    assert create(editor, "three", layer="summaries", layer_share=0.1)["layer_range"][0] >= 0.9


def test_a_refused_layer_move_keeps_the_old_range(editor: Api) -> None:
    etag = editor.post(
        "/api/v1/experiments", json=experiment_body("one", layer="summaries", layer_share=0.5)
    ).headers["ETag"]
    ok(editor.patch("/api/v1/experiments/one", json={"description": "moved on"}))
    stale = editor.patch(
        "/api/v1/experiments/one", json={"layer_share": 0.8}, headers={"If-Match": etag}
    )
    assert stale.status_code == 409
    assert _ranges(editor, "summaries") == [(0.0, 0.5)]
    assert create(editor, "two", layer="summaries", layer_share=0.5)["layer_range"] == [0.5, 1.0]
