"""The first half of a measured call: assign the user, render the variant's prompt, build the
request from the variant's model and parameters under the caller's overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from rollout_sdk.answers import VariantAssignment
from rollout_sdk.kernel.chat import ChatMessage
from rollout_sdk.llm.call_ids import new_call_id
from rollout_sdk.llm.tracing import annotate_current_span


class Assigner(Protocol):
    def assign(
        self, user_id: str, experiment: str, attributes: Mapping[str, Any] | None = None
    ) -> VariantAssignment: ...


@dataclass(frozen=True, slots=True)
class VariantCall:
    """One call about to be made for one user: `request` is what goes to the provider besides
    the messages (`model` and parameters); `text` the variant's rendered prompt if it is one
    template, `messages` its rendered messages if it is a chat prompt."""

    call_id: str
    user_id: str
    assignment: VariantAssignment
    text: str | None
    request: dict[str, Any]
    messages: list[ChatMessage] | None = None

    def prompt_messages(self, role: str) -> list[dict[str, str]]:
        """The variant's prompt as chat messages: a chat prompt's own, or its one template's text
        as a message of `role`, or none when the variant has no prompt."""
        if self.messages is not None:
            return [{"role": m["role"], "content": m["content"]} for m in self.messages]
        return [] if self.text is None else [{"role": role, "content": self.text}]

    @property
    def model(self) -> str | None:
        model = self.request.get("model")
        return model if isinstance(model, str) else None


def prepare(
    rollout: Assigner,
    user_id: str,
    experiment: str,
    variables: Mapping[str, Any] | None,
    attributes: Mapping[str, Any] | None,
    defaults: Mapping[str, Any],
    overrides: Mapping[str, Any],
) -> VariantCall:
    """Assign, render, merge: `defaults` < the variant's model and params < `overrides`.

    A chat prompt is rendered to its messages (`render_messages`). A variant without a prompt
    (the control of an experiment on config only, or an answer given
    before any configuration arrived) renders nothing: the request is the caller's own. A
    template that cannot render raises the renderer's error: that is the application's bug.
    """
    assignment = rollout.assign(user_id, experiment, attributes)
    prompt = assignment.prompt
    request = dict(defaults)
    text = None
    messages = None
    if prompt is not None:
        if prompt.model is not None:
            request["model"] = prompt.model
        request.update(prompt.params)
        if prompt.is_chat:
            messages = prompt.render_messages(variables or {})
        elif prompt.template is not None:
            text = prompt.render(variables or {})
    request.update(overrides)
    annotate_current_span(assignment)
    return VariantCall(new_call_id(), user_id, assignment, text, request, messages)
