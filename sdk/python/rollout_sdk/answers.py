"""What applications get back from the client: an assignment, a prompt, the client's counters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Prompt:
    """One immutable prompt version, as assignment hands it out."""

    name: str
    version: int
    template: str | None
    model: str | None
    params: Mapping[str, Any]

    def render(self, variables: Mapping[str, Any] | None = None, /, **more: Any) -> str:
        """The template rendered in the same sandbox as the service's render endpoint.

        Raises `rollout_sdk.kernel.render_errors.RenderError` (MissingVariable, ...) with the
        code the service would answer.
        """
        # Imported here: Jinja costs more to import than the rest of the SDK, and many
        # applications only read variants and configs.
        from rollout_sdk.kernel.render import render

        if self.template is None:
            raise ValueError(f"prompt {self.name}@{self.version} has no template")
        return render(self.template, {**(variables or {}), **more})

    def as_dict(self) -> dict[str, Any]:
        """The JSON the service answers for this prompt."""
        return {
            "name": self.name,
            "version": self.version,
            "template": self.template,
            "model": self.model,
            "params": dict(self.params),
        }


@dataclass(frozen=True, slots=True)
class VariantAssignment:
    """The answer of `RolloutClient.assign`: exactly what `POST /api/v1/assign` would answer.

    `config` and `prompt.params` are shared between answers: treat them as read-only.
    """

    experiment: str
    variant: str
    in_experiment: bool
    reason: str
    prompt: Prompt | None
    config: Mapping[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        """The service's JSON for this answer (one entry of `assignments`)."""
        return {
            "variant": self.variant,
            "in_experiment": self.in_experiment,
            "reason": self.reason,
            "prompt": None if self.prompt is None else self.prompt.as_dict(),
            "config": None if self.config is None else dict(self.config),
        }


@dataclass(frozen=True, slots=True)
class ClientStats:
    """What the client has done so far in this process (counters start at 0 after a fork)."""

    config_version: int | None
    config_fetches: int
    config_not_modified: int
    config_errors: int
    exposures_queued: int
    events_queued: int
    exposures_accepted: int
    exposures_duplicates: int
    exposures_rejected: int
    exposures_dropped: int
    exposures_overflow: int
    events_accepted: int
    events_duplicates: int
    events_rejected: int
    events_dropped: int
    events_overflow: int
    requests: int
    retries: int
