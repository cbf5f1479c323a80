"""Several processes send overlapping batches, with retries, to the real redis-server at once:
the sums must be exactly those of the distinct events.

Values are multiples of 1/4 and small, so every sum, square and cross product is exact in
doubles whatever the order of the additions, and the comparison can be exact equality.
"""

from __future__ import annotations

import multiprocessing
import random
from collections import defaultdict

import pytest

from experiments.model import Experiment, HistoryEntry, MetricType
from experiments.stats.moments import Moments, RatioMoments
from experiments.store import Store
from experiments.store.events import EventWrite, Outcome
from experiments.store.exposures import ExposureWrite

EXP = "concurrent"
PROCESSES = 4
USERS = 300
EVENTS = 4000
BATCH = 150
METRICS = {"thumbs_up": MetricType.BINARY, "latency_ms": MetricType.MEAN, "cost": MetricType.RATIO}

Row = tuple[str, str, str, float, float]  # event id, user, metric, value, denominator


def send(url: str, rows: list[Row], seed: int, start: object) -> tuple[int, int]:
    """A client process: every batch once, about half of them twice (a retry after a lost
    reply), and the whole lot once more in another order at the end. Answers (counted, dupes)."""
    rng = random.Random(seed)
    store = Store.from_url(url)
    writes = [EventWrite(EXP, u, e, m, METRICS[m], v, d) for e, u, m, v, d in rows]
    batches = [writes[i : i + BATCH] for i in range(0, len(writes), BATCH)]
    counted = duplicates = 0
    start.wait()  # type: ignore[attr-defined]
    for batch in [*batches, *rng.sample(batches, len(batches))]:
        for _ in range(rng.choice((1, 2))):
            outcomes = store.events.ingest(batch)
            counted += outcomes.count(Outcome.ACCEPTED)
            duplicates += outcomes.count(Outcome.DUPLICATE)
    store.redis.close()
    return counted, duplicates


def _run(url: str, rows: list[Row], seed: int, start: object, answers: object) -> None:
    answers.put(send(url, rows, seed, start))  # type: ignore[attr-defined]


def expected_sums(
    rows: list[Row], variant_of: dict[str, int]
) -> dict[str, tuple[Moments | RatioMoments, ...]]:
    per_user: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for _, user, metric, value, denominator in rows:
        totals = per_user[(metric, user)]
        totals[0] += value
        totals[1] += denominator
        totals[2] = max(totals[2], 1.0 if value > 0 else 0.0)
    users = [sum(1 for v in variant_of.values() if v == k) for k in (0, 1)]
    result: dict[str, tuple[Moments | RatioMoments, ...]] = {}
    for metric, kind in METRICS.items():
        arms: list[Moments | RatioMoments] = []
        for k in (0, 1):
            mine = [t for (m, u), t in per_user.items() if m == metric and variant_of[u] == k]
            if kind is MetricType.BINARY:
                successes = sum(t[2] for t in mine)
                arms.append(Moments(users[k], successes, successes))
            elif kind is MetricType.MEAN:
                total, squares = sum(t[0] for t in mine), sum(t[0] ** 2 for t in mine)
                arms.append(Moments(users[k], total, squares))
            else:
                arms.append(
                    RatioMoments(
                        users[k],
                        sum(t[0] for t in mine),
                        sum(t[1] for t in mine),
                        sum(t[0] ** 2 for t in mine),
                        sum(t[1] ** 2 for t in mine),
                        sum(t[0] * t[1] for t in mine),
                    )
                )
        result[metric] = tuple(arms)
    return result


@pytest.mark.timeout(120)
def test_overlapping_retried_batches_from_several_processes_count_each_event_once(
    store: Store, redis_url: str
) -> None:
    rng = random.Random(20240607)
    experiment = Experiment.model_validate(
        {
            "key": EXP,
            "name": "Concurrent",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "b", "weight": 0.5}],
            "control": "control",
            "metrics": [{"key": k, "type": t.value} for k, t in METRICS.items()],
            "status": "running",
        }
    )
    store.experiments.create(experiment, HistoryEntry(at=0.0, actor="test", action="create"))
    variant_of = {f"user-{i}": rng.randrange(2) for i in range(USERS)}
    store.exposures.record([ExposureWrite(EXP, u, v) for u, v in variant_of.items()], 0.0)

    rows: list[Row] = []
    for i in range(EVENTS):
        metric = rng.choice(list(METRICS))
        value = float(rng.randrange(2)) if metric == "thumbs_up" else rng.randrange(-8, 400) / 4
        denominator = rng.randrange(1, 12) / 4 if metric == "cost" else 1.0
        rows.append((f"evt-{i}", rng.choice(list(variant_of)), metric, value, denominator))
    # Every event goes to two of the processes, each process sees its share in its own order.
    shares: list[list[Row]] = [[] for _ in range(PROCESSES)]
    for row in rows:
        for p in rng.sample(range(PROCESSES), 2):
            shares[p].append(row)
    for share in shares:
        rng.shuffle(share)

    context = multiprocessing.get_context("spawn")
    start = context.Event()
    answers = context.Queue()
    processes = [
        context.Process(target=_run, args=(redis_url, share, seed, start, answers))
        for seed, share in enumerate(shares)
    ]
    for process in processes:
        process.start()
    start.set()
    results = [answers.get(timeout=90) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0

    assert sum(counted for counted, _ in results) == EVENTS
    assert store.events.snapshot(EXP).stats.metrics == expected_sums(rows, variant_of)
