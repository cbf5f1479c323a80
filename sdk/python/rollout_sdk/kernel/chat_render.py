"""Rendering a chat prompt: every message's content with the same variables, under one budget.

The steps, time, built values and output size of `kernel.render` are counted across all the
messages (`render.render_all`), so a chat prompt is bounded exactly as one template is. Pure: no
I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rollout_sdk.kernel.chat import ChatMessage
from rollout_sdk.kernel.render import (
    MAX_OUTPUT_CHARS,
    MAX_RENDER_STEPS,
    RENDER_TIME_BUDGET_S,
    declared_variables,
    render_all,
)


def render_messages(
    messages: Sequence[ChatMessage],
    variables: Mapping[str, Any],
    *,
    max_chars: int = MAX_OUTPUT_CHARS,
    max_steps: int = MAX_RENDER_STEPS,
    time_budget_s: float = RENDER_TIME_BUDGET_S,
) -> list[ChatMessage]:
    """Each message with its content rendered; raises what `render.render` raises.

    `max_chars`, the steps and the time are one budget for all the messages together.
    """
    texts = render_all(
        [message["content"] for message in messages],
        variables,
        max_chars=max_chars,
        max_steps=max_steps,
        time_budget_s=time_budget_s,
    )
    return [
        {"role": message["role"], "content": text}
        for message, text in zip(messages, texts, strict=True)
    ]


def messages_variables(messages: Sequence[ChatMessage]) -> list[str]:
    """The variables the messages read from the caller, sorted: the union of each one's."""
    return sorted({name for m in messages for name in declared_variables(m["content"])})
