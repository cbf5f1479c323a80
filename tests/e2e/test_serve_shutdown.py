"""`rollout serve` (what `make run` runs) stops on Ctrl-C in order, quietly, within seconds.

Ctrl-C in a terminal sends SIGINT to the whole foreground process group, not to one process, so
the test starts `rollout serve` as the leader of its own group and signals the group, as the
terminal does: every child that shares the group (gunicorn, its workers, an embedded Redis) gets
the signal too, which is exactly what once stopped Redis before the app.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from rollout.embedded import free_port, port_is_busy
from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import child_env, stop, tail, wait_healthy

ROLLOUT = Path(sys.executable).with_name("rollout")
STOP_WITHIN_S = 10.0  # about 3 s on a quiet machine; the rest is room for a loaded one


def test_ctrl_c_stops_app_controller_webhooks_then_redis_quietly(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    env = child_env(
        PORT=str(port),
        ROLLOUT_DATA_DIR=str(data_dir),
        ROLLOUT_ADMIN_KEY=ADMIN_KEY,
        ROLLOUT_CONTROLLER_INTERVAL_S="0.2",
    )
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [str(ROLLOUT), "serve", "--workers", "2"],
            env=env, stdout=stdout, stderr=stderr, start_new_session=True, cwd=tmp_path,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, err)
        redis_port = int((data_dir / "redis.url").read_text().rsplit(":", 1)[1].split("/")[0])
        assert port_is_busy(redis_port)
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        assert requests.get(f"{base}/api/v1/experiments", headers=headers, timeout=5).ok
        time.sleep(1.0)  # a few controller ticks and webhook polls against the live Redis

        began = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(timeout=30)
        took = time.monotonic() - began
    finally:
        stop(process, signal.SIGKILL)

    errors = err.read_text(errors="replace")
    assert code == 0, tail(err)
    assert took < STOP_WITHIN_S, f"took {took:.1f} s:\n{tail(err)}"
    assert "Traceback" not in errors, errors
    assert "SIGKILL" not in errors and "webhook queue unavailable" not in errors, errors
    assert not port_is_busy(redis_port), "the embedded Redis is still running"
    assert not (data_dir / "redis.url").exists()
    assert "embedded Redis stopped" in out.read_text()
    # Run from outside the checkout, it still serves with deploy/gunicorn.conf.py, on loopback.
    assert "Using worker: gthread" in errors and f"http://127.0.0.1:{port}" in errors, errors
