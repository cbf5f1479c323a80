"""Fixtures shared by every suite: a real redis-server per test session, on a free port."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from experiments.store import Store
from experiments.store.connection import Redis, connect
from rollout.embedded import EmbeddedRedis

ADMIN_KEY = "rk_test-admin-key-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persistent=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> Iterator[str]:
    """A clean database for each test (the server is shared, the data is not)."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def store(redis_url: str) -> Iterator[Store]:
    s = Store.from_url(redis_url)
    yield s
    s.close()


@pytest.fixture
def raw_redis(redis_url: str) -> Iterator[Redis]:
    """A client of its own, for a test that looks at or damages what the store keeps: the
    store's client (`Store.redis`) is for the store alone. On the cluster suite's
    `redis+cluster://` URL it is a cluster client."""
    client = connect(redis_url, timeout_s=10.0)
    yield client
    client.close()


@pytest.fixture
def admin_key() -> str:
    return ADMIN_KEY


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("ROLLOUT_ADMIN_KEY", ADMIN_KEY)
