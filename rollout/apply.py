"""Prompts as code: `rollout apply -f DIR` and `rollout export -o DIR`.

A directory of YAML files describes prompts (their versions and labels) and experiments; `apply`
compares it with the service, prints the plan (what is new, changed, unchanged) and carries it
out over the HTTP API, so a second run changes nothing. `--check` validates the files, compiles
the templates and runs the prompt tests without any service, for CI. `export` writes the
service's prompts and experiments back in the same format, so a registry can move into git.
The format is documented in docs/prompts.md.

The core (loading, validating, planning, the export documents) is pure and takes the service's
state as values; the shell around it speaks HTTP through a `Transport`, which tests replace with
the Flask test client.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from experiments.errors import DomainError
from experiments.model import DRAFT_ONLY_FIELDS, FINAL_STATUSES, ExperimentCreate, Key, Status
from experiments.prompt_labels import check_label_name
from experiments.prompts import (
    PromptError,
    PromptTest,
    PromptVersionCreate,
    check_version,
    content_sha256,
    parse_prompt_ref,
)
from rollout.errors import validation_details

YAML_SUFFIXES = (".yaml", ".yml")
LATEST = "latest"
DEFAULT_URL = "http://127.0.0.1:8000"
PAGE = 500
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, when PyYAML was built with it


class SpecError(Exception):
    """The files cannot be applied as written; one message per problem, each naming its file."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class ApiError(Exception):
    """The service refused a request; carries the contract's error document."""

    def __init__(self, status: int, body: Any, what: str) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        self.status = status
        self.code = str(error.get("code", "http_error"))
        self.details: list[dict[str, Any]] = list(error.get("details") or [])
        message = str(error.get("message", body))
        lines = [f"{what}: {status} {self.code}: {message}"]
        lines += [f"  {d.get('field', '')}: {d.get('message', '')}" for d in self.details]
        super().__init__("\n".join(lines))


# --- the file format -----------------------------------------------------------------------------


class _FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VersionSpec(_FileModel):
    """One version as written: the template inline or in a file beside the YAML file."""

    template: str | None = None
    template_file: str | None = Field(default=None, description="relative to the YAML file")
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    message: str | None = None
    tests: list[PromptTest] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_template(self) -> VersionSpec:
        if (self.template is None) == (self.template_file is None):
            raise ValueError("give exactly one of template and template_file")
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
    model: str | None = None
    params: dict[str, Any] | None = None
    message: str | None = None
    tests: list[PromptTest] | None = None
    labels: dict[str, LabelTarget] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_form(self) -> PromptFile:
        head = [
            f
            for f in ("template", "template_file", "model", "params", "message", "tests")
            if getattr(self, f) is not None
        ]
        if self.versions is not None and head:
            raise ValueError(f"give either versions or {', '.join(head)}, not both")
        if self.versions is None and self.template is None and self.template_file is None:
            raise ValueError("give versions, or template / template_file")
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
        return [content_sha256(v.template, v.model, v.params) for v in self.versions]


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
    shas = [content_sha256(v.template, v.model, v.params) for v in versions]
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


def _load_experiment(
    document: dict[str, Any], where: str, problems: list[str]
) -> ExperimentSpec | None:
    fields = {k: v for k, v in document.items() if k != "kind"}
    try:
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


# --- the plan ------------------------------------------------------------------------------------


class Action(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    PENDING = "pending"
    CONFLICT = "conflict"


SYMBOL = {
    Action.NEW: "+",
    Action.CHANGED: "~",
    Action.UNCHANGED: "=",
    Action.PENDING: "?",
    Action.CONFLICT: "!",
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Step:
    """One line of the plan and, for what changes, the request that carries it out."""

    kind: Literal["version", "label", "experiment"]
    subject: str
    action: Action
    detail: str = ""
    request: Request | None = None
    expect_version: int | None = None

    def line(self) -> str:
        detail = f"  ({self.detail})" if self.detail else ""
        return f"{SYMBOL[self.action]} {self.kind} {self.subject}: {self.action.value}{detail}"


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for s in self.steps if s.action is action)

    @property
    def conflicts(self) -> list[Step]:
        return [s for s in self.steps if s.action is Action.CONFLICT]

    @property
    def to_apply(self) -> list[Step]:
        return [s for s in self.steps if s.request is not None]

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(a)} {a.value}" for a in Action)
        return f"plan: {counts}"

    def as_json(self) -> dict[str, Any]:
        return {
            "steps": [
                {"kind": s.kind, "subject": s.subject, "action": s.action.value, "detail": s.detail}
                for s in self.steps
            ],
            "notes": self.notes,
            "counts": {a.value: self.count(a) for a in Action},
        }


@dataclass(frozen=True)
class PromptState:
    """What the service holds for a prompt: version hashes in order, labels, pending moves."""

    sha256s: tuple[str, ...]
    labels: dict[str, int]
    pending: dict[str, tuple[int, int | None, str]] = field(default_factory=dict)
    """label -> (version, previous, change id) of a move waiting for review."""

    @classmethod
    def from_detail(cls, detail: dict[str, Any]) -> PromptState:
        return cls(
            tuple(v["sha256"] for v in detail["versions"]),
            {k: int(v) for k, v in detail["labels"].items()},
            {
                p["label"]: (int(p["version"]), p.get("previous"), str(p["id"]))
                for p in detail.get("pending", [])
            },
        )


def _describe(version: PromptVersionCreate) -> str:
    parts = [version.model or "no model"]
    if version.message:
        parts.append(repr(version.message))
    return ", ".join(parts)


def plan_prompt(spec: PromptSpec, state: PromptState | None) -> Plan:
    """The versions and labels to create or move so the service matches `spec` (pure)."""
    plan = Plan()
    have = state.sha256s if state is not None else ()
    want = spec.sha256s()
    if spec.exact:
        for number, (sha, version) in enumerate(zip(want, spec.versions, strict=True), 1):
            plan.steps.append(_plan_version(spec, number, version, sha, have))
        if len(have) > len(want):
            plan.notes.append(
                f"prompt {spec.name!r}: the service has {len(have)} versions, {spec.source}"
                f" {len(want)}; `rollout export` brings the file up to date"
            )
        final = max(len(have), len(want))
    elif have and have[-1] == want[0]:
        plan.steps.append(Step("version", f"{spec.name}@{len(have)}", Action.UNCHANGED))
        final = len(have)
    else:
        final = len(have) + 1
        plan.steps.append(_new_version(spec, final, spec.versions[0]))
    labels = state.labels if state is not None else {}
    pending = state.pending if state is not None else {}
    for label, target in sorted(spec.labels.items()):
        plan.steps.append(_plan_label(spec, label, target, final, labels, pending))
    return plan


def _plan_version(
    spec: PromptSpec, number: int, version: PromptVersionCreate, sha: str, have: Sequence[str]
) -> Step:
    if number > len(have):
        return _new_version(spec, number, version)
    subject = f"{spec.name}@{number}"
    if have[number - 1] == sha:
        return Step("version", subject, Action.UNCHANGED)
    detail = (
        f"{spec.source} differs from the service's version {number}; versions are immutable:"
        " add a new version at the end instead"
    )
    return Step("version", subject, Action.CONFLICT, detail)


def _new_version(spec: PromptSpec, number: int, version: PromptVersionCreate) -> Step:
    body = version.model_dump(mode="json", exclude_none=True)
    request = Request("POST", f"/api/v1/prompts/{spec.name}/versions", body)
    return Step("version", f"{spec.name}@{number}", Action.NEW, _describe(version), request, number)


def _plan_label(
    spec: PromptSpec,
    label: str,
    target: int | str,
    final: int,
    labels: dict[str, int],
    pending: dict[str, tuple[int, int | None, str]],
) -> Step:
    subject = f"{spec.name}:{label}"
    version = final if target == LATEST else int(target)
    if version > final:
        return Step(
            "label",
            subject,
            Action.CONFLICT,
            f"version {version} does not exist (the prompt will have {final})",
        )
    current = labels.get(label)
    if current == version:
        return Step("label", subject, Action.UNCHANGED, f"-> {version}")
    waiting = pending.get(label)
    if waiting is not None and waiting[0] == version and waiting[1] == current:
        return Step(
            "label",
            subject,
            Action.PENDING,
            f"{current} -> {version} waits for review: change {waiting[2]}",
        )
    request = Request("PUT", f"/api/v1/prompts/{spec.name}/labels/{label}", {"version": version})
    action = Action.NEW if current is None else Action.CHANGED
    detail = f"-> {version}" if current is None else f"{current} -> {version}"
    return Step("label", subject, action, detail, request)


EDITABLE_FIELDS = tuple(f for f in ExperimentCreate.model_fields if f != "key")


def comparable(document: dict[str, Any]) -> dict[str, Any]:
    """An experiment's definition in one normal form, for the file and the service alike."""
    fields = {k: v for k, v in document.items() if k in ExperimentCreate.model_fields}
    dumped: dict[str, Any] = ExperimentCreate.model_validate(fields).model_dump(mode="json")
    return dumped


def plan_experiment(spec: ExperimentSpec, current: dict[str, Any] | None) -> Step:
    """Create the experiment, or PATCH the fields that differ (pure).

    The design (variants, metrics, layer) only changes in draft, so a difference there on a
    started experiment is a conflict. `traffic` of a started experiment belongs to the release
    operations (start, ramp, advance): a difference is shown, never applied.
    """
    key = spec.body.key
    want = spec.body.model_dump(mode="json")
    if current is None:
        return Step(
            "experiment",
            key,
            Action.NEW,
            "draft",
            Request(
                "POST", "/api/v1/experiments", spec.body.model_dump(mode="json", exclude_none=True)
            ),
        )
    have = comparable(current)
    differ = [f for f in EDITABLE_FIELDS if want[f] != have[f]]
    status = Status(current.get("status", Status.DRAFT))
    notes = []
    if status is not Status.DRAFT and "traffic" in differ:
        differ.remove("traffic")
        notes.append(f"traffic {have['traffic']:g} left to release operations")
    locked = sorted(set(differ) & DRAFT_ONLY_FIELDS)
    if locked and status is not Status.DRAFT:
        return Step(
            "experiment",
            key,
            Action.CONFLICT,
            f"{', '.join(locked)} cannot change: the experiment is {status.value}",
        )
    if status in FINAL_STATUSES and differ:
        notes.append(f"the experiment is {status.value}")
    if not differ:
        return Step("experiment", key, Action.UNCHANGED, "; ".join(notes))
    body = {f: want[f] for f in differ} | {"reason": "rollout apply"}
    detail = "; ".join([", ".join(differ), *notes])
    return Step(
        "experiment",
        key,
        Action.CHANGED,
        detail,
        Request("PATCH", f"/api/v1/experiments/{key}", body),
    )


# --- the export documents ------------------------------------------------------------------------


def prompt_document(
    name: str, versions: Iterable[dict[str, Any]], labels: dict[str, int]
) -> dict[str, Any]:
    """A prompt in the `versions` form, from the service's version documents (pure)."""
    written = []
    for version in versions:
        entry: dict[str, Any] = {"template": version["template"]}
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


# --- the shell: HTTP ---------------------------------------------------------------------------


class Transport(Protocol):
    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]: ...


class HttpTransport:
    """The service's HTTP API with one key, through `requests`."""

    def __init__(self, base_url: str, api_key: str, timeout_s: float = 30.0) -> None:
        import requests

        self._base = base_url.rstrip("/")
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {api_key}"
        self._timeout_s = timeout_s

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        response = self._session.request(
            method, self._base + path, json=body, timeout=self._timeout_s
        )
        try:
            payload = response.json() if response.content else None
        except ValueError:
            payload = response.text
        return response.status_code, payload


def _call(
    transport: Transport,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    missing_ok: bool = False,
) -> Any:
    status, payload = transport.request(method, path, body)
    if missing_ok and status == 404:
        return None
    if status >= 400:
        raise ApiError(status, payload, f"{method} {path}")
    return payload


def make_plan(transport: Transport, bundle: Bundle) -> Plan:
    """Read what the service holds for each file's subject and plan the difference."""
    plan = Plan()
    for spec in bundle.prompts:
        detail = _call(transport, "GET", f"/api/v1/prompts/{spec.name}", missing_ok=True)
        part = plan_prompt(spec, None if detail is None else PromptState.from_detail(detail))
        plan.steps += part.steps
        plan.notes += part.notes
    for experiment in bundle.experiments:
        current = _call(
            transport, "GET", f"/api/v1/experiments/{experiment.body.key}", missing_ok=True
        )
        plan.steps.append(plan_experiment(experiment, current))
    return plan


def execute(transport: Transport, plan: Plan) -> list[str]:
    """Carry out the plan's requests in order (versions, labels, experiments); stop at the
    first refusal, raising ApiError, since later steps may depend on it."""
    done = []
    for step in plan.to_apply:
        assert step.request is not None
        request = step.request
        status, payload = transport.request(request.method, request.path, request.body)
        if status >= 400:
            raise ApiError(status, payload, f"{step.kind} {step.subject}")
        if step.expect_version is not None and payload.get("version") != step.expect_version:
            raise ApiError(
                409,
                {
                    "error": {
                        "code": "conflict",
                        "message": (
                            f"the service answered version {payload.get('version')}, not"
                            f" {step.expect_version}: the prompt changed meanwhile; run apply again"
                        ),
                    }
                },
                f"{step.kind} {step.subject}",
            )
        if status == 202:
            change = (payload.get("pending") or {}).get("id", "?")
            done.append(f"? {step.kind} {step.subject}: waits for review (change {change})")
        else:
            done.append(f"{SYMBOL[step.action]} {step.kind} {step.subject}: {step.action.value}")
    return done


def _pages(transport: Transport, path: str, field_name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = _call(transport, "GET", f"{path}?limit={PAGE}&offset={offset}")
        found += page[field_name]
        offset = page.get("next_offset")
    return found


def export(transport: Transport, out: Path) -> list[Path]:
    """Write every prompt and experiment of the service under `out` (prompts/, experiments/)."""
    written = []
    for summary in _pages(transport, "/api/v1/prompts", "prompts"):
        name = summary["name"]
        detail = _call(transport, "GET", f"/api/v1/prompts/{name}")
        versions = [
            _call(transport, "GET", f"/api/v1/prompts/{name}/versions/{v['version']}")
            for v in detail["versions"]
        ]
        document = prompt_document(name, versions, detail["labels"])
        written.append(_write(out / "prompts" / f"{name}.yaml", dump_yaml(document)))
    for experiment in _pages(transport, "/api/v1/experiments", "experiments"):
        document = experiment_document(experiment)
        written.append(
            _write(out / "experiments" / f"{experiment['key']}.yaml", dump_yaml(document))
        )
    return written


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- the commands -------------------------------------------------------------------------------


def _transport(args: argparse.Namespace) -> Transport:
    url = args.url or os.environ.get("ROLLOUT_URL") or DEFAULT_URL
    key = args.key or os.environ.get("ROLLOUT_API_KEY")
    if not key:
        raise SpecError(["set ROLLOUT_API_KEY or pass --key (an editor key)"])
    return HttpTransport(url, key)


def run_apply(
    root: Path,
    transport: Transport | None,
    *,
    dry_run: bool = False,
    check: bool = False,
    as_json: bool = False,
    out: Any = None,
) -> int:
    """`rollout apply`: 0 when the service matches the files (or the check passed), else 1."""
    out = out or sys.stdout
    try:
        bundle = load_bundle(root)
    except SpecError as exc:
        for problem in exc.problems:
            print(problem, file=out)
        print(f"check: {len(exc.problems)} problem(s)", file=out)
        return 1
    if check:
        print(check_summary(bundle), file=out)
        return 0
    if transport is None:
        raise ValueError("a transport is needed unless --check")
    try:
        plan = make_plan(transport, bundle)
        _print_plan(plan, as_json, out)
        if plan.conflicts:
            print(f"apply: {len(plan.conflicts)} conflict(s); nothing applied", file=out)
            return 1
        if dry_run:
            return 0
        done = execute(transport, plan)
    except ApiError as exc:
        print(f"apply: {exc}", file=out)
        return 1
    if not as_json:
        for line in done:
            print(line, file=out)
        print(f"applied: {len(done)} change(s)", file=out)
    return 0


def _print_plan(plan: Plan, as_json: bool, out: Any) -> None:
    if as_json:
        print(json.dumps(plan.as_json(), indent=2), file=out)
        return
    for step in plan.steps:
        print(step.line(), file=out)
    for note in plan.notes:
        print(f"note: {note}", file=out)
    print(plan.summary(), file=out)


def cmd_apply(args: argparse.Namespace) -> int:
    try:
        transport = None if args.check else _transport(args)
        return run_apply(
            Path(args.file),
            transport,
            dry_run=args.dry_run,
            check=args.check,
            as_json=getattr(args, "json", False),
        )
    except SpecError as exc:
        print(f"rollout: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"rollout: cannot reach the service: {_one_line(exc)}", file=sys.stderr)
        return 1


def cmd_export(args: argparse.Namespace) -> int:
    try:
        written = export(_transport(args), Path(args.output))
    except SpecError as exc:
        print(f"rollout: {exc}", file=sys.stderr)
        return 2
    except ApiError as exc:
        print(f"rollout: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"rollout: {_one_line(exc)}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"exported: {len(written)} file(s)")
    return 0


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help=f"the service (default $ROLLOUT_URL or {DEFAULT_URL})")
    parser.add_argument("--key", help="an editor API key (default $ROLLOUT_API_KEY)")


def add_commands(sub: Any) -> None:
    """Register `apply` and `export` on the `rollout` command's subparsers."""
    apply = sub.add_parser(
        "apply", help="apply a directory of prompt and experiment YAML files (prompts as code)"
    )
    apply.add_argument("-f", "--file", required=True, help="a directory (or one YAML file)")
    mode = apply.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the plan only")
    mode.add_argument(
        "--check",
        action="store_true",
        help="validate the files, compile templates and run prompt tests, offline",
    )
    _connection_options(apply)
    apply.set_defaults(func=cmd_apply)

    export_cmd = sub.add_parser("export", help="write the service's prompts and experiments")
    export_cmd.add_argument("-o", "--output", required=True, help="the directory to write")
    _connection_options(export_cmd)
    export_cmd.set_defaults(func=cmd_export)
