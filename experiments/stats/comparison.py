"""One entry point for the results document: every figure of one treatment-versus-control pair.

`compare` dispatches on the metric type to the fixed-horizon test the contract names and adds
the always-valid figures built from it, so a caller needs no knowledge of which test or which
standard error belongs to which metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

from experiments.stats.fixed import (
    DEFAULT_ALPHA,
    FixedResult,
    Reason,
    delta_ratio,
    two_proportion,
    welch,
)
from experiments.stats.moments import Moments, RatioMoments
from experiments.stats.sequential import (
    DEFAULT_TUNING_USERS,
    sequential_ci,
    sequential_p_value,
    sequential_relative_ci,
)

MetricType = Literal["binary", "mean", "ratio"]


@dataclass(frozen=True, slots=True)
class Comparison:
    """Treatment minus control: fixed-horizon figures (see `FixedResult`) and always-valid ones.

    `sequential_ci` and `sequential_p_value` are None exactly when `se` is;
    `sequential_relative_ci` is documented in `sequential.sequential_relative_ci`.
    `unavailable_reason` is None exactly when every fixed-horizon figure is present.
    """

    metric_type: MetricType
    n_control: int
    n_treatment: int
    control_mean: float | None
    treatment_mean: float | None
    control_se: float | None
    treatment_se: float | None
    diff: float | None
    se: float | None
    ci: tuple[float, float] | None
    p_value: float | None
    relative_lift: float | None
    relative_se: float | None
    relative_ci: tuple[float, float] | None
    sequential_ci: tuple[float, float] | None
    sequential_relative_ci: tuple[float, float] | None
    sequential_p_value: float | None
    unavailable_reason: Reason | None


@overload
def compare(
    metric_type: Literal["binary", "mean"],
    control: Moments,
    treatment: Moments,
    alpha: float = ...,
    tuning_users: int = ...,
    sequential_alpha: float | None = ...,
) -> Comparison: ...


@overload
def compare(
    metric_type: Literal["ratio"],
    control: RatioMoments,
    treatment: RatioMoments,
    alpha: float = ...,
    tuning_users: int = ...,
    sequential_alpha: float | None = ...,
) -> Comparison: ...


def compare(
    metric_type: MetricType,
    control: Moments | RatioMoments,
    treatment: Moments | RatioMoments,
    alpha: float = DEFAULT_ALPHA,
    tuning_users: int = DEFAULT_TUNING_USERS,
    sequential_alpha: float | None = None,
) -> Comparison:
    """Compare `treatment` with `control` for a metric of `metric_type`.

    `binary` uses `two_proportion`, `mean` uses `welch` (both on `Moments`), `ratio` uses
    `delta_ratio` (on `RatioMoments`); the sequential figures use `tuning_users` and
    `sequential_alpha` (by default `alpha`) as documented in `experiments.stats.sequential`.
    Each comparison's sequential figures keep its own false-alarm rate at their level; to keep
    the chance that any of an experiment's `m` decision metrics in `k` treatment arms ever fires
    falsely at `alpha`, pass `sequential_alpha = alpha / (m * k)` (Bonferroni, valid under any
    dependence and any stopping rule). Raises TypeError when the sums do not fit the metric type
    and ValueError for an unknown type: both are caller defects, not data.
    """
    fixed = _fixed(metric_type, control, treatment, alpha)
    level = alpha if sequential_alpha is None else sequential_alpha
    return Comparison(
        metric_type=metric_type,
        n_control=fixed.n_control,
        n_treatment=fixed.n_treatment,
        control_mean=fixed.control_mean,
        treatment_mean=fixed.treatment_mean,
        control_se=fixed.control_se,
        treatment_se=fixed.treatment_se,
        diff=fixed.diff,
        se=fixed.se,
        ci=fixed.ci,
        p_value=fixed.p_value,
        relative_lift=fixed.relative_lift,
        relative_se=fixed.relative_se,
        relative_ci=fixed.relative_ci,
        sequential_ci=sequential_ci(fixed, level, tuning_users),
        sequential_relative_ci=sequential_relative_ci(fixed, level, tuning_users),
        sequential_p_value=sequential_p_value(fixed, level, tuning_users),
        unavailable_reason=fixed.unavailable_reason,
    )


def _fixed(
    metric_type: MetricType,
    control: Moments | RatioMoments,
    treatment: Moments | RatioMoments,
    alpha: float,
) -> FixedResult:
    if metric_type == "ratio":
        if isinstance(control, RatioMoments) and isinstance(treatment, RatioMoments):
            return delta_ratio(control, treatment, alpha)
        raise TypeError("a ratio metric needs RatioMoments for both arms")
    if metric_type not in ("binary", "mean"):
        raise ValueError(f"unknown metric type {metric_type!r}")
    if not (isinstance(control, Moments) and isinstance(treatment, Moments)):
        raise TypeError(f"a {metric_type} metric needs Moments for both arms")
    if metric_type == "binary":
        return two_proportion(control, treatment, alpha)
    return welch(control, treatment, alpha)
