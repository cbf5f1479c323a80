"""The running sums that results are computed from, as the store reads them; pure, no scipy.

These are the types the store builds from Redis and the statistics consume. They sit apart from
the tests themselves so `experiments.store` can build them without loading scipy (which
`experiments.stats.fixed` and `experiments.stats.sequential` need and the store never does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from experiments.stats.moments import Moments, RatioMoments
from experiments.stats.sketch import QuantileSketch

MetricStats = Moments | RatioMoments


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
