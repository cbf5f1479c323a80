"""Two prompt versions side by side: rows of (old line, new line) with what changed.

difflib's SequenceMatcher pairs the lines (the same matcher behind the API's unified diff);
the rows are plain data, escaped by the template like everything else a user wrote.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["same", "changed", "added", "removed"]


@dataclass(frozen=True)
class Row:
    kind: Kind
    old_number: int | None
    old_text: str
    new_number: int | None
    new_text: str


def settings_text(version: Mapping[str, Any]) -> str:
    document = {"model": version.get("model"), "params": version.get("params") or {}}
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False)


def side_by_side(before: str, after: str) -> list[Row]:
    old, new = before.split("\n"), after.split("\n")
    rows: list[Row] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [Row("same", i + 1, old[i], j + 1, new[j]) for i, j in
                     zip(range(i1, i2), range(j1, j2), strict=True)]
            continue
        width = max(i2 - i1, j2 - j1)
        for step in range(width):
            i, j = i1 + step, j1 + step
            has_old, has_new = i < i2, j < j2
            kind: Kind = "changed" if has_old and has_new else ("removed" if has_old else "added")
            rows.append(
                Row(kind, i + 1 if has_old else None, old[i] if has_old else "",
                    j + 1 if has_new else None, new[j] if has_new else "")
            )
    return rows
