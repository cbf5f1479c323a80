"""The rollout controller over HTTP: evaluate now (`release`), the timeline of results snapshots
(`editor`, `release`), and the webhook delivery log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field, computed_field

from experiments.model import Key, Role
from experiments.timestamps import as_rfc3339, described, with_rfc3339
from rollout.api.routing import (
    environment,
    environment_store,
    principal_name,
    review_in_environment,
    route,
    runtime,
)
from rollout.controller.runner import LostLease, evaluate_once
from rollout.controller.webhooks import derived_secret, master_secret

blueprint = Blueprint("controller", __name__, url_prefix="/api/v1")


class EvaluateResponse(BaseModel):
    action: str = Field(description="advance, hold, rollback or complete")
    reasons: list[str]
    codes: list[str] = Field(description="machine-readable reason codes, in the reasons' order")
    effect: str | None = Field(
        description="the operation the decision leads to: advance, rollback, pause (SRM) or "
        "conclude (auto_ship); null when none"
    )
    winner: str | None
    applied: str | None = Field(
        description="what was done: advanced, proposed (waits for review), awaiting_approval, "
        "rolled_back, paused, concluded; null for nothing"
    )
    recorded: bool = Field(description="whether it landed in the history")
    figures: dict[str, Any]
    experiment: str
    status: str
    stage: int | None
    traffic: float
    at: float


class TimelineQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: float | None = Field(default=None, description="only snapshots at or after (unix s)")
    limit: int = Field(default=500, ge=1, le=2000, description="the newest ones when more")


class TimelineEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    at: float = Field(description=described("at"))
    status: str | None
    stage: int | None
    traffic: float | None
    srm: dict[str, Any] | None
    variants: dict[str, Any] | None
    metrics: list[dict[str, Any]]
    decision: dict[str, Any]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def at_rfc3339(self) -> str | None:
        """`at` as an RFC 3339 string in UTC (e.g. 2026-12-01T21:39:08.123Z)."""
        return as_rfc3339(self.at)


class Timeline(BaseModel):
    experiment: str
    environment: str
    entries: list[TimelineEntry]


class DeliveriesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    experiment: Key | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class Delivery(BaseModel):
    model_config = ConfigDict(extra="allow")
    delivery: str
    id: str | None
    experiment: str | None
    url: str
    attempt: int
    at: float = Field(description=described("at"))
    status_code: int | None
    ok: bool
    error: str | None
    next_attempt_at: float | None = Field(description=described("next_attempt_at"))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def at_rfc3339(self) -> str | None:
        """`at` as an RFC 3339 string in UTC (e.g. 2026-12-01T21:39:08.123Z)."""
        return as_rfc3339(self.at)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def next_attempt_at_rfc3339(self) -> str | None:
        """`next_attempt_at` as an RFC 3339 string in UTC (e.g. 2026-12-01T21:39:08.123Z)."""
        return as_rfc3339(self.next_attempt_at)


class Deliveries(BaseModel):
    deliveries: list[Delivery]


class SecretQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://", max_length=2000)


class WebhookSecret(BaseModel):
    url: str
    scope: str = Field(description="global (ROLLOUT_WEBHOOK_URLS) or experiment")
    secret: str


@route(
    blueprint,
    "/experiments/<key>/evaluate",
    "POST",
    summary="Run one controller evaluation now and apply its decision",
    roles=[Role.RELEASE],
    response=EvaluateResponse,
    errors=[404, 409],
)
def evaluate(key: str) -> Any:
    rt = runtime()

    def once() -> dict[str, Any]:
        return evaluate_once(
            environment_store(),
            key,
            rt.now(),
            actor=principal_name(),
            review_required=review_in_environment(),
            webhook_urls=rt.settings.webhook_urls,
            environment_webhooks=[str(u) for u in environment().settings.webhooks],
            force_record=True,
        ).as_dict()

    try:
        return once()
    except LostLease:
        # A new lease holder appeared between reading the fencing token and applying: the next
        # attempt reads the new token.
        return once()


@route(
    blueprint,
    "/experiments/<key>/timeline",
    "GET",
    summary="The results snapshot of every evaluation, oldest first (older ones thinned)",
    roles=[Role.EDITOR, Role.RELEASE],
    query=TimelineQuery,
    response=Timeline,
    errors=[404],
)
def timeline(key: str, query: TimelineQuery) -> Any:
    store = environment_store()
    store.experiments.get(key)
    entries = store.controller.timeline(key, query.since, query.limit)
    return {
        "experiment": key,
        "environment": store.environment,
        "entries": [with_rfc3339(e, "at") for e in entries],
    }


@route(
    blueprint,
    "/webhooks/deliveries",
    "GET",
    summary="The webhook delivery log, newest first",
    roles=[Role.EDITOR, Role.RELEASE],
    query=DeliveriesQuery,
    response=Deliveries,
)
def deliveries(query: DeliveriesQuery) -> Any:
    log = runtime().store.controller.webhooks.deliveries(
        query.experiment, query.limit, environment().name
    )
    return {"deliveries": [with_rfc3339(d, "at", "next_attempt_at") for d in log]}


@route(
    blueprint,
    "/webhooks/secret",
    "GET",
    summary="The signing secret of a webhook URL (admin)",
    roles=[Role.ADMIN],
    query=SecretQuery,
    response=WebhookSecret,
)
def webhook_secret(query: SecretQuery) -> Any:
    rt = runtime()
    master = master_secret(rt.store, rt.settings)
    if query.url in rt.settings.webhook_urls:
        return {"url": query.url, "scope": "global", "secret": master}
    return {"url": query.url, "scope": "experiment", "secret": derived_secret(master, query.url)}
