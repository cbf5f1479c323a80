"""Chat prompts: a prompt version as a list of messages, each a role and a template.

A version carries either one `template` or `messages` (`[{"role": "system" | "user" |
"assistant", "content": "<template>"}]`). Every message's content is a template of the same
language, rendered with the same variables, under one budget for the whole prompt
(`kernel.chat_render`). This module is the shape only, so that reading an SDK document needs no
Jinja. Pure: no I/O.
"""

from __future__ import annotations

from typing import Final, Literal, TypedDict

Role = Literal["system", "user", "assistant"]
ROLES: Final[tuple[Role, ...]] = ("system", "user", "assistant")


class ChatMessage(TypedDict):
    """One message: its role and its content (a template in a version, a text once rendered)."""

    role: Role
    content: str
