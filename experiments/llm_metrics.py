"""The standard LLM metrics, and the preset that declares them in one line of an experiment.

Pure: plain JSON in, plain JSON out, read before the experiment's models validate its metrics.

    "metrics": [{"key": "thumbs_up", "type": "binary", "role": "primary"}, {"preset": "llm"}]

declares, besides the team's own metrics, the ones the SDK's provider integrations
(`rollout_sdk.llm`) and OTLP ingestion (`experiments/genai_spans.py`) record on every call. Every
figure that is about a call is a `ratio` over calls (each event's denominator defaults to 1): a
variant whose users make more calls is not thereby slower or dearer per call. `llm_error` is
`binary`: the share of users who met at least one failed call. The guardrail tolerances are the
contract's own examples; a metric declared explicitly beside the preset replaces the preset's
entry of the same key, so a team can tighten one tolerance and keep the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# The keys are the SDK's (what its integrations record), written once there.
from rollout_sdk.llm.measurement import (
    CACHED_INPUT_TOKENS,
    COST_USD,
    INPUT_TOKENS,
    LATENCY_MS,
    LLM_ERROR,
    OUTPUT_TOKENS,
    TTFT_MS,
)

PRESET_FIELD: Final = "preset"

LLM_PRESET: Final[tuple[Mapping[str, Any], ...]] = (
    {"key": LATENCY_MS, "type": "ratio", "role": "guardrail", "direction": "decrease",
     "max_regression": 0.10},
    {"key": COST_USD, "type": "ratio", "role": "guardrail", "direction": "decrease",
     "max_regression": 0.05},
    {"key": LLM_ERROR, "type": "binary", "role": "guardrail", "direction": "decrease"},
    {"key": TTFT_MS, "type": "ratio", "role": "secondary", "direction": "decrease"},
    {"key": INPUT_TOKENS, "type": "ratio", "role": "secondary", "direction": "decrease"},
    {"key": OUTPUT_TOKENS, "type": "ratio", "role": "secondary", "direction": "decrease"},
    {"key": CACHED_INPUT_TOKENS, "type": "ratio", "role": "secondary", "direction": "increase"},
)

PRESETS: Final[Mapping[str, tuple[Mapping[str, Any], ...]]] = {"llm": LLM_PRESET}


def expand_presets(metrics: Any) -> Any:
    """`metrics` with each `{"preset": name}` entry replaced by that preset's metrics.

    A preset's metric whose key is declared explicitly is left out (the explicit one wins).
    Anything that is not a list is answered as it is, for the models to refuse; an unknown
    preset name raises ValueError naming the known ones.
    """
    if not isinstance(metrics, list) or not any(_is_preset(m) for m in metrics):
        return metrics
    explicit = {m.get("key") for m in metrics if isinstance(m, Mapping) and not _is_preset(m)}
    expanded: list[Any] = []
    for entry in metrics:
        if not _is_preset(entry):
            expanded.append(entry)
            continue
        name = entry[PRESET_FIELD]
        preset = PRESETS.get(name) if isinstance(name, str) else None
        if preset is None:
            raise ValueError(f"unknown metric preset {name!r}; known: {', '.join(sorted(PRESETS))}")
        expanded.extend(dict(m) for m in preset if m["key"] not in explicit)
    return expanded


def _is_preset(entry: Any) -> bool:
    return isinstance(entry, Mapping) and set(entry) == {PRESET_FIELD}
