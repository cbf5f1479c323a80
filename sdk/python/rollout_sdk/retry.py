"""When to try a request again: exponential backoff with jitter, and the server's Retry-After.

The sender and the refresher both wait by these rules. The service's own clients (rollout/http.py)
do not share them: they are interactive commands that answer a person at once, where the SDK
waits in the background for as long as its queues have room.
"""

from __future__ import annotations

import email.utils
import random
from typing import Final

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

BACKOFF_BASE_S: Final = 0.2
BACKOFF_CAP_S: Final = 30.0
RETRY_AFTER_CAP_S: Final = 300.0


def backoff_delay(attempt: int, rng: random.Random, retry_after_s: float | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): exponential with equal jitter.

    The ceiling doubles from BACKOFF_BASE_S up to BACKOFF_CAP_S and the delay is drawn from
    [ceiling/2, ceiling], so clients that failed together do not retry together; a server's
    `Retry-After` is a floor.
    """
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** (attempt - 1))
    delay = ceiling / 2.0 + rng.uniform(0.0, ceiling / 2.0)
    return max(delay, retry_after_s or 0.0)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds from `now`: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_CAP_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - now), RETRY_AFTER_CAP_S)


def new_session() -> requests.Session:
    """A session whose GETs are retried once at once: a server may close an idle keep-alive
    connection just as the next refresh reuses it. POSTs are left to the sender's own retries."""
    session = requests.Session()
    retry = Retry(total=1, connect=0, read=1, status=0, allowed_methods=frozenset({"GET"}),
                  raise_on_status=False)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session
