"""Pure statistics from sufficient statistics: numbers in, numbers out, no I/O.

`compare` is the entry point for one treatment-versus-control pair of a metric; `harm_test`
judges a guardrail; `srm_test` (for reading) and `sequential_srm_test` (deciding the pause),
`holm` and the power functions cover the rest of the results document. The formulas, their
sources and the simulations that check them are in docs/statistics.md.

The names below are loaded on first use (PEP 562), not when the package is imported: the store
imports `experiments.stats.sufficient` for the running sums it builds, and that must not load
scipy, which only the tests themselves (`fixed`, `sequential`, ...) need.
"""

import importlib
from typing import Any

_MODULE_OF = {
    "Comparison": "experiments.stats.comparison",
    "DEFAULT_ALPHA": "experiments.stats.fixed",
    "DEFAULT_TUNING_USERS": "experiments.stats.sequential",
    "Direction": "experiments.stats.sequential",
    "FixedResult": "experiments.stats.fixed",
    "HarmTest": "experiments.stats.guardrail",
    "MetricType": "experiments.stats.comparison",
    "Moments": "experiments.stats.moments",
    "RatioMoments": "experiments.stats.moments",
    "Reason": "experiments.stats.fixed",
    "SRMResult": "experiments.stats.srm",
    "SequentialSRMResult": "experiments.stats.srm",
    "Verdict": "experiments.stats.sequential",
    "always_valid_p_value": "experiments.stats.sequential",
    "boundary_multiplier": "experiments.stats.sequential",
    "compare": "experiments.stats.comparison",
    "confidence_sequence": "experiments.stats.sequential",
    "constant_arm_users": "experiments.stats.sequential",
    "delta_ratio": "experiments.stats.fixed",
    "harm_exceeds": "experiments.stats.sequential",
    "harm_test": "experiments.stats.guardrail",
    "holm": "experiments.stats.multiple",
    "minimum_detectable_effect": "experiments.stats.power",
    "mixture_rho_squared": "experiments.stats.sequential",
    "one_sided_boundary_multiplier": "experiments.stats.sequential",
    "relative_confidence_sequence": "experiments.stats.sequential",
    "sequential_ci": "experiments.stats.sequential",
    "sequential_p_value": "experiments.stats.sequential",
    "sequential_relative_ci": "experiments.stats.sequential",
    "sequential_srm_test": "experiments.stats.srm",
    "sequential_users_per_variant_for": "experiments.stats.power",
    "srm_test": "experiments.stats.srm",
    "two_proportion": "experiments.stats.fixed",
    "users_per_variant_for": "experiments.stats.power",
    "verdict": "experiments.stats.sequential",
    "welch": "experiments.stats.fixed",
}
"""Which module defines each name this package exports."""

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    """Import the module that defines `name` the first time the package is asked for it."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
