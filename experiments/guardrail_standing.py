"""Where a guardrail stands, in the three words a release manager acts on.

`breached` is the controller's own figure (the one-sided always-valid test of the contrast,
experiments/stats/guardrail.py). Short of a breach, a guardrail is `within_tolerance` once its
always-valid relative interval (of the quantile, for a quantile guardrail) lies wholly short of
`max_regression` on the harmful side: the service is confident the harm, if any, is tolerated.
Otherwise, or with no interval yet (an unbounded end is null), it is `inconclusive`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Standing = Literal["breached", "within_tolerance", "inconclusive"]


def guardrail_standing(
    breached: bool,
    interval: Sequence[float | None] | None,
    direction: Literal["increase", "decrease"],
    max_regression: float,
) -> Standing:
    if breached:
        return "breached"
    if not interval:
        return "inconclusive"
    harmful = interval[1] if direction == "decrease" else _negated(interval[0])
    if harmful is not None and harmful <= max_regression:
        return "within_tolerance"
    return "inconclusive"


def _negated(value: float | None) -> float | None:
    return None if value is None else -value
