"""Log lines that an outage would repeat thousands of times, at most once per interval a topic."""

from __future__ import annotations

import logging
import time
from typing import Any, Final

LOG_EVERY_S: Final = 10.0


class ThrottledLog:
    """`log(topic, level, message, *args)` writes to `logger` at most once per `every_s` per
    topic, so an outage does not flood the application's log."""

    def __init__(self, logger: logging.Logger, every_s: float = LOG_EVERY_S) -> None:
        self._logger = logger
        self._every_s = every_s
        self._last: dict[str, float] = {}

    def log(self, topic: str, level: int, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(topic, -self._every_s) >= self._every_s:
            self._last[topic] = now
            self._logger.log(level, message, *args)
