"""A stored version's content read alike for both kinds: one template, or a chat prompt's messages.

The console and the command line show and preview either kind through here, so neither needs to
know which it holds. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from experiments.prompts.sandbox import render, render_messages
from rollout_sdk.kernel.chat import ChatMessage

PromptContent = str | Sequence[ChatMessage]
"""A version's template, or its messages."""


def prompt_content(version: Mapping[str, Any]) -> PromptContent:
    """The messages of a chat prompt's version document, else its template."""
    messages: Sequence[ChatMessage] | None = version.get("messages")
    return str(version["template"]) if messages is None else messages


def readable_text(content: PromptContent) -> str:
    """One text for a person: the template as it is, or each message under its `[role]`."""
    if isinstance(content, str):
        return content
    return "\n\n".join(f"[{message['role']}]\n{message['content']}" for message in content)


def render_readable(content: PromptContent, variables: Mapping[str, Any]) -> str:
    """`content` rendered in the sandbox (RenderRefused otherwise), as `readable_text` shows it."""
    if isinstance(content, str):
        return render(content, variables)
    return readable_text(render_messages(content, variables))
