"""A store written by the previous version (main at b8315e8, before environments), read after.

The old code itself writes the data: `git archive` of that commit, run in a subprocess against
the session's redis-server through its own Flask app (keys, prompts, labels, an experiment
started, assigned and measured). The new service then starts on the same Redis: its migration
runs, and everything reads back in production; nothing old is lost; a second run changes nothing.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from experiments.store import Store, keys
from experiments.store.migrations import SCHEMA_VERSION, migrate, schema_version
from rollout.app import create_app
from rollout.settings import Settings
from tests.conftest import ADMIN_KEY

PREVIOUS_VERSION = "b8315e8"
REPOSITORY = Path(__file__).resolve().parents[2]

WRITE_WITH_THE_OLD_CODE = r"""
import json, sys
from rollout.app import create_app
from rollout.settings import Settings

settings = Settings.from_env({"REDIS_URL": sys.argv[1], "ROLLOUT_ADMIN_KEY": sys.argv[2]})
client = create_app(settings).test_client()
admin = {"Authorization": "Bearer " + sys.argv[2]}

def call(method, path, body=None, headers=admin):
    response = client.open(path, method=method, json=body, headers=headers)
    assert response.status_code < 300, (path, response.status_code, response.get_json())
    return response.get_json()

secrets = {role: call("POST", "/api/v1/keys", {"name": role + "-old", "role": role})["secret"]
           for role in ("sdk", "editor", "release", "admin")}
editor = {"Authorization": "Bearer " + secrets["editor"]}
release = {"Authorization": "Bearer " + secrets["release"]}
sdk = {"Authorization": "Bearer " + secrets["sdk"]}
for template in ("Summarize: {{ text }}", "Summarize kindly: {{ text }}"):
    call("POST", "/api/v1/prompts/summarize/versions",
         {"template": template, "model": "gpt-4o-mini"}, editor)
call("PUT", "/api/v1/prompts/summarize/labels/production", {"version": 1}, editor)
call("PUT", "/api/v1/prompts/summarize/labels/staging", {"version": 2}, editor)
call("POST", "/api/v1/experiments", {
    "key": "summary-tone", "name": "Friendlier summaries", "owner": "team-growth",
    "variants": [{"key": "control", "weight": 0.5, "prompt": "summarize@1"},
                 {"key": "friendly", "weight": 0.5, "prompt": "summarize@2"}],
    "control": "control", "layer": "summaries",
    "metrics": [{"key": "thumbs_up", "type": "binary", "role": "primary",
                 "direction": "increase"}]}, editor)
call("POST", "/api/v1/experiments/summary-tone/start", {}, release)
variants = {}
for n in range(40):
    answer = call("POST", "/api/v1/assign", {"user_id": f"u{n}"}, sdk)
    variants[f"u{n}"] = answer["assignments"]["summary-tone"]["variant"]
    if answer["assignments"]["summary-tone"]["in_experiment"]:
        exposed = f"u{n}"
events = [{"event_id": f"e{n}", "user_id": f"u{n}", "experiment": "summary-tone",
           "metric": "thumbs_up", "value": n % 2} for n in range(40)]
counted = call("POST", "/api/v1/events", {"events": events}, sdk)
results = call("GET", "/api/v1/experiments/summary-tone/results", None, editor)
history = call("GET", "/api/v1/experiments/summary-tone/history", None, editor)
print(json.dumps({"secrets": secrets, "variants": variants, "exposed": exposed,
                  "accepted": counted["accepted"], "users": results["variants"],
                  "history": len(history["history"])}))
"""


@pytest.fixture(scope="module")
def previous_version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository as it was at PREVIOUS_VERSION, unpacked (the real old code)."""
    archive = subprocess.run(
        ["git", "-C", str(REPOSITORY), "archive", PREVIOUS_VERSION],
        check=True,
        capture_output=True,
    ).stdout
    where = tmp_path_factory.mktemp("previous-version")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(where, filter="data")
    assert (where / "experiments" / "store" / "keys.py").is_file()
    assert not (where / "experiments" / "environments.py").exists()
    return where


@pytest.fixture
def written_by_previous_version(previous_version: Path, redis_url: str) -> dict[str, Any]:
    """What the old code wrote and saw, after writing it to the session's Redis."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = f"{previous_version}:{previous_version / 'sdk' / 'python'}"
    done = subprocess.run(
        [sys.executable, "-c", WRITE_WITH_THE_OLD_CODE, redis_url, ADMIN_KEY],
        cwd=previous_version,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["accepted"] > 0
    return seen


def _dump(store: Store) -> dict[str, Any]:
    """Every key's type and value: what "loses nothing" and "changes nothing" compare."""
    found: dict[str, Any] = {}
    for key in store.redis.scan_iter("*"):
        kind = store.redis.type(key)
        if kind == "string":
            found[key] = store.redis.get(key)
        elif kind == "hash":
            found[key] = store.redis.hgetall(key)
        elif kind == "list":
            found[key] = store.redis.lrange(key, 0, -1)
        elif kind == "set":
            found[key] = sorted(store.redis.smembers(key))
        elif kind == "zset":
            found[key] = store.redis.zrange(key, 0, -1, withscores=True)
    return found


@pytest.fixture
def new_service(redis_url: str) -> Iterator[FlaskClient]:
    settings = Settings.from_env({"REDIS_URL": redis_url, "ROLLOUT_ADMIN_KEY": ADMIN_KEY})
    app = create_app(settings, Store.from_url(redis_url))
    yield app.test_client()
    app.extensions["rollout"].close()


def _bearer(secret: str, environment: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {secret}"}
    if environment is not None:
        headers["X-Rollout-Environment"] = environment
    return headers


def test_the_old_store_has_no_schema_and_migrating_it_loses_nothing(
    written_by_previous_version: dict[str, Any], store: Store
) -> None:
    before = _dump(store)
    assert keys.SCHEMA_VERSION not in before
    assert schema_version(store) == 1

    report = migrate(store)

    assert (report.from_version, report.to_version) == (1, SCHEMA_VERSION)
    assert report.environments_stored == ["development", "staging", "production"]
    assert report.keys_stamped == ("admin-old", "editor-old", "release-old", "sdk-old")
    after = _dump(store)
    added = set(after) - set(before)
    assert added == {keys.SCHEMA_VERSION, keys.ENVIRONMENTS}
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {keys.API_KEYS_BY_NAME}
    for name, raw in after[keys.API_KEYS_BY_NAME].items():
        old, new = json.loads(before[keys.API_KEYS_BY_NAME][name]), json.loads(raw)
        assert {k: v for k, v in new.items() if k != "environment"} == old
        assert new["environment"] == (None if old["role"] == "admin" else "production")


def test_migrating_twice_changes_nothing(
    written_by_previous_version: dict[str, Any], store: Store
) -> None:
    migrate(store)
    once = _dump(store)

    again = migrate(store)

    assert again.environments_stored == [] and again.keys_stamped == ()
    assert _dump(store) == once


def test_the_new_service_finds_the_old_state_in_production(
    written_by_previous_version: dict[str, Any], new_service: FlaskClient, store: Store
) -> None:
    secrets = written_by_previous_version["secrets"]
    assert schema_version(store) == SCHEMA_VERSION  # the app's start-up migrated

    editor = _bearer(secrets["editor"])
    experiment = new_service.get("/api/v1/experiments/summary-tone", headers=editor).get_json()
    assert experiment["environment"] == "production"
    assert experiment["status"] == "running"
    results = new_service.get("/api/v1/experiments/summary-tone/results", headers=editor)
    assert results.get_json()["variants"] == written_by_previous_version["users"]
    history = new_service.get("/api/v1/experiments/summary-tone/history", headers=editor)
    assert len(history.get_json()["history"]) == written_by_previous_version["history"]
    prompt = new_service.get("/api/v1/prompts/summarize", headers=editor).get_json()
    assert prompt["labels"] == {"production": 1}  # staging's label is staging's business
    assert [v["pinned_by"] for v in prompt["versions"]] == [["summary-tone"], ["summary-tone"]]

    sdk = _bearer(secrets["sdk"])
    for user, variant in written_by_previous_version["variants"].items():
        answer = new_service.post(
            "/api/v1/assign", json={"user_id": user, "track": False}, headers=sdk
        ).get_json()
        assert answer["assignments"]["summary-tone"]["variant"] == variant
    document = new_service.get("/api/v1/sdk/config", headers=sdk).get_json()
    assert document["environment"] == "production"
    assert [e["key"] for e in document["experiments"]] == ["summary-tone"]
    user = written_by_previous_version["exposed"]
    duplicate = new_service.post(
        "/api/v1/events",
        json={"events": [{"event_id": f"e{user[1:]}", "user_id": user,
                          "experiment": "summary-tone", "metric": "thumbs_up", "value": 1}]},
        headers=sdk,
    ).get_json()
    assert duplicate["duplicates"] == 1, duplicate  # the old dedupe markers still count


def test_old_keys_act_in_production_only_and_the_old_admin_key_everywhere(
    written_by_previous_version: dict[str, Any], new_service: FlaskClient
) -> None:
    secrets = written_by_previous_version["secrets"]

    staged = new_service.get("/api/v1/sdk/config", headers=_bearer(secrets["sdk"], "staging"))
    admin_in_staging = new_service.get(
        "/api/v1/experiments", headers=_bearer(secrets["admin"], "staging")
    )

    assert staged.status_code == 403
    assert staged.get_json()["error"]["code"] == "wrong_environment"
    assert admin_in_staging.status_code == 200
    assert admin_in_staging.get_json()["experiments"] == []
    assert admin_in_staging.get_json()["environment"] == "staging"
