"""Sufficient statistics -> the results of `GET /api/v1/experiments/{key}/results`; pure.

`results(experiment, stats, now)` takes what `store.events.snapshot(key)` read in one round trip
and computes every figure from per-variant sums, so its cost is O(variants x metrics) whatever
the number of users or events. It answers typed values (experiments/results.py), which `decide`
and the runner read as they are; only an edge makes the JSON document of them (`to_json`). A
figure that cannot be computed yet is None (null) and the entry's `reason` says why (a
`experiments.stats.Reason` code), never NaN.

Choices the contract leaves open, documented in docs/measurement.md:

- Per variant and metric, `mean` is the proportion of users with a success (binary), the mean of
  the users' sums (mean) or `sum(x) / sum(y)` (ratio); `variance` is the per-user variance the
  comparison uses: `p (1 - p)` (binary), the sample variance with ddof=1 (mean), the delta-method
  `n Var(R_hat)` (ratio).
- `adjusted_p_value`: Holm across every treatment of every primary and secondary metric. A
  guardrail is not a discovery to be corrected for but a safety check with its own tolerance, so
  its `adjusted_p_value` is its unadjusted `p_value`.
- The always-valid figures are computed at `sequential_alpha = alpha / K`, with `K` the number
  of comparisons that can trigger an automatic decision (each treatment of each primary and each
  guardrail metric). By the union bound the chance that any of them ever errs, however often the
  controller looks, stays at or below `alpha`, which is the contract's promise about false
  rollbacks and false ships. `sequential_p_value` is reported Bonferroni-scaled (`min(1, K p)`),
  so it is below `alpha` exactly when `sequential_ci` excludes zero.
- `breached` (guardrails only, null otherwise): the one-sided always-valid test of the harm
  contrast `m_t - (1 + max_regression) m_c` (`experiments.stats.guardrail`) at
  `sequential_alpha`, with its bound `harm_bound`; the controller rolls back on it.
- `srm`: `p_value` is the chi-square figure, for reading; `ok` is the sequential test of Lindon
  and Malek at level 0.01 (`sequential_p_value`, `level`), which decides the pause.
- `power` (primary metrics only): for the smallest variant, `mde` fixed-horizon at `alpha`;
  `users_per_variant_needed` what the always-valid interval at `sequential_alpha` needs, which
  is what the controller waits for, beside `fixed_users_per_variant_needed` (see `power_figures`).
- `adjusted` (a comparison of a metric with a `covariate`): the CUPED figures
  (experiments/stats/cuped.py), for reading beside the unadjusted ones the decisions use.
- `segments` (an experiment that declares them): per dimension and segment every metric's
  figures, computed as the whole's, at the per-segment level (`segment_alpha`); with segments
  each guardrail's segments are one more member of `K`, and `decide` rolls back on a guardrail
  breached in any segment (experiments/stats/segments.py). The cost is O(variants x metrics x
  segments), at most 63 segments.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from experiments.guardrail_standing import Standing, guardrail_standing
from experiments.model import (
    DECISION_ROLES,
    Direction,
    Experiment,
    Metric,
    MetricRole,
    MetricType,
)
from experiments.results import (
    Adjusted,
    ArmSummary,
    Bounds,
    Comparison,
    Interval,
    MetricResult,
    PowerFigures,
    QuantileArm,
    QuantileComparison,
    QuantileSection,
    Results,
    SegmentDimension,
    SegmentResult,
    SrmCheck,
    VariantUsers,
)
from experiments.stats.comparison import Comparison as Contrast
from experiments.stats.comparison import compare
from experiments.stats.cuped import adjusted_comparison
from experiments.stats.fixed import Reason
from experiments.stats.guardrail import harm_test
from experiments.stats.moments import Moments, RatioMoments
from experiments.stats.multiple import holm
from experiments.stats.power import (
    DEFAULT_POWER,
    minimum_detectable_effect,
    sequential_users_per_variant_for,
    users_per_variant_for,
)
from experiments.stats.quantile import quantile_estimate, quantile_harm
from experiments.stats.segments import cell_count, segment_alpha, segment_names
from experiments.stats.sequential import verdict
from experiments.stats.sketch import QuantileSketch
from experiments.stats.srm import sequential_srm_test, srm_test
from experiments.stats.sufficient import CovariateSums, MetricStats, SufficientStats

DEFAULT_RELATIVE_EFFECT = 0.05
"""The relative change `power` sizes the experiment for, unless the caller states another."""

HOLM_ROLES = frozenset({MetricRole.PRIMARY, MetricRole.SECONDARY})


def results(
    experiment: Experiment,
    stats: SufficientStats,
    now: float,
    *,
    effect: float = DEFAULT_RELATIVE_EFFECT,
    power: float = DEFAULT_POWER,
) -> Results:
    """The results, as the contract shows them plus documented extensions (experiments/
    results.py's `to_json` makes the document of them).

    `effect` (a relative change, e.g. 0.05 for +5%) and `power` size the `power` figures of the
    primary metrics. `now` stamps the results (`as_of`).
    """
    keys = experiment.variant_keys()
    control = keys.index(experiment.control)
    treatments = [i for i in range(len(keys)) if i != control]
    members = sum(m.role in DECISION_ROLES for m in experiment.metrics)
    if experiment.segments:
        # Each guardrail's segments are one more member of the family (stats/segments.py).
        members += sum(m.role is MetricRole.GUARDRAIL for m in experiment.metrics)
    family = max(1, len(treatments) * members)
    sequential_alpha = experiment.alpha / family
    weights = [v.weight for v in experiment.variants]
    srm = srm_test(stats.users, weights)
    sequential_srm = sequential_srm_test(stats.users, weights)

    metrics: list[MetricResult] = []
    for metric in experiment.metrics:
        arms = stats.metrics[metric.key]
        comparisons = [
            _comparison(
                keys[treatment],
                keys[control],
                metric,
                _compare(
                    metric.type, arms[control], arms[treatment], experiment.alpha, sequential_alpha
                ),
                family,
                sequential_alpha,
            )
            for treatment in treatments
        ]
        if metric.covariate is not None:
            comparisons = [
                replace(
                    comparison,
                    adjusted=_adjusted(
                        metric, stats, control, treatment, experiment.alpha, sequential_alpha
                    ),
                )
                for comparison, treatment in zip(comparisons, treatments, strict=True)
            ]
        quantile = None
        if metric.quantile is not None:
            quantile = quantile_section(
                metric,
                stats.sketches.get(metric.key) or tuple(QuantileSketch(()) for _ in keys),
                keys,
                control,
                experiment.alpha,
                sequential_alpha,
            )
            if metric.role is MetricRole.GUARDRAIL:
                # A guardrail with a quantile is judged on it: the mean figures are for reading.
                comparisons = [
                    replace(
                        comparison,
                        breached=judged.breached,
                        harm_bound=None,
                        verdict_detail=_standing(
                            metric, judged.breached, judged.sequential_relative_ci
                        ),
                    )
                    for comparison, judged in zip(comparisons, quantile.comparisons, strict=True)
                ]
        power_section = None
        if metric.role is MetricRole.PRIMARY:
            weighted = [
                arm for arm, v in zip(arms, experiment.variants, strict=True) if v.weight > 0
            ]
            power_section = power_figures(
                metric.type,
                arms[control],
                weighted,
                experiment.alpha,
                effect,
                power,
                sequential_alpha,
            )
        metrics.append(
            _metric_result(
                metric, keys, arms, tuple(comparisons), quantile=quantile, power=power_section
            )
        )

    return Results(
        experiment=experiment.key,
        status=experiment.status,
        stage=experiment.stage,
        traffic=experiment.effective_traffic,
        as_of=now,
        alpha=experiment.alpha,
        sequential_alpha=sequential_alpha,
        srm=SrmCheck(
            p_value=srm.p_value,
            ok=sequential_srm.ok,
            sequential_p_value=sequential_srm.p_value,
            level=sequential_srm.level,
        ),
        variants={key: VariantUsers(users=stats.users[i]) for i, key in enumerate(keys)},
        metrics=_holm_adjusted(metrics),
        segments=(
            _segments(experiment, stats, control, treatments, family, sequential_alpha)
            if experiment.segments
            else None
        ),
    )


RATIO_NOT_ADJUSTED = "ratio_not_adjusted"
"""The `adjusted.reason` of a ratio metric with a covariate: CUPED regresses one per-user value,
and a ratio's is a pair."""


def _adjusted(
    metric: Metric,
    stats: SufficientStats,
    control: int,
    treatment: int,
    alpha: float,
    sequential_alpha: float,
) -> Adjusted:
    """A comparison's CUPED figures; sums without covariate sums (none was ever stored) count
    every user's covariate as 0, which adjusts nothing."""
    assert metric.covariate is not None
    if metric.type is MetricType.RATIO:
        return Adjusted(
            covariate=metric.covariate,
            theta=None,
            control_mean=None,
            treatment_mean=None,
            diff=None,
            ci=None,
            relative_lift=None,
            relative_ci=None,
            p_value=None,
            sequential_ci=None,
            variance_reduction=None,
            reason=RATIO_NOT_ADJUSTED,
        )
    sums = stats.covariates.get(metric.key) or tuple(
        CovariateSums(arm.n, arm.total, arm.total_sq, 0.0, 0.0, 0.0)
        for arm in stats.metrics[metric.key]
        if isinstance(arm, Moments)
    )
    figures = adjusted_comparison(sums, control, treatment, alpha, sequential_alpha)
    return Adjusted(
        covariate=metric.covariate,
        theta=figures.theta,
        control_mean=figures.control_mean,
        treatment_mean=figures.treatment_mean,
        diff=figures.diff,
        ci=figures.ci,
        relative_lift=figures.relative_lift,
        relative_ci=figures.relative_ci,
        p_value=figures.p_value,
        sequential_ci=figures.sequential_ci,
        variance_reduction=figures.variance_reduction,
        reason=None if figures.reason is None else figures.reason.value,
    )


def _metric_result(
    metric: Metric,
    keys: Sequence[str],
    arms: Sequence[MetricStats],
    comparisons: tuple[Comparison, ...],
    quantile: QuantileSection | None = None,
    power: PowerFigures | None = None,
) -> MetricResult:
    """One metric's figures, for the whole experiment or for one segment of it."""
    return MetricResult(
        metric=metric.key,
        type=metric.type,
        role=metric.role,
        direction=metric.direction,
        max_regression=metric.max_regression,
        cap=metric.cap,
        variants={keys[i]: summarise(metric.type, arm) for i, arm in enumerate(arms)},
        comparisons=comparisons,
        quantile=quantile,
        power=power,
    )


def _segments(
    experiment: Experiment,
    stats: SufficientStats,
    control: int,
    treatments: Sequence[int],
    family: int,
    sequential_alpha: float,
) -> tuple[SegmentDimension, ...]:
    """Every segment's figures at the per-segment level; `sequential_p_value` is scaled by
    `K x segments` as the whole's is by `K`, so it is below `alpha` exactly when the segment's
    interval excludes zero."""
    keys = experiment.variant_keys()
    level = segment_alpha(sequential_alpha, experiment.segments)
    scale = family * cell_count(experiment.segments)
    dimensions = []
    for segment, cells in zip(experiment.segments, stats.segments, strict=True):
        shown = []
        for value, cell in zip(segment_names(segment), cells, strict=True):
            metrics = []
            for metric in experiment.metrics:
                arms = cell.metrics[metric.key]
                comparisons = tuple(
                    _comparison(
                        keys[t],
                        keys[control],
                        metric,
                        _compare(metric.type, arms[control], arms[t], experiment.alpha, level),
                        scale,
                        level,
                    )
                    for t in treatments
                )
                metrics.append(_metric_result(metric, keys, arms, comparisons))
            shown.append(
                SegmentResult(
                    value=value,
                    variants={k: VariantUsers(users=cell.users[i]) for i, k in enumerate(keys)},
                    metrics=tuple(metrics),
                )
            )
        dimensions.append(
            SegmentDimension(
                attribute=segment.attribute, sequential_alpha=level, segments=tuple(shown)
            )
        )
    return tuple(dimensions)


def _holm_adjusted(metrics: Sequence[MetricResult]) -> tuple[MetricResult, ...]:
    """Each primary and secondary comparison's `adjusted_p_value` replaced by Holm's across all
    of them; a guardrail keeps its raw p-value (see the module docstring)."""
    family = [
        (m, c, comparison.p_value)
        for m, metric in enumerate(metrics)
        if metric.role in HOLM_ROLES
        for c, comparison in enumerate(metric.comparisons)
    ]
    adjusted: dict[tuple[int, int], float | None] = {
        (m, c): p for (m, c, _), p in zip(family, holm([p for _, _, p in family]), strict=True)
    }
    return tuple(
        replace(
            metric,
            comparisons=tuple(
                replace(comparison, adjusted_p_value=adjusted[(m, c)])
                if (m, c) in adjusted
                else comparison
                for c, comparison in enumerate(metric.comparisons)
            ),
        )
        for m, metric in enumerate(metrics)
    )


def _compare(
    metric_type: MetricType,
    control: MetricStats,
    treatment: MetricStats,
    alpha: float,
    sequential_alpha: float,
) -> Contrast:
    if isinstance(control, RatioMoments) and isinstance(treatment, RatioMoments):
        return compare("ratio", control, treatment, alpha, sequential_alpha=sequential_alpha)
    if isinstance(control, Moments) and isinstance(treatment, Moments):
        kind: Literal["binary", "mean"] = "binary" if metric_type is MetricType.BINARY else "mean"
        return compare(kind, control, treatment, alpha, sequential_alpha=sequential_alpha)
    raise TypeError(f"sums of mixed kinds for a {metric_type.value} metric")


def _comparison(
    variant: str,
    baseline: str,
    metric: Metric,
    figures: Contrast,
    family: int,
    sequential_alpha: float,
) -> Comparison:
    sequential_p = figures.sequential_p_value
    harm = None
    if metric.role is MetricRole.GUARDRAIL:
        harm = harm_test(figures, _direction(metric), metric.max_regression, sequential_alpha)
    return Comparison(
        variant=variant,
        baseline=baseline,
        diff=figures.diff,
        ci=figures.ci,
        relative_lift=figures.relative_lift,
        relative_ci=figures.relative_ci,
        p_value=figures.p_value,
        # Guardrails keep their raw p-value; primary and secondary ones get Holm's after.
        adjusted_p_value=figures.p_value,
        sequential_ci=figures.sequential_ci,
        sequential_relative_ci=figures.sequential_relative_ci,
        sequential_p_value=None if sequential_p is None else min(1.0, family * sequential_p),
        verdict=verdict(figures.sequential_ci, _direction(metric)),
        breached=(
            None if metric.role is not MetricRole.GUARDRAIL else harm is not None and harm.breached
        ),
        harm_bound=None if harm is None else harm.bound,
        verdict_detail=(
            None
            if harm is None
            else _standing(metric, harm.breached, figures.sequential_relative_ci)
        ),
        reason=figures.unavailable_reason,
    )


def _direction(metric: Metric) -> Literal["increase", "decrease"]:
    return "increase" if metric.direction is Direction.INCREASE else "decrease"


def _standing(metric: Metric, breached: bool, interval: Bounds | Interval | None) -> Standing:
    """`breached`, `within_tolerance` or `inconclusive` (experiments/guardrail_standing.py)."""
    return guardrail_standing(breached, interval, _direction(metric), metric.max_regression)


def quantile_section(
    metric: Metric,
    sketches: Sequence[QuantileSketch],
    keys: Sequence[str],
    control: int,
    alpha: float,
    sequential_alpha: float,
) -> QuantileSection:
    """A sketched metric's quantile figures: per variant its `metric.quantile` with the fixed
    and always-valid intervals and p50/p95/p99, per treatment the relative change, the
    always-valid interval of the ratio of quantiles and `breached` (experiments/stats/
    quantile.py). Unbounded ends are None."""
    assert metric.quantile is not None
    q = metric.quantile
    variants: dict[str, QuantileArm] = {}
    for key, sketch in zip(keys, sketches, strict=True):
        estimate = quantile_estimate(sketch, q, alpha, sequential_alpha)
        variants[key] = QuantileArm(
            events=estimate.n,
            estimate=estimate.estimate,
            ci=_bounded(estimate.ci),
            sequential_ci=_bounded(estimate.sequential_ci),
            p50=sketch.quantile(0.5),
            p95=sketch.quantile(0.95),
            p99=sketch.quantile(0.99),
        )
    comparisons = []
    for i, key in enumerate(keys):
        if i == control:
            continue
        harm = quantile_harm(
            sketches[control],
            sketches[i],
            q,
            _direction(metric),
            metric.max_regression,
            sequential_alpha,
        )
        comparisons.append(
            QuantileComparison(
                variant=key,
                baseline=keys[control],
                relative_change=harm.relative_change,
                sequential_relative_ci=_bounded(harm.sequential_relative_ci),
                breached=harm.breached,
            )
        )
    return QuantileSection(q=q, variants=variants, comparisons=tuple(comparisons))


def _bounded(interval: tuple[float, float] | None) -> Bounds | None:
    """An interval of a quantile: an unbounded end is None."""
    if interval is None:
        return None
    lower, upper = interval
    return (lower if math.isfinite(lower) else None, upper if math.isfinite(upper) else None)


def summarise(metric_type: MetricType, arm: MetricStats) -> ArmSummary:
    """A variant's mean and per-user variance for one metric, or why they are missing."""
    if arm.n == 0:
        return ArmSummary(users=0, mean=None, variance=None, reason=Reason.NOT_ENOUGH_USERS)
    if isinstance(arm, RatioMoments):
        if arm.sum_y == 0:
            return ArmSummary(users=arm.n, mean=None, variance=None, reason=Reason.NO_DENOMINATOR)
        mean = arm.ratio
    else:
        mean = arm.mean
    if arm.n < 2:
        return ArmSummary(users=arm.n, mean=mean, variance=None, reason=Reason.NOT_ENOUGH_USERS)
    variance = _per_user_variance(metric_type, arm)
    return ArmSummary(users=arm.n, mean=mean, variance=variance, reason=None)


def _per_user_variance(metric_type: MetricType, arm: MetricStats) -> float:
    """The variance of one user's value that the metric's test uses (see the module docstring)."""
    if metric_type is MetricType.BINARY:
        p = arm.mean if isinstance(arm, Moments) else 0.0
        return p * (1 - p)
    return arm.variance


def power_figures(
    metric_type: MetricType,
    base: MetricStats,
    arms: Sequence[MetricStats],
    alpha: float,
    effect: float,
    power: float,
    sequential_alpha: float,
) -> PowerFigures:
    """How large a change the experiment can see now, and how many users it needs for `effect`.

    Two-sided, fixed-horizon, at `alpha` and `power`, from the per-user variance of the control
    `base` (`experiments.stats.power`): `mde` is the absolute difference detectable with the
    users the smallest of `arms` has now (the smallest arm limits a comparison; the caller leaves
    out variants of weight 0, which never get users), `relative_mde` the same over the control
    mean; `users_per_variant_needed` the users each variant needs before the always-valid
    interval at `sequential_alpha`, which the automatic decisions use, excludes zero for a
    relative change of `effect` with probability `power`; `fixed_users_per_variant_needed` the
    fixed-horizon figure at `alpha`, for reading (about half as many).
    """
    smallest = min((arm.n for arm in arms), default=base.n)
    figures = PowerFigures(
        alpha=alpha,
        power=power,
        effect=effect,
        users_per_variant=smallest,
        mde=None,
        relative_mde=None,
        users_per_variant_needed=None,
        fixed_users_per_variant_needed=None,
        reason=None,
    )
    summary = summarise(metric_type, base)
    if summary.reason is not None or summary.mean is None or summary.variance is None:
        return replace(figures, reason=summary.reason)
    if summary.variance == 0:
        return replace(figures, reason=Reason.ZERO_VARIANCE)
    mde = minimum_detectable_effect(summary.variance, smallest, alpha, power)
    if summary.mean == 0:
        return replace(figures, mde=mde, reason=Reason.ZERO_CONTROL_MEAN)
    absolute = effect * abs(summary.mean)
    return replace(
        figures,
        mde=mde,
        relative_mde=None if mde is None else mde / abs(summary.mean),
        users_per_variant_needed=sequential_users_per_variant_for(
            absolute, summary.variance, sequential_alpha, power
        ),
        fixed_users_per_variant_needed=users_per_variant_for(
            absolute, summary.variance, alpha, power
        ),
        reason=Reason.NOT_ENOUGH_USERS if mde is None else None,
    )
