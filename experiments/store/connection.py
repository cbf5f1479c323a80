"""Opening the one Redis connection pool a process uses, from a URL."""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import RedisCluster

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

Redis = Any  # redis.Redis or redis.cluster.RedisCluster: the commands used here are common to both


def connect(url: str, *, timeout_s: float = 2.0) -> Redis:
    """A client for `redis://`, `rediss://`, `unix://`, or `redis+cluster://` (a Redis Cluster).

    Timeouts are short on purpose: a request should fail fast with 503 when Redis is down rather
    than hold a gunicorn worker.
    """
    scheme, sep, rest = url.partition("://")
    options: dict[str, Any] = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "decode_responses": True,
    }
    if scheme in CLUSTER_SCHEMES:
        return RedisCluster.from_url(f"{CLUSTER_SCHEMES[scheme]}{sep}{rest}", **options)
    client = redis.Redis.from_url(url, health_check_interval=30, **options)
    return client
