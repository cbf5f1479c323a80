"""The experiments each worker assigns from, compiled once per configuration version."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from experiments.assignment import CompiledExperiment, compile_experiment
from experiments.model import Experiment, Status, Variant
from experiments.store import Store
from rollout.config_cache import ConfigWatcher

SDK_STATUSES = frozenset({Status.RUNNING, Status.PAUSED, Status.CONCLUDED, Status.ROLLED_BACK})


@dataclass(frozen=True)
class Snapshot:
    version: int
    experiments: dict[str, Experiment]
    compiled: dict[str, CompiledExperiment]
    prompts: dict[tuple[str, int], dict[str, Any]]
    labels: dict[str, dict[str, int]] = field(default_factory=dict)
    _sdk: list[Any] = field(default_factory=list)
    _variants: dict[str, dict[str, tuple[int, Variant]]] = field(default_factory=dict)

    def variant(self, experiment: str, variant: str) -> tuple[int, Variant]:
        """The index (as stored with exposures) and definition of a variant, built once per
        version: assign and exposures look this up for every user."""
        by_key = self._variants.get(experiment)
        if by_key is None:
            variants = self.experiments[experiment].variants
            by_key = {v.key: (i, v) for i, v in enumerate(variants)}
            self._variants[experiment] = by_key
        return by_key[variant]

    def sdk_document(self) -> tuple[dict[str, Any], str]:
        """The SDK configuration and its ETag, built once per version (cached in `_sdk`)."""
        if not self._sdk:
            document = sdk_document(self)
            # The ETag covers the content, not the version counter: a change that leaves the SDK
            # configuration as it was (an API key created, a draft edited) costs SDKs a 304.
            content = {k: v for k, v in document.items() if k != "version"}
            body = json.dumps(content, sort_keys=True, separators=(",", ":"))
            etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
            self._sdk.append((document, etag))
        cached: tuple[dict[str, Any], str] = self._sdk[0]
        return cached

    def prompt_of(self, experiment: Experiment, variant: str) -> dict[str, Any] | None:
        pinned = experiment.prompts.get(variant)
        if pinned is None:
            return None
        return self.prompts.get((pinned.name, pinned.version))


class LiveConfig:
    def __init__(self, store: Store, watcher: ConfigWatcher) -> None:
        self._store = store
        self._watcher = watcher
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._prompt_cache: dict[tuple[str, int], dict[str, Any]] = {}

    def snapshot(self) -> Snapshot:
        version = self._watcher.version
        current = self._snapshot
        if current is not None and current.version >= version:
            return current
        with self._lock:
            current = self._snapshot
            if current is not None and current.version >= version:
                return current
            self._snapshot = self._load(version)
            return self._snapshot

    def _load(self, version: int) -> Snapshot:
        experiments = {e.key: e for e in self._store.experiments.all()}
        compiled = {key: compile_experiment(e) for key, e in experiments.items()}
        labels = self._store.prompts.all_labels()
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
        return Snapshot(version, experiments, compiled, prompts, labels)


def sdk_experiment(experiment: Experiment, snapshot: Snapshot) -> dict[str, Any]:
    return {
        "key": experiment.key,
        "seed": experiment.seed or experiment.key,
        "status": experiment.status.value,
        "control": experiment.control,
        "traffic": experiment.traffic,
        "targeting": experiment.targeting,
        "layer": experiment.layer,
        "layer_range": list(experiment.layer_range) if experiment.layer_range else None,
        "winner": experiment.winner,
        "variants": [
            {
                "key": v.key,
                "weight": v.weight,
                "config": v.config,
                "prompt": snapshot.prompt_of(experiment, v.key),
            }
            for v in experiment.variants
        ],
    }


def sdk_document(snapshot: Snapshot) -> dict[str, Any]:
    experiments = [
        sdk_experiment(e, snapshot)
        for key, e in sorted(snapshot.experiments.items())
        if e.status in SDK_STATUSES
    ]
    prompts: dict[str, Any] = {}
    for name, labels in sorted(snapshot.labels.items()):
        # The content of labelled versions too, so `client.get_prompt(name, label)` needs no call.
        versions = {
            str(v): snapshot.prompts[(name, v)]
            for v in sorted(set(labels.values()))
            if (name, v) in snapshot.prompts
        }
        prompts[name] = {"labels": labels, "versions": versions}
    return {"version": snapshot.version, "experiments": experiments, "prompts": prompts}
