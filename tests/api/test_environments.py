"""Environments as a resource, keys of an environment, promotion, and each environment's own SDK
document, settings and controller round (issue 18)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from experiments.store import Store
from rollout.controller.runner import Runner
from rollout.settings import Settings
from tests.api.conftest import Api, experiment_body, ok
from tests.conftest import ADMIN_KEY

ENVS = "/api/v1/environments"
EXP = "/api/v1/experiments"
PROMPTS = "/api/v1/prompts"


def in_env(name: str) -> dict[str, str]:
    return {"X-Rollout-Environment": name}


def key_of(admin: Api, role: str, environment: str | None, name: str | None = None) -> Api:
    """A key of `environment` (None: every environment), checked to be what was asked."""
    created = admin.post(
        "/api/v1/keys",
        json={"name": name or f"{role}-{environment or 'all'}", "role": role,
              "environment": environment},
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["environment"] == environment
    return Api(admin.client, created.get_json()["secret"])


def error_of(response: Any) -> str:
    code: str = response.get_json()["error"]["code"]
    return code


def define_and_start(admin: Api, environment: str, key: str = "summary-tone") -> None:
    ok(admin.post(EXP, json=experiment_body(key), headers=in_env(environment)))
    ok(admin.post(f"{EXP}/{key}/start", json={}, headers=in_env(environment)))


# --- the resource --------------------------------------------------------------------------------


def test_the_three_defaults_exist_from_the_start(admin: Api) -> None:
    listed = ok(admin.get(ENVS)).get_json()["environments"]

    assert [e["name"] for e in listed] == ["development", "production", "staging"]
    settings = {e["name"]: e["settings"]["review_required"] for e in listed}
    assert settings == {"development": False, "production": None, "staging": False}
    assert not any(e["archived"] for e in listed)


def test_an_admin_creates_renames_and_archives_an_environment(admin: Api) -> None:
    created = admin.post(ENVS, json={"name": "qa", "display_name": "QA"})
    assert created.status_code == 201
    assert admin.post(ENVS, json={"name": "qa"}).status_code == 409

    renamed = ok(admin.patch(f"{ENVS}/qa", json={"display_name": "Quality"})).get_json()
    ok(admin.post(EXP, json=experiment_body(), headers=in_env("qa")))
    ok(admin.patch(f"{ENVS}/qa", json={"archived": True}))
    refused = admin.get(EXP, headers=in_env("qa"))

    assert renamed["display_name"] == "Quality"
    assert refused.status_code == 404
    assert error_of(refused) == "environment_not_found"
    ok(admin.patch(f"{ENVS}/qa", json={"archived": False}))
    kept = ok(admin.get(EXP, headers=in_env("qa"))).get_json()
    assert [e["key"] for e in kept["experiments"]] == ["summary-tone"]  # archiving kept it


def test_a_default_environment_cannot_be_archived(admin: Api) -> None:
    refused = admin.patch(f"{ENVS}/production", json={"archived": True})

    assert refused.status_code == 409
    assert error_of(refused) == "default_environment"


def test_an_unknown_environment_is_404(admin: Api) -> None:
    refused = admin.get(EXP, query_string={"environment": "nowhere"})

    assert refused.status_code == 404
    assert error_of(refused) == "environment_not_found"


def test_an_admin_key_of_one_environment_creates_no_environment_and_no_key_elsewhere(
    admin: Api,
) -> None:
    staging_admin = key_of(admin, "admin", "staging")

    environment = staging_admin.post(ENVS, json={"name": "qa"})
    elsewhere = staging_admin.post(
        "/api/v1/keys", json={"name": "x", "role": "sdk", "environment": "production"}
    )
    own = staging_admin.post("/api/v1/keys", json={"name": "y", "role": "sdk"})
    listed = ok(staging_admin.get("/api/v1/keys")).get_json()["keys"]

    assert environment.status_code == 403 and error_of(environment) == "wrong_environment"
    assert elsewhere.status_code == 403 and error_of(elsewhere) == "wrong_environment"
    assert own.status_code == 201 and own.get_json()["environment"] == "staging"
    assert {k["environment"] for k in listed} == {"staging"}


# --- keys ----------------------------------------------------------------------------------------


def test_a_key_belongs_to_production_unless_told_and_an_admin_key_to_every_environment(
    admin: Api,
) -> None:
    sdk = ok(admin.post("/api/v1/keys", json={"name": "app", "role": "sdk"})).get_json()
    root = ok(admin.post("/api/v1/keys", json={"name": "ops", "role": "admin"})).get_json()
    unknown = admin.post(
        "/api/v1/keys", json={"name": "z", "role": "sdk", "environment": "nowhere"}
    )

    assert sdk["environment"] == "production"
    assert root["environment"] is None
    assert unknown.status_code == 422


def test_a_key_of_one_environment_naming_another_is_403(admin: Api) -> None:
    staging_sdk = key_of(admin, "sdk", "staging")

    by_header = staging_sdk.get("/api/v1/sdk/config", headers=in_env("production"))
    by_query = staging_sdk.get("/api/v1/sdk/config", query_string={"environment": "production"})
    own = staging_sdk.get("/api/v1/sdk/config", headers=in_env("staging"))

    assert by_header.status_code == 403 and error_of(by_header) == "wrong_environment"
    assert by_query.status_code == 403 and error_of(by_query) == "wrong_environment"
    assert own.status_code == 200


# --- the SDK document ----------------------------------------------------------------------------


def test_each_sdk_document_carries_its_environment_only(admin: Api) -> None:
    for template in ("Live: {{ text }}", "Tried: {{ text }}", "Draft: {{ text }}"):
        ok(admin.post(f"{PROMPTS}/summarize/versions", json={"template": template}))
    ok(admin.put(f"{PROMPTS}/summarize/labels/production", json={"version": 1}))
    ok(admin.put(f"{PROMPTS}/summarize/labels/staging", json={"version": 2}))
    ok(admin.put(f"{PROMPTS}/summarize/labels/development", json={"version": 3}))
    define_and_start(admin, "production", "live-one")
    define_and_start(admin, "staging", "tried-one")

    documents = {
        env: ok(key_of(admin, "sdk", env).get("/api/v1/sdk/config")).get_json()
        for env in ("production", "staging")
    }

    for env, other, version, experiment in (
        ("production", "staging", 1, "live-one"),
        ("staging", "production", 2, "tried-one"),
    ):
        document = documents[env]
        assert document["environment"] == env
        assert [e["key"] for e in document["experiments"]] == [experiment]
        prompt = document["prompts"]["summarize"]
        assert prompt["labels"] == {env: version}
        assert set(prompt["versions"]) == {str(version)}
        assert other not in str(prompt)


def test_resolving_a_prompt_defaults_to_the_label_of_the_keys_environment(admin: Api) -> None:
    for template in ("Live: {{ text }}", "Tried: {{ text }}"):
        ok(admin.post(f"{PROMPTS}/summarize/versions", json={"template": template}))
    ok(admin.put(f"{PROMPTS}/summarize/labels/production", json={"version": 1}))
    ok(admin.put(f"{PROMPTS}/summarize/labels/staging", json={"version": 2}))
    staging_sdk = key_of(admin, "sdk", "staging")

    resolved = ok(staging_sdk.get(f"{PROMPTS}/summarize/resolve")).get_json()
    other = staging_sdk.get(f"{PROMPTS}/summarize/resolve", query_string={"label": "production"})

    assert (resolved["label"], resolved["version"]) == ("staging", 2)
    assert other.status_code == 403 and error_of(other) == "wrong_environment"


# --- promotion -----------------------------------------------------------------------------------


def test_an_experiment_tried_in_staging_is_promoted_to_production_as_a_draft(admin: Api) -> None:
    define_and_start(admin, "staging")
    staging_sdk = key_of(admin, "sdk", "staging")
    ok(staging_sdk.post("/api/v1/assign", json={"user_id": "u1"}))

    promoted = admin.post(
        f"{EXP}/summary-tone/promote", json={"from": "staging", "to": "production"}
    )

    assert promoted.status_code == 201, promoted.get_json()
    draft = promoted.get_json()
    assert (draft["environment"], draft["status"]) == ("production", "draft")
    tried = ok(admin.get(f"{EXP}/summary-tone", headers=in_env("staging"))).get_json()
    design = ("variants", "control", "traffic", "metrics", "targeting", "layer", "rollout")
    assert {f: draft[f] for f in design} == {f: tried[f] for f in design}
    assert tried["status"] == "running"
    results = ok(admin.get(f"{EXP}/summary-tone/results")).get_json()
    assert sum(v["users"] for v in results["variants"].values()) == 0
    production_history = ok(admin.get(f"{EXP}/summary-tone/history")).get_json()["history"]
    staging_history = ok(
        admin.get(f"{EXP}/summary-tone/history", headers=in_env("staging"))
    ).get_json()["history"]
    assert production_history[-1]["action"] == "promoted"
    assert production_history[-1]["changes"]["from"] == "staging"
    assert staging_history[-1]["action"] == "promote"
    assert staging_history[-1]["changes"]["to"] == "production"


def test_promotion_replaces_a_draft_and_refuses_anything_else(admin: Api) -> None:
    ok(admin.post(EXP, json=experiment_body(name="Old draft")))
    ok(admin.post(EXP, json=experiment_body(name="Tried"), headers=in_env("staging")))
    body = {"from": "staging", "to": "production"}

    replaced = admin.post(f"{EXP}/summary-tone/promote", json=body)
    ok(admin.post(f"{EXP}/summary-tone/start", json={}))
    refused = admin.post(f"{EXP}/summary-tone/promote", json=body)

    assert replaced.status_code == 201
    assert replaced.get_json()["name"] == "Tried"
    assert refused.status_code == 409
    assert ok(admin.get(f"{EXP}/summary-tone")).get_json()["status"] == "running"


def test_promotion_needs_a_key_of_both_environments(admin: Api) -> None:
    ok(admin.post(EXP, json=experiment_body(), headers=in_env("staging")))
    staging_release = key_of(admin, "release", "staging")
    everywhere_release = key_of(admin, "release", None)
    body = {"from": "staging", "to": "production"}

    refused = staging_release.post(f"{EXP}/summary-tone/promote", json=body)
    allowed = everywhere_release.post(f"{EXP}/summary-tone/promote", json=body)

    assert refused.status_code == 403 and error_of(refused) == "wrong_environment"
    assert allowed.status_code == 201


def test_a_promoted_prompt_moves_the_targets_label_through_its_review(
    make_app: Callable[..., Flask],
) -> None:
    admin = Api(make_app(require_review=True).test_client(), ADMIN_KEY)
    for template in ("Live: {{ text }}", "Tried: {{ text }}"):
        ok(admin.post(f"{PROMPTS}/summarize/versions", json={"template": template}))
    ok(admin.put(f"{PROMPTS}/summarize/labels/staging", json={"version": 2}))
    body = {"from": "staging", "to": "production"}

    to_production = admin.post(f"{PROMPTS}/summarize/promote", json=body)
    to_development = admin.post(
        f"{PROMPTS}/summarize/promote", json={"from": "staging", "to": "development"}
    )

    assert to_production.status_code == 202  # production follows ROLLOUT_REQUIRE_REVIEW
    assert to_production.get_json()["pending"]["version"] == 2
    assert to_development.status_code == 200  # development has no review
    labels = ok(admin.get(f"{PROMPTS}/summarize")).get_json()["labels"]
    assert labels == {"staging": 2, "development": 2}


# --- per-environment settings and the controller -------------------------------------------------


def test_review_is_an_environments_setting(admin: Api) -> None:
    ok(admin.patch(f"{ENVS}/staging", json={"settings": {"review_required": True}}))
    ok(admin.post(EXP, json=experiment_body(), headers=in_env("staging")))
    ok(admin.post(EXP, json=experiment_body()))

    in_staging = admin.post(f"{EXP}/summary-tone/start", json={}, headers=in_env("staging"))
    in_production = admin.post(f"{EXP}/summary-tone/start", json={})

    assert in_staging.status_code == 202
    assert in_production.status_code == 200


def test_the_rate_limit_is_an_environments_setting(admin: Api) -> None:
    ok(admin.patch(f"{ENVS}/staging", json={"settings": {"rate_limit_per_s": 2}}))
    staging_sdk = key_of(admin, "sdk", "staging")
    production_sdk = key_of(admin, "sdk", "production")

    staged = [staging_sdk.get("/api/v1/sdk/config").status_code for _ in range(3)]
    produced = [production_sdk.get("/api/v1/sdk/config").status_code for _ in range(3)]

    assert staged == [200, 200, 429]
    assert produced == [200, 200, 200]


def test_the_controller_evaluates_every_environments_experiments(
    admin: Api, redis_url: str
) -> None:
    define_and_start(admin, "staging", "tried-one")
    define_and_start(admin, "production", "live-one")
    ok(admin.post(EXP, json=experiment_body("archived-one"), headers=in_env("development")))
    store = Store.from_url(redis_url)
    try:
        evaluations = Runner(store, Settings.from_env({})).tick()
    finally:
        store.close()

    assert sorted(e.experiment.key for e in evaluations) == ["live-one", "tried-one"]
    timeline = ok(admin.get(f"{EXP}/tried-one/timeline", headers=in_env("staging"))).get_json()
    assert timeline["environment"] == "staging" and len(timeline["entries"]) == 1
    assert ok(admin.get(f"{EXP}/live-one/timeline")).get_json()["entries"] != []


# --- the API's description -----------------------------------------------------------------------


def test_every_keyed_operation_documents_how_its_environment_is_named(admin: Api) -> None:
    document = ok(admin.get("/openapi.json")).get_json()

    keyed = [
        (path, operation)
        for path, methods in document["paths"].items()
        for operation in methods.values()
        if operation.get("security")
    ]

    assert {"/api/v1/environments", "/api/v1/environments/{name}",
            "/api/v1/experiments/{key}/promote", "/api/v1/prompts/{prompt}/promote"} <= set(
        document["paths"]
    )
    for path, operation in keyed:
        where = {(p["in"], p["name"]) for p in operation["parameters"]}
        assert {("header", "X-Rollout-Environment"), ("query", "environment")} <= where, path
        assert "404" in operation["responses"], path
