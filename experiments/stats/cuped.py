"""CUPED: a metric adjusted for a covariate measured before the experiment; pure.

Deng, Xu, Kohavi and Walker, "Improving the sensitivity of online controlled experiments by
utilizing pre-experiment data" (WSDM 2013). A user's metric `y` is compared through
`y - theta (x - mean x)`, with `x` a covariate the treatment cannot move (the application sends
it with the exposure: the user's requests or tokens of the last week). The adjustment leaves the
expected difference unchanged and removes the share `rho^2` of the variance that `x` explains.

From the running sums of each arm `k` (`n`, `sum y`, `sum y^2`, `sum x`, `sum x^2`, `sum xy`,
kept by the store beside the metric's own) and the centred sums `S_xx`, `S_xy`, `S_yy` of each
arm about its own means:

    theta      = sum_k S_xy,k / sum_k S_xx,k            (pooled within the arms)
    adjusted_k = mean y_k - theta (mean x_k - mean x)   (mean x over every arm's users)
    v_k        = (S_yy,k - 2 theta S_xy,k + theta^2 S_xx,k) / (n_k - 1) / n_k

`theta` pooled within the arms is the slope of `x` in the least-squares regression
`y ~ arm + (x - mean x)`, so the adjusted difference of two arms is that regression's treatment
coefficient exactly (tests/unit/test_cuped.py checks it against statsmodels OLS on raw samples).
`v_k` is the arm's own residual variance, as Welch's test keeps each arm's variance; the
regression's heteroskedasticity-robust standard error differs from `sqrt(v_c + v_t)` only by the
uncertainty of `theta`, a term of order `1 / n` relative to it. Intervals and p-values are
normal (`z`): the adjustment is an asymptotic method. The always-valid interval is
`diff -+ c(n) se` with the boundary of experiments/stats/sequential.py, for reading: the
decisions rest on the unadjusted figures.

A user whose application sent no covariate counts `x = 0` and is counted: dropping the user
would bias the comparison when the covariate's absence depends on the arm, and a zero only
weakens the correlation the adjustment can use. A ratio metric is not adjusted: its per-user
value is a pair, and the regression is on one value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist

from experiments.stats.fixed import Reason
from experiments.stats.sequential import DEFAULT_TUNING_USERS, boundary_multiplier
from experiments.stats.sufficient import CovariateSums

_STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class AdjustedArm:
    """One arm's CUPED-adjusted mean and the variance of that mean, beside the unadjusted one."""

    n: int
    mean: float
    variance: float
    unadjusted_variance: float


@dataclass(frozen=True, slots=True)
class AdjustedComparison:
    """Treatment minus control, adjusted; None figures come with `reason`.

    `variance_reduction` is `1 - se^2 / se_unadjusted^2`, the share of the difference's variance
    the covariate removed (both from the arms' sample variances); the interval is narrower by
    `1 - sqrt(1 - variance_reduction)`."""

    theta: float
    control_mean: float | None
    treatment_mean: float | None
    diff: float | None
    se: float | None
    ci: tuple[float, float] | None
    p_value: float | None
    relative_lift: float | None
    relative_ci: tuple[float, float] | None
    sequential_ci: tuple[float, float] | None
    variance_reduction: float | None
    n: int
    reason: Reason | None


def pooled_theta(arms: Sequence[CovariateSums]) -> float:
    """`sum_k S_xy,k / sum_k S_xx,k`; 0.0 (no adjustment) when no arm's covariate varies."""
    s_xx = s_xy = 0.0
    for arm in arms:
        xx, xy, _ = arm.centred()
        s_xx += xx
        s_xy += xy
    if s_xx <= 0:
        return 0.0
    return s_xy / s_xx


def covariate_mean(arms: Sequence[CovariateSums]) -> float:
    """The covariate's mean over every arm's users (0.0 with none)."""
    users = sum(arm.n for arm in arms)
    return 0.0 if users == 0 else sum(arm.sum_x for arm in arms) / users


def adjusted_arm(arm: CovariateSums, theta: float, mean_x: float) -> AdjustedArm | None:
    """The arm's adjusted mean and its variance; None with fewer than two users."""
    if arm.n < 2:
        return None
    s_xx, s_xy, s_yy = arm.centred()
    residual = max(0.0, s_yy - 2 * theta * s_xy + theta * theta * s_xx)
    mean = arm.sum_y / arm.n - theta * (arm.sum_x / arm.n - mean_x)
    return AdjustedArm(arm.n, mean, residual / (arm.n - 1) / arm.n, s_yy / (arm.n - 1) / arm.n)


def adjusted_comparison(
    arms: Sequence[CovariateSums],
    control: int,
    treatment: int,
    alpha: float,
    sequential_alpha: float | None = None,
    tuning_users: int = DEFAULT_TUNING_USERS,
) -> AdjustedComparison:
    """The adjusted difference `treatment - control` with `theta` pooled over all `arms`.

    Fixed-horizon figures at `alpha`; the relative change by the delta method, as the
    unadjusted one (experiments/stats/fixed.py); the always-valid interval at
    `sequential_alpha` (default `alpha`)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    theta = pooled_theta(arms)
    mean_x = covariate_mean(arms)
    n = arms[control].n + arms[treatment].n
    c = adjusted_arm(arms[control], theta, mean_x)
    t = adjusted_arm(arms[treatment], theta, mean_x)
    if c is None or t is None:
        return _unavailable(theta, n, Reason.NOT_ENOUGH_USERS)
    diff = t.mean - c.mean
    variance = c.variance + t.variance
    unadjusted = c.unadjusted_variance + t.unadjusted_variance
    if variance == 0 or unadjusted == 0:
        return replace(
            _unavailable(theta, n, Reason.ZERO_VARIANCE),
            control_mean=c.mean,
            treatment_mean=t.mean,
            diff=diff,
        )
    se = math.sqrt(variance)
    z = _STANDARD_NORMAL.inv_cdf(1 - alpha / 2)
    boundary = boundary_multiplier(
        n, alpha if sequential_alpha is None else sequential_alpha, tuning_users
    )
    lift = relative_ci = None
    reason = None
    if c.mean != 0:
        lift = diff / c.mean
        ratio = t.mean / c.mean
        relative_se = math.sqrt(t.variance + ratio * ratio * c.variance) / abs(c.mean)
        relative_ci = (lift - z * relative_se, lift + z * relative_se)
    else:
        reason = Reason.ZERO_CONTROL_MEAN
    return AdjustedComparison(
        theta=theta,
        control_mean=c.mean,
        treatment_mean=t.mean,
        diff=diff,
        se=se,
        ci=(diff - z * se, diff + z * se),
        p_value=math.erfc(abs(diff / se) / math.sqrt(2)),
        relative_lift=lift,
        relative_ci=relative_ci,
        sequential_ci=(diff - boundary * se, diff + boundary * se),
        variance_reduction=1 - variance / unadjusted,
        n=n,
        reason=reason,
    )


def _unavailable(theta: float, n: int, reason: Reason) -> AdjustedComparison:
    return AdjustedComparison(
        theta=theta,
        control_mean=None,
        treatment_mean=None,
        diff=None,
        se=None,
        ci=None,
        p_value=None,
        relative_lift=None,
        relative_ci=None,
        sequential_ci=None,
        variance_reduction=None,
        n=n,
        reason=reason,
    )
