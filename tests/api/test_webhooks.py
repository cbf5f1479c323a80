"""Webhook delivery against a local HTTP receiver started by each test (127.0.0.1, free port)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask

from experiments.store.exposures import ExposureWrite
from rollout.controller.runner import Runner
from rollout.controller.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    WebhookDispatcher,
    derived_secret,
    verify,
)
from rollout.embedded import free_port
from tests.api.conftest import Api, Clock, experiment_body, ok
from tests.conftest import ADMIN_KEY

EXP = "summary-tone"
SECRET = "webhook-master-secret"
PLAN = {
    "stages": [
        {"traffic": t, "min_duration_s": 3600, "min_users_per_variant": 100}
        for t in (0.1, 0.2, 0.5, 1.0)
    ]
}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """A local webhook receiver; `answers` scripts its status codes, `delay_s` its slowness."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    delay_s: float = 0.0

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(self.requests) < count:
            time.sleep(0.01)
        return self.requests


@pytest.fixture
def receiver_factory() -> Iterator[Callable[[], Receiver]]:
    servers: list[ThreadingHTTPServer] = []

    def build() -> Receiver:
        port = free_port()
        receiver = Receiver(url=f"http://127.0.0.1:{port}/hook")

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                receiver.requests.append(
                    Received(self.path, dict(self.headers.items()), body, time.monotonic())
                )
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return receiver

    yield build
    for server in servers:
        server.shutdown()
        server.server_close()


@dataclass
class Setup:
    app: Flask
    release: Api
    editor: Api
    clock: Clock


def build(
    make_app: Callable[..., Flask], clock: Clock, urls: tuple[str, ...], **body: Any
) -> Setup:
    # The receivers listen on loopback, which webhooks may reach only when allowed.
    app = make_app(webhook_urls=urls, webhook_secret=SECRET, webhook_allow_hosts=("127.0.0.1",))
    admin = Api(app.test_client(), ADMIN_KEY)
    keys = {}
    for role in ("editor", "release"):
        keys[role] = Api(
            admin.client,
            admin.post("/api/v1/keys", json={"name": role, "role": role}).get_json()["secret"],
        )
    definition = experiment_body(EXP, **({"rollout": PLAN} | body))
    created = keys["editor"].post("/api/v1/experiments", json=definition)
    assert created.status_code == 201, created.get_json()
    assert keys["release"].post(f"/api/v1/experiments/{EXP}/start", json={}).status_code == 200
    return Setup(app, keys["release"], keys["editor"], clock)


def dispatcher(app: Flask, **options: Any) -> WebhookDispatcher:
    runtime = app.extensions["rollout"]
    settings = {"backoff_s": 0.05, "poll_s": 0.01, "timeout_s": 1.0} | options
    return WebhookDispatcher(runtime.store, runtime.settings, **settings)


@pytest.fixture
def running() -> Iterator[list[WebhookDispatcher]]:
    started: list[WebhookDispatcher] = []
    yield started
    for d in started:
        d.stop()


def test_a_decision_is_posted_signed_with_the_global_secret(
    make_app: Callable[..., Flask],
    clock: Clock,
    receiver_factory: Callable[[], Receiver],
    running: list[WebhookDispatcher],
) -> None:
    receiver = receiver_factory()
    setup = build(make_app, clock, (receiver.url,))
    clock.advance(120)
    answer = setup.release.post(f"/api/v1/experiments/{EXP}/evaluate").get_json()
    running.append(dispatcher(setup.app).start())

    [request] = receiver.wait_for(1)

    assert verify(request.body, SECRET, request.headers[SIGNATURE_HEADER])
    assert not verify(request.body, "another secret", request.headers[SIGNATURE_HEADER])
    assert request.headers["Content-Type"] == "application/json"
    payload = json.loads(request.body)
    assert payload["experiment"] == EXP
    assert payload["decision"] == answer["action"] == "hold"
    assert payload["reasons"] == answer["reasons"]
    assert payload["figures"]["stage_age_s"] == 120
    assert payload["at"] == clock()
    assert request.headers[DELIVERY_HEADER] == payload["id"]


def test_a_per_experiment_webhook_is_signed_with_its_own_secret(
    make_app: Callable[..., Flask],
    clock: Clock,
    receiver_factory: Callable[[], Receiver],
    running: list[WebhookDispatcher],
) -> None:
    receiver = receiver_factory()
    setup = build(make_app, clock, (), webhooks=[receiver.url])
    ok(setup.release.post(f"/api/v1/experiments/{EXP}/evaluate"))
    running.append(dispatcher(setup.app).start())

    [request] = receiver.wait_for(1)

    own = derived_secret(SECRET, receiver.url)
    assert verify(request.body, own, request.headers[SIGNATURE_HEADER])
    assert not verify(request.body, SECRET, request.headers[SIGNATURE_HEADER])


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    make_app: Callable[..., Flask],
    clock: Clock,
    receiver_factory: Callable[[], Receiver],
    running: list[WebhookDispatcher],
) -> None:
    receiver = receiver_factory()
    receiver.answers = [500, 503]
    setup = build(make_app, clock, (receiver.url,))
    ok(setup.release.post(f"/api/v1/experiments/{EXP}/evaluate"))
    running.append(dispatcher(setup.app, backoff_s=0.2).start())

    requests = receiver.wait_for(3)

    assert len(requests) == 3
    assert len({r.headers[DELIVERY_HEADER] for r in requests}) == 1  # one delivery, retried
    assert len({r.body for r in requests}) == 1
    gaps = [b.at - a.at for a, b in itertools.pairwise(requests)]
    assert gaps[0] >= 0.18 and gaps[1] >= 0.38  # 0.2 s, then 0.4 s: exponential backoff
    time.sleep(0.05)
    log = setup.release.get("/api/v1/webhooks/deliveries").get_json()["deliveries"]
    attempts = [(e["attempt"], e["status_code"], e["ok"]) for e in reversed(log)]
    assert attempts == [(1, 500, False), (2, 503, False), (3, 200, True)]
    assert log[-1]["next_attempt_at"] is not None and log[0]["next_attempt_at"] is None


def test_a_dead_receiver_is_given_up_after_the_last_attempt(
    make_app: Callable[..., Flask], clock: Clock, running: list[WebhookDispatcher]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    setup = build(make_app, clock, (dead,))
    ok(setup.release.post(f"/api/v1/experiments/{EXP}/evaluate"))
    running.append(dispatcher(setup.app, backoff_s=0.01, max_attempts=3).start())
    store = setup.app.extensions["rollout"].store

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(store.controller.webhooks.deliveries()) < 3:
        time.sleep(0.01)

    log = store.controller.webhooks.deliveries(EXP)
    assert [e["attempt"] for e in log] == [3, 2, 1]
    assert all(not e["ok"] and e["error"] for e in log)
    assert "gave up after 3 attempts" in log[0]["error"]
    assert store.controller.webhooks.scheduled() == 0


def test_a_slow_receiver_delays_neither_the_controller_nor_the_other_receivers(
    make_app: Callable[..., Flask],
    clock: Clock,
    receiver_factory: Callable[[], Receiver],
    running: list[WebhookDispatcher],
) -> None:
    slow, fast = receiver_factory(), receiver_factory()
    slow.delay_s = 1.0
    setup = build(make_app, clock, (slow.url, fast.url))
    store = setup.app.extensions["rollout"].store
    running.append(dispatcher(setup.app, timeout_s=3.0).start())
    store.exposures.record([ExposureWrite(EXP, f"u{i}", i % 2) for i in range(400)], clock())
    controller = Runner(store, setup.app.extensions["rollout"].settings, clock=clock)

    timings = []
    for _ in range(3):
        clock.advance(3600)
        began = time.monotonic()
        [evaluation] = controller.tick()
        timings.append(time.monotonic() - began)
        assert evaluation.applied in ("advanced", None)
    fast_done = fast.wait_for(3, timeout_s=2.0)

    assert max(timings) < 0.5  # each evaluation only enqueues
    assert len(fast_done) == 3 and len(slow.requests) < 3  # the fast one did not wait
    assert len(slow.wait_for(3, timeout_s=6.0)) == 3  # and the slow one gets everything


def test_a_hold_that_repeats_is_posted_once(
    make_app: Callable[..., Flask],
    clock: Clock,
    receiver_factory: Callable[[], Receiver],
    running: list[WebhookDispatcher],
) -> None:
    receiver = receiver_factory()
    setup = build(make_app, clock, (receiver.url,))
    controller = Runner(
        setup.app.extensions["rollout"].store, setup.app.extensions["rollout"].settings, clock=clock
    )
    for _ in range(4):
        clock.advance(10)
        controller.tick()
    running.append(dispatcher(setup.app).start())
    receiver.wait_for(2, timeout_s=0.5)
    assert len(receiver.requests) == 1
