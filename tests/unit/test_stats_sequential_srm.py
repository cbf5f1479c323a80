"""The sequential sample-ratio test (Lindon and Malek 2022) that decides the pause.

Against scipy's Dirichlet-multinomial and multinomial on the same counts; by seeded simulation
over a week of evaluations every 10 s (60,480 looks), where the chi-square test at p < 0.001
pauses healthy experiments more and more often and the sequential one stays below its level;
and on a lost share of exposures, which it detects at a modest premium in users.

The simulations add one user an evaluation (a small experiment: 0.1 users a second), drawn as
one bit each, vectorised across experiments. Deciding every look by calling the test would cost
minutes, so the looks are judged on the test's boundary: for each total `n` the smallest count
of the larger arm at which `sequential_srm_test` is not ok (the Bayes factor of two equal
weights depends only on the larger count and grows with it). The boundary is computed with
scipy and checked against the real function on both sides at sampled `n`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from experiments.stats.srm import (
    DIRICHLET_CONCENTRATION,
    SEQUENTIAL_SRM_LEVEL,
    sequential_srm_test,
    srm_test,
)

WEEK_OF_10_S_LOOKS = 7 * 86400 // 10


@pytest.mark.parametrize(
    ("users", "weights"),
    [([510, 490], [0.5, 0.5]), ([300, 700], [0.5, 0.5]), ([2000, 3100, 4900], [2, 3, 5]),
     ([12, 0, 30], [1, 0, 3])],
)
def test_the_bayes_factor_is_scipys_dirichlet_multinomial_over_the_multinomial(
    users: list[int], weights: list[float]
) -> None:
    kept = [(u, w) for u, w in zip(users, weights, strict=True) if w > 0]
    counts = np.array([u for u, _ in kept])
    theta = np.array([w for _, w in kept], dtype=float) / sum(w for _, w in kept)
    n = int(counts.sum())
    log_bf = stats.dirichlet_multinomial.logpmf(
        counts, DIRICHLET_CONCENTRATION * theta, n
    ) - stats.multinomial.logpmf(counts, n, theta)
    result = sequential_srm_test(users, weights)
    assert result.p_value == pytest.approx(min(1.0, math.exp(-log_bf)), rel=1e-9)
    assert result.ok is (result.p_value >= SEQUENTIAL_SRM_LEVEL)


def test_the_documented_cases_match_the_chi_square_ones() -> None:
    assert sequential_srm_test([0, 0], [0.5, 0.5]).p_value == 1.0
    assert sequential_srm_test([40], [1.0]).ok
    assert not sequential_srm_test([10, 1], [1.0, 0.0]).ok
    assert sequential_srm_test([10, 0], [1.0, 0.0]).ok
    with pytest.raises(ValueError):
        sequential_srm_test([1, 2], [0.5])


def test_a_clear_mismatch_is_not_ok_and_a_fair_split_is() -> None:
    assert not sequential_srm_test([5300, 4700], [0.5, 0.5]).ok
    assert sequential_srm_test([5030, 4970], [0.5, 0.5]).ok


def _log_bayes_factor(larger: np.ndarray, n: np.ndarray) -> np.ndarray:
    """log BF of a 50/50 split with `larger` users in one arm, computed with scipy."""
    a = DIRICHLET_CONCENTRATION / 2
    return (
        special.gammaln(2 * a) - special.gammaln(2 * a + n)
        + special.gammaln(a + larger) + special.gammaln(a + n - larger)
        - 2 * special.gammaln(a) + n * math.log(2.0)
    )


def _pause_boundary(n: np.ndarray) -> np.ndarray:
    """For each total `n`, the smallest larger-arm count that pauses (`n + 1`: none does)."""
    low, high = (n + 1) // 2, n + 1
    target = math.log(1 / SEQUENTIAL_SRM_LEVEL)
    while (low < high).any():
        middle = (low + high) // 2
        pauses = (middle <= n) & (_log_bayes_factor(np.minimum(middle, n), n) >= target)
        high = np.where((low < high) & pauses, middle, high)
        low = np.where((low < high) & ~pauses, middle + 1, low)
    return low


def test_the_boundary_is_where_the_real_test_turns() -> None:
    n = np.arange(1, WEEK_OF_10_S_LOOKS + 1)
    boundary = _pause_boundary(n)
    for total in np.random.default_rng(0).choice(n[n > 20], size=60, replace=False):
        larger = int(boundary[total - 1])
        assert larger <= total
        assert not sequential_srm_test([larger, int(total) - larger], [0.5, 0.5]).ok
        assert sequential_srm_test([larger - 1, int(total) - larger + 1], [0.5, 0.5]).ok


def _first_pauses(share_kept: float, experiments: int, looks: int, seed: int) -> tuple:
    """First look (0-based, `looks` for never) at which each test would pause, with the
    treatment keeping `share_kept` of its exposures (1.0: a healthy experiment)."""
    n = np.arange(1, looks + 1)
    boundary = _pause_boundary(n)
    critical = special.chdtri(1, 0.001)
    p_treatment = share_kept / (1 + share_kept)
    rng = np.random.default_rng(seed)
    sequential, chi_square = [], []
    for _ in range(0, experiments, 100):
        treatment = np.cumsum(rng.random((100, looks)) < p_treatment, axis=1, dtype=np.int32)
        larger = np.maximum(treatment, n - treatment)
        for first, paused in (
            (sequential, larger >= boundary),
            (chi_square, (2 * treatment - n) ** 2 >= critical * n),
        ):
            first.append(np.where(paused.any(axis=1), paused.argmax(axis=1), looks))
    return np.concatenate(sequential), np.concatenate(chi_square)


def test_aa_over_a_week_of_10_s_looks_the_sequential_test_pauses_at_most_its_level() -> None:
    """1000 healthy experiments, 60,480 looks each. Measured: sequential 0.8% paused within the
    week (bound: level + 3 Monte-Carlo standard errors, 1.94%); chi-square at p < 0.001 on every
    look 0.6% within 46 looks, 1.5% within an hour, 3.6% within a day, 4.9% within the week."""
    sequential, chi_square = _first_pauses(1.0, 1000, WEEK_OF_10_S_LOOKS, seed=7)
    rate = float((sequential < WEEK_OF_10_S_LOOKS).mean())
    assert rate <= SEQUENTIAL_SRM_LEVEL + 3 * math.sqrt(0.01 * 0.99 / 1000)
    assert rate == pytest.approx(0.008)
    by = [float((chi_square < looks).mean()) for looks in (46, 360, 8640, WEEK_OF_10_S_LOOKS)]
    assert by == pytest.approx([0.006, 0.015, 0.036, 0.049])


def test_a_lost_tenth_of_the_treatments_exposures_is_detected_at_a_modest_premium() -> None:
    """The treatment loses 10% of its exposures (47.4% of users instead of 50%): both tests
    always detect it, the sequential one with a median of 1.24 times the chi-square's users
    (3996 against 3214 users in all)."""
    sequential, chi_square = _first_pauses(0.9, 200, 20_000, seed=8)
    assert (sequential < 20_000).all() and (chi_square < 20_000).all()
    premium = np.median(sequential) / np.median(chi_square)
    assert premium == pytest.approx(1.243, abs=0.001)


def test_the_chi_square_figure_is_still_scipys() -> None:
    counts = [5030, 4970]
    assert srm_test(counts, [0.5, 0.5]).p_value == pytest.approx(
        stats.chisquare(counts).pvalue, rel=1e-9
    )
