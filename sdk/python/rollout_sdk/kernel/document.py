"""The SDK document (`GET /api/v1/sdk/config`): its schema, and the reader every SDK trusts.

The service builds this document (experiments/sdk_document.py) and every SDK assigns from it, so
its shape is written down once, here, as TypedDicts the builder is checked against (mypy) and
a reader that checks a document received over the network before anything is compiled from it.

    {"version": 7, "environment": "production",
     "experiments": [{"key", "seed", "status", "control", "traffic", "targeting", "layer",
                      "layer_range": [lo, hi] | null, "winner",
                      "variants": [{"key", "weight", "config", "prompt": PromptContent | null}]}],
     "prompts": {"<name>": {"labels": {"<label>": version},
                            "versions": {"<version>": PromptContent}}}}

    PromptContent: {"name", "version", "template" | null,
                    "messages": [{"role", "content"}] | null, "model", "params", "portable"}

The reader checks types and the few rules assignment depends on (a known status, a control and
a winner that are variants, weights and traffic in [0, 1], a layer range inside [0, 1));
targeting is checked when it is compiled (`kernel.targeting`). The business rules the service
enforces when an experiment is written (weights summing to 1, key patterns) are not repeated: a
document the service built already satisfies them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, NotRequired, TypedDict, TypeGuard

from rollout_sdk.kernel.chat import ROLES, ChatMessage

DRAFT: Final = "draft"
RUNNING: Final = "running"
PAUSED: Final = "paused"
CONCLUDED: Final = "concluded"
ROLLED_BACK: Final = "rolled_back"
STATUSES: Final = frozenset({DRAFT, RUNNING, PAUSED, CONCLUDED, ROLLED_BACK})
SERVED_STATUSES: Final = STATUSES - {DRAFT}
"""The statuses of the experiments the service puts in the document: a draft answers control to
everybody, as an experiment the document does not hold does, so it is left out."""


class PromptContent(TypedDict):
    """One immutable prompt version, as assignment hands it out.

    `template` or `messages` (a chat prompt: kernel.chat), never both.
    `portable`: whether both SDKs render the template alike (kernel.portability, decided by the
    service when the version was created); None in a document from a service before the field.
    The TypeScript SDK refuses to render a version marked False.
    """

    name: str
    version: int
    template: str | None
    messages: list[ChatMessage] | None
    model: str | None
    params: dict[str, Any]
    portable: bool | None


class SdkVariant(TypedDict):
    key: str
    weight: float
    config: dict[str, Any] | None
    prompt: PromptContent | None


class SdkExperiment(TypedDict):
    """Everything assignment needs about one experiment; the reader puts the key in an empty
    `seed`."""

    key: str
    seed: str
    status: str
    control: str
    traffic: float
    targeting: dict[str, Any] | None
    layer: str | None
    layer_range: list[float] | None
    winner: str | None
    variants: list[SdkVariant]


class SdkPrompt(TypedDict):
    """A prompt's labels, and the content of each labelled version (so no round trip)."""

    labels: dict[str, int]
    versions: dict[str, PromptContent]


class SdkDocument(TypedDict):
    version: int
    environment: NotRequired[str]
    """The environment the document is of; absent from a service before environments."""
    experiments: list[SdkExperiment]
    prompts: dict[str, SdkPrompt]


class DocumentInvalid(ValueError):
    """A document, or one entry of it, that does not follow the schema; the message says where."""


def read_document(raw: object) -> SdkDocument:
    """`raw` (decoded JSON) as an SdkDocument, checking its frame and its prompts.

    The experiments are only checked to be a list: an SDK reads each with `read_experiment`, so
    that one unusable entry leaves the others in service.
    """
    document = _mapping(raw, "the SDK document")
    experiments = document.get("experiments")
    if not isinstance(experiments, list):
        raise DocumentInvalid("the SDK document: 'experiments' must be a list")
    prompts = _mapping(document.get("prompts", {}), "the SDK document's 'prompts'")
    read: SdkDocument = {
        "version": _count(document.get("version", 0), "the SDK document's 'version'"),
        "experiments": experiments,
        "prompts": {
            _text(name, "a prompt name"): read_prompt_entry(entry, name)
            for name, entry in prompts.items()
        },
    }
    if "environment" in document:
        read["environment"] = _text(document["environment"], "the SDK document's 'environment'")
    return read


def read_prompt_entry(raw: object, name: str) -> SdkPrompt:
    """One entry of `prompts`; each version's content takes its name and number from its place."""
    where = f"prompt {name!r}"
    entry = _mapping(raw, where)
    labels = _mapping(entry.get("labels", {}), f"{where}: 'labels'")
    versions = _mapping(entry.get("versions", {}), f"{where}: 'versions'")
    return {
        "labels": {
            _text(label, f"{where}: a label"): _count(version, f"{where}: label {label!r}")
            for label, version in labels.items()
        },
        "versions": {
            _text(version, f"{where}: a version"): read_prompt_content(
                {"name": name, "version": version, **_mapping(content, f"{where}: {version}")},
                f"{where}: version {version}",
            )
            for version, content in versions.items()
        },
    }


def read_experiment(raw: object) -> SdkExperiment:
    """One entry of `experiments`, checked; raises DocumentInvalid naming what is wrong."""
    entry = _mapping(raw, "an experiment")
    key = _text(entry.get("key"), "an experiment's 'key'")
    where = f"experiment {key!r}"
    variants_raw = entry.get("variants")
    if not isinstance(variants_raw, list) or not variants_raw:
        raise DocumentInvalid(f"{where}: 'variants' must be a non-empty list")
    variants = [read_variant(v, f"{where}: variants[{i}]") for i, v in enumerate(variants_raw)]
    keys = {v["key"] for v in variants}
    status = entry.get("status")
    if status not in STATUSES:
        raise DocumentInvalid(f"{where}: 'status' must be one of {sorted(STATUSES)}")
    control = _text(entry.get("control"), f"{where}: 'control'")
    if control not in keys:
        raise DocumentInvalid(f"{where}: control {control!r} is not one of its variants")
    winner = _optional_text(entry.get("winner"), f"{where}: 'winner'")
    if winner is not None and winner not in keys:
        raise DocumentInvalid(f"{where}: winner {winner!r} is not one of its variants")
    targeting = entry.get("targeting")
    if targeting is not None and not isinstance(targeting, dict):
        raise DocumentInvalid(f"{where}: 'targeting' must be an object or null")
    return {
        "key": key,
        "seed": _optional_text(entry.get("seed") or None, f"{where}: 'seed'") or key,
        "status": str(status),
        "control": control,
        "traffic": _share(entry.get("traffic"), f"{where}: 'traffic'"),
        "targeting": targeting,
        "layer": _optional_text(entry.get("layer"), f"{where}: 'layer'"),
        "layer_range": _layer_range(entry.get("layer_range"), f"{where}: 'layer_range'"),
        "winner": winner,
        "variants": variants,
    }


def read_variant(raw: object, where: str) -> SdkVariant:
    variant = _mapping(raw, where)
    config = variant.get("config")
    if config is not None and not isinstance(config, dict):
        raise DocumentInvalid(f"{where}: 'config' must be an object or null")
    prompt = variant.get("prompt")
    return {
        "key": _text(variant.get("key"), f"{where}: 'key'"),
        "weight": _share(variant.get("weight"), f"{where}: 'weight'"),
        "config": config,
        "prompt": None if prompt is None else read_prompt_content(prompt, f"{where}: 'prompt'"),
    }


def read_prompt_content(raw: object, where: str) -> PromptContent:
    content = _mapping(raw, where)
    version = content.get("version")
    if isinstance(version, str) and version.isdigit():
        version = int(version)  # the keys of `versions` are JSON object keys, so strings
    params = content.get("params") or {}
    if not isinstance(params, dict):
        raise DocumentInvalid(f"{where}: 'params' must be an object")
    portable = content.get("portable")
    if portable is not None and not isinstance(portable, bool):
        raise DocumentInvalid(f"{where}: 'portable' must be true, false or null")
    return {
        "name": _text(content.get("name"), f"{where}: 'name'"),
        "version": _count(version, f"{where}: 'version'"),
        "template": _optional_text(content.get("template"), f"{where}: 'template'"),
        "messages": read_messages(content.get("messages"), f"{where}: 'messages'"),
        "model": _optional_text(content.get("model"), f"{where}: 'model'"),
        "params": params,
        "portable": portable,
    }


def read_messages(value: object, where: str) -> list[ChatMessage] | None:
    """A chat prompt's messages (null for a one-template prompt), checked."""
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise DocumentInvalid(f"{where} must be a non-empty list or null")
    messages: list[ChatMessage] = []
    for index, raw in enumerate(value):
        message = _mapping(raw, f"{where}[{index}]")
        role = message.get("role")
        content = message.get("content")
        if role not in ROLES:
            raise DocumentInvalid(f"{where}[{index}]: 'role' must be one of {list(ROLES)}")
        if not isinstance(content, str):
            raise DocumentInvalid(f"{where}[{index}]: 'content' must be a string")
        messages.append({"role": role, "content": content})
    return messages


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise DocumentInvalid(f"{where} must be a JSON object")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise DocumentInvalid(f"{where} must be a non-empty string")
    return value


def _optional_text(value: object, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _share(value: object, where: str) -> float:
    if not (_is_number(value) and 0.0 <= value <= 1.0):
        raise DocumentInvalid(f"{where} must be a number from 0 to 1")
    return float(value)


def _count(value: object, where: str) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        raise DocumentInvalid(f"{where} must be a whole number")
    return value


def _layer_range(value: object, where: str) -> list[float] | None:
    if value is None:
        return None
    if not (isinstance(value, list | tuple) and len(value) == 2 and all(map(_is_number, value))):
        raise DocumentInvalid(f"{where} must be [lo, hi] or null")
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo <= hi <= 1.0):
        raise DocumentInvalid(f"{where} must satisfy 0 <= lo <= hi <= 1")
    return [lo, hi]
