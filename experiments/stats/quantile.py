"""Quantile figures from sketches: an arm's quantile, its intervals, and a quantile guardrail.

The `q`-quantile `x_q` of an arm is bracketed by order statistics: with `B_n` the number of the
`n` values at or below `x_q`, `B_n ~ Binomial(n, q)` (continuous values), and

    |B_n - n q| <= h   implies   X_(ceil(n q - h)) <= x_q < X_(floor(n q + h) + 1)

so any bound `h` on the binomial count is an interval for the quantile, distribution-free.

- Fixed horizon: `h = z_{1-alpha/2} sqrt(n q (1 - q))` (the normal approximation to the
  binomial; Conover, "Practical Nonparametric Statistics", 3rd ed., 1999, section 3.2).
- Always valid: the confidence sequence for quantiles of Howard and Ramdas, "Sequential
  estimation of quantiles with applications to A/B-testing and best-arm identification"
  (Bernoulli 28, 2022): a time-uniform bound on `B_n - n q`. Here `h = c(n) sqrt(n s^2)` with
  Robbins' normal-mixture boundary `c(n)` (`sequential.boundary_multiplier`) and `s^2` the
  optimal sub-Gaussian variance proxy of a centred Bernoulli(q),
  `s^2 = (1 - 2 q) / (2 log((1 - q) / q))` (Buldygin and Moskvichova, 2013; 1/4 at q = 1/2).
  The mixture is then a supermartingale exactly, not only asymptotically, so the sequence holds
  at every `n` from the first value: no central limit theorem is needed for a tail quantile.

The order statistics are read from the sketch with its buckets' outer edges (the lower edge for
a lower bound, the upper edge for an upper one), so the relative accuracy of the sketch widens
the intervals by at most `a` and never makes them invalid. Each value is one observation: the
sketch counts events (requests), so a user with many requests counts many times, and the
guarantee assumes those requests independent (docs/statistics.md says what that costs).

The guardrail (`quantile_harm`) compares two arms through their own sequences, each at half the
level (union bound): harm by increase is breached when the treatment's lower bound exceeds
`(1 + max_regression)` times the control's upper bound, which, when both sequences hold, means
that the true quantiles differ by more than the tolerance. Only one side of each sequence is
used, so each is one-sided (`sequential.one_sided_boundary_multiplier`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from experiments.stats.sequential import (
    DEFAULT_TUNING_USERS,
    Direction,
    boundary_multiplier,
    one_sided_boundary_multiplier,
)
from experiments.stats.sketch import QuantileSketch

_STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class QuantileEstimate:
    """An arm's `q`-quantile from `n` values, its fixed-horizon and always-valid intervals.

    Bounds are `-inf`/`inf` where the values do not bound the quantile yet; the document shows
    those as null."""

    q: float
    n: int
    estimate: float | None
    ci: tuple[float, float] | None
    sequential_ci: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class QuantileHarm:
    """The quantile guardrail's figures: the relative change of the point estimates, the
    always-valid interval of the ratio of quantiles and whether the harm exceeds the tolerance."""

    relative_change: float | None
    sequential_relative_ci: tuple[float, float] | None
    breached: bool


def bernoulli_variance_proxy(q: float) -> float:
    """`(1 - 2 q) / (2 log((1 - q) / q))`, 1/4 at q = 1/2: the smallest `s^2` with
    `E exp(l (B - q)) <= exp(l^2 s^2 / 2)` for every `l` and `B ~ Bernoulli(q)`."""
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), got {q}")
    if abs(q - 0.5) < 1e-9:
        return 0.25
    return (1 - 2 * q) / (2 * math.log((1 - q) / q))


def _interval(sketch: QuantileSketch, q: float, half_width: float) -> tuple[float, float]:
    n = sketch.n
    low_rank = math.ceil(n * q - half_width)
    high_rank = math.floor(n * q + half_width) + 1
    return sketch.lower_edge_at(low_rank), sketch.upper_edge_at(high_rank)


def sequential_rank_half_width(
    n: int, q: float, alpha: float, one_sided: bool, tuning_users: int = DEFAULT_TUNING_USERS
) -> float:
    """The time-uniform bound `h` on `|B_n - n q|` (or one side of it) at level `alpha`."""
    c = (one_sided_boundary_multiplier if one_sided else boundary_multiplier)(
        n, alpha, tuning_users
    )
    return c * math.sqrt(n * bernoulli_variance_proxy(q))


def quantile_estimate(
    sketch: QuantileSketch,
    q: float,
    alpha: float,
    sequential_alpha: float,
    tuning_users: int = DEFAULT_TUNING_USERS,
) -> QuantileEstimate:
    """The `q`-quantile of an arm with both intervals (two-sided); no intervals without values."""
    n = sketch.n
    estimate = sketch.quantile(q)
    if n == 0:
        return QuantileEstimate(q, 0, None, None, None)
    z = _STANDARD_NORMAL.inv_cdf(1 - alpha / 2)
    fixed = _interval(sketch, q, z * math.sqrt(n * q * (1 - q)))
    sequential = _interval(
        sketch, q, sequential_rank_half_width(n, q, sequential_alpha, False, tuning_users)
    )
    return QuantileEstimate(q, n, estimate, fixed, sequential)


def quantile_harm(
    control: QuantileSketch,
    treatment: QuantileSketch,
    q: float,
    direction: Direction,
    max_regression: float,
    alpha: float,
    tuning_users: int = DEFAULT_TUNING_USERS,
) -> QuantileHarm:
    """Whether the treatment's `q`-quantile is confidently beyond the tolerance of the control's.

    `direction` is the good direction of the metric (a latency should `decrease`). The level
    `alpha` is split in two one-sided sequences, one an arm. The relative interval is the
    two-sided `[low_t / high_c - 1, high_t / low_c - 1]` at `alpha / 2` an arm, None while the
    control's lower bound is not positive. Quantiles are taken as positive (latencies, token
    counts); a sketch whose values are <= 0 bounds nothing on that side.
    """
    if max_regression < 0:
        raise ValueError(f"max_regression must be >= 0, got {max_regression}")
    est_c, est_t = control.quantile(q), treatment.quantile(q)
    relative = None if not est_c or est_t is None else est_t / est_c - 1
    if control.n == 0 or treatment.n == 0:
        return QuantileHarm(relative, None, False)
    half = alpha / 2

    def one_sided(sketch: QuantileSketch) -> float:
        return sequential_rank_half_width(sketch.n, q, half, True, tuning_users)

    if direction == "decrease":
        low_t = _interval(treatment, q, one_sided(treatment))[0]
        high_c = _interval(control, q, one_sided(control))[1]
        breached = math.isfinite(low_t) and low_t > (1 + max_regression) * high_c
    else:
        high_t = _interval(treatment, q, one_sided(treatment))[1]
        low_c = _interval(control, q, one_sided(control))[0]
        breached = math.isfinite(low_c) and low_c > 0 and high_t < (1 - max_regression) * low_c
    low_c2, high_c2 = _interval(control, q, sequential_rank_half_width(
        control.n, q, half, False, tuning_users))
    low_t2, high_t2 = _interval(treatment, q, sequential_rank_half_width(
        treatment.n, q, half, False, tuning_users))
    interval = None
    if low_c2 > 0 and math.isfinite(high_c2):
        interval = (max(low_t2, 0.0) / high_c2 - 1, high_t2 / low_c2 - 1)
    return QuantileHarm(relative, interval, bool(breached))
