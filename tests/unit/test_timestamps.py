"""RFC 3339 beside Unix seconds: the string is the same instant, in UTC, to the millisecond."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from experiments.timestamps import rfc3339, with_rfc3339


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1_750_000_000.5, "2025-06-15T15:06:40.500Z"),
        (1_796_161_148.1234, "2026-12-01T21:39:08.123Z"),
    ],
)
def test_unix_seconds_read_as_rfc3339_in_utc_with_milliseconds(seconds: float, text: str) -> None:
    assert rfc3339(seconds) == text


def test_the_string_parses_back_to_the_same_instant() -> None:
    seconds = 1_750_000_123.456
    parsed = datetime.fromisoformat(rfc3339(seconds))
    assert parsed.tzinfo is not None and parsed.utcoffset() == UTC.utcoffset(None)
    assert parsed.timestamp() == pytest.approx(seconds, abs=0.001)


def test_a_plain_document_gets_a_sibling_for_each_named_time_it_has() -> None:
    document = {"at": 0.0, "ended_at": None, "actor": "a"}
    assert with_rfc3339(document, "at", "ended_at", "created_at") == {
        "at": 0.0,
        "at_rfc3339": "1970-01-01T00:00:00.000Z",
        "ended_at": None,
        "ended_at_rfc3339": None,
        "actor": "a",
    }
