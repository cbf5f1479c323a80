"""Prompts: immutable versions, labels (reviewed for `production`), rendering, diffs.

`editor` writes; `editor` and `release` read; applications (`sdk`) resolve a label to the version
they should use outside any experiment.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g
from pydantic import BaseModel, ConfigDict, Field, computed_field

from experiments.environments import review_required
from experiments.errors import Invalid
from experiments.model import KEY_PATTERN, Key, Role
from experiments.prompt_labels import LabelProposal
from experiments.prompts.diff import unified_diff
from experiments.prompts.sandbox import render, render_messages
from experiments.prompts.version import (
    PromptMessage,
    PromptTest,
    PromptVersionCreate,
    RenderRequest,
)
from experiments.timestamps import as_rfc3339, described, with_rfc3339
from rollout.api.paging import HistoryQuery, Page, PageQuery, page_of
from rollout.api.routing import (
    check_spans,
    environment,
    environment_store,
    principal_name,
    route,
    runtime,
)
from rollout.auth import Principal
from rollout.errors import WrongEnvironment
from rollout.operations import archiving
from rollout.operations import prompts as prompt_operations

blueprint = Blueprint("prompts", __name__, url_prefix="/api/v1")

WRITERS = [Role.EDITOR]
READERS = [Role.EDITOR, Role.RELEASE]
RESOLVERS = [Role.SDK, Role.EDITOR, Role.RELEASE]
APPROVERS = [Role.EDITOR, Role.RELEASE]


class PromptVersionBrief(BaseModel):
    name: str
    version: int
    sha256: str
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    message: str | None = None
    variables: list[str] = Field(default_factory=list)
    portable: bool = Field(
        description="whether both SDKs render the template to the same text (the portable"
        " subset, docs/prompts.md): set when the version is created; the TypeScript SDK refuses"
        " to render a version that is not"
    )
    author: str | None = None
    created_at: float | None = Field(default=None, description=described("created_at"))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def created_at_rfc3339(self) -> str | None:
        """`created_at` as an RFC 3339 string in UTC (e.g. 2026-12-01T21:39:08.123Z)."""
        return as_rfc3339(self.created_at)


class PromptVersionSummary(PromptVersionBrief):
    pinned_by: list[str] = Field(
        default_factory=list, description="experiments whose variants reference this version"
    )


class PromptVersionOut(PromptVersionSummary):
    template: str | None = Field(description="the template; null for a chat prompt")
    messages: list[PromptMessage] | None = Field(
        default=None, description="a chat prompt's messages, each a role and a template"
    )
    tests: list[PromptTest] = Field(default_factory=list)


class ResolvedVersion(BaseModel):
    """What an application needs to use a prompt outside any experiment."""

    name: str
    label: str
    version: int
    sha256: str
    template: str | None = Field(description="the template; null for a chat prompt")
    messages: list[PromptMessage] | None = Field(
        default=None, description="a chat prompt's messages, each a role and a template"
    )
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    variables: list[str] = Field(default_factory=list)
    portable: bool = Field(
        description="whether both SDKs render the template to the same text (the portable"
        " subset, docs/prompts.md): set when the version is created; the TypeScript SDK refuses"
        " to render a version that is not"
    )


class ArchiveState(BaseModel):
    """Whether a prompt is archived: hidden from lists and from the SDK configuration."""

    archived_at: float | None = Field(
        default=None,
        description="when it was archived, None while it is not; " + described("archived_at"),
    )
    archived_by: str | None = Field(default=None, description="the key that archived it")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def archived_at_rfc3339(self) -> str | None:
        """`archived_at` as an RFC 3339 string in UTC (e.g. 2026-12-01T21:39:08.123Z)."""
        return as_rfc3339(self.archived_at)


class PromptDetail(ArchiveState):
    name: str
    versions: list[PromptVersionSummary]
    labels: dict[str, int]
    pending: list[LabelProposal] = Field(description="label moves waiting for review")


class PromptSummary(ArchiveState):
    name: str
    versions: int
    latest: PromptVersionBrief
    labels: dict[str, int]


class PromptList(Page):
    prompts: list[PromptSummary]


class PromptListQuery(PageQuery):
    archived: bool = Field(default=False, description="true lists the archived ones too")


class PromptArchive(ArchiveState):
    prompt: str


class ArchiveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000, description="why, for the history")


class PromptHistory(BaseModel):
    prompt: str
    history: list[dict[str, Any]] = Field(
        description="oldest first; each entry's `at` is Unix time in seconds (UTC), the same"
        " instant as RFC 3339 in its `at_rfc3339`"
    )


class RenderedText(BaseModel):
    text: str | None = Field(default=None, description="a one-template version's text")
    messages: list[PromptMessage] | None = Field(
        default=None, description="a chat prompt's messages, rendered (and no `text`)"
    )


class PromptDiff(BaseModel):
    prompt: str
    from_version: int
    to_version: int
    identical: bool
    diff: str = Field(
        description="unified diff of the template or of each message, then of the model and params"
    )


class LabelMove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)
    reason: str | None = Field(default=None, max_length=2000)


class LabelState(BaseModel):
    prompt: str
    label: str
    version: int | None = Field(description="where the label points now")
    previous: int | None
    changed: bool
    pending: LabelProposal | None = None


class LabelApproval(BaseModel):
    model_config = ConfigDict(extra="forbid")
    change: str = Field(min_length=1, max_length=64, description="the id of the pending change")


class ResolveQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(
        default=None,
        pattern=KEY_PATTERN,
        description="default: the label named like the request's environment (its live version)",
    )


class PromptPromotion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_: Key = Field(alias="from", description="the environment whose live version is promoted")
    to: Key = Field(description="the environment whose label moves (under its review settings)")
    reason: str | None = Field(default=None, max_length=2000)


def _pinned_by(name: str) -> dict[int, list[str]]:
    """Version -> the experiments of the request's environment that reference it (those of
    other environments are theirs to know: pins are stored as `E/<key>` outside production)."""
    prefix = environment_store().qualified("")
    pins = runtime().store.prompts.pins(name)
    found: dict[int, list[str]] = {}
    for version, refs in pins.items():
        keys = [ref.partition(":")[0] for ref in refs]
        mine = sorted({k.removeprefix(prefix) for k in keys if _pinned_here(k, prefix)})
        if mine:
            found[version] = mine
    return found


def _pinned_here(qualified: str, prefix: str) -> bool:
    return qualified.startswith(prefix) if prefix else "/" not in qualified


def _check_label_in_reach(label: str) -> None:
    """A key of one environment moves, approves and resolves the labels of no other
    environment: a label named like an environment is that environment's live version."""
    principal: Principal = g.principal
    if principal.environment is None or label == principal.environment:
        return
    if label in runtime().environments.all():
        raise WrongEnvironment(
            f"label {label!r} is the live version of environment {label!r}; key"
            f" {principal.name!r} acts in {principal.environment!r} only"
        )


def _label_visible(label: str) -> bool:
    """Whether the calling key may see `label`: any, for an all-environments key, else every
    label but those of other environments (their live versions, moves and proposals)."""
    principal: Principal = g.principal
    if principal.environment is None or label == principal.environment:
        return True
    return label not in runtime().environments.all()


def _labels_in_reach(labels: dict[str, int]) -> dict[str, int]:
    return {label: version for label, version in labels.items() if _label_visible(label)}


def _reviewed_labels() -> frozenset[str]:
    """The labels whose moves wait for review: those of the environments that require it."""
    rt = runtime()
    return frozenset(
        e.name
        for e in rt.environments.all().values()
        if review_required(e, rt.settings.require_review)
    )


def _archive_state(record: dict[str, Any] | None) -> dict[str, Any]:
    return ArchiveState.model_validate(record or {}).model_dump(mode="json")


def _brief(document: dict[str, Any]) -> dict[str, Any]:
    return PromptVersionBrief.model_validate(document).model_dump(mode="json")


def _summary(document: dict[str, Any], pins: dict[int, list[str]]) -> dict[str, Any]:
    return _brief(document) | {"pinned_by": pins.get(document["version"], [])}


def _full(document: dict[str, Any], pins: dict[int, list[str]]) -> dict[str, Any]:
    return _summary(document, pins) | {
        "template": document["template"],
        "messages": document.get("messages"),
        "tests": document.get("tests") or [],
    }


def _label_state(outcome: prompt_operations.LabelOutcome) -> tuple[dict[str, Any], int]:
    body = LabelState(
        prompt=outcome.prompt,
        label=outcome.label,
        version=outcome.version,
        previous=outcome.previous,
        changed=outcome.changed,
        pending=outcome.pending,
    ).model_dump(mode="json")
    waiting = outcome.pending is not None and not outcome.changed
    return body, (202 if waiting else 200)


@route(
    blueprint,
    "/prompts/<prompt>/versions",
    "POST",
    summary="Create the next immutable version (the same content as the latest answers 200)",
    roles=WRITERS,
    body=PromptVersionCreate,
    response=PromptVersionOut,
    status=201,
    extra_responses={200: "the same content as the latest version: that version"},
)
def create_version(prompt: str, body: PromptVersionCreate) -> Any:
    rt = runtime()
    document, created = prompt_operations.create_version(
        rt.store, prompt, body, principal_name(), rt.now()
    )
    return _full(document, _pinned_by(prompt)), (201 if created else 200)


@route(
    blueprint,
    "/prompts",
    "GET",
    summary="List prompts (paginated)",
    roles=READERS,
    query=PromptListQuery,
    response=PromptList,
)
def list_prompts(query: PromptListQuery) -> Any:
    prompts = runtime().store.prompts
    names = prompts.names()
    archived = prompts.archived(names)
    shown = names if query.archived else [n for n in names if n not in archived]
    page, envelope = page_of(shown, query)
    summaries = prompts.summaries(list(page))
    return {
        "prompts": [
            s
            | {"latest": _brief(s["latest"]), "labels": _labels_in_reach(s["labels"])}
            | _archive_state(archived.get(s["name"]))
            for s in summaries
        ],
        **envelope,
    }


@route(
    blueprint,
    "/prompts/<prompt>",
    "GET",
    summary="A prompt: its versions, labels and pending label moves",
    roles=READERS,
    response=PromptDetail,
    errors=[404],
)
def get_prompt(prompt: str) -> Any:
    prompts = runtime().store.prompts
    versions = prompts.versions(prompt)
    pins = _pinned_by(prompt)
    return {
        "name": prompt,
        "versions": [_summary(v, pins) for v in versions],
        "labels": _labels_in_reach(prompts.labels(prompt)),
        "pending": [
            p.model_dump(mode="json")
            for p in prompts.pending(prompt)
            if _label_visible(p.label)
        ],
    } | _archive_state(prompts.archived([prompt]).get(prompt))


@route(
    blueprint,
    "/prompts/<prompt>/versions/<int:n>",
    "GET",
    summary="One version, with its template, variables and tests",
    roles=READERS,
    response=PromptVersionOut,
    errors=[404],
)
def get_version(prompt: str, n: int) -> Any:
    return _full(runtime().store.prompts.get_version(prompt, n), _pinned_by(prompt))


@route(
    blueprint,
    "/prompts/<prompt>/versions/<int:n>/render",
    "POST",
    summary="Render a version in the sandbox: `text`, or a chat prompt's `messages` (a missing"
    " variable is 422 naming it)",
    roles=READERS,
    body=RenderRequest,
    response=RenderedText,
    errors=[404],
)
def render_version(prompt: str, n: int, body: RenderRequest) -> Any:
    document = runtime().store.prompts.get_version(prompt, n)
    messages = document.get("messages")
    if messages is not None:
        return {"messages": render_messages(messages, body.variables)}
    return {"text": render(document["template"], body.variables)}


@route(
    blueprint,
    "/prompts/<prompt>/versions/<int:a>/diff/<int:b>",
    "GET",
    summary="Unified diff from version a to version b (template, model and params)",
    roles=READERS,
    response=PromptDiff,
    errors=[404],
)
def diff_versions(prompt: str, a: int, b: int) -> Any:
    prompts = runtime().store.prompts
    before, after = prompts.get_version(prompt, a), prompts.get_version(prompt, b)
    return {
        "prompt": prompt,
        "from_version": a,
        "to_version": b,
        "identical": before["sha256"] == after["sha256"],
        "diff": unified_diff(before, after),
    }


@route(
    blueprint,
    "/prompts/<prompt>/labels/<label>",
    "PUT",
    summary="Point a label at a version (moving `production` waits for review when required)",
    roles=WRITERS,
    body=LabelMove,
    response=LabelState,
    errors=[404],
    extra_responses={202: "the move waits for review"},
)
def put_label(prompt: str, label: str, body: LabelMove) -> Any:
    _check_label_in_reach(label)
    rt = runtime()
    outcome = prompt_operations.move_label(
        rt.store,
        prompt,
        label,
        body.version,
        principal_name(),
        rt.now(),
        True,
        body.reason,
        _reviewed_labels(),
    )
    return _label_state(outcome)


@route(
    blueprint,
    "/prompts/<prompt>/approve",
    "POST",
    summary="Approve a pending label move (four eyes: not by its proposer)",
    roles=APPROVERS,
    body=LabelApproval,
    response=LabelState,
    errors=[404, 409],
)
def approve_label(prompt: str, body: LabelApproval) -> Any:
    rt = runtime()
    waiting = [p for p in rt.store.prompts.pending(prompt) if p.id == body.change]
    for proposal in waiting:
        _check_label_in_reach(proposal.label)
    outcome = prompt_operations.approve_label(
        rt.store, prompt, body.change, principal_name(), rt.now()
    )
    return _label_state(outcome)


@route(
    blueprint,
    "/prompts/<prompt>/resolve",
    "GET",
    summary="The version a label points at: what to use outside any experiment",
    roles=RESOLVERS,
    query=ResolveQuery,
    response=ResolvedVersion,
    errors=[404],
)
def resolve_label(prompt: str, query: ResolveQuery) -> Any:
    label = query.label or environment().name
    _check_label_in_reach(label)
    document = prompt_operations.resolve_label(runtime().store, prompt, label)
    fields = ResolvedVersion.model_fields
    return {k: v for k, v in document.items() if k in fields} | {"label": label}


@route(
    blueprint,
    "/prompts/<prompt>/history",
    "GET",
    summary="Every change of a prompt: versions, label moves, proposals and approvals",
    roles=READERS,
    query=HistoryQuery,
    response=PromptHistory,
    errors=[404],
)
def prompt_history(prompt: str, query: HistoryQuery) -> Any:
    prompts = runtime().store.prompts
    prompts.require(prompt)
    entries = prompts.history(prompt, query.offset, query.limit)
    shown = [e for e in entries if "label" not in e or _label_visible(str(e["label"]))]
    return {"prompt": prompt, "history": [with_rfc3339(entry, "at") for entry in shown]}


@route(
    blueprint,
    "/prompts/<prompt>/archive",
    "POST",
    summary="Archive: hidden from lists and SDKs, kept with its history (not while a running or"
    " paused experiment uses it)",
    roles=WRITERS,
    body=ArchiveBody,
    response=PromptArchive,
    errors=[404, 409],
)
def archive_prompt(prompt: str, body: ArchiveBody) -> Any:
    rt = runtime()
    record = archiving.archive_prompt(rt.store, prompt, principal_name(), rt.now(), body.reason)
    return {"prompt": prompt} | _archive_state(record)


@route(
    blueprint,
    "/prompts/<prompt>/unarchive",
    "POST",
    summary="Unarchive: listed and served again",
    roles=WRITERS,
    body=ArchiveBody,
    response=PromptArchive,
    errors=[404],
)
def unarchive_prompt(prompt: str, body: ArchiveBody) -> Any:
    rt = runtime()
    archiving.unarchive_prompt(rt.store, prompt, principal_name(), rt.now(), body.reason)
    return {"prompt": prompt} | _archive_state(None)


@route(
    blueprint,
    "/prompts/<prompt>/promote",
    "POST",
    summary="Promote a prompt: point environment `to`'s label at the version environment"
    " `from`'s label points at (waits for review where `to` requires it)",
    roles=[Role.EDITOR, Role.RELEASE],
    body=PromptPromotion,
    response=LabelState,
    errors=[404, 409],
    extra_responses={202: "the move waits for review"},
)
def promote_prompt(prompt: str, body: PromptPromotion) -> Any:
    rt = runtime()
    check_spans(body.from_, body.to)
    version = rt.store.prompts.labels(prompt).get(body.from_)
    if version is None:
        rt.store.prompts.require(prompt)
        message = f"prompt {prompt!r} has no version live in {body.from_!r} (no such label)"
        raise Invalid(message, [{"field": "from", "message": message}], code="unknown_label")
    outcome = prompt_operations.move_label(
        rt.store,
        prompt,
        body.to,
        version,
        principal_name(),
        rt.now(),
        True,
        body.reason or f"promoted from {body.from_}",
        _reviewed_labels(),
    )
    return _label_state(outcome)
