"""Each worker's knowledge of which configuration is current, without a round trip per request.

The store names the configuration by a stamp, its epoch and version (experiments/store/
config_version.py); every change increments the version and publishes the stamp. A daemon
thread per process listens on the channel and also polls the stamp every `poll_s` (in case a
message is lost while reconnecting), so a change reaches every worker within two poll periods,
and a change made by this worker is seen by it at once. Readers compare stamps and reload lazily.
"""

from __future__ import annotations

import logging
import threading

import redis

from experiments.store.config_version import ConfigStamp, ConfigVersionStore
from experiments.store.process_id import current_pid

log = logging.getLogger(__name__)

DEFAULT_POLL_S = 0.5
UNKNOWN = ConfigStamp("", -1)


def newer(known: ConfigStamp, seen: ConfigStamp) -> ConfigStamp:
    """Which of two stamps names the current configuration: the later version of one epoch, or
    the one just seen when the epochs differ (the store lost its data and started over)."""
    if seen.epoch != known.epoch:
        return seen
    return seen if seen.version > known.version else known


class ConfigWatcher:
    def __init__(self, config: ConfigVersionStore, poll_s: float = DEFAULT_POLL_S) -> None:
        self._config = config
        self._poll_s = poll_s
        self._stamp = UNKNOWN
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._stop = threading.Event()

    @property
    def stamp(self) -> ConfigStamp:
        """The newest configuration this process knows of."""
        self._ensure_thread()
        if self._stamp is UNKNOWN:  # only the initial value is this object (`newer` never is)
            self.refresh()
        return self._stamp

    @property
    def propagation_s(self) -> float:
        """How long a change may take to reach every worker: a message on the channel arrives in
        milliseconds, but a worker that lost it (reconnecting) sees it at its next poll, at most
        two poll periods later. Waiting this long after a change makes it visible everywhere."""
        return 2 * self._poll_s

    def saw(self, stamp: ConfigStamp) -> None:
        with self._lock:
            self._stamp = newer(self._stamp, stamp)

    def refresh(self) -> ConfigStamp:
        """Read the stamp now (after a local write, or when nothing is known yet)."""
        self.saw(self._config.current())
        return self._stamp

    def close(self) -> None:
        self._stop.set()

    def _ensure_thread(self) -> None:
        # Started lazily and again after fork: a gunicorn worker must not inherit a dead thread.
        if self._pid == current_pid():
            return
        with self._lock:
            if self._pid == current_pid():
                return
            self._pid = current_pid()
            threading.Thread(target=self._run, name="rollout-config-watch", daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._config.subscription() as changes:
                    while not self._stop.is_set():
                        stamp = changes.next_stamp(self._poll_s)
                        if stamp is None:  # a quiet period: poll, in case a message was lost
                            self.refresh()
                        else:
                            self.saw(stamp)
            except (redis.RedisError, OSError, ValueError):
                log.debug("configuration watch interrupted; subscribing again", exc_info=True)
            except Exception:
                # The thread must outlive any surprise, or the worker would serve one
                # configuration for ever; a pool closed under it at shutdown is no surprise.
                if self._stop.is_set():
                    return
                log.exception("configuration watch failed; subscribing again")
            self._stop.wait(self._poll_s)
