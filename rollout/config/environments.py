"""The environments each worker knows, read once per configuration version.

Every /api/v1 request resolves its environment, assign's included: a Redis round trip for it
would cost the hot path, so the registry is cached and dropped when the configuration version
moves (an environment created or changed announces a change), as the API keys are. With Redis
down, the last registry read stands, or, in a worker started during the outage, the defaults:
production must still answer from the configuration kept on disk (tests/e2e/test_outage_start.py).
"""

from __future__ import annotations

import threading

import redis

from experiments.environments import Environment, with_defaults
from experiments.store import ConfigStamp
from experiments.store.environments import EnvironmentStore
from rollout.config.watcher import ConfigWatcher


class KnownEnvironments:
    def __init__(self, environments: EnvironmentStore, watcher: ConfigWatcher) -> None:
        self._environments = environments
        self._watcher = watcher
        self._cached: tuple[ConfigStamp, dict[str, Environment]] | None = None
        self._lock = threading.Lock()

    def all(self) -> dict[str, Environment]:
        """Every environment, archived ones too, by name."""
        cached = self._cached
        try:
            stamp = self._watcher.stamp
            if cached is not None and cached[0] == stamp:
                return cached[1]
            found = self._environments.all()
        except (redis.ConnectionError, redis.TimeoutError):
            return with_defaults({}) if cached is None else cached[1]
        with self._lock:
            self._cached = (stamp, found)
        return found

    def active(self) -> list[Environment]:
        """The environments not archived, by name: those the controller and requests act in."""
        return [e for e in self.all().values() if not e.archived]

    def forget(self) -> None:
        with self._lock:
            self._cached = None
