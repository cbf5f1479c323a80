"""Pure statistics from sufficient statistics: numbers in, numbers out, no I/O.

`compare` is the entry point for one treatment-versus-control pair of a metric; `harm_test`
judges a guardrail; `srm_test` (for reading) and `sequential_srm_test` (deciding the pause),
`holm` and the power functions cover the rest of the results document. The formulas, their
sources and the simulations that check them are in docs/statistics.md.
"""

from experiments.stats.comparison import Comparison, MetricType, compare
from experiments.stats.fixed import (
    DEFAULT_ALPHA,
    FixedResult,
    Reason,
    delta_ratio,
    two_proportion,
    welch,
)
from experiments.stats.guardrail import HarmTest, harm_test
from experiments.stats.moments import Moments, RatioMoments
from experiments.stats.multiple import holm
from experiments.stats.power import (
    minimum_detectable_effect,
    sequential_users_per_variant_for,
    users_per_variant_for,
)
from experiments.stats.sequential import (
    DEFAULT_TUNING_USERS,
    Direction,
    Verdict,
    always_valid_p_value,
    boundary_multiplier,
    confidence_sequence,
    constant_arm_users,
    harm_exceeds,
    mixture_rho_squared,
    one_sided_boundary_multiplier,
    relative_confidence_sequence,
    sequential_ci,
    sequential_p_value,
    sequential_relative_ci,
    verdict,
)
from experiments.stats.srm import SequentialSRMResult, SRMResult, sequential_srm_test, srm_test

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_TUNING_USERS",
    "Comparison",
    "Direction",
    "FixedResult",
    "HarmTest",
    "MetricType",
    "Moments",
    "RatioMoments",
    "Reason",
    "SRMResult",
    "SequentialSRMResult",
    "Verdict",
    "always_valid_p_value",
    "boundary_multiplier",
    "compare",
    "confidence_sequence",
    "constant_arm_users",
    "delta_ratio",
    "harm_exceeds",
    "harm_test",
    "holm",
    "minimum_detectable_effect",
    "mixture_rho_squared",
    "one_sided_boundary_multiplier",
    "relative_confidence_sequence",
    "sequential_ci",
    "sequential_p_value",
    "sequential_relative_ci",
    "sequential_srm_test",
    "sequential_users_per_variant_for",
    "srm_test",
    "two_proportion",
    "users_per_variant_for",
    "verdict",
    "welch",
]
