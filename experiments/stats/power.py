"""How large an effect a comparison can see, and how many users it needs to see one.

Normal approximation for two arms of equal size `n` whose per-user values have variance
`sigma^2` (for a ratio metric, `RatioMoments.variance`, the delta-method per-user variance), a
two-sided test at level alpha and the given power (Cohen, "Statistical Power Analysis for the
Behavioral Sciences", 2nd ed., 1988; Kohavi, Tang and Xu, "Trustworthy Online Controlled
Experiments", 2020, chapter 17):

    MDE = (z_{1-alpha/2} + z_{power}) * sqrt(2 sigma^2 / n)
    n   = 2 sigma^2 (z_{1-alpha/2} + z_{power})^2 / effect^2

The far rejection tail (an estimate significant in the wrong direction) is ignored, which
changes the power by less than 1e-4 for alpha <= 0.1 and power >= 0.8. These are fixed-horizon
figures; the always-valid interval is wider (`sequential.boundary_multiplier` standard errors
instead of `z_{1-alpha/2}`), so stopping on the sequential verdict needs more users:
`sequential_users_per_variant_for` is that figure, the one the controller waits for.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from experiments.stats.fixed import DEFAULT_ALPHA
from experiments.stats.sequential import DEFAULT_TUNING_USERS, boundary_multiplier

DEFAULT_POWER = 0.8

_STANDARD_NORMAL = NormalDist()


def minimum_detectable_effect(
    variance: float,
    users_per_variant: int,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
) -> float | None:
    """The smallest absolute difference detected with probability `power` at this sample.

    `(z_{1-alpha/2} + z_{power}) * sqrt(2 variance / users_per_variant)`; None with fewer than
    two users per variant, where no variance can be estimated. Divide by the control mean for the
    relative MDE.
    """
    _check_levels(alpha, power)
    if variance < 0:
        raise ValueError(f"variance must be >= 0, got {variance}")
    if users_per_variant < 2:
        return None
    return _multiplier(alpha, power) * math.sqrt(2 * variance / users_per_variant)


def users_per_variant_for(
    effect: float,
    variance: float,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
) -> int | None:
    """Users needed in each of two equal arms to detect `effect` with probability `power`.

    `ceil(2 variance (z_{1-alpha/2} + z_{power})^2 / effect^2)`, at least 2; None for a zero
    effect, which no sample detects.
    """
    _check_levels(alpha, power)
    if variance < 0:
        raise ValueError(f"variance must be >= 0, got {variance}")
    if effect == 0:
        return None
    scaled = _multiplier(alpha, power) / effect
    return max(2, math.ceil(2 * variance * scaled * scaled))


def sequential_users_per_variant_for(
    effect: float,
    variance: float,
    alpha: float,
    power: float = DEFAULT_POWER,
    tuning_users: int = DEFAULT_TUNING_USERS,
) -> int | None:
    """Users each of two equal arms needs before the always-valid interval at `alpha` excludes
    zero with probability `power` at that sample size, for a true difference `effect`.

    The smallest `n` with `|effect| sqrt(n / (2 variance)) >= c(2 n) + z_{power}`, where
    `c(2 n) = sequential.boundary_multiplier(2 n, alpha, tuning_users)` replaces the fixed
    `z_{1-alpha/2}`: the same normal approximation as `users_per_variant_for`, at the boundary
    the automatic decisions use. It counts only the last look, so it is a safe upper figure:
    an interval that excluded zero at an earlier look was stopped on then. None for a zero
    effect; at least 2.
    """
    _check_levels(alpha, power)
    if variance < 0:
        raise ValueError(f"variance must be >= 0, got {variance}")
    if effect == 0:
        return None
    if variance == 0:
        return 2
    z_power = _STANDARD_NORMAL.inv_cdf(power)
    scale = abs(effect) / math.sqrt(2 * variance)

    def enough(n: int) -> bool:
        return scale * math.sqrt(n) >= boundary_multiplier(2 * n, alpha, tuning_users) + z_power

    # Below the fixed-horizon figure even `z_{1-alpha/2}` is not reached, and c(2 n) > z.
    low = max(2, (users_per_variant_for(effect, variance, alpha, power) or 2) - 1)
    high = 2 * low
    while not enough(high):
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        if enough(middle):
            high = middle
        else:
            low = middle
    return high


def _check_levels(alpha: float, power: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")


def _multiplier(alpha: float, power: float) -> float:
    return _STANDARD_NORMAL.inv_cdf(1 - alpha / 2) + _STANDARD_NORMAL.inv_cdf(power)
