"""Timestamps in JSON answers: Unix seconds, and the same instant as an RFC 3339 string beside.

The rule, for every answer: a field `<name>` holding a time is a number, Unix time in seconds
(UTC, fractional), as it always was, so existing clients keep working; next to it,
`<name>_rfc3339` holds the same instant as an RFC 3339 string in UTC with milliseconds
(`2026-12-01T21:39:08.123Z`), what people and most JSON clients expect; both are null together.
On pydantic models the string is a computed field (in the OpenAPI document, read-only; its
docstring names the number it shows); on answers built as plain dicts `with_rfc3339` adds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

SUFFIX = "_rfc3339"

UNIX_TIME = "Unix time in seconds (UTC); the same instant as RFC 3339 in `{name}_rfc3339`"

def rfc3339(seconds: float) -> str:
    """`seconds` since the Unix epoch as RFC 3339 in UTC, to the millisecond, with `Z`."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def described(name: str) -> str:
    """The OpenAPI description of the number field `name`."""
    return UNIX_TIME.format(name=name)


def as_rfc3339(seconds: float | None) -> str | None:
    """What a model's `<name>_rfc3339` computed field answers for its field `<name>`."""
    return None if seconds is None else rfc3339(seconds)


def with_rfc3339(document: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """`document` with `<name>_rfc3339` beside each of `names` it has (null beside null)."""
    found = dict(document)
    for name in names:
        if name in document:
            seconds = document[name]
            found[name + SUFFIX] = None if seconds is None else rfc3339(float(seconds))
    return found
