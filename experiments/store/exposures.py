"""First exposures: which variant a user saw first is the user's variant for analysis.

An experiment of `shards: N` keeps each user's exposure in the user's shard (`keys`, the
kernel's `shard_of`): one script call per (experiment, shard) of a batch, so on a Redis Cluster a
hot experiment's exposures spread over the masters holding its shards.

A first exposure also keeps what the analysis takes from that moment on: the user's segment in
each declared dimension and the covariates CUPED adjusts for (`exposure_facts`), and counts the
user in the segments' and covariates' sums.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from experiments.model import Experiment
from experiments.stats.segments import segment_cells
from experiments.store.connection import Redis
from experiments.store.keys import PRODUCTION_KEYS, EnvironmentKeys
from experiments.store.scripts import Scripts
from experiments.store.shard_routing import group_by_shard
from rollout_sdk.kernel.hashing import shard_of


@dataclass(frozen=True, slots=True)
class ExposureWrite:
    experiment: str
    user_id: str
    variant_index: int
    shards: int = 1
    """The experiment's `shards`: the store routes the write to the user's shard."""
    segments: tuple[int, ...] = ()
    """The user's segment in each declared dimension (`experiments.stats.segments`)."""
    covariates: tuple[float, ...] = ()
    """The covariate values in the order of `Experiment.covariate_names` (CUPED); () if none."""


def exposure_write(
    experiment: Experiment,
    user_id: str,
    variant_index: int,
    attributes: Mapping[str, Any],
    covariates: Mapping[str, float],
    covariate_names: Sequence[str] | None = None,
) -> ExposureWrite:
    """The write of a user's exposure with what the analysis keeps from it: the segments of its
    `attributes` and the values of the `covariates` the metrics adjust for (a name not sent
    counts 0, docs/statistics.md).

    `covariate_names` is `experiment.covariate_names()` when the caller holds it already (the
    live configuration computes it once per version, not once per request)."""
    names = experiment.covariate_names() if covariate_names is None else covariate_names
    return ExposureWrite(
        experiment.key,
        user_id,
        variant_index,
        experiment.shards,
        segment_cells(experiment.segments, attributes) if experiment.segments else (),
        tuple(covariates.get(name, 0.0) for name in names) if names and covariates else (),
    )


@dataclass(frozen=True, slots=True)
class ExposureRecord:
    variant_index: int
    recorded_now: bool


class ExposureStore:
    def __init__(
        self, redis: Redis, scripts: Scripts, layout: EnvironmentKeys = PRODUCTION_KEYS
    ) -> None:
        self._redis = redis
        self._keys = layout
        self._scripts = scripts

    def record(self, writes: Sequence[ExposureWrite], now: float) -> list[ExposureRecord]:
        """Set-if-absent every exposure in one pipelined round trip (one script per experiment
        and shard).

        Answers in the order of `writes`, each with the variant that stands for the user (the
        first one ever recorded) and whether this call recorded it.
        """
        if not writes:
            return []
        stamp = str(int(now))
        if len(writes) == 1:
            return [self._record_one(writes[0], stamp)]
        by_shard = group_by_shard(writes)
        calls = []
        for (experiment, shard), positions in by_shard.items():
            args: list[str] = []
            for position in positions:
                write = writes[position]
                args += [write.user_id, str(write.variant_index), stamp, exposure_facts(write)]
            script_keys = [
                self._keys.exposures(experiment, shard),
                self._keys.sufficient_stats(experiment, shard),
            ]
            calls.append((script_keys, args))
        answers = self._scripts.run_many("record_exposures", calls)
        records: list[ExposureRecord | None] = [None] * len(writes)
        for positions, answer in zip(by_shard.values(), answers, strict=True):
            for position, (variant, recorded) in zip(positions, answer, strict=True):
                records[position] = ExposureRecord(int(variant), bool(recorded))
        return [r for r in records if r is not None]

    def _record_one(self, write: ExposureWrite, stamp: str) -> ExposureRecord:
        """A single exposure (a tracked assign of one experiment), with no grouping: its keys
        and arguments built once and sent as they are."""
        shard = 0 if write.shards == 1 else shard_of(write.user_id, write.experiment, write.shards)
        script_keys = (
            self._keys.exposures(write.experiment, shard),
            self._keys.sufficient_stats(write.experiment, shard),
        )
        args = (write.user_id, str(write.variant_index), stamp, exposure_facts(write))
        ((variant, recorded),) = self._scripts.run_one("record_exposures", script_keys, args)
        return ExposureRecord(int(variant), bool(recorded))

    def variant_of(self, experiment: str, user_id: str, shards: int = 1) -> int | None:
        """The variant index of the user's first exposure, read from the user's shard."""
        shard = shard_of(user_id, experiment, shards)
        raw = self._redis.hget(self._keys.exposures(experiment, shard), user_id)
        return None if raw is None else int(raw.split(":", 1)[0])


def exposure_facts(write: ExposureWrite) -> str:
    """What the exposure stores after its variant and second (lua/record_exposures.lua):
    "" without segments and covariates, else "<cells>:<covariates>", comma-separated."""
    if not write.segments and not write.covariates:
        return ""
    cells = ",".join(str(cell) for cell in write.segments)
    return cells + ":" + ",".join(repr(float(x)) for x in write.covariates)
