"""Archive and unarchive experiments and prompts: the shell around experiments/archiving.py.

An experiment's archive state lives in its document, changed by compare-and-set like every
lifecycle step. A prompt's is a record beside its versions, written with its history entry in one
script. Each change is announced, since archived ones leave the SDK configuration.
"""

from __future__ import annotations

from typing import Any

from experiments import archiving
from experiments.model import Experiment
from experiments.store import Store


def archive_experiment(
    store: Store, key: str, actor: str, now: float, reason: str | None = None
) -> Experiment:
    return store.experiments.update(key, lambda e: archiving.archive(e, now, actor, reason))


def unarchive_experiment(
    store: Store, key: str, actor: str, now: float, reason: str | None = None
) -> Experiment:
    return store.experiments.update(key, lambda e: archiving.unarchive(e, now, actor, reason))


def archive_prompt(
    store: Store, name: str, actor: str, now: float, reason: str | None = None
) -> dict[str, Any]:
    """Archive `name` unless a running or paused experiment uses it; answers its record.

    The check and the write are not one atomic step (an experiment's keys and a prompt's are in
    different Cluster slots): a start racing the archive can still win. It does no harm: the SDK
    configuration carries the versions a running experiment is pinned to, archived or not.
    """
    store.prompts.require(name)
    every_environment = [e for view in store.every_environment() for e in view.experiments.all()]
    archiving.check_prompt_archivable(name, every_environment)
    record = archiving.archive_record(now, actor, reason)
    entry = {"at": now, "actor": actor, "action": "archive", "reason": reason}
    if store.prompts.set_archived(name, record, entry):
        store.announce_change()
    return store.prompts.archived([name])[name]


def unarchive_prompt(
    store: Store, name: str, actor: str, now: float, reason: str | None = None
) -> None:
    store.prompts.require(name)
    entry = {"at": now, "actor": actor, "action": "unarchive", "reason": reason}
    if store.prompts.set_archived(name, None, entry):
        store.announce_change()


def archived_prompts_of(store: Store, experiment: Experiment) -> list[str]:
    """The archived prompts among those the experiment's variants are pinned to."""
    names = sorted({p.name for p in experiment.prompts.values()})
    return sorted(store.prompts.archived(names))
