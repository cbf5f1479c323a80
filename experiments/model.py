"""The domain's data: what an experiment is, as product teams define it and as the service keeps it.

These pydantic models are the single source of truth for validation at the HTTP edge, for the
OpenAPI document, and for what the store persists. The core takes them as already-valid values.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)

from experiments.json_bounds import check_json
from experiments.llm_metrics import expand_presets
from experiments.timestamps import as_rfc3339, described
from rollout_sdk.kernel.covariates import COVARIATE_MAGNITUDE, MAX_COVARIATES
from rollout_sdk.kernel.hashing import MAX_SHARDS

KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
KEY_RE = re.compile(KEY_PATTERN)
Key = Annotated[str, Field(pattern=KEY_PATTERN, description="lower-case key, 1 to 64 characters")]
PROMPT_REF_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}@[a-z0-9][a-z0-9_-]{0,63}$"


# Length-constrained strings are validated by pydantic-core as Rust strings, which also refuses
# lone surrogates (JSON can carry them; Redis keys cannot): tests/api/test_events_api.py.
UnitId = Annotated[str, Field(min_length=1, max_length=256, description="the user id")]

EventId = Annotated[
    str,
    Field(min_length=1, max_length=128, description="unique per event: a resent id counts once"),
]



def _bounded_json(value: Any) -> Any:
    """Refuse a free JSON value beyond the bounds, before pydantic walks it (json_bounds)."""
    check_json(value)
    return value


FreeJson = Annotated[
    dict[str, Any],
    BeforeValidator(_bounded_json),
    Field(description="free JSON object: at most 32 levels deep, 64 KiB, valid Unicode"),
]
"""A free JSON object from a client; bounded so that no one value can break the service."""

Covariates = Annotated[
    dict[
        Key,
        Annotated[
            float,
            Field(
                strict=True, allow_inf_nan=False, ge=-COVARIATE_MAGNITUDE, le=COVARIATE_MAGNITUDE
            ),
        ],
    ],
    Field(
        max_length=MAX_COVARIATES,
        description="numbers measured before the exposure (e.g. the user's requests of the last"
        " week) that metrics declaring them as `covariate` are adjusted for (CUPED); kept from"
        " the user's first exposure",
    ),
]
"""What an application may send with an exposure for CUPED: up to 10 finite numbers by name."""

# Numbers and flags are strict at the edge: `"traffic": true`, `"traffic": "1"` and
# `"track": 0` are mistakes to refuse, not values to coerce.
StrictFlag = Annotated[bool, Field(strict=True)]

MAX_VARIANTS = 20
MAX_METRICS = 50
MAX_STAGES = 20
WEIGHT_TOLERANCE = 1e-9


class Strict(BaseModel):
    """Unknown fields are an error: a typo in a definition must not pass silently."""

    model_config = ConfigDict(extra="forbid")


class Status(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    CONCLUDED = "concluded"
    ROLLED_BACK = "rolled_back"


ACTIVE_STATUSES = frozenset({Status.RUNNING, Status.PAUSED})
FINAL_STATUSES = frozenset({Status.CONCLUDED, Status.ROLLED_BACK})


class MetricType(StrEnum):
    BINARY = "binary"
    MEAN = "mean"
    RATIO = "ratio"


class MetricRole(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    GUARDRAIL = "guardrail"


DECISION_ROLES = frozenset({MetricRole.PRIMARY, MetricRole.GUARDRAIL})
"""The roles of the metrics a ramp decision rests on: the controller reads them, and the
analysis corrects its always-valid intervals for as many comparisons."""


class Direction(StrEnum):
    INCREASE = "increase"
    DECREASE = "decrease"


class Variant(Strict):
    key: Key
    weight: float = Field(ge=0.0, le=1.0, strict=True)
    prompt: str | None = Field(
        default=None,
        pattern=PROMPT_REF_PATTERN,
        max_length=129,
        description="a prompt version as name@version, or name@label (resolved when defined)",
    )
    config: FreeJson | None = Field(default=None, description="free JSON for the application")
    description: str | None = Field(default=None, max_length=2000)


class Metric(Strict):
    key: Key
    type: MetricType
    role: MetricRole = MetricRole.SECONDARY
    direction: Direction = Direction.INCREASE
    max_regression: float = Field(
        default=0.0, ge=0.0, le=100.0, strict=True, description="tolerated relative harm"
    )
    cap: float | None = Field(
        default=None,
        gt=0.0,
        le=1e15,
        strict=True,
        description="each user's total (mean) or numerator (ratio) counts at most this much",
    )
    quantile: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        strict=True,
        description="mean metrics: judge this quantile of the events' values (0.95 for p95)",
    )
    covariate: Key | None = Field(
        default=None,
        description="the exposure's covariate (`covariates` of assign and exposures) CUPED"
        " adjusts binary and mean metrics for, e.g. the user's requests of the last week (a"
        " ratio metric's results say it is not adjusted)",
    )

    @model_validator(mode="after")
    def _cap_needs_a_total(self) -> Metric:
        # A binary metric counts a user once whatever the values, so there is nothing to cap.
        if self.cap is not None and self.type is MetricType.BINARY:
            raise ValueError("cap applies to mean and ratio metrics, not binary ones")
        # A quantile is of the events' values, which only a mean metric's events are.
        if self.quantile is not None and self.type is not MetricType.MEAN:
            raise ValueError("quantile applies to mean metrics")
        return self


MetricList = Annotated[list[Metric], BeforeValidator(expand_presets)]
"""Metrics as declared: `{"preset": "llm"}` entries stand for the standard LLM metrics."""


MAX_SEGMENT_DIMENSIONS = 3
MAX_SEGMENT_VALUES = 20
OTHER_SEGMENT = "other"
"""The segment of every user whose attribute is none of the declared values (or absent)."""


class Segment(Strict):
    """A dimension results are broken down by: an exposure attribute and its declared values.

    Declared values bound the number of segments (at most 21 a dimension with `other`), so the
    store keeps a few sums per segment and never a set of the values seen."""

    attribute: str = Field(min_length=1, max_length=200, description="an exposure attribute")
    values: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1,
        max_length=MAX_SEGMENT_VALUES,
        description="the values with a segment of their own; every other value is `other`",
    )

    @field_validator("values")
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("segment values must be unique")
        if OTHER_SEGMENT in values:
            raise ValueError(f"{OTHER_SEGMENT!r} is the segment of the undeclared values")
        return values


def _distinct_attributes(segments: list[Segment]) -> list[Segment]:
    attributes = [s.attribute for s in segments]
    if len(set(attributes)) != len(attributes):
        raise ValueError("each attribute is one segment dimension: attributes must be unique")
    return segments


Segments = Annotated[
    list[Segment],
    AfterValidator(_distinct_attributes),
    Field(max_length=MAX_SEGMENT_DIMENSIONS),
]


class Stage(Strict):
    traffic: float = Field(gt=0.0, le=1.0, strict=True)
    min_duration_s: int = Field(default=0, ge=0, le=365 * 86400, strict=True)
    min_users_per_variant: int = Field(default=0, ge=0, le=10**9, strict=True)


class RolloutPlan(Strict):
    stages: list[Stage] = Field(min_length=1, max_length=MAX_STAGES)
    auto_advance: StrictFlag = True
    auto_rollback: StrictFlag = True
    auto_ship: StrictFlag = False

    @field_validator("stages")
    @classmethod
    def _increasing(cls, stages: list[Stage]) -> list[Stage]:
        for before, after in pairwise(stages):
            if after.traffic <= before.traffic:
                raise ValueError("stage traffic must increase from one stage to the next")
        return stages


class ExperimentFields(Strict):
    """What a product team may define; shared by create and by the stored experiment."""

    key: Key
    name: str = Field(min_length=1, max_length=200)
    owner: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    variants: list[Variant] = Field(min_length=2, max_length=MAX_VARIANTS)
    control: Key
    traffic: float = Field(default=1.0, ge=0.0, le=1.0, strict=True)
    targeting: FreeJson | None = None
    layer: Key | None = None
    layer_share: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        strict=True,
        description="share of the layer this experiment takes; default half its largest free range",
    )
    metrics: MetricList = Field(default_factory=list, max_length=MAX_METRICS)
    segments: Segments = Field(default_factory=list)
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5, strict=True)
    rollout: RolloutPlan | None = None
    review: StrictFlag = False
    webhooks: list[Annotated[str, Field(pattern=r"^https?://", max_length=2000)]] = Field(
        default_factory=list, max_length=10
    )
    shards: int = Field(
        default=1,
        ge=1,
        le=MAX_SHARDS,
        strict=True,
        description="storage shards of the per-user state, fixed at creation: one experiment's"
        " ingestion spreads over up to this many Redis Cluster masters (docs/scaling.md)",
    )

    # Field validators rather than one model validator, so a 422 names the field that is wrong.
    @field_validator("variants")
    @classmethod
    def _variants(cls, variants: list[Variant]) -> list[Variant]:
        check_variant_keys_and_weights(variants)
        return variants

    @field_validator("control")
    @classmethod
    def _control(cls, control: str, info: ValidationInfo) -> str:
        variants = info.data.get("variants")
        if variants is not None and control not in [v.key for v in variants]:
            raise ValueError(f"control {control!r} is not one of the variants")
        return control

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, metrics: list[Metric]) -> list[Metric]:
        keys = [m.key for m in metrics]
        if len(set(keys)) != len(keys):
            raise ValueError("metric keys must be unique")
        return metrics

    @field_validator("targeting")
    @classmethod
    def _targeting(cls, targeting: dict[str, Any] | None) -> dict[str, Any] | None:
        if targeting is not None:
            from rollout_sdk.kernel.targeting import validate_targeting

            validate_targeting(targeting)
        return targeting


def check_variant_keys_and_weights(variants: list[Variant]) -> None:
    keys = [v.key for v in variants]
    if len(set(keys)) != len(keys):
        raise ValueError("variant keys must be unique")
    total = math.fsum(v.weight for v in variants)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise ValueError(f"variant weights must sum to 1 (they sum to {total!r})")


def check_variants(variants: list[Variant], control: str) -> None:
    """Raise ValueError unless keys are unique, weights sum to 1 and control is a variant."""
    check_variant_keys_and_weights(variants)
    if control not in [v.key for v in variants]:
        raise ValueError(f"control {control!r} is not one of the variants")


class ExperimentCreate(ExperimentFields):
    """The body of POST /api/v1/experiments."""


NOT_NULLABLE = (
    "name", "traffic", "variants", "control", "metrics", "segments", "alpha", "review", "webhooks"
)
"""The PATCH fields an experiment always has: `null` is refused rather than stored."""


class ExperimentPatch(Strict):
    """The body of PATCH: absent fields are left alone; some only change in draft."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    owner: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    traffic: float | None = Field(default=None, ge=0.0, le=1.0, strict=True)
    targeting: FreeJson | None = None
    variants: list[Variant] | None = Field(default=None, min_length=2, max_length=MAX_VARIANTS)
    control: Key | None = None
    metrics: MetricList | None = Field(default=None, max_length=MAX_METRICS)
    segments: Segments | None = None
    layer: Key | None = None
    layer_share: float | None = Field(default=None, gt=0.0, le=1.0, strict=True)
    alpha: float | None = Field(default=None, gt=0.0, lt=0.5, strict=True)
    rollout: RolloutPlan | None = None
    review: StrictFlag | None = None
    webhooks: list[Annotated[str, Field(pattern=r"^https?://", max_length=2000)]] | None = Field(
        default=None, max_length=10
    )
    reason: str | None = Field(default=None, max_length=2000, description="why, for the history")
    shards: int | None = Field(default=None, description="refused: fixed at creation")

    @field_validator("shards", mode="before")
    @classmethod
    def _shards_fixed(cls, value: Any) -> Any:
        """The shard count decides where every user's data lives: changing it would lose them."""
        raise ValueError(
            "shards is fixed when the experiment is created; create a new experiment for another"
            " shard count"
        )

    @field_validator(*NOT_NULLABLE, mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        """`null` here would clear a field every experiment must have; absent keeps it."""
        if value is None:
            raise ValueError("may not be null: leave the field out to keep its value")
        return value

    @field_validator("targeting")
    @classmethod
    def _targeting(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            from rollout_sdk.kernel.targeting import validate_targeting

            validate_targeting(value)
        return value


DRAFT_ONLY_FIELDS = frozenset(
    {"variants", "control", "metrics", "segments", "layer", "layer_share"}
)
# Fixed when the experiment is created, whatever its status: the users' state is laid out by it.
CREATION_ONLY_FIELDS = frozenset({"shards"})


class ResolvedPrompt(BaseModel):
    """A variant's prompt reference, pinned to one immutable version when it is defined."""

    name: str
    version: int


class PendingChange(BaseModel):
    """A change waiting for a second pair of eyes (four-eyes review)."""

    id: str
    kind: Literal["start", "traffic", "advance", "label"]
    proposed_by: str
    proposed_at: float = Field(description=described("proposed_at"))
    traffic: float | None = None
    stage: int | None = None
    reason: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def proposed_at_rfc3339(self) -> str | None:
        """`proposed_at` as an RFC 3339 string in UTC (e.g. 2026-12-01T21:39:08.123Z)."""
        return as_rfc3339(self.proposed_at)


class Experiment(ExperimentFields):
    """An experiment as the service keeps it: the definition plus its lifecycle state."""

    model_config = ConfigDict(extra="ignore")

    status: Status = Status.DRAFT
    revision: int = 0
    seed: str = ""
    created_at: float = Field(default=0.0, description=described("created_at"))
    created_by: str | None = None
    updated_at: float = Field(default=0.0, description=described("updated_at"))
    started_at: float | None = Field(default=None, description=described("started_at"))
    ended_at: float | None = Field(default=None, description=described("ended_at"))
    stage: int | None = None
    stage_started_at: float | None = Field(
        default=None, description=described("stage_started_at")
    )
    winner: str | None = None
    rollback_reason: str | None = None
    archived_at: float | None = Field(
        default=None,
        description="when it was archived (hidden from lists and SDKs), None while it is not; "
        + described("archived_at"),
    )
    archived_by: str | None = Field(default=None, description="the key that archived it")
    layer_range: tuple[float, float] | None = None
    prompts: dict[str, ResolvedPrompt] = Field(
        default_factory=dict, description="variant key -> pinned prompt version"
    )
    pending: list[PendingChange] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def created_at_rfc3339(self) -> str | None:
        """`created_at` as an RFC 3339 string in UTC (e.g. 2026-12-01T21:39:08.123Z)."""
        return as_rfc3339(self.created_at)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def updated_at_rfc3339(self) -> str | None:
        """`updated_at` as an RFC 3339 string in UTC (e.g. 2026-12-01T21:39:08.123Z)."""
        return as_rfc3339(self.updated_at)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def started_at_rfc3339(self) -> str | None:
        """`started_at` as an RFC 3339 string in UTC (e.g. 2026-12-01T21:39:08.123Z)."""
        return as_rfc3339(self.started_at)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ended_at_rfc3339(self) -> str | None:
        """`ended_at` as an RFC 3339 string in UTC (e.g. 2026-12-01T21:39:08.123Z)."""
        return as_rfc3339(self.ended_at)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def stage_started_at_rfc3339(self) -> str | None:
        """`stage_started_at` as an RFC 3339 string in UTC (e.g. 2026-12-01T21:39:08.123Z)."""
        return as_rfc3339(self.stage_started_at)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def archived_at_rfc3339(self) -> str | None:
        """`archived_at` as an RFC 3339 string in UTC (e.g. 2026-12-01T21:39:08.123Z)."""
        return as_rfc3339(self.archived_at)

    @model_validator(mode="after")
    def _state(self) -> Experiment:
        if self.winner is not None and self.winner not in self.variant_keys():
            raise ValueError(f"winner {self.winner!r} is not one of the variants")
        if self.layer_range is not None:
            lo, hi = self.layer_range
            if not 0.0 <= lo < hi <= 1.0 or self.layer is None:
                raise ValueError("layer_range must be 0 <= lo < hi <= 1, with a layer")
        return self

    def variant_keys(self) -> list[str]:
        return [v.key for v in self.variants]

    def metric(self, key: str) -> Metric | None:
        return next((m for m in self.metrics if m.key == key), None)

    def covariate_names(self) -> list[str]:
        """The distinct covariates of the binary and mean metrics, in order of declaration: a
        first exposure stores the user's values in this order (experiments/stats/cuped.py)."""
        adjusted = (m for m in self.metrics if m.type is not MetricType.RATIO)
        names = (m.covariate for m in adjusted if m.covariate)
        return list(dict.fromkeys(names))

    @property
    def effective_traffic(self) -> float:
        """While a rollout runs, its stage's traffic is the experiment's (contract)."""
        if self.rollout is not None and self.stage is not None:
            return self.rollout.stages[self.stage].traffic
        return self.traffic


class HistoryEntry(BaseModel):
    at: float = Field(description=described("at"))
    actor: str
    action: str
    reason: str | None = None
    changes: dict[str, Any] = Field(default_factory=dict)
    figures: dict[str, Any] | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def at_rfc3339(self) -> str | None:
        """`at` as an RFC 3339 string in UTC (e.g. 2026-12-01T21:39:08.123Z)."""
        return as_rfc3339(self.at)


class Role(StrEnum):
    ADMIN = "admin"
    EDITOR = "editor"
    RELEASE = "release"
    SDK = "sdk"
