"""A worker started while Redis is down answers from the last configuration kept on disk
(issue 10, item 7), and a config nested 975 levels deep is a 422 through real gunicorn (item 8).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from rollout.embedded import EmbeddedRedis
from tests.api.conftest import experiment_body
from tests.e2e.conftest import Server, start_gunicorn, stop, tail

USERS = [f"user-{i}" for i in range(40)]


def assign_untracked(server: Server, user: str) -> requests.Response:
    body = {"user_id": user, "experiments": ["summary-tone"], "track": False}
    return server.request("POST", "/api/v1/assign", json=body)


def variants(server: Server) -> dict[str, str]:
    answers = {user: assign_untracked(server, user) for user in USERS}
    statuses = {user: a.status_code for user, a in answers.items()}
    assert set(statuses.values()) == {200}, statuses
    return {u: a.json()["assignments"]["summary-tone"]["variant"] for u, a in answers.items()}


def test_a_worker_started_while_redis_is_down_assigns_from_disk(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    redis_server = EmbeddedRedis(tmp_path / "redis", persistent=False).start()
    env = {"ROLLOUT_DATA_DIR": str(data_dir)}
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    try:
        before = start_gunicorn(tmp_path / "before", redis_server.url, env)
        try:
            created = before.request("POST", "/api/v1/experiments", json=experiment_body())
            assert created.status_code == 201, created.text
            started = before.request("POST", "/api/v1/experiments/summary-tone/start", json={})
            assert started.status_code == 200, started.text
            expected = variants(before)
            assert set(expected.values()) == {"control", "friendly"}
        finally:
            assert stop(before.process) == 0, tail(before.log)
        kept = list((data_dir / "config").glob("last-config-*.json"))
        assert len(kept) == 1
        assert [e["key"] for e in json.loads(kept[0].read_text())["experiments"]] == [
            "summary-tone"
        ]
    finally:
        redis_server.stop()

    after = start_gunicorn(tmp_path / "after", redis_server.url, env)
    try:
        assert after.request("GET", "/readyz").status_code == 503
        assert variants(after) == expected
        tracked = after.request(
            "POST", "/api/v1/assign", json={"user_id": "u1", "experiments": ["summary-tone"]}
        )
        assert tracked.status_code == 503
        assert tracked.json()["error"]["code"] == "unavailable"
    finally:
        assert stop(after.process) == 0, tail(after.log)


@pytest.mark.parametrize("depth", [256, 975])
def test_a_config_nested_975_deep_is_a_422_through_gunicorn(gunicorn: Server, depth: int) -> None:
    body = experiment_body(f"deep-{depth}")
    body["variants"][0]["config"] = "__deep__"
    text = json.dumps(body).replace(
        '"__deep__"', '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)
    )
    answer = gunicorn.request(
        "POST", "/api/v1/experiments", data=text, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text[:300]
    assert [d["field"] for d in answer.json()["error"]["details"]] == ["variants.0.config"]
