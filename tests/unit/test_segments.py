"""Segments as declared: bounded dimensions, a user's cells, the per-segment level."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from experiments.model import Covariates, Experiment, ExperimentCreate, Segment
from experiments.stats.segments import cell_count, segment_alpha, segment_cells, segment_names

BASE: dict[str, Any] = {
    "key": "seg",
    "name": "seg",
    "variants": [{"key": "control", "weight": 0.5}, {"key": "treatment", "weight": 0.5}],
    "control": "control",
}

MODEL = Segment(attribute="model", values=["gpt-4o", "claude"])
PLAN = Segment(attribute="plan", values=["free", "pro", "team"])


def test_a_user_is_in_the_segment_of_each_declared_value() -> None:
    assert segment_cells([MODEL, PLAN], {"model": "claude", "plan": "free"}) == (1, 0)


def test_absent_undeclared_and_non_string_values_are_other() -> None:
    assert segment_cells([MODEL, PLAN], {"plan": "enterprise"}) == (2, 3)
    assert segment_cells([MODEL], {"model": 4}) == (2,)
    assert segment_names(MODEL)[2] == "other"


def test_no_declared_dimension_gives_no_cells() -> None:
    assert segment_cells([], {"model": "claude"}) == ()


def test_the_segment_level_splits_the_member_level_among_every_cell() -> None:
    assert cell_count([MODEL, PLAN]) == 3 + 4
    assert segment_alpha(0.01, [MODEL, PLAN]) == pytest.approx(0.01 / 7)


def test_the_segment_level_needs_segments() -> None:
    with pytest.raises(ValueError, match="without segments"):
        segment_alpha(0.01, [])


@pytest.mark.parametrize(
    ("segments", "field"),
    [
        ([{"attribute": "model", "values": ["other"]}], "segments.0.values"),
        ([{"attribute": "model", "values": ["a", "a"]}], "segments.0.values"),
        ([{"attribute": "model", "values": [f"v{i}" for i in range(21)]}], "segments.0.values"),
        ([{"attribute": "model", "values": []}], "segments.0.values"),
        ([{"attribute": "m", "values": ["a"]}, {"attribute": "m", "values": ["b"]}], "segments"),
        ([{"attribute": f"a{i}", "values": ["x"]} for i in range(4)], "segments"),
    ],
)
def test_segments_beyond_the_bounds_are_refused_by_field(
    segments: list[dict[str, Any]], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        ExperimentCreate.model_validate(BASE | {"segments": segments})
    assert {".".join(map(str, e["loc"])) for e in refused.value.errors()} == {field}


def test_three_dimensions_of_twenty_values_are_accepted() -> None:
    segments = [{"attribute": f"a{d}", "values": [f"v{i}" for i in range(20)]} for d in range(3)]
    experiment = ExperimentCreate.model_validate(BASE | {"segments": segments})
    assert cell_count(experiment.segments) == 63


@pytest.mark.parametrize(
    "covariates",
    [
        {f"c{i}": 1.0 for i in range(11)},
        {"requests": float("nan")},
        {"requests": float("inf")},
        {"requests": 1e16},
        {"requests": "3"},
        {"requests": True},
        {"Not A Key": 1.0},
    ],
)
def test_covariates_beyond_the_bounds_are_refused(covariates: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Covariates).validate_python(covariates)


def test_covariates_are_finite_numbers_by_name() -> None:
    parsed = TypeAdapter(Covariates).validate_python({"requests": 3, "tokens": 1.5e3})
    assert parsed == {"requests": 3.0, "tokens": 1500.0}


def test_the_covariate_names_are_those_of_binary_and_mean_metrics_once_each() -> None:
    metrics = [
        {"key": "a", "type": "mean", "covariate": "requests"},
        {"key": "b", "type": "binary", "covariate": "sessions"},
        {"key": "c", "type": "mean", "covariate": "requests"},
        {"key": "d", "type": "ratio", "covariate": "tokens"},
        {"key": "e", "type": "mean"},
    ]
    experiment = Experiment.model_validate(BASE | {"metrics": metrics})
    assert experiment.covariate_names() == ["requests", "sessions"]
