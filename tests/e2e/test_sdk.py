"""The Python SDK (`rollout_sdk`) against the real service under gunicorn.

Local answers are compared with `POST /api/v1/assign`; what the SDK sends is checked with the
service's own figures (`/results`) and by resending event ids, which the service must already
know. Failures are injected by a small HTTP proxy on 127.0.0.1 between the SDK and gunicorn.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from rollout.embedded import free_port
from rollout_sdk import RolloutClient
from rollout_sdk.client import OFFLINE, UNKNOWN_EXPERIMENT
from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import Server

pytestmark = pytest.mark.timeout(180)

COUNTRIES = ["DE", "FR", "US", "GB", None]
PLANS = ["free", "pro", "team"]


# --- the service, driven over HTTP -----------------------------------------------------------


@dataclass
class Service:
    base_url: str
    editor: str
    release: str
    sdk: str
    http: requests.Session = field(default_factory=requests.Session)

    def call(self, method: str, path: str, key: str, json: Any = None, ok: int = 200) -> Any:
        response = self.http.request(
            method, self.base_url + path, json=json, timeout=10,
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == ok, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def define(self, key: str, start: bool = True, **overrides: Any) -> None:
        body: dict[str, Any] = {
            "key": key,
            "name": key,
            "variants": [
                {"key": "control", "weight": 0.5, "config": {"tone": "neutral"}},
                {"key": "friendly", "weight": 0.5, "config": {"tone": "friendly"}},
            ],
            "control": "control",
            "metrics": [
                {"key": "clicks", "type": "mean", "role": "primary"},
                {"key": "thumbs_up", "type": "binary", "role": "secondary"},
            ],
        }
        body.update(overrides)
        self.call("POST", "/api/v1/experiments", self.editor, body, ok=201)
        if start:
            self.operate(key, "start")

    def operate(self, key: str, action: str, **body: Any) -> None:
        self.call("POST", f"/api/v1/experiments/{key}/{action}", self.release, body)

    def push_prompt(self, name: str, template: str) -> int:
        document = self.call(
            "POST", f"/api/v1/prompts/{name}/versions", self.editor,
            {"template": template, "model": "gpt-test", "params": {"temperature": 0.2}}, ok=201,
        )
        return int(document["version"])

    def label(self, name: str, version: int, label: str = "production") -> None:
        self.call("PUT", f"/api/v1/prompts/{name}/labels/{label}", self.editor,
                  {"version": version})

    def results(self, key: str) -> dict[str, Any]:
        document: dict[str, Any] = self.call(
            "GET", f"/api/v1/experiments/{key}/results", self.editor
        )
        return document

    def exposed_users(self, key: str) -> int:
        return sum(v["users"] for v in self.results(key)["variants"].values())

    def metric_total(self, key: str, metric: str) -> float:
        """The sum of every user's values: mean x users, over the variants."""
        figures = next(m for m in self.results(key)["metrics"] if m["metric"] == metric)
        return sum((v["mean"] or 0.0) * v["users"] for v in figures["variants"].values())

    def wait_for_workers(self, version: int) -> None:
        """Until every worker serves configuration `version` (each new connection may land on
        either one), so the service's answers come from the same configuration as the SDK's."""
        deadline = time.monotonic() + 10
        seen = 0
        while seen < 8:
            assert time.monotonic() < deadline, "the workers did not converge"
            response = requests.get(
                self.base_url + "/api/v1/sdk/config", timeout=5,
                headers={"Authorization": f"Bearer {self.sdk}", "Connection": "close"},
            )
            assert response.status_code == 200, response.text
            seen = seen + 1 if response.json()["version"] >= version else 0
            time.sleep(0.02)


@pytest.fixture(scope="module")
def service(gunicorn: Server) -> Service:
    def key(role: str) -> str:
        response = requests.post(
            gunicorn.base_url + "/api/v1/keys", json={"name": f"sdk-test-{role}", "role": role},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["secret"])

    return Service(gunicorn.base_url, key("editor"), key("release"), key("sdk"))


@pytest.fixture
def make_client(service: Service) -> Iterator[Callable[..., RolloutClient]]:
    made: list[RolloutClient] = []

    def build(base_url: str | None = None, key: str | None = None, **options: Any) -> RolloutClient:
        options.setdefault("refresh_interval_s", 0.2)
        options.setdefault("flush_interval_s", 0.05)
        options.setdefault("timeout_s", 2.0)
        client = RolloutClient(base_url or service.base_url, key or service.sdk, **options)
        made.append(client)
        return client

    yield build
    for client in made:
        client.close(timeout=1.0)


# --- a proxy that fails on purpose -----------------------------------------------------------


class FlakyProxy:
    """Forwards to the service; the POSTs meet the scripted failures first, one per request:

    - "503" / "413" / "429:<s>": answer that status (with `Retry-After: <s>`), not forwarding;
    - "lost": forward, let the service count it, then drop the connection unanswered, so the
      client cannot know it was received and must retry.
    With `down` set, every request meets a closed connection.
    """

    def __init__(self, upstream: str, port: int | None = None) -> None:
        self.upstream = upstream
        self.script: deque[str] = deque()
        self.down = False
        self.posts: list[tuple[float, str, str]] = []
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
                if proxy.down:
                    self.close_connection = True
                    return
                action = proxy.script.popleft() if method == "POST" and proxy.script else "ok"
                if method == "POST":
                    proxy.posts.append((time.monotonic(), self.path, action))
                if action in {"503", "413"} or action.startswith("429"):
                    status, _, retry_after = action.partition(":")
                    self.answer(int(status), b'{"error":{"code":"unavailable","message":"x"}}',
                                {"Retry-After": retry_after} if retry_after else {})
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in {"host", "content-length", "connection"}}
                upstream = requests.request(method, proxy.upstream + self.path, data=body,
                                            headers=headers, timeout=10)
                if action == "lost":
                    self.close_connection = True
                    return
                self.answer(upstream.status_code, upstream.content,
                            {k: v for k, v in upstream.headers.items()
                             if k.lower() in {"etag", "content-type", "retry-after"}})

            def answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def proxy(service: Service) -> Iterator[FlakyProxy]:
    running = FlakyProxy(service.base_url)
    yield running
    running.stop()


def users(count: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    found = []
    for index in range(count):
        attributes: dict[str, Any] = {"plan": rng.choice(PLANS), "age": rng.randint(16, 90)}
        country = rng.choice(COUNTRIES)
        if country is not None:
            attributes["country"] = country
        found.append((f"user-{seed}-{index}", attributes))
    return found


# --- local evaluation ------------------------------------------------------------------------


def test_local_answers_are_the_services_for_10k_users(
    service: Service, make_client: Callable[..., RolloutClient]
) -> None:
    for version, template in enumerate(["Summarise: {{ text }}", "Briefly: {{ text }}"], 1):
        assert service.push_prompt("eq-summary", template) == version
    service.define(
        "eq-targeted",
        variants=[
            {"key": "control", "weight": 0.2, "prompt": "eq-summary@1"},
            {"key": "short", "weight": 0.3, "prompt": "eq-summary@2", "config": {"max": 50}},
            {"key": "long", "weight": 0.5, "config": {"max": 500}},
        ],
        traffic=0.4,
        targeting={"country": {"in": ["DE", "FR"]}, "plan": {"ne": "free"}},
    )
    service.define("eq-layer-a", layer="eq-layer", layer_share=0.3)
    service.define("eq-layer-b", layer="eq-layer", layer_share=0.5, traffic=0.7)
    service.define(
        "eq-ramp",
        rollout={"stages": [{"traffic": 0.1}, {"traffic": 0.5}], "auto_advance": False},
    )
    service.operate("eq-ramp", "advance")
    service.define("eq-rolled")
    service.operate("eq-rolled", "rollback", reason="guardrail")
    service.define("eq-won")
    service.operate("eq-won", "conclude", winner="friendly")
    service.define("eq-paused", targeting={"age": {"gte": 40}})
    service.operate("eq-paused", "pause")
    keys = ["eq-targeted", "eq-layer-a", "eq-layer-b", "eq-ramp", "eq-rolled", "eq-won",
            "eq-paused"]

    client = make_client(refresh_interval_s=60)
    assert client.config_version is not None
    service.wait_for_workers(client.config_version)

    population = users(10_000, seed=11)
    local: list[dict[str, Any]] = []
    for user_id, attributes in population:
        local.append({k: client.assign(user_id, k, attributes).as_dict() for k in keys})

    connections = threading.local()
    port = int(service.base_url.rsplit(":", 1)[1])

    def remote(user: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        # http.client rather than requests: the client side's CPU is half of this test's time.
        if not hasattr(connections, "http"):
            connections.http = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = {"user_id": user[0], "attributes": user[1], "experiments": keys, "track": False}
        connections.http.request(
            "POST", "/api/v1/assign", json.dumps(body),
            {"Authorization": f"Bearer {service.sdk}", "Content-Type": "application/json"},
        )
        response = connections.http.getresponse()
        payload = json.loads(response.read())
        assert response.status == 200, payload
        answer: dict[str, Any] = payload["assignments"]
        return answer

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(remote, population, chunksize=100))

    mismatches = [
        (user[0], key, mine[key], theirs[key])
        for user, mine, theirs in zip(population, local, answers, strict=True)
        for key in keys
        if mine[key] != theirs[key]
    ]
    assert mismatches == [], f"{len(mismatches)} differ, e.g. {mismatches[:3]}"
    reasons = {(key, a[key]["reason"]) for a in local for key in keys}
    for expected in [
        ("eq-targeted", "assigned"), ("eq-targeted", "targeting"), ("eq-targeted", "traffic"),
        ("eq-layer-a", "assigned"), ("eq-layer-a", "layer"), ("eq-layer-b", "traffic"),
        ("eq-ramp", "assigned"), ("eq-ramp", "traffic"), ("eq-rolled", "rolled_back"),
        ("eq-won", "concluded"), ("eq-paused", "paused"),
    ]:
        assert expected in reasons
    in_both = [
        a for a in local if a["eq-layer-a"]["in_experiment"] and a["eq-layer-b"]["in_experiment"]
    ]
    assert in_both == []
    prompted = next(a["eq-targeted"] for a in local if a["eq-targeted"]["variant"] == "short")
    assert prompted["prompt"]["template"] == "Briefly: {{ text }}"

    # The exposures the SDK queued along the way agree with the service, every one of them.
    assert client.flush(30)
    stats = client.stats()
    assert stats.exposures_rejected == 0
    assert stats.exposures_accepted == sum(
        1 for a in local for key in keys if a[key]["in_experiment"]
    )


def test_an_answer_renders_its_prompt(
    service: Service, make_client: Callable[..., RolloutClient]
) -> None:
    version = service.push_prompt("render-greet", "Hello {{ name }}!")
    service.define(
        "render-exp",
        variants=[
            {"key": "control", "weight": 0.5, "prompt": f"render-greet@{version}"},
            {"key": "friendly", "weight": 0.5, "prompt": f"render-greet@{version}"},
        ],
    )
    answer = make_client().assign("ada", "render-exp")
    assert answer.prompt is not None
    assert answer.prompt.render({"name": "Ada"}) == "Hello Ada!"
    assert answer.prompt.render(name="Bob") == "Hello Bob!"


def test_unknown_experiments_answer_the_control_variant(
    make_client: Callable[..., RolloutClient],
) -> None:
    client = make_client(controls={"nowhere": "baseline"})
    answer = client.assign("u1", "nowhere")
    assert (answer.variant, answer.in_experiment, answer.reason) == (
        "baseline", False, UNKNOWN_EXPERIMENT,
    )
    assert client.assign("u1", "elsewhere").variant == "control"
    assert client.stats().exposures_queued == 0


# --- configuration refresh -------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_refresh_sends_the_etag_and_picks_up_changes(
    service: Service, make_client: Callable[..., RolloutClient]
) -> None:
    service.define("refresh-exp")
    client = make_client(refresh_interval_s=0.05)
    assert client.assign("u1", "refresh-exp").reason == "assigned"
    wait_until(lambda: client.stats().config_not_modified >= 3)
    assert client.stats().config_fetches == 1

    service.operate("refresh-exp", "pause")
    wait_until(lambda: client.assign("u1", "refresh-exp").reason == "paused")
    assert client.stats().config_fetches >= 2
    assert client.assign("u1", "refresh-exp").in_experiment is False


def test_get_prompt_follows_its_label(
    service: Service, make_client: Callable[..., RolloutClient]
) -> None:
    first = service.push_prompt("label-greet", "Hi {{ name }}")
    service.label("label-greet", first)
    client = make_client(refresh_interval_s=0.05)
    prompt = client.get_prompt("label-greet")
    assert prompt is not None and prompt.version == first
    assert client.render("label-greet", {"name": "Ada"}) == "Hi Ada"
    assert client.get_prompt("label-greet", label="staging") is None
    assert client.get_prompt("no-such-prompt") is None

    second = service.push_prompt("label-greet", "Welcome, {{ name }}")
    service.label("label-greet", second)
    wait_until(lambda: getattr(client.get_prompt("label-greet"), "version", None) == second)
    assert client.render("label-greet", {"name": "Ada"}) == "Welcome, Ada"
    with pytest.raises(LookupError):
        client.render("label-greet", {"name": "Ada"}, label="staging")


# --- sending ---------------------------------------------------------------------------------


def expose(client: RolloutClient, experiment: str, count: int, prefix: str) -> list[str]:
    ids = [f"{prefix}-{i}" for i in range(count)]
    for user_id in ids:
        assert client.assign(user_id, experiment).in_experiment
    return ids


def test_a_full_batch_leaves_at_once_and_a_partial_one_waits_for_the_timer(
    service: Service, make_client: Callable[..., RolloutClient]
) -> None:
    service.define("batch-exp")
    client = make_client(batch_size=10, flush_interval_s=30)
    people = expose(client, "batch-exp", 10, "batch")  # a full batch of exposures
    wait_until(lambda: client.stats().exposures_accepted == 10)
    for user_id in people[:9]:
        client.track(user_id, "batch-exp", "clicks", 1)
    time.sleep(0.3)
    assert client.stats().events_queued == 9  # not full, and the timer is 30 s away
    client.track(people[9], "batch-exp", "clicks", 1)
    wait_until(lambda: client.stats().events_accepted == 10)
    assert client.stats().requests == 2

    timed = make_client(batch_size=500, flush_interval_s=0.2)
    timed.track(people[0], "batch-exp", "clicks", 1)
    wait_until(lambda: timed.stats().events_accepted == 1, timeout_s=3)
    assert service.metric_total("batch-exp", "clicks") == 11


def test_retries_through_failures_lose_nothing_and_double_nothing(
    service: Service, proxy: FlakyProxy, make_client: Callable[..., RolloutClient]
) -> None:
    service.define("retry-exp")
    client = make_client(base_url=proxy.url, batch_size=40, flush_interval_s=30)
    # Nine failures, at most two in a row (backoff keeps the test short), whichever batch
    # meets them: "lost" ones reach the service, which must not count them twice.
    proxy.script.extend(["503", "lost", "ok", "503", "ok", "lost", "429:0", "ok"])
    people = expose(client, "retry-exp", 100, "retry")
    proxy.script.extend(["lost", "503", "ok", "lost", "503"])
    event_ids = [client.track(u, "retry-exp", "clicks", 1.0) for u in people for _ in range(3)]
    assert client.flush(60)

    stats = client.stats()
    assert stats.retries == 9
    assert (stats.exposures_rejected, stats.events_rejected) == (0, 0)
    assert (stats.exposures_dropped, stats.events_dropped) == (0, 0)
    assert service.exposed_users("retry-exp") == 100
    assert service.metric_total("retry-exp", "clicks") == 300.0
    # Every id is known to the service: sent again, each one is a duplicate.
    again = service.call(
        "POST", "/api/v1/events", service.sdk,
        {"events": [{"event_id": e, "user_id": people[i // 3], "experiment": "retry-exp",
                     "metric": "clicks", "value": 1.0} for i, e in enumerate(event_ids)][:1000]},
        ok=202,
    )
    assert (again["accepted"], again["duplicates"]) == (0, 300)


def test_retry_after_is_honoured(
    service: Service, proxy: FlakyProxy, make_client: Callable[..., RolloutClient]
) -> None:
    service.define("retry-after-exp")
    client = make_client(base_url=proxy.url)
    proxy.script.append("429:1")
    expose(client, "retry-after-exp", 1, "patient")
    wait_until(lambda: len(proxy.posts) == 1)
    assert client.flush(10)  # hurries the retry, but not before the server said
    (first, _, action), (second, _, _) = proxy.posts
    assert action.startswith("429")
    assert second - first >= 0.95


def test_a_batch_too_large_is_sent_in_halves(
    service: Service, proxy: FlakyProxy, make_client: Callable[..., RolloutClient]
) -> None:
    service.define("split-exp")
    client = make_client(base_url=proxy.url, batch_size=10, flush_interval_s=30)
    proxy.script.append("413")
    expose(client, "split-exp", 10, "split")
    assert client.flush(10)
    stats = client.stats()
    assert (stats.requests, stats.exposures_accepted, stats.exposures_dropped) == (3, 10, 0)


def test_other_client_errors_are_dropped_not_retried(
    service: Service, make_client: Callable[..., RolloutClient]
) -> None:
    service.define("reject-exp")
    client = make_client(key="rk_not-a-key")
    assert client.config_version is None  # 401: no configuration, control answers
    assert client.assign("u1", "reject-exp").reason == OFFLINE
    for index in range(5):
        client.track(f"u{index}", "reject-exp", "clicks", 1)
    assert client.flush(5)
    stats = client.stats()
    assert (stats.events_dropped, stats.retries, stats.requests) == (5, 0, 1)


def test_items_the_service_rejects_are_counted(
    service: Service, make_client: Callable[..., RolloutClient]
) -> None:
    service.define("rejected-items-exp")
    client = make_client()
    expose(client, "rejected-items-exp", 1, "counted")
    client.track("counted-0", "rejected-items-exp", "clicks", 1)
    client.track("never-exposed", "rejected-items-exp", "clicks", 1)
    client.track("counted-0", "rejected-items-exp", "no_such_metric", 1)
    assert client.flush(5)
    stats = client.stats()
    assert (stats.events_accepted, stats.events_rejected, stats.events_dropped) == (1, 2, 0)


def test_a_bad_covariate_or_a_nan_attribute_costs_only_its_own_entry_or_item(
    service: Service, make_client: Callable[..., RolloutClient]
) -> None:
    service.define("bad-covariate-exp")
    client = make_client(flush_interval_s=60)
    assert client.config_version is not None
    for index in range(3):
        client.assign(f"good-{index}", "bad-covariate-exp", covariates={"requests": 3.0})
    # Beyond the service's bounds, the service would refuse the exposure: only the entry goes.
    client.assign("big", "bad-covariate-exp", covariates={"requests": 1e16, "tokens": 7.0})
    # NaN is not JSON: the service would refuse the whole batch for it; only this item goes.
    client.assign("nan", "bad-covariate-exp", {"score": float("nan")})
    assert client.flush(5)
    stats = client.stats()
    assert stats.covariates_dropped == 1
    assert (stats.exposures_accepted, stats.exposures_rejected, stats.exposures_dropped) == (
        4, 0, 1
    )
    results = service.call("GET", "/api/v1/experiments/bad-covariate-exp/results", service.editor)
    assert sum(v["users"] for v in results["variants"].values()) == 4


def test_a_hot_user_is_exposed_once(
    service: Service, make_client: Callable[..., RolloutClient]
) -> None:
    service.define("hot-exp")
    client = make_client()
    for _ in range(1000):
        client.assign("hot-user", "hot-exp")
    assert client.flush(5)
    assert client.stats().exposures_accepted == 1
    assert client.stats().requests == 1


# --- offline -----------------------------------------------------------------------------------


def test_an_offline_start_answers_control_then_catches_up(
    service: Service, make_client: Callable[..., RolloutClient]
) -> None:
    service.define("offline-exp")
    port = free_port()
    started = time.monotonic()
    client = make_client(base_url=f"http://127.0.0.1:{port}", controls={"offline-exp": "control"})
    assert time.monotonic() - started < 2.5
    answer = client.assign("u1", "offline-exp")
    assert (answer.variant, answer.in_experiment, answer.reason) == ("control", False, OFFLINE)
    assert client.stats().config_errors >= 1

    late = FlakyProxy(service.base_url, port=port)
    try:
        wait_until(lambda: client.assign("u1", "offline-exp").reason == "assigned")
        people = expose(client, "offline-exp", 20, "late")
        for user_id in people:
            client.track(user_id, "offline-exp", "clicks", 2.0)
        assert client.flush(10)
    finally:
        late.stop()
    assert service.metric_total("offline-exp", "clicks") == 40.0


def test_what_is_queued_while_the_service_is_away_arrives_when_it_returns(
    service: Service, proxy: FlakyProxy, make_client: Callable[..., RolloutClient]
) -> None:
    service.define("outage-exp")
    client = make_client(base_url=proxy.url, refresh_interval_s=0.05)
    proxy.down = True
    people = expose(client, "outage-exp", 30, "outage")
    for user_id in people:
        client.track(user_id, "outage-exp", "clicks", 1.0)
    assert client.flush(0.5) is False
    assert client.assign("outage-0", "outage-exp").in_experiment  # from the last config
    proxy.down = False
    assert client.flush(30)
    assert service.exposed_users("outage-exp") == 30
    assert service.metric_total("outage-exp", "clicks") == 30.0


def test_close_sends_what_is_queued(
    service: Service, make_client: Callable[..., RolloutClient]
) -> None:
    service.define("close-exp")
    with RolloutClient(service.base_url, service.sdk, flush_interval_s=30) as client:
        people = expose(client, "close-exp", 7, "closing")
        for user_id in people:
            client.track(user_id, "close-exp", "clicks", 1)
        assert client.stats().events_queued == 7
    assert client.stats().events_accepted == 7
    assert client.track("closing-0", "close-exp", "clicks", 1) is None  # closed


# --- fork ----------------------------------------------------------------------------------------


def test_a_forked_child_reports_its_own_and_never_the_parents(
    service: Service, make_client: Callable[..., RolloutClient]
) -> None:
    service.define("fork-exp")
    client = make_client(flush_interval_s=30, batch_size=1000)
    parent_people = expose(client, "fork-exp", 40, "parent")
    for user_id in parent_people:
        client.track(user_id, "fork-exp", "clicks", 1.0)
    assert client.stats().events_queued == 40  # still queued at the fork

    pid = os.fork()
    if pid == 0:  # the child: assign and track on its own threads, then leave at once
        code = 1
        try:
            people = expose(client, "fork-exp", 25, "child")
            for user_id in people:
                client.track(user_id, "fork-exp", "clicks", 1.0)
            stats = client.stats()
            if client.flush(20) and stats.events_queued == 25:
                stats = client.stats()
                code = 0 if (stats.events_accepted, stats.exposures_accepted) == (25, 25) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    assert client.flush(10)
    assert (client.stats().events_accepted, client.stats().exposures_accepted) == (40, 40)
    assert service.exposed_users("fork-exp") == 65
    assert service.metric_total("fork-exp", "clicks") == 65.0
