"""What a process of the service holds: settings, the store, and the per-worker caches."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from experiments.store import Store
from rollout.auth import Authenticator
from rollout.config_cache import ConfigWatcher
from rollout.last_good_config import backup_path
from rollout.live_config import LiveConfig
from rollout.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    store: Store
    watcher: ConfigWatcher
    auth: Authenticator
    live: LiveConfig
    clock: Callable[[], float] = field(default=time.time)

    @classmethod
    def build(cls, settings: Settings, store: Store) -> Runtime:
        watcher = ConfigWatcher(store.redis)
        store.change_listeners.append(watcher.saw)
        return cls(
            settings=settings,
            store=store,
            watcher=watcher,
            auth=Authenticator(store.apikeys, watcher, settings.admin_key),
            live=LiveConfig(
                store, watcher, backup_path(settings.data_dir, settings.redis_url or "")
            ),
        )

    def now(self) -> float:
        return self.clock()

    def close(self) -> None:
        self.watcher.close()
