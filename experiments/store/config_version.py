"""Which configuration the store holds, and the channel that announces each change of it.

A change increments a version and publishes it. The version alone cannot tell a worker that
Redis lost its data (a restart without AOF, FLUSHALL): it starts again at 1, below what running
workers saw, and they would keep serving their old configuration until it caught up. So the
store also holds an epoch, a random token set once by whoever finds it missing; a new epoch
means new data, whatever the version says.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import redis

from experiments.store import keys
from experiments.store.connection import Redis


@dataclass(frozen=True)
class ConfigStamp:
    """A configuration as the store names it: the store's epoch and a version within it."""

    epoch: str
    version: int

    def encode(self) -> str:
        return f"{self.epoch}:{self.version}"

    @classmethod
    def decode(cls, text: str) -> ConfigStamp:
        """Raises ValueError for a message that is not a stamp."""
        epoch, sep, version = text.rpartition(":")
        if not sep or not epoch:
            raise ValueError(f"not a configuration stamp: {text!r}")
        return cls(epoch, int(version))


class ConfigSubscription:
    """The channel of configuration changes, as the stamps it carries."""

    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    def next_stamp(self, timeout_s: float) -> ConfigStamp | None:
        """The next announced stamp, or None when none came within `timeout_s`."""
        message = self._pubsub.get_message(timeout=timeout_s)
        if message and message.get("type") == "message":
            return ConfigStamp.decode(str(message["data"]))
        return None


class ConfigVersionStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    def current(self) -> ConfigStamp:
        """The stamp of the configuration the store holds now."""
        epoch = self.epoch()
        return ConfigStamp(epoch, int(self._redis.get(keys.CONFIG_VERSION) or 0))

    def announce(self) -> ConfigStamp:
        """Count a change and tell every subscriber; the stamp of the new configuration."""
        stamp = ConfigStamp(self.epoch(), int(self._redis.incr(keys.CONFIG_VERSION)))
        self._redis.publish(keys.CONFIG_CHANNEL, stamp.encode())
        return stamp

    def epoch(self) -> str:
        """The store's epoch, set now if the store has none (new or emptied data)."""
        epoch: str | None = self._redis.get(keys.CONFIG_EPOCH)
        if epoch is None:
            # SET NX: of several workers finding it missing at once, the first one names it.
            self._redis.set(keys.CONFIG_EPOCH, secrets.token_hex(8), nx=True)
            epoch = self._redis.get(keys.CONFIG_EPOCH)
        return str(epoch)

    @contextmanager
    def subscription(self) -> Iterator[ConfigSubscription]:
        """Listen to the change channel; its connection is closed on leaving, even when broken."""
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(keys.CONFIG_CHANNEL)
            yield ConfigSubscription(pubsub)
        finally:
            with suppress(redis.RedisError, OSError):  # a broken connection is dropped all the same
                pubsub.close()
