"""tests/store/test_ingest_concurrency.py again, on the Redis Cluster."""

from tests.store.test_ingest_concurrency import *  # noqa: F403
