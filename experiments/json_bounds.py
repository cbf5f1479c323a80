"""Bounds on free JSON values (variant configs, targeting, attributes): pure, no I/O.

A free JSON value is stored, served to every SDK and decoded by every worker, so one that is
too deep, too large or not valid Unicode would break the service for everyone (issue 10): a
config nested 200 levels deep is beyond the recursion limit of pydantic's JSON parser, and a
lone surrogate cannot be encoded as UTF-8. `check_json` walks the value without recursion, so
it answers for any depth the request parser produced, and stops at the first limit it meets.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JsonBounds:
    max_depth: int = 32
    max_keys: int = 1000
    max_values: int = 10_000
    max_string: int = 16_384
    max_bytes: int = 64 * 1024


DEFAULT_BOUNDS = JsonBounds()


def check_json(value: Any, bounds: JsonBounds = DEFAULT_BOUNDS) -> None:
    """Raise ValueError naming the first bound `value` breaks, with the path to it."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    seen = 0
    while stack:
        node, depth, path = stack.pop()
        seen += 1
        if seen > bounds.max_values:
            raise ValueError(f"has more than {bounds.max_values} values")
        if depth > bounds.max_depth:
            raise ValueError(f"is nested deeper than {bounds.max_depth} levels (at {path})")
        if isinstance(node, dict):
            if len(node) > bounds.max_keys:
                raise ValueError(f"has an object with more than {bounds.max_keys} keys{_at(path)}")
            for key, item in node.items():
                if not isinstance(key, str):
                    raise ValueError(f"has a key that is not a string{_at(path)}")
                child = f"{path}.{_printable(key)}" if path else _printable(key)
                _check_string(key, bounds, child, "key")
                stack.append((item, depth + 1, child))
        elif isinstance(node, list):
            stack.extend((item, depth + 1, f"{path}.{i}" if path else str(i))
                         for i, item in enumerate(node))
        elif isinstance(node, str):
            _check_string(node, bounds, path, "string")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise ValueError(f"has a number that is not finite{_at(path)}")
        elif not (node is None or isinstance(node, bool | int)):
            raise ValueError(f"has a value that is not JSON ({type(node).__name__}){_at(path)}")
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > bounds.max_bytes:
        raise ValueError(f"is larger than {bounds.max_bytes} bytes as JSON ({size})")


def _check_string(text: str, bounds: JsonBounds, path: str, what: str) -> None:
    if len(text) > bounds.max_string:
        raise ValueError(f"has a {what} longer than {bounds.max_string} characters{_at(path)}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # JSON's \ud800 escapes decode to lone surrogates, which are not Unicode text: refused
        # rather than replaced, so a key is never silently changed.
        raise ValueError(
            f"has a {what} with a lone surrogate (not valid Unicode){_at(path)}"
        ) from None


def _printable(key: str) -> str:
    """The key as it may appear in a message: a surrogate is shown escaped, never echoed raw."""
    return key[:64].encode("utf-8", "backslashreplace").decode("utf-8")


def _at(path: str) -> str:
    return f" (at {path})" if path else ""
