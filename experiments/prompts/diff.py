"""What changed from one prompt version to another, as a unified diff."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any


def unified_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """A unified diff from version `a` to version `b` (dicts with name, version, template, model,
    params), empty when their content is the same.

    Two sections, each a standard unified diff with headers `name@version/...`: the template, so its
    hunk line numbers are the template's own, then the model and params as sorted, indented JSON.
    """

    def label(version: Mapping[str, Any], section: str) -> str:
        return f"{version['name']}@{version['version']}/{section}"

    def settings(version: Mapping[str, Any]) -> str:
        document = {"model": version.get("model"), "params": version.get("params") or {}}
        return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    sections = [
        ("template", a["template"], b["template"]),
        ("settings", settings(a), settings(b)),
    ]
    return "".join(
        line
        for section, before, after in sections
        for line in difflib.unified_diff(
            _diff_lines(before), _diff_lines(after), label(a, section), label(b, section)
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
