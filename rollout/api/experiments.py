"""Experiments: define (`editor`), operate (`release`), read (`editor`, `release`)."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from experiments.model import (
    Experiment,
    ExperimentCreate,
    ExperimentPatch,
    HistoryEntry,
    Key,
    PendingChange,
    Role,
    Status,
)
from rollout.api.paging import HistoryQuery, Page, PageQuery, page_of
from rollout.api.routing import (
    check_spans,
    environment,
    environment_store,
    principal_name,
    review_in_environment,
    route,
    runtime,
)
from rollout.operations import archiving, promotion
from rollout.operations import experiments as operations

blueprint = Blueprint("experiments", __name__, url_prefix="/api/v1")

READERS = [Role.EDITOR, Role.RELEASE]
OPERATORS = [Role.RELEASE]
REVISION_TAG = re.compile(r"[0-9]{1,18}")


class ListQuery(PageQuery):
    status: Status | None = None
    owner: str | None = Field(default=None, max_length=200)
    layer: Key | None = None
    archived: bool = Field(default=False, description="true lists the archived ones too")


class UnreadableExperiment(BaseModel):
    """A stored experiment that cannot be read back: listed so that it is seen and rolled back
    (rollback and pause salvage it), never silently gone."""

    key: str
    code: str = "stored_data_invalid"
    message: str


class ExperimentList(Page):
    environment: str
    experiments: list[Experiment]
    unreadable: list[UnreadableExperiment] = Field(default_factory=list)


class HistoryList(BaseModel):
    experiment: str
    environment: str
    history: list[HistoryEntry]


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000)


class PromotionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_: Key = Field(alias="from", description="the environment the definition is copied from")
    to: Key = Field(description="the environment it lands in, as a draft")


class ConcludeBody(ReasonBody):
    winner: Key


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    change: str = Field(min_length=1, max_length=64, description="the id of the pending change")


class OperationResult(BaseModel):
    experiment: ExperimentInEnvironment
    pending: PendingChange | None = None


class ExperimentInEnvironment(Experiment):
    """An experiment as answered: its document and the environment it lives in."""

    environment: str = Field(description="the environment the experiment lives in")


def _document(experiment: Experiment) -> dict[str, Any]:
    return experiment.model_dump(mode="json") | {"environment": environment().name}


def _with_etag(experiment: Experiment, status: int = 200) -> Response:
    response = jsonify(_document(experiment))
    response.status_code = status
    response.headers["ETag"] = f'"{experiment.revision}"'
    return response


def _if_match_revision() -> int | None:
    """Optimistic concurrency for clients that want it: If-Match carries the revision (ETag) they
    saw; None when absent or `*`. A tag that is no revision of ours matches nothing (-1)."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    return int(tag) if REVISION_TAG.fullmatch(tag) else -1


def _outcome(outcome: operations.Outcome) -> Any:
    body = {
        "experiment": _document(outcome.experiment),
        "pending": outcome.pending.model_dump(mode="json") if outcome.pending else None,
    }
    return body, (202 if outcome.pending else 200)


@route(
    blueprint,
    "/experiments",
    "POST",
    summary="Define an experiment (draft)",
    roles=[Role.EDITOR],
    body=ExperimentCreate,
    response=ExperimentInEnvironment,
    status=201,
    errors=[409],
)
def create_experiment(body: ExperimentCreate) -> Response:
    rt = runtime()
    return _with_etag(operations.create(environment_store(), body, principal_name(), rt.now()), 201)


@route(
    blueprint,
    "/experiments",
    "GET",
    summary="List experiments (filter, paginate)",
    roles=READERS,
    query=ListQuery,
    response=ExperimentList,
)
def list_experiments(query: ListQuery) -> Any:
    catalog = environment_store().experiments.catalog()
    found = [
        e
        for e in catalog.experiments
        if (query.status is None or e.status is query.status)
        and (query.owner is None or e.owner == query.owner)
        and (query.layer is None or e.layer == query.layer)
        and (query.archived or e.archived_at is None)
    ]
    page, envelope = page_of(found, query)
    unreadable = [
        UnreadableExperiment(key=key, message=message).model_dump()
        for key, message in sorted(catalog.unreadable.items())
    ]
    return {
        "environment": environment().name,
        "experiments": [e.model_dump(mode="json") for e in page],
        **envelope,
        "unreadable": unreadable,
    }


@route(
    blueprint,
    "/experiments/<key>",
    "GET",
    summary="One experiment",
    roles=READERS,
    response=ExperimentInEnvironment,
    errors=[404],
)
def get_experiment(key: str) -> Response:
    return _with_etag(environment_store().experiments.get(key))


@route(
    blueprint,
    "/experiments/<key>",
    "PATCH",
    summary="Change traffic, targeting, descriptive fields (the design only in draft)",
    roles=[Role.EDITOR, Role.RELEASE],
    body=ExperimentPatch,
    response=ExperimentInEnvironment,
    errors=[404, 409],
    extra_responses={202: "a raise of traffic waits for review"},
)
def patch_experiment(key: str, body: ExperimentPatch) -> Any:
    rt = runtime()
    outcome = operations.patch(
        environment_store(),
        key,
        body,
        principal_name(),
        rt.now(),
        review_in_environment(),
        expected_revision=_if_match_revision(),
    )
    if outcome.pending is not None:
        return _outcome(outcome)
    return _with_etag(outcome.experiment)


@route(
    blueprint,
    "/experiments/<key>/history",
    "GET",
    summary="Every change: who, when, what, why",
    roles=READERS,
    query=HistoryQuery,
    response=HistoryList,
    errors=[404],
)
def experiment_history(key: str, query: HistoryQuery) -> Any:
    entries = environment_store().experiments.history(key, query.offset, query.limit)
    return {
        "experiment": key,
        "environment": environment().name,
        "history": [e.model_dump(mode="json") for e in entries],
    }


@route(
    blueprint,
    "/experiments/<key>/start",
    "POST",
    summary="Start (or propose to, under review)",
    roles=OPERATORS,
    body=ReasonBody,
    response=OperationResult,
    errors=[404, 409],
    extra_responses={202: "waits for review"},
)
def start_experiment(key: str, body: ReasonBody) -> Any:
    rt = runtime()
    return _outcome(
        operations.start(
            environment_store(),
            key,
            principal_name(),
            rt.now(),
            review_in_environment(),
            body.reason,
        )
    )


@route(
    blueprint,
    "/experiments/<key>/pause",
    "POST",
    summary="Pause: everyone gets control",
    roles=OPERATORS,
    body=ReasonBody,
    response=OperationResult,
    errors=[404, 409],
)
def pause_experiment(key: str, body: ReasonBody) -> Any:
    rt = runtime()
    return _outcome(
        operations.pause(environment_store(), key, principal_name(), rt.now(), body.reason)
    )


@route(
    blueprint,
    "/experiments/<key>/resume",
    "POST",
    summary="Resume a paused experiment",
    roles=OPERATORS,
    body=ReasonBody,
    response=OperationResult,
    errors=[404, 409],
)
def resume_experiment(key: str, body: ReasonBody) -> Any:
    rt = runtime()
    return _outcome(
        operations.resume(environment_store(), key, principal_name(), rt.now(), body.reason)
    )


@route(
    blueprint,
    "/experiments/<key>/advance",
    "POST",
    summary="Move to the next rollout stage",
    roles=OPERATORS,
    body=ReasonBody,
    response=OperationResult,
    errors=[404, 409],
    extra_responses={202: "waits for review"},
)
def advance_experiment(key: str, body: ReasonBody) -> Any:
    rt = runtime()
    return _outcome(
        operations.advance(
            environment_store(),
            key,
            principal_name(),
            rt.now(),
            review_in_environment(),
            body.reason,
        )
    )


@route(
    blueprint,
    "/experiments/<key>/rollback",
    "POST",
    summary="Roll back: everyone gets control (never waits for review)",
    roles=OPERATORS,
    body=ReasonBody,
    response=OperationResult,
    errors=[404, 409],
)
def rollback_experiment(key: str, body: ReasonBody) -> Any:
    rt = runtime()
    reason = body.reason or "manual rollback"
    return _outcome(
        operations.rollback(environment_store(), key, principal_name(), rt.now(), reason)
    )


@route(
    blueprint,
    "/experiments/<key>/conclude",
    "POST",
    summary="Conclude: everyone gets the winner",
    roles=OPERATORS,
    body=ConcludeBody,
    response=OperationResult,
    errors=[404, 409],
)
def conclude_experiment(key: str, body: ConcludeBody) -> Any:
    rt = runtime()
    return _outcome(
        operations.conclude(
            environment_store(), key, principal_name(), rt.now(), body.winner, body.reason
        )
    )


@route(
    blueprint,
    "/experiments/<key>/approve",
    "POST",
    summary="Approve a pending change (four eyes: not by its proposer)",
    roles=[Role.RELEASE, Role.EDITOR],
    body=ApproveBody,
    response=OperationResult,
    errors=[404, 409],
)
def approve_change(key: str, body: ApproveBody) -> Any:
    rt = runtime()
    return _outcome(
        operations.approve(environment_store(), key, body.change, principal_name(), rt.now())
    )


@route(
    blueprint,
    "/experiments/<key>/archive",
    "POST",
    summary="Archive: hidden from lists and SDKs, kept with its history (not while running or"
    " paused)",
    roles=[Role.EDITOR],
    body=ReasonBody,
    response=OperationResult,
    errors=[404, 409],
)
def archive_experiment(key: str, body: ReasonBody) -> Any:
    rt = runtime()
    experiment = archiving.archive_experiment(
        environment_store(), key, principal_name(), rt.now(), body.reason
    )
    return _outcome(operations.Outcome(experiment))


@route(
    blueprint,
    "/experiments/<key>/unarchive",
    "POST",
    summary="Unarchive: listed and served again, in the state it was archived in",
    roles=[Role.EDITOR],
    body=ReasonBody,
    response=OperationResult,
    errors=[404],
)
def unarchive_experiment(key: str, body: ReasonBody) -> Any:
    rt = runtime()
    experiment = archiving.unarchive_experiment(
        environment_store(), key, principal_name(), rt.now(), body.reason
    )
    return _outcome(operations.Outcome(experiment))


@route(
    blueprint,
    "/experiments/<key>/promote",
    "POST",
    summary="Copy the definition into another environment as a draft (a draft there is"
    " replaced; anything else is 409); the history of both says so",
    roles=[Role.RELEASE],
    body=PromotionBody,
    response=ExperimentInEnvironment,
    status=201,
    errors=[404, 409],
)
def promote_experiment(key: str, body: PromotionBody) -> Response:
    check_spans(body.from_, body.to)
    rt = runtime()
    target = rt.store.in_environment(body.to)
    draft = promotion.promote(
        rt.store.in_environment(body.from_), target, key, principal_name(), rt.now()
    )
    response = jsonify(draft.model_dump(mode="json") | {"environment": body.to})
    response.status_code = 201
    response.headers["ETag"] = f'"{draft.revision}"'
    return response
