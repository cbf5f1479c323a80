"""A batch of script calls finds the replica that took over from a killed master.

The batch path sends its pipelines to the masters of the calls' slots itself (the cluster
client's own retries do not cover it), so after a master dies it must refresh the slot map; else
every later batch would go on knocking at the dead node.
"""

from __future__ import annotations

import time

import pytest
import redis

from experiments.store import Store
from experiments.store.exposures import ExposureWrite
from tests.cluster.redis_cluster import RedisClusterServers

FIRST, SECOND = "alpha", "beta"
TAKE_OVER_S = 30.0


def record_with_retries(store: Store, writes: list[ExposureWrite]) -> tuple[int, list[bool]]:
    """Failed attempts before the batch went through, and what it recorded."""
    failures = 0
    deadline = time.monotonic() + TAKE_OVER_S
    while True:
        try:
            return failures, [r.recorded_now for r in store.exposures.record(writes, now=2.0)]
        except redis.RedisError:
            failures += 1
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.timeout(120)
def test_a_batch_goes_through_once_a_replica_has_taken_over_a_killed_master(
    store: Store, redis_cluster: RedisClusterServers
) -> None:
    before = [ExposureWrite(FIRST, "u1", 0), ExposureWrite(SECOND, "u1", 1)]
    assert [r.recorded_now for r in store.exposures.record(before, now=1.0)] == [True, True]
    master = store.redis.get_node_from_key(f"rollout:{{exp:{FIRST}}}:exposures")
    # The write has reached the master's replica before the master dies.
    assert store.redis.get_redis_connection(master).execute_command("WAIT", 1, 5000) == 1
    redis_cluster.kill(master.port)
    try:
        after = [ExposureWrite(FIRST, "u2", 1), ExposureWrite(SECOND, "u2", 0)]
        failures, recorded = record_with_retries(store, after)
        assert recorded == [True, True]
        assert failures >= 1  # the first attempt met the dead master
        assert store.exposures.variant_of(FIRST, "u1") == 0  # kept by the new master
        assert store.redis.get_node_from_key(f"rollout:{{exp:{FIRST}}}:exposures").port != (
            master.port
        )
    finally:
        redis_cluster.start_node(master.port)  # it rejoins as the new master's replica
        redis_cluster.wait_ok(timeout_s=60)
