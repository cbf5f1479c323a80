"""Assignment through the API: deterministic, tracked once, honouring the lifecycle, targeting,
ramps and layers; the SDK configuration; exposures recorded by SDKs; freshness across workers."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask import Flask
from scipy.stats import chisquare

from experiments.model import Status
from experiments.store import Store, keys
from tests.api.conftest import Api, Clock, experiment_body, ok
from tests.conftest import ADMIN_KEY

USERS = [f"user-{i}" for i in range(600)]


def define(api: Api, key: str = "summary-tone", *, start: bool = True, **overrides: Any) -> None:
    created = api.post("/api/v1/experiments", json=experiment_body(key, **overrides))
    assert created.status_code == 201, created.get_json()
    if start:
        started = api.post(f"/api/v1/experiments/{key}/start", json={})
        assert started.status_code == 200, started.get_json()


def assign(api: Api, user: str, experiments: list[str] | None = None, **body: Any) -> Any:
    payload: dict[str, Any] = {"user_id": user, **body}
    if experiments is not None:
        payload["experiments"] = experiments
    response = api.post("/api/v1/assign", json=payload)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def answer(api: Api, user: str, key: str = "summary-tone", **body: Any) -> dict[str, Any]:
    found: dict[str, Any] = assign(api, user, [key], **body)["assignments"][key]
    return found


def variants_of(api: Api, users: list[str], key: str = "summary-tone") -> dict[str, str]:
    return {u: answer(api, u, key, track=False)["variant"] for u in users}


def test_the_answer_has_the_contract_shape(admin: Api, sdk: Api) -> None:
    define(admin)
    body = assign(sdk, "u1", ["summary-tone"], attributes={"country": "DE"})
    assert body["user_id"] == "u1"
    assert set(body["assignments"]) == {"summary-tone"}
    one = body["assignments"]["summary-tone"]
    assert one["variant"] in {"control", "friendly"}
    assert one["in_experiment"] is True
    assert one["reason"] == "assigned"
    assert one["config"] == {"tone": "neutral" if one["variant"] == "control" else "friendly"}
    assert one["prompt"] is None


def test_assignment_is_deterministic_across_calls_and_replicas(
    make_app: Callable[..., Flask], admin: Api
) -> None:
    define(admin)
    replica_a, replica_b = make_app(), make_app()
    secret = admin.post("/api/v1/keys", json={"name": "app", "role": "sdk"}).get_json()["secret"]
    on_a = Api(replica_a.test_client(), secret)
    on_b = Api(replica_b.test_client(), secret)
    users = USERS[:150]
    first = variants_of(on_a, users)
    assert variants_of(on_a, users) == first
    assert variants_of(on_b, users) == first
    assert set(first.values()) == {"control", "friendly"}


def test_weights_are_honoured(admin: Api, sdk: Api) -> None:
    define(
        admin,
        variants=[
            {"key": "control", "weight": 0.2},
            {"key": "b", "weight": 0.3},
            {"key": "c", "weight": 0.5},
        ],
    )
    counts = Counter(variants_of(sdk, USERS).values())
    observed = [counts["control"], counts["b"], counts["c"]]
    expected = [0.2 * len(USERS), 0.3 * len(USERS), 0.5 * len(USERS)]
    assert chisquare(observed, expected).pvalue > 0.001, observed


def test_track_records_the_first_exposure_once(
    admin: Api, sdk: Api, store: Store, clock: Clock, raw_redis: redis.Redis
) -> None:
    define(admin)
    first = answer(sdk, "u1")
    clock.advance(100)
    again = answer(sdk, "u1")
    assert again == first
    index = ["control", "friendly"].index(first["variant"])
    raw = raw_redis.hget(keys.exposures("summary-tone"), "u1")
    assert raw == f"{index}:{int(clock.now - 100)}"  # the first time, not the second
    assert store.exposures.variant_of("summary-tone", "u1") == index
    stats = raw_redis.hgetall(keys.sufficient_stats("summary-tone"))
    assert stats == {f"users:{index}": "1"}


def test_track_false_writes_nothing(
    admin: Api, sdk: Api, store: Store, raw_redis: redis.Redis
) -> None:
    define(admin)
    assert answer(sdk, "u1", track=False)["in_experiment"] is True
    assert not raw_redis.exists(keys.exposures("summary-tone"))
    assert not raw_redis.exists(keys.sufficient_stats("summary-tone"))


def test_the_recorded_variant_stands_for_the_user(
    admin: Api, sdk: Api, store: Store, raw_redis: redis.Redis
) -> None:
    """The first exposure is the user's variant from then on, even if a computation would differ."""
    define(admin)
    computed = answer(sdk, "u1", track=False)["variant"]
    other = "friendly" if computed == "control" else "control"
    index = ["control", "friendly"].index(other)
    raw_redis.hset(keys.exposures("summary-tone"), "u1", f"{index}:1")
    tracked = answer(sdk, "u1")
    assert tracked["variant"] == other
    assert tracked["config"] == {"tone": "neutral" if other == "control" else "friendly"}


@pytest.mark.parametrize(
    ("action", "body", "variant", "reason"),
    [
        ("rollback", {"reason": "bad"}, "control", "rolled_back"),
        ("conclude", {"winner": "friendly"}, "friendly", "concluded"),
        ("pause", {}, "control", "paused"),
    ],
)
def test_an_operated_experiment_gives_everyone_one_variant_untracked(
    admin: Api,
    sdk: Api,
    store: Store,
    action: str,
    body: dict[str, Any],
    variant: str,
    reason: str,
    raw_redis: redis.Redis,
) -> None:
    define(admin)
    assert admin.post(f"/api/v1/experiments/summary-tone/{action}", json=body).status_code == 200
    answers = [answer(sdk, u) for u in USERS[:200]]
    assert {(a["variant"], a["in_experiment"], a["reason"]) for a in answers} == {
        (variant, False, reason)
    }
    assert not raw_redis.exists(keys.exposures("summary-tone"))


def test_a_draft_gives_control_untracked(
    admin: Api, sdk: Api, store: Store, raw_redis: redis.Redis
) -> None:
    define(admin, start=False)
    one = answer(sdk, "u1")
    assert (one["variant"], one["in_experiment"]) == ("control", False)
    assert one["reason"] == "not_running"
    assert not raw_redis.exists(keys.exposures("summary-tone"))


def test_resuming_brings_every_user_back_to_their_variant(admin: Api, sdk: Api) -> None:
    define(admin)
    before = variants_of(sdk, USERS[:200])
    ok(admin.post("/api/v1/experiments/summary-tone/pause", json={}))
    ok(admin.post("/api/v1/experiments/summary-tone/resume", json={}))
    assert variants_of(sdk, USERS[:200]) == before


def test_a_ramp_only_adds_users_and_never_moves_one(admin: Api, sdk: Api) -> None:
    define(admin, traffic=0.1)
    users = USERS[:400]
    previous: dict[str, str] = {}
    for traffic in (0.1, 0.3, 0.6, 1.0):
        patched = admin.patch("/api/v1/experiments/summary-tone", json={"traffic": traffic})
        assert patched.status_code == 200
        now_in = {}
        for user in users:
            one = answer(sdk, user, track=False)
            if one["in_experiment"]:
                now_in[user] = one["variant"]
        assert set(previous) <= set(now_in)
        assert all(now_in[u] == v for u, v in previous.items())
        assert abs(len(now_in) - traffic * len(users)) < 0.06 * len(users), (traffic, len(now_in))
        previous = now_in
    assert len(previous) == len(users)


def test_lowering_traffic_only_takes_users_out(admin: Api, sdk: Api) -> None:
    define(admin)
    full = variants_of(sdk, USERS[:300])
    lowered = ok(admin.patch("/api/v1/experiments/summary-tone", json={"traffic": 0.3}))
    assert lowered.get_json()["traffic"] == 0.3
    left = 0
    for user in USERS[:300]:
        one = answer(sdk, user, track=False)
        if one["in_experiment"]:
            assert one["variant"] == full[user]
        else:
            assert (one["variant"], one["reason"]) == ("control", "traffic")
            left += 1
    assert 150 < left < 270  # about 70% of the 300 users left; the others kept their variant


def test_users_outside_the_targeting_get_control_untracked(
    admin: Api, sdk: Api, store: Store, raw_redis: redis.Redis
) -> None:
    define(admin, targeting={"country": {"in": ["DE", "FR"]}, "age": {"gte": 18}})
    outside = [
        {"country": "US", "age": 30},
        {"country": "DE", "age": 17},
        {"country": "DE"},
        {},
    ]
    for index, attributes in enumerate(outside):
        one = answer(sdk, f"out-{index}", attributes=attributes)
        assert (one["variant"], one["in_experiment"], one["reason"]) == (
            "control",
            False,
            "targeting",
        )
    assert not raw_redis.exists(keys.exposures("summary-tone"))
    inside = [answer(sdk, u, attributes={"country": "FR", "age": 40}) for u in USERS[:50]]
    assert all(a["in_experiment"] for a in inside)
    assert raw_redis.hlen(keys.exposures("summary-tone")) == 50


def test_experiments_of_a_layer_never_share_an_included_user(admin: Api, sdk: Api) -> None:
    for key in ("tone", "length", "format"):
        define(admin, key, layer="summaries", layer_share=0.3)
    define(admin, "unlayered")
    included: dict[str, set[str]] = {"tone": set(), "length": set(), "format": set()}
    for user in USERS:
        answers = assign(sdk, user, track=False)["assignments"]
        assert answers["unlayered"]["in_experiment"] is True
        for key in included:
            if answers[key]["in_experiment"]:
                included[key].add(user)
            else:
                assert answers[key]["reason"] == "layer"
    sets = list(included.values())
    assert all(not (a & b) for i, a in enumerate(sets) for b in sets[i + 1 :])
    for members in sets:
        assert 0.22 * len(USERS) < len(members) < 0.38 * len(USERS)


def test_leaving_experiments_out_assigns_every_running_one(admin: Api, sdk: Api) -> None:
    define(admin, "running-a")
    define(admin, "running-b")
    define(admin, "draft", start=False)
    define(admin, "paused")
    ok(admin.post("/api/v1/experiments/paused/pause", json={}))
    define(admin, "ended")
    ok(admin.post("/api/v1/experiments/ended/rollback", json={"reason": "r"}))
    assert set(assign(sdk, "u1")["assignments"]) == {"running-a", "running-b"}


def test_no_running_experiment_gives_an_empty_answer(sdk: Api) -> None:
    assert assign(sdk, "u1") == {"user_id": "u1", "assignments": {}}


def test_an_explicit_list_may_name_experiments_in_any_state(admin: Api, sdk: Api) -> None:
    define(admin, "running")
    define(admin, "draft", start=False)
    body = assign(sdk, "u1", ["draft", "running", "draft"])
    assert list(body["assignments"]) == ["draft", "running"]


def test_an_unknown_experiment_is_404_naming_it(
    admin: Api, sdk: Api, store: Store, raw_redis: redis.Redis
) -> None:
    define(admin)
    response = sdk.post(
        "/api/v1/assign", json={"user_id": "u1", "experiments": ["summary-tone", "ghost"]}
    )
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["code"] == "not_found"
    assert "ghost" in error["message"]
    assert not raw_redis.exists(keys.exposures("summary-tone"))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "user_id"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": "u" * 257}, "user_id"),
        ({"user_id": 42}, "user_id"),
        ({"user_id": "u1", "experiments": ["Not A Key"]}, "experiments.0"),
        ({"user_id": "u1", "attributes": ["country"]}, "attributes"),
        ({"user_id": "u1", "track": "sometimes"}, "track"),
        ({"user_id": "u1", "user": "typo"}, "user"),
    ],
)
def test_a_bad_assign_request_is_422(sdk: Api, body: dict[str, Any], field: str) -> None:
    response = sdk.post("/api/v1/assign", json=body)
    assert response.status_code == 422
    assert [d["field"] for d in response.get_json()["error"]["details"]] == [field]


# --- SDK configuration --------------------------------------------------------------------


def test_the_sdk_config_has_an_etag_and_answers_304_while_unchanged(admin: Api, sdk: Api) -> None:
    define(admin)
    first = sdk.get("/api/v1/sdk/config")
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    document = first.get_json()
    [experiment] = document["experiments"]
    assert experiment["key"] == "summary-tone"
    assert experiment["seed"] and experiment["status"] == "running"
    assert [v["key"] for v in experiment["variants"]] == ["control", "friendly"]
    unchanged = sdk.get("/api/v1/sdk/config", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.get_data() == b""
    assert unchanged.headers["ETag"] == etag
    among = sdk.get("/api/v1/sdk/config", headers={"If-None-Match": f'"other", {etag}'})
    assert among.status_code == 304
    weak = sdk.get("/api/v1/sdk/config", headers={"If-None-Match": f"W/{etag}"})
    assert weak.status_code == 304
    assert sdk.get("/api/v1/sdk/config", headers={"If-None-Match": '"other"'}).status_code == 200


def test_the_sdk_config_changes_after_a_patch(admin: Api, sdk: Api) -> None:
    define(admin)
    etag = sdk.get("/api/v1/sdk/config").headers["ETag"]
    ok(admin.patch("/api/v1/experiments/summary-tone", json={"traffic": 0.4}))
    changed = sdk.get("/api/v1/sdk/config", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert changed.get_json()["experiments"][0]["traffic"] == 0.4


def test_the_sdk_config_leaves_drafts_out(admin: Api, sdk: Api) -> None:
    define(admin, "draft", start=False)
    define(admin, "live")
    assert [e["key"] for e in sdk.get("/api/v1/sdk/config").get_json()["experiments"]] == ["live"]


# --- exposures ----------------------------------------------------------------------------


def _own_variant(sdk: Api, user: str, key: str = "summary-tone", **body: Any) -> str:
    return str(answer(sdk, user, key, track=False, **body)["variant"])


def test_exposures_accept_good_items_beside_bad_ones(admin: Api, sdk: Api, store: Store) -> None:
    define(admin)
    define(admin, "targeted", targeting={"country": "DE"})
    mine = _own_variant(sdk, "u1")
    wrong = "friendly" if mine == "control" else "control"
    targeted = _own_variant(sdk, "u3", "targeted", attributes={"country": "DE"})
    response = sdk.post(
        "/api/v1/exposures",
        json={
            "exposures": [
                {"user_id": "u1", "experiment": "summary-tone", "variant": mine},
                {"user_id": "u1", "experiment": "summary-tone", "variant": mine},
                {"user_id": "u2", "experiment": "summary-tone", "variant": "nonexistent"},
                {"user_id": "u1", "experiment": "summary-tone", "variant": wrong},
                {"experiment": "summary-tone", "variant": mine},
                {"user_id": "u1", "experiment": "ghost", "variant": "control"},
                {"user_id": "u3", "experiment": "targeted", "variant": "control"},
                {
                    "user_id": "u3",
                    "experiment": "targeted",
                    "variant": targeted,
                    "attributes": {"country": "DE"},
                },
                "not an object",
            ]
        },
    )
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert (body["accepted"], body["duplicates"]) == (2, 1)
    codes = {r["index"]: r["code"] for r in body["rejected"]}
    assert codes == {
        2: "variant_mismatch",
        3: "variant_mismatch",
        4: "invalid",
        5: "unknown_experiment",
        6: "variant_mismatch",
        8: "invalid",
    }
    assert "user_id" in next(r["message"] for r in body["rejected"] if r["index"] == 4)
    assert store.exposures.variant_of("summary-tone", "u1") == ["control", "friendly"].index(mine)
    assert store.exposures.variant_of("summary-tone", "u2") is None
    assert store.exposures.variant_of("targeted", "u3") is not None


def test_an_exposure_recorded_by_an_sdk_counts_as_the_first(admin: Api, sdk: Api) -> None:
    define(admin)
    mine = _own_variant(sdk, "u1")
    posted = sdk.post(
        "/api/v1/exposures",
        json={"exposures": [{"user_id": "u1", "experiment": "summary-tone", "variant": mine}]},
    )
    assert posted.get_json()["accepted"] == 1
    again = sdk.post(
        "/api/v1/exposures",
        json={"exposures": [{"user_id": "u1", "experiment": "summary-tone", "variant": mine}]},
    )
    assert (again.get_json()["accepted"], again.get_json()["duplicates"]) == (0, 1)


def test_an_exposure_to_a_stopped_experiment_is_a_mismatch(admin: Api, sdk: Api) -> None:
    define(admin)
    ok(admin.post("/api/v1/experiments/summary-tone/rollback", json={"reason": "r"}))
    response = sdk.post(
        "/api/v1/exposures",
        json={"exposures": [{"user_id": "u1", "experiment": "summary-tone", "variant": "control"}]},
    )
    assert [r["code"] for r in response.get_json()["rejected"]] == ["variant_mismatch"]


def test_a_thousand_exposures_are_accepted_and_more_are_refused(admin: Api, sdk: Api) -> None:
    define(admin, variants=[{"key": "control", "weight": 1.0}, {"key": "friendly", "weight": 0.0}])
    batch = [
        {"user_id": f"user-{i}", "experiment": "summary-tone", "variant": "control"}
        for i in range(1000)
    ]
    accepted = sdk.post("/api/v1/exposures", json={"exposures": batch})
    assert accepted.status_code == 202
    assert accepted.get_json()["accepted"] == 1000
    too_many = sdk.post("/api/v1/exposures", json={"exposures": [*batch, batch[0]]})
    assert too_many.status_code in (413, 422)
    assert too_many.get_json()["error"]["details"][0]["field"] == "exposures"


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "exposures"), ({"exposures": {}}, "exposures"), ({"exposures": [], "x": 1}, "x")],
)
def test_a_bad_exposures_request_is_422(sdk: Api, body: dict[str, Any], field: str) -> None:
    response = sdk.post("/api/v1/exposures", json=body)
    assert response.status_code == 422
    assert [d["field"] for d in response.get_json()["error"]["details"]] == [field]


# --- freshness across workers ------------------------------------------------------------


def _eventually(check: Callable[[], bool], within_s: float) -> float:
    """Seconds until `check` held, or fail after `within_s`."""
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        if check():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"not seen within {within_s} s")


def test_a_change_through_one_worker_reaches_another_within_a_second(
    make_app: Callable[..., Flask],
) -> None:
    writer, reader = make_app(), make_app()
    admin = Api(writer.test_client(), ADMIN_KEY)
    define(admin)
    secret = admin.post("/api/v1/keys", json={"name": "app", "role": "sdk"}).get_json()["secret"]
    elsewhere = Api(reader.test_client(), secret)
    assert answer(elsewhere, "u1", track=False)["in_experiment"] is True  # cached by the reader
    ok(admin.post("/api/v1/experiments/summary-tone/rollback", json={"reason": "r"}))
    _eventually(lambda: answer(elsewhere, "u1", track=False)["reason"] == "rolled_back", 1.0)
    ok(admin.patch("/api/v1/experiments/summary-tone", json={"name": "Renamed"}))
    etag_before = elsewhere.get("/api/v1/sdk/config").headers["ETag"]
    define(admin, "second")
    _eventually(lambda: elsewhere.get("/api/v1/sdk/config").headers["ETag"] != etag_before, 1.0)


def test_the_config_watcher_catches_up_without_pubsub(
    make_app: Callable[..., Flask], store: Store, raw_redis: redis.Redis
) -> None:
    """A change whose message is lost (only the version moved) is seen at the next poll."""
    reader = make_app()
    admin = Api(reader.test_client(), ADMIN_KEY)
    define(admin)
    sdk = Api(
        reader.test_client(),
        admin.post("/api/v1/keys", json={"name": "app", "role": "sdk"}).get_json()["secret"],
    )
    assert answer(sdk, "u1", track=False)["in_experiment"] is True
    experiment = store.experiments.get("summary-tone")
    paused = experiment.model_copy(
        update={"status": Status.PAUSED, "revision": experiment.revision + 1}
    )
    raw_redis.set(keys.experiment("summary-tone"), paused.model_dump_json())
    raw_redis.incr(keys.CONFIG_VERSION)  # no PUBLISH
    _eventually(lambda: answer(sdk, "u1", track=False)["reason"] == "paused", 1.5)


def test_the_sdk_config_etag_stays_when_only_unrelated_state_changes(
    admin: Api, editor: Api, release: Api, sdk: Api
) -> None:
    ok(editor.post("/api/v1/experiments", json=experiment_body()))
    ok(release.post("/api/v1/experiments/summary-tone/start", json={}))
    etag = sdk.get("/api/v1/sdk/config").headers["ETag"]
    ok(admin.post("/api/v1/keys", json={"name": "another-app", "role": "sdk"}))
    ok(editor.post("/api/v1/experiments", json=experiment_body("a-draft")))
    again = sdk.get("/api/v1/sdk/config", headers={"If-None-Match": etag})
    assert again.status_code == 304
    ok(release.post("/api/v1/experiments/summary-tone/pause", json={}))
    assert sdk.get("/api/v1/sdk/config", headers={"If-None-Match": etag}).status_code == 200


def test_the_sdk_config_carries_the_content_of_labelled_prompt_versions(
    editor: Api, sdk: Api
) -> None:
    for template in ("Summarize: {{ text }}", "Summarize warmly: {{ text }}"):
        created = editor.post("/api/v1/prompts/summarize/versions", json={"template": template})
        assert created.status_code == 201
    assert (
        editor.put("/api/v1/prompts/summarize/labels/production", json={"version": 2}).status_code
        == 200
    )
    entry = sdk.get("/api/v1/sdk/config").get_json()["prompts"]["summarize"]
    assert entry["labels"] == {"production": 2}
    assert entry["versions"]["2"]["template"] == "Summarize warmly: {{ text }}"
    assert set(entry["versions"]) == {"2"}
