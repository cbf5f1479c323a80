"""Which (experiment, shard) each write of a batch goes to: one script call per group.

A write belongs to its user's shard (`shard_of` in the kernel's hashing, salted by the
experiment's key); an experiment of one shard never hashes. The grouping keeps the order of the
writes inside each group and the order in which groups first appear.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from rollout_sdk.kernel.hashing import salted_shard


class ShardedWrite(Protocol):
    """A write of one user to one experiment of `shards` shards."""

    @property
    def experiment(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def shards(self) -> int: ...


def group_by_shard(writes: Sequence[ShardedWrite]) -> dict[tuple[str, int], list[int]]:
    """(experiment key, shard) -> the positions in `writes` of that shard's writes."""
    shard_of_user: dict[str, Callable[[str], int]] = {}
    groups: dict[tuple[str, int], list[int]] = {}
    for position, write in enumerate(writes):
        shard = 0
        if write.shards != 1:  # the hot path of today's experiments hashes nothing
            route = shard_of_user.get(write.experiment)
            if route is None:
                route = salted_shard(write.experiment, write.shards)
                shard_of_user[write.experiment] = route
            shard = route(write.user_id)
        groups.setdefault((write.experiment, shard), []).append(position)
    return groups
