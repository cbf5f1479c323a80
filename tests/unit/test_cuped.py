"""CUPED from running sums, checked against statsmodels OLS on the raw samples it summarises."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from experiments.stats.cuped import adjusted_comparison, pooled_theta
from experiments.stats.fixed import Reason
from experiments.stats.sequential import boundary_multiplier
from experiments.stats.sufficient import CovariateSums


def sums_of(x: np.ndarray, y: np.ndarray) -> CovariateSums:
    return CovariateSums(
        len(y),
        float(y.sum()),
        float((y * y).sum()),
        float(x.sum()),
        float((x * x).sum()),
        float((x * y).sum()),
    )


def ols(
    xc: np.ndarray, yc: np.ndarray, xt: np.ndarray, yt: np.ndarray, cov_type: str
) -> tuple[float, float]:
    """The treatment coefficient of `y ~ treatment + (x - mean x)` and its standard error."""
    x, y = np.r_[xc, xt], np.r_[yc, yt]
    treated = np.r_[np.zeros(len(yc)), np.ones(len(yt))]
    design = np.column_stack([np.ones_like(x), treated, x - x.mean()])
    fit = sm.OLS(y, design).fit(cov_type=cov_type)
    return float(fit.params[1]), float(fit.bse[1])


@pytest.mark.parametrize(("n_c", "n_t", "sd_t"), [(2000, 2000, 2.0), (1500, 2500, 4.0)])
def test_adjusted_difference_is_the_ols_treatment_coefficient(
    n_c: int, n_t: int, sd_t: float
) -> None:
    rng = np.random.default_rng(n_c + n_t)
    xc, xt = rng.gamma(2, 5, n_c), rng.gamma(2, 5, n_t)
    yc = 3 + 0.8 * xc + rng.normal(0, 2, n_c)
    yt = 3.3 + 0.8 * xt + rng.normal(0, sd_t, n_t)

    adjusted = adjusted_comparison([sums_of(xc, yc), sums_of(xt, yt)], 0, 1, 0.05)

    coefficient, _ = ols(xc, yc, xt, yt, "nonrobust")
    assert adjusted.diff == pytest.approx(coefficient, rel=1e-9)


@pytest.mark.parametrize(("n_c", "n_t", "sd_t"), [(2000, 2000, 2.0), (1500, 2500, 4.0)])
def test_adjusted_standard_error_is_the_robust_ols_one_to_a_thousandth(
    n_c: int, n_t: int, sd_t: float
) -> None:
    """Each arm keeps its own residual variance, as the heteroskedasticity-robust (HC2) standard
    error of the regression does; they differ by the uncertainty of theta, O(1/n)."""
    rng = np.random.default_rng(7 * n_c + n_t)
    xc, xt = rng.gamma(2, 5, n_c), rng.gamma(2, 5, n_t)
    yc = 3 + 0.8 * xc + rng.normal(0, 2, n_c)
    yt = 3.3 + 0.8 * xt + rng.normal(0, sd_t, n_t)

    adjusted = adjusted_comparison([sums_of(xc, yc), sums_of(xt, yt)], 0, 1, 0.05)

    _, robust_se = ols(xc, yc, xt, yt, "HC2")
    assert adjusted.se == pytest.approx(robust_se, rel=2e-3)


def test_theta_is_the_slope_pooled_within_the_arms() -> None:
    rng = np.random.default_rng(3)
    xc, xt = rng.normal(10, 3, 800), rng.normal(10, 3, 900)
    yc, yt = 2 * xc + rng.normal(0, 1, 800), 5 + 2 * xt + rng.normal(0, 1, 900)

    theta = pooled_theta([sums_of(xc, yc), sums_of(xt, yt)])

    centred_x = np.r_[xc - xc.mean(), xt - xt.mean()]
    centred_y = np.r_[yc - yc.mean(), yt - yt.mean()]
    assert theta == pytest.approx(centred_x @ centred_y / (centred_x @ centred_x), rel=1e-9)


def test_a_binary_metric_is_adjusted_like_a_mean_one() -> None:
    rng = np.random.default_rng(11)
    xc, xt = rng.poisson(5, 3000).astype(float), rng.poisson(5, 3000).astype(float)
    yc = (rng.random(3000) < 0.05 + 0.03 * xc / 5).astype(float)
    yt = (rng.random(3000) < 0.06 + 0.03 * xt / 5).astype(float)

    adjusted = adjusted_comparison([sums_of(xc, yc), sums_of(xt, yt)], 0, 1, 0.05)

    coefficient, robust_se = ols(xc, yc, xt, yt, "HC2")
    assert adjusted.diff == pytest.approx(coefficient, rel=1e-9)
    assert adjusted.se == pytest.approx(robust_se, rel=2e-3)
    assert adjusted.variance_reduction is not None and adjusted.variance_reduction > 0


def test_users_without_the_covariate_count_as_zero() -> None:
    """Half the users sent none (x = 0): they stay in n, and the estimate is still the OLS one
    with x = 0 for them."""
    rng = np.random.default_rng(5)
    xc, xt = rng.gamma(2, 5, 1000), rng.gamma(2, 5, 1000)
    yc, yt = xc + rng.normal(0, 1, 1000), 1 + xt + rng.normal(0, 1, 1000)
    xc[::2] = 0.0
    xt[::2] = 0.0

    adjusted = adjusted_comparison([sums_of(xc, yc), sums_of(xt, yt)], 0, 1, 0.05)

    coefficient, _ = ols(xc, yc, xt, yt, "nonrobust")
    assert adjusted.n == 2000
    assert adjusted.diff == pytest.approx(coefficient, rel=1e-9)


def test_a_covariate_that_never_varies_leaves_the_metric_unadjusted() -> None:
    rng = np.random.default_rng(9)
    yc, yt = rng.normal(10, 2, 500), rng.normal(11, 2, 500)
    zeros = np.zeros(500)

    adjusted = adjusted_comparison([sums_of(zeros, yc), sums_of(zeros, yt)], 0, 1, 0.05)

    assert adjusted.theta == 0.0
    assert adjusted.diff == pytest.approx(yt.mean() - yc.mean(), rel=1e-12)
    assert adjusted.variance_reduction == pytest.approx(0.0, abs=1e-12)


def test_an_arm_of_one_user_has_no_adjusted_figures() -> None:
    one = CovariateSums(1, 3.0, 9.0, 2.0, 4.0, 6.0)
    many = CovariateSums(10, 30.0, 100.0, 20.0, 50.0, 70.0)

    adjusted = adjusted_comparison([one, many], 0, 1, 0.05)

    assert adjusted.diff is None and adjusted.ci is None
    assert adjusted.reason is Reason.NOT_ENOUGH_USERS


def stable_habits(
    rng: np.random.Generator, users: int, lift: float
) -> tuple[np.ndarray, np.ndarray]:
    """Requests of the week before (x) and of the experiment's week (y) of users with a stable
    habit: a daily rate drawn per user (Gamma, mean 10, sd 7), Poisson counts around it."""
    rate = rng.gamma(2, 5, users)
    return rng.poisson(7 * rate).astype(float), rng.poisson(7 * rate * (1 + lift)).astype(float)


def test_stable_habits_keep_under_a_quarter_of_the_interval_width() -> None:
    """The measured width reduction that docs/statistics.md reports: 2000 users an arm, 50 runs."""
    rng = np.random.default_rng(2013)
    ratios = []
    for _ in range(50):
        xc, yc = stable_habits(rng, 2000, 0.0)
        xt, yt = stable_habits(rng, 2000, 0.02)
        adjusted = adjusted_comparison([sums_of(xc, yc), sums_of(xt, yt)], 0, 1, 0.05)
        assert adjusted.variance_reduction is not None
        ratios.append(np.sqrt(1 - adjusted.variance_reduction))
    assert 0.20 < float(np.median(ratios)) < 0.26


def test_adjusted_intervals_cover_the_true_difference() -> None:
    """Seeded coverage of the 95% adjusted interval: 400 experiments of stable habits."""
    rng = np.random.default_rng(42)
    covered = 0
    runs = 400
    for _ in range(runs):
        xc, yc = stable_habits(rng, 1000, 0.0)
        xt, yt = stable_habits(rng, 1000, 0.05)
        adjusted = adjusted_comparison([sums_of(xc, yc), sums_of(xt, yt)], 0, 1, 0.05)
        assert adjusted.ci is not None
        true_diff = 0.05 * 70.0  # 7 days x mean rate 10 x lift
        covered += adjusted.ci[0] <= true_diff <= adjusted.ci[1]
    assert covered / runs >= 0.92


def test_the_always_valid_adjusted_interval_is_the_sequential_boundary_times_the_se() -> None:
    rng = np.random.default_rng(17)
    xc, yc = stable_habits(rng, 1500, 0.0)
    xt, yt = stable_habits(rng, 1500, 0.05)

    adjusted = adjusted_comparison([sums_of(xc, yc), sums_of(xt, yt)], 0, 1, 0.05, 0.01)

    assert adjusted.se is not None and adjusted.diff is not None
    assert adjusted.sequential_ci is not None and adjusted.ci is not None
    half = boundary_multiplier(3000, 0.01) * adjusted.se
    assert adjusted.sequential_ci == pytest.approx((adjusted.diff - half, adjusted.diff + half))
    assert adjusted.sequential_ci[1] - adjusted.sequential_ci[0] > adjusted.ci[1] - adjusted.ci[0]
