"""The store's layout migrations, run at every start-up (rollout/runtime.py): idempotent, and
never destructive, so running them twice, or from several workers at once, changes nothing more.

Version 1 is the layout before environments (no `rollout:schema` key). Version 2 adds
environments: production keeps version 1's keys exactly (store/keys.py), so its data needs no
copy; the migration only stores the default environments and stamps every API key written
without an environment with the one it already acted in (production; every environment for an
admin key).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis

from experiments.environments import DEFAULT_ENVIRONMENTS
from experiments.store import Store, keys

SCHEMA_VERSION = 2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MigrationReport:
    from_version: int
    to_version: int
    environments_stored: list[str]
    keys_stamped: tuple[str, ...]


def schema_version(store: Store) -> int:
    return int(store.redis.get(keys.SCHEMA_VERSION) or 1)


def migrate(store: Store) -> MigrationReport:
    """Bring the store to SCHEMA_VERSION; a store already there is left as it is."""
    before = schema_version(store)
    stored = store.environments.store_missing(list(DEFAULT_ENVIRONMENTS))
    stamped = store.apikeys.stamp_environments()
    if before < SCHEMA_VERSION:
        store.redis.set(keys.SCHEMA_VERSION, SCHEMA_VERSION)
    return MigrationReport(before, max(before, SCHEMA_VERSION), stored, stamped)


def migrate_at_start(store: Store) -> None:
    """Migrate as a process starts (the app's runtime, `rollout controller`). Redis away then
    stops no worker (it answers from the configuration kept on disk): everything reads right
    unmigrated (keys without an environment, defaults synthesised), and the next start
    migrates."""
    try:
        report = migrate(store)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.warning("store migration skipped: Redis unavailable (%s)", type(exc).__name__)
        return
    if report.from_version != report.to_version or report.keys_stamped:
        log.info(
            "store migrated from schema %s to %s: %d API keys stamped with their environment",
            report.from_version,
            report.to_version,
            len(report.keys_stamped),
        )
