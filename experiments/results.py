"""An experiment's results as typed values, and the one function that turns them into JSON.

`experiments.analysis.results` builds a `Results`; `decide`, the runner and the console read it
by attribute. Only an edge turns it into the contract's document of `GET /api/v1/experiments/
{key}/results`, with `to_json`: the HTTP answer, the timeline entry the runner stores, a figure
written into a history entry. Attribute names are the document's keys and fields are declared
in the document's order, so `to_json` is a walk, not a second description of the shape: a value
of this module becomes an object, an enum its value, a tuple a list, and a *section* (a field
declared with `metadata=SECTION`) is left out while it is None, as a metric shows `quantile`
only when it has one and `power` only when it is primary.

Adding a section (issue 15's `segments`, say): a frozen, slotted dataclass for it here, and on
the type it belongs to a field `segments: Segments | None = field(default=None,
metadata=SECTION)` after the existing ones; `analysis` fills it and `to_json` needs no change.
A document without it is byte for byte the one before (tests/unit/test_results_document.py).

No figure is NaN: one that cannot be computed yet is None and the entry's `reason` says why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from experiments.guardrail_standing import Standing
from experiments.model import Direction, MetricRole, MetricType, Status

if TYPE_CHECKING:
    # Annotations only: importing the statistics loads scipy, which reading results must not.
    from experiments.stats.fixed import Reason
    from experiments.stats.sequential import Verdict

Interval = tuple[float, float]
"""A two-sided interval with finite ends."""

Bounds = tuple[float | None, float | None]
"""An interval of a quantile; an end the values do not bound yet is None."""

SECTION: Mapping[str, bool] = {"section": True}
"""The metadata of a field left out of the document while it is None (a *section*)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SrmCheck:
    """Whether the users split as the weights say: `ok` is the sequential test's verdict at
    `level` (it decides the pause); `p_value` is the chi-square figure, for reading."""

    p_value: float
    ok: bool
    sequential_p_value: float
    level: float


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantUsers:
    users: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ArmSummary:
    """One variant's figures for one metric; `reason` says why a None figure is missing."""

    users: int
    mean: float | None
    variance: float | None
    reason: Reason | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Adjusted:
    """A comparison adjusted by CUPED for the metric's `covariate` (experiments/stats/cuped.py),
    beside the unadjusted figures, which the decisions keep reading.

    `variance_reduction` is the share of the difference's variance the covariate removed.
    `reason`: why figures are None (a `Reason` code, or `ratio_not_adjusted`: a ratio metric
    is not adjusted)."""

    covariate: str
    theta: float | None
    control_mean: float | None
    treatment_mean: float | None
    diff: float | None
    ci: Interval | None
    relative_lift: float | None
    relative_ci: Interval | None
    p_value: float | None
    sequential_ci: Interval | None
    variance_reduction: float | None
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """A treatment against the control on one metric (docs/measurement.md defines each figure).

    `breached`, `harm_bound` and `verdict_detail` are a guardrail's (None for other roles);
    a guardrail with a quantile is judged on it, so then they come from its quantile section.
    """

    variant: str
    baseline: str
    diff: float | None
    ci: Interval | None
    relative_lift: float | None
    relative_ci: Interval | None
    p_value: float | None
    adjusted_p_value: float | None
    sequential_ci: Interval | None
    sequential_relative_ci: Interval | None
    sequential_p_value: float | None
    verdict: Verdict
    breached: bool | None
    harm_bound: float | None
    verdict_detail: Standing | None
    reason: Reason | None
    adjusted: Adjusted | None = field(default=None, metadata=SECTION)


@dataclass(frozen=True, slots=True, kw_only=True)
class QuantileArm:
    """One variant's `q`-quantile with its fixed and always-valid intervals, and p50/p95/p99
    for reading."""

    events: int
    estimate: float | None
    ci: Bounds | None
    sequential_ci: Bounds | None
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class QuantileComparison:
    variant: str
    baseline: str
    relative_change: float | None
    sequential_relative_ci: Bounds | None
    breached: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class QuantileSection:
    q: float
    variants: Mapping[str, QuantileArm]
    comparisons: tuple[QuantileComparison, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerFigures:
    """A primary metric's planning figures (experiments.analysis.power_figures says each)."""

    alpha: float
    power: float
    effect: float
    users_per_variant: int
    mde: float | None
    relative_mde: float | None
    users_per_variant_needed: int | None
    fixed_users_per_variant_needed: int | None
    reason: Reason | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricResult:
    """One metric: its definition as the results show it, each variant, each comparison."""

    metric: str
    type: MetricType
    role: MetricRole
    direction: Direction
    max_regression: float
    cap: float | None
    variants: Mapping[str, ArmSummary]
    comparisons: tuple[Comparison, ...]
    quantile: QuantileSection | None = field(default=None, metadata=SECTION)
    power: PowerFigures | None = field(default=None, metadata=SECTION)

    def quantile_comparison(self, variant: str) -> QuantileComparison | None:
        """The quantile section's comparison of `variant`; None without a quantile."""
        if self.quantile is None:
            return None
        return next((c for c in self.quantile.comparisons if c.variant == variant), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentResult:
    """One segment's users and metric figures, computed as the experiment's are (no quantile,
    power or CUPED sections); a guardrail's `breached` is the per-segment rule's."""

    value: str
    variants: Mapping[str, VariantUsers]
    metrics: tuple[MetricResult, ...]

    def metric(self, key: str) -> MetricResult | None:
        return next((m for m in self.metrics if m.metric == key), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentDimension:
    """The segments of one declared attribute (the declared values, then `other`), judged at
    `sequential_alpha`, the per-segment level (experiments/stats/segments.py)."""

    attribute: str
    sequential_alpha: float
    segments: tuple[SegmentResult, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Results:
    """An experiment's results at `as_of`, computed from one snapshot of its sums."""

    experiment: str
    status: Status
    stage: int | None
    traffic: float
    as_of: float
    alpha: float
    sequential_alpha: float
    srm: SrmCheck
    variants: Mapping[str, VariantUsers]
    metrics: tuple[MetricResult, ...]
    segments: tuple[SegmentDimension, ...] | None = field(default=None, metadata=SECTION)

    def users(self) -> dict[str, int]:
        """Exposed users per variant."""
        return {key: variant.users for key, variant in self.variants.items()}

    def metric(self, key: str) -> MetricResult | None:
        return next((m for m in self.metrics if m.metric == key), None)


def to_json(value: Results | MetricResult | SrmCheck) -> dict[str, Any]:
    """The JSON document of `value` (the whole results, or one part an edge records)."""
    document: dict[str, Any] = _json(value)
    return document


PLAIN = frozenset({float, int, str, bool})
"""The types JSON holds as they are (an enum, a subclass of str, is not one of them)."""


def _json(value: Any) -> Any:
    kind = type(value)
    if value is None or kind in PLAIN:
        return value
    shape = _shape(kind)
    if shape is not None:
        # Most fields are plain figures: converted in place, not by a call each.
        return {
            name: item if item is None or type(item) in PLAIN else _json(item)
            for name, is_section in shape
            if (item := getattr(value, name)) is not None or not is_section
        }
    if kind is tuple or kind is list:
        return [item if type(item) in PLAIN else _json(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {key: _json(item) for key, item in value.items()}
    return value


SHAPES: dict[type, tuple[tuple[str, bool], ...] | None] = {}
"""Each type's `_shape`, read once a type: the document is built on every results request."""


def _shape(kind: type) -> tuple[tuple[str, bool], ...] | None:
    """A dataclass's fields in order, each with whether it is a section; None for a type that
    is not a dataclass."""
    if kind not in SHAPES:
        SHAPES[kind] = (
            tuple((f.name, f.metadata == SECTION) for f in dataclasses.fields(kind))
            if dataclasses.is_dataclass(kind)
            else None
        )
    return SHAPES[kind]
