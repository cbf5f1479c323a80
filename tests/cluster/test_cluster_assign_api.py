"""tests/api/test_assign_api.py again, on the Redis Cluster."""

from tests.api.test_assign_api import *  # noqa: F403
