"""The demo's two experiments: their prompts and models, stages, metrics, what simulated users
ask, and how often they give a thumbs up."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollout.apply.spec import load_bundle
from rollout.apply.sync import execute, make_plan
from rollout.demo.llm_server import ModelBehaviour
from rollout.http import ServiceClient, api_path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

STAGES = [
    {"traffic": 0.05, "min_duration_s": 3, "min_users_per_variant": 25},
    {"traffic": 0.20, "min_duration_s": 3, "min_users_per_variant": 100},
    {"traffic": 0.50, "min_duration_s": 3, "min_users_per_variant": 250},
    {"traffic": 1.00, "min_duration_s": 3, "min_users_per_variant": 500},
]
PRIMARY = "thumbs_up"
METRICS: list[dict[str, Any]] = [
    {"key": PRIMARY, "type": "binary", "role": "primary", "direction": "increase"},
    # What the OpenAI integration records on every call: latency_ms and cost_usd guardrails
    # (10% and 5% tolerated), llm_error, and tokens as secondary metrics.
    {"preset": "llm"},
]
CONTROL, NEW = "control", "new"

FAST, REASONING = "gpt-4o-mini", "gpt-5-nano"
MODELS = {
    FAST: ModelBehaviour(output_tokens=70, first_token_ms=25, ms_per_token=0.6),
    REASONING: ModelBehaviour(
        output_tokens=70, reasoning_tokens=100, first_token_ms=45, ms_per_token=0.5
    ),
}
"""What the local server answers for each model the variants name. The small reasoning model
thinks 100 tokens before writing its 70: it answers about 85% later, and although its tokens cost
a third less than gpt-4o-mini's in the SDK's price table, a call costs about 50% more."""

WORDS = (
    "revenue", "grew", "churn", "fell", "the", "release", "slipped", "a", "week", "because",
    "payment", "provider", "changed", "its", "api", "customers", "asked", "for", "invoices",
    "in", "euros", "support", "tickets", "doubled", "after", "launch", "team", "shipped", "the",
    "new", "onboarding", "flow", "and", "retention", "improved", "across", "every", "region",
    "this", "quarter",
)


def words(rng: random.Random, median: int) -> str:
    """Filler text of about `median` words (log-normal length): a document or a question."""
    return " ".join(rng.choices(WORDS, k=max(3, round(rng.lognormvariate(0, 0.4) * median))))


def summary_request(rng: random.Random) -> dict[str, Any]:
    """The variables of `summarize`: a document long enough that the friendlier wording's
    extra words cost about 3% more input, within the 5% the cost guardrail tolerates."""
    return {"text": words(rng, 900), "max_sentences": rng.randint(2, 4)}


def question_request(rng: random.Random) -> dict[str, Any]:
    return {"question": words(rng, 12)}


@dataclass(frozen=True)
class Scenario:
    """One experiment of the demo. `versions` (template, model) are registered for it, or None
    when versions 1 and 2 come from examples/ (`rollout apply`); `thumbs_up` is each variant's
    rate of human feedback, the one figure the demo simulates."""

    key: str
    name: str
    prompt: str
    versions: tuple[tuple[str, str], tuple[str, str]] | None
    variables: Callable[[random.Random], dict[str, Any]]
    thumbs_up: dict[str, float]
    should_roll_back: bool
    expect: str


SCENARIOS = [
    Scenario(
        key="summary-tone",
        name="Friendlier summaries",
        prompt="summarize",
        versions=None,
        variables=summary_request,
        thumbs_up={CONTROL: 0.20, NEW: 0.26},
        should_roll_back=False,
        expect="ramps through every stage",
    ),
    Scenario(
        key="answer-speed",
        name="Longer reasoning answers",
        prompt="answer",
        versions=(
            ("Answer: {{ question }}", FAST),
            ("Think step by step, then answer: {{ question }}", REASONING),
        ),
        variables=question_request,
        thumbs_up={CONTROL: 0.20, NEW: 0.21},
        should_roll_back=True,
        expect="rolled back (slower, dearer)",
    ),
]


def apply_examples(editor: ServiceClient) -> None:
    """Register the prompts of examples/ exactly as `rollout apply -f examples/prompts` does."""
    execute(editor, make_plan(editor, load_bundle(EXAMPLES / "prompts")))


def define(editor: ServiceClient, release: ServiceClient, scenario: Scenario) -> None:
    """Create the scenario's prompt versions (unless examples/ holds them), its experiment with
    the demo's short stages, and start it."""
    if scenario.versions is None:
        versions = [1, 2]
    else:
        versions = [
            editor.post(
                api_path("prompts", scenario.prompt, "versions"),
                {"template": template, "model": model, "message": "demo"},
            )["version"]
            for template, model in scenario.versions
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
