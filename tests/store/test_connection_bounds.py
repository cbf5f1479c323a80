"""A Redis that stops answering fails a call within the client's bound, whatever the socket mode.

`connect` gives `redis://` and `unix://` clients blocking sockets whose waits the kernel bounds
(experiments/store/connection.py); a stopped server must still fail the call in about
`timeout_s` (answered 503 by the app), and the same client must work again once it answers.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import redis

from experiments.store.connection import KernelBoundedConnection, connect
from rollout.embedded import EmbeddedRedis


def test_a_stopped_redis_fails_the_call_within_the_bound_and_the_client_recovers(
    tmp_path: Path,
) -> None:
    server = EmbeddedRedis(tmp_path / "redis", persistent=False).start()
    try:
        client = connect(server.url, timeout_s=0.5)
        assert client.connection_pool.connection_class is KernelBoundedConnection
        client.set("k", "1")
        pid = server._process.pid  # type: ignore[union-attr]
        os.kill(pid, signal.SIGSTOP)
        failures: list[BaseException] = []

        def call() -> None:
            try:
                client.get("k")
            except redis.RedisError as exc:
                failures.append(exc)

        caller = threading.Thread(target=call, daemon=True)
        try:
            started = time.monotonic()
            caller.start()
            caller.join(5.0)  # without a bound the call would wait for ever
            waited = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
        caller.join(5.0)
        assert [type(f) for f in failures] == [redis.ConnectionError]
        assert 0.4 <= waited < 2.0
        assert client.get("k") == "1"
    finally:
        server.stop()
