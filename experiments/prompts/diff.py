"""What changed from one prompt version to another, as a unified diff."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any


def unified_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """A unified diff from version `a` to version `b` (dicts with name, version, template or
    messages, model, params), empty when their content is the same.

    Sections, each a standard unified diff with headers `name@version/...`, so each hunk's line
    numbers are its own text's: the template (when either is one template); each message's
    content, `messages/0`, `messages/1`, ... (when either is a chat prompt; a message one of them
    lacks diffs against nothing); then the model, params and, for chat prompts, the messages'
    roles, as sorted, indented JSON.
    """

    def label(version: Mapping[str, Any], section: str) -> str:
        return f"{version['name']}@{version['version']}/{section}"

    def contents(version: Mapping[str, Any]) -> list[str]:
        return [message["content"] for message in version.get("messages") or []]

    def settings(version: Mapping[str, Any]) -> str:
        document: dict[str, Any] = {
            "model": version.get("model"),
            "params": version.get("params") or {},
        }
        if chat:
            document["roles"] = [message["role"] for message in version.get("messages") or []]
        return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    chat = a.get("messages") is not None or b.get("messages") is not None
    sections = []
    if a.get("template") is not None or b.get("template") is not None:
        sections.append(("template", a.get("template") or "", b.get("template") or ""))
    before, after = contents(a), contents(b)
    for index in range(max(len(before), len(after))):
        sections.append(
            (
                f"messages/{index}",
                before[index] if index < len(before) else "",
                after[index] if index < len(after) else "",
            )
        )
    sections.append(("settings", settings(a), settings(b)))
    return "".join(
        line
        for section, old, new in sections
        for line in difflib.unified_diff(
            _diff_lines(old), _diff_lines(new), label(a, section), label(b, section)
        )
    )


def _diff_lines(text: str) -> list[str]:
    # Only "\n" breaks lines (str.splitlines would also break on \r, \v, \u2028, ... and blur the
    # diff), and a last line without one is marked as diff(1) does, so that change is visible too.
    lines = [line + "\n" for line in text.split("\n")]
    last = lines.pop()
    if last != "\n":
        lines.append(last + "\\ No newline at end of file\n")
    return lines
