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
`se` the standard error of the difference, as in the paper's section on randomised experiments
and GrowthBook's and Eppo's sequential engines. The guarantee is asymptotic: it relies on the
central limit theorem for the running estimate, which the simulations in
tests/unit/test_stats_sequential.py check at the sample sizes the rollout stages use.

`rho` is the mixture's tuning parameter: it sets the sample size at which the sequence is
narrowest. It is chosen, by the paper's exact formula, to minimise the width at `tuning_users`:

    rho^2 = (-W_{-1}(-alpha^2 / e) - 1) / tuning_users

with `W_{-1}` the lower branch of Lambert's W. The default of 5000 users in all (2500 a variant)
sits between the stages' `min_users_per_variant` of a typical plan (200, 1000, 5000); the
interval is then about 1.55 times the fixed-horizon width at 5000 users, and within 1.7 times
from 1000 to 100000 users (docs/statistics.md has the table).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

from scipy import special

from experiments.stats.fixed import FixedResult

DEFAULT_TUNING_USERS = 5000

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
    spread = n * mixture_rho_squared(alpha, tuning_users)
    return math.sqrt(2 * (spread + 1) / spread * math.log(math.sqrt(spread + 1) / alpha))


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
    spread = n * mixture_rho_squared(alpha, tuning_users)
    if se == 0:
        return 1.0 if estimate == 0 else 0.0
    z = estimate / se
    log_p = 0.5 * math.log1p(spread) - z * z * spread / (2 * (spread + 1))
    return math.exp(min(0.0, log_p))


def sequential_ci(
    result: FixedResult, alpha: float, tuning_users: int = DEFAULT_TUNING_USERS
) -> tuple[float, float] | None:
    """The always-valid interval for the difference; None when the fixed one is unavailable."""
    if result.diff is None or result.se is None:
        return None
    return confidence_sequence(
        result.diff, result.se, result.n_control + result.n_treatment, alpha, tuning_users
    )


def sequential_relative_ci(
    result: FixedResult, alpha: float, tuning_users: int = DEFAULT_TUNING_USERS
) -> tuple[float, float] | None:
    """The always-valid interval for the relative change `treatment / control - 1`.

    The same boundary around the relative lift with its delta-method standard error: to first
    order the relative change is a mean of per-user influence values, so the asymptotic
    sequence applies to it as to the difference (GrowthBook applies it the same way). None when
    the fixed relative interval is unavailable (e.g. a zero control mean).
    """
    if result.relative_lift is None or result.relative_se is None:
        return None
    return confidence_sequence(
        result.relative_lift,
        result.relative_se,
        result.n_control + result.n_treatment,
        alpha,
        tuning_users,
    )


def sequential_p_value(
    result: FixedResult, alpha: float, tuning_users: int = DEFAULT_TUNING_USERS
) -> float | None:
    """`always_valid_p_value` of the difference; None when the fixed figures are unavailable."""
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
