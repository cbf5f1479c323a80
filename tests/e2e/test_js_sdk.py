"""The TypeScript SDK (sdk/js) against the real service under gunicorn.

A node script (sdk/js/e2e/agreement.mjs) does the SDK's side; this module sets the service up,
runs it and checks its report against the service's own figures. The reference answers come from
`POST /api/v1/assign` directly; the SDK itself talks through `FaultyProxy`, which injects 503s,
429s with Retry-After and connections dropped after the service counted the request. Nothing here
imports the Python SDK: the two SDKs are checked against the service, not against each other.
"""

from __future__ import annotations

import http.server
import json
import random
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import REPO, Server

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed"),
]

SDK = REPO / "sdk" / "js"
SCRIPT = SDK / "e2e" / "agreement.mjs"


@dataclass
class Service:
    """The service driven over HTTP with one key per role."""

    base_url: str
    editor: str
    release: str
    sdk: str
    http: requests.Session = field(default_factory=requests.Session)

    def call(self, method: str, path: str, key: str, body: Any = None, ok: int = 200) -> Any:
        response = self.http.request(method, self.base_url + path, json=body, timeout=10,
                                     headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == ok, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def define(self, key: str, **overrides: Any) -> None:
        body: dict[str, Any] = {
            "key": key, "name": key, "control": "control",
            "variants": [
                {"key": "control", "weight": 0.5, "config": {"tone": "neutral"}},
                {"key": "friendly", "weight": 0.5, "config": {"tone": "friendly"}},
            ],
            "metrics": [{"key": "clicks", "type": "mean", "role": "primary"}],
        }
        self.call("POST", "/api/v1/experiments", self.editor, body | overrides, ok=201)
        self.operate(key, "start")

    def operate(self, key: str, action: str, **body: Any) -> None:
        self.call("POST", f"/api/v1/experiments/{key}/{action}", self.release, body)

    def push_prompt(self, name: str, template: str) -> int:
        body = {"template": template, "model": "gpt-test", "params": {"temperature": 0.2}}
        answer = self.call("POST", f"/api/v1/prompts/{name}/versions", self.editor, body, ok=201)
        return int(answer["version"])

    def results(self, key: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call(
            "GET", f"/api/v1/experiments/{key}/results", self.editor
        )
        return answer

    def exposed_users(self, key: str) -> int:
        return sum(v["users"] for v in self.results(key)["variants"].values())

    def metric_total(self, key: str, metric: str) -> float:
        """The sum of every user's values: mean x users, over the variants."""
        figures = next(m for m in self.results(key)["metrics"] if m["metric"] == metric)
        return float(sum((v["mean"] or 0.0) * v["users"] for v in figures["variants"].values()))

    def wait_for_workers(self, version: int) -> None:
        """Until 8 fresh connections in a row (either worker) serve configuration `version`."""
        deadline = time.monotonic() + 10
        seen = 0
        while seen < 8:
            assert time.monotonic() < deadline, "the workers did not converge"
            response = requests.get(
                self.base_url + "/api/v1/sdk/config", timeout=5,
                headers={"Authorization": f"Bearer {self.sdk}", "Connection": "close"},
            )
            seen = seen + 1 if response.json()["version"] >= version else 0
            time.sleep(0.02)


class FaultyProxy:
    """Forwards to the service; each POST first meets the next scripted action, if any:
    "503" or "429:<s>" (with `Retry-After: <s>`) answer without forwarding; "lost" forwards, lets
    the service count it, then drops the connection unanswered, so the client must retry."""

    def __init__(self, upstream: str) -> None:
        self.script: deque[str] = deque()
        self.actions: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self.relay("GET")

            def do_POST(self) -> None:
                self.relay("POST")

            def relay(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = proxy.script.popleft() if method == "POST" and proxy.script else "ok"
                if method == "POST":
                    proxy.actions.append(action)
                if action == "503" or action.startswith("429"):
                    status, _, retry_after = action.partition(":")
                    self.answer(int(status), b'{"error":{"code":"unavailable","message":"x"}}',
                                {"Retry-After": retry_after} if retry_after else {})
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in {"host", "content-length", "connection"}}
                reply = requests.request(method, upstream + self.path, data=body,
                                         headers=headers, timeout=10)
                if action == "lost":
                    self.close_connection = True
                    return
                self.answer(reply.status_code, reply.content,
                            {k: v for k, v in reply.headers.items()
                             if k.lower() in {"etag", "content-type"}})

            def answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def users(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    found = []
    for index in range(count):
        attributes: dict[str, Any] = {"plan": rng.choice(["free", "pro", "team"]),
                                      "age": rng.randint(16, 90)}
        country = rng.choice(["DE", "FR", "US", "GB", None])
        if country is not None:
            attributes["country"] = country
        found.append({"id": f"user-{seed}-{index}", "attributes": attributes})
    return found


@pytest.fixture(scope="module")
def built_sdk() -> Path:
    """The package built from its sources (ESM and CommonJS in dist/), as `npm test` builds it."""
    npm = shutil.which("npm")
    assert npm is not None, "npm comes with Node.js"
    if not (SDK / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SDK, check=True)
    subprocess.run([npm, "run", "build"], cwd=SDK, check=True, capture_output=True)
    assert (SDK / "dist" / "esm" / "index.js").exists()
    return SDK


@pytest.fixture(scope="module")
def service(gunicorn: Server) -> Service:
    def key(role: str) -> str:
        response = requests.post(
            gunicorn.base_url + "/api/v1/keys", json={"name": f"js-sdk-{role}", "role": role},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["secret"])

    return Service(gunicorn.base_url, key("editor"), key("release"), key("sdk"))


@pytest.fixture
def proxy(service: Service) -> Iterator[FaultyProxy]:
    running = FaultyProxy(service.base_url)
    yield running
    running.stop()


def run_node(mode: str, job: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / f"{mode}-job.json"
    path.write_text(json.dumps(job))
    done = subprocess.run(
        ["node", str(SCRIPT), mode, str(path)], cwd=SDK, capture_output=True, text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def config_version(service: Service) -> int:
    response = requests.get(
        service.base_url + "/api/v1/sdk/config", timeout=5,
        headers={"Authorization": f"Bearer {service.sdk}"},
    )
    assert response.status_code == 200, response.text
    return int(response.json()["version"])


def test_js_local_answers_are_the_services_for_10k_users_across_a_ramp(
    service: Service, built_sdk: Path, tmp_path: Path
) -> None:
    for version, template in enumerate(["Summarise: {{ text }}", "Briefly: {{ text }}"], 1):
        assert service.push_prompt("js-summary", template) == version
    service.define(
        "js-targeted",
        variants=[
            {"key": "control", "weight": 0.2, "prompt": "js-summary@1"},
            {"key": "short", "weight": 0.3, "prompt": "js-summary@2", "config": {"max": 50}},
            {"key": "long", "weight": 0.5, "config": {"max": 500, "style": {"bullets": True}}},
        ],
        traffic=0.4,
        targeting={
            "country": {"in": ["DE", "FR"]},
            "plan": {"ne": "free"},
            "any": [{"age": {"gte": 30}}, {"plan": {"regex": "^te"}}],
        },
    )
    service.define("js-layer-a", layer="js-layer", layer_share=0.3)
    service.define("js-layer-b", layer="js-layer", layer_share=0.5, traffic=0.7)
    service.define(
        "js-ramp",
        rollout={"stages": [{"traffic": 0.1}, {"traffic": 0.5}], "auto_advance": False},
    )
    service.define("js-rolled")
    service.operate("js-rolled", "rollback", reason="guardrail")
    service.define("js-won")
    service.operate("js-won", "conclude", winner="friendly")
    service.define("js-paused", targeting={"age": {"gte": 40}})
    service.operate("js-paused", "pause")
    keys = ["js-targeted", "js-layer-a", "js-layer-b", "js-ramp", "js-rolled", "js-won",
            "js-paused"]
    population = users(10_000, seed=16)
    job = {"url": service.base_url, "direct": service.base_url, "key": service.sdk,
           "experiments": keys, "users": population}

    reports = []
    for stage in range(2):
        if stage == 1:
            service.operate("js-ramp", "advance")
        service.wait_for_workers(config_version(service))
        variants_out = tmp_path / f"variants-{stage}.json"
        report = run_node("compare", job | {"variants_out": str(variants_out)}, tmp_path)
        assert report["compared"] == 70_000
        assert report["mismatches"] == 0, report["examples"]
        reports.append((report, json.loads(variants_out.read_text())))

    reasons = set(reports[0][0]["reasons"]) | set(reports[1][0]["reasons"])
    for expected in ["js-targeted:assigned", "js-targeted:targeting", "js-targeted:traffic",
                     "js-layer-a:assigned", "js-layer-a:layer", "js-layer-b:traffic",
                     "js-ramp:assigned", "js-ramp:traffic", "js-rolled:rolled_back",
                     "js-won:concluded", "js-paused:paused"]:
        assert expected in reasons
    before, after = reports[0][1]["js-ramp"], reports[1][1]["js-ramp"]
    assert 700 < len(before) < 1300 and 4500 < len(after) < 5500, (len(before), len(after))
    assert all(after.get(user) == variant for user, variant in before.items()), "a ramp moved users"


def test_js_tracked_events_are_counted_exactly_once_through_failures(
    service: Service, built_sdk: Path, proxy: FaultyProxy, tmp_path: Path
) -> None:
    service.define("js-events")
    service.wait_for_workers(config_version(service))
    failures = ["503", "lost", "429:1", "503", "lost", "lost", "503", "429:0", "lost", "503"]
    proxy.script.extend(action for failure in failures for action in (failure, "ok", "ok"))
    population = [f"js-events-user-{i}" for i in range(1500)]
    expected_events = sum(2 if i % 3 == 0 else 1 for i in range(len(population)))

    report = run_node("track", {"url": proxy.url, "direct": service.base_url, "key": service.sdk,
                                "experiment": "js-events", "metric": "clicks", "batch_size": 100,
                                "users": population}, tmp_path)

    assert report["closed"] is True, report
    assert report["inExperiment"] == len(population)
    assert report["tracked"] == expected_events
    stats = report["stats"]
    assert stats["eventsQueued"] == stats["exposuresQueued"] == 0
    assert stats["eventsRejected"] == stats["eventsDropped"] == stats["eventsOverflow"] == 0
    assert stats["exposuresRejected"] == stats["exposuresDropped"] == 0
    assert stats["retries"] >= len(failures)
    assert stats["eventsAccepted"] + stats["eventsDuplicates"] >= expected_events
    assert set(failures) <= set(proxy.actions), proxy.actions
    assert service.exposed_users("js-events") == len(population)
    assert service.metric_total("js-events", "clicks") == pytest.approx(expected_events)


def test_js_covariates_reach_the_results_cuped_figures(
    service: Service, built_sdk: Path, tmp_path: Path
) -> None:
    """Covariates the SDK sends with its exposures are what the service adjusts by: theta and
    the adjusted means equal CUPED's on the raw samples; the out-of-bounds ones count as 0."""
    service.define(
        "js-cuped",
        metrics=[{"key": "requests", "type": "mean", "role": "primary",
                  "covariate": "requests_before"}],
    )
    service.wait_for_workers(config_version(service))
    rng = random.Random(15)
    population: list[dict[str, Any]] = []
    samples: dict[str, tuple[float, float]] = {}  # user -> (x as the service counts it, y)
    for index in range(400):
        user, before = f"js-cuped-{index}", float(rng.randint(0, 40))
        value = before + rng.randint(1, 6)
        # 20 users with a covariate beyond the service's bound: the SDK drops it, not the user.
        sent = 1e16 if index % 20 == 0 else before
        population.append({"id": user, "covariates": {"requests_before": sent}, "value": value})
        samples[user] = (0.0 if sent == 1e16 else before, value)

    report = run_node("cuped", {"url": service.base_url, "key": service.sdk,
                                "experiment": "js-cuped", "metric": "requests",
                                "users": population}, tmp_path)

    assert report["closed"] is True, report
    stats = report["stats"]
    assert stats["covariatesDropped"] == 20
    assert stats["exposuresAccepted"] == len(population) and stats["exposuresRejected"] == 0
    assert stats["eventsAccepted"] == len(population) and stats["eventsRejected"] == 0
    arms: dict[str, list[tuple[float, float]]] = {"control": [], "friendly": []}
    for user, sample in samples.items():
        arms[report["variants"][user]].append(sample)
    assert all(len(arm) > 100 for arm in arms.values()), {k: len(v) for k, v in arms.items()}
    s_xy = s_xx = 0.0
    for arm in arms.values():
        mean_x = sum(x for x, _ in arm) / len(arm)
        mean_y = sum(y for _, y in arm) / len(arm)
        s_xy += sum((x - mean_x) * (y - mean_y) for x, y in arm)
        s_xx += sum((x - mean_x) ** 2 for x, _ in arm)
    theta = s_xy / s_xx
    overall_x = sum(x for x, _ in samples.values()) / len(samples)

    def adjusted_mean(arm: list[tuple[float, float]]) -> float:
        mean_x = sum(x for x, _ in arm) / len(arm)
        return sum(y for _, y in arm) / len(arm) - theta * (mean_x - overall_x)

    results = service.results("js-cuped")
    assert {k: v["users"] for k, v in results["variants"].items()} == {
        k: len(v) for k, v in arms.items()
    }
    (metric,) = results["metrics"]
    (comparison,) = metric["comparisons"]
    adjusted = comparison["adjusted"]
    assert adjusted["covariate"] == "requests_before"
    assert adjusted["theta"] == pytest.approx(theta, rel=1e-9)
    assert adjusted["control_mean"] == pytest.approx(adjusted_mean(arms["control"]), rel=1e-9)
    assert adjusted["treatment_mean"] == pytest.approx(adjusted_mean(arms["friendly"]), rel=1e-9)
    assert adjusted["variance_reduction"] > 0.5, adjusted
