"""The only package that speaks Redis: key builders, Lua scripts, and one store per aggregate.

It may import redis-py and the domain's values (experiments.model, event_rules, the sums of
experiments.stats.sufficient) to read and write them; it decides nothing (a rule lives in the
domain, a multi-key update in one Lua script or pipeline) and never imports rollout/, Flask or
the statistics that need scipy, so `import experiments.store` stays light. Outside it, nothing
holds a Redis client: the service reaches Redis through `Store` and its aggregates, never
through `Store.redis`. `Store` bundles them around one client, so a process opens one pool.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from experiments.environments import PRODUCTION
from experiments.store.apikeys import ApiKeyStore
from experiments.store.config_version import ConfigStamp, ConfigVersionStore
from experiments.store.connection import Redis, connect
from experiments.store.controller import ControllerStore, WebhookQueue
from experiments.store.environments import EnvironmentStore
from experiments.store.events import EventStore
from experiments.store.experiments import ExperimentStore
from experiments.store.exposures import ExposureStore
from experiments.store.keys import EnvironmentKeys
from experiments.store.layers import LayerStore
from experiments.store.prompts import PromptStore
from experiments.store.ratelimit import RateLimitStore
from experiments.store.scripts import Scripts

__all__ = ["ConfigStamp", "Store", "connect"]


class Store:
    """The aggregates around one client. Experiment state (experiments, exposures, events,
    controller, layers) is per environment: this object's are production's (`environment`),
    and `in_environment(name)` is the view of another environment sharing everything else
    (client, scripts, prompts, keys, environments, configuration version)."""

    def __init__(self, redis: Redis, environment: str = PRODUCTION) -> None:
        self.redis = redis
        self.environment = environment
        self.scripts = Scripts(redis)
        self.change_listeners: list[Callable[[ConfigStamp], None]] = []
        self.config = ConfigVersionStore(redis)
        self.apikeys = ApiKeyStore(redis)
        self.environments = EnvironmentStore(redis)
        self.prompts = PromptStore(redis, self.scripts)
        self.ratelimit = RateLimitStore(redis)
        self._views: dict[str, Store] = {environment: self}
        self._bind(EnvironmentKeys(environment), None)

    def _bind(self, layout: EnvironmentKeys, webhooks: WebhookQueue | None) -> None:
        self.keys = layout
        self.experiments = ExperimentStore(self.redis, self.scripts, self.announce_change, layout)
        self.exposures = ExposureStore(self.redis, self.scripts, layout)
        self.layers = LayerStore(self.redis, layout)
        self.events = EventStore(self.redis, self.scripts, layout)
        self.controller = ControllerStore(self.redis, self.scripts, layout, webhooks)

    def in_environment(self, name: str) -> Store:
        """The store acting in environment `name` (built once, then kept: views are cheap but
        the hot routes ask for one on every request). It does not check that `name` exists:
        the request's edge does (`resolve_environment` in rollout/api/routing.py)."""
        view = self._views.get(name)
        if view is None:
            view = copy.copy(self)
            view.environment = name
            view._bind(EnvironmentKeys(name), self.controller.webhooks)
            self._views[name] = view
        return view

    def every_environment(self) -> list[Store]:
        """The view of every environment, archived ones too: what a check across environments
        (a prompt in use anywhere) reads."""
        return [self.in_environment(name) for name in self.environments.all()]

    def qualified(self, key: str) -> str:
        """An experiment's name across environments: `key` in production, else `E/key`."""
        return self.keys.tag(key)

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
