"""The SDK configuration, kept current by a background thread with `If-None-Match`.

An unchanged configuration costs a 304. While the service cannot be reached the last
configuration stays in use, the failure is logged once (and again when it recovers), and the
thread retries sooner than its interval, with backoff. One fetch runs at a time, so an older
answer can never replace a newer configuration.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping

import requests

from rollout_sdk.local_config import LocalConfig, compile_document
from rollout_sdk.retry import backoff_delay

log = logging.getLogger(__name__)


class ConfigRefresher:
    """Holds the compiled configuration (`config`) and fetches it again when asked or when due.

    `on_change` is called (on the fetching thread) with each new configuration.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        session: requests.Session,
        interval_s: float,
        timeout_s: float,
        config: LocalConfig | None,
        on_change: Callable[[LocalConfig], None],
    ) -> None:
        self._url = f"{base_url}/api/v1/sdk/config"
        self._base_url = base_url
        self._headers = dict(headers)
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._on_change = on_change
        self._rng = random.Random()
        self.config = config
        self.reset(session)

    def reset(self, session: requests.Session) -> None:
        """Fresh counters, lock and session: at start and in a forked child."""
        self.session = session
        self.fetches = 0
        self.not_modified = 0
        self.errors = 0
        self.failing = False
        self._lock = threading.Lock()

    def fetch(self, *, initial: bool = False) -> bool:
        """Fetch the configuration now; True when it changed. Never raises for network errors."""
        with self._lock:
            return self._fetch(initial=initial)

    def _fetch(self, *, initial: bool) -> bool:
        config = self.config
        headers = dict(self._headers)
        if config is not None and config.etag is not None:
            headers["If-None-Match"] = config.etag
        try:
            response = self.session.get(self._url, headers=headers, timeout=self._timeout_s)
            if response.status_code == 304:
                self.not_modified += 1
                self._recovered()
                return False
            if response.status_code != 200:
                raise requests.HTTPError(f"HTTP {response.status_code}: {response.text[:200]}")
            fresh = compile_document(response.json(), response.headers.get("ETag"))
        except (requests.RequestException, ValueError, TypeError, AttributeError) as exc:
            self.errors += 1
            if initial or not self.failing:
                log.warning(
                    "rollout: cannot load the SDK config from %s (%s); answering from %s",
                    self._base_url, exc,
                    "the last config" if self.config is not None else "control variants",
                )
            self.failing = True
            return False
        self.fetches += 1
        self._recovered()
        changed = config is None or fresh.version != config.version or fresh.etag != config.etag
        self.config = fresh
        self._on_change(fresh)
        return changed

    def _recovered(self) -> None:
        if self.failing:
            log.warning("rollout: the SDK config is reachable again at %s", self._base_url)
        self.failing = False

    def run(self, stop: threading.Event) -> None:
        """The thread's loop: every interval (sooner, with backoff, while failing) until `stop`."""
        failures = 0
        while True:
            interval = self._interval_s
            if self.failing:
                interval = min(interval, backoff_delay(failures + 1, self._rng))
            if stop.wait(interval):
                return
            self.fetch()
            failures = failures + 1 if self.failing else 0
