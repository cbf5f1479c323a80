"""`make demo`: a staged ramp and an automatic rollback, end to end, in under a minute.

It starts the real service (`rollout serve`: gunicorn with two workers and the controller
in-process, evaluating every 0.5 s) on an embedded Redis in a temporary directory, registers two
versions of two prompts, defines two experiments with short stages (seconds instead of hours),
and drives simulated users through the HTTP API (`/assign`, then `/events`):

- `summary-tone`: the new prompt is healthy (more thumbs up, same latency and cost) and ramps
  5% -> 20% -> 50% -> 100% by itself;
- `answer-speed`: the new prompt is 50% slower; its latency guardrail (10% tolerated) is
  breached and the controller rolls it back by itself.

A local webhook receiver checks the signature of every decision posted to it. Everything the
demo starts is stopped at the end, whatever happens.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import requests

from rollout.apply import HttpTransport, execute, load_bundle, make_plan
from rollout.embedded import EmbeddedRedis, free_port
from rollout.webhooks import SIGNATURE_HEADER, verify

DEADLINE_S = 55.0
INTERVAL_S = 0.5
USERS_PER_S = 300
SENDERS = 3
WEBHOOK_SECRET = secrets.token_hex(16)

STAGES = [
    {"traffic": 0.05, "min_duration_s": 3, "min_users_per_variant": 25},
    {"traffic": 0.20, "min_duration_s": 3, "min_users_per_variant": 100},
    {"traffic": 0.50, "min_duration_s": 3, "min_users_per_variant": 250},
    {"traffic": 1.00, "min_duration_s": 3, "min_users_per_variant": 500},
]
METRICS = [
    {"key": "thumbs_up", "type": "binary", "role": "primary", "direction": "increase"},
    {
        "key": "latency_ms",
        "type": "mean",
        "role": "guardrail",
        "direction": "decrease",
        "max_regression": 0.10,
    },
    {
        "key": "cost_usd",
        "type": "ratio",
        "role": "guardrail",
        "direction": "decrease",
        "max_regression": 0.05,
    },
]


@dataclass(frozen=True)
class Behaviour:
    """How users respond to a variant: thumbs-up rate, latency and cost factors."""

    thumbs_up: float
    latency: float = 1.0
    cost: float = 1.0


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@dataclass(frozen=True)
class Scenario:
    key: str
    name: str
    prompt: str
    templates: tuple[str, str] | None  # None: versions 1 and 2 come from examples/ (rollout apply)
    behaviour: dict[str, Behaviour]
    expect: str


SCENARIOS = [
    Scenario(
        key="summary-tone",
        name="Friendlier summaries",
        prompt="summarize",
        templates=None,
        behaviour={"control": Behaviour(0.20), "new": Behaviour(0.26)},
        expect="ramps through every stage",
    ),
    Scenario(
        key="answer-speed",
        name="Longer reasoning answers",
        prompt="answer",
        templates=("Answer: {{ question }}", "Think step by step, then answer: {{ question }}"),
        behaviour={"control": Behaviour(0.20), "new": Behaviour(0.21, latency=1.5)},
        expect="rolled back (+50% latency)",
    ),
]


class Api:
    def __init__(self, base: str, key: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.session.request(method, self.base + path, json=body, timeout=10)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None


@dataclass
class Webhooks:
    """A local receiver that counts decisions and checks each signature."""

    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0


@contextmanager
def webhook_receiver(hooks: Webhooks) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if verify(body, WEBHOOK_SECRET, self.headers.get(SIGNATURE_HEADER)):
                hooks.received.append(json.loads(body))
            else:
                hooks.bad_signatures += 1
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def service(workdir: Path, webhook_url: str, admin_key: str) -> Iterator[str]:
    """Embedded Redis plus `rollout serve` (gunicorn + the controller); stopped on exit."""
    redis_server = EmbeddedRedis(workdir / "redis", persistent=False).start()
    port = free_port()
    metrics_dir = workdir / "metrics"
    metrics_dir.mkdir()
    env = dict(
        os.environ,
        REDIS_URL=redis_server.url,
        ROLLOUT_ADMIN_KEY=admin_key,
        ROLLOUT_CONTROLLER_INTERVAL_S=str(INTERVAL_S),
        ROLLOUT_WEBHOOK_URLS=webhook_url,
        ROLLOUT_WEBHOOK_SECRET=WEBHOOK_SECRET,
        ROLLOUT_DATA_DIR=str(workdir / "data"),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        HOST="127.0.0.1",
        PORT=str(port),
        LOG_LEVEL="warning",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "rollout.cli", "serve", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, server)
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        redis_server.stop()


def _wait_ready(base: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.poll() is not None:
            error = server.stderr.read() if server.stderr else ""
            raise RuntimeError(f"the service exited at start-up:\n{error[-2000:]}")
        try:
            if requests.get(base + "/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError("the service did not become ready within 20 s")


def apply_examples(base: str, editor_key: str) -> None:
    """Register the prompts of examples/ exactly as `rollout apply -f examples/prompts` does."""
    transport = HttpTransport(base, editor_key)
    execute(transport, make_plan(transport, load_bundle(EXAMPLES / "prompts")))


def define(editor: Api, release: Api, scenario: Scenario) -> None:
    if scenario.templates is None:
        versions = [1, 2]
    else:
        versions = [
            editor.call(
                "POST",
                f"/api/v1/prompts/{scenario.prompt}/versions",
                {"template": template, "model": "demo-model", "message": "demo"},
            )["version"]
            for template in scenario.templates
        ]
    editor.call(
        "POST",
        "/api/v1/experiments",
        {
            "key": scenario.key,
            "name": scenario.name,
            "owner": "demo",
            "variants": [
                {"key": "control", "weight": 0.5, "prompt": f"{scenario.prompt}@{versions[0]}"},
                {"key": "new", "weight": 0.5, "prompt": f"{scenario.prompt}@{versions[1]}"},
            ],
            "control": "control",
            "metrics": METRICS,
            "rollout": {"stages": STAGES, "auto_advance": True, "auto_rollback": True},
        },
    )
    release.call("POST", f"/api/v1/experiments/{scenario.key}/start", {"reason": "demo"})


class Traffic:
    """Simulated users: each is assigned through the API, then reports its metrics as events."""

    def __init__(self, base: str, sdk_key: str, seed: int) -> None:
        self.base = base
        self.sdk_key = sdk_key
        self.seed = seed
        self.stop = threading.Event()
        self.users = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(SENDERS):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self, index: int) -> None:
        api = Api(self.base, self.sdk_key)
        rng = np.random.default_rng(self.seed + index)
        behaviours = {s.key: s.behaviour for s in SCENARIOS}
        per_sender = USERS_PER_S / SENDERS
        serial = 0
        started = time.monotonic()
        while not self.stop.is_set():
            events: list[dict[str, Any]] = []
            for _ in range(20):
                serial += 1
                user = f"user-{index}-{serial}"
                try:
                    answer = api.call("POST", "/api/v1/assign", {"user_id": user})
                except (RuntimeError, requests.RequestException):
                    with self._lock:
                        self.errors += 1
                    continue
                for key, assignment in answer["assignments"].items():
                    if key in behaviours and assignment["in_experiment"]:
                        act = behaviours[key][assignment["variant"]]
                        events += _events(rng, user, key, act, serial)
            if events:
                try:
                    api.call("POST", "/api/v1/events", {"events": events})
                except (RuntimeError, requests.RequestException):
                    with self._lock:
                        self.errors += 1
            with self._lock:
                self.users += 20
            # Pace the senders so the service, Redis and the demo share two cores comfortably.
            ahead = serial / per_sender - (time.monotonic() - started)
            if ahead > 0:
                self.stop.wait(ahead)


def _events(
    rng: np.random.Generator, user: str, experiment: str, act: Behaviour, serial: int
) -> list[dict[str, Any]]:
    requests_made = 1 + int(rng.poisson(1.0))
    latency = float(rng.lognormal(np.log(700.0), 0.35)) * act.latency
    cost = float(rng.gamma(4.0, 0.0005)) * act.cost * requests_made
    base = {"user_id": user, "experiment": experiment}
    events = [
        {**base, "event_id": f"{experiment}-{user}-l", "metric": "latency_ms", "value": latency},
        {
            **base,
            "event_id": f"{experiment}-{user}-c",
            "metric": "cost_usd",
            "value": cost,
            "denominator": requests_made,
        },
    ]
    if rng.random() < act.thumbs_up:
        events.append(
            {**base, "event_id": f"{experiment}-{user}-t", "metric": "thumbs_up", "value": 1}
        )
    return events


@dataclass
class Watch:
    """What the demo has printed so far for one experiment."""

    seen_history: int = 0
    finished_at: float | None = None
    last: dict[str, Any] = field(default_factory=dict)


def progress(release: Api, started: float, watches: dict[str, Watch], traffic: Traffic) -> None:
    """Print every new controller action as it happens, and one status line."""
    line = []
    for scenario in SCENARIOS:
        watch = watches[scenario.key]
        # History first: the status read after it is as new as the events printed, or newer.
        path = f"/api/v1/experiments/{scenario.key}"
        entries = release.call("GET", f"{path}/history?limit=1000")["history"]
        experiment = release.call("GET", path)
        results = release.call("GET", f"{path}/results")
        for entry in entries[watch.seen_history :]:
            if entry["action"] in ("advance", "rollback", "pause", "conclude"):
                print(
                    f"  {time.monotonic() - started:5.1f}s  {scenario.key:<13} "
                    f"{entry['action'].upper():<8} {_short(entry)}",
                    flush=True,
                )
        watch.seen_history = len(entries)
        users = "/".join(str(v["users"]) for v in results["variants"].values())
        state = experiment["status"]
        if state == "running":
            state = f"stage {experiment['stage']} ({experiment['traffic']:.0%})"
        watch.last = {"experiment": experiment, "results": results, "history": entries}
        if watch.finished_at is None and _finished(scenario, experiment, results):
            watch.finished_at = time.monotonic() - started
        line.append(f"{scenario.key} {state:<14} users {users:<11}")
    print(
        f"  {time.monotonic() - started:5.1f}s  "
        + " | ".join(line)
        + f" | {traffic.users} users sent",
        flush=True,
    )


def _short(entry: dict[str, Any]) -> str:
    if entry["action"] == "advance":
        return f"-> stage {entry['changes']['stage']} ({entry['changes']['traffic']:.0%})"
    breached = [c for c in (entry.get("figures") or {}).get("comparisons", []) if c["breached"]]
    if breached:
        return "; ".join(
            f"{c['metric']} of {c['variant']}: always-valid relative change "
            f"[{c['sequential_relative_ci'][0]:+.0%}, {c['sequential_relative_ci'][1]:+.0%}], "
            f"tolerated {c['max_regression']:+.0%}"
            for c in breached
            if c["sequential_relative_ci"] is not None
        )
    return str(entry.get("reason") or "").split(";")[0][:100]


def _finished(scenario: Scenario, experiment: dict[str, Any], results: dict[str, Any]) -> bool:
    if experiment["status"] != "running":
        return True
    return bool(results["decision"]["action"] == "complete")


def summary(watches: dict[str, Watch], hooks: Webhooks, traffic: Traffic, took: float) -> bool:
    """The table at the end; True when both experiments did what the demo expects."""
    print()
    header = f"{'experiment':<14} {'expected':<28} {'outcome':<50} {'users/variant':<14} latency"
    print(header)
    print("-" * len(header))
    ok = True
    for scenario in SCENARIOS:
        last = watches[scenario.key].last
        experiment, results = last["experiment"], last["results"]
        advances = sum(1 for e in last["history"] if e["action"] == "advance")
        if experiment["status"] == "rolled_back":
            outcome = f"rolled back at stage {experiment['stage']}"
        elif experiment["status"] == "running":
            outcome = (
                f"stage {experiment['stage']} ({experiment['traffic']:.0%}), {advances} advances"
            )
            if results["decision"]["action"] == "complete":
                outcome += ", complete"
        else:
            outcome = experiment["status"]
        finished = watches[scenario.key].finished_at
        if finished is not None:
            outcome += f" after {finished:.0f} s"
        users = "/".join(str(v["users"]) for v in results["variants"].values())
        latency = next(m for m in results["metrics"] if m["metric"] == "latency_ms")
        lift = latency["comparisons"][0]["relative_lift"]
        shown = "n/a" if lift is None else f"{lift:+.0%}"
        print(f"{scenario.key:<14} {scenario.expect:<28} {outcome:<50} {users:<14} {shown}")
        if scenario.behaviour["new"].latency > 1:
            ok &= experiment["status"] == "rolled_back"
        else:
            ok &= experiment["status"] == "running" and advances == len(STAGES) - 1
    print()
    print(
        f"{traffic.users} simulated users in {took:.0f} s ({traffic.errors} failed requests); "
        f"{len(hooks.received)} webhook deliveries with a valid signature, "
        f"{hooks.bad_signatures} invalid"
    )
    return ok


def run(workdir: Path) -> int:
    hooks = Webhooks()
    admin_key = "rk_demo-" + secrets.token_hex(24)
    began = time.monotonic()
    with ExitStack() as stack:
        hook_url = stack.enter_context(webhook_receiver(hooks))
        print(
            "starting the service (embedded Redis, gunicorn with 2 workers, controller "
            f"every {INTERVAL_S} s) ...",
            flush=True,
        )
        base = stack.enter_context(service(workdir, hook_url, admin_key))
        admin = Api(base, admin_key)
        secrets_by_role = {
            role: admin.call("POST", "/api/v1/keys", {"name": f"demo-{role}", "role": role})[
                "secret"
            ]
            for role in ("editor", "release", "sdk")
        }
        keys = {role: Api(base, secret) for role, secret in secrets_by_role.items()}
        apply_examples(base, secrets_by_role["editor"])
        for scenario in SCENARIOS:
            define(keys["editor"], keys["release"], scenario)
        print(
            f"service up at {base}; two prompts, two versions each, two experiments with "
            f"stages {', '.join(format(s['traffic'], '.0%') for s in STAGES)}",
            flush=True,
        )
        traffic = Traffic(base, secrets_by_role["sdk"], seed=2025)
        stack.callback(traffic.close)
        traffic.start()
        started = time.monotonic()
        watches = {s.key: Watch() for s in SCENARIOS}
        while time.monotonic() - began < DEADLINE_S:
            time.sleep(1.0)
            progress(keys["release"], started, watches, traffic)
            if all(w.finished_at is not None for w in watches.values()):
                break
        traffic.close()
        time.sleep(0.5)  # let the last webhook deliveries land
        ok = summary(watches, hooks, traffic, time.monotonic() - began)
    print(f"stopped everything the demo started ({time.monotonic() - began:.0f} s in all)")
    return 0 if ok else 1


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="rollout-demo-"))
    try:
        return run(workdir)
    except KeyboardInterrupt:
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
