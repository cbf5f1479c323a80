"""The environments registry: one hash, name -> the environment's JSON document.

The defaults need no write to exist (`with_defaults` synthesises them); the migration stores them
so the registry reads the same to any tool. Changes are compare-and-set on the one field
(WATCH), so two admins editing one environment never lose either change.
"""

from __future__ import annotations

from collections.abc import Callable

import redis

from experiments.environments import Environment, with_defaults
from experiments.errors import Conflict, NotFound
from experiments.store import keys
from experiments.store.connection import Redis
from experiments.store.stored_json import stored_json


class EnvironmentStore:
    def __init__(self, redis_client: Redis) -> None:
        self._redis = redis_client

    def all(self) -> dict[str, Environment]:
        """Every environment, archived ones too, by name."""
        raw = self._redis.hgetall(keys.ENVIRONMENTS)
        return with_defaults({n: Environment.model_validate_json(v) for n, v in raw.items()})

    def get(self, name: str) -> Environment:
        """The environment `name`, archived or not; NotFound when there is none."""
        found = self.all().get(name)
        if found is None:
            raise NotFound(f"environment {name!r} not found", code="environment_not_found")
        return found

    def create(self, environment: Environment) -> Environment:
        document = stored_json(environment)
        taken = environment.name in self.all()
        if taken or not self._redis.hsetnx(keys.ENVIRONMENTS, environment.name, document):
            raise Conflict(f"environment {environment.name!r} exists", code="already_exists")
        return environment

    def store_missing(self, environments: list[Environment]) -> list[str]:
        """Write each of `environments` not stored yet (the migration); the names written."""
        return [
            e.name
            for e in environments
            if self._redis.hsetnx(keys.ENVIRONMENTS, e.name, stored_json(e))
        ]

    def update(self, name: str, change: Callable[[Environment], Environment]) -> Environment:
        """Apply a pure change under WATCH, re-reading and retrying when raced; NotFound for an
        unknown name (a default is stored by its first change)."""
        while True:
            with self._redis.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(keys.ENVIRONMENTS)
                    raw = pipe.hget(keys.ENVIRONMENTS, name)
                    current = (
                        Environment.model_validate_json(raw) if raw is not None else self.get(name)
                    )
                    updated = change(current)
                    pipe.multi()
                    pipe.hset(keys.ENVIRONMENTS, name, stored_json(updated))
                    pipe.execute()
                    return updated
                except redis.WatchError:
                    continue
