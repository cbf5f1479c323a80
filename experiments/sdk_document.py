"""The SDK document the service serves (`GET /api/v1/sdk/config`), built from plain inputs.

Its schema is the kernel's (`rollout_sdk.kernel.document`): the builder here is type-checked
against those TypedDicts, and the service assigns from the very entries it serves
(`assignment_spec` goes through `experiment_entry`), so what an SDK compiles from the document
is what the service compiled. Pure: no store, no worker state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Final

from experiments.model import Experiment
from rollout_sdk.kernel.assignment import ExperimentSpec, spec_of
from rollout_sdk.kernel.document import (
    SERVED_STATUSES,
    PromptContent,
    SdkDocument,
    SdkExperiment,
    SdkPrompt,
)

PromptContents = Mapping[tuple[str, int], PromptContent]
"""The content of prompt versions by (name, version)."""

_NO_PROMPTS: Final[PromptContents] = {}


def experiment_entry(
    experiment: Experiment, prompts: PromptContents = _NO_PROMPTS
) -> SdkExperiment:
    """One experiment as the document carries it; each variant with its pinned prompt's content
    when `prompts` holds it."""
    pinned = experiment.prompts
    entry: SdkExperiment = {
        "key": experiment.key,
        "seed": experiment.seed or experiment.key,
        "status": experiment.status.value,
        "control": experiment.control,
        "traffic": experiment.traffic,
        "targeting": experiment.targeting,
        "layer": experiment.layer,
        "layer_range": list(experiment.layer_range) if experiment.layer_range else None,
        "winner": experiment.winner,
        "variants": [],
    }
    for variant in experiment.variants:
        ref = pinned.get(variant.key)
        entry["variants"].append(
            {
                "key": variant.key,
                "weight": variant.weight,
                "config": variant.config,
                "prompt": None if ref is None else prompts.get((ref.name, ref.version)),
            }
        )
    return entry


def assignment_spec(experiment: Experiment) -> ExperimentSpec:
    """What the kernel assigns `experiment` from: the spec of its own document entry."""
    return spec_of(experiment_entry(experiment))


def sdk_document(
    version: int,
    environment: str,
    experiments: Iterable[Experiment],
    prompts: PromptContents,
    labels: Mapping[str, Mapping[str, int]],
) -> SdkDocument:
    """The document of one environment: the experiments an SDK may be asked about (drafts are
    left out), sorted by key, and each labelled prompt with the content of its labelled
    versions, so that `client.get_prompt(name, label)` needs no call."""
    entries = [
        experiment_entry(e, prompts)
        for e in sorted(experiments, key=lambda e: e.key)
        if e.status.value in SERVED_STATUSES
    ]
    by_name: dict[str, SdkPrompt] = {}
    for name, by_label in sorted(labels.items()):
        by_name[name] = {
            "labels": dict(by_label),
            "versions": {
                str(v): prompts[(name, v)]
                for v in sorted(set(by_label.values()))
                if (name, v) in prompts
            },
        }
    return {
        "version": version,
        "environment": environment,
        "experiments": entries,
        "prompts": by_name,
    }


def etag_of(document: SdkDocument) -> str:
    """The document's ETag: a hash of its content, not of the version counter, so a change that
    leaves the SDK configuration as it was (an API key created, a draft edited) costs SDKs a 304."""
    content = {k: v for k, v in document.items() if k != "version"}
    body = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
