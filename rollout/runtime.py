"""What a process of the service holds: settings, the store, and the per-worker caches."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask

from experiments.store import Store
from experiments.store.migrations import migrate_at_start
from rollout.auth import Authenticator
from rollout.config.environments import KnownEnvironments
from rollout.config.live import LiveConfig
from rollout.config.watcher import ConfigWatcher
from rollout.last_good_config import backup_path
from rollout.settings import Settings

EXTENSION = "rollout"
"""The name the runtime is kept under in `Flask.extensions`."""


@dataclass
class Runtime:
    settings: Settings
    store: Store
    watcher: ConfigWatcher
    auth: Authenticator
    live: LiveConfig
    environments: KnownEnvironments
    clock: Callable[[], float] = field(default=time.time)

    @classmethod
    def build(cls, settings: Settings, store: Store) -> Runtime:
        migrate_at_start(store)
        watcher = ConfigWatcher(store.config, settings.config_poll_s)
        store.change_listeners.append(watcher.saw)
        return cls(
            settings=settings,
            store=store,
            watcher=watcher,
            auth=Authenticator(store.apikeys, watcher, settings.admin_key),
            live=LiveConfig(
                store, watcher, backup_path(settings.data_dir, settings.redis_url or "")
            ),
            environments=KnownEnvironments(store.environments, watcher),
        )

    def now(self) -> float:
        return self.clock()

    def close(self) -> None:
        self.watcher.close()


def runtime_of(app: Flask) -> Runtime:
    """The runtime `create_app` attached to `app`."""
    runtime: Runtime = app.extensions[EXTENSION]
    return runtime
