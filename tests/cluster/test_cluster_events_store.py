"""tests/store/test_events_store.py again, on the Redis Cluster."""

from tests.store.test_events_store import *  # noqa: F403

# It counts commands with INFO, which a cluster client answers for one node of the three.
del test_snapshot_reads_two_keys_whatever_the_number_of_users  # noqa: F821
