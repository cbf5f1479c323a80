"""tests/api/test_events_api.py again, on the Redis Cluster."""

from tests.api.test_events_api import *  # noqa: F403
