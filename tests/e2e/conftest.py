"""The real service under gunicorn (two workers) on a free port, talked to over HTTP.

Each worker's pid is written in gunicorn's access log next to the request's `?probe=` marker, so a
test can tell which workers answered a batch of requests and insist that both did.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from rollout.embedded import EmbeddedRedis, free_port
from tests.conftest import ADMIN_KEY

REPO = Path(__file__).resolve().parents[2]
ACCESS_FORMAT = "%(p)s|%(m)s|%(U)s|%(q)s|%(s)s"
START_TIMEOUT_S = 30.0


def child_env(**overrides: str | None) -> dict[str, str]:
    """This process's environment without the service's settings, plus `overrides`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ROLLOUT_", "REDIS_", "GUNICORN_", "PROMETHEUS_"))
        and k not in {"PORT", "HOST", "WEB_CONCURRENCY"}
    }
    env.update({k: v for k, v in overrides.items() if v is not None})
    return env


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited ({process.returncode}):\n{tail(log)}")
        try:
            if requests.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server did not answer /healthz in {START_TIMEOUT_S} s:\n{tail(log)}")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 20) -> int:
    """Stop `process` the way an operator would, and reap it; kill it if it will not go."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path
    access_log: Path
    metrics_dir: Path

    def request(
        self, method: str, path: str, key: str | None = ADMIN_KEY, probe: str | None = None,
        **kw: Any,
    ) -> requests.Response:
        """One request on a fresh connection, so the kernel may hand it to either worker."""
        headers = {"Connection": "close", **kw.pop("headers", {})}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        params = {"probe": probe} if probe else None
        return requests.request(
            method, self.base_url + path, headers=headers, params=params, timeout=10, **kw
        )

    def spread(
        self, count: int, method: str, path: str, probe: str, key: str | None = ADMIN_KEY,
        **kw: Any,
    ) -> list[requests.Response]:
        """`count` requests from 8 threads at once, again until both workers have answered some.

        Which worker accepts a connection is the kernel's choice, and one gthread worker can take
        a whole burst; a test about every worker needs both to have answered (up to 10 bursts).
        """
        answered: list[requests.Response] = []
        for _ in range(10):
            with ThreadPoolExecutor(max_workers=8) as pool:
                futures = [
                    pool.submit(self.request, method, path, key, probe, **kw)
                    for _ in range(count)
                ]
                answered.extend(f.result() for f in futures)
            if len(self.workers_for(probe)) >= 2:
                break
        return answered

    def workers_for(self, probe: str) -> dict[int, list[int]]:
        """Worker pid -> the statuses it answered to requests carrying `probe`."""
        deadline = time.monotonic() + 2.0
        found: dict[int, list[int]] = {}
        while time.monotonic() < deadline:
            found = {}
            for line in self.access_log.read_text().splitlines():
                pid, _method, _path, query, status = line.split("|")
                if query == f"probe={probe}":
                    found.setdefault(int(pid.strip("<>")), []).append(int(status))
            if found:
                return found
            time.sleep(0.05)
        return found


def start_gunicorn(
    tmp: Path, redis_url: str, extra_env: Mapping[str, str] | None = None
) -> Server:
    port = free_port()
    metrics_dir = tmp / "metrics"
    metrics_dir.mkdir()
    log, access_log = tmp / "gunicorn.log", tmp / "access.log"
    env = child_env(
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        REDIS_URL=redis_url,
        ROLLOUT_ADMIN_KEY=ADMIN_KEY,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        GUNICORN_CMD_ARGS=f"--access-logfile={access_log} --access-logformat={ACCESS_FORMAT}",
        **(extra_env or {}),
    )
    command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
               "rollout.app:create_app()"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log, access_log, metrics_dir)
    try:
        wait_healthy(server.base_url, process, log)
    except BaseException:
        stop(process)
        raise
    return server


def gunicorn_on_empty_redis(
    redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Real gunicorn on the session's Redis, emptied first; it must stop cleanly afterwards.
    Suites wrap it in a fixture of the scope they need."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    server = start_gunicorn(tmp_path_factory.mktemp("gunicorn"), redis_server.url)
    yield server
    code = stop(server.process)
    assert code == 0, tail(server.log)


@pytest.fixture(scope="module")
def gunicorn(
    redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    yield from gunicorn_on_empty_redis(redis_server, tmp_path_factory)
