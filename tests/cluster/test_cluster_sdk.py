"""tests/e2e/test_sdk.py again, on the Redis Cluster."""

from tests.e2e.test_sdk import *  # noqa: F403
