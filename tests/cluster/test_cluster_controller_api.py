"""tests/api/test_controller_api.py again, on the Redis Cluster."""

from tests.api.test_controller_api import *  # noqa: F403
