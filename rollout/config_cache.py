"""Each worker's in-memory view of the configuration, kept fresh without a round trip per request.

A configuration version lives in Redis; every change increments it and publishes it. A daemon
thread per process listens on the channel and also polls the version twice a second (in case a
message is lost while reconnecting), so a change reaches every worker within a second, and a
change made by this worker is seen by it at once. Readers compare versions and reload lazily.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import redis

from experiments.store import keys
from experiments.store.connection import Redis

log = logging.getLogger(__name__)


class ConfigWatcher:
    def __init__(self, redis_client: Redis, poll_s: float = 0.5) -> None:
        self._redis = redis_client
        self._poll_s = poll_s
        self._version = -1
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._stop = threading.Event()

    @property
    def version(self) -> int:
        """The newest configuration version this process knows of."""
        self._ensure_thread()
        if self._version < 0:
            self.refresh()
        return self._version

    @property
    def propagation_s(self) -> float:
        """How long a change may take to reach every worker: a message on the channel arrives in
        milliseconds, but a worker that lost it (reconnecting) sees it at its next poll, at most
        two poll periods later. Waiting this long after a change makes it visible everywhere."""
        return 2 * self._poll_s

    def saw(self, version: int) -> None:
        with self._lock:
            self._version = max(self._version, version)

    def refresh(self) -> int:
        """Read the version now (after a local write, or when nothing is known yet)."""
        self.saw(int(self._redis.get(keys.CONFIG_VERSION) or 0))
        return self._version

    def close(self) -> None:
        self._stop.set()

    def _ensure_thread(self) -> None:
        # Started lazily and again after fork: a gunicorn worker must not inherit a dead thread.
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="rollout-config-watch", daemon=True).start()

    def _run(self) -> None:
        pubsub = None
        while not self._stop.is_set():
            try:
                if pubsub is None:
                    pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(keys.CONFIG_CHANNEL)
                deadline = time.monotonic() + self._poll_s
                while time.monotonic() < deadline and not self._stop.is_set():
                    message = pubsub.get_message(timeout=self._poll_s)
                    if message and message.get("type") == "message":
                        self.saw(int(message["data"]))
                self.refresh()
            except (redis.RedisError, OSError, ValueError):
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except (redis.RedisError, OSError):
                        log.debug("closing a broken pubsub connection failed")
                pubsub = None
                self._stop.wait(self._poll_s)
