"""tests/store/test_runner.py again, on the Redis Cluster."""

from tests.store.test_runner import *  # noqa: F403
