"""First exposures: which variant a user saw first is the user's variant for analysis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from experiments.store import keys
from experiments.store.connection import Redis
from experiments.store.scripts import Scripts


@dataclass(frozen=True, slots=True)
class ExposureWrite:
    experiment: str
    user_id: str
    variant_index: int


@dataclass(frozen=True, slots=True)
class ExposureRecord:
    variant_index: int
    recorded_now: bool


class ExposureStore:
    def __init__(self, redis: Redis, scripts: Scripts) -> None:
        self._redis = redis
        self._scripts = scripts

    def record(self, writes: Sequence[ExposureWrite], now: float) -> list[ExposureRecord]:
        """Set-if-absent every exposure in one pipelined round trip (one script per experiment).

        Answers in the order of `writes`, each with the variant that stands for the user (the
        first one ever recorded) and whether this call recorded it.
        """
        if not writes:
            return []
        by_experiment: dict[str, list[int]] = {}
        for position, write in enumerate(writes):
            by_experiment.setdefault(write.experiment, []).append(position)
        stamp = str(int(now))
        calls = []
        for experiment, positions in by_experiment.items():
            args: list[str] = []
            for position in positions:
                write = writes[position]
                args += [write.user_id, str(write.variant_index), stamp]
            calls.append(([keys.exposures(experiment), keys.sufficient_stats(experiment)], args))
        answers = self._scripts.run_many("record_exposures", calls)
        records: list[ExposureRecord | None] = [None] * len(writes)
        for (_, positions), answer in zip(by_experiment.items(), answers, strict=True):
            for position, (variant, recorded) in zip(positions, answer, strict=True):
                records[position] = ExposureRecord(int(variant), bool(recorded))
        return [r for r in records if r is not None]

    def variant_of(self, experiment: str, user_id: str) -> int | None:
        raw = self._redis.hget(keys.exposures(experiment), user_id)
        return None if raw is None else int(raw.split(":", 1)[0])
