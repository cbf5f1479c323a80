"""event_write(): which metric events count and what each one writes, without Redis or HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from experiments.event_rules import MAX_MAGNITUDE, EventWrite, Rejection, event_write
from experiments.model import Experiment, MetricType, Status


@dataclass(frozen=True)
class Sent:
    event_id: str = "e1"
    user_id: str = "u1"
    experiment: str = "summary-tone"
    metric: str = "latency_ms"
    value: float = 120.0
    denominator: float | None = None


def experiment(status: Status = Status.RUNNING) -> Experiment:
    body: dict[str, Any] = {
        "key": "summary-tone",
        "name": "Friendlier summaries",
        "variants": [{"key": "control", "weight": 0.5}, {"key": "friendly", "weight": 0.5}],
        "control": "control",
        "metrics": [
            {"key": "thumbs_up", "type": "binary", "role": "primary", "direction": "increase"},
            {"key": "latency_ms", "type": "mean", "role": "secondary", "direction": "decrease"},
            {"key": "cost_usd", "type": "ratio", "role": "secondary", "direction": "decrease"},
        ],
        "status": status,
    }
    return Experiment.model_validate(body)


def code_of(answer: EventWrite | Rejection) -> str:
    assert isinstance(answer, Rejection), answer
    return answer.code


def test_an_event_of_a_running_experiment_writes_its_metric_type_and_a_unit_denominator() -> None:
    assert event_write(experiment(), Sent()) == EventWrite(
        "summary-tone", "u1", "e1", "latency_ms", MetricType.MEAN, 120.0, 1.0
    )


def test_a_paused_experiment_still_counts_events() -> None:
    assert isinstance(event_write(experiment(Status.PAUSED), Sent()), EventWrite)


@pytest.mark.parametrize("status", [Status.DRAFT, Status.CONCLUDED, Status.ROLLED_BACK])
def test_a_draft_or_ended_experiment_counts_no_event(status: Status) -> None:
    assert code_of(event_write(experiment(status), Sent())) == "experiment_not_running"


def test_an_unknown_experiment_or_metric_is_named() -> None:
    assert code_of(event_write(None, Sent())) == "unknown_experiment"
    assert code_of(event_write(experiment(), Sent(metric="nope"))) == "unknown_metric"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -2 * MAX_MAGNITUDE])
def test_a_value_not_finite_or_too_large_is_refused(value: float) -> None:
    assert code_of(event_write(experiment(), Sent(value=value))) == "invalid_value"


def test_a_denominator_counts_only_on_a_ratio_metric_and_only_above_zero() -> None:
    ratio = event_write(experiment(), Sent(metric="cost_usd", value=0.3, denominator=2.0))
    assert isinstance(ratio, EventWrite) and ratio.denominator == 2.0
    assert code_of(event_write(experiment(), Sent(denominator=2.0))) == "invalid_value"
    zero = Sent(metric="cost_usd", value=0.3, denominator=0.0)
    assert code_of(event_write(experiment(), zero)) == "invalid_value"
