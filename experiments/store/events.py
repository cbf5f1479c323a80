"""Metric events in Redis: counted once each, aggregated per user, summarised per variant.

Ingestion (`EventStore.ingest`) runs `lua/ingest_events.lua` once per experiment and shard of a
batch, all in one pipelined round trip (one per node on a Cluster). Each script call is atomic, so
concurrent writers can neither count an event id twice nor lose an update of a user's totals or
of the variant sums. An experiment of `shards: N` keeps each user's exposure, totals, sums and
dedupe markers in the user's shard (`keys`; the kernel's `shard_of`), so its ingestion spreads
over the masters holding its N slots instead of one.

Dedupe: the first time an event id is counted for an experiment, it is remembered with the
second it was counted, as a field of a shard of the hash of its time bucket
(`keys.event_ids_counted`; buckets an eighth of the dedupe window wide, sharded so that each
shard stays small enough for Redis's compact encoding, expiring as a whole once none of its
ids can count any more; lua/ingest_events.lua). The window is `Settings.dedupe_window_s` (env
`ROLLOUT_DEDUPE_WINDOW_S`, default 7 days), in whole seconds: an id counted at second t is a
duplicate up to second t + window - 1 and is counted again from t + window on, as with the key
of its own that `keys.event_seen` used to set (SET NX EX window); those keys are still read, so
ids counted before the buckets stay duplicates until they have expired. The scope is the
experiment's shard (its keys share one Cluster slot): one id sent for two experiments counts
once in each. Exactly-once holds all the same: a retried event carries the same user, so it
lands in the same shard, where its id was marked. (Only one id reused for two users of one
experiment could count once per shard: ids are per event, the client's `event_id` is fresh.) An
event of a user without a recorded exposure does not mark its id, so a client that sends an
event before the exposure that explains it can retry it.

Results read only the experiment's definition and its sufficient statistics hashes
(`EventStore.snapshot`: one round trip, two with several shards, whose sums it adds), whatever
the number of users or events.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

from experiments.errors import NotFound
from experiments.event_rules import DEFAULT_DEDUPE_WINDOW_S, EventWrite
from experiments.model import Experiment, MetricType
from experiments.stats.moments import Moments, RatioMoments
from experiments.stats.sketch import QuantileSketch
from experiments.stats.sufficient import CovariateSums, MetricStats, SufficientStats
from experiments.store.connection import Redis
from experiments.store.keys import PRODUCTION_KEYS, EnvironmentKeys
from experiments.store.scripts import Scripts
from experiments.store.shard_routing import group_by_shard

__all__ = [
    "DEFAULT_DEDUPE_WINDOW_S",
    "EventStore",
    "EventWrite",
    "MetricStats",
    "Outcome",
    "Snapshot",
    "SufficientStats",
    "decode_stats",
]

_TYPE_CODES = {MetricType.BINARY: "b", MetricType.MEAN: "m", MetricType.RATIO: "r"}


class Outcome(IntEnum):
    """What became of one event; the values are the script's return codes."""

    ACCEPTED = 0
    DUPLICATE = 1
    NOT_EXPOSED = 2


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An experiment's definition and its sufficient statistics, read together."""

    experiment: Experiment
    stats: SufficientStats


class EventStore:
    def __init__(
        self, redis: Redis, scripts: Scripts, layout: EnvironmentKeys = PRODUCTION_KEYS
    ) -> None:
        self._redis = redis
        self._keys = layout
        self._scripts = scripts

    def ingest(
        self,
        writes: Sequence[EventWrite],
        dedupe_window_s: int = DEFAULT_DEDUPE_WINDOW_S,
        now: float | None = None,
    ) -> list[Outcome]:
        """Count every event once, in one pipelined round trip; answers in the order of `writes`.

        `now` (unix seconds, default the clock) decides the dedupe window (see the module)."""
        if not writes:
            return []
        if dedupe_window_s < 1:
            raise ValueError(f"the dedupe window must be >= 1 s, got {dedupe_window_s}")
        by_shard = group_by_shard(writes)
        calls = []
        window = str(dedupe_window_s)
        bucket_s = dedupe_bucket_s(dedupe_window_s)
        second = str(int(time.time() if now is None else now))
        for (experiment, shard), positions in by_shard.items():
            # + the event id is that event's marker
            seen = self._keys.event_seen(experiment, "", shard)
            types: dict[str, tuple[str, str, str, str]] = {}
            script_keys = [
                self._keys.exposures(experiment, shard),
                self._keys.sufficient_stats(experiment, shard),
                self._keys.user_totals(experiment, shard),
            ]
            args: list[str] = []
            for position in positions:
                write = writes[position]
                if write.metric not in types:
                    cap = "" if write.cap is None else repr(float(write.cap))
                    sketch = "q" if write.sketched else ""
                    covariate = "" if write.covariate is None else str(write.covariate)
                    types[write.metric] = (_TYPE_CODES[write.metric_type], cap, sketch, covariate)
                script_keys.append(seen + write.event_id)
                args += [
                    write.user_id,
                    write.metric,
                    repr(float(write.value)),
                    repr(float(write.denominator)),
                ]
            header = [window, str(len(types))]
            for metric, fields in types.items():
                header += [metric, *fields]
            dedupe = [
                second,
                str(bucket_s),
                self._keys.event_ids_counted(experiment, bucket_s, shard),
            ]
            dedupe += [str(len(seen))]
            dedupe += [str(zlib.crc32(writes[p].event_id.encode())) for p in positions]
            calls.append((script_keys, header + args + dedupe))
        outcomes: list[Outcome] = [Outcome.ACCEPTED] * len(writes)
        for positions, answer in zip(
            by_shard.values(), self._scripts.run_many("ingest_events", calls), strict=True
        ):
            for position, code in zip(positions, answer, strict=True):
                outcomes[position] = Outcome(int(code))
        return outcomes

    def snapshot(self, experiment_key: str) -> Snapshot:
        """The definition and the sufficient statistics; NotFound if absent.

        One round trip reads the definition with shard 0's stats (the same slot); an experiment
        of more shards takes one more, every other shard's stats pipelined (per node on a
        Cluster), summed field by field: every field is a sum, a count or a sketch bucket."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(self._keys.experiment(experiment_key))
        pipe.hgetall(self._keys.sufficient_stats(experiment_key))
        raw_definition, raw_stats = pipe.execute()
        if raw_definition is None:
            raise NotFound(f"experiment {experiment_key!r} not found")
        experiment = Experiment.model_validate_json(raw_definition)
        if experiment.shards > 1:
            pipe = self._redis.pipeline(transaction=False)
            for shard in range(1, experiment.shards):
                pipe.hgetall(self._keys.sufficient_stats(experiment_key, shard))
            raw_stats = summed_stats([raw_stats, *pipe.execute()])
        return Snapshot(experiment, decode_stats(experiment, raw_stats))


def summed_stats(shards: Sequence[Mapping[str, str]]) -> dict[str, float]:
    """The stats hashes of an experiment's shards as one: each field summed over the shards
    (math.fsum: the correctly rounded sum, whatever the order the shards are read in)."""
    values: dict[str, list[float]] = {}
    for raw in shards:
        for field, value in raw.items():
            values.setdefault(field, []).append(float(value))
    return {field: math.fsum(parts) for field, parts in values.items()}


def dedupe_bucket_s(window_s: int) -> int:
    """The width of a dedupe bucket: an eighth of the window (rounded up), so a lookup reads at
    most nine buckets and a bucket outlives its last id by at most an eighth of the window."""
    return -(-window_s // 8)


def decode_stats(experiment: Experiment, raw: Mapping[str, str | float]) -> SufficientStats:
    """Typed sums from the stats hash; a field never written reads as zero.

    Fields: `users:<v>` (exposed users of variant index v, written by record_exposures.lua) and
    `<metric>|<v>|<sum>` with sums `s`, `ss` (binary, mean) and `x`, `y`, `xx`, `yy`, `xy`
    (ratio), written by ingest_events.lua. For a binary metric `s` counts users with a success,
    so the sum of squares equals it. With a `Metric.cap` the sums are those of the capped
    totals (the user's mean total, a ratio's numerator), exactly. A metric with a `quantile`
    also has its sketch's buckets `<metric>|<v>|q<i>` and `<metric>|<v>|qz` (values <= 0).
    Segment i of dimension d has the same fields prefixed by `seg|<d>=<i>|` (no sketch). The
    covariate at position c of `Experiment.covariate_names` has `cov|<c>|<v>|x` and `xx`
    (record_exposures.lua), a metric adjusted for it `<metric>|<v>|cxy` (ingest_events.lua).
    """
    users, metrics = _sums(experiment, raw, "")
    segments = tuple(
        tuple(
            SufficientStats(*_sums(experiment, raw, f"seg|{d}={i}|"))
            for i in range(len(segment.values) + 1)
        )
        for d, segment in enumerate(experiment.segments)
    )
    return SufficientStats(
        users,
        metrics,
        _sketches(experiment, raw),
        _covariate_sums(experiment, raw, users),
        segments,
    )


def _sums(
    experiment: Experiment, raw: Mapping[str, str | float], prefix: str
) -> tuple[tuple[int, ...], dict[str, tuple[MetricStats, ...]]]:
    """The users per variant and the metrics' sums of the fields that start with `prefix`."""
    variants = range(len(experiment.variants))
    users = tuple(int(float(raw.get(f"{prefix}users:{v}", 0))) for v in variants)

    def value(metric: str, v: int, name: str) -> float:
        return float(raw.get(f"{prefix}{metric}|{v}|{name}", 0.0))

    metrics: dict[str, tuple[MetricStats, ...]] = {}
    for metric in experiment.metrics:
        m = metric.key
        per_variant: list[MetricStats] = []
        for v in variants:
            if metric.type is MetricType.BINARY:
                successes = value(m, v, "s")
                per_variant.append(Moments(users[v], successes, successes))
            elif metric.type is MetricType.MEAN:
                per_variant.append(Moments(users[v], value(m, v, "s"), value(m, v, "ss")))
            else:
                per_variant.append(
                    RatioMoments(
                        users[v],
                        value(m, v, "x"),
                        value(m, v, "y"),
                        value(m, v, "xx"),
                        value(m, v, "yy"),
                        value(m, v, "xy"),
                    )
                )
        metrics[m] = tuple(per_variant)
    return users, metrics


def _covariate_sums(
    experiment: Experiment, raw: Mapping[str, str | float], users: Sequence[int]
) -> dict[str, tuple[CovariateSums, ...]]:
    """Per binary or mean metric with a covariate, per variant: the sums CUPED needs."""
    position = {name: c for c, name in enumerate(experiment.covariate_names())}
    sums: dict[str, tuple[CovariateSums, ...]] = {}
    for metric in experiment.metrics:
        if metric.covariate is None or metric.type is MetricType.RATIO:
            continue
        m, c = metric.key, position[metric.covariate]
        per_variant = []
        for v, n in enumerate(users):
            y = float(raw.get(f"{m}|{v}|s", 0.0))
            yy = y if metric.type is MetricType.BINARY else float(raw.get(f"{m}|{v}|ss", 0.0))
            per_variant.append(
                CovariateSums(
                    n,
                    y,
                    yy,
                    float(raw.get(f"cov|{c}|{v}|x", 0.0)),
                    float(raw.get(f"cov|{c}|{v}|xx", 0.0)),
                    float(raw.get(f"{m}|{v}|cxy", 0.0)),
                )
            )
        sums[m] = tuple(per_variant)
    return sums


def _sketches(
    experiment: Experiment, raw: Mapping[str, str | float]
) -> dict[str, tuple[QuantileSketch, ...]]:
    """The quantile sketches of the metrics with a `quantile`, from their bucket fields."""
    sketched = {metric.key for metric in experiment.metrics if metric.quantile is not None}
    if not sketched:
        return {}
    arms = len(experiment.variants)
    counts = {key: [dict[int, int]() for _ in range(arms)] for key in sketched}
    non_positive = {key: [0] * arms for key in sketched}
    for field, count in raw.items():
        metric, _, rest = field.partition("|")
        if metric not in sketched:
            continue
        variant, _, bucket = rest.partition("|")
        if not bucket.startswith("q") or not variant.isdigit() or int(variant) >= arms:
            continue
        if bucket == "qz":
            non_positive[metric][int(variant)] = int(float(count))
        else:
            counts[metric][int(variant)][int(bucket[1:])] = int(float(count))
    return {
        key: tuple(
            QuantileSketch.of_counts(counts[key][v], non_positive[key][v]) for v in range(arms)
        )
        for key in sketched
    }
