"""Keys of one environment never read or change another's state: every route of the app's
url_map, called by an sdk, an editor and a release key of one environment against the objects
of the other (staging against production's, and back).

The owner environment holds a running experiment with exposures, events and a timeline entry, a
draft waiting for an approved start, a prompt whose label of that environment points at version
1 with a move to 2 waiting for review, and an sdk key. Everything the owner holds is marked
(`secret-<owner>` in names, owners, user ids, the key's name). After every call:

- no change crosses: the owner's state in Redis (its experiment keys and indexes, its label,
  pending move and environment entry, its keys, the prompt's archive record) is byte for byte
  what it was;
- no read crosses: a successful answer names no marked value (other than what the caller sent
  itself), and no label, label map or field of the owner environment.

Routes not keyed by environment are listed in NOT_KEYED (each with why), so a new route is
walked, or named here, never silently skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import Rule

from experiments.store import Store, keys
from tests.api.conftest import Api, experiment_body, ok

NOT_KEYED = {
    "ops.healthz": "process liveness, no state",
    "ops.readyz": "Redis reachability, no state",
    "ops.metrics": "the operator's Prometheus scrape (ROLLOUT_METRICS_TOKEN), no API key",
    "ops.openapi": "the API's description, no state",
    "ops.docs": "the API's description, no state",
    "ops.docs_assets": "static files",
}
"""Endpoints outside the walk; the console's (session sign-in, not bearer keys) are E2's,
tested in tests/browser."""

PROMPT = "summarize"
EXP = "/api/v1/experiments"
PROMPTS = "/api/v1/prompts"
ROLES = ("sdk", "editor", "release")
DIRECTIONS = (("production", "staging"), ("staging", "production"))


def in_env(name: str) -> dict[str, str]:
    return {"X-Rollout-Environment": name}


class Owner:
    """What the owner environment holds, arranged through the API by an all-environments
    admin key; each arrange step is checked."""

    def __init__(self, admin: Api, name: str) -> None:
        self.name = name
        self.marker = f"secret-{name}"
        self.running = f"{self.marker}-tone"
        self.draft = f"{self.marker}-draft"
        self.key_name = f"{self.marker}-app"
        headers = in_env(name)
        for template in ("Summarize: {{ text }}", "Summarize kindly: {{ text }}"):
            ok(admin.post(f"{PROMPTS}/{PROMPT}/versions", json={"template": template}))
        ok(admin.put(f"{PROMPTS}/{PROMPT}/labels/{name}", json={"version": 1}, headers=headers))
        body = experiment_body(
            self.running,
            name=f"{self.marker} name",
            owner=f"{self.marker}-team",
            layer=f"{self.marker}-layer",
            variants=[
                {"key": "control", "weight": 0.5, "prompt": f"{PROMPT}@1"},
                {"key": "friendly", "weight": 0.5, "prompt": f"{PROMPT}@2"},
            ],
        )
        ok(admin.post(EXP, json=body, headers=headers))
        ok(admin.post(f"{EXP}/{self.running}/start", json={}, headers=headers))
        sdk = Api(admin.client, self._sdk_secret(admin))
        self.users = [f"{self.marker}-user-{n}" for n in range(12)]
        for user in self.users:
            ok(sdk.post("/api/v1/assign", json={"user_id": user}))
        events = [
            {"event_id": f"{user}-e", "user_id": user, "experiment": self.running,
             "metric": "thumbs_up", "value": 1}
            for user in self.users
        ]
        assert ok(sdk.post("/api/v1/events", json={"events": events})).get_json()["accepted"]
        ok(admin.post(f"{EXP}/{self.running}/evaluate", headers=headers))
        ok(admin.post(EXP, json=experiment_body(self.draft, name=f"{self.marker} draft"),
                      headers=headers))
        review = {"settings": {"review_required": True}}
        ok(admin.patch(f"/api/v1/environments/{name}", json=review))
        start = admin.post(f"{EXP}/{self.draft}/start", json={}, headers=headers)
        assert start.status_code == 202
        self.pending_start = start.get_json()["pending"]["id"]
        move = admin.put(f"{PROMPTS}/{PROMPT}/labels/{name}", json={"version": 2},
                         headers=headers)
        assert move.status_code == 202
        self.pending_label = move.get_json()["pending"]["id"]

    def _sdk_secret(self, admin: Api) -> str:
        created = admin.post(
            "/api/v1/keys", json={"name": self.key_name, "role": "sdk", "environment": self.name}
        )
        assert created.status_code == 201
        secret: str = created.get_json()["secret"]
        return secret


def state_of(store: Store, owner: str) -> dict[str, Any]:
    """The owner environment's state in Redis, each key's value, shared keys cut to the owner's
    part (prompt versions and history are every environment's by design: not compared)."""
    mine = re.compile(r"\{exp:staging/|\{layer:staging/|^rollout:env:staging:")
    found: dict[str, Any] = {}
    for key in sorted(store.redis.scan_iter("*")):
        if key.startswith(("rollout:config:", "rollout:ratelimit:", "rollout:{controller}")):
            continue
        if key in (keys.PROMPT_INDEX, keys.API_KEYS_BY_HASH, keys.SCHEMA_VERSION):
            continue
        if key.startswith("rollout:webhooks"):
            continue
        if key.startswith(f"rollout:{{prompt:{PROMPT}}}"):
            found.update(_prompt_part(store, key, owner))
            continue
        if key == keys.ENVIRONMENTS:
            found[key] = store.redis.hget(key, owner)
            continue
        if key == keys.API_KEYS_BY_NAME:
            found[key] = {
                n: raw for n, raw in store.redis.hgetall(key).items()
                if json.loads(raw).get("environment") == owner
            }
            continue
        if bool(mine.search(key)) == (owner == "staging"):
            found[key] = _value(store, key)
    return found


def _prompt_part(store: Store, key: str, owner: str) -> dict[str, Any]:
    if key.endswith((":labels", ":pending")):
        return {key: store.redis.hget(key, owner)}
    if key.endswith(":archived"):
        return {key: store.redis.get(key)}
    if key.endswith(":pins"):
        fields = store.redis.hkeys(key)
        ref = re.compile(r"^\d+\|staging/") if owner == "staging" else re.compile(r"^\d+\|[^/]*$")
        return {key: sorted(f for f in fields if ref.match(f))}
    return {}


def _value(store: Store, key: str) -> Any:
    kind = store.redis.type(key)
    if kind == "string":
        return store.redis.get(key)
    if kind == "hash":
        return store.redis.hgetall(key)
    if kind == "list":
        return store.redis.lrange(key, 0, -1)
    if kind == "set":
        return sorted(store.redis.smembers(key))
    return store.redis.zrange(key, 0, -1, withscores=True)


def call_for(rule: Rule, owner: Owner, caller: str) -> tuple[str, str, Any]:
    """(method, path, body) of `rule` aimed at the owner's objects, with a body that succeeds
    for a key of the owner environment and the right role."""
    method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
    endpoint = rule.endpoint.split(".", 1)[1]
    key = owner.draft if endpoint in {"approve_change", "start_experiment"} else owner.running
    values = {
        "key": key, "prompt": PROMPT, "n": "1", "a": "1", "b": "2", "label": owner.name,
        "name": owner.key_name if rule.endpoint.startswith("keys.") else owner.name,
    }
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], rule.rule)
    bodies: dict[str, Any] = {
        "create_key": {"name": "own-key", "role": "sdk"},
        "create_environment": {"name": "own-env"},
        "patch_environment": {"display_name": "renamed", "settings": {"review_required": False}},
        "create_experiment": experiment_body("own-exp"),
        "patch_experiment": {"traffic": 0.5, "name": "renamed"},
        "rollback_experiment": {"reason": "test"},
        "conclude_experiment": {"winner": "friendly"},
        "approve_change": {"change": owner.pending_start},
        "promote_experiment": {"from": owner.name, "to": caller},
        "assign_user": {"user_id": owner.users[0], "experiments": [owner.running]},
        "record_exposures": {"exposures": [
            {"user_id": "own-user", "experiment": owner.running, "variant": "control"}
        ]},
        "create_version": {"template": "Own: {{ text }}"},
        "render_version": {"variables": {"text": "x"}},
        "put_label": {"version": 2},
        "approve_label": {"change": owner.pending_label},
        "promote_prompt": {"from": owner.name, "to": caller},
        "record_events": {"events": [
            {"event_id": "own-e", "user_id": owner.users[0], "experiment": owner.running,
             "metric": "thumbs_up", "value": 1}
        ]},
        "export_traces": {"resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": "0" * 31 + "1", "spanId": "0" * 15 + "1", "name": "chat",
            "startTimeUnixNano": "1", "endTimeUnixNano": "2000001",
            "attributes": [
                {"key": "rollout.experiment", "value": {"stringValue": owner.running}},
                {"key": "rollout.user_id", "value": {"stringValue": owner.users[0]}},
            ],
        }]}]}]},
    }
    query = {"deliveries": "?limit=50", "webhook_secret": "?url=https://example.com/hook"}
    return method, path + query.get(endpoint, ""), bodies.get(endpoint, {} if method != "GET"
                                                                   else None)


def crossing_read(answer: Any, owner: Owner, sent: str) -> str | None:
    """What in a successful answer belongs to the owner: a marked value the caller did not
    send, or the owner environment named as a label, a map key or a field's value."""
    text = json.dumps(answer, sort_keys=True)
    for own in sorted(set(re.findall(r"secret-[a-z0-9-]+", sent)), key=len, reverse=True):
        text = text.replace(own, "")
    if owner.marker in text:
        return f"names {owner.marker}: {text[:300]}"
    if owner.name in sent:
        return None
    named = _named(answer, owner.name)
    return f"names environment {owner.name}: {text[:300]}" if named else None


def _named(value: Any, name: str) -> bool:
    if isinstance(value, dict):
        return any(k == name or _named(v, name) for k, v in value.items())
    if isinstance(value, list):
        return any(_named(v, name) for v in value)
    return value == name


@pytest.fixture
def owner_and_callers(
    request: pytest.FixtureRequest, admin: Api, app: Flask
) -> Iterator[tuple[Owner, dict[str, Api]]]:
    owner_env, caller_env = request.param
    owner = Owner(admin, owner_env)
    callers = {}
    for role in ROLES:
        created = admin.post(
            "/api/v1/keys",
            json={"name": f"{role}-of-{caller_env}", "role": role, "environment": caller_env},
        )
        assert created.status_code == 201
        callers[role] = Api(admin.client, created.get_json()["secret"])
    yield owner, callers


def walked_rules(app: Flask) -> list[Rule]:
    rules = [r for r in app.url_map.iter_rules() if not r.endpoint.startswith("console.")]
    return [r for r in rules if r.endpoint not in NOT_KEYED]


def test_every_route_is_walked_or_named_as_not_keyed(app: Flask) -> None:
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    walked = {r.endpoint for r in walked_rules(app)}

    assert set(NOT_KEYED) <= endpoints
    assert walked | set(NOT_KEYED) | {e for e in endpoints if e.startswith("console.")} == endpoints
    assert all(r.rule.startswith(("/api/v1/", "/v1/")) for r in walked_rules(app))
    assert len(walked) >= 44


@pytest.mark.parametrize(
    "owner_and_callers", DIRECTIONS, indirect=True, ids=lambda d: f"{d[1]}-keys-on-{d[0]}"
)
def test_no_read_or_change_crosses_environments(
    owner_and_callers: tuple[Owner, dict[str, Api]], app: Flask, store: Store
) -> None:
    owner, callers = owner_and_callers
    caller_env = "staging" if owner.name == "production" else "production"
    crossings: list[str] = []
    for rule in walked_rules(app):
        for role, api in callers.items():
            before = state_of(store, owner.name)
            method, path, body = call_for(rule, owner, caller_env)
            if method == "GET":
                response = api.get(path)
            else:
                response = getattr(api, method.lower())(path, json=body)
            where = f"{role} {method} {path} -> {response.status_code}"
            if state_of(store, owner.name) != before:
                crossings.append(f"{where}: changed {owner.name}'s state")
            if 200 <= response.status_code < 300 and response.is_json:
                read = crossing_read(response.get_json(), owner, path + json.dumps(body))
                if read is not None:
                    crossings.append(f"{where}: {read}")
    assert crossings == []


@pytest.mark.parametrize(
    "owner_and_callers", DIRECTIONS, indirect=True, ids=lambda d: f"{d[1]}-keys-on-{d[0]}"
)
def test_the_walk_reaches_the_routes_the_roles_may_call(
    owner_and_callers: tuple[Owner, dict[str, Api]], app: Flask
) -> None:
    """The walk is not vacuous: in their own environment the same keys' calls succeed (the
    sdk's assign and config, the editor's prompt versions and experiments, the release key's
    experiment list), so the refusals above are the environment's, not a broken arrange."""
    owner, callers = owner_and_callers
    assert ok(callers["sdk"].get("/api/v1/sdk/config")).get_json()["environment"] != owner.name
    ok(callers["sdk"].post("/api/v1/assign", json={"user_id": "own-user"}))
    ok(callers["editor"].post(EXP, json=experiment_body("own-exp")))
    ok(callers["editor"].post(f"{PROMPTS}/{PROMPT}/versions", json={"template": "Own: {{ x }}"}))
    listed = ok(callers["release"].get(EXP)).get_json()
    assert [e["key"] for e in listed["experiments"]] == ["own-exp"]
