"""tests/api/test_environments.py again, on the Redis Cluster: every environment's experiment keeps
one hash tag, so its scripts run on one slot."""

from tests.api.test_environments import *  # noqa: F403
