"""A user's storage shard (docs/hashing.md, "Storage shards"): the shared vectors, and its laws."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout_sdk.kernel.hashing import MAX_SHARDS, salted_shard, shard_of

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "assignment.json").read_text(encoding="ascii")
)["shards"]


def test_every_shard_vector_is_the_53_bit_integer_of_the_shard_salt_mod_the_count() -> None:
    assert len(VECTORS) >= 100
    for vector in VECTORS:
        unit = vector["unit"].replace("\ud800", "\ufffd")  # a lone surrogate is hashed as U+FFFD
        message = f"{vector['key']}:shard\x1f{unit}".encode()
        x = int.from_bytes(hashlib.sha256(message).digest()[:8], "big") >> 11
        assert x == vector["x"], vector
        assert x % vector["shards"] == vector["shard"], vector


def test_the_kernel_gives_every_vector_its_shard() -> None:
    for vector in VECTORS:
        assert shard_of(vector["unit"], vector["key"], vector["shards"]) == vector["shard"], vector


@settings(derandomize=True, database=None, deadline=None, max_examples=200)
@given(st.text(max_size=40), st.text(min_size=1, max_size=20))
def test_one_shard_is_shard_0_for_every_user(unit: str, key: str) -> None:
    assert shard_of(unit, key, 1) == 0


@settings(derandomize=True, database=None, deadline=None, max_examples=200)
@given(st.text(max_size=40), st.integers(min_value=1, max_value=MAX_SHARDS))
def test_a_shard_is_one_of_the_counts_shards(unit: str, shards: int) -> None:
    assert 0 <= shard_of(unit, "summary-tone", shards) < shards


def test_users_fill_the_shards_evenly() -> None:
    route = salted_shard("summary-tone", 16)
    counts = Counter(route(f"user-{i}") for i in range(32_000))
    assert set(counts) == set(range(16))
    assert all(abs(count - 2000) < 200 for count in counts.values()), counts


@pytest.mark.parametrize("shards", [0, -1, MAX_SHARDS + 1])
def test_a_shard_count_outside_the_bounds_is_refused(shards: int) -> None:
    with pytest.raises(ValueError, match="shards"):
        shard_of("u1", "summary-tone", shards)
