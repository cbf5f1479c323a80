"""Fixed-horizon statistics checked against scipy/statsmodels on raw simulated samples.

Each test draws raw per-user values, folds them into running sums the way the store does (one
increment per user), and compares the package's figures with an independent computation on the
raw values.
"""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from experiments.stats import (
    Comparison,
    FixedResult,
    Moments,
    RatioMoments,
    Reason,
    compare,
    delta_ratio,
    two_proportion,
    welch,
)

REL = 1e-6

FIXED_FIGURES = (
    "diff",
    "se",
    "ci",
    "p_value",
    "relative_lift",
    "relative_se",
    "relative_ci",
)


def moments_of(values) -> Moments:
    """Users, sum and sum of squares, accumulated one user at a time as the store does."""
    total = total_sq = 0.0
    for value in map(float, values):
        total += value
        total_sq += value * value
    return Moments(n=len(values), total=total, total_sq=total_sq)


def ratio_moments_of(x, y) -> RatioMoments:
    sums = [0.0] * 5
    for xi, yi in zip(map(float, x), map(float, y), strict=True):
        for k, term in enumerate((xi, yi, xi * xi, yi * yi, xi * yi)):
            sums[k] += term
    return RatioMoments(len(x), *sums)


def assert_no_nan_or_infinity(result: FixedResult | Comparison) -> None:
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if isinstance(value, float):
            assert math.isfinite(value), field.name
        elif isinstance(value, tuple):
            assert all(math.isfinite(bound) for bound in value), field.name
            assert value[0] <= value[1], field.name


def assert_reason_iff_missing(result: FixedResult | Comparison) -> None:
    missing = [name for name in FIXED_FIGURES if getattr(result, name) is None]
    assert (result.unavailable_reason is None) == (not missing), missing


def normal_critical(alpha):
    return stats.norm.ppf(1 - alpha / 2)


# --- Moments -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_moments_mean_and_variance_equal_numpy_on_the_raw_values(seed):
    values = np.random.default_rng(seed).lognormal(3.0, 1.0, size=5000)
    moments = moments_of(values)
    assert moments.mean == pytest.approx(np.mean(values), rel=1e-12)
    assert moments.variance == pytest.approx(np.var(values, ddof=1), rel=1e-9)


def test_moments_variance_is_zero_with_fewer_than_two_users():
    assert Moments(0, 0.0, 0.0).variance == 0.0
    assert Moments(1, 7.0, 49.0).variance == 0.0
    assert Moments(0, 0.0, 0.0).mean == 0.0


def test_moments_variance_of_identical_values_is_exactly_zero_despite_rounding():
    moments = moments_of([0.1] * 1000)
    raw_centred = moments.total_sq - moments.total * moments.total / moments.n
    assert raw_centred != 0.0  # the running sums really do carry rounding error
    assert moments.variance == 0.0


@pytest.mark.parametrize(
    "arguments", [(-1, 0.0, 0.0), (3, math.nan, 1.0), (3, 1.0, math.inf)], ids=str
)
def test_moments_reject_impossible_sums(arguments):
    with pytest.raises(ValueError):
        Moments(*arguments)


def test_ratio_moments_variance_is_the_delta_method_per_user_variance_from_numpy():
    rng = np.random.default_rng(11)
    y = rng.poisson(3.0, size=4000).astype(float)
    x = rng.gamma(shape=2.0 * y, scale=0.5) + rng.normal(0, 0.1, size=y.size) * y
    moments = ratio_moments_of(x, y)
    ratio = x.sum() / y.sum()
    cov = np.cov(x, y)
    expected = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / np.mean(y) ** 2
    assert moments.ratio == pytest.approx(ratio, rel=1e-12)
    assert moments.variance == pytest.approx(expected, rel=1e-9)


def test_ratio_moments_of_a_constant_ratio_have_exactly_zero_variance():
    y = np.random.default_rng(12).poisson(3.0, size=1000).astype(float)
    assert ratio_moments_of(0.3 * y, y).variance == 0.0


# --- two-proportion z-test -----------------------------------------------------------------------

PROPORTION_CASES = [
    # seed, control users, treatment users, control rate, treatment rate, alpha
    (1, 1000, 1012, 0.20, 0.22, 0.05),
    (2, 60, 80, 0.10, 0.30, 0.05),
    (3, 20000, 19000, 0.010, 0.012, 0.01),
    (4, 9, 7, 0.5, 0.5, 0.10),
]


@pytest.mark.parametrize(("seed", "n_c", "n_t", "p_c", "p_t", "alpha"), PROPORTION_CASES)
def test_two_proportion_p_value_is_statsmodels_pooled_z_test(seed, n_c, n_t, p_c, p_t, alpha):
    rng = np.random.default_rng(seed)
    control, treatment = rng.random(n_c) < p_c, rng.random(n_t) < p_t
    result = two_proportion(moments_of(control), moments_of(treatment), alpha)
    _, expected = proportions_ztest([treatment.sum(), control.sum()], [n_t, n_c])
    assert result.unavailable_reason is None
    assert result.p_value == pytest.approx(expected, rel=REL)


@pytest.mark.parametrize(("seed", "n_c", "n_t", "p_c", "p_t", "alpha"), PROPORTION_CASES)
def test_two_proportion_interval_is_statsmodels_unpooled_wald(seed, n_c, n_t, p_c, p_t, alpha):
    rng = np.random.default_rng(seed)
    control, treatment = rng.random(n_c) < p_c, rng.random(n_t) < p_t
    result = two_proportion(moments_of(control), moments_of(treatment), alpha)
    expected = confint_proportions_2indep(
        treatment.sum(), n_t, control.sum(), n_c, method="wald", compare="diff", alpha=alpha
    )
    assert result.diff == pytest.approx(treatment.mean() - control.mean(), rel=1e-12)
    assert result.ci == pytest.approx(expected, rel=REL)


@pytest.mark.parametrize(("seed", "n_c", "n_t", "p_c", "p_t", "alpha"), PROPORTION_CASES)
def test_two_proportion_relative_interval_is_the_delta_method_on_raw_rates(
    seed, n_c, n_t, p_c, p_t, alpha
):
    rng = np.random.default_rng(seed)
    control, treatment = rng.random(n_c) < p_c, rng.random(n_t) < p_t
    result = two_proportion(moments_of(control), moments_of(treatment), alpha)
    m_c, m_t = control.mean(), treatment.mean()
    v_c, v_t = m_c * (1 - m_c) / n_c, m_t * (1 - m_t) / n_t
    se = np.sqrt(v_t / m_c**2 + m_t**2 * v_c / m_c**4)
    lift = (m_t - m_c) / m_c
    half = normal_critical(alpha) * se
    assert result.relative_lift == pytest.approx(lift, rel=1e-12)
    assert result.relative_se == pytest.approx(se, rel=REL)
    assert result.relative_ci == pytest.approx((lift - half, lift + half), rel=REL)


# --- Welch ---------------------------------------------------------------------------------------

WELCH_CASES = [
    # seed, control users, treatment users, alpha, draw
    (1, 500, 520, 0.05, "normal"),
    (2, 40, 300, 0.05, "normal"),
    (3, 3000, 2800, 0.10, "lognormal"),
    (4, 3, 5, 0.05, "normal"),
]


def draw(rng, kind, n, shift, scale):
    if kind == "normal":
        return rng.normal(100.0 + shift, 10.0 * scale, size=n)
    return rng.lognormal(5.0 + shift / 100, 0.8 * scale, size=n)


@pytest.mark.parametrize(("seed", "n_c", "n_t", "alpha", "kind"), WELCH_CASES)
def test_welch_p_value_is_scipy_unequal_variance_t_test(seed, n_c, n_t, alpha, kind):
    rng = np.random.default_rng(seed)
    control, treatment = draw(rng, kind, n_c, 0, 1.0), draw(rng, kind, n_t, 3, 1.6)
    result = welch(moments_of(control), moments_of(treatment), alpha)
    expected = stats.ttest_ind(treatment, control, equal_var=False)
    assert result.unavailable_reason is None
    assert result.diff == pytest.approx(treatment.mean() - control.mean(), rel=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=REL)


@pytest.mark.parametrize(("seed", "n_c", "n_t", "alpha", "kind"), WELCH_CASES)
def test_welch_interval_is_statsmodels_unequal_variance_interval(seed, n_c, n_t, alpha, kind):
    rng = np.random.default_rng(seed)
    control, treatment = draw(rng, kind, n_c, 0, 1.0), draw(rng, kind, n_t, 3, 1.6)
    result = welch(moments_of(control), moments_of(treatment), alpha)
    means = CompareMeans(DescrStatsW(treatment), DescrStatsW(control))
    assert result.ci == pytest.approx(means.tconfint_diff(alpha=alpha, usevar="unequal"), rel=REL)


@pytest.mark.parametrize(("seed", "n_c", "n_t", "alpha", "kind"), WELCH_CASES)
def test_welch_relative_interval_is_the_delta_method_with_the_welch_critical_value(
    seed, n_c, n_t, alpha, kind
):
    rng = np.random.default_rng(seed)
    control, treatment = draw(rng, kind, n_c, 0, 1.0), draw(rng, kind, n_t, 3, 1.6)
    result = welch(moments_of(control), moments_of(treatment), alpha)
    m_c, m_t = control.mean(), treatment.mean()
    v_c, v_t = control.var(ddof=1) / n_c, treatment.var(ddof=1) / n_t
    se = np.sqrt(v_t / m_c**2 + m_t**2 * v_c / m_c**4)
    df = CompareMeans(DescrStatsW(treatment), DescrStatsW(control)).dof_satt()
    half = stats.t.ppf(1 - alpha / 2, df) * se
    lift = m_t / m_c - 1
    assert result.relative_lift == pytest.approx(lift, rel=1e-9)
    assert result.relative_ci == pytest.approx((lift - half, lift + half), rel=REL)


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")
def test_welch_with_one_constant_arm_is_still_scipy_welch():
    rng = np.random.default_rng(5)
    control, treatment = np.full(50, 4.0), rng.normal(4.5, 1.0, size=60)
    result = welch(moments_of(control), moments_of(treatment))
    assert result.p_value == pytest.approx(
        stats.ttest_ind(treatment, control, equal_var=False).pvalue, rel=REL
    )


@pytest.mark.parametrize("seed", range(20))
def test_welch_p_value_is_below_alpha_exactly_when_the_interval_excludes_zero(seed):
    rng = np.random.default_rng(seed)
    control, treatment = rng.normal(0, 1, size=30), rng.normal(0.5, 1.5, size=25)
    result = welch(moments_of(control), moments_of(treatment))
    assert result.ci is not None and result.p_value is not None
    assert (result.p_value < 0.05) == (result.ci[0] > 0 or result.ci[1] < 0)


# --- delta method for ratio metrics ---------------------------------------------------------------


def ratio_sample(rng, n, cost_scale):
    """Requests per user (some users make none) and each user's summed cost."""
    requests = rng.poisson(2.0, size=n).astype(float)
    cost = rng.gamma(shape=1.5 * requests, scale=cost_scale)
    return cost, requests


@pytest.mark.parametrize(("seed", "n_c", "n_t", "alpha"), [(1, 800, 820, 0.05), (2, 90, 60, 0.1)])
def test_delta_ratio_equals_a_numpy_delta_method_on_raw_pairs(seed, n_c, n_t, alpha):
    rng = np.random.default_rng(seed)
    x_c, y_c = ratio_sample(rng, n_c, 0.010)
    x_t, y_t = ratio_sample(rng, n_t, 0.011)
    result = delta_ratio(ratio_moments_of(x_c, y_c), ratio_moments_of(x_t, y_t), alpha)

    def ratio_and_variance(x, y):
        ratio = x.sum() / y.sum()
        cov = np.cov(x, y)
        variance = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / np.mean(y) ** 2
        return ratio, variance / len(x)

    r_c, v_c = ratio_and_variance(x_c, y_c)
    r_t, v_t = ratio_and_variance(x_t, y_t)
    diff, se = r_t - r_c, np.sqrt(v_c + v_t)
    z = normal_critical(alpha)
    rel_se = np.sqrt(v_t / r_c**2 + r_t**2 * v_c / r_c**4)
    assert result.diff == pytest.approx(diff, rel=1e-9)
    assert result.se == pytest.approx(se, rel=REL)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(diff) / se), rel=REL)
    assert result.ci == pytest.approx((diff - z * se, diff + z * se), rel=REL)
    assert result.relative_lift == pytest.approx(r_t / r_c - 1, rel=1e-9)
    assert result.relative_se == pytest.approx(rel_se, rel=REL)


def test_delta_ratio_standard_error_matches_the_spread_of_ratios_across_2000_replications():
    """The delta-method SE is right, not just self-consistent: across 2000 independent arms of
    1000 users the standard deviation of the ratio is within 5% (3 Monte-Carlo SEs) of it."""
    rng = np.random.default_rng(21)
    ratios, ses = [], []
    for _ in range(2000):
        x, y = ratio_sample(rng, 1000, 0.01)
        moments = RatioMoments(1000, x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum())
        ratios.append(moments.ratio)
        ses.append(math.sqrt(moments.variance / moments.n))
    assert np.std(ratios, ddof=1) == pytest.approx(np.mean(ses), rel=0.05)


def test_relative_interval_covers_a_true_ten_percent_lift_at_its_nominal_rate():
    """2000 Welch comparisons of 2000 users an arm with a true +10% lift: the delta-method
    relative interval at alpha 0.05 covers 0.10 in 95% +- 3 Monte-Carlo SEs of them."""
    rng = np.random.default_rng(22)
    covered = 0
    runs = 2000
    for _ in range(runs):
        control = rng.lognormal(0.0, 1.0, size=2000)
        treatment = 1.1 * rng.lognormal(0.0, 1.0, size=2000)
        result = welch(moments_of(control), moments_of(treatment))
        assert result.relative_ci is not None
        covered += result.relative_ci[0] <= 0.10 <= result.relative_ci[1]
    tolerance = 3 * math.sqrt(0.05 * 0.95 / runs)
    assert abs(covered / runs - 0.95) <= tolerance


# --- degenerate data: figures are None with a reason, never NaN, never an exception --------------


def arms(metric_type, control_values, treatment_values):
    """Build both arms; for `ratio` every user has denominator 1 unless a value is a pair."""
    if metric_type != "ratio":
        return moments_of(control_values), moments_of(treatment_values)

    def ratio_arm(values):
        pairs = [v if isinstance(v, tuple) else (v, 1.0) for v in values]
        return ratio_moments_of([p[0] for p in pairs], [p[1] for p in pairs])

    return ratio_arm(control_values), ratio_arm(treatment_values)


METRIC_TYPES = ["binary", "mean", "ratio"]


@pytest.mark.parametrize("metric_type", METRIC_TYPES)
def test_zero_users_give_no_figures_and_say_not_enough_users(metric_type):
    result = compare(metric_type, *arms(metric_type, [], []))
    assert result.unavailable_reason == Reason.NOT_ENOUGH_USERS
    assert all(getattr(result, name) is None for name in FIXED_FIGURES)
    assert result.sequential_ci is None and result.sequential_p_value is None


@pytest.mark.parametrize("metric_type", METRIC_TYPES)
def test_one_user_per_arm_gives_the_difference_but_no_interval(metric_type):
    result = compare(metric_type, *arms(metric_type, [1.0], [0.0]))
    assert result.unavailable_reason == Reason.NOT_ENOUGH_USERS
    assert result.diff == -1.0 and result.relative_lift == -1.0
    assert result.ci is None and result.p_value is None and result.sequential_ci is None
    assert_no_nan_or_infinity(result)


@pytest.mark.parametrize("metric_type", METRIC_TYPES)
def test_an_empty_arm_gives_no_figures_and_says_not_enough_users(metric_type):
    result = compare(metric_type, *arms(metric_type, [1.0, 0.0, 1.0], []))
    assert result.unavailable_reason == Reason.NOT_ENOUGH_USERS
    assert all(getattr(result, name) is None for name in FIXED_FIGURES)


@pytest.mark.parametrize("metric_type", ["mean", "ratio"])
def test_identical_values_give_zero_variance_not_an_infinite_statistic(metric_type):
    result = compare(metric_type, *arms(metric_type, [3.7] * 100, [4.2] * 100))
    assert result.unavailable_reason == Reason.ZERO_VARIANCE
    assert result.diff == pytest.approx(0.5)
    assert result.ci is None and result.p_value is None and result.sequential_p_value is None
    assert (result.control_se, result.treatment_se) == (0.0, 0.0)
    assert_no_nan_or_infinity(result)


@pytest.mark.parametrize("metric_type", ["mean", "ratio"])
def test_two_constant_arms_with_enough_users_differ_exactly_in_the_sequential_figures(metric_type):
    """299 users an arm at alpha 0.05 (`constant_arm_users`): the fixed figures still have no
    standard error, the always-valid ones take the difference of the constants as exact."""
    result = compare(metric_type, *arms(metric_type, [3.7] * 299, [4.2] * 299))
    assert result.unavailable_reason == Reason.ZERO_VARIANCE and result.ci is None
    assert result.sequential_ci == pytest.approx((0.5, 0.5))
    assert result.sequential_relative_ci == pytest.approx((4.2 / 3.7 - 1, 4.2 / 3.7 - 1))
    assert result.sequential_p_value == 0.0
    assert_no_nan_or_infinity(result)


def test_two_equal_constant_arms_have_a_sequential_p_value_of_one():
    result = compare("mean", *arms("mean", [2.0] * 400, [2.0] * 400))
    assert result.sequential_ci == (0.0, 0.0) and result.sequential_p_value == 1.0


def test_all_successes_in_both_arms_give_an_interval_around_zero_and_p_one():
    """Agresti-Caffo's variance stands in for the zero sample variance of each arm."""
    result = compare("binary", Moments(400, 400, 400), Moments(380, 380, 380))
    assert result.unavailable_reason is None
    assert result.diff == 0.0 and result.relative_lift == 0.0 and result.p_value == 1.0
    assert result.se == pytest.approx(math.sqrt(401 / 402**3 + 381 / 382**3))
    assert_no_nan_or_infinity(result)


def test_no_successes_against_all_successes_is_a_certain_difference():
    result = compare("binary", Moments(50, 0, 0), Moments(50, 50, 50))
    assert result.unavailable_reason == Reason.ZERO_CONTROL_MEAN
    assert result.diff == 1.0 and result.relative_lift is None
    assert result.p_value is not None and result.p_value < 1e-20
    lower, _ = result.sequential_ci
    assert lower > 0.8
    assert_no_nan_or_infinity(result)


@pytest.mark.parametrize("n", [20, 200, 5000])
def test_an_arm_without_successes_has_about_the_wald_variance_of_one_success(n):
    """The Agresti-Caffo floor at x = 0 is within (n / (n + 2))^3 of Wald's at x = 1."""
    floor = two_proportion(Moments(n, 0, 0), Moments(n, 0, 0)).control_se
    one = two_proportion(Moments(n, 1, 1), Moments(n, 0, 0)).control_se
    ratio = (floor / one) ** 2 * (n - 1) / n
    assert (n / (n + 2)) ** 3 <= ratio <= 1


@pytest.mark.parametrize("metric_type", METRIC_TYPES)
def test_zero_control_mean_keeps_the_difference_but_not_the_relative_change(metric_type):
    treatment = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    result = compare(metric_type, *arms(metric_type, [0.0] * 8, treatment))
    assert result.unavailable_reason == Reason.ZERO_CONTROL_MEAN
    assert result.diff == 0.375 and result.ci is not None and result.p_value is not None
    assert result.relative_lift is None and result.relative_ci is None
    assert result.sequential_relative_ci is None
    assert_no_nan_or_infinity(result)


def test_a_control_mean_too_small_to_divide_by_counts_as_zero():
    control = Moments(100, 1e-198, 1.0)  # values of +-0.1 that cancel out
    result = welch(control, Moments(100, 5.0, 2.0))
    assert result.unavailable_reason == Reason.ZERO_CONTROL_MEAN
    assert result.relative_ci is None and result.ci is not None
    assert_no_nan_or_infinity(result)


def test_an_all_zero_mean_treatment_has_a_relative_change_of_minus_one_without_interval():
    control = np.random.default_rng(6).normal(10.0, 2.0, size=100)
    result = welch(moments_of(control), moments_of([0.0] * 100))
    assert result.unavailable_reason == Reason.ZERO_VARIANCE
    assert result.relative_lift == -1.0 and result.relative_ci is None
    assert result.ci is not None


def test_a_ratio_without_denominator_says_no_denominator():
    control = RatioMoments(n=10, sum_x=0.0, sum_y=0.0, sum_xx=0.0, sum_yy=0.0, sum_xy=0.0)
    result = compare("ratio", control, ratio_moments_of([0.2, 0.4, 0.1], [1.0, 2.0, 1.0]))
    assert result.unavailable_reason == Reason.NO_DENOMINATOR
    assert result.diff is None and result.sequential_ci is None


def test_a_binary_count_above_the_users_is_a_store_defect():
    with pytest.raises(ValueError, match="binary"):
        two_proportion(Moments(10, 11, 11), Moments(10, 5, 5))


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5])
def test_alpha_outside_the_open_unit_interval_is_rejected(alpha):
    with pytest.raises(ValueError, match="alpha"):
        welch(Moments(10, 5.0, 7.0), Moments(10, 6.0, 9.0), alpha)


values = st.one_of(
    st.sampled_from([0.0, 1.0, 3.7, 1e-3]),
    st.floats(min_value=-1e4, max_value=1e4, allow_nan=False),
)


@given(
    st.lists(values, max_size=12),
    st.lists(values, max_size=12),
)
def test_any_mean_sample_gives_finite_figures_or_a_reason(control, treatment):
    result = compare("mean", moments_of(control), moments_of(treatment))
    assert_no_nan_or_infinity(result)
    assert_reason_iff_missing(result)


@given(st.lists(st.booleans(), max_size=12), st.lists(st.booleans(), max_size=12))
def test_any_binary_sample_gives_finite_figures_or_a_reason(control, treatment):
    result = compare("binary", moments_of(control), moments_of(treatment))
    assert_no_nan_or_infinity(result)
    assert_reason_iff_missing(result)


pairs = st.tuples(
    st.floats(min_value=0, max_value=1e3, allow_nan=False),
    st.sampled_from([0.0, 1.0, 2.0, 5.0]),
)


@given(st.lists(pairs, max_size=12), st.lists(pairs, max_size=12))
def test_any_ratio_sample_gives_finite_figures_or_a_reason(control, treatment):
    result = compare("ratio", *arms("ratio", control, treatment))
    assert_no_nan_or_infinity(result)
    assert_reason_iff_missing(result)


# --- the compare entry point ---------------------------------------------------------------------


def assert_same_fixed_figures(result: Comparison, expected: FixedResult) -> None:
    for field in dataclasses.fields(expected):
        assert getattr(result, field.name) == getattr(expected, field.name), field.name


def test_compare_uses_the_two_proportion_test_for_binary_metrics():
    rng = np.random.default_rng(7)
    control, treatment = moments_of(rng.random(300) < 0.3), moments_of(rng.random(310) < 0.35)
    result = compare("binary", control, treatment, 0.1)
    assert result.metric_type == "binary"
    assert_same_fixed_figures(result, two_proportion(control, treatment, 0.1))


def test_compare_uses_welch_for_mean_metrics():
    rng = np.random.default_rng(8)
    control, treatment = moments_of(rng.normal(5, 2, 300)), moments_of(rng.normal(5.4, 2, 310))
    result = compare("mean", control, treatment, 0.1)
    assert_same_fixed_figures(result, welch(control, treatment, 0.1))


def test_compare_uses_the_delta_method_for_ratio_metrics():
    rng = np.random.default_rng(9)
    control = ratio_moments_of(*ratio_sample(rng, 300, 0.01))
    treatment = ratio_moments_of(*ratio_sample(rng, 310, 0.012))
    result = compare("ratio", control, treatment, 0.1)
    assert_same_fixed_figures(result, delta_ratio(control, treatment, 0.1))


def test_compare_rejects_sums_that_do_not_fit_the_metric_type():
    moments = Moments(10, 5.0, 5.0)
    ratio = RatioMoments(10, 1.0, 10.0, 1.0, 10.0, 1.0)
    with pytest.raises(TypeError):
        compare("ratio", moments, moments)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        compare("mean", ratio, ratio)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="unknown metric type"):
        compare("median", moments, moments)  # type: ignore[call-overload]
