"""Environments: list (every keyed role but sdk), create and change (`admin`).

development, staging and production always exist and cannot be archived; an admin adds others,
renames any (its display name: the name is its key) and archives the ones added. An archived
environment answers 404 `environment_not_found` to every request naming it, its state kept. A key
of one environment sees that environment alone; only an all-environments admin key creates.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g
from pydantic import BaseModel, ConfigDict, Field

from experiments.environments import Environment, EnvironmentSettings, changed
from experiments.model import Key, Role
from rollout.api.routing import route, runtime
from rollout.auth import Principal
from rollout.errors import WrongEnvironment

blueprint = Blueprint("environments", __name__, url_prefix="/api/v1")


class EnvironmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Key
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    settings: EnvironmentSettings = Field(default_factory=EnvironmentSettings)


class EnvironmentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    archived: bool | None = None
    settings: EnvironmentSettings | None = None


class EnvironmentList(BaseModel):
    environments: list[Environment]


@route(
    blueprint,
    "/environments",
    "GET",
    summary="The environments (a key of one environment sees that one)",
    roles=[Role.ADMIN, Role.EDITOR, Role.RELEASE],
    response=EnvironmentList,
)
def list_environments() -> Any:
    principal: Principal = g.principal
    found = runtime().environments.all().values()
    shown = [e for e in found if principal.environment in (None, e.name)]
    return {"environments": [e.model_dump(mode="json") for e in shown]}


@route(
    blueprint,
    "/environments",
    "POST",
    summary="Create an environment (an all-environments admin key)",
    roles=[Role.ADMIN],
    body=EnvironmentCreate,
    response=Environment,
    status=201,
    errors=[409],
)
def create_environment(body: EnvironmentCreate) -> Any:
    _check_spans_every_environment("create an environment")
    rt = runtime()
    created = rt.store.environments.create(
        Environment(
            name=body.name,
            display_name=body.display_name or body.name.capitalize(),
            settings=body.settings,
        )
    )
    _announce()
    return created.model_dump(mode="json"), 201


@route(
    blueprint,
    "/environments/<name>",
    "PATCH",
    summary="Rename (display name), archive or unarchive, change the settings",
    roles=[Role.ADMIN],
    body=EnvironmentPatch,
    response=Environment,
    errors=[404, 409],
)
def patch_environment(name: str, body: EnvironmentPatch) -> Any:
    principal: Principal = g.principal
    if principal.environment not in (None, name):
        raise WrongEnvironment(
            f"key {principal.name!r} acts in {principal.environment!r} only, not {name!r}"
        )
    if body.archived is not None:
        _check_spans_every_environment("archive or unarchive an environment")
    updated = runtime().store.environments.update(
        name, lambda current: changed(current, body.display_name, body.archived, body.settings)
    )
    _announce()
    return updated.model_dump(mode="json")


def _check_spans_every_environment(what: str) -> None:
    principal: Principal = g.principal
    if principal.environment is not None:
        raise WrongEnvironment(
            f"key {principal.name!r} acts in {principal.environment!r} only; to {what} needs"
            " an admin key of every environment"
        )


def _announce() -> None:
    """Every worker drops its cached registry (rollout/config/environments.py) on the change."""
    rt = runtime()
    rt.store.announce_change()
    rt.environments.forget()
