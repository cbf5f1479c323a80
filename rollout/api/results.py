"""Experiment results (`editor`, `release`): `GET /api/v1/experiments/{key}/results`.

One round trip reads the definition and the sufficient statistics; `experiments.analysis`
computes the typed results from them and `experiments.decision.decide` what the controller would
do now (`decision`), the same pure function the controller runs, so the two never disagree. This
is an edge: here the results become the JSON document (`experiments.results.to_json`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from experiments import analysis
from experiments.decision import decide
from experiments.model import Role
from experiments.results import to_json
from experiments.stats.power import DEFAULT_POWER
from rollout.api.routing import environment, environment_store, route, runtime

blueprint = Blueprint("results", __name__, url_prefix="/api/v1")

Interval = list[float]


class ResultsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    effect: float = Field(
        default=analysis.DEFAULT_RELATIVE_EFFECT,
        gt=0.0,
        le=10.0,
        description="relative change the power figures size the experiment for (0.05 = 5%)",
    )
    power: float = Field(default=DEFAULT_POWER, ge=0.5, lt=1.0, description="wanted power")


class SRM(BaseModel):
    p_value: float = Field(description="chi-square goodness of fit, valid at one look; for reading")
    ok: bool = Field(description="the sequential test's verdict, which decides the pause")
    sequential_p_value: float = Field(
        description="anytime-valid p-value of the split (Lindon and Malek 2022)"
    )
    level: float = Field(description="the sequential test's level: ok is sequential_p_value >= it")


class VariantUsers(BaseModel):
    users: int


class ArmFigures(BaseModel):
    users: int
    mean: float | None
    variance: float | None = Field(description="per-user variance the comparison uses")
    reason: str | None = Field(description="why a null figure is not available yet")


class AdjustedFigures(BaseModel):
    covariate: str
    theta: float | None = Field(description="cov(x, y) / var(x), pooled within the arms")
    control_mean: float | None
    treatment_mean: float | None
    diff: float | None
    ci: Interval | None
    relative_lift: float | None
    relative_ci: Interval | None
    p_value: float | None
    sequential_ci: Interval | None
    variance_reduction: float | None = Field(
        description="the share of the difference's variance the covariate removed"
    )
    reason: str | None = Field(
        description="why figures are null; ratio_not_adjusted for a ratio metric"
    )


class ComparisonFigures(BaseModel):
    variant: str
    baseline: str
    diff: float | None
    ci: Interval | None
    relative_lift: float | None
    relative_ci: Interval | None
    p_value: float | None
    adjusted_p_value: float | None = Field(
        description="Holm across primary and secondary metrics; a guardrail's raw p_value"
    )
    sequential_ci: Interval | None
    sequential_relative_ci: Interval | None
    sequential_p_value: float | None
    verdict: str = Field(description="better, worse or inconclusive")
    breached: bool | None = Field(
        description="guardrails: the one-sided always-valid test that the harm exceeds "
        "max_regression; null for other roles"
    )
    harm_bound: float | None = Field(
        description="guardrails: the always-valid bound of m_t - (1 +- max_regression) m_c"
    )
    reason: str | None
    adjusted: AdjustedFigures | None = Field(
        default=None,
        description="metrics with a covariate: CUPED's figures beside these (docs/statistics.md)",
    )


class PowerFigures(BaseModel):
    alpha: float
    power: float
    effect: float
    users_per_variant: int
    mde: float | None
    relative_mde: float | None
    users_per_variant_needed: int | None = Field(
        description="users each variant needs before the always-valid interval the controller "
        "uses detects the effect with the given power"
    )
    fixed_users_per_variant_needed: int | None = Field(
        description="the fixed-horizon figure, for one planned look"
    )
    reason: str | None


Bound = list[float | None]


class QuantileArm(BaseModel):
    model_config = ConfigDict(extra="allow")
    events: int
    estimate: float | None = Field(description="the metric's quantile of the events' values")
    ci: Bound | None = Field(description="fixed horizon; a null end is not bounded yet")
    sequential_ci: Bound | None = Field(description="always valid (Howard and Ramdas 2022)")


class QuantileComparison(BaseModel):
    variant: str
    baseline: str
    relative_change: float | None
    sequential_relative_ci: Bound | None
    breached: bool = Field(description="the quantile beyond max_regression of the control's")


class QuantileFigures(BaseModel):
    q: float
    variants: dict[str, QuantileArm] = Field(description="with p50, p95 and p99 for reading")
    comparisons: list[QuantileComparison]


class MetricResults(BaseModel):
    metric: str
    type: str
    role: str
    direction: str
    max_regression: float
    cap: float | None = Field(description="each user's total counts at most this much")
    variants: dict[str, ArmFigures]
    comparisons: list[ComparisonFigures]
    power: PowerFigures | None = Field(default=None, description="primary metrics only")
    quantile: QuantileFigures | None = Field(
        default=None, description="metrics with a quantile; a guardrail is judged on it"
    )


class SegmentFigures(BaseModel):
    value: str = Field(description="a declared value, or other")
    variants: dict[str, VariantUsers]
    metrics: list[MetricResults] = Field(description="a guardrail's breached: the segment's rule")


class SegmentDimension(BaseModel):
    attribute: str
    sequential_alpha: float = Field(description="the level of each segment's guardrail test")
    segments: list[SegmentFigures]


class Decision(BaseModel):
    model_config = ConfigDict(extra="allow")
    action: str
    reasons: list[str]


class Results(BaseModel):
    experiment: str
    environment: str
    status: str
    stage: int | None
    traffic: float
    as_of: float
    alpha: float
    sequential_alpha: float = Field(description="alpha over the comparisons that decide")
    srm: SRM
    variants: dict[str, VariantUsers]
    metrics: list[MetricResults]
    segments: list[SegmentDimension] | None = Field(
        default=None, description="experiments with declared segments"
    )
    decision: Decision


@route(
    blueprint, "/experiments/<key>/results", "GET",
    summary="Per-variant figures, comparisons, SRM, power and the controller's decision",
    roles=[Role.EDITOR, Role.RELEASE], query=ResultsQuery, response=Results, errors=[404],
)
def experiment_results(key: str, query: ResultsQuery) -> Any:
    rt = runtime()
    now = rt.now()
    snapshot = environment_store().events.snapshot(key)
    results = analysis.results(
        snapshot.experiment, snapshot.stats, now, effect=query.effect, power=query.power
    )
    document = to_json(results)
    document["decision"] = decide(snapshot.experiment, results, now).as_dict()
    document["environment"] = environment().name
    return document
