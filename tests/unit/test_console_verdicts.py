"""The console's words for a guardrail follow the controller's own `breached`, never a figure
recomputed beside it: the two used to disagree where the relative interval does not exist (a
control without any event, constant arms) and for a guardrail judged on its quantile."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from experiments.model import Direction, MetricRole, MetricType
from experiments.results import (
    Bounds,
    Comparison,
    MetricResult,
    QuantileComparison,
    QuantileSection,
)
from rollout.console.verdicts import Verdict, verdict_of


def guardrail(key: str, max_regression: float) -> MetricResult:
    return MetricResult(metric=key, type=MetricType.MEAN, role=MetricRole.GUARDRAIL,
                        direction=Direction.DECREASE, max_regression=max_regression, cap=None,
                        variants={}, comparisons=())


LATENCY = guardrail("latency_ms", 0.1)
ERRORS = guardrail("llm_error", 0.0)


def comparison(**figures: Any) -> Comparison:
    unknown = Comparison(variant="friendly", baseline="control", diff=None, ci=None,
                         relative_lift=None, relative_ci=None, p_value=None,
                         adjusted_p_value=None, sequential_ci=None, sequential_relative_ci=None,
                         sequential_p_value=None, verdict="inconclusive", breached=False,
                         harm_bound=None, verdict_detail=None, reason=None)
    return replace(unknown, **figures)


def test_a_breach_without_a_relative_interval_reads_breached() -> None:
    # 0 errors of 200 control users, 200 of 200 treated: no relative interval exists, the
    # contrast test breaches and the controller rolls back.
    shown = verdict_of(ERRORS, comparison(breached=True, harm_bound=0.97))

    assert shown == Verdict("breached: harm beyond no tolerated harm", "bad")


def test_an_interval_beyond_the_tolerance_is_not_called_breached_unless_the_test_says_so() -> None:
    shown = verdict_of(LATENCY, comparison(sequential_relative_ci=(0.11, 0.4)))

    assert shown == Verdict("not yet known: could still exceed the 10% tolerance", "neutral")


def test_a_guardrail_whose_harm_is_bounded_below_the_tolerance_reads_within() -> None:
    shown = verdict_of(LATENCY, comparison(sequential_relative_ci=(-0.05, 0.08)))

    assert shown == Verdict("within the 10% tolerance", "good")


def test_a_guardrail_that_should_increase_reads_its_lower_end() -> None:
    quality = replace(LATENCY, direction=Direction.INCREASE)

    assert verdict_of(quality, comparison(sequential_relative_ci=(-0.08, 0.3))).tone == "good"
    assert verdict_of(quality, comparison(sequential_relative_ci=(-0.2, 0.3))).tone == "neutral"


def test_a_guardrail_without_figures_has_not_enough_data() -> None:
    assert verdict_of(LATENCY, comparison()) == Verdict("not enough data yet", "neutral")


def quantile_guardrail(interval: Bounds | None, breached: bool) -> MetricResult:
    judged = QuantileComparison(variant="friendly", baseline="control", relative_change=0.28,
                                sequential_relative_ci=interval, breached=breached)
    return replace(LATENCY, quantile=QuantileSection(q=0.95, variants={}, comparisons=(judged,)))


def test_a_quantile_guardrail_is_breached_by_its_quantile_though_its_mean_is_within() -> None:
    # The audit's tail regression: mean +6.5% (within 10%), p95 +28%.
    metric = quantile_guardrail((0.15, 0.42), breached=True)
    mean_within = comparison(sequential_relative_ci=(0.01, 0.09), breached=True)

    assert verdict_of(metric, mean_within) == Verdict("breached: harm beyond the 10% tolerance",
                                                      "bad")


def test_a_quantile_guardrail_is_within_on_its_quantile_interval_not_its_means() -> None:
    mean_within = comparison(sequential_relative_ci=(0.01, 0.09))

    unbounded = verdict_of(quantile_guardrail((-0.2, None), breached=False), mean_within)
    bounded = verdict_of(quantile_guardrail((-0.2, 0.05), breached=False), mean_within)

    assert unbounded.tone == "neutral" and bounded == Verdict("within the 10% tolerance", "good")


def test_primary_metrics_keep_their_verdict_words() -> None:
    primary = replace(guardrail("thumbs_up", 0.0), role=MetricRole.PRIMARY,
                      direction=Direction.INCREASE)

    assert verdict_of(primary, comparison(verdict="better")).words == "better: confidently improves"
    assert verdict_of(primary, comparison(verdict="worse")).tone == "bad"
    assert verdict_of(primary, comparison()).words == "no clear difference yet"
