"""The running sums that results are computed from, as the store reads them; pure, no scipy.

These are the types the store builds from Redis and the statistics consume. They sit apart from
the tests themselves so `experiments.store` can build them without loading scipy (which
`experiments.stats.fixed` and `experiments.stats.sequential` need and the store never does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from experiments.stats.moments import Moments, RatioMoments
from experiments.stats.sketch import QuantileSketch

MetricStats = Moments | RatioMoments


@dataclass(frozen=True, slots=True)
class CovariateSums:
    """One arm's running sums of the per-user metric `y` and covariate `x`.

    `y` is what the metric counts for the user (1 or 0 for a binary metric, the capped total for
    a mean one), so `n`, `sum_y` and `sum_yy` are the metric's own sums."""

    n: int
    sum_y: float
    sum_yy: float
    sum_x: float
    sum_xx: float
    sum_xy: float

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError(f"n must be >= 0, got {self.n}")
        sums = (self.sum_y, self.sum_yy, self.sum_x, self.sum_xx, self.sum_xy)
        if not all(math.isfinite(value) for value in sums):
            raise ValueError("running sums must be finite")

    def centred(self) -> tuple[float, float, float]:
        """`S_xx`, `S_xy`, `S_yy` about the arm's own means (0.0 for an arm with no user); the
        squares are never negative, whatever the rounding of the raw sums."""
        if self.n == 0:
            return 0.0, 0.0, 0.0
        s_xx = max(0.0, self.sum_xx - self.sum_x * self.sum_x / self.n)
        s_xy = self.sum_xy - self.sum_x * self.sum_y / self.n
        s_yy = max(0.0, self.sum_yy - self.sum_y * self.sum_y / self.n)
        return s_xx, s_xy, s_yy


@dataclass(frozen=True, slots=True)
class SufficientStats:
    """What results are computed from: per variant (in the order of the experiment's variants)
    the exposed users, and per metric the running sums its statistics need (`Moments` for
    binary and mean, `RatioMoments` for ratio). Every exposed user is in `n`, with or without
    events. `experiments.store.events` reads them from Redis."""

    users: tuple[int, ...]
    metrics: Mapping[str, tuple[MetricStats, ...]]
    sketches: Mapping[str, tuple[QuantileSketch, ...]] = field(default_factory=dict)
    """Per metric with a `quantile`, per variant: the sketch of its events' values."""
    covariates: Mapping[str, tuple[CovariateSums, ...]] = field(default_factory=dict)
    """Per binary or mean metric with a `covariate`, per variant: the sums CUPED needs
    (experiments/stats/cuped.py)."""
    segments: tuple[tuple[SufficientStats, ...], ...] = ()
    """Per declared segment dimension, per segment (the declared values in order, then
    `other`): the users and metric sums of that segment's users alone (no sketches, no
    covariates); experiments/stats/segments.py."""
