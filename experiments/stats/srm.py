"""Sample ratio mismatch: are users split across variants as the weights say?

A split that differs from the configured weights by more than chance means the assignment or the
exposure logging is broken (a variant that crashes before logging, a bot filter that hits one
variant), and then every comparison is biased whatever its p-value (Fabijan et al., "Diagnosing
sample ratio mismatch in online controlled experiments", KDD 2019).

Two tests, because the check is looked at on every evaluation. Pearson's chi-square (`srm_test`)
is the familiar figure, valid at one look: at `p < 0.001` on every 10 s evaluation its false
alarms grow with time (3.6% of healthy experiments paused within a day, 4.9% within a week;
tests/unit/test_stats_sequential_srm.py). The pause is decided by the sequential test of Lindon
and Malek (`sequential_srm_test`), whose false alarms stay below its level however often it is
looked at.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import special

SRM_THRESHOLD = 0.001

SEQUENTIAL_SRM_LEVEL = 0.01
"""The chance that a healthy experiment is ever paused for a mismatch, at any number of looks."""

DIRICHLET_CONCENTRATION = 100.0
"""Prior concentration `k` of the mixture (`alpha_0 = k * theta_0`), savvi's default."""


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


@dataclass(frozen=True, slots=True)
class SequentialSRMResult:
    """The always-valid p-value of the split and whether it is acceptable (`p_value >= level`)."""

    p_value: float
    level: float
    ok: bool


def sequential_srm_test(
    users: Sequence[int],
    weights: Sequence[float],
    level: float = SEQUENTIAL_SRM_LEVEL,
    concentration: float = DIRICHLET_CONCENTRATION,
) -> SequentialSRMResult:
    """The anytime-valid test of users per variant against the weights (Lindon and Malek 2022).

    Lindon and Malek, "Anytime-valid inference for multinomial count data" (NeurIPS 2022): each
    first exposure is one draw of a multinomial with probabilities `theta`; under the null they
    are the weights `theta_0 = w / sum(w)`. The Dirichlet(`alpha_0 = k theta_0`) mixture of the
    likelihood over the null's is the Bayes factor, a Dirichlet-multinomial over a multinomial:

        log BF_n = log G(A) - log G(A + N) + sum_i [log G(alpha_0i + O_i) - log G(alpha_0i)]
                   - sum_i O_i log theta_0i,      A = sum_i alpha_0i = k

    a non-negative martingale under the null with mean 1, so by Ville's inequality
    `P(exists n: BF_n >= 1 / level) <= level`: a look after every exposure, or every 10 s for
    ever, pauses a healthy experiment with probability at most `level`. The p-value is
    `min(1, 1 / BF_n)`, reported at the current counts (no running minimum, so it stays a pure
    function of them; Ville's bound covers every look either way). The cases `srm_test`
    documents are the same here: no users or one weighted variant, p = 1.0; users in a
    zero-weight variant, p = 0.0. Raises ValueError as `srm_test` does, and for a level or
    concentration out of range.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if not concentration > 0:
        raise ValueError(f"concentration must be > 0, got {concentration}")
    if len(users) != len(weights):
        raise ValueError(f"{len(users)} user counts for {len(weights)} weights")
    if any(count < 0 for count in users) or any(weight < 0 for weight in weights):
        raise ValueError("user counts and weights must be >= 0")
    total_weight = math.fsum(weights)
    if total_weight <= 0:
        raise ValueError("at least one weight must be positive")
    if any(count > 0 and weight == 0 for count, weight in zip(users, weights, strict=True)):
        return SequentialSRMResult(p_value=0.0, level=level, ok=False)
    observed = [(count, weight) for count, weight in zip(users, weights, strict=True) if weight > 0]
    total_users = sum(count for count, _ in observed)
    if total_users == 0 or len(observed) < 2:
        return SequentialSRMResult(p_value=1.0, level=level, ok=True)
    log_bf = math.lgamma(concentration) - math.lgamma(concentration + total_users)
    for count, weight in observed:
        theta = weight / total_weight
        prior = concentration * theta
        log_bf += math.lgamma(prior + count) - math.lgamma(prior) - count * math.log(theta)
    p_value = math.exp(min(0.0, -log_bf))
    return SequentialSRMResult(p_value=p_value, level=level, ok=p_value >= level)
