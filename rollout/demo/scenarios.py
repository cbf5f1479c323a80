"""The demo's two experiments: their prompts, stages, metrics and how simulated users behave."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rollout.apply.spec import load_bundle
from rollout.apply.sync import execute, make_plan
from rollout.http import ServiceClient, api_path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

STAGES = [
    {"traffic": 0.05, "min_duration_s": 3, "min_users_per_variant": 25},
    {"traffic": 0.20, "min_duration_s": 3, "min_users_per_variant": 100},
    {"traffic": 0.50, "min_duration_s": 3, "min_users_per_variant": 250},
    {"traffic": 1.00, "min_duration_s": 3, "min_users_per_variant": 500},
]
PRIMARY = "thumbs_up"
METRICS = [
    {"key": PRIMARY, "type": "binary", "role": "primary", "direction": "increase"},
    {
        "key": "latency_ms",
        "type": "mean",
        "role": "guardrail",
        "direction": "decrease",
        "max_regression": 0.10,
    },
    {
        "key": "cost_usd",
        "type": "ratio",
        "role": "guardrail",
        "direction": "decrease",
        "max_regression": 0.05,
    },
]
CONTROL, NEW = "control", "new"


@dataclass(frozen=True)
class Behaviour:
    """How users respond to a variant: thumbs-up rate, latency and cost factors."""

    thumbs_up: float
    latency: float = 1.0
    cost: float = 1.0


@dataclass(frozen=True)
class Scenario:
    key: str
    name: str
    prompt: str
    templates: tuple[str, str] | None  # None: versions 1 and 2 come from examples/ (rollout apply)
    behaviour: dict[str, Behaviour]
    expect: str

    @property
    def should_roll_back(self) -> bool:
        return self.behaviour[NEW].latency > 1


SCENARIOS = [
    Scenario(
        key="summary-tone",
        name="Friendlier summaries",
        prompt="summarize",
        templates=None,
        behaviour={CONTROL: Behaviour(0.20), NEW: Behaviour(0.26)},
        expect="ramps through every stage",
    ),
    Scenario(
        key="answer-speed",
        name="Longer reasoning answers",
        prompt="answer",
        templates=("Answer: {{ question }}", "Think step by step, then answer: {{ question }}"),
        behaviour={CONTROL: Behaviour(0.20), NEW: Behaviour(0.21, latency=1.5)},
        expect="rolled back (+50% latency)",
    ),
]


def apply_examples(editor: ServiceClient) -> None:
    """Register the prompts of examples/ exactly as `rollout apply -f examples/prompts` does."""
    execute(editor, make_plan(editor, load_bundle(EXAMPLES / "prompts")))


def define(editor: ServiceClient, release: ServiceClient, scenario: Scenario) -> None:
    """Create the scenario's prompt versions (unless examples/ holds them), its experiment with
    the demo's short stages, and start it."""
    if scenario.templates is None:
        versions = [1, 2]
    else:
        versions = [
            editor.post(
                api_path("prompts", scenario.prompt, "versions"),
                {"template": template, "model": "demo-model", "message": "demo"},
            )["version"]
            for template in scenario.templates
        ]
    editor.post(
        "/api/v1/experiments",
        {
            "key": scenario.key,
            "name": scenario.name,
            "owner": "demo",
            "variants": [
                {"key": CONTROL, "weight": 0.5, "prompt": f"{scenario.prompt}@{versions[0]}"},
                {"key": NEW, "weight": 0.5, "prompt": f"{scenario.prompt}@{versions[1]}"},
            ],
            "control": CONTROL,
            "metrics": METRICS,
            "rollout": {"stages": STAGES, "auto_advance": True, "auto_rollback": True},
        },
    )
    release.post(api_path("experiments", scenario.key, "start"), {"reason": "demo"})
