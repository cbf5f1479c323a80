"""`rollout export`: the service's prompts and experiments written back in the file format.

The documents are built by pure functions from the service's answers; `export` reads them through
the HTTP client and writes one file per prompt and per experiment, so a registry moves into git
and `rollout apply` of the result changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from experiments.model import ExperimentCreate
from rollout.http import ServiceClient, api_path


def prompt_document(
    name: str, versions: Iterable[dict[str, Any]], labels: dict[str, int]
) -> dict[str, Any]:
    """A prompt in the `versions` form, from the service's version documents (pure)."""
    written = []
    for version in versions:
        entry: dict[str, Any] = (
            {"template": version["template"]}
            if version.get("messages") is None
            else {"messages": version["messages"]}
        )
        if version.get("model") is not None:
            entry["model"] = version["model"]
        if version.get("params"):
            entry["params"] = version["params"]
        if version.get("message") is not None:
            entry["message"] = version["message"]
        if version.get("tests"):
            entry["tests"] = version["tests"]
        written.append(entry)
    document: dict[str, Any] = {"kind": "prompt", "name": name, "versions": written}
    if labels:
        document["labels"] = dict(sorted(labels.items()))
    return document


def experiment_document(experiment: dict[str, Any]) -> dict[str, Any]:
    """An experiment's definition as a file holds it, defaults left out (pure)."""
    body = ExperimentCreate.model_validate(
        {k: v for k, v in experiment.items() if k in ExperimentCreate.model_fields}
    )
    return {"kind": "experiment", **body.model_dump(mode="json", exclude_defaults=True)}


YAML_FOLDED_BREAKS = "\r\x85\u2028\u2029"
"""Characters a YAML loader takes for line breaks and normalises, outside double quotes."""


class _Dumper(yaml.SafeDumper):
    """Multi-line text as YAML block scalars, so templates read (and diff) as themselves.

    PyYAML falls back to a quoted scalar when a block cannot carry the text exactly (trailing
    spaces, tabs, carriage returns), so the round trip is lossless either way.
    """


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    if any(ch in text for ch in YAML_FOLDED_BREAKS):
        style = '"'  # only a double-quoted scalar keeps these exactly (as escapes)
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100_000)



def export(client: ServiceClient, out: Path) -> list[Path]:
    """Write every prompt and experiment of the service under `out` (prompts/, experiments/)."""
    written = []
    for summary in client.pages("/api/v1/prompts", "prompts"):
        name = summary["name"]
        detail = client.get(api_path("prompts", name))
        versions = [
            client.get(api_path("prompts", name, "versions", str(v["version"])))
            for v in detail["versions"]
        ]
        document = prompt_document(name, versions, detail["labels"])
        written.append(_write(out / "prompts" / f"{name}.yaml", dump_yaml(document)))
    for experiment in client.pages("/api/v1/experiments", "experiments"):
        document = experiment_document(experiment)
        written.append(
            _write(out / "experiments" / f"{experiment['key']}.yaml", dump_yaml(document))
        )
    return written


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
