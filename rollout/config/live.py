"""The experiments each worker assigns from, compiled once per configuration version.

Two kinds of failure stay local. An experiment whose stored document cannot be read is left out
of the snapshot and named in `unreadable` (and in a gauge), so it cannot take the others down.
Redis unreachable at a worker's first load: the worker answers from the last configuration kept
on disk (rollout/last_good_config.py), retrying Redis at most once a second meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis

from experiments.environments import PRODUCTION
from experiments.errors import DomainError, StoredDataInvalid
from experiments.model import Experiment, Variant
from experiments.sdk_document import PromptContents, assignment_spec, etag_of, sdk_document
from experiments.store import ConfigStamp, Store
from rollout import last_good_config
from rollout.config.watcher import ConfigWatcher
from rollout.metrics import UNREADABLE
from rollout_sdk.kernel.assignment import CompiledExperiment, compile_experiment
from rollout_sdk.kernel.document import SdkDocument

log = logging.getLogger(__name__)

REDIS_RETRY_S = 1.0
"""While answering from disk, how long a worker waits before trying Redis again."""
KEPT_ON_DISK = "kept-on-disk"
"""The epoch of a configuration read from disk: no store's, so the store's first answer
replaces it."""


@dataclass(frozen=True)
class Snapshot:
    stamp: ConfigStamp
    environment: str
    experiments: dict[str, Experiment]
    compiled: dict[str, CompiledExperiment]
    prompts: dict[tuple[str, int], dict[str, Any]]
    labels: dict[str, dict[str, int]] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    from_disk: bool = False
    _sdk: list[Any] = field(default_factory=list)
    _variants: dict[str, dict[str, tuple[int, Variant]]] = field(default_factory=dict)
    _covariates: dict[str, list[str]] = field(default_factory=dict)

    def variant(self, experiment: str, variant: str) -> tuple[int, Variant]:
        """The index (as stored with exposures) and definition of a variant, built once per
        version: assign and exposures look this up for every user."""
        by_key = self._variants.get(experiment)
        if by_key is None:
            variants = self.experiments[experiment].variants
            by_key = {v.key: (i, v) for i, v in enumerate(variants)}
            self._variants[experiment] = by_key
        return by_key[variant]

    def covariate_names(self, experiment: str) -> list[str]:
        """`Experiment.covariate_names()`, computed once per version: every tracked exposure
        needs it, and it walks the metrics."""
        names = self._covariates.get(experiment)
        if names is None:
            names = self.experiments[experiment].covariate_names()
            self._covariates[experiment] = names
        return names

    @property
    def version(self) -> int:
        """The configuration version, as the SDK document states it."""
        return self.stamp.version

    def sdk_document(self) -> tuple[SdkDocument, str]:
        """The SDK configuration and its ETag, built once per version (cached in `_sdk`)."""
        if not self._sdk:
            document = sdk_document(
                self.version,
                self.environment,
                self.experiments.values(),
                cast(PromptContents, self.prompts),
                self.labels,
            )
            self._sdk.append((document, etag_of(document)))
        cached: tuple[SdkDocument, str] = self._sdk[0]
        return cached

    def readable(self, key: str) -> bool:
        """Whether `key` can be answered for: raises StoredDataInvalid for one that is stored
        but cannot be read; False when there is no such experiment."""
        if key in self.unreadable:
            raise StoredDataInvalid(
                f"stored experiment {key!r} cannot be read",
                [{"field": key, "message": self.unreadable[key], "type": StoredDataInvalid.code}],
            )
        return key in self.experiments

    def prompt_of(self, experiment: Experiment, variant: str) -> dict[str, Any] | None:
        pinned = experiment.prompts.get(variant)
        if pinned is None:
            return None
        return self.prompts.get((pinned.name, pinned.version))


class LiveConfig:
    """One snapshot per environment, each compiled from that environment's experiments and the
    prompt content it needs."""

    def __init__(self, store: Store, watcher: ConfigWatcher, backup: Path | None = None) -> None:
        self._store = store
        self._watcher = watcher
        self._backup = backup
        self._snapshots: dict[str, Snapshot] = {}
        self._lock = threading.Lock()
        self._prompt_cache: dict[tuple[str, int], dict[str, Any]] = {}
        self._prompt_cache_epoch = ""
        self._redis_retry_at = 0.0

    def snapshot(self, environment: str = PRODUCTION) -> Snapshot:
        current = self._snapshots.get(environment)
        if current is not None and current.from_disk and time.monotonic() < self._redis_retry_at:
            return current
        try:
            # The watcher's stamp only moves on (to a later version, or to a new epoch when Redis
            # lost its data), so any difference means the snapshot is out of date.
            stamp = self._watcher.stamp
            # Identity first: the watcher hands out the very stamp object until it moves, and a
            # dataclass __eq__ on every request costs more than the rest of this method.
            if current is not None and (current.stamp is stamp or current.stamp == stamp):
                return current
            with self._lock:
                current = self._snapshots.get(environment)
                if current is not None and current.stamp == stamp:
                    return current
                loaded = self._load(stamp, environment)
                self._snapshots[environment] = loaded
                return loaded
        except (redis.ConnectionError, redis.TimeoutError):
            fallback = self._fallback(environment)
            if fallback is None:
                raise
            return fallback

    def _backup_of(self, environment: str) -> Path | None:
        """Where an environment's configuration is kept: production's where it always was."""
        if self._backup is None or environment == PRODUCTION:
            return self._backup
        return self._backup.with_name(f"{self._backup.stem}.{environment}{self._backup.suffix}")

    def _fallback(self, environment: str) -> Snapshot | None:
        """What to answer from while Redis cannot be reached: memory, else the disk."""
        with self._lock:
            self._redis_retry_at = time.monotonic() + REDIS_RETRY_S
            backup = self._backup_of(environment)
            if environment not in self._snapshots and backup is not None:
                saved = last_good_config.load(backup)
                if saved is not None:
                    log.warning(
                        "Redis unreachable: answering from configuration version %s kept at %s",
                        saved.version,
                        backup,
                    )
                    self._snapshots[environment] = _snapshot_of(
                        saved,
                        ConfigStamp(KEPT_ON_DISK, saved.version),
                        environment,
                        from_disk=True,
                    )
            return self._snapshots.get(environment)

    def _load(self, stamp: ConfigStamp, environment: str) -> Snapshot:
        if stamp.epoch != self._prompt_cache_epoch:
            # New data (Redis lost its own): its prompt versions count from 1 again, with other
            # content, so what was cached under those numbers is not theirs.
            self._prompt_cache.clear()
            self._prompt_cache_epoch = stamp.epoch
        catalog = self._store.in_environment(environment).experiments.catalog()
        # Archived experiments and prompts are left out of what SDKs see (experiments/archiving).
        experiments = {e.key: e for e in catalog.experiments if e.archived_at is None}
        labels = self._store.prompts.all_labels()
        archived = self._store.prompts.archived(sorted(labels))
        others = set(self._store.environments.all()) - {environment}
        labels = {
            name: labels_of_environment(by_label, others)
            for name, by_label in labels.items()
            if name not in archived
        }
        wanted = {(p.name, p.version) for e in experiments.values() for p in e.prompts.values()}
        wanted |= {(name, v) for name, by_label in labels.items() for v in by_label.values()}
        prompts: dict[tuple[str, int], dict[str, Any]] = {}
        for ref in sorted(wanted):
            if ref not in self._prompt_cache:
                content = self._store.prompts.content(*ref)
                if content is None:
                    continue
                self._prompt_cache[ref] = content  # versions are immutable: cached for good
            prompts[ref] = self._prompt_cache[ref]
        saved = last_good_config.SavedConfig(
            stamp.version, list(experiments.values()), prompts, labels
        )
        backup = self._backup_of(environment)
        if backup is not None:
            last_good_config.save(backup, saved)
        snapshot = _snapshot_of(saved, stamp, environment, unreadable=catalog.unreadable)
        UNREADABLE.set(len(snapshot.unreadable))
        return snapshot


def labels_of_environment(by_label: dict[str, int], others: set[str]) -> dict[str, int]:
    """A prompt's labels as one environment's SDKs see them: every label but those named like
    another environment (that environment's live version is none of this one's business)."""
    return {label: version for label, version in by_label.items() if label not in others}


def _snapshot_of(
    saved: last_good_config.SavedConfig,
    stamp: ConfigStamp,
    environment: str,
    *,
    unreadable: dict[str, str] | None = None,
    from_disk: bool = False,
) -> Snapshot:
    experiments: dict[str, Experiment] = {}
    compiled: dict[str, CompiledExperiment] = {}
    unreadable = dict(unreadable or {})
    for experiment in saved.experiments:
        try:
            compiled[experiment.key] = compile_experiment(assignment_spec(experiment))
        except (ValueError, DomainError) as exc:
            unreadable[experiment.key] = f"cannot be compiled: {exc}"[:200]
            log.error("stored experiment %r %s", experiment.key, unreadable[experiment.key])
            continue
        experiments[experiment.key] = experiment
    return Snapshot(
        stamp,
        environment,
        experiments,
        compiled,
        saved.prompts,
        saved.labels,
        unreadable=unreadable,
        from_disk=from_disk,
    )

