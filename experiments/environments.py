"""Deployment environments: development, staging, production, and any an admin adds.

An environment is a namespace for experiment state (definitions, exposures, events, results,
history, layers): staging's traffic never reaches production's figures. Prompt versions are
shared by every environment; a prompt label named like an environment is that environment's live
version. The three defaults exist from the start (synthesised when the registry lacks them) and
cannot be archived; production is the environment of everything written before environments
existed. Pure: no I/O here.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from experiments.errors import Conflict
from experiments.model import Key

PRODUCTION: Final = "production"
STAGING: Final = "staging"
DEVELOPMENT: Final = "development"
DEFAULT_NAMES: Final = (DEVELOPMENT, STAGING, PRODUCTION)


class EnvironmentSettings(BaseModel):
    """What differs per deployment: four eyes, a request budget, where decisions are posted."""

    model_config = ConfigDict(extra="forbid")

    review_required: bool | None = Field(
        None,
        description="start and traffic raises need an approval (four eyes); null: as the"
        " service's ROLLOUT_REQUIRE_REVIEW says",
    )
    rate_limit_per_s: int | None = Field(
        None, ge=1, description="requests a second per API key; null: the service's setting"
    )
    webhooks: list[HttpUrl] = Field(
        default_factory=list,
        max_length=20,
        description="receivers of the controller's decisions on this environment's experiments",
    )


class Environment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Key
    display_name: str = Field(min_length=1, max_length=100)
    archived: bool = False
    settings: EnvironmentSettings = Field(default_factory=EnvironmentSettings)


def default_environment(name: str) -> Environment:
    """A default as it exists before anyone changed it. Review follows the service's
    ROLLOUT_REQUIRE_REVIEW in production (null), so a deployment from before environments
    behaves there exactly as it did (the contract), and is off in development and staging."""
    review = None if name == PRODUCTION else False
    return Environment(
        name=name,
        display_name=name.capitalize(),
        settings=EnvironmentSettings(review_required=review),
    )


def review_required(environment: Environment, service_default: bool) -> bool:
    """Whether starts and traffic raises in `environment` wait for an approval."""
    own = environment.settings.review_required
    return service_default if own is None else own


DEFAULT_ENVIRONMENTS: Final = tuple(default_environment(name) for name in DEFAULT_NAMES)


def with_defaults(stored: dict[str, Environment]) -> dict[str, Environment]:
    """The registry as it stands: the stored environments and every default not yet stored."""
    merged = {e.name: e for e in DEFAULT_ENVIRONMENTS}
    merged.update(stored)
    return dict(sorted(merged.items()))


def changed(
    current: Environment,
    display_name: str | None,
    archived: bool | None,
    settings: EnvironmentSettings | None,
) -> Environment:
    """`current` with a PATCH applied; a default environment is never archived."""
    if archived and current.name in DEFAULT_NAMES:
        raise Conflict(
            f"environment {current.name!r} is a default and cannot be archived",
            [{"field": "archived", "message": "a default environment cannot be archived"}],
            code="default_environment",
        )
    update: dict[str, object] = {}
    if display_name is not None:
        update["display_name"] = display_name
    if archived is not None:
        update["archived"] = archived
    if settings is not None:
        update["settings"] = settings
    return current.model_copy(update=update)
