"""Fixed-horizon comparisons of a treatment variant against the control.

Every figure here is valid for one look at a sample size chosen in advance; looking after every
event and stopping at the first small p-value inflates the false-positive rate (see
`experiments.stats.sequential`, which the automatic decisions use instead). They are reported
because they are the familiar figures and the narrowest honest intervals at a planned end.

Degenerate data never gives NaN, infinity or an exception: a figure that cannot be computed is
None and `FixedResult.unavailable_reason` says why, so the API can say "not yet, because ...".
Point estimates (`diff`, `relative_lift`) need one user per arm; intervals and p-values need two
users per arm and a positive standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from statistics import NormalDist
from typing import Protocol

from scipy import special

from experiments.stats.moments import Moments, RatioMoments

DEFAULT_ALPHA = 0.05

_STANDARD_NORMAL = NormalDist()


class Reason(StrEnum):
    """Why some figures of a comparison are None; the values are stable, machine-readable codes."""

    NOT_ENOUGH_USERS = "not_enough_users"
    """An arm has no user (no estimate at all) or one user (no variance, so no interval)."""
    NO_DENOMINATOR = "no_denominator"
    """A ratio metric's arm has a zero sum of denominators, so its ratio is undefined."""
    ZERO_VARIANCE = "zero_variance"
    """Every user in both arms has the same value (e.g. all successes): no standard error."""
    ZERO_CONTROL_MEAN = "zero_control_mean"
    """The control mean is zero (or too close to it to divide by): no relative change."""


@dataclass(frozen=True, slots=True)
class FixedResult:
    """Treatment minus control, absolute and relative, with its standard errors.

    `control_mean` and `treatment_mean` are the arms' estimates (the proportion, mean or ratio)
    and `control_se`, `treatment_se` their standard errors; `se` and `relative_se` are the
    standard errors behind `ci` and `relative_ci`. The sequential figures are built from these
    and from `n_control + n_treatment`. `unavailable_reason` is None exactly when every figure is
    present. With `zero_variance` from two constant arms, `se` is None but `control_se` and
    `treatment_se` are 0.0: the arms are known to have no spread.
    """

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
    unavailable_reason: Reason | None


class Estimates(Protocol):
    """The arms' estimates and standard errors a comparison carries (`FixedResult` and
    `comparison.Comparison` both do), which the sequential rules read."""

    @property
    def n_control(self) -> int: ...
    @property
    def n_treatment(self) -> int: ...
    @property
    def control_mean(self) -> float | None: ...
    @property
    def treatment_mean(self) -> float | None: ...
    @property
    def control_se(self) -> float | None: ...
    @property
    def treatment_se(self) -> float | None: ...
    @property
    def diff(self) -> float | None: ...
    @property
    def se(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class _Arm:
    """One variant's estimate, if it has one, and the variance of that estimate."""

    n: int
    estimate: float | None
    estimate_variance: float


@dataclass(frozen=True, slots=True)
class _Estimate:
    """An arm that has passed `_ready`: an estimate and its squared standard error."""

    n: int
    value: float
    variance: float


def two_proportion(
    control: Moments, treatment: Moments, alpha: float = DEFAULT_ALPHA
) -> FixedResult:
    """Two-proportion z-test of a binary metric (each user 0 or 1).

    With `p_c = x_c / n_c`, `p_t = x_t / n_t` and the pooled `p = (x_c + x_t) / (n_c + n_t)`:

        diff    = p_t - p_c
        p_value = 2 * (1 - Phi(|diff| / sqrt(p (1 - p) (1/n_c + 1/n_t))))
        ci      = diff -+ z_{1-alpha/2} * sqrt(p_c (1 - p_c) / n_c + p_t (1 - p_t) / n_t)

    The pooled variance is the variance under the null hypothesis of equal proportions, hence the
    test's; the unpooled (Wald) variance holds whatever the difference, hence the interval's
    (Agresti, "Categorical Data Analysis", 3rd ed., 2013; as statsmodels' `proportions_ztest`
    and `confint_proportions_2indep(method="wald")`). The unpooled standard error is `se`, the
    one the sequential figures use.

    An arm with no success or only successes has a sample variance of zero, which would say its
    proportion is known exactly; 200 users without an error only say the rate is below about
    1.5%. Such an arm takes the Agresti-Caffo variance instead, that of one success and one
    failure added (`p~ = (x + 1) / (n + 2)`, variance `p~ (1 - p~) / (n + 2)`; Agresti and
    Caffo, "Simple and effective confidence intervals for proportions and differences of
    proportions result from adding two successes and two failures", The American Statistician
    54, 2000). At `x = 0` it is within `(n / (n + 2))^3` of the Wald variance at `x = 1`, so the
    standard error does not jump between the two. Raises ValueError when `total` is not a count
    of successes between 0 and `n`: that is a store defect, not degenerate data.
    """
    _check_alpha(alpha)
    arm_c, arm_t = _proportion_arm(control), _proportion_arm(treatment)
    ready = _ready(arm_c, arm_t)
    if isinstance(ready, Reason):
        return _partial(arm_c, arm_t, ready)
    est_c, est_t = ready
    pooled = (control.total + treatment.total) / (control.n + treatment.n)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n))
    if pooled_se == 0:
        # Every user of both arms failed, or every one succeeded: the same proportion, no test.
        return _complete(est_c, est_t, _z(alpha), 1.0)
    z = (est_t.value - est_c.value) / pooled_se
    return _complete(est_c, est_t, _z(alpha), _normal_p_value(z))


def welch(control: Moments, treatment: Moments, alpha: float = DEFAULT_ALPHA) -> FixedResult:
    """Welch's unequal-variances t-test of a mean metric.

    With sample means `m`, sample variances `s^2` (ddof=1) and `v = s^2 / n` per arm:

        diff    = m_t - m_c,   se = sqrt(v_c + v_t)
        df      = (v_c + v_t)^2 / (v_c^2 / (n_c - 1) + v_t^2 / (n_t - 1))
        p_value = 2 * (1 - T_df(|diff| / se)),   ci = diff -+ t_{df, 1-alpha/2} * se

    The degrees of freedom are the Welch-Satterthwaite approximation (Welch, Biometrika 34, 1947;
    Satterthwaite, Biometrics Bulletin 2, 1946), as in `scipy.stats.ttest_ind(equal_var=False)`.
    Unlike Student's test it does not assume equal variances, which prompt variants that change
    output length or latency rarely have.
    """
    _check_alpha(alpha)
    arm_c, arm_t = _mean_arm(control), _mean_arm(treatment)
    ready = _ready(arm_c, arm_t)
    if isinstance(ready, Reason):
        return _partial(arm_c, arm_t, ready)
    est_c, est_t = ready
    variance = est_c.variance + est_t.variance
    # The shares of the variance, not the variances, are squared, so tiny variances cannot
    # underflow to a zero denominator; the shares add up to 1, so the denominator is positive.
    share_c, share_t = est_c.variance / variance, est_t.variance / variance
    df = 1 / (share_c * share_c / (est_c.n - 1) + share_t * share_t / (est_t.n - 1))
    t_stat = (est_t.value - est_c.value) / math.sqrt(variance)
    p_value = float(min(1.0, 2 * special.stdtr(df, -abs(t_stat))))
    critical = float(special.stdtrit(df, 1 - alpha / 2))
    return _complete(est_c, est_t, critical, p_value)


def delta_ratio(
    control: RatioMoments, treatment: RatioMoments, alpha: float = DEFAULT_ALPHA
) -> FixedResult:
    """z-test of a ratio metric `R = sum(x) / sum(y)` with delta-method variances.

    Each arm's `Var(R_hat) = RatioMoments.variance / n` (Deng, Knoblich and Lu, "Applying the
    delta method in metric analytics", KDD 2018); the arms are independent, so

        diff = R_t - R_c,   se = sqrt(Var(R_t) + Var(R_c))
        p_value = 2 * (1 - Phi(|diff| / se)),   ci = diff -+ z_{1-alpha/2} * se

    Users, not events, are the observations: treating each request as independent would
    understate the variance whenever one user makes many requests.
    """
    _check_alpha(alpha)
    arm_c, arm_t = _ratio_arm(control), _ratio_arm(treatment)
    ready = _ready(arm_c, arm_t)
    if isinstance(ready, Reason):
        return _partial(arm_c, arm_t, ready)
    est_c, est_t = ready
    z = (est_t.value - est_c.value) / math.sqrt(est_c.variance + est_t.variance)
    return _complete(est_c, est_t, _z(alpha), _normal_p_value(z))


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _z(alpha: float) -> float:
    """The two-sided critical value `z_{1-alpha/2}` of the standard normal."""
    return _STANDARD_NORMAL.inv_cdf(1 - alpha / 2)


def _normal_p_value(z: float) -> float:
    """Two-sided `2 * (1 - Phi(|z|))`, as `erfc(|z| / sqrt 2)` to stay exact in the far tail."""
    return math.erfc(abs(z) / math.sqrt(2))


def _proportion_arm(moments: Moments) -> _Arm:
    if not 0 <= moments.total <= moments.n:
        raise ValueError(
            f"a binary metric counts users with a success: 0 <= total <= n, got "
            f"total={moments.total}, n={moments.n}"
        )
    if moments.n == 0:
        return _Arm(0, None, 0.0)
    p = moments.mean
    if 0 < moments.total < moments.n:
        return _Arm(moments.n, p, p * (1 - p) / moments.n)
    plus_two = moments.n + 2
    adjusted = (moments.total + 1) / plus_two
    return _Arm(moments.n, p, adjusted * (1 - adjusted) / plus_two)


def _mean_arm(moments: Moments) -> _Arm:
    if moments.n == 0:
        return _Arm(0, None, 0.0)
    return _Arm(moments.n, moments.mean, moments.variance / moments.n)


def _ratio_arm(moments: RatioMoments) -> _Arm:
    if moments.sum_y == 0:
        return _Arm(moments.n, None, 0.0)
    return _Arm(moments.n, moments.ratio, moments.variance / moments.n)


def _ready(control: _Arm, treatment: _Arm) -> tuple[_Estimate, _Estimate] | Reason:
    """Both arms' estimates, or the first reason, in the order a user can act on, why not."""
    if control.n < 2 or treatment.n < 2:
        return Reason.NOT_ENOUGH_USERS
    if control.estimate is None or treatment.estimate is None:
        return Reason.NO_DENOMINATOR
    if control.estimate_variance + treatment.estimate_variance == 0:
        return Reason.ZERO_VARIANCE
    return (
        _Estimate(control.n, control.estimate, control.estimate_variance),
        _Estimate(treatment.n, treatment.estimate, treatment.estimate_variance),
    )


def _relative_lift(diff: float, control_mean: float) -> float | None:
    """`diff / control_mean`; None when the control mean is zero or too small to divide by."""
    if control_mean == 0:
        return None
    lift = diff / control_mean
    return lift if math.isfinite(lift) else None


def _partial(control: _Arm, treatment: _Arm, reason: Reason) -> FixedResult:
    """Only the point estimates that exist, and why the rest does not."""
    diff = lift = None
    if control.estimate is not None and treatment.estimate is not None:
        diff = treatment.estimate - control.estimate
        lift = _relative_lift(diff, control.estimate)
    # Both arms constant: their standard errors are known to be zero, which the sequential
    # rule for constant arms (`sequential.constant_arm_users`) reads.
    known_se = 0.0 if reason is Reason.ZERO_VARIANCE else None
    return FixedResult(
        n_control=control.n,
        n_treatment=treatment.n,
        control_mean=control.estimate,
        treatment_mean=treatment.estimate,
        control_se=known_se,
        treatment_se=known_se,
        diff=diff,
        se=None,
        ci=None,
        p_value=None,
        relative_lift=lift,
        relative_se=None,
        relative_ci=None,
        unavailable_reason=reason,
    )


def _complete(
    control: _Estimate, treatment: _Estimate, critical: float, p_value: float
) -> FixedResult:
    """Every figure from the two arms, given the test's critical value and p-value.

    The relative change `m_t / m_c - 1` gets its variance by the delta method for a ratio of
    independent means (Deng, Knoblich and Lu, KDD 2018; the same formula as GrowthBook's
    frequentist engine):

        Var(m_t / m_c) ~ v_t / m_c^2 + m_t^2 v_c / m_c^4

    where `v` is each arm's squared standard error. The interval uses the same critical value as
    the absolute one, so for large samples both agree on whether zero is excluded.
    """
    diff = treatment.value - control.value
    se = math.sqrt(control.variance + treatment.variance)
    lift = _relative_lift(diff, control.value)
    absolute = FixedResult(
        n_control=control.n,
        n_treatment=treatment.n,
        control_mean=control.value,
        treatment_mean=treatment.value,
        control_se=math.sqrt(control.variance),
        treatment_se=math.sqrt(treatment.variance),
        diff=diff,
        se=se,
        ci=(diff - critical * se, diff + critical * se),
        p_value=p_value,
        relative_lift=lift,
        relative_se=None,
        relative_ci=None,
        unavailable_reason=None,
    )
    if lift is None:
        return replace(absolute, unavailable_reason=Reason.ZERO_CONTROL_MEAN)
    ratio = treatment.value / control.value
    # sqrt(v_t + ratio^2 v_c) / |m_c| is the formula above with m_c^2 taken out of the root, so
    # that a tiny control mean cannot underflow to a division by zero.
    relative_se = math.sqrt(treatment.variance + ratio * ratio * control.variance) / abs(
        control.value
    )
    if not math.isfinite(relative_se):
        return replace(absolute, relative_lift=None, unavailable_reason=Reason.ZERO_CONTROL_MEAN)
    if relative_se == 0:
        return replace(absolute, unavailable_reason=Reason.ZERO_VARIANCE)
    return replace(
        absolute,
        relative_se=relative_se,
        relative_ci=(lift - critical * relative_se, lift + critical * relative_se),
    )
