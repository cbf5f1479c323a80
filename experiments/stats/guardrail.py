"""Whether a guardrail is breached: a one-sided always-valid test of the harm contrast.

A guardrail tolerates a relative harm of `max_regression`; for a metric that should decrease
(latency, cost, errors) it is breached when the service is confident that

    m_t > (1 + max_regression) m_c,   that is   D = m_t - (1 + max_regression) m_c > 0

and for one that should increase when `m_t < (1 - max_regression) m_c`. `D` is a difference of
two independent means with variance `v_t + f^2 v_c` (`f` the factor of `m_c`, `v` each arm's
squared standard error), so the asymptotic confidence sequence covers it at every sample size
(Waudby-Smith et al., 2024). For `m_c >= 0`, `D > 0` holds whenever the relative change exceeds
the tolerance, so rejecting `D <= 0` rejects every relative change `r <= max_regression` at once.

Why the contrast and not the relative interval: where Fieller's interval exists the two agree
(its lower end exceeds `max_regression` exactly when the two-sided test of `D` rejects), but
Fieller's interval does not exist while the control mean cannot be told from zero (no error at
all among the control's users), and a treatment that fails for every user must still be caught
then; `D` exists whatever the control mean. And the rule only ever acts on harm, so the boundary
is the one-sided `one_sided_boundary_multiplier`, which crosses sooner than the two-sided one at
the same level.

A metric whose control estimate is negative has the factor's tolerance applied to `|m_c|`
(`f = 1 - max_regression` for harm by increase): valid when the true control mean has the sign
of its estimate, always so for non-negative metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from experiments.stats.fixed import Estimates
from experiments.stats.sequential import (
    DEFAULT_TUNING_USERS,
    Direction,
    constant_difference,
    one_sided_boundary_multiplier,
)


@dataclass(frozen=True, slots=True)
class HarmTest:
    """The harm contrast `D`, its one-sided always-valid bound and whether it is breached.

    `bound` is the always-valid lower bound of `D` for harm by increase, the upper bound for harm
    by decrease; `breached` is `bound > 0` (resp. `< 0`).
    """

    contrast: float
    bound: float
    breached: bool


def harm_test(
    result: Estimates,
    direction: Direction,
    max_regression: float,
    alpha: float,
    tuning_users: int = DEFAULT_TUNING_USERS,
) -> HarmTest | None:
    """The one-sided always-valid test of a guardrail's harm contrast at level `alpha`.

    `direction` is the metric's good direction. None while an arm has no estimate or no
    standard error; two constant arms with enough users (`sequential.constant_difference`)
    are compared exactly, with a bound equal to the contrast.
    """
    if max_regression < 0:
        raise ValueError(f"max_regression must be >= 0, got {max_regression}")
    m_c, m_t = result.control_mean, result.treatment_mean
    se_c, se_t = result.control_se, result.treatment_se
    if m_c is None or m_t is None or se_c is None or se_t is None:
        return None
    harm_up = direction == "decrease"
    tolerance = max_regression if (m_c >= 0) == harm_up else -max_regression
    factor = 1 + tolerance
    contrast = m_t - factor * m_c
    if se_c == 0 and se_t == 0:
        if constant_difference(result, alpha) is None:
            return None
        return HarmTest(contrast, contrast, bool(contrast > 0 if harm_up else contrast < 0))
    n = result.n_control + result.n_treatment
    half_width = one_sided_boundary_multiplier(n, alpha, tuning_users) * math.sqrt(
        se_t * se_t + factor * factor * se_c * se_c
    )
    if harm_up:
        bound = contrast - half_width
        return HarmTest(contrast, bound, bool(bound > 0))
    bound = contrast + half_width
    return HarmTest(contrast, bound, bool(bound < 0))
