"""Where an experiment sits in its layer: a free range [lo, hi) of the layer's [0, 1).

Experiments of one layer read the same layer point (rollout_sdk.kernel.assignment), so
disjoint ranges mean disjoint users; this module only chooses the ranges, when an experiment
joins a layer. Pure: the store claims the range it returns atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

LAYER_TOLERANCE: Final = 1e-9
"""Free space narrower than this is rounding residue, not room for an experiment."""


def allocate_layer_range(
    taken: Sequence[tuple[float, float]], share: float | None
) -> tuple[float, float] | None:
    """A free range [lo, hi) of the layer [0, 1), or None when nothing fits.

    `taken` are the ranges held by the layer's experiments that are not final (they may overlap or
    come in any order). With a `share`, the first free range wide enough gets an experiment of
    that width at its start (first fit keeps the free space in few large pieces); without one,
    the experiment takes the lower half of the largest free range, so that room remains for the
    next. A range ending within LAYER_TOLERANCE of the next taken range is extended to meet it,
    so that rounding never leaves slivers nobody can use.
    """
    if share is not None and not 0.0 < share <= 1.0:
        raise ValueError(f"a layer share must be in (0, 1], not {share!r}")
    free = _free_ranges(taken)
    if share is None:
        widest = max(free, key=lambda gap: gap[1] - gap[0], default=None)
        if widest is None:
            return None
        lo, hi = widest
        return (lo, lo + (hi - lo) / 2.0)
    for lo, hi in free:
        if hi - lo >= share - LAYER_TOLERANCE:
            end = lo + share
            return (lo, hi if hi - end < LAYER_TOLERANCE else end)
    return None


def _free_ranges(taken: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The gaps of [0, 1) left by `taken`, in order, each wider than LAYER_TOLERANCE."""
    free: list[tuple[float, float]] = []
    cursor = 0.0
    for lo, hi in sorted(taken):
        if hi <= lo:
            continue
        if lo - cursor > LAYER_TOLERANCE:
            free.append((cursor, lo))
        cursor = max(cursor, hi)
    if 1.0 - cursor > LAYER_TOLERANCE:
        free.append((cursor, 1.0))
    return free
