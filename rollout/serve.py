"""`rollout serve` (what `make run` runs): Redis if needed, the controller, and gunicorn.

Started in that order and stopped in the reverse one (gunicorn, the controller with its webhook
dispatcher, Redis), so nothing runs against a Redis that is already gone.

Without REDIS_URL an embedded redis-server keeps its data under ROLLOUT_DATA_DIR, and its URL is
written to `<data dir>/redis.url` so that `rollout keys create` on the same machine finds it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

from rollout.embedded import EmbeddedRedis, EmbeddedRedisError, port_is_busy
from rollout.settings import Settings

REDIS_URL_FILE = "redis.url"


def gunicorn_config() -> str | None:
    """deploy/gunicorn.conf.py of the working directory, else of the checkout this package is in
    (so `rollout serve` run from any directory still gets the threaded workers and limits)."""
    for candidate in (
        Path("deploy/gunicorn.conf.py"),
        Path(__file__).resolve().parents[1] / "deploy" / "gunicorn.conf.py",
    ):
        if candidate.exists():
            return str(candidate)
    return None


def local_redis_url(settings: Settings) -> str | None:
    """REDIS_URL, else the URL of the embedded server of this data directory, if one runs."""
    if settings.redis_url:
        return settings.redis_url
    path = Path(settings.data_dir) / REDIS_URL_FILE
    return path.read_text().strip() if path.exists() else None


class Shutdown:
    """Ctrl-C and SIGTERM, turned into an orderly stop of the children this process started.

    The children run in sessions of their own, so a terminal's Ctrl-C (sent to the whole
    foreground process group) reaches this process only, and this process stops them in order:
    gunicorn first (SIGTERM: workers finish their requests), then the controller and its webhook
    dispatcher, then Redis, which everything before it still needed. A second signal hurries
    gunicorn along (SIGQUIT: workers exit at once).
    """

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._server: subprocess.Popen[bytes] | None = None

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def watch(self, server: subprocess.Popen[bytes]) -> None:
        self._server = server
        if self.requested.is_set():
            server.send_signal(signal.SIGTERM)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        again = self.requested.is_set()
        self.requested.set()
        if self._server is not None and self._server.poll() is None:
            self._server.send_signal(signal.SIGQUIT if again else signal.SIGTERM)


def serve(settings: Settings, workers: int | None = None, with_controller: bool = True) -> int:
    if port_is_busy(settings.port, settings.host if settings.host != "0.0.0.0" else "127.0.0.1"):
        print(f"rollout: port {settings.port} is already in use (set PORT)", file=sys.stderr)
        return 2
    shutdown = Shutdown()
    shutdown.install()
    embedded: EmbeddedRedis | None = None
    env = dict(os.environ)
    try:
        if not settings.redis_url:
            embedded = EmbeddedRedis(Path(settings.data_dir) / "redis", persistent=True).start()
            (Path(settings.data_dir) / REDIS_URL_FILE).write_text(embedded.url)
            env["REDIS_URL"] = embedded.url
            print(f"rollout: embedded Redis at {embedded.url}, data in {embedded.data_dir}")
    except EmbeddedRedisError as exc:
        print(f"rollout: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    controller_thread = None
    try:
        env.setdefault("HOST", settings.host)
        env.setdefault("PORT", str(settings.port))
        if workers is not None:
            env["WEB_CONCURRENCY"] = str(workers)
        command = [sys.executable, "-m", "gunicorn"]
        config = gunicorn_config()
        if config:
            command += ["-c", config]
        # Always explicit: without it, gunicorn alone would bind 0.0.0.0:$PORT.
        command += ["--bind", f"{env['HOST']}:{env['PORT']}", "rollout.app:create_app()"]
        if with_controller:
            controller_thread = _start_controller(env.get("REDIS_URL", ""), settings, stop)
        server = subprocess.Popen(command, env=env, start_new_session=True)
        shutdown.watch(server)
        print(f"rollout: serving on http://{env['HOST']}:{env['PORT']}  (Ctrl-C stops)")
        code = server.wait()
    finally:
        stop.set()
        if controller_thread is not None:
            controller_thread.join(timeout=10)
        if embedded is not None:
            embedded.stop()
            (Path(settings.data_dir) / REDIS_URL_FILE).unlink(missing_ok=True)
            print("rollout: embedded Redis stopped")
    if shutdown.requested.is_set() and code in (0, -signal.SIGTERM, -signal.SIGQUIT):
        return 0
    return code


def _start_controller(
    redis_url: str, settings: Settings, stop: threading.Event
) -> threading.Thread | None:
    """The rollout controller, in this process (the contract: `make run` runs it in-process)."""
    try:
        from rollout.controller.runner import run_forever
    except ImportError:
        return None
    thread = threading.Thread(
        target=run_forever,
        args=(redis_url, settings, stop),
        name="rollout-controller",
        daemon=True,
    )
    thread.start()
    return thread
