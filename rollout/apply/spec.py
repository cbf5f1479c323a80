"""The prompts-as-code file format: reading and validating a directory of YAML documents.

A document is a mapping with a `kind`: `prompt` (its versions, or the content its latest version
should have, and its labels) or `experiment` (the body `POST /api/v1/experiments` takes). Loading
reads the template files, compiles every template and runs the prompt tests, so a bundle that
loads can be planned without surprises. Pure: files in, typed specs out, no service.
The format is documented in docs/prompts.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from experiments.errors import DomainError, validation_details
from experiments.model import ExperimentCreate, Key
from experiments.prompt_labels import check_label_name
from experiments.prompts.errors import PromptError
from experiments.prompts.prompt_tests import check_version
from experiments.prompts.version import (
    PromptMessage,
    PromptTest,
    PromptVersionCreate,
    parse_prompt_ref,
)

YAML_SUFFIXES = (".yaml", ".yml")
LATEST = "latest"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, when PyYAML was built with it

class SpecError(Exception):
    """The files cannot be applied as written; one message per problem, each naming its file."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)



# --- the file format -----------------------------------------------------------------------------


class _FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VersionSpec(_FileModel):
    """One version as written: the template inline or in a file beside the YAML file, or a chat
    prompt's messages."""

    template: str | None = None
    template_file: str | None = Field(default=None, description="relative to the YAML file")
    messages: list[PromptMessage] | None = None
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    message: str | None = None
    tests: list[PromptTest] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_template(self) -> VersionSpec:
        given = [self.template, self.template_file, self.messages]
        if sum(value is not None for value in given) != 1:
            raise ValueError("give exactly one of template, template_file and messages")
        return self


LabelTarget = int | Literal["latest"]


class PromptFile(_FileModel):
    """`kind: prompt`: either `versions` (the registry's history, as export writes it) or the
    fields of one version at the top level (the content the latest version should have)."""

    kind: Literal["prompt"]
    name: Key
    versions: list[VersionSpec] | None = None
    template: str | None = None
    template_file: str | None = None
    messages: list[PromptMessage] | None = None
    model: str | None = None
    params: dict[str, Any] | None = None
    message: str | None = None
    tests: list[PromptTest] | None = None
    labels: dict[str, LabelTarget] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_form(self) -> PromptFile:
        head = [
            f
            for f in (
                "template", "template_file", "messages", "model", "params", "message", "tests"
            )
            if getattr(self, f) is not None
        ]
        if self.versions is not None and head:
            raise ValueError(f"give either versions or {', '.join(head)}, not both")
        if self.versions is None and not {"template", "template_file", "messages"} & set(head):
            raise ValueError("give versions, or template / template_file / messages")
        if self.versions is not None and not self.versions:
            raise ValueError("versions must not be empty")
        return self


@dataclass(frozen=True)
class PromptSpec:
    """A prompt as the files want it, templates read and every version validated.

    `exact` is True for the `versions` form: version n of the file is version n of the registry.
    Otherwise `versions` holds one version, the content the latest version should have.
    """

    name: str
    source: str
    versions: tuple[PromptVersionCreate, ...]
    exact: bool
    labels: dict[str, int | str]

    def sha256s(self) -> list[str]:
        return [v.sha256() for v in self.versions]


@dataclass(frozen=True)
class ExperimentSpec:
    source: str
    body: ExperimentCreate


@dataclass(frozen=True)
class Bundle:
    prompts: tuple[PromptSpec, ...] = ()
    experiments: tuple[ExperimentSpec, ...] = ()


def yaml_files(root: Path) -> list[Path]:
    """The YAML files of a directory, recursively, in a stable order; or the one file given."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise SpecError([f"{root}: no such file or directory"])
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in YAML_SUFFIXES)


def load_bundle(root: Path) -> Bundle:
    """Read and validate every document under `root` (templates compiled, tests run), or raise
    SpecError listing every problem found."""
    problems: list[str] = []
    prompts: dict[str, PromptSpec] = {}
    experiments: dict[str, ExperimentSpec] = {}
    for path in yaml_files(root):
        try:
            text = path.read_text(encoding="utf-8")
            documents = [d for d in yaml.load_all(text, Loader=_Loader) if d]
        except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
            problems.append(f"{path}: {_one_line(exc)}")
            continue
        for index, document in enumerate(documents):
            where = f"{path}" if len(documents) == 1 else f"{path}[{index}]"
            if not isinstance(document, dict):
                problems.append(f"{where}: a document must be a mapping with a `kind`")
                continue
            kind = document.get("kind")
            if kind == "prompt":
                spec = _load_prompt(document, path, where, problems)
                if spec is not None:
                    if spec.name in prompts:
                        problems.append(
                            f"{where}: prompt {spec.name!r} is also defined in"
                            f" {prompts[spec.name].source}"
                        )
                    prompts[spec.name] = spec
            elif kind == "experiment":
                experiment = _load_experiment(document, where, problems)
                if experiment is not None:
                    key = experiment.body.key
                    if key in experiments:
                        problems.append(
                            f"{where}: experiment {key!r} is also defined in"
                            f" {experiments[key].source}"
                        )
                    experiments[key] = experiment
            else:
                problems.append(f"{where}: kind must be `prompt` or `experiment` (got {kind!r})")
    problems += _check_references(prompts, experiments)
    if problems:
        raise SpecError(problems)
    return Bundle(tuple(prompts.values()), tuple(experiments.values()))


def _load_prompt(
    document: dict[str, Any], path: Path, where: str, problems: list[str]
) -> PromptSpec | None:
    try:
        spec = PromptFile.model_validate(document)
    except ValidationError as exc:
        problems += _validation_problems(where, exc)
        return None
    if spec.versions is not None:
        written, exact = spec.versions, True
    else:
        fields = VersionSpec.model_fields
        head = {k: v for k, v in spec.model_dump(exclude_none=True).items() if k in fields}
        try:
            written, exact = [VersionSpec.model_validate(head)], False
        except ValidationError as exc:
            problems += _validation_problems(where, exc)
            return None
    versions: list[PromptVersionCreate] = []
    for index, version in enumerate(written):
        at = f"{where}: versions.{index}" if exact else where
        created = _version(version, path, at, problems)
        if created is not None:
            versions.append(created)
    if len(versions) != len(written):
        return None
    shas = [v.sha256() for v in versions]
    for index in range(1, len(shas)):
        if shas[index] == shas[index - 1]:
            problems.append(
                f"{where}: versions.{index} has the same content as the version before it"
                " (the registry never holds two equal versions in a row)"
            )
    for label, target in spec.labels.items():
        try:
            check_label_name(label)
        except DomainError as exc:
            problems.append(f"{where}: labels.{label}: {exc.message}")
        if exact and isinstance(target, int) and not 1 <= target <= len(versions):
            problems.append(
                f"{where}: labels.{label}: version {target} is not among the {len(versions)}"
                " versions of the file"
            )
        elif not exact and isinstance(target, int) and target < 1:
            problems.append(f"{where}: labels.{label}: versions are numbered from 1")
    return PromptSpec(spec.name, where, tuple(versions), exact, dict(spec.labels))


def _version(
    version: VersionSpec, path: Path, at: str, problems: list[str]
) -> PromptVersionCreate | None:
    template = version.template
    if version.template_file is not None:
        template_path = path.parent / version.template_file
        try:
            template = template_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{at}: template_file: {_one_line(exc)}")
            return None
    fields = version.model_dump(exclude={"template_file"}) | {"template": template}
    try:
        created = PromptVersionCreate.model_validate(fields)
        check_version(created)
    except ValidationError as exc:
        problems += _validation_problems(at, exc)
        return None
    except PromptError as exc:
        problems += _prompt_problems(at, exc)
        return None
    return created




def experiment_fields(document: Any, where: str) -> dict[str, Any]:
    """The API body of an experiment document: the document less its `kind`, which must be
    `experiment` (left out, the document is read as one: `rollout experiments create -f`
    takes the API's own JSON too). Both `apply` and `experiments create -f` read files so."""
    if not isinstance(document, dict):
        raise SpecError([f"{where}: a document must be a mapping with a `kind`"])
    kind = document.get("kind", "experiment")
    if kind != "experiment":
        raise SpecError([f"{where}: kind must be `experiment` here (got {kind!r})"])
    return {k: v for k, v in document.items() if k != "kind"}


def _load_experiment(
    document: dict[str, Any], where: str, problems: list[str]
) -> ExperimentSpec | None:
    try:
        fields = experiment_fields(document, where)
        return ExperimentSpec(where, ExperimentCreate.model_validate(fields))
    except ValidationError as exc:
        problems += _validation_problems(where, exc)
        return None


def _check_references(
    prompts: dict[str, PromptSpec], experiments: dict[str, ExperimentSpec]
) -> list[str]:
    """A variant naming a version the files define must name one they have."""
    problems = []
    for experiment in experiments.values():
        for index, variant in enumerate(experiment.body.variants):
            if variant.prompt is None:
                continue
            try:
                name, selector = parse_prompt_ref(variant.prompt)
            except PromptError as exc:
                problems.append(f"{experiment.source}: variants.{index}.prompt: {exc.message}")
                continue
            spec = prompts.get(name)
            if spec is None or not spec.exact:
                continue
            if selector.isdigit() and int(selector) > len(spec.versions):
                problems.append(
                    f"{experiment.source}: variants.{index}.prompt: {spec.source} defines"
                    f" {len(spec.versions)} versions of {name!r}, not {selector}"
                )
    return problems


def _validation_problems(where: str, exc: ValidationError) -> list[str]:
    return [f"{where}: {d['field']}: {d['message']}" for d in validation_details(exc)]


def _prompt_problems(where: str, exc: PromptError) -> list[str]:
    found = []
    for detail in exc.details or [{"field": "template", "message": exc.message}]:
        line = f" (line {detail['line']})" if "line" in detail else ""
        found.append(f"{where}: {detail.get('field', 'template')}{line}: {detail['message']}")
    return found


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def check_summary(bundle: Bundle) -> str:
    versions = sum(len(p.versions) for p in bundle.prompts)
    tests = sum(len(v.tests) for p in bundle.prompts for v in p.versions)
    return (
        f"check: {len(bundle.prompts)} prompt(s), {versions} version(s), {tests} test case(s),"
        f" {len(bundle.experiments)} experiment(s): ok"
    )

