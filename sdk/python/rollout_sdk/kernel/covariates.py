"""The bounds of a user's CUPED covariates, which the service enforces and the SDKs check first.

The service refuses an exposure whose covariates break these bounds (experiments/model.py
`Covariates`), and a refused exposure loses its user from the analysis. So an SDK checks them
before it queues the exposure and drops a bad entry, never the exposure: the service reads a
missing covariate as 0, which keeps the adjustment unbiased (docs/statistics.md, CUPED). The
TypeScript SDK reproduces this check in sdk/js/src/covariates.ts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

MAX_COVARIATES = 10
COVARIATE_MAGNITUDE = 1e15
"""A covariate's largest size: sums of squares of such values stay finite in doubles."""
COVARIATE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True, slots=True)
class CheckedCovariates:
    """What of a caller's covariates is sent, and why each of the others is not."""

    accepted: dict[str, float] | None
    problems: tuple[str, ...]


def check_covariates(covariates: Mapping[str, object]) -> CheckedCovariates:
    """The covariates the service accepts, in a fresh dict (the caller may change theirs).

    More than `MAX_COVARIATES` names sends none: which of them the metrics adjust for is the
    service's to know, not the SDK's to guess."""
    if len(covariates) > MAX_COVARIATES:
        too_many = f"{len(covariates)} covariates given, at most {MAX_COVARIATES} are accepted"
        return CheckedCovariates(None, (too_many,))
    accepted: dict[str, float] = {}
    problems: list[str] = []
    for name, value in covariates.items():
        problem = _problem_of(name, value)
        if problem is not None:
            problems.append(problem)
        elif isinstance(value, int | float):  # always, once checked: it narrows the type
            accepted[name] = float(value)
    return CheckedCovariates(accepted or None, tuple(problems))


def _problem_of(name: object, value: object) -> str | None:
    if not isinstance(name, str) or not COVARIATE_NAME.match(name):
        return f"covariate name {name!r} is not a lower-case key ({COVARIATE_NAME.pattern})"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"covariate {name!r} is a {type(value).__name__}, not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return f"covariate {name!r} is {value}, not a finite number"
    if abs(value) > COVARIATE_MAGNITUDE:
        return f"covariate {name!r} is beyond ±{COVARIATE_MAGNITUDE:g}"
    return None
