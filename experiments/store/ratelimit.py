"""Per-key request budgets: a fixed one-second window counted in Redis, shared by every worker.

A fixed window (INCR and EXPIRE of a key named for the second) costs one pipelined round trip
and one short-lived key per active API key and second. It lets through at most twice the limit
across a window boundary, which is acceptable for protecting the service from a runaway client.
"""

from __future__ import annotations

import math

from experiments.store import keys
from experiments.store.connection import Redis

WINDOW_TTL_S = 2
"""A window's counter outlives its second a little, so workers with slightly skewed clocks that
still count into it never find it gone and restart it from zero."""


class RateLimitStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    def hit(self, key_name: str, now: float, limit: int) -> int | None:
        """Count one request of `key_name` at `now`; None within `limit`, else the whole seconds
        to wait (for `Retry-After`) until the window that holds `now` ends."""
        window = int(now)
        counter = keys.rate_limit(key_name, window)
        pipe = self._redis.pipeline(transaction=False)
        pipe.incr(counter)
        pipe.expire(counter, WINDOW_TTL_S)
        count, _ = pipe.execute()
        if int(count) <= limit:
            return None
        return max(1, math.ceil(window + 1 - now))
