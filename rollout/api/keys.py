"""API keys (`admin`): create (the secret is shown once), list, revoke."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field, computed_field

from experiments.errors import Conflict
from experiments.model import Key, Role
from experiments.timestamps import as_rfc3339, described
from rollout.api.routing import principal_name, route, runtime
from rollout.auth import BOOTSTRAP_NAME

blueprint = Blueprint("keys", __name__, url_prefix="/api/v1")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Key
    role: Role


class KeyInfo(BaseModel):
    name: str
    role: Role
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
    key, secret = rt.store.apikeys.create(body.name, body.role, rt.now(), principal_name())
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
    return KeyList(keys=[KeyInfo.model_validate(k.public()) for k in keys])


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
    rt.store.apikeys.revoke(name)
    rt.store.announce_change()
    rt.auth.forget()
    # Other workers drop their cached copy of the key when they see the change; answering only
    # after that delay means that once this call returns, no worker accepts the key any more.
    time.sleep(rt.watcher.propagation_s)
    return "", 204
