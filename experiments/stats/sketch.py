"""A mergeable log-bucketed sketch of an arm's values, from which its quantiles are read.

Running sums cannot give a quantile, so a metric with a `quantile` keeps, per arm, a count of
its values in logarithmic buckets (Masson, Rim and Lee, "DDSketch: a fast and fully-mergeable
quantile sketch with relative-error guarantees", VLDB 2019): a positive value `x` falls in bucket

    i = ceil(log(x) / log(gamma)),   gamma = (1 + a) / (1 - a)

which holds the values in `(gamma^(i-1), gamma^i]`, and the bucket's representative
`2 gamma^i / (gamma + 1)` is within a relative error `a` of every one of them. Values <= 0 share
one bucket below all others. Each bucket is one hash field in Redis, incremented by the
ingestion script (experiments/store/lua/ingest_events.lua computes the same index), so two
sketches merge by adding counts and the memory is bounded by the range of values, not their
number: with `a = 1%`, 1 ms to 1000 s is 686 buckets. Pure: no I/O and no scipy, so the store
can build these from what it reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
LOG_GAMMA = math.log(GAMMA)


def bucket_of(value: float) -> int | None:
    """The bucket index of a value; None for values <= 0 (the bucket below all others)."""
    if value <= 0:
        return None
    return math.ceil(math.log(value) / LOG_GAMMA)


@dataclass(frozen=True, slots=True)
class QuantileSketch:
    """Counts per bucket of one arm's values (`buckets` sorted by index) and of values <= 0."""

    buckets: tuple[tuple[int, int], ...]
    non_positive: int = 0

    @classmethod
    def of_counts(cls, counts: Mapping[int, int], non_positive: int = 0) -> QuantileSketch:
        return cls(tuple(sorted((i, c) for i, c in counts.items() if c > 0)), non_positive)

    @classmethod
    def of_values(cls, values: Iterable[float]) -> QuantileSketch:
        """The sketch the ingestion script builds from these values (for tests and tools)."""
        counts: dict[int, int] = {}
        non_positive = 0
        for value in values:
            index = bucket_of(float(value))
            if index is None:
                non_positive += 1
            else:
                counts[index] = counts.get(index, 0) + 1
        return cls.of_counts(counts, non_positive)

    @property
    def n(self) -> int:
        return self.non_positive + sum(count for _, count in self.buckets)

    def bucket_at(self, rank: int) -> int | None:
        """The bucket of the `rank`-th smallest value (1-based; None: the bucket of <= 0).

        Raises ValueError for a rank outside `1..n`."""
        if not 1 <= rank <= self.n:
            raise ValueError(f"rank must be in 1..{self.n}, got {rank}")
        if rank <= self.non_positive:
            return None
        seen = self.non_positive
        for index, count in self.buckets:
            seen += count
            if seen >= rank:
                return index
        raise AssertionError("unreachable: the counts add up to n")

    def value_at(self, rank: int) -> float:
        """The `rank`-th smallest value within the relative accuracy (0.0 for a value <= 0)."""
        index = self.bucket_at(rank)
        return 0.0 if index is None else 2 * GAMMA**index / (GAMMA + 1)

    def lower_edge_at(self, rank: int) -> float:
        """A value at or below the `rank`-th smallest one: its bucket's lower edge.

        `-inf` for a rank below 1 (no bound) and for the bucket of values <= 0."""
        if rank < 1:
            return -math.inf
        index = self.bucket_at(min(rank, self.n))
        return -math.inf if index is None else GAMMA ** (index - 1)

    def upper_edge_at(self, rank: int) -> float:
        """A value at or above the `rank`-th smallest one: its bucket's upper edge.

        `inf` for a rank above `n` (no bound); 0.0 for the bucket of values <= 0."""
        if rank > self.n:
            return math.inf
        index = self.bucket_at(max(rank, 1))
        return 0.0 if index is None else GAMMA**index

    def quantile(self, q: float) -> float | None:
        """The lower `q`-quantile, the `ceil(q n)`-th smallest value; None without values."""
        if not 0 < q < 1:
            raise ValueError(f"q must be in (0, 1), got {q}")
        if self.n == 0:
            return None
        return self.value_at(max(1, math.ceil(q * self.n)))
