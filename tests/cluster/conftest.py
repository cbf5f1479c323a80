"""The cluster suite: chosen suites of the service run again on a real six-node Redis Cluster.

`redis_url` (and so `store`, `make_app`, the API clients and gunicorn) points at the cluster here;
between tests every master is flushed. The API fixtures are imported so that the re-run modules
find them under this directory too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import (  # noqa: F401  (fixtures, re-registered for this directory)
    admin,
    app,
    client,
    clock,
    editor,
    make_app,
    release,
    sdk,
    second_release,
)
from tests.cluster.redis_cluster import RedisClusterServers
from tests.e2e.conftest import Server, start_gunicorn, stop, tail


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    cluster = RedisClusterServers(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_url(redis_cluster: RedisClusterServers) -> str:
    """A clean cluster for each test: FLUSHALL on every master (replicas follow)."""
    redis_cluster.flushall()
    return redis_cluster.url


@pytest.fixture(scope="module")
def gunicorn(
    redis_cluster: RedisClusterServers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The service under gunicorn on the cluster, for the SDK suite."""
    redis_cluster.flushall()
    server = start_gunicorn(tmp_path_factory.mktemp("gunicorn"), redis_cluster.url)
    yield server
    code = stop(server.process)
    assert code == 0, tail(server.log)
