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

    `sequential_*` are None exactly when the fixed-horizon figure they are built from is;
    `unavailable_reason` is None exactly when every figure is present.
    """

    metric_type: MetricType
    n_control: int
    n_treatment: int
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
) -> Comparison: ...


@overload
def compare(
    metric_type: Literal["ratio"],
    control: RatioMoments,
    treatment: RatioMoments,
    alpha: float = ...,
    tuning_users: int = ...,
) -> Comparison: ...


def compare(
    metric_type: MetricType,
    control: Moments | RatioMoments,
    treatment: Moments | RatioMoments,
    alpha: float = DEFAULT_ALPHA,
    tuning_users: int = DEFAULT_TUNING_USERS,
) -> Comparison:
    """Compare `treatment` with `control` for a metric of `metric_type`.

    `binary` uses `two_proportion`, `mean` uses `welch` (both on `Moments`), `ratio` uses
    `delta_ratio` (on `RatioMoments`); the sequential figures use `alpha` and `tuning_users` as
    documented in `experiments.stats.sequential`. Raises TypeError when the sums do not fit the
    metric type and ValueError for an unknown type: both are caller defects, not data.
    """
    fixed = _fixed(metric_type, control, treatment, alpha)
    return Comparison(
        metric_type=metric_type,
        n_control=fixed.n_control,
        n_treatment=fixed.n_treatment,
        diff=fixed.diff,
        se=fixed.se,
        ci=fixed.ci,
        p_value=fixed.p_value,
        relative_lift=fixed.relative_lift,
        relative_se=fixed.relative_se,
        relative_ci=fixed.relative_ci,
        sequential_ci=sequential_ci(fixed, alpha, tuning_users),
        sequential_relative_ci=sequential_relative_ci(fixed, alpha, tuning_users),
        sequential_p_value=sequential_p_value(fixed, alpha, tuning_users),
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
