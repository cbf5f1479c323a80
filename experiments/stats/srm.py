"""Sample ratio mismatch: are users split across variants as the weights say?

A split that differs from the configured weights by more than chance means the assignment or the
exposure logging is broken (a variant that crashes before logging, a bot filter that hits one
variant), and then every comparison is biased whatever its p-value (Fabijan et al., "Diagnosing
sample ratio mismatch in online controlled experiments", KDD 2019). The check is Pearson's
chi-square goodness-of-fit test, run on every look; its threshold is strict (p < 0.001) because
it is looked at continually and a false alarm pauses the experiment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import special

SRM_THRESHOLD = 0.001


@dataclass(frozen=True, slots=True)
class SRMResult:
    """The goodness-of-fit p-value and whether the split is acceptable (`p_value >= 0.001`)."""

    p_value: float
    ok: bool


def srm_test(users: Sequence[int], weights: Sequence[float]) -> SRMResult:
    """Pearson's chi-square test of users per variant against the variants' weights.

    With `N = sum(users)` and expected counts `E_i = N * w_i / sum(w)` over the variants with a
    positive weight,

        X^2 = sum_i (O_i - E_i)^2 / E_i,   p = P(chi^2_{k-1} >= X^2)

    with `k` the number of variants with a positive weight (as `scipy.stats.chisquare`).
    Cases the test cannot judge are documented outcomes, not errors:

    - no users at all, or a single variant with a positive weight: nothing can mismatch,
      p = 1.0, ok;
    - a variant with weight 0 that has users: it should get none, so the split is certainly
      wrong, p = 0.0, not ok; zero-weight variants without users are left out of the test.

    Raises ValueError when the lengths differ, a count is negative or no weight is positive.
    """
    if len(users) != len(weights):
        raise ValueError(f"{len(users)} user counts for {len(weights)} weights")
    if any(count < 0 for count in users) or any(weight < 0 for weight in weights):
        raise ValueError("user counts and weights must be >= 0")
    total_weight = math.fsum(weights)
    if total_weight <= 0:
        raise ValueError("at least one weight must be positive")
    if any(count > 0 and weight == 0 for count, weight in zip(users, weights, strict=True)):
        return SRMResult(p_value=0.0, ok=False)
    observed = [(count, weight) for count, weight in zip(users, weights, strict=True) if weight > 0]
    total_users = sum(count for count, _ in observed)
    if total_users == 0 or len(observed) < 2:
        return SRMResult(p_value=1.0, ok=True)
    statistic = 0.0
    for count, weight in observed:
        expected = total_users * weight / total_weight
        statistic += (count - expected) * (count - expected) / expected
    p_value = float(special.chdtrc(len(observed) - 1, statistic))
    return SRMResult(p_value=p_value, ok=p_value >= SRM_THRESHOLD)
