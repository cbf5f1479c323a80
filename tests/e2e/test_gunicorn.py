"""The service as it runs in production: gunicorn with two workers, over HTTP; and `rollout serve`
with its embedded, persistent Redis."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from rollout.embedded import free_port
from rollout.metrics_buffer import FLUSH_INTERVAL_S
from tests.e2e.conftest import REPO, Server, child_env, stop, tail, wait_healthy

pytestmark = pytest.mark.timeout(120)

ROLLOUT = [sys.executable, "-m", "rollout.cli"]


def _json(response: requests.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def _key(server: Server, name: str, role: str) -> str:
    created = _json(server.request("POST", "/api/v1/keys", json={"name": name, "role": role}), 201)
    return str(created["secret"])


def _experiment(server: Server, editor: str, release: str, key: str) -> None:
    body = {
        "key": key,
        "name": key,
        "variants": [{"key": "control", "weight": 0.5}, {"key": "friendly", "weight": 0.5}],
        "control": "control",
    }
    _json(server.request("POST", "/api/v1/experiments", editor, json=body), 201)
    _json(server.request("POST", f"/api/v1/experiments/{key}/start", release, json={}), 200)


def _both_workers(server: Server, probe: str) -> dict[int, list[int]]:
    workers = server.workers_for(probe)
    assert len(workers) == 2, f"expected both workers to answer, got {workers}"
    return workers


def test_the_readme_walk_through(gunicorn: Server) -> None:
    editor = _key(gunicorn, "editor-demo", "editor")
    release = _key(gunicorn, "release-demo", "release")
    sdk = _key(gunicorn, "sdk-demo", "sdk")
    for template in ("Summarize:\n{{ text }}", "Summarize warmly, in plain words:\n{{ text }}"):
        version = {"template": template, "model": "gpt-4o-mini", "params": {"temperature": 0.2}}
        _json(gunicorn.request("POST", "/api/v1/prompts/summarize/versions", editor,
                               json=version), 201)
    experiment = {
        "key": "summary-tone", "name": "Friendlier summaries", "owner": "team-growth",
        "variants": [{"key": "control", "weight": 0.5, "prompt": "summarize@1"},
                     {"key": "friendly", "weight": 0.5, "prompt": "summarize@2"}],
        "control": "control",
        "metrics": [
            {"key": "thumbs_up", "type": "binary", "role": "primary", "direction": "increase"},
            {"key": "latency_ms", "type": "mean", "role": "guardrail", "direction": "decrease",
             "max_regression": 0.10}],
        "rollout": {"stages": [
            {"traffic": 0.02, "min_duration_s": 3600, "min_users_per_variant": 200},
            {"traffic": 0.10, "min_duration_s": 3600, "min_users_per_variant": 1000},
            {"traffic": 0.50, "min_duration_s": 86400, "min_users_per_variant": 5000}]},
    }
    created = _json(gunicorn.request("POST", "/api/v1/experiments", editor, json=experiment), 201)
    assert created["status"] == "draft"
    started = _json(gunicorn.request("POST", "/api/v1/experiments/summary-tone/start", release,
                                     json={}), 200)
    assert (started["experiment"]["stage"], started["experiment"]["traffic"]) == (0, 0.02)
    advanced = _json(gunicorn.request("POST", "/api/v1/experiments/summary-tone/advance", release,
                                      json={}), 200)
    assert advanced["experiment"]["traffic"] == 0.10
    body = {"user_id": "u1", "attributes": {"country": "DE"}, "experiments": ["summary-tone"]}
    answer = _json(gunicorn.request("POST", "/api/v1/assign", sdk, json=body), 200)
    one = answer["assignments"]["summary-tone"]
    assert answer["user_id"] == "u1"
    assert one["variant"] in {"control", "friendly"}
    assert isinstance(one["in_experiment"], bool)
    if one["in_experiment"]:
        assert one["prompt"]["name"] == "summarize"
        assert one["prompt"]["version"] == {"control": 1, "friendly": 2}[one["variant"]]
    included = []
    for i in range(100):
        user = {"user_id": f"walk-{i}", "experiments": ["summary-tone"]}
        got = _json(gunicorn.request("POST", "/api/v1/assign", sdk, json=user), 200)
        if got["assignments"]["summary-tone"]["in_experiment"]:
            included.append(got["assignments"]["summary-tone"])
    assert included, "10% traffic included nobody of 100 users"
    assert all(a["prompt"]["template"].startswith("Summarize") for a in included)
    history = _json(gunicorn.request("GET", "/api/v1/experiments/summary-tone/history", release),
                    200)["history"]
    assert [(h["action"], h["actor"]) for h in history] == [
        ("create", "editor-demo"), ("start", "release-demo"), ("advance", "release-demo")
    ]
    assert gunicorn.request("GET", "/docs", key=None).status_code == 200
    assert gunicorn.request("GET", "/docs/assets/swagger-ui-bundle.js", key=None).ok


def test_errors_are_json_under_gunicorn(gunicorn: Server) -> None:
    assert _json(gunicorn.request("GET", "/nope"), 404)["error"]["code"] == "not_found"
    malformed = gunicorn.request("POST", "/api/v1/keys", data=b"{nope",
                                 headers={"Content-Type": "application/json"})
    assert _json(malformed, 400)["error"]["code"] == "malformed"
    assert _json(gunicorn.request("GET", "/api/v1/keys", key=None), 401)["error"]["code"] == (
        "unauthorized"
    )
    big = gunicorn.request("POST", "/api/v1/keys", data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                           headers={"Content-Type": "application/json"})
    assert _json(big, 413)["error"]["code"] == "too_large"


def test_a_chunked_body_above_the_limit_is_413_under_gunicorn(gunicorn: Server) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "x", "role": "sdk", "pad": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = gunicorn.request("POST", "/api/v1/keys", data=chunks(),
                                headers={"Content-Type": "application/json"})
    assert _json(response, 413)["error"]["code"] == "too_large"


def test_a_revoked_key_is_refused_by_both_workers_at_once(gunicorn: Server) -> None:
    secret = _key(gunicorn, "soon-revoked", "sdk")
    before = gunicorn.spread(60, "GET", "/api/v1/sdk/config", "before-revoke", key=secret)
    assert {r.status_code for r in before} == {200}
    _both_workers(gunicorn, "before-revoke")  # both have the key in their cache now
    assert gunicorn.request("DELETE", "/api/v1/keys/soon-revoked").status_code == 204
    after = gunicorn.spread(100, "GET", "/api/v1/sdk/config", "after-revoke", key=secret)
    assert len(after) >= 100 and {r.status_code for r in after} == {401}
    assert all(set(statuses) == {401}
               for statuses in _both_workers(gunicorn, "after-revoke").values())


def test_a_rollback_is_seen_by_every_worker_within_a_second(gunicorn: Server) -> None:
    editor = _key(gunicorn, "editor-rollback", "editor")
    release = _key(gunicorn, "release-rollback", "release")
    sdk = _key(gunicorn, "sdk-rollback", "sdk")
    _experiment(gunicorn, editor, release, "rolled")
    body = {"user_id": "u1", "experiments": ["rolled"], "track": False}
    warm = gunicorn.spread(40, "POST", "/api/v1/assign", "before-rollback", key=sdk, json=body)
    assert {r.json()["assignments"]["rolled"]["reason"] for r in warm} == {"assigned"}
    _both_workers(gunicorn, "before-rollback")
    rolled = gunicorn.request("POST", "/api/v1/experiments/rolled/rollback", release,
                              json={"reason": "e2e"})
    _json(rolled, 200)
    rolled_at = time.monotonic()
    writer = gunicorn.request("POST", "/api/v1/assign", sdk, json=body)
    assert writer.json()["assignments"]["rolled"]["reason"] == "rolled_back"
    time.sleep(max(0.0, 1.0 - (time.monotonic() - rolled_at)))
    after = gunicorn.spread(60, "POST", "/api/v1/assign", "after-rollback", key=sdk, json=body)
    answers = [r.json()["assignments"]["rolled"] for r in after]
    assert {(a["variant"], a["in_experiment"], a["reason"]) for a in answers} == {
        ("control", False, "rolled_back")
    }
    _both_workers(gunicorn, "after-rollback")


def test_metrics_add_up_across_workers(gunicorn: Server) -> None:
    editor = _key(gunicorn, "editor-metrics", "editor")
    release = _key(gunicorn, "release-metrics", "release")
    sdk = _key(gunicorn, "sdk-metrics", "sdk")
    _experiment(gunicorn, editor, release, "metered")
    responses = [
        gunicorn.request("POST", "/api/v1/assign", sdk, "metrics",
                         json={"user_id": f"m{i}", "experiments": ["metered"]})
        for i in range(80)
    ]
    assert {r.status_code for r in responses} == {200}
    evaluated = gunicorn.request("POST", "/api/v1/experiments/metered/evaluate", release, json={})
    assert evaluated.status_code == 200, evaluated.text
    action = evaluated.json()["action"]
    _both_workers(gunicorn, "metrics")
    served: dict[str, int] = {}
    for response in responses:
        variant = response.json()["assignments"]["metered"]["variant"]
        served[variant] = served.get(variant, 0) + 1
    expected = {k: float(v) for k, v in served.items()}
    # Each worker writes its figures within FLUSH_INTERVAL_S (rollout/metrics_buffer.py).
    deadline = time.monotonic() + 10 * FLUSH_INTERVAL_S
    while True:
        assignments, requests_ok, decisions = _scraped(gunicorn)
        if assignments == expected or time.monotonic() > deadline:
            break
        time.sleep(FLUSH_INTERVAL_S / 5)
    assert assignments == expected
    assert requests_ok >= 80
    assert decisions == {action: 1.0}
    assert len({p.name.split("_")[-1] for p in gunicorn.metrics_dir.glob("counter_*.db")}) >= 2


def _scraped(gunicorn: Server) -> tuple[dict[str, float], float, dict[str, float]]:
    """/metrics: assignments of `metered` by variant, assign's 200s, decisions by action."""
    text = gunicorn.request("GET", "/metrics", key=None).text
    assignments: dict[str, float] = {}
    requests_ok = 0.0
    decisions: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "rollout_controller_decisions_total":
                decisions[sample.labels["action"]] = sample.value
            if sample.name == "rollout_assignments_total" and (
                sample.labels["experiment"] == "metered"
            ):
                assignments[sample.labels["variant"]] = sample.value
            if sample.name == "rollout_http_requests_total" and sample.labels == {
                "method": "POST", "route": "/api/v1/assign", "status": "200"
            }:
                requests_ok += sample.value
    return assignments, requests_ok, decisions


# --- `rollout serve` ----------------------------------------------------------------------


def _serve(data_dir: Path, port: int, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """`rollout serve` as `make run` starts it: no REDIS_URL, so an embedded Redis."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [*ROLLOUT, "serve", "--workers", "1"],
            cwd=REPO,
            env=child_env(ROLLOUT_DATA_DIR=str(data_dir), HOST="127.0.0.1", PORT=str(port), **env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ROLLOUT, *args], cwd=REPO, env=child_env(ROLLOUT_DATA_DIR=str(data_dir)),
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_rollout_serve_keeps_its_data_across_a_restart(tmp_path: Path) -> None:
    data_dir, log, port = tmp_path / "data", tmp_path / "serve.log", free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(data_dir, port, log)
    try:
        wait_healthy(base, server, log)
        created = _cli(data_dir, "keys", "create", "--role", "admin", "--name", "ops", "--local")
        assert created.returncode == 0, created.stderr
        secret = created.stdout.splitlines()[0].strip()
        auth = {"Authorization": f"Bearer {secret}"}
        assert requests.get(f"{base}/api/v1/keys", headers=auth, timeout=10).status_code == 200
        assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
    finally:
        assert stop(server) == 0, tail(log)
    assert "embedded Redis stopped" in log.read_text()
    assert not (data_dir / "redis.url").exists()
    assert any((data_dir / "redis").rglob("*.aof")), "no append-only file was written"

    again = _serve(data_dir, port, log)
    try:
        wait_healthy(base, again, log)
        listed = requests.get(f"{base}/api/v1/keys", headers=auth, timeout=10)
        assert listed.status_code == 200, listed.text
        assert [k["name"] for k in listed.json()["keys"]] == ["ops"]
    finally:
        assert stop(again, signal.SIGINT) == 0, tail(log)


def _one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rollout: ")
    assert "Traceback" not in result.stdout + result.stderr
    for word in words:
        assert word in lines[0]


def test_rollout_serve_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*ROLLOUT, "serve"], cwd=REPO, capture_output=True, text=True, timeout=60,
            env=child_env(ROLLOUT_DATA_DIR=str(tmp_path / "data"), HOST="127.0.0.1",
                          PORT=str(port)),
            check=False,
        )
    _one_clear_line(result, str(port), "in use")
    assert not (tmp_path / "data" / "redis.url").exists()


def test_rollout_serve_with_an_unwritable_data_dir_says_so_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = subprocess.run(
        [*ROLLOUT, "serve"], cwd=REPO, capture_output=True, text=True, timeout=60,
        env=child_env(ROLLOUT_DATA_DIR=str(blocker / "data"), HOST="127.0.0.1",
                      PORT=str(free_port())),
        check=False,
    )
    _one_clear_line(result, str(blocker / "data"))
