"""The plan of `rollout apply`: what to create, move or patch so the service matches the files.

Pure: it takes the specs and the service's state as values (`PromptState`, an experiment's
document) and answers steps, each with the request that carries it out; `sync` reads the state
and sends the requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from experiments.model import (
    CREATION_ONLY_FIELDS,
    DRAFT_ONLY_FIELDS,
    FINAL_STATUSES,
    ExperimentCreate,
    Status,
)
from experiments.prompts.version import PromptVersionCreate
from rollout.apply.spec import LATEST, ExperimentSpec, PromptSpec


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


def plan_prompt(
    spec: PromptSpec, state: PromptState | None, others: frozenset[str] = frozenset()
) -> Plan:
    """The versions and labels to create or move so the service matches `spec` (pure).

    `others` are the names of the environments other than the one applied to: a label so named
    is that environment's live version, so it is left alone (with a note) rather than moved from
    here; promoting it there is `rollout prompts promote` or an apply with that `--env`."""
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
        if label in others:
            plan.notes.append(
                f"prompt {spec.name!r}: label {label!r} is environment {label}'s; left alone"
                f" (`rollout apply --env {label}` moves it)"
            )
            continue
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
    started experiment is a conflict; `shards` never changes, so a difference there always is.
    `traffic` of a started experiment belongs to the release operations (start, ramp, advance):
    a difference is shown, never applied.
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
    fixed = sorted(set(differ) & CREATION_ONLY_FIELDS)
    if fixed:
        return Step(
            "experiment",
            key,
            Action.CONFLICT,
            f"{', '.join(fixed)} is fixed at creation: create a new experiment for another value",
        )
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

