"""Kill-switch propagation: how long a rollback or pause takes to reach every assignment.

- workers: gunicorn (--workers, default 3, gthread) on an embedded redis-server. Before each
  change, one keep-alive connection is pinned to every worker (a response header names the
  worker's pid, added by the `wsgi()` wrapper below; the app is otherwise the real one). The
  change is made through the API on another connection, and each pinned connection then asks
  `/assign` for a user of the treatment until it answers the control; the delay is the slowest
  worker's. Workers learn of changes by pub/sub, with a poll of the configuration version every
  0.5 s behind it (rollout/config_cache.py), so the bound is one poll interval.
- sdk: a `RolloutClient` assigns locally from its cached configuration; after the change it is
  asked in a tight loop until it answers the control. Its delay is its refresh interval at most
  (`refresh_interval_s`, 5 s by default) plus one fetch; measured here at 1 s and at the default,
  each change made at a random phase of the client's refresh cycle (seeded).
- baseline: the median round trip of one `/assign` on a pinned connection, the floor of any
  observation made by polling; the figures are printed as multiples of it.

    .venv/bin/python bench/propagation.py [--workers 3] [--repeat 10] [--sdk-repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from rollout.embedded import EmbeddedRedis, free_port

EXP = "kill-switch"
SEED = 7
PID_HEADER = "X-Worker-Pid"
ROOT = Path(__file__).resolve().parent.parent


def wsgi() -> Any:
    """The real app, plus the answering worker's pid in a header (gunicorn's entry here)."""
    from flask import Response

    from rollout.app import create_app

    app = create_app()

    @app.after_request
    def name_the_worker(response: Response) -> Response:
        response.headers[PID_HEADER] = str(os.getpid())
        return response

    return app


def children(pid: int) -> set[int]:
    """The gunicorn master's worker processes, from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(entry.name))
    return found


class Service:
    def __init__(self, workdir: Path, workers: int) -> None:
        self.redis = EmbeddedRedis(workdir / "redis", persistent=False).start()
        self.admin_key = "rk_bench-" + secrets.token_hex(24)
        port = free_port()
        env = dict(
            os.environ,
            REDIS_URL=self.redis.url,
            ROLLOUT_ADMIN_KEY=self.admin_key,
            HOST="127.0.0.1",
            PORT=str(port),
            WEB_CONCURRENCY=str(workers),
            PROMETHEUS_MULTIPROC_DIR=str(workdir / "metrics"),
            LOG_LEVEL="warning",
        )
        (workdir / "metrics").mkdir()
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "deploy/gunicorn.conf.py"),
            "--pythonpath",
            str(ROOT / "bench"),
            "propagation:wsgi()",
        ]
        self.process = subprocess.Popen(command, env=env, cwd=ROOT)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base + "/readyz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not become ready")
        while len(children(self.process.pid)) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
        self.workers = children(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.redis.stop()


def session(key: str) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {key}"
    return s


def call(s: requests.Session, base: str, method: str, path: str, body: Any = None) -> Any:
    response = s.request(method, base + path, json=body, timeout=10)
    if response.status_code >= 400:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:200]}")
    return response


def pin_every_worker(service: Service, sdk_key: str) -> dict[int, requests.Session]:
    """One keep-alive connection per worker (gthread keeps a connection on its worker).

    Connections are opened a dozen at a time: one after another they tend to land on the
    worker that accepted last."""
    pinned: dict[int, requests.Session] = {}

    def connect(_: int) -> tuple[int, requests.Session]:
        s = session(sdk_key)
        return int(call(s, service.base, "GET", "/healthz").headers[PID_HEADER]), s

    with ThreadPoolExecutor(max_workers=12) as pool:
        for _ in range(50):
            for pid, s in pool.map(connect, range(12)):
                if pid in pinned:
                    s.close()
                else:
                    pinned[pid] = s
            if set(pinned) >= service.workers:
                return pinned
    raise RuntimeError(f"reached workers {sorted(pinned)} of {sorted(service.workers)}")


def treatment_user(s: requests.Session, base: str, experiment: str) -> str:
    for i in range(1000):
        answer = call(
            s, base, "POST", "/api/v1/assign", {"user_id": f"u{i}", "experiments": [experiment]}
        ).json()
        if answer["assignments"][experiment]["variant"] == "new":
            return f"u{i}"
    raise RuntimeError("no user in the treatment")


def assigned(s: requests.Session, base: str, experiment: str, user: str) -> tuple[str, int]:
    response = call(
        s,
        base,
        "POST",
        "/api/v1/assign",
        {"user_id": user, "experiments": [experiment], "track": False},
    )
    return response.json()["assignments"][experiment]["variant"], int(response.headers[PID_HEADER])


def define(editor: requests.Session, release: requests.Session, base: str, key: str) -> None:
    call(
        editor,
        base,
        "POST",
        "/api/v1/experiments",
        {
            "key": key,
            "name": key,
            "control": "control",
            "traffic": 1.0,
            "variants": [{"key": "control", "weight": 0.5}, {"key": "new", "weight": 0.5}],
        },
    )
    call(release, base, "POST", f"/api/v1/experiments/{key}/start", {})


def worker_delay(
    service: Service, keys: dict[str, str], key: str, kind: str
) -> tuple[float, dict[int, float]]:
    """Seconds from the change's answer until every worker assigns the control."""
    editor, release = session(keys["editor"]), session(keys["release"])
    define(editor, release, service.base, key)
    pinned = pin_every_worker(service, keys["sdk"])
    user = treatment_user(next(iter(pinned.values())), service.base, key)
    for pid, s in pinned.items():  # every worker has the experiment running, with the user in it
        deadline = time.monotonic() + 5
        while assigned(s, service.base, key, user) != ("new", pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {pid} never saw the experiment")
    seen: dict[int, float] = {}
    go = threading.Event()

    def watch(pid: int, s: requests.Session) -> None:
        go.wait()
        while True:
            variant, answered_by = assigned(s, service.base, key, user)
            assert answered_by == pid, "a pinned connection moved to another worker"
            if variant == "control":
                seen[pid] = time.monotonic()
                return

    threads = [threading.Thread(target=watch, args=item) for item in pinned.items()]
    for thread in threads:
        thread.start()
    body = {"reason": "bench"} if kind == "rollback" else {}
    call(release, service.base, "POST", f"/api/v1/experiments/{key}/{kind}", body)
    changed = time.monotonic()
    go.set()
    for thread in threads:
        thread.join(timeout=10)
    for s in [*pinned.values(), editor, release]:
        s.close()
    delays = {pid: max(0.0, at - changed) for pid, at in seen.items()}
    if len(delays) < len(pinned):
        raise RuntimeError("a worker never answered the control within 10 s")
    return max(delays.values()), delays


def sdk_delay(
    service: Service, keys: dict[str, str], key: str, refresh_s: float, phase: float
) -> float:
    """Seconds until a client assigns the control, the change made `phase` of a refresh
    interval after the client first saw the experiment (a client's refreshes are not in step
    with changes, so the caller draws the phase at random)."""
    from rollout.client import RolloutClient

    editor, release = session(keys["editor"]), session(keys["release"])
    define(editor, release, service.base, key)
    user = treatment_user(session(keys["sdk"]), service.base, key)
    with RolloutClient(service.base, keys["sdk"], refresh_interval_s=refresh_s) as client:
        deadline = time.monotonic() + refresh_s + 5
        while client.assign(user, key).variant != "new":
            if time.monotonic() > deadline:
                raise RuntimeError("the SDK never saw the experiment")
            time.sleep(0.005)
        time.sleep(phase * refresh_s)
        call(
            release,
            service.base,
            "POST",
            f"/api/v1/experiments/{key}/rollback",
            {"reason": "bench"},
        )
        changed = time.monotonic()
        while client.assign(user, key).variant != "control":
            if time.monotonic() - changed > refresh_s + 10:
                raise RuntimeError("the SDK never saw the rollback")
            time.sleep(0.001)
        return time.monotonic() - changed


def round_trip(service: Service, sdk_key: str, key: str, count: int = 200) -> float:
    s = session(sdk_key)
    times = []
    for i in range(count):
        began = time.perf_counter()
        call(
            s,
            service.base,
            "POST",
            "/api/v1/assign",
            {"user_id": f"rt{i}", "experiments": [key], "track": False},
        )
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--sdk-repeat", type=int, default=3)
    args = parser.parse_args()
    # After the change the client's queued exposures of the old variant are refused, as they
    # should be; its warnings about them are not what is measured here.
    logging.getLogger("rollout_sdk").setLevel(logging.CRITICAL)

    with tempfile.TemporaryDirectory(prefix="rollout-bench-") as tmp:
        service = Service(Path(tmp), args.workers)
        try:
            admin = session(service.admin_key)
            keys = {
                role: call(
                    admin,
                    service.base,
                    "POST",
                    "/api/v1/keys",
                    {"name": f"bench-{role}", "role": role},
                ).json()["secret"]
                for role in ("editor", "release", "sdk")
            }
            print(f"gunicorn workers: {sorted(service.workers)}")
            worker_rows = []
            for i in range(args.repeat):
                kind = "rollback" if i % 2 == 0 else "pause"
                slowest, per_worker = worker_delay(service, keys, f"{EXP}-w{i}", kind)
                worker_rows.append(slowest)
                shown = " ".join(f"{pid}:{d * 1000:.1f}" for pid, d in sorted(per_worker.items()))
                print(f"  {kind:<8} slowest worker {ms(slowest)}   per worker (ms) {shown}")
            rng = random.Random(SEED)
            sdk_fast = [
                sdk_delay(service, keys, f"{EXP}-s{i}", 1.0, rng.random())
                for i in range(args.repeat)
            ]
            sdk_default = [
                sdk_delay(service, keys, f"{EXP}-d{i}", 5.0, rng.random())
                for i in range(args.sdk_repeat)
            ]
            baseline = round_trip(service, keys["sdk"], f"{EXP}-w0")
        finally:
            service.stop()

    print()
    print(f"{'path':<44} {'median':>11} {'max':>11} {'x baseline':>11}")
    rows = [
        (f"every worker ({len(service.workers)}), rollback or pause", worker_rows),
        ("SDK, refresh_interval_s=1", sdk_fast),
        ("SDK, refresh_interval_s=5 (default)", sdk_default),
    ]
    print(f"{'baseline: one /assign round trip':<44} {ms(baseline):>11} {'':>11} {1:>11.1f}")
    for name, values in rows:
        median = statistics.median(values)
        print(f"{name:<44} {ms(median):>11} {ms(max(values)):>11} {median / baseline:>11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
