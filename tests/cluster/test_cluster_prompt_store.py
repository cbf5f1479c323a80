"""tests/store/test_prompt_store.py again, on the Redis Cluster."""

from tests.store.test_prompt_store import *  # noqa: F403
