"""API keys (`admin`): create (the secret is shown once), list, revoke.

A key belongs to one environment, or to every environment (`environment: null`, any role, made by
an all-environments admin key). An admin key of one environment sees and manages only that
environment's keys: to it the others do not exist."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, g
from pydantic import BaseModel, ConfigDict, Field, computed_field

from experiments.errors import Conflict, Invalid, NotFound
from experiments.model import Key, Role
from experiments.timestamps import as_rfc3339, described
from rollout.api.routing import environment, principal_name, route, runtime
from rollout.auth import BOOTSTRAP_NAME, Principal
from rollout.errors import WrongEnvironment

blueprint = Blueprint("keys", __name__, url_prefix="/api/v1")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Key
    role: Role
    environment: Key | None = Field(
        default=None,
        description="the one environment the key acts in; null: every environment (picked per"
        " request with X-Rollout-Environment). Left out: every environment for an admin key,"
        " else the request's environment (production unless named)",
    )

    def environment_wanted(self, request_environment: str) -> str | None:
        if "environment" in self.model_fields_set:
            return self.environment
        return None if self.role is Role.ADMIN else request_environment


class KeyInfo(BaseModel):
    name: str
    role: Role
    environment: str | None = Field(description="the key's environment; null: every one")
    created_at: float = Field(description=described("created_at"))
    created_by: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def created_at_rfc3339(self) -> str | None:
        """`created_at` as an RFC 3339 string in UTC (e.g. 2026-12-01T21:39:08.123Z)."""
        return as_rfc3339(self.created_at)


class KeyCreated(KeyInfo):
    secret: str


class KeyList(BaseModel):
    keys: list[KeyInfo]


@route(
    blueprint,
    "/keys",
    "POST",
    summary="Create an API key; the secret is shown once",
    roles=[Role.ADMIN],
    body=KeyCreate,
    response=KeyCreated,
    status=201,
    errors=[409],
)
def create_key(body: KeyCreate) -> Any:
    if body.name == BOOTSTRAP_NAME:
        # The history names ROLLOUT_ADMIN_KEY's caller so; a key of that name would pass for it.
        raise Conflict(
            f"{BOOTSTRAP_NAME!r} is the name of ROLLOUT_ADMIN_KEY; choose another",
            code="reserved_name",
        )
    rt = runtime()
    wanted = body.environment_wanted(environment().name)
    _check_may_manage(wanted)
    if wanted is not None and wanted not in {e.name for e in rt.environments.active()}:
        message = f"no environment {wanted!r} (or it is archived)"
        raise Invalid(message, [{"field": "environment", "message": message}])
    key, secret = rt.store.apikeys.create(body.name, body.role, rt.now(), principal_name(), wanted)
    rt.store.announce_change()
    return KeyCreated.model_validate({**key.public(), "secret": secret}), 201


@route(
    blueprint,
    "/keys",
    "GET",
    summary="List API keys (names and roles, never secrets)",
    roles=[Role.ADMIN],
    response=KeyList,
)
def list_keys() -> Any:
    keys = runtime().store.apikeys.list()
    scope = _caller_scope()
    shown = [k for k in keys if scope is None or k.environment == scope]
    return KeyList(keys=[KeyInfo.model_validate(k.public()) for k in shown])


@route(
    blueprint,
    "/keys/<name>",
    "DELETE",
    summary="Revoke an API key at once",
    roles=[Role.ADMIN],
    status=204,
    errors=[404],
)
def revoke_key(name: str) -> Any:
    rt = runtime()
    found = next((k for k in rt.store.apikeys.list() if k.name == name), None)
    if found is not None and _caller_scope() not in (None, found.environment):
        raise NotFound(f"no API key named {name!r}")
    rt.store.apikeys.revoke(name)
    rt.store.announce_change()
    rt.auth.forget()
    # Other workers drop their cached copy of the key when they see the change; answering only
    # after that delay means that once this call returns, no worker accepts the key any more.
    time.sleep(rt.watcher.propagation_s)
    return "", 204


def _caller_scope() -> str | None:
    """The environment the calling admin key is limited to; None for an all-environments key."""
    principal: Principal = g.principal
    return principal.environment


def _check_may_manage(environment_of_key: str | None) -> None:
    """An admin key of one environment manages the keys of that environment only."""
    scope = _caller_scope()
    if scope is not None and environment_of_key != scope:
        shown = "every environment" if environment_of_key is None else repr(environment_of_key)
        raise WrongEnvironment(
            f"an admin key of environment {scope!r} cannot make a key of {shown}"
        )
