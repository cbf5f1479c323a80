"""Guardrails: the one-sided always-valid test of the harm contrast, and constant arms.

The scenarios of the audit (issue 15) run through the real `analysis.results` and `decide`: a
prompt that fails for every user against a control without errors is rolled back; one error
among 5000 against none is not; an exact doubling of cost per token is breached. The boundary is
checked against an independent numerical integral of its mixture, and its validity and its gain
by seeded simulations under continuous monitoring.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats

from experiments.analysis import SufficientStats, results
from experiments.decision import decide
from experiments.model import Experiment
from experiments.results import Comparison
from experiments.stats import Moments, RatioMoments, compare
from experiments.stats.guardrail import harm_test
from experiments.stats.sequential import (
    boundary_multiplier,
    constant_arm_users,
    mixture_rho_squared,
    one_sided_boundary_multiplier,
    relative_confidence_sequence,
)

T0 = 1_750_000_000.0


def guarded(metric_type: str, direction: str = "decrease", tolerance: float = 0.0) -> Experiment:
    """An experiment at its first stage whose only metric is one guardrail."""
    return Experiment.model_validate(
        {
            "key": "guarded",
            "name": "guarded",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "new", "weight": 0.5}],
            "control": "control",
            "metrics": [
                {
                    "key": "g",
                    "type": metric_type,
                    "role": "guardrail",
                    "direction": direction,
                    "max_regression": tolerance,
                }
            ],
            "rollout": {"stages": [{"traffic": 0.02, "min_duration_s": 3600}]},
            "status": "running",
            "revision": 1,
            "started_at": T0,
            "stage": 0,
            "stage_started_at": T0,
            "traffic": 0.02,
        }
    )


def decided(experiment: Experiment, control: object, treatment: object) -> tuple[Comparison, str]:
    users = (control.n, treatment.n)  # type: ignore[attr-defined]
    computed = results(experiment, SufficientStats(users, {"g": (control, treatment)}), T0 + 60)
    (comparison,) = computed.metrics[0].comparisons
    return comparison, decide(experiment, computed, T0 + 60).action


def test_every_user_failing_against_a_control_without_errors_rolls_back() -> None:
    comparison, action = decided(guarded("binary"), Moments(200, 0, 0), Moments(200, 200, 200))
    assert comparison.breached is True and comparison.sequential_relative_ci is None
    assert action == "rollback"


def test_one_error_in_5000_against_none_is_no_breach() -> None:
    comparison, action = decided(guarded("binary"), Moments(5000, 0, 0), Moments(5000, 1, 1))
    assert comparison.breached is False
    assert action == "hold"


def test_an_exact_doubling_of_cost_per_token_is_breached() -> None:
    """Every user pays exactly 2e-6 a token in control and 4e-6 in the treatment: no variance,
    but 500 users an arm rule out any kind of user making up 1% of an arm (alpha 0.05)."""
    tokens = np.arange(1, 501, dtype=float)

    def arm(price: float) -> RatioMoments:
        x = price * tokens
        sums = (x.sum(), tokens.sum(), (x * x).sum(), (tokens**2).sum(), (x * tokens).sum())
        return RatioMoments(500, *(float(total) for total in sums))

    comparison, action = decided(guarded("ratio", tolerance=0.5), arm(2e-6), arm(4e-6))
    assert comparison.breached is True and comparison.harm_bound > 0
    assert action == "rollback"


def test_constant_arms_with_too_few_users_are_not_judged() -> None:
    comparison, action = decided(
        guarded("mean"), Moments(100, 100.0, 100.0), Moments(100, 200.0, 400.0)
    )
    assert comparison.breached is False and comparison.harm_bound is None
    assert action == "hold"


def test_constant_arm_users_is_where_one_percent_of_unlike_users_would_have_shown() -> None:
    for alpha in (0.05, 0.0167, 0.001):
        n = constant_arm_users(alpha)
        assert 0.99**n <= alpha < 0.99 ** (n - 1)
    assert constant_arm_users(0.05) == 299


@pytest.mark.parametrize(("direction", "tolerance"), [("decrease", 0.1), ("increase", 0.05)])
def test_a_guardrail_that_should_increase_or_decrease_is_judged_on_its_harmful_side(
    direction: str, tolerance: float
) -> None:
    rng = np.random.default_rng(5)
    control = rng.normal(100.0, 10.0, size=2000)
    harmful = control * (1.3 if direction == "decrease" else 0.7)
    helpful = control * (0.7 if direction == "decrease" else 1.3)
    for treatment, expected in ((harmful, True), (helpful, False)):
        result = compare("mean", moments(control), moments(treatment))
        test = harm_test(result, direction, tolerance, 0.05)  # type: ignore[arg-type]
        assert test is not None and test.breached is expected


@given(
    m_c=st.floats(0.5, 10.0),
    lift=st.floats(-0.5, 1.5),
    se_c=st.floats(0.001, 0.5),
    se_t=st.floats(0.001, 0.5),
    tolerance=st.floats(0.0, 0.5),
)
def test_where_fieller_exists_the_two_sided_contrast_agrees_with_it(
    m_c: float, lift: float, se_c: float, se_t: float, tolerance: float
) -> None:
    """Fieller's lower end exceeds the tolerance exactly when the contrast at the tolerance is
    beyond the two-sided boundary: the contrast test extends the relative interval, no more."""
    m_t = m_c * (1 + lift)
    n, alpha = 2000, 0.05
    c = boundary_multiplier(n, alpha)
    fieller = relative_confidence_sequence(m_c, se_c, m_t, se_t, n, alpha)
    if fieller is None:
        return
    factor = 1 + tolerance
    contrast_lower = m_t - factor * m_c - c * math.sqrt(se_t**2 + factor**2 * se_c**2)
    if abs(contrast_lower) > 1e-9 * (m_t + m_c):
        assert (fieller[0] > tolerance) == (contrast_lower > 0)


@pytest.mark.parametrize("alpha", [0.05, 0.0167, 0.001])
@pytest.mark.parametrize("n", [10, 400, 5000, 100_000])
def test_the_one_sided_boundary_solves_its_mixture_and_is_below_the_two_sided_one(
    alpha: float, n: int
) -> None:
    """An independent computation of the half-normal mixture by quadrature: at `c_1(n)` it is
    exactly 1 / alpha (Howard et al. 2021, eq. 14)."""
    c1 = one_sided_boundary_multiplier(n, alpha)
    assert stats.norm.ppf(1 - alpha) < c1 < boundary_multiplier(n, alpha)
    # With the statistic standardised to z = S / sqrt(V), the drift lambda has the half-normal
    # density of scale sqrt(k) where k = n rho^2 (lambda in units of 1 / sqrt(V)).
    k = n * mixture_rho_squared(alpha)
    scale = math.sqrt(k)
    mixture, _ = integrate.quad(
        lambda lam: math.exp(lam * c1 - lam * lam / 2) * 2 * stats.norm.pdf(lam / scale) / scale,
        0,
        math.inf,
    )
    assert mixture == pytest.approx(1 / alpha, rel=1e-6)


def moments(values: np.ndarray) -> Moments:
    return Moments(len(values), float(values.sum()), float((values * values).sum()))


def _first_breach_looks(
    control_p: float, treatment_p: float, one_sided: bool, experiments: int, seed: int
) -> np.ndarray:
    """The first look at which a binary guardrail (harm by increase, tolerance 0) fires, every
    250 users an arm to 5000; 10**9 for never. The test of the contrast is computed here from
    the real `compare` and either boundary, at alpha 0.05."""
    rng = np.random.default_rng(seed)
    looks = np.arange(250, 5001, 250)
    shape = (experiments, len(looks))
    control = np.cumsum(rng.binomial(250, control_p, size=shape), axis=1)
    treatment = np.cumsum(rng.binomial(250, treatment_p, size=shape), axis=1)
    first = np.full(experiments, 10**9)
    for e in range(experiments):
        for j, n in enumerate(looks):
            result = compare("binary", Moments(int(n), control[e, j], control[e, j]),
                             Moments(int(n), treatment[e, j], treatment[e, j]))
            if one_sided:
                test = harm_test(result, "decrease", 0.0, 0.05)
                fired = test is not None and test.breached
            else:
                assert result.se is not None
                c = boundary_multiplier(2 * int(n), 0.05)
                fired = result.diff is not None and result.diff - c * result.se > 0
            if fired:
                first[e] = j
                break
    return first


def test_aa_the_one_sided_guardrail_fires_falsely_in_at_most_alpha_of_experiments() -> None:
    """A/A at a 1% error rate, 400 experiments of 20 looks: measured 0.75% (the two-sided
    boundary: 0%; bound: alpha + 3 Monte-Carlo standard errors, 8.3%)."""
    first = _first_breach_looks(0.01, 0.01, one_sided=True, experiments=400, seed=11)
    rate = float((first < 10**9).mean())
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 400)
    assert rate == pytest.approx(0.0075)


def test_aa_at_a_rare_error_rate_the_agresti_caffo_floor_fires_no_false_breach() -> None:
    """A/A at 0.1% errors, where most looks have arms without any error (the Agresti-Caffo
    variance stands in for theirs): 400 experiments of 20 looks, measured 0%."""
    first = _first_breach_looks(0.001, 0.001, one_sided=True, experiments=400, seed=13)
    assert (first < 10**9).sum() == 0


def test_the_one_sided_boundary_rolls_a_doubled_error_rate_back_sooner() -> None:
    """1% -> 2% errors: on the same data the one-sided test never fires later than the
    two-sided one; measured: by 5000 users an arm in 94% against 88%, median first at 2250
    users an arm against 2500."""
    one = _first_breach_looks(0.01, 0.02, one_sided=True, experiments=200, seed=12)
    two = _first_breach_looks(0.01, 0.02, one_sided=False, experiments=200, seed=12)
    assert (one <= two).all()
    assert float((one < 10**9).mean()) == pytest.approx(0.94)
    assert float((two < 10**9).mean()) == pytest.approx(0.88)
    assert (np.median(one), np.median(two)) == (8, 9)
