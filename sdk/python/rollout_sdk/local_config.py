"""The SDK document, read into what `assign` and `get_prompt` need, with the answers built ahead.

The document is checked by the kernel's reader (`kernel.document`) and each experiment compiled
by the kernel (`kernel.assignment`) from the same spec the service compiles, so a local answer is
the service's answer. An entry that cannot be read or compiled is left out and logged: one bad
experiment must not take the others' configuration away. Pure: no network, no threads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from rollout_sdk.answers import Prompt, VariantAssignment
from rollout_sdk.kernel.assignment import (
    Assignment,
    CompiledExperiment,
    compile_experiment,
    spec_of,
)
from rollout_sdk.kernel.chat import ChatMessage
from rollout_sdk.kernel.document import (
    PromptContent,
    SdkExperiment,
    read_document,
    read_experiment,
)

log = logging.getLogger(__name__)

VariantContent = tuple[Prompt | None, Mapping[str, Any] | None]
"""A variant's prompt and config, as every answer for it carries them."""


@dataclass(frozen=True, slots=True)
class LocalExperiment:
    """One experiment of the SDK document, compiled, with its answers built in advance.

    `answers` maps the identity of each `Assignment` that `compile_experiment` precomputed to the
    `VariantAssignment` an application gets, so the hot path is one dict lookup by `id`; any other
    `Assignment` (none today) is converted by `answer_for`.
    """

    compiled: CompiledExperiment
    variants: Mapping[str, VariantContent]
    answers: Mapping[int, VariantAssignment]

    def answer_for(self, decided: Assignment) -> VariantAssignment:
        return _answer(decided, self.variants)


@dataclass(frozen=True, slots=True)
class LocalConfig:
    """An SDK document, compiled: what `assign` and `get_prompt` read, swapped whole on refresh.

    Never mutated once built (plain dicts rather than read-only proxies: a proxy's lookup costs
    more, and these are read on every `assign`).
    """

    version: int
    etag: str | None
    experiments: Mapping[str, LocalExperiment]
    labels: Mapping[str, Mapping[str, int]]
    prompts: Mapping[tuple[str, int], Prompt]
    environment: str = "production"
    """The document's environment: the label `get_prompt` resolves unless told another."""


def prompt_of(content: PromptContent | None) -> Prompt | None:
    """A `Prompt` from the service's JSON (`{name, version, template, model, params}`)."""
    if not content:
        return None
    return Prompt(
        name=content["name"],
        version=content["version"],
        template=content["template"],
        model=content["model"],
        params=MappingProxyType(dict(content["params"])),
        messages=messages_of(content.get("messages")),
        portable=content.get("portable"),
    )


def messages_of(messages: list[ChatMessage] | None) -> tuple[ChatMessage, ...] | None:
    """A chat prompt's messages, kept as a tuple: a Prompt is shared between answers."""
    return None if messages is None else tuple(messages)


def local_experiment(entry: SdkExperiment) -> LocalExperiment:
    """Compile one checked SDK document entry; ValueError if the kernel cannot compile it."""
    compiled = compile_experiment(spec_of(entry))
    variants: dict[str, VariantContent] = {}
    for variant in entry["variants"]:
        config = variant["config"]
        variants[variant["key"]] = (
            prompt_of(variant["prompt"]),
            None if config is None else MappingProxyType(dict(config)),
        )
    decided = [
        compiled.fixed,
        *compiled.assigned,
        compiled.by_targeting,
        compiled.by_layer,
        compiled.by_traffic,
    ]
    answers = {id(a): _answer(a, variants) for a in decided if a is not None}
    return LocalExperiment(compiled, variants, answers)


def _answer(decided: Assignment, variants: Mapping[str, VariantContent]) -> VariantAssignment:
    prompt, config = variants[decided.variant]
    return VariantAssignment(
        decided.experiment, decided.variant, decided.in_experiment, decided.reason.value,
        prompt, config,
    )


def compile_document(raw: object, etag: str | None) -> LocalConfig:
    """Compile a whole SDK document (decoded JSON); DocumentInvalid if its frame is unreadable,
    while an experiment that cannot be used is left out and logged."""
    document = read_document(raw)
    experiments: dict[str, LocalExperiment] = {}
    prompts: dict[tuple[str, int], Prompt] = {}
    for item in document["experiments"]:
        try:
            local = local_experiment(read_experiment(item))
        except ValueError as exc:  # the reader's DocumentInvalid, or what the kernel cannot compile
            log.error("rollout: experiment %r of the SDK config is unusable: %s",
                      item.get("key") if isinstance(item, Mapping) else item, exc)
            continue
        experiments[local.compiled.key] = local
        for prompt, _ in local.variants.values():
            if prompt is not None:
                prompts[(prompt.name, prompt.version)] = prompt
    labels: dict[str, Mapping[str, int]] = {}
    for name, entry in document["prompts"].items():
        labels[name] = entry["labels"]
        # A document that also carries the content of labelled versions saves a round trip.
        for content in entry["versions"].values():
            prompt = prompt_of(content)
            if prompt is not None:
                prompts[(name, prompt.version)] = prompt
    return LocalConfig(
        version=document["version"],
        etag=etag,
        experiments=experiments,
        labels=labels,
        prompts=prompts,
        environment=document.get("environment", "production"),
    )
