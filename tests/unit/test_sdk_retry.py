"""The SDK's retry rules: backoff with jitter up to a cap, and the server's Retry-After."""

from __future__ import annotations

import random

from rollout_sdk.retry import BACKOFF_CAP_S, backoff_delay, parse_retry_after


def test_backoff_doubles_with_jitter_up_to_its_cap_and_respects_retry_after() -> None:
    rng = random.Random(3)
    for attempt, ceiling in [(1, 0.2), (2, 0.4), (3, 0.8), (12, BACKOFF_CAP_S)]:
        delays = [backoff_delay(attempt, rng) for _ in range(200)]
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling
        assert len(set(delays)) > 100  # jittered
    assert backoff_delay(1, rng, retry_after_s=7.0) == 7.0


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    now = 1_750_000_000.0
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after("Sun, 15 Jun 2025 15:07:00 GMT", 1_749_999_990.0) == 30.0
    assert parse_retry_after("Sun, 15 Jun 2025 15:06:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("999999", now) == 300.0  # capped
