"""The results document of a fixture experiment, byte for byte, as the HTTP edge builds it.

`tests/unit/data/results_document.json` was captured from `analysis.results` and `decide` put
together as `GET /api/v1/experiments/{key}/results` does (rollout/api/results.py), before issue
11 turned the results into typed values (experiments/results.py): whatever shape they take
inside, the document the edge makes of them with `to_json` must stay this one, field order
included. The fixture covers every
metric type and role, a quantile, a breached guardrail and a variant without users.
"""

from __future__ import annotations

import json
from pathlib import Path

from experiments.analysis import SufficientStats, results
from experiments.decision import decide
from experiments.model import Experiment
from experiments.results import to_json
from experiments.stats.moments import Moments, RatioMoments
from experiments.stats.sketch import QuantileSketch

DOCUMENT = Path(__file__).parent / "data" / "results_document.json"
T0 = 1_750_000_000.0
NOW = T0 + 7200.0

EXPERIMENT = Experiment.model_validate(
    {
        "key": "summary-tone",
        "name": "Friendlier summaries",
        "variants": [
            {"key": "control", "weight": 0.5},
            {"key": "friendly", "weight": 0.5},
            {"key": "terse", "weight": 0.0},
        ],
        "control": "control",
        "metrics": [
            {"key": "thumbs_up", "type": "binary", "role": "primary", "direction": "increase"},
            {
                "key": "latency_ms",
                "type": "mean",
                "role": "guardrail",
                "direction": "decrease",
                "max_regression": 0.10,
                "quantile": 0.95,
            },
            {
                "key": "cost_usd",
                "type": "ratio",
                "role": "guardrail",
                "direction": "decrease",
                "max_regression": 0.05,
            },
            {"key": "length", "type": "mean", "role": "secondary", "direction": "decrease"},
        ],
        "rollout": {
            "stages": [
                {"traffic": 0.1, "min_duration_s": 3600, "min_users_per_variant": 200},
                {"traffic": 0.5, "min_duration_s": 3600, "min_users_per_variant": 1000},
            ],
            "auto_advance": True,
            "auto_rollback": True,
        },
        "status": "running",
        "revision": 3,
        "started_at": T0,
        "stage": 0,
        "stage_started_at": T0,
        "traffic": 0.1,
    }
)

STATS = SufficientStats(
    users=(1000, 1012, 0),
    metrics={
        "thumbs_up": (Moments(1000, 200, 200), Moments(1012, 224, 224), Moments(0, 0, 0)),
        "latency_ms": (
            Moments(1000, 400_000, 170_000_000),
            Moments(1012, 560_000, 330_000_000),
            Moments(0, 0, 0),
        ),
        "cost_usd": (
            RatioMoments(1000, 20.0, 3000, 0.5, 9500, 62.0),
            RatioMoments(1012, 21.0, 3040, 0.55, 9600, 65.0),
            RatioMoments(0, 0, 0, 0, 0, 0),
        ),
        "length": (
            Moments(1000, 120_000, 15_000_000),
            Moments(1012, 118_000, 14_200_000),
            Moments(0, 0, 0),
        ),
    },
    sketches={
        "latency_ms": (
            QuantileSketch.of_values([300.0 + i / 10 for i in range(2000)]),
            QuantileSketch.of_values([450.0 + i / 5 for i in range(2000)]),
            QuantileSketch(()),
        )
    },
)


def document_of(experiment: Experiment, stats: SufficientStats, now: float) -> str:
    """The edge's document: the results and the controller's decision, as JSON text."""
    computed = results(experiment, stats, now)
    document = to_json(computed)
    document["decision"] = decide(experiment, computed, now).as_dict()
    return json.dumps(document, indent=1) + "\n"


def test_the_fixture_exercises_a_breach_and_a_missing_variant() -> None:
    document = json.loads(DOCUMENT.read_text())
    assert document["decision"]["action"] == "rollback"
    assert document["variants"]["terse"] == {"users": 0}


def test_the_results_document_is_byte_identical_to_the_captured_one() -> None:
    assert document_of(EXPERIMENT, STATS, NOW) == DOCUMENT.read_text()
