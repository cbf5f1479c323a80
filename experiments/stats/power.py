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
instead of `z_{1-alpha/2}`), so stopping on the sequential verdict needs more users.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from experiments.stats.fixed import DEFAULT_ALPHA

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


def _check_levels(alpha: float, power: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")


def _multiplier(alpha: float, power: float) -> float:
    return _STANDARD_NORMAL.inv_cdf(1 - alpha / 2) + _STANDARD_NORMAL.inv_cdf(power)
