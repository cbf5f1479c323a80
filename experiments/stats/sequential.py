"""Always-valid figures: safe to look at after every event and to stop on.

A fixed-horizon 95% interval excludes a true zero effect 5% of the time at one planned look; an
experiment checked after every batch of users and stopped at the first exclusion is wrongly
stopped far more often (about 25% with 20 looks, see docs/statistics.md). A confidence sequence
holds at every sample size at once, `P(exists n: effect not in CS_n) <= alpha`, so the automatic
rollout decisions, which look continually, use only these figures.

The method is the asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha, Kennedy and
Ramdas, "Time-uniform central limit theory and asymptotic confidence sequences" (Annals of
Statistics, 2024; arXiv:2103.06476), two-sided, with Robbins' normal-mixture boundary: for an
estimate with standard error `se` from `n` users in all,

    estimate -+ se * sqrt(2 (n rho^2 + 1) / (n rho^2) * log(sqrt(n rho^2 + 1) / alpha))

(the paper writes it per observation, `sigma_hat * sqrt(2 (t rho^2 + 1) / (t^2 rho^2) * ...)`,
and `sigma_hat = se * sqrt(n)`). For a difference of two arms `n` is the users of both arms and
`se` the standard error of the difference, as in GrowthBook's sequential engine. The guarantee
is asymptotic: it relies on the central limit theorem for the running estimate, which the
simulations in tests/unit/test_stats_sequential.py check at the sample sizes the rollout stages
use. The relative change gets the same boundary through Fieller's method
(`relative_confidence_sequence`), which needs no linearisation of the ratio.

`rho` is the mixture's tuning parameter: it sets the sample size at which the sequence is
narrowest. It is chosen, by the paper's exact formula, to minimise the width at `tuning_users`:

    rho^2 = (-W_{-1}(-alpha^2 / e) - 1) / tuning_users

with `W_{-1}` the lower branch of Lambert's W. The default of 5000 users in all (2500 a variant)
sits between the stages' `min_users_per_variant` of a typical plan (200, 1000, 5000); the
interval is then 1.55 times as wide as the fixed-horizon one at 5000 users and at most 1.71
times from 1000 to 100000 users (docs/statistics.md has the table).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

from scipy import optimize, special

from experiments.stats.fixed import Estimates, FixedResult

DEFAULT_TUNING_USERS = 5000

CONSTANT_ARM_SHARE = 0.01
"""The share of unlike users two constant arms must rule out before their difference is taken as
exact (`constant_arm_users`)."""

Direction = Literal["increase", "decrease"]
Verdict = Literal["better", "worse", "inconclusive"]


@lru_cache(maxsize=64)
def mixture_rho_squared(alpha: float, tuning_users: int = DEFAULT_TUNING_USERS) -> float:
    """The `rho^2` that makes the sequence narrowest at `tuning_users` users in all.

    `rho^2 = (-W_{-1}(-alpha^2 / e) - 1) / tuning_users`, the exact minimiser of the boundary's
    width at one sample size (Waudby-Smith et al., 2024). GrowthBook uses the approximation
    `W_{-1}(x) ~ log(-x) - log(-log(-x))`, which gives `rho^2` within 4% of this at alpha 0.05.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if tuning_users < 1:
        raise ValueError(f"tuning_users must be >= 1, got {tuning_users}")
    lambert = float(special.lambertw(-alpha * alpha / math.e, k=-1).real)
    return (-lambert - 1) / tuning_users


def boundary_multiplier(n: int, alpha: float, tuning_users: int = DEFAULT_TUNING_USERS) -> float:
    """Half-width of the confidence sequence in standard errors, at `n` users in all.

    `sqrt(2 (n rho^2 + 1) / (n rho^2) * log(sqrt(n rho^2 + 1) / alpha))`; it plays the part of
    `z_{1-alpha/2}` in a fixed-horizon interval and is larger than it for every `n`.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    n_rho2 = n * mixture_rho_squared(alpha, tuning_users)
    return math.sqrt(2 * (n_rho2 + 1) / n_rho2 * math.log(math.sqrt(n_rho2 + 1) / alpha))


@lru_cache(maxsize=4096)
def one_sided_boundary_multiplier(
    n: int, alpha: float, tuning_users: int = DEFAULT_TUNING_USERS
) -> float:
    """The one-sided boundary in standard errors: `P(exists n: z_n >= c_1(n)) <= alpha`.

    The normal mixture of `boundary_multiplier` restricted to one side, a half-normal mixing
    density over the drift (Howard, Ramdas, McAuliffe and Sekhon, "Time-uniform, nonparametric,
    nonasymptotic confidence sequences", Annals of Statistics 49, 2021, section 3.5 and eq. 14).
    With `k = n rho^2` and `u = z sqrt(k / (k + 1))` its mixture martingale is

        M = 2 Phi(u) exp(u^2 / 2) / sqrt(k + 1)

    and `c_1(n)` solves `M = 1 / alpha` (Ville's inequality). `M` is twice the two-sided
    mixture times `Phi(u)`, so `c_1(n) < boundary_multiplier(n, ...)` at the same `rho`: a rule
    that only acts on one side (a guardrail, which only fires on harm) crosses it sooner. The
    left side increases in `u` (its derivative is `u + phi(u) / Phi(u) > 0`), so the root is
    unique.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    k = n * mixture_rho_squared(alpha, tuning_users)
    target = -math.log(alpha) + 0.5 * math.log1p(k) - math.log(2.0)

    def excess(u: float) -> float:
        return u * u / 2 + float(special.log_ndtr(u)) - target

    high = math.sqrt(2 * max(target, 0.0)) + 2.0
    u = float(optimize.brentq(excess, -1.0, high, xtol=1e-12))
    return u * math.sqrt((k + 1) / k)


def constant_arm_users(alpha: float) -> int:
    """Users each arm needs before two constant arms' difference is taken as exact.

    A metric of which every user of each arm has the same value (cost per token doubled
    exactly, every request failing) has no sample variance, so no interval rests on it. The
    honest claim left is a count: if a share `q` of an arm's users had any other value, `n`
    users all alike would appear with probability `(1 - q)^n`. Once `(1 - q)^n <= alpha` for
    `q = CONSTANT_ARM_SHARE` (1%), every kind of user making up 1% of either arm or more has had
    its chance to show, at the decision's level, and the difference of the two constants is
    reported as exact (an interval of zero width). The rule assumes no rarer kind of user moves
    the mean; an arm dominated by one in a thousand users with extreme values is outside it.
    At alpha 0.05 this is 299 users an arm, at 0.0167 (three decision comparisons) 408.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return math.ceil(math.log(alpha) / math.log1p(-CONSTANT_ARM_SHARE))


def constant_difference(result: Estimates, alpha: float) -> float | None:
    """`diff` of two constant arms that both have `constant_arm_users(alpha)`, else None."""
    if (
        result.se is not None
        or result.diff is None
        or result.control_se != 0
        or result.treatment_se != 0
    ):
        return None
    if min(result.n_control, result.n_treatment) < constant_arm_users(alpha):
        return None
    return result.diff


def confidence_sequence(
    estimate: float,
    se: float,
    n: int,
    alpha: float,
    tuning_users: int = DEFAULT_TUNING_USERS,
) -> tuple[float, float]:
    """`estimate -+ se * boundary_multiplier(n, alpha, tuning_users)`: the always-valid interval."""
    half_width = se * boundary_multiplier(n, alpha, tuning_users)
    return (estimate - half_width, estimate + half_width)


def always_valid_p_value(
    estimate: float,
    se: float,
    n: int,
    alpha: float,
    tuning_users: int = DEFAULT_TUNING_USERS,
) -> float:
    """The smallest level at which the confidence sequence excludes zero, capped at 1.

    Solving `|estimate| = se * boundary_multiplier` for the level, with `rho` held at its value
    for `alpha` (so that `p < alpha` exactly when the sequence at `alpha` excludes zero):

        p = min(1, sqrt(n rho^2 + 1) * exp(-z^2 n rho^2 / (2 (n rho^2 + 1)))),  z = estimate / se

    This is the always-valid p-value of the normal-mixture sequential probability ratio test of
    Johari, Koomen, Pekelis and Walsh ("Always valid inference", Operations Research 70, 2022),
    `1 / Lambda_n` with mixture variance `tau^2 = rho^2 * n * se^2`. Reported as is, without a
    running minimum over past looks, so it stays a pure function of the current sums; Ville's
    inequality makes `P(exists n: p_n <= alpha) <= alpha` either way. Zero `se` with a non-zero
    estimate gives 0.0, with a zero estimate 1.0.
    """
    n_rho2 = n * mixture_rho_squared(alpha, tuning_users)
    if se == 0:
        return 1.0 if estimate == 0 else 0.0
    z = estimate / se
    log_p = 0.5 * math.log1p(n_rho2) - z * z * n_rho2 / (2 * (n_rho2 + 1))
    return math.exp(min(0.0, log_p))


def sequential_ci(
    result: FixedResult, alpha: float, tuning_users: int = DEFAULT_TUNING_USERS
) -> tuple[float, float] | None:
    """The always-valid interval for the difference; None when the fixed one is unavailable.

    Two constant arms with enough users (`constant_difference`) give the zero-width `(d, d)`.
    """
    constant = constant_difference(result, alpha)
    if constant is not None:
        return (constant, constant)
    if result.diff is None or result.se is None:
        return None
    return confidence_sequence(
        result.diff, result.se, result.n_control + result.n_treatment, alpha, tuning_users
    )


def relative_confidence_sequence(
    control_mean: float,
    control_se: float,
    treatment_mean: float,
    treatment_se: float,
    n: int,
    alpha: float,
    tuning_users: int = DEFAULT_TUNING_USERS,
) -> tuple[float, float] | None:
    """The always-valid interval for the relative change `r = m_t / m_c - 1`, by Fieller's method.

    Fieller ("Some problems in interval estimation", JRSS B 16, 1954): the interval is every `r`
    whose linear contrast `m_t - (1 + r) m_c` is within the boundary of zero,

        |m_t - (1 + r) m_c| <= c * sqrt(v_t + (1 + r)^2 v_c),   c = boundary_multiplier(n, ...)

    with `v` the arms' squared standard errors. For the true `r` the contrast has mean zero and
    is a difference of two means, so the asymptotic confidence sequence covers it at every `n`
    at once, and with it the true `r`: no linearisation of the ratio is needed. With
    `g = c^2 v_c / m_c^2` and `R = m_t / m_c` the solution is

        1 + r = (R -+ (c / |m_c|) * sqrt(v_t (1 - g) + R^2 v_c)) / (1 - g)

    whose large-sample limit (`g -> 0`) is the delta-method interval. The delta-method interval
    itself is not used here: with few users or rare events its standard error shrinks with the
    treatment's estimate, and in simulation it excluded a true zero change at some look in 9.9%
    of A/A experiments at alpha 0.05 (docs/statistics.md), while this one, where it exists,
    excludes `r = 0` exactly when the difference's sequence excludes zero, so its false-alarm
    rate is the difference's. None when `g >= 1`: the control mean is not
    distinguishable from zero yet, so the set of ratios is unbounded.
    """
    if control_mean == 0:
        return None
    multiplier = boundary_multiplier(n, alpha, tuning_users)
    relative_control_se = multiplier * control_se / abs(control_mean)
    g = relative_control_se * relative_control_se
    if not g < 1:
        return None
    ratio = treatment_mean / control_mean
    spread = treatment_se * treatment_se * (1 - g) + ratio * ratio * control_se * control_se
    half_width = multiplier * math.sqrt(spread) / abs(control_mean) / (1 - g)
    centre = ratio / (1 - g)
    lower, upper = centre - half_width - 1, centre + half_width - 1
    if not (math.isfinite(lower) and math.isfinite(upper)):
        return None
    return (lower, upper)


def sequential_relative_ci(
    result: FixedResult, alpha: float, tuning_users: int = DEFAULT_TUNING_USERS
) -> tuple[float, float] | None:
    """`relative_confidence_sequence` of a comparison.

    None when the difference has no standard error yet (`result.se` is None) or the control mean
    is not distinguishable from zero. It can exist where the fixed `relative_ci` does not: a
    treatment whose users all have zero (say no conversion among thousands) has no delta-method
    interval, but Fieller's is then `(-1, -1)`, which lets a guardrail see the collapse. Two
    constant arms with enough users (`constant_difference`) give the zero-width `(r, r)`.
    """
    if constant_difference(result, alpha) is not None and result.relative_lift is not None:
        return (result.relative_lift, result.relative_lift)
    if (
        result.se is None
        or result.control_mean is None
        or result.control_se is None
        or result.treatment_mean is None
        or result.treatment_se is None
    ):
        return None
    return relative_confidence_sequence(
        result.control_mean,
        result.control_se,
        result.treatment_mean,
        result.treatment_se,
        result.n_control + result.n_treatment,
        alpha,
        tuning_users,
    )


def sequential_p_value(
    result: FixedResult, alpha: float, tuning_users: int = DEFAULT_TUNING_USERS
) -> float | None:
    """`always_valid_p_value` of the difference; None when the fixed figures are unavailable.

    Two constant arms with enough users (`constant_difference`): 0.0 when they differ, else 1.0.
    """
    constant = constant_difference(result, alpha)
    if constant is not None:
        return 1.0 if constant == 0 else 0.0
    if result.diff is None or result.se is None:
        return None
    return always_valid_p_value(
        result.diff, result.se, result.n_control + result.n_treatment, alpha, tuning_users
    )


def verdict(sequential: tuple[float, float] | None, direction: Direction) -> Verdict:
    """`better` or `worse` when the always-valid interval lies wholly on one side of zero.

    `direction` is the good direction of the metric: for `increase` an interval above zero is
    better, for `decrease` one below zero is. An interval touching or straddling zero, or no
    interval yet, is `inconclusive`.
    """
    if sequential is None:
        return "inconclusive"
    lower, upper = sequential
    if lower > 0:
        return "better" if direction == "increase" else "worse"
    if upper < 0:
        return "worse" if direction == "increase" else "better"
    return "inconclusive"


def harm_exceeds(
    sequential_relative: tuple[float, float] | None,
    direction: Direction,
    max_regression: float = 0.0,
) -> bool:
    """Whether a guardrail is breached: its always-valid relative interval lies wholly beyond
    `max_regression` on the harmful side.

    For a metric that should `decrease` (latency, cost) the harm is an increase, so the breach
    is `lower > max_regression`; for one that should `increase` it is `upper < -max_regression`.
    Confident harm within the tolerance, or no interval yet, is not a breach.
    """
    if max_regression < 0:
        raise ValueError(f"max_regression must be >= 0, got {max_regression}")
    if sequential_relative is None:
        return False
    lower, upper = sequential_relative
    if direction == "decrease":
        return lower > max_regression
    return upper < -max_regression
