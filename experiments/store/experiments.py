"""Experiments in Redis: one JSON document per experiment, changed only by compare-and-set."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from experiments.errors import Conflict, NotFound
from experiments.model import Experiment, HistoryEntry
from experiments.store import keys
from experiments.store.connection import Redis
from experiments.store.scripts import Scripts

Change = Callable[[Experiment], tuple[Experiment, list[HistoryEntry]]]

MAX_CAS_ATTEMPTS = 20


class ExperimentStore:
    def __init__(self, redis: Redis, scripts: Scripts, announce: Callable[[], int]) -> None:
        self._redis = redis
        self._scripts = scripts
        self.announce_change = announce

    def create(self, experiment: Experiment, entry: HistoryEntry) -> Experiment:
        """Store a new experiment; Conflict when the key is taken."""
        saved = experiment.model_copy(update={"revision": 1})
        result = self._save(saved, expected=-1, entries=[entry])
        if result == -2:
            raise Conflict(f"experiment {experiment.key!r} already exists", code="already_exists")
        self._redis.sadd(keys.EXPERIMENT_INDEX, experiment.key)
        self.announce_change()
        return saved

    def get(self, key: str) -> Experiment:
        raw = self._redis.get(keys.experiment(key))
        if raw is None:
            raise NotFound(f"experiment {key!r} not found")
        return Experiment.model_validate_json(raw)

    def all(self) -> list[Experiment]:
        """Every experiment; one pipelined round trip after the index (no cross-slot MGET)."""
        names = sorted(self._redis.smembers(keys.EXPERIMENT_INDEX))
        return list(self._load_many(names))

    def _load_many(self, names: Iterable[str]) -> Iterable[Experiment]:
        names = list(names)
        if not names:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.get(keys.experiment(name))
        return [Experiment.model_validate_json(raw) for raw in pipe.execute() if raw is not None]

    def update(self, key: str, change: Change) -> Experiment:
        """Apply a pure change with optimistic concurrency: re-read and retry when raced.

        Two concurrent changes therefore never lose either: the loser re-applies its change to the
        winner's document. `change` may raise a DomainError to refuse.
        """
        for _ in range(MAX_CAS_ATTEMPTS):
            current = self.get(key)
            updated, entries = change(current)
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

    def history(self, key: str, offset: int = 0, limit: int = 100) -> list[HistoryEntry]:
        if not self._redis.exists(keys.experiment(key)):
            raise NotFound(f"experiment {key!r} not found")
        raw = self._redis.lrange(keys.experiment_history(key), offset, offset + limit - 1)
        return [HistoryEntry.model_validate_json(item) for item in raw]

    def append_history(self, key: str, entries: list[HistoryEntry]) -> None:
        if entries:
            self._redis.rpush(keys.experiment_history(key), *(e.model_dump_json() for e in entries))

    def _save(self, experiment: Experiment, *, expected: int, entries: list[HistoryEntry]) -> int:
        args = [
            str(expected),
            experiment.model_dump_json(),
            *(e.model_dump_json() for e in entries),
        ]
        result: int = self._scripts["save_experiment"](
            keys=[keys.experiment(experiment.key), keys.experiment_history(experiment.key)],
            args=args,
        )
        return int(result)
