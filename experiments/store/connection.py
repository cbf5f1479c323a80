"""Opening the one Redis connection pool a process uses, from a URL."""

from __future__ import annotations

import socket
import struct
from typing import Any

import redis
from redis.cluster import RedisCluster

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

Redis = Any  # redis.Redis or redis.cluster.RedisCluster: the commands used here are common to both


def connect(url: str, *, timeout_s: float = 2.0) -> Redis:
    """A client for `redis://`, `rediss://`, `unix://`, or `redis+cluster://` (a Redis Cluster).

    Timeouts are short on purpose: a request should fail fast with 503 when Redis is down rather
    than hold a gunicorn worker. On `redis://` and `unix://` the kernel bounds every read and
    write (`KernelBoundedConnection`); TLS and cluster connections keep Python's socket timeout.
    """
    scheme, sep, rest = url.partition("://")
    options: dict[str, Any] = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "decode_responses": True,
    }
    if scheme in CLUSTER_SCHEMES:
        return RedisCluster.from_url(f"{CLUSTER_SCHEMES[scheme]}{sep}{rest}", **options)
    bounded = BOUNDED_CLASSES.get(scheme)
    if bounded is not None:
        options |= {"socket_timeout": None, "connection_class": bounded, "wait_bound_s": timeout_s}
    return redis.Redis.from_url(url, health_check_interval=30, **options)


class KernelBounded:
    """A connection whose socket blocks, with its waits bounded by the kernel instead of Python.

    A Python socket with a timeout polls before every send and receive: two system calls, and
    two hand-overs of the GIL, for each. Without them a tracked assign under load serves about
    15% more requests a second (bench/assign.py: 2,850 -> 3,300 req/s). SO_RCVTIMEO and
    SO_SNDTIMEO bound a blocking socket's waits alike: a Redis that stops answering fails the
    call after `wait_bound_s` (redis-py reads the kernel's EAGAIN as a ConnectionError,
    answered 503), as with a socket timeout.
    """

    def __init__(self, *, wait_bound_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        whole = int(wait_bound_s)
        self._wait_bound = struct.pack("ll", whole, int((wait_bound_s - whole) * 1_000_000))

    def _connect(self) -> socket.socket:
        sock: socket.socket = super()._connect()  # type: ignore[misc]
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, self._wait_bound)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, self._wait_bound)
        return sock


class KernelBoundedConnection(KernelBounded, redis.Connection):
    """TCP (`redis://`)."""


class KernelBoundedUnixConnection(KernelBounded, redis.UnixDomainSocketConnection):
    """A Unix socket (`unix://`)."""


BOUNDED_CLASSES: dict[str, type[KernelBounded]] = {
    "redis": KernelBoundedConnection,
    "unix": KernelBoundedUnixConnection,
}
