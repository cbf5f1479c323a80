"""Assignment speed: in-process against the GrowthBook SDK, and over HTTP against bare Flask.

1. In-process, one thread, the same two-variant 50/50 experiment and the same distinct users:
   - `rollout_sdk.kernel.assignment.assign` on a compiled experiment (what the service and SDK
     run);
   - `RolloutClient.assign` (the SDK's public call: local evaluation, the answer object, and the
     exposure queued once per user; its service is unreachable here, so nothing is sent);
   - GrowthBook's `GrowthBook.run(Experiment)` with one instance and `set_attributes` per user
     (its fastest server-side use; a tracking callback stands for our exposure queue), and, for
     information, one GrowthBook instance per user as its docs suggest per request.
   Target: the SDK >= 3x GrowthBook (the first of its two figures).
2. HTTP: `POST /api/v1/assign` of the real service under gunicorn (deploy/gunicorn.conf.py,
   embedded redis-server) against a bare Flask JSON endpoint that parses the same body and
   answers a constant of the same shape, under the same gunicorn settings and the same load
   generator (`wrk` with a Lua script making every user distinct; the Python generator below
   when wrk is missing). Both with `track: false` (pure assignment) and `track: true` (the
   default: the first exposure written to Redis). Target: the service >= 60% of bare Flask;
   tracked, >= 90% of bare Flask making the one Redis write a tracked assignment cannot avoid.
   Five rounds by default, interleaved, best of each, and the median of the rounds' ratios.
   Every server runs with gunicorn's `--reuse-port` (each worker its own SO_REUSEPORT listener,
   the kernel spreading connections by a hash): on the one listener of the deployment's
   settings the worker that wakes first accepts them all, and 5 of 12 runs of wrk -c16 put all
   16 on one worker, at under half the rate whichever server it hit (0 of 9 with the flag).
   A run whose split (read from /proc a second in) is still worse than 10/6 is printed and run
   again, up to four times in all (the last counts however it was split).

    .venv/bin/python bench/assign.py [--users 200000] [--duration 10] [--rounds 5]
                                     [--skip-http | --skip-in-process]

ROLLOUT_BENCH_QUICK=1 (set by bench/run_all.py) shortens both parts.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from experiments.model import Experiment
from experiments.sdk_document import assignment_spec
from rollout.client import RolloutClient
from rollout.embedded import EmbeddedRedis, free_port
from rollout_sdk.kernel.assignment import assign, compile_experiment

ROOT = Path(__file__).resolve().parent.parent
QUICK = os.environ.get("ROLLOUT_BENCH_QUICK") == "1"
EXP = "bench-tone"
VARIANTS = [
    {"key": "control", "weight": 0.5, "config": {"tone": "neutral"}},
    {"key": "friendly", "weight": 0.5, "config": {"tone": "friendly"}},
]


# --- 1. in-process -------------------------------------------------------------------------------


def sdk_document() -> dict[str, Any]:
    """What GET /api/v1/sdk/config answers for one running 50/50 experiment."""
    return {
        "version": 1,
        "experiments": [
            {
                "key": EXP, "seed": EXP, "status": "running", "control": "control",
                "traffic": 1.0, "targeting": None, "layer": None, "layer_range": None,
                "winner": None,
                "variants": [{**v, "prompt": None} for v in VARIANTS],
            }
        ],
        "prompts": {},
    }


def timed(run: Callable[[list[str]], int], users: list[str], repeat: int) -> tuple[float, int]:
    """Best calls/s over `repeat` passes, and the treatment count of the last (a sanity check)."""
    best, treated = 0.0, 0
    for _ in range(repeat):
        started = time.perf_counter()
        treated = run(users)
        best = max(best, len(users) / (time.perf_counter() - started))
    return best, treated


def core_pass(users: list[str]) -> int:
    compiled = compile_experiment(
        assignment_spec(
            Experiment.model_validate(
                {"key": EXP, "name": EXP, "variants": VARIANTS, "control": "control",
                 "status": "running", "seed": EXP}
            )
        )
    )
    treated = 0
    for user in users:
        if assign(compiled, user, None).variant == "friendly":
            treated += 1
    return treated


def sdk_pass(users: list[str]) -> int:
    # An unreachable service (nothing listens on a fresh free port): the configuration comes from
    # `bootstrap`, the exposures wait in the queue, and no network work competes for the GIL.
    client = RolloutClient(
        f"http://127.0.0.1:{free_port()}", "rk_bench", bootstrap=sdk_document(),
        refresh_interval_s=3600, flush_interval_s=3600, timeout_s=0.2,
        max_queue=len(users) + 1,
    )
    treated = 0
    try:
        for user in users:
            if client.assign(user, EXP).variant == "friendly":
                treated += 1
    finally:
        client.close(timeout=0)
    return treated


def growthbook_pass(users: list[str]) -> int:
    from growthbook import Experiment as GbExperiment
    from growthbook import GrowthBook

    tracked: list[Any] = []

    def track(*, experiment: Any, result: Any, user_context: Any) -> None:
        tracked.append(result)

    gb = GrowthBook(trackingCallback=track)
    experiment = GbExperiment(key=EXP, variations=["control", "friendly"], weights=[0.5, 0.5])
    treated = 0
    for user in users:
        gb.set_attributes({"id": user})
        if gb.run(experiment).value == "friendly":
            treated += 1
    return treated


def growthbook_per_user_pass(users: list[str]) -> int:
    from growthbook import Experiment as GbExperiment
    from growthbook import GrowthBook

    experiment = GbExperiment(key=EXP, variations=["control", "friendly"], weights=[0.5, 0.5])
    tracked: list[Any] = []

    def track(*, experiment: Any, result: Any, user_context: Any) -> None:
        tracked.append(result)

    treated = 0
    for user in users:
        gb = GrowthBook(attributes={"id": user}, trackingCallback=track)
        if gb.run(experiment).value == "friendly":
            treated += 1
    return treated


def in_process(count: int, repeat: int) -> None:
    logging.getLogger("rollout_sdk").setLevel(logging.CRITICAL)
    logging.getLogger("growthbook").setLevel(logging.CRITICAL)
    users = [f"user-{index}" for index in range(count)]
    print(f"1. in-process assign, one thread, {count} distinct users, best of {repeat}")
    rows = [
        ("kernel.assignment.assign", *timed(core_pass, users, repeat)),
        ("RolloutClient.assign (SDK)", *timed(sdk_pass, users, repeat)),
        ("GrowthBook.run, one instance", *timed(growthbook_pass, users, repeat)),
        ("GrowthBook, instance per user", *timed(growthbook_per_user_pass, users, 1)),
    ]
    for name, rate, treated in rows:
        print(f"   {name:<32} {rate:>12,.0f} ops/s   {rate and 1e6 / rate:6.2f} us/op"
              f"   treated {treated / count:.1%}")
    gb_rate = rows[2][1]
    print(f"   SDK / GrowthBook            {rows[1][1] / gb_rate:6.1f}x  (target >= 3x)")
    print(f"   core assign / GrowthBook    {rows[0][1] / gb_rate:6.1f}x")


# --- 2. HTTP ------------------------------------------------------------------------------------


def bare_app() -> Any:
    """The baseline: Flask parsing the same JSON and answering a constant of the same shape.

    With BENCH_BARE_WRITE=1 and `"track": true` it also makes the one Redis write that a tracked
    assignment cannot avoid (a set-if-absent of the user's exposure), so a second ratio shows
    what the service adds on top of that I/O.
    """
    import redis
    from flask import Flask, jsonify, request

    app = Flask("bare")
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    write = os.environ.get("BENCH_BARE_WRITE") == "1"

    @app.post("/api/v1/assign")
    def bare_assign() -> Any:
        body = request.get_json()
        if write and body.get("track"):
            client.hsetnx("bench:{bare}:exposures", body["user_id"], "1:0")
        return jsonify(
            {"user_id": body["user_id"], "assignments": {EXP: {
                "variant": "control", "in_experiment": True, "reason": "assigned",
                "prompt": None, "config": {"tone": "neutral"}}}}
        )

    return app


class Gunicorn:
    """One gunicorn with the deployment's settings and `--reuse-port` on a free port, stopped
    by `stop`."""

    def __init__(self, app: str, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        metrics = workdir / f"metrics-{self.port}"
        metrics.mkdir()
        full_env = dict(os.environ, **env, HOST="127.0.0.1", PORT=str(self.port),
                        PROMETHEUS_MULTIPROC_DIR=str(metrics), LOG_LEVEL="warning")
        command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy/gunicorn.conf.py"),
                   "--pythonpath", str(ROOT / "bench"), "--reuse-port", app]
        self.process = subprocess.Popen(command, env=full_env, cwd=ROOT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/healthz", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn ({app}) did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


WRK_SCRIPT = """
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
request = function()
  counter = counter + 1
  local body = string.format('{"user_id":"{run}-%d-%d","experiments":["%s"],"track":%s}',
                             id, counter, "{exp}", "{track}")
  return wrk.format("POST", "/api/v1/assign", {
    ["Content-Type"] = "application/json", ["Authorization"] = "Bearer {key}"}, body)
end
"""


def wrk_rate(
    server: Gunicorn, key: str, track: bool, duration: int, connections: int, workdir: Path
) -> tuple[float, list[int]]:
    """wrk's rate against `server`, and how its connections were split over the workers
    (counted a second into the run; [] where /proc cannot tell)."""
    run = secrets.token_hex(4)  # users of one run are distinct from every other run's
    script = workdir / f"assign-{run}.lua"
    script.write_text(WRK_SCRIPT.replace("{exp}", EXP).replace("{key}", key).replace("{run}", run)
                      .replace("{track}", "true" if track else "false"))
    process = subprocess.Popen(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "-s", str(script), server.url],
        stdout=subprocess.PIPE, text=True,
    )
    time.sleep(min(1.0, duration / 3))
    split = connection_split(server.port, server.process.pid)
    output, _ = process.communicate()
    if process.returncode != 0 or "Non-2xx" in output:
        raise RuntimeError(f"wrk saw errors:\n{output}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if found is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    return float(found.group(1)), split


def connection_split(port: int, master: int) -> list[int]:
    """How many established TCP connections to `port` each worker of gunicorn `master` holds,
    read from /proc (Linux); [] elsewhere."""
    try:
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if fields[3] == "01" and local_port == port:  # 01: ESTABLISHED
                    inodes.add(f"socket:[{fields[9]}]")
        workers = [
            int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat")
            if _parent_of(stat) == master
        ]
        return sorted(
            (sum(1 for fd in Path(f"/proc/{pid}/fd").iterdir() if _link(fd) in inodes)
             for pid in workers),
            reverse=True,
        )
    except OSError:
        return []


def _parent_of(stat: Path) -> int | None:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _link(fd: Path) -> str:
    try:
        return os.readlink(fd)
    except OSError:
        return ""


def python_rate(url: str, key: str, track: bool, duration: int, connections: int) -> float:
    """The fallback generator: `connections` threads, each one keep-alive http.client."""
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + duration
    run = secrets.token_hex(4)  # users of one run are distinct from every other run's
    counts = [0] * connections
    failures: list[str] = []

    def load(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        sent = 0
        while time.monotonic() < deadline:
            body = json.dumps({"user_id": f"{run}-{index}-{sent}", "experiments": [EXP],
                               "track": track})
            conn.request("POST", "/api/v1/assign", body, headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failures.append(f"HTTP {response.status}")
                return
            sent += 1
        counts[index] = sent

    threads = [threading.Thread(target=load, args=(i,)) for i in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"the load generator saw {failures[0]}")
    return sum(counts) / (time.monotonic() - started)


MAX_UNEVEN = 4
"""A run counts when its connections were split no worse than 10/6 over two workers."""
UNEVEN_RETRIES = 4


def http_bench(duration: int, rounds: int) -> None:
    use_wrk = shutil.which("wrk") is not None
    connections = 16 if use_wrk else 8
    generator = f"wrk -t2 -c{connections}" if use_wrk else f"python http.client x{connections}"
    with tempfile.TemporaryDirectory(prefix="bench-assign-") as tmp:
        workdir = Path(tmp)
        redis_server = EmbeddedRedis(workdir / "redis", persistent=False).start()
        admin = "rk_bench-" + secrets.token_hex(24)
        env = {"REDIS_URL": redis_server.url, "ROLLOUT_ADMIN_KEY": admin}
        service = bare = bare_write = None
        try:
            service = Gunicorn("rollout.app:create_app()", env, workdir)
            bare = Gunicorn("assign:bare_app()", env, workdir)
            bare_write = Gunicorn("assign:bare_app()", env | {"BENCH_BARE_WRITE": "1"}, workdir)
            sdk_key = prepare(service.url, admin)
            workers = os.environ.get("WEB_CONCURRENCY") or f"{os.cpu_count() or 1}"
            threads = os.environ.get("GUNICORN_THREADS", "8")
            print(f"\n2. HTTP POST /api/v1/assign, gunicorn ({workers} gthread workers x {threads}"
                  f" threads, deploy/gunicorn.conf.py), {generator}, {duration} s a run,"
                  f" best of {rounds}")

            def rate(server: Gunicorn, track: bool) -> float:
                if not use_wrk:
                    return python_rate(server.url, sdk_key, track, duration, connections)
                for _ in range(UNEVEN_RETRIES):
                    found, split = wrk_rate(server, sdk_key, track, duration, connections, workdir)
                    if not split or split[0] - split[-1] <= MAX_UNEVEN:
                        return found
                    print(f"   (a run with wrk's connections split {split} over the workers:"
                          f" {found:,.0f} req/s, run again)")
                return found

            for track in (False, True):
                best_bare = best_service = best_write = 0.0
                ratios: list[float] = []
                for round_ in range(rounds):
                    # Interleaved, and in the reverse order every other round, so that background
                    # load rising or falling during a round hits each server alike.
                    servers = {"bare": bare, "service": service}
                    if track:
                        servers["floor"] = bare_write
                    order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
                    rates = {name: rate(servers[name], track) for name in order}
                    best_bare = max(best_bare, rates["bare"])
                    best_service = max(best_service, rates["service"])
                    if track:
                        best_write = max(best_write, rates["floor"])
                        ratios.append(rates["service"] / rates["floor"])
                        print(f"   round {round_ + 1}, track=true: service {rates['service']:,.0f}"
                              f" req/s, bare Flask + one Redis write {rates['floor']:,.0f} req/s:"
                              f" {rates['service'] / rates['floor']:.0%}")
                print(f"   track={str(track).lower():<5}  bare Flask {best_bare:>8,.0f} req/s"
                      f"   service {best_service:>8,.0f} req/s"
                      f"   ratio {best_service / best_bare:5.0%}  (target >= 60%)")
                if track:
                    print(f"               bare Flask + one Redis write {best_write:>8,.0f} req/s"
                          f"   service / that {best_service / best_write:5.0%}  (target >= 90%);"
                          f" median of the rounds {statistics.median(ratios):.0%}")
        finally:
            for server in (service, bare, bare_write):
                if server is not None:
                    server.stop()
            redis_server.stop()


def prepare(url: str, admin: str) -> str:
    """Keys, and the experiment running; answers the sdk key."""
    def key(role: str) -> str:
        answer = requests.post(url + "/api/v1/keys", json={"name": f"bench-{role}", "role": role},
                               headers={"Authorization": f"Bearer {admin}"}, timeout=10)
        answer.raise_for_status()
        return str(answer.json()["secret"])

    editor, release, sdk = key("editor"), key("release"), key("sdk")
    body = {"key": EXP, "name": EXP, "variants": VARIANTS, "control": "control"}
    requests.post(url + "/api/v1/experiments", json=body, timeout=10,
                  headers={"Authorization": f"Bearer {editor}"}).raise_for_status()
    requests.post(url + f"/api/v1/experiments/{EXP}/start", json={}, timeout=10,
                  headers={"Authorization": f"Bearer {release}"}).raise_for_status()
    time.sleep(1.0)  # every worker sees the new configuration within a second
    return sdk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000 if QUICK else 200_000)
    parser.add_argument("--repeat", type=int, default=1 if QUICK else 3)
    parser.add_argument("--duration", type=int, default=3 if QUICK else 10,
                        help="seconds per HTTP run")
    parser.add_argument("--rounds", type=int, default=1 if QUICK else 5)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-in-process", action="store_true")
    args = parser.parse_args()
    if not args.skip_in_process:
        in_process(args.users, args.repeat)
    if not args.skip_http:
        http_bench(args.duration, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
