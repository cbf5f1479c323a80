"""Quantile metrics: the log-bucketed sketch, its intervals and the quantile guardrail.

Against numpy on raw samples (the sketch's quantiles within its relative accuracy), and by
seeded simulation: the fixed interval's coverage at one look, the always-valid one's at every
look, the guardrail's A/A false fires under continuous monitoring, and the audit's tail
regression (10% of requests 3x slower, the rest 15% faster: mean +6.5%, p95 +28%), which a
mean guardrail with the contract's 10% tolerance never sees and a p95 guardrail catches.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.analysis import SufficientStats, results
from experiments.model import Experiment
from experiments.stats import Moments, compare, harm_test
from experiments.stats.quantile import (
    bernoulli_variance_proxy,
    quantile_estimate,
    quantile_harm,
)
from experiments.stats.sketch import LOG_GAMMA, RELATIVE_ACCURACY, QuantileSketch, bucket_of

MEDIAN_MS, SIGMA = 800.0, 0.6
TRUE_P95 = MEDIAN_MS * math.exp(SIGMA * 1.6448536269514722)


def sketch_of(values: np.ndarray) -> QuantileSketch:
    """`QuantileSketch.of_values`, vectorised (the simulations build thousands)."""
    index = np.ceil(np.log(values) / LOG_GAMMA).astype(np.int64)
    buckets, counts = np.unique(index, return_counts=True)
    return QuantileSketch.of_counts(dict(zip(buckets.tolist(), counts.tolist(), strict=True)))


def latencies(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.exp(rng.normal(math.log(MEDIAN_MS), SIGMA, n))


def test_the_vectorised_sketch_is_the_sketch_of_the_values() -> None:
    values = latencies(np.random.default_rng(1), 500)
    assert sketch_of(values) == QuantileSketch.of_values(values.tolist())


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
def test_sketch_quantiles_are_numpys_within_the_relative_accuracy(q: float) -> None:
    values = np.concatenate([latencies(np.random.default_rng(2), 20_000), [0.0, -1.0]])
    exact = float(np.quantile(values, q, method="inverted_cdf"))  # the ceil(q n)-th smallest
    estimate = QuantileSketch.of_values(values.tolist()).quantile(q)
    assert estimate is not None
    assert abs(estimate - exact) <= RELATIVE_ACCURACY * exact


def test_values_at_or_below_zero_sit_below_every_bucket() -> None:
    sketch = QuantileSketch.of_values([0.0, -3.0, 5.0])
    assert bucket_of(0.0) is None and sketch.non_positive == 2
    assert sketch.value_at(1) == 0.0 and sketch.quantile(0.9) == pytest.approx(5.0, rel=0.01)


def test_the_variance_proxy_is_a_quarter_at_the_median_and_above_the_bernoulli_variance() -> None:
    assert bernoulli_variance_proxy(0.5) == 0.25
    for q in (0.05, 0.5, 0.95, 0.99):
        assert q * (1 - q) <= bernoulli_variance_proxy(q) <= 0.25
    assert bernoulli_variance_proxy(0.95) == pytest.approx(0.1528, abs=1e-4)


def test_the_fixed_interval_covers_the_true_p95_at_its_level_at_one_look() -> None:
    """400 samples of 2000: measured coverage 96.5% (nominal 95%; the buckets' outer edges
    widen it by up to 1%)."""
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(400):
        estimate = quantile_estimate(sketch_of(latencies(rng, 2000)), 0.95, 0.05, 0.05)
        assert estimate.ci is not None
        covered += estimate.ci[0] <= TRUE_P95 <= estimate.ci[1]
    assert covered / 400 == pytest.approx(0.965)


def test_the_always_valid_interval_covers_the_true_p95_at_every_look() -> None:
    """150 streams, a look every 250 values to 5000 (20 looks): the sequence missed the true
    p95 at some look in 0% (at most alpha = 5%: the exact boundary is conservative)."""
    rng = np.random.default_rng(4)
    missed = 0
    for _ in range(150):
        values = latencies(rng, 5000)
        for n in range(250, 5001, 250):
            interval = quantile_estimate(sketch_of(values[:n]), 0.95, 0.05, 0.05).sequential_ci
            assert interval is not None
            if not interval[0] <= TRUE_P95 <= interval[1]:
                missed += 1
                break
    assert missed / 150 <= 0.05
    assert missed == 0


def _tail_regression(rng: np.random.Generator, n: int) -> np.ndarray:
    values = latencies(rng, n)
    return np.where(rng.random(n) < 0.1, values * 3, values * 0.85)


def _guardrails_fire(
    experiments: int, regressed: bool, seed: int, events: int = 40_000, step: int = 5000
) -> tuple[list[bool], list[int | None]]:
    """Per experiment: whether the mean guardrail ever fired, and the first look (events an
    arm) at which the p95 guardrail did; both at tolerance 10% and alpha 0.05 / 3."""
    rng = np.random.default_rng(seed)
    level = 0.05 / 3
    mean_fired: list[bool] = []
    p95_first: list[int | None] = []
    for _ in range(experiments):
        control = latencies(rng, events)
        treatment = _tail_regression(rng, events) if regressed else latencies(rng, events)
        fired, first = False, None
        for n in range(step, events + 1, step):
            c, t = control[:n], treatment[:n]
            figures = compare(
                "mean",
                Moments(n, float(c.sum()), float((c * c).sum())),
                Moments(n, float(t.sum()), float((t * t).sum())),
            )
            test = harm_test(figures, "decrease", 0.10, level)
            fired = fired or (test is not None and test.breached)
            if first is None and quantile_harm(
                sketch_of(c), sketch_of(t), 0.95, "decrease", 0.10, level
            ).breached:
                first = n
        mean_fired.append(fired)
        p95_first.append(first)
    return mean_fired, p95_first


def test_a_tail_regression_is_caught_by_the_p95_guardrail_and_missed_by_the_mean_one() -> None:
    """40 experiments to 40,000 requests an arm: the mean guardrail fired in 0%, the p95 one in
    39 (97.5%), at a median of 25,000 requests an arm (the audit: 0 of 500 and 99.8%)."""
    mean_fired, p95_first = _guardrails_fire(40, regressed=True, seed=5)
    assert not any(mean_fired)
    assert sum(first is not None for first in p95_first) == 39
    assert float(np.median([f for f in p95_first if f is not None])) == 25_000


def test_aa_the_p95_guardrail_does_not_fire() -> None:
    mean_fired, p95_first = _guardrails_fire(40, regressed=False, seed=6, events=20_000)
    assert not any(mean_fired) and all(first is None for first in p95_first)


def test_a_guardrail_with_a_quantile_is_judged_on_it_in_the_results() -> None:
    experiment = Experiment.model_validate(
        {
            "key": "tail",
            "name": "tail",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "new", "weight": 0.5}],
            "control": "control",
            "metrics": [
                {"key": "latency_ms", "type": "mean", "role": "guardrail",
                 "direction": "decrease", "max_regression": 0.1, "quantile": 0.95}
            ],
        }
    )
    rng = np.random.default_rng(7)
    control, treatment = latencies(rng, 40_000), _tail_regression(rng, 40_000)
    stats = SufficientStats(
        (40_000, 40_000),
        {"latency_ms": tuple(
            Moments(40_000, float(v.sum()), float((v * v).sum())) for v in (control, treatment)
        )},
        {"latency_ms": (sketch_of(control), sketch_of(treatment))},
    )
    entry = results(experiment, stats, 0.0).metrics[0]
    assert entry.quantile is not None
    (comparison,) = entry.comparisons
    (quantile,) = entry.quantile.comparisons
    assert comparison.breached is True and quantile.breached is True
    assert quantile.relative_change == pytest.approx(0.28, abs=0.03)
    arm = entry.quantile.variants["control"]
    assert arm.p95 == pytest.approx(float(np.quantile(control, 0.95)), rel=0.01)
    assert arm.events == 40_000 and arm.sequential_ci is not None and arm.estimate is not None
    assert arm.sequential_ci[0] is not None and arm.sequential_ci[0] < arm.estimate
