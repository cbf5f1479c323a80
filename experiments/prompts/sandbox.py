"""The kernel's renderer, as the service calls it: its refusals become the service's `Invalid`.

`rollout_sdk.kernel.render` renders every template, in the service and in every SDK, and raises
plain errors with a code; the service answers them as 422s with that code, like any other
invalid input, so it calls the renderer through here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from experiments.prompts.errors import RenderRefused
from rollout_sdk.kernel import chat_render
from rollout_sdk.kernel import render as kernel
from rollout_sdk.kernel.chat import ChatMessage
from rollout_sdk.kernel.render import MAX_OUTPUT_CHARS
from rollout_sdk.kernel.render_errors import RenderError


@contextmanager
def refusals() -> Iterator[None]:
    """Raise the kernel's RenderError inside the block as RenderRefused (a PromptError)."""
    try:
        yield
    except RenderError as refusal:
        raise RenderRefused(refusal) from None


def render(
    template: str, variables: Mapping[str, Any], *, max_chars: int = MAX_OUTPUT_CHARS
) -> str:
    """`template` rendered with `variables` in the kernel's sandbox; RenderRefused otherwise."""
    with refusals():
        return kernel.render(template, variables, max_chars=max_chars)


def check_template(template: str) -> None:
    """Raise RenderRefused (`template_invalid`, with the line) unless `template` compiles."""
    with refusals():
        kernel.compile_template(template)


def declared_variables(template: str) -> list[str]:
    """The variables `template` reads from the caller (kernel.render.declared_variables)."""
    with refusals():
        return kernel.declared_variables(template)


def render_messages(
    messages: Sequence[ChatMessage],
    variables: Mapping[str, Any],
    *,
    max_chars: int = MAX_OUTPUT_CHARS,
) -> list[ChatMessage]:
    """A chat prompt's messages rendered under one budget (kernel.chat_render); RenderRefused
    otherwise."""
    with refusals():
        return chat_render.render_messages(messages, variables, max_chars=max_chars)


def messages_variables(messages: Sequence[ChatMessage]) -> list[str]:
    """The variables a chat prompt's messages read, the union of each one's."""
    with refusals():
        return chat_render.messages_variables(messages)
