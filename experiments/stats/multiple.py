"""Correction for testing several metrics at once.

With m independent tests at level alpha, the chance of at least one false positive is
`1 - (1 - alpha)^m`; the adjusted p-values keep that family-wise error rate at alpha.
"""

from __future__ import annotations

from collections.abc import Sequence


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values, in the order given.

    Holm, "A simple sequentially rejective multiple test procedure", Scandinavian Journal of
    Statistics 6 (1979). With the `m` available p-values sorted ascending, `p_(1) <= ... <= p_(m)`,

        adjusted p_(i) = min(1, max_{j <= i} (m - j + 1) * p_(j))

    which controls the family-wise error rate under any dependence between the tests and is
    uniformly more powerful than Bonferroni; the running maximum keeps the adjusted values in the
    order of the raw ones. A None (a figure not available yet) passes through as None and does not
    count towards `m`. Raises ValueError for a p-value outside [0, 1].
    """
    present = [(p, index) for index, p in enumerate(p_values) if p is not None]
    if any(not 0 <= p <= 1 for p, _ in present):
        raise ValueError("p-values must be in [0, 1]")
    adjusted: list[float | None] = [None] * len(p_values)
    m = len(present)
    running = 0.0
    for rank, (p, index) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted
