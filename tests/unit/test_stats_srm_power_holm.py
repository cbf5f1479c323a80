"""Sample ratio mismatch, Holm's correction and power, against scipy/statsmodels."""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower

from experiments.stats import (
    Moments,
    boundary_multiplier,
    compare,
    holm,
    minimum_detectable_effect,
    sequential_users_per_variant_for,
    srm_test,
    users_per_variant_for,
    welch,
)

# --- sample ratio mismatch ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("users", "weights"),
    [
        ([1000, 1012], [0.5, 0.5]),
        ([5000, 5400], [0.5, 0.5]),
        ([310, 290, 402], [0.3, 0.3, 0.4]),
        ([90, 1010], [0.1, 0.9]),
        ([250, 260, 240, 251], [1, 1, 1, 1]),
    ],
)
def test_srm_p_value_is_scipy_chisquare_against_the_weights(users, weights):
    expected_counts = np.array(weights) / sum(weights) * sum(users)
    expected = stats.chisquare(users, expected_counts).pvalue
    result = srm_test(users, weights)
    assert result.p_value == pytest.approx(expected, rel=1e-6)
    assert result.ok == bool(expected >= 0.001)


def test_srm_flags_a_clear_mismatch():
    result = srm_test([1000, 1200], [0.5, 0.5])
    assert result.p_value < 0.001
    assert not result.ok


def test_srm_with_no_users_is_ok_with_p_one():
    result = srm_test([0, 0], [0.5, 0.5])
    assert result.p_value == 1.0 and result.ok


def test_srm_with_a_single_weighted_variant_is_ok_with_p_one():
    result = srm_test([750], [1.0])
    assert result.p_value == 1.0 and result.ok


def test_srm_leaves_out_zero_weight_variants_without_users():
    with_empty = srm_test([480, 0, 530], [0.5, 0.0, 0.5])
    expected = stats.chisquare([480, 530]).pvalue
    assert with_empty.p_value == pytest.approx(expected, rel=1e-6)


def test_srm_fails_when_a_zero_weight_variant_has_users():
    result = srm_test([500, 3, 497], [0.5, 0.0, 0.5])
    assert result.p_value == 0.0 and not result.ok


@pytest.mark.parametrize(
    ("users", "weights"),
    [([1, 2], [1.0]), ([-1, 2], [0.5, 0.5]), ([1, 2], [-0.5, 1.5]), ([1, 2], [0.0, 0.0])],
)
def test_srm_rejects_inputs_that_cannot_describe_an_experiment(users, weights):
    with pytest.raises(ValueError):
        srm_test(users, weights)


def test_srm_false_alarm_rate_on_a_fair_split_is_at_most_its_threshold():
    """20000 correct 20/30/50 splits of 3000 users: measured 0.08% flagged; the threshold is
    0.1% and the bound 0.1% + 3 Monte-Carlo SEs = 0.167%."""
    rng = np.random.default_rng(31)
    weights = [0.2, 0.3, 0.5]
    draws = rng.multinomial(3000, weights, size=20000)
    flagged = sum(not srm_test(list(map(int, row)), weights).ok for row in draws)
    assert flagged / 20000 <= 0.001 + 3 * math.sqrt(0.001 * 0.999 / 20000)


# --- Holm -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_holm_equals_statsmodels_multipletests(seed):
    rng = np.random.default_rng(seed)
    p_values = rng.uniform(0, 0.2, size=int(rng.integers(1, 12))) ** 2
    p_values[::3] = p_values[0]  # ties
    _, expected, _, _ = multipletests(p_values, method="holm")
    assert holm(list(map(float, p_values))) == pytest.approx(list(expected), rel=1e-12)


def test_holm_passes_none_through_and_does_not_count_it():
    assert holm([0.01, None, 0.04]) == pytest.approx([0.02, None, 0.04])


def test_holm_keeps_the_order_of_the_raw_p_values_and_caps_at_one():
    adjusted = holm([0.04, 0.03, 0.5, 0.9])
    assert adjusted == pytest.approx([0.12, 0.12, 1.0, 1.0])


def test_holm_of_nothing_is_nothing():
    assert holm([]) == []
    assert holm([None, None]) == [None, None]


@pytest.mark.parametrize("bad", [-0.1, 1.2, math.nan])
def test_holm_rejects_values_that_are_not_p_values(bad):
    with pytest.raises(ValueError):
        holm([0.1, bad])


# --- power ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effect", "sd", "alpha", "power"),
    [(0.02, 0.3, 0.05, 0.8), (5.0, 40.0, 0.05, 0.9), (0.1, 1.0, 0.01, 0.8)],
)
def test_users_needed_match_statsmodels_normal_power(effect, sd, alpha, power):
    """statsmodels' one-sided test at alpha/2 is exactly the two-sided formula without the far
    tail; its two-sided answer differs by the far tail only."""
    one_tail = NormalIndPower().solve_power(
        effect_size=effect / sd, alpha=alpha / 2, power=power, alternative="larger"
    )
    two_sided = NormalIndPower().solve_power(effect_size=effect / sd, alpha=alpha, power=power)
    users = users_per_variant_for(effect, sd**2, alpha, power)
    assert users is not None
    assert 0 <= users - one_tail < 1
    assert users == pytest.approx(two_sided, rel=1e-3)


@pytest.mark.parametrize(("users", "sd", "alpha"), [(1000, 0.4, 0.05), (25_000, 12.0, 0.1)])
def test_minimum_detectable_effect_has_exactly_the_power_by_statsmodels(users, sd, alpha):
    effect = minimum_detectable_effect(sd**2, users, alpha, 0.8)
    assert effect is not None
    power = NormalIndPower().power(
        effect_size=effect / sd, nobs1=users, alpha=alpha / 2, alternative="larger"
    )
    assert power == pytest.approx(0.8, rel=1e-9)


def test_minimum_detectable_effect_at_the_users_needed_is_the_effect():
    users = users_per_variant_for(0.05, 0.25)
    assert users is not None
    at_users, one_fewer = (minimum_detectable_effect(0.25, n) for n in (users, users - 1))
    assert at_users is not None and one_fewer is not None
    assert at_users <= 0.05 < one_fewer


def test_a_welch_test_at_the_users_needed_has_the_promised_power():
    """2000 experiments of N(0, 1) against N(0.2, 1) with the 393 users an arm needed for 80%
    power: measured 80.0% significant at 0.05 (the bound is 80% +- 3 Monte-Carlo SEs)."""
    users = users_per_variant_for(0.2, 1.0)
    assert users == 393
    rng = np.random.default_rng(32)
    control = rng.normal(0.0, 1.0, size=(2000, users))
    treatment = rng.normal(0.2, 1.0, size=(2000, users))
    significant = 0
    for c, t in zip(control, treatment, strict=True):
        result = welch(
            Moments(users, c.sum(), (c * c).sum()), Moments(users, t.sum(), (t * t).sum())
        )
        significant += result.p_value is not None and result.p_value < 0.05
    assert abs(significant / 2000 - 0.8) <= 3 * math.sqrt(0.8 * 0.2 / 2000)


def test_power_figures_are_none_where_nothing_can_be_detected():
    assert minimum_detectable_effect(1.0, 1) is None
    assert users_per_variant_for(0.0, 1.0) is None


@pytest.mark.parametrize(("alpha", "power"), [(0.0, 0.8), (0.05, 1.0), (1.2, 0.8)])
def test_power_rejects_levels_outside_the_unit_interval(alpha, power):
    with pytest.raises(ValueError):
        minimum_detectable_effect(1.0, 100, alpha, power)


def test_the_sequential_users_needed_give_the_always_valid_interval_its_power() -> None:
    """Binary 0.20 -> 0.22 at alpha 0.05, power 0.8: 12,812 users an arm for the always-valid
    interval against 6,280 fixed-horizon (2.04x). On 400 seeded experiments looked at every
    tenth of the way, the interval excluded zero by the sequential figure in 82.5% (>= 80%) but
    by the fixed one in only 42.5%: the fixed figure understates what the controller waits for."""
    p, effect = 0.2, 0.02
    sequential = sequential_users_per_variant_for(effect, p * (1 - p), 0.05, 0.8)
    fixed = users_per_variant_for(effect, p * (1 - p), 0.05, 0.8)
    assert (sequential, fixed) == (12_812, 6_280)
    rng = np.random.default_rng(21)
    detected = {fixed: 0, sequential: 0}
    for n in (fixed, sequential):
        for _ in range(400):
            control, treatment = rng.random(n) < p, rng.random(n) < p + effect
            for m in np.linspace(n / 10, n, 10).astype(int):
                c, t = int(control[:m].sum()), int(treatment[:m].sum())
                interval = compare("binary", Moments(int(m), c, c), Moments(int(m), t, t))
                if interval.sequential_ci is not None and interval.sequential_ci[0] > 0:
                    detected[n] += 1
                    break
    assert detected[sequential] / 400 == pytest.approx(0.825)
    assert detected[fixed] / 400 == pytest.approx(0.425)


def test_the_sequential_users_needed_are_the_smallest_that_reach_the_boundary() -> None:
    effect, variance, alpha = 0.5, 4.0, 0.01
    n = sequential_users_per_variant_for(effect, variance, alpha, 0.9)
    assert n is not None

    def reaches(users: int) -> bool:
        return effect * math.sqrt(users / (2 * variance)) >= boundary_multiplier(
            2 * users, alpha
        ) + stats.norm.ppf(0.9)

    assert reaches(n) and not reaches(n - 1)
    assert sequential_users_per_variant_for(0.0, variance, alpha) is None
