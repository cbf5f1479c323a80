"""Sufficient statistics of one variant's per-user values.

The store keeps only running sums per variant and metric (users, sums, sums of squares and, for
ratio metrics, the cross product), so every statistic in this package is a function of these
dataclasses and never of raw events. Each user is one observation: the unit of randomisation is
the user, so per-event figures would understate the variance (Deng, Lu and Litz, "Trustworthy
analysis of online A/B tests: pitfalls, challenges and solutions", WSDM 2017).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Running sums are rounded at every addition, so a centred sum of squares that is mathematically
# zero (every user has the same value) comes out as a tiny positive or negative number. Anything
# below this share of the raw sum of squares is indistinguishable from that rounding and is taken
# as exactly zero; the price is that a coefficient of variation below about 1e-5 reads as zero.
_ROUNDING_TOLERANCE = 1e-10


def _centred(raw: float, correction: float, scale: float) -> float:
    """`raw - correction`, snapped to 0.0 when it is within rounding error of `scale`."""
    centred = raw - correction
    if centred <= _ROUNDING_TOLERANCE * scale:
        return 0.0
    return centred


def _check_sums(n: int, *sums: float) -> None:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not all(math.isfinite(value) for value in sums):
        raise ValueError("running sums must be finite")


@dataclass(frozen=True, slots=True)
class Moments:
    """Users, sum and sum of squares of one variant's per-user values.

    For a binary metric each user's value is 0 or 1, so `total` counts the users with a success
    and `total_sq == total`.
    """

    n: int
    total: float
    total_sq: float

    def __post_init__(self) -> None:
        _check_sums(self.n, self.total, self.total_sq)

    @property
    def mean(self) -> float:
        """Sample mean `total / n`; 0.0 with no users, so a display never shows NaN."""
        if self.n == 0:
            return 0.0
        return self.total / self.n

    @property
    def variance(self) -> float:
        """Sample variance with Bessel's correction (ddof=1).

        `s^2 = (sum(v^2) - sum(v)^2 / n) / (n - 1)`, the textbook computing formula from the
        running sums. 0.0 with fewer than two users (no spread can be seen yet) and never
        negative: rounding below the tolerance of `_centred` is taken as zero variance.
        """
        if self.n < 2:
            return 0.0
        return _centred(self.total_sq, self.total * self.mean, self.total_sq) / (self.n - 1)


@dataclass(frozen=True, slots=True)
class RatioMoments:
    """Running sums of a ratio metric's per-user numerator `x` and denominator `y`.

    Exposed users without events count as `x = 0, y = 0`: they are in `n` and add nothing to the
    sums, which is what keeps the per-user analysis right (Deng, Knoblich and Lu, "Applying the
    delta method in metric analytics", KDD 2018).
    """

    n: int
    sum_x: float
    sum_y: float
    sum_xx: float
    sum_yy: float
    sum_xy: float

    def __post_init__(self) -> None:
        _check_sums(self.n, self.sum_x, self.sum_y, self.sum_xx, self.sum_yy, self.sum_xy)

    @property
    def ratio(self) -> float:
        """The metric `R = sum(x) / sum(y)`; 0.0 while there is no denominator yet."""
        if self.sum_y == 0:
            return 0.0
        return self.sum_x / self.sum_y

    @property
    def mean_denominator(self) -> float:
        """Mean denominator per user `sum(y) / n`; 0.0 with no users."""
        if self.n == 0:
            return 0.0
        return self.sum_y / self.n

    @property
    def variance(self) -> float:
        """Per-user variance of the ratio by the delta method: `Var(R_hat) ~ variance / n`.

        Deng, Knoblich and Lu (KDD 2018), section 2: with per-user means `x_bar`, `y_bar` and sample
        (co)variances `s_xx`, `s_yy`, `s_xy`,

            n * Var(R_hat) ~ (s_xx - 2 R s_xy + R^2 s_yy) / y_bar^2

        The bracket is the sample variance of the linearised values `x_i - R y_i`, whose sum is
        zero by the definition of `R`, so it is computed in one step from the running sums as
        `(sum(xx) - 2 R sum(xy) + R^2 sum(yy)) / (n - 1)`, which also keeps it non-negative.
        0.0 with fewer than two users or no denominator.
        """
        if self.n < 2 or self.sum_y == 0:
            return 0.0
        r = self.ratio
        linearised = _centred(
            self.sum_xx + r * r * self.sum_yy,
            2 * r * self.sum_xy,
            self.sum_xx + r * r * self.sum_yy,
        )
        y_bar = self.mean_denominator
        return linearised / (self.n - 1) / y_bar / y_bar
