"""Sufficient statistics -> the results document of `GET /api/v1/experiments/{key}/results`; pure.

`results(experiment, stats, now)` takes what `store.events.snapshot(key)` read in one round trip
and computes every figure from per-variant sums, so its cost is O(variants x metrics) whatever
the number of users or events. The document is plain JSON: a figure that cannot be computed yet
is None (null) and the entry's `reason` says why (a `experiments.stats.Reason` code), never NaN.

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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from experiments.guardrail_standing import guardrail_standing
from experiments.model import (
    DECISION_ROLES,
    Direction,
    Experiment,
    Metric,
    MetricRole,
    MetricType,
)
from experiments.stats.comparison import Comparison, compare
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
from experiments.stats.sequential import verdict
from experiments.stats.sketch import QuantileSketch
from experiments.stats.srm import sequential_srm_test, srm_test
from experiments.stats.sufficient import MetricStats, SufficientStats

DEFAULT_RELATIVE_EFFECT = 0.05
"""The relative change `power` sizes the experiment for, unless the caller states another."""

HOLM_ROLES = frozenset({MetricRole.PRIMARY, MetricRole.SECONDARY})


@dataclass(frozen=True, slots=True)
class ArmSummary:
    """One variant's figures for one metric; `reason` says why a None figure is missing."""

    users: int
    mean: float | None
    variance: float | None
    reason: Reason | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "mean": self.mean,
            "variance": self.variance,
            "reason": _code(self.reason),
        }


def results(
    experiment: Experiment,
    stats: SufficientStats,
    now: float,
    *,
    effect: float = DEFAULT_RELATIVE_EFFECT,
    power: float = DEFAULT_POWER,
) -> dict[str, Any]:
    """The results document, as the contract shows it plus documented extensions.

    `effect` (a relative change, e.g. 0.05 for +5%) and `power` size the `power` figures of the
    primary metrics. `now` stamps the document (`as_of`).
    """
    keys = experiment.variant_keys()
    control = keys.index(experiment.control)
    treatments = [i for i in range(len(keys)) if i != control]
    family = max(1, len(treatments) * sum(m.role in DECISION_ROLES for m in experiment.metrics))
    sequential_alpha = experiment.alpha / family
    weights = [v.weight for v in experiment.variants]
    srm = srm_test(stats.users, weights)
    sequential_srm = sequential_srm_test(stats.users, weights)

    metrics: list[dict[str, Any]] = []
    holm_family: list[tuple[int, int, float | None]] = []
    for metric in experiment.metrics:
        arms = stats.metrics[metric.key]
        comparisons: list[dict[str, Any]] = []
        for treatment in treatments:
            figures = _compare(
                metric.type, arms[control], arms[treatment], experiment.alpha, sequential_alpha
            )
            if metric.role in HOLM_ROLES:
                holm_family.append((len(metrics), len(comparisons), figures.p_value))
            comparisons.append(
                _comparison(
                    keys[treatment], keys[control], metric, figures, family, sequential_alpha
                )
            )
        entry: dict[str, Any] = {
            "metric": metric.key,
            "type": metric.type.value,
            "role": metric.role.value,
            "direction": metric.direction.value,
            "max_regression": metric.max_regression,
            "cap": metric.cap,
            "variants": {
                keys[i]: summarise(metric.type, arm).as_dict() for i, arm in enumerate(arms)
            },
            "comparisons": comparisons,
        }
        if metric.quantile is not None:
            entry["quantile"] = quantile_section(
                metric,
                stats.sketches.get(metric.key) or tuple(QuantileSketch(()) for _ in keys),
                keys,
                control,
                experiment.alpha,
                sequential_alpha,
            )
            if metric.role is MetricRole.GUARDRAIL:
                # A guardrail with a quantile is judged on it: the mean figures are for reading.
                for comparison, judged in zip(
                    comparisons, entry["quantile"]["comparisons"], strict=True
                ):
                    comparison["breached"] = judged["breached"]
                    comparison["harm_bound"] = None
                    comparison["verdict_detail"] = _standing(
                        metric, judged["breached"], judged["sequential_relative_ci"]
                    )
        if metric.role is MetricRole.PRIMARY:
            weighted = [
                arm for arm, v in zip(arms, experiment.variants, strict=True) if v.weight > 0
            ]
            entry["power"] = power_figures(
                metric.type,
                arms[control],
                weighted,
                experiment.alpha,
                effect,
                power,
                sequential_alpha,
            )
        metrics.append(entry)

    adjusted = holm([p for _, _, p in holm_family])
    for (m, c, _), p in zip(holm_family, adjusted, strict=True):
        metrics[m]["comparisons"][c]["adjusted_p_value"] = p

    return {
        "experiment": experiment.key,
        "status": experiment.status.value,
        "stage": experiment.stage,
        "traffic": experiment.effective_traffic,
        "as_of": now,
        "alpha": experiment.alpha,
        "sequential_alpha": sequential_alpha,
        "srm": {
            "p_value": srm.p_value,
            "ok": sequential_srm.ok,
            "sequential_p_value": sequential_srm.p_value,
            "level": sequential_srm.level,
        },
        "variants": {key: {"users": stats.users[i]} for i, key in enumerate(keys)},
        "metrics": metrics,
    }


def _compare(
    metric_type: MetricType,
    control: MetricStats,
    treatment: MetricStats,
    alpha: float,
    sequential_alpha: float,
) -> Comparison:
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
    figures: Comparison,
    family: int,
    sequential_alpha: float,
) -> dict[str, Any]:
    sequential_p = figures.sequential_p_value
    direction: Literal["increase", "decrease"] = (
        "increase" if metric.direction is Direction.INCREASE else "decrease"
    )
    harm = None
    if metric.role is MetricRole.GUARDRAIL:
        harm = harm_test(figures, direction, metric.max_regression, sequential_alpha)
    return {
        "variant": variant,
        "baseline": baseline,
        "diff": figures.diff,
        "ci": _pair(figures.ci),
        "relative_lift": figures.relative_lift,
        "relative_ci": _pair(figures.relative_ci),
        "p_value": figures.p_value,
        # Guardrails keep their raw p-value; primary and secondary ones are replaced by Holm's.
        "adjusted_p_value": figures.p_value,
        "sequential_ci": _pair(figures.sequential_ci),
        "sequential_relative_ci": _pair(figures.sequential_relative_ci),
        "sequential_p_value": None if sequential_p is None else min(1.0, family * sequential_p),
        "verdict": verdict(figures.sequential_ci, direction),
        "breached": (
            None if metric.role is not MetricRole.GUARDRAIL else harm is not None and harm.breached
        ),
        "harm_bound": None if harm is None else harm.bound,
        "verdict_detail": (
            None
            if harm is None
            else _standing(metric, harm.breached, _pair(figures.sequential_relative_ci))
        ),
        "reason": _code(figures.unavailable_reason),
    }


def _standing(metric: Metric, breached: bool, interval: Any) -> str:
    """`breached`, `within_tolerance` or `inconclusive` (experiments/guardrail_standing.py)."""
    direction: Literal["increase", "decrease"] = (
        "increase" if metric.direction is Direction.INCREASE else "decrease"
    )
    return guardrail_standing(bool(breached), interval, direction, metric.max_regression)


READ_QUANTILES = (0.5, 0.95, 0.99)
"""The quantiles every sketched metric shows per variant, for reading."""


def quantile_section(
    metric: Metric,
    sketches: Sequence[QuantileSketch],
    keys: Sequence[str],
    control: int,
    alpha: float,
    sequential_alpha: float,
) -> dict[str, Any]:
    """A sketched metric's quantile figures: per variant its `metric.quantile` with the fixed
    and always-valid intervals and p50/p95/p99, per treatment the relative change, the
    always-valid interval of the ratio of quantiles and `breached` (experiments/stats/
    quantile.py). Unbounded ends are null."""
    assert metric.quantile is not None
    q = metric.quantile
    direction: Literal["increase", "decrease"] = (
        "increase" if metric.direction is Direction.INCREASE else "decrease"
    )
    variants: dict[str, Any] = {}
    for key, sketch in zip(keys, sketches, strict=True):
        estimate = quantile_estimate(sketch, q, alpha, sequential_alpha)
        variants[key] = {
            "events": estimate.n,
            "estimate": estimate.estimate,
            "ci": _bounded(estimate.ci),
            "sequential_ci": _bounded(estimate.sequential_ci),
        } | {f"p{round(level * 100)}": sketch.quantile(level) for level in READ_QUANTILES}
    comparisons = []
    for i, key in enumerate(keys):
        if i == control:
            continue
        harm = quantile_harm(
            sketches[control], sketches[i], q, direction, metric.max_regression, sequential_alpha
        )
        comparisons.append(
            {
                "variant": key,
                "baseline": keys[control],
                "relative_change": harm.relative_change,
                "sequential_relative_ci": _bounded(harm.sequential_relative_ci),
                "breached": harm.breached,
            }
        )
    return {"q": q, "variants": variants, "comparisons": comparisons}


def _bounded(interval: tuple[float, float] | None) -> list[float | None] | None:
    """An interval for JSON: an unbounded end is null."""
    if interval is None:
        return None
    return [bound if math.isfinite(bound) else None for bound in interval]


def summarise(metric_type: MetricType, arm: MetricStats) -> ArmSummary:
    """A variant's mean and per-user variance for one metric, or why they are missing."""
    if arm.n == 0:
        return ArmSummary(0, None, None, Reason.NOT_ENOUGH_USERS)
    if isinstance(arm, RatioMoments):
        if arm.sum_y == 0:
            return ArmSummary(arm.n, None, None, Reason.NO_DENOMINATOR)
        mean = arm.ratio
    else:
        mean = arm.mean
    if arm.n < 2:
        return ArmSummary(arm.n, mean, None, Reason.NOT_ENOUGH_USERS)
    return ArmSummary(arm.n, mean, _per_user_variance(metric_type, arm), None)


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
) -> dict[str, Any]:
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
    figures: dict[str, Any] = {
        "alpha": alpha,
        "power": power,
        "effect": effect,
        "users_per_variant": smallest,
        "mde": None,
        "relative_mde": None,
        "users_per_variant_needed": None,
        "fixed_users_per_variant_needed": None,
        "reason": None,
    }
    summary = summarise(metric_type, base)
    if summary.reason is not None or summary.mean is None or summary.variance is None:
        figures["reason"] = _code(summary.reason)
        return figures
    if summary.variance == 0:
        figures["reason"] = Reason.ZERO_VARIANCE.value
        return figures
    mde = minimum_detectable_effect(summary.variance, smallest, alpha, power)
    figures["mde"] = mde
    if summary.mean == 0:
        figures["reason"] = Reason.ZERO_CONTROL_MEAN.value
        return figures
    if mde is not None:
        figures["relative_mde"] = mde / abs(summary.mean)
    else:
        figures["reason"] = Reason.NOT_ENOUGH_USERS.value
    absolute = effect * abs(summary.mean)
    figures["users_per_variant_needed"] = sequential_users_per_variant_for(
        absolute, summary.variance, sequential_alpha, power
    )
    figures["fixed_users_per_variant_needed"] = users_per_variant_for(
        absolute, summary.variance, alpha, power
    )
    return figures


def _pair(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [interval[0], interval[1]]


def _code(reason: Reason | None) -> str | None:
    return None if reason is None else reason.value
