"""The only package that speaks Redis: key builders, Lua scripts, and one store per aggregate.

It may import redis-py and the domain's values (experiments.model, event_rules, the sums of
experiments.stats.sufficient) to read and write them; it decides nothing (a rule lives in the
domain, a multi-key update in one Lua script or pipeline) and never imports rollout/, Flask or
the statistics that need scipy, so `import experiments.store` stays light. Outside it, nothing
holds a Redis client: the service reaches Redis through `Store` and its aggregates, never
through `Store.redis`. `Store` bundles them around one client, so a process opens one pool.
"""

from __future__ import annotations

from collections.abc import Callable

from experiments.store.apikeys import ApiKeyStore
from experiments.store.config_version import ConfigStamp, ConfigVersionStore
from experiments.store.connection import Redis, connect
from experiments.store.controller import ControllerStore
from experiments.store.events import EventStore
from experiments.store.experiments import ExperimentStore
from experiments.store.exposures import ExposureStore
from experiments.store.layers import LayerStore
from experiments.store.prompts import PromptStore
from experiments.store.ratelimit import RateLimitStore
from experiments.store.scripts import Scripts

__all__ = ["ConfigStamp", "Store", "connect"]


class Store:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.scripts = Scripts(redis)
        self.change_listeners: list[Callable[[ConfigStamp], None]] = []
        self.config = ConfigVersionStore(redis)
        self.experiments = ExperimentStore(redis, self.scripts, self.announce_change)
        self.exposures = ExposureStore(redis, self.scripts)
        self.apikeys = ApiKeyStore(redis)
        self.layers = LayerStore(redis)
        self.prompts = PromptStore(redis, self.scripts)
        self.ratelimit = RateLimitStore(redis)
        self.events = EventStore(redis, self.scripts)
        self.controller = ControllerStore(redis, self.scripts)

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(connect(url))

    def announce_change(self) -> ConfigStamp:
        """Tell every worker and SDK that the configuration moved on (rollout/config/watcher)."""
        stamp = self.config.announce()
        for listener in self.change_listeners:
            listener(stamp)
        return stamp

    def ping(self) -> bool:
        return bool(self.redis.ping())

    def close(self) -> None:
        """Close the connection pool (at a process's exit, or a test's end)."""
        self.redis.close()
