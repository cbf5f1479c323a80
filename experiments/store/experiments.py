"""Experiments in Redis: one JSON document per experiment, changed only by compare-and-set.

A document that cannot be read back (corrupt, or written around the edge's checks) is the
service's failure: `get` raises StoredDataInvalid (HTTP 500), `catalog` sets it aside so the
others keep working, and `update(..., salvage=True)` (rollback, pause) drops the free JSON values
that cannot be read, so that a poisoned experiment can still be stopped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from experiments.errors import Conflict, NotFound, StoredDataInvalid
from experiments.json_bounds import check_json
from experiments.model import Experiment, HistoryEntry
from experiments.store.connection import Redis
from experiments.store.keys import PRODUCTION_KEYS, EnvironmentKeys
from experiments.store.scripts import Scripts
from experiments.store.stored_json import stored_json

Change = Callable[[Experiment], tuple[Experiment, list[HistoryEntry]]]

MAX_CAS_ATTEMPTS = 20

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Catalog:
    """Every experiment that reads back, and why each of the others does not."""

    experiments: list[Experiment]
    unreadable: dict[str, str] = field(default_factory=dict)


def decode_experiment(key: str, raw: str) -> Experiment:
    """The stored document of `key`, or StoredDataInvalid naming what cannot be read."""
    try:
        return Experiment.model_validate_json(raw)
    except ValidationError as exc:
        reason = why_unreadable(exc)
    except (ValueError, RecursionError) as exc:
        reason = str(exc)[:200]
    raise StoredDataInvalid(
        f"stored experiment {key!r} cannot be read",
        [{"field": key, "message": reason, "type": StoredDataInvalid.code}],
    )


def why_unreadable(error: ValidationError) -> str:
    """The first problem, short, without the input or pydantic's links."""
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def salvage(key: str, raw: str) -> tuple[Experiment, list[str]]:
    """Read `raw` with the free JSON values that break the bounds dropped (set to null).

    Python's parser reads deeper than pydantic's, so a config nested too deep is reachable here.
    Answers the experiment and the dropped fields; StoredDataInvalid when even that fails.
    """
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        raise StoredDataInvalid(
            f"stored experiment {key!r} is not a JSON object; it cannot be salvaged",
            [{"field": key, "message": "not a JSON object", "type": StoredDataInvalid.code}],
        )
    dropped = [path for path, holder, name in _free_json(document) if _drop_if_bad(holder, name)]
    try:
        return Experiment.model_validate(document), dropped
    except (ValidationError, RecursionError) as exc:
        reason = why_unreadable(exc) if isinstance(exc, ValidationError) else "nested too deep"
        raise StoredDataInvalid(
            f"stored experiment {key!r} cannot be salvaged",
            [{"field": key, "message": reason, "type": StoredDataInvalid.code}],
        ) from None


def _free_json(document: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any], str]]:
    yield "targeting", document, "targeting"
    variants = document.get("variants")
    for index, variant in enumerate(variants if isinstance(variants, list) else []):
        if isinstance(variant, dict):
            yield f"variants.{index}.config", variant, "config"


def _drop_if_bad(holder: dict[str, Any], name: str) -> bool:
    value = holder.get(name)
    if value is None:
        return False
    try:
        check_json(value)
        readable = isinstance(value, dict)
    except (ValueError, RecursionError):
        readable = False
    if not readable:
        holder[name] = None
    return not readable


def _salvage_entry(change: HistoryEntry, dropped: list[str]) -> HistoryEntry:
    """The history's account of a salvage, by the actor and at the time of the change it made
    possible."""
    return HistoryEntry(
        at=change.at,
        actor=change.actor,
        action="salvage",
        reason="the stored document could not be read; unreadable values were dropped",
        changes={"dropped": dropped},
    )


class ExperimentStore:
    def __init__(
        self,
        redis: Redis,
        scripts: Scripts,
        announce: Callable[[], object],
        layout: EnvironmentKeys = PRODUCTION_KEYS,
    ) -> None:
        self._redis = redis
        self._keys = layout
        self._scripts = scripts
        self.announce_change = announce

    def create(self, experiment: Experiment, entry: HistoryEntry) -> Experiment:
        """Store a new experiment; Conflict when the key is taken."""
        saved = experiment.model_copy(update={"revision": 1})
        result = self._save(saved, expected=-1, entries=[entry])
        if result == -2:
            raise Conflict(f"experiment {experiment.key!r} already exists", code="already_exists")
        self._redis.sadd(self._keys.experiment_index, experiment.key)
        self.announce_change()
        return saved

    def get(self, key: str) -> Experiment:
        return decode_experiment(key, self._raw(key))

    def _raw(self, key: str) -> str:
        raw: str | None = self._redis.get(self._keys.experiment(key))
        if raw is None:
            raise NotFound(f"experiment {key!r} not found")
        return raw

    def all(self) -> list[Experiment]:
        """Every experiment that reads back (the others are logged: see `catalog`)."""
        return self.catalog().experiments

    def catalog(self) -> Catalog:
        """Every experiment, one pipelined round trip after the index (no cross-slot MGET);
        one that cannot be read is set aside with its reason instead of failing the rest."""
        names = sorted(self._redis.smembers(self._keys.experiment_index))
        found: list[Experiment] = []
        unreadable: dict[str, str] = {}
        for name, raw in zip(names, self._load_many(names), strict=True):
            if raw is None:
                continue
            try:
                found.append(decode_experiment(name, raw))
            except StoredDataInvalid as exc:
                unreadable[name] = exc.details[0]["message"]
                log.error("stored experiment %r cannot be read: %s", name, unreadable[name])
        return Catalog(found, unreadable)

    def _load_many(self, names: list[str]) -> list[str | None]:
        if not names:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.get(self._keys.experiment(name))
        raws: list[str | None] = pipe.execute()
        return raws

    def update(self, key: str, change: Change, *, salvage: bool = False) -> Experiment:
        """Apply a pure change with optimistic concurrency: re-read and retry when raced.

        Two concurrent changes therefore never lose either: the loser re-applies its change to the
        winner's document. `change` may raise a DomainError to refuse. With `salvage` (changes
        that make an experiment safer: rollback, pause) an unreadable document is salvaged first,
        and what was dropped to read it is recorded in the history with the change.
        """
        for _ in range(MAX_CAS_ATTEMPTS):
            current, dropped = self._read_for_update(key, salvage)
            updated, entries = change(current)
            if dropped and entries:
                entries = [_salvage_entry(entries[0], dropped), *entries]
            if updated is current or (updated == current and not entries):
                return current
            saved = updated.model_copy(update={"revision": current.revision + 1})
            result = self._save(saved, expected=current.revision, entries=entries)
            if result == 1:
                self.announce_change()
                return saved
            if result == -1:
                raise NotFound(f"experiment {key!r} not found")
        raise Conflict(f"experiment {key!r} is changing too often; retry", code="contention")

    def _read_for_update(self, key: str, salvaging: bool) -> tuple[Experiment, list[str]]:
        raw = self._raw(key)
        try:
            return decode_experiment(key, raw), []
        except StoredDataInvalid:
            if not salvaging:
                raise
        experiment, dropped = salvage(key, raw)
        log.warning("salvaged stored experiment %r by dropping %s", key, ", ".join(dropped))
        return experiment, dropped

    def history(self, key: str, offset: int = 0, limit: int = 100) -> list[HistoryEntry]:
        if not self._redis.exists(self._keys.experiment(key)):
            raise NotFound(f"experiment {key!r} not found")
        raw = self._redis.lrange(self._keys.experiment_history(key), offset, offset + limit - 1)
        return [HistoryEntry.model_validate_json(item) for item in raw]

    def append_history(self, key: str, entries: list[HistoryEntry]) -> None:
        if entries:
            self._redis.rpush(
                self._keys.experiment_history(key), *(stored_json(e) for e in entries)
            )

    def _save(self, experiment: Experiment, *, expected: int, entries: list[HistoryEntry]) -> int:
        args = [
            str(expected),
            stored_json(experiment),
            *(stored_json(e) for e in entries),
        ]
        result: int = self._scripts["save_experiment"](
            keys=[
                self._keys.experiment(experiment.key),
                self._keys.experiment_history(experiment.key),
            ],
            args=args,
        )
        return int(result)
