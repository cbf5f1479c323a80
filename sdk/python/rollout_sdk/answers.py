"""What applications get back from the client: an assignment, a prompt, the client's counters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollout_sdk.kernel.chat import ChatMessage


class ChatPromptError(ValueError):
    """`render` asked of a chat prompt (or `render_messages` of a one-template prompt): the
    message names the method that fits."""


@dataclass(frozen=True, slots=True)
class Prompt:
    """One immutable prompt version, as assignment hands it out: one `template`, or a chat
    prompt's `messages` (each a role and a template)."""

    name: str
    version: int
    template: str | None
    model: str | None
    params: Mapping[str, Any]
    messages: tuple[ChatMessage, ...] | None = None
    portable: bool | None = None
    """Whether the TypeScript SDK renders this version to the same text (None: an older service
    did not say)."""

    @property
    def is_chat(self) -> bool:
        """Whether this version is a chat prompt (render it with `render_messages`)."""
        return self.messages is not None

    def render(self, variables: Mapping[str, Any] | None = None, /, **more: Any) -> str:
        """The template rendered in the same sandbox as the service's render endpoint.

        Raises `rollout_sdk.kernel.render_errors.RenderError` (MissingVariable, ...) with the
        code the service would answer, and ChatPromptError for a chat prompt.
        """
        # Imported here: Jinja costs more to import than the rest of the SDK, and many
        # applications only read variants and configs.
        from rollout_sdk.kernel.render import render

        if self.messages is not None:
            raise ChatPromptError(
                f"prompt {self.name}@{self.version} is a chat prompt (a list of messages):"
                " render it with render_messages(variables)"
            )
        if self.template is None:
            raise ValueError(f"prompt {self.name}@{self.version} has no template")
        return render(self.template, {**(variables or {}), **more})

    def render_messages(
        self, variables: Mapping[str, Any] | None = None, /, **more: Any
    ) -> list[ChatMessage]:
        """A chat prompt's messages, each `{"role", "content"}` with its content rendered, under
        one budget for them all, as the service's render endpoint answers them.

        Raises RenderError like `render`, and ChatPromptError for a one-template prompt.
        """
        from rollout_sdk.kernel.chat_render import render_messages

        if self.messages is None:
            raise ChatPromptError(
                f"prompt {self.name}@{self.version} is one template, not a list of messages:"
                " render it with render(variables)"
            )
        return render_messages(self.messages, {**(variables or {}), **more})

    def as_dict(self) -> dict[str, Any]:
        """The JSON the service answers for this prompt."""
        return {
            "name": self.name,
            "version": self.version,
            "template": self.template,
            "messages": None if self.messages is None else [dict(m) for m in self.messages],
            "model": self.model,
            "params": dict(self.params),
            "portable": self.portable,
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
    covariates_dropped: int = 0
    """Covariate entries not sent because they break the service's bounds (the exposure is)."""
