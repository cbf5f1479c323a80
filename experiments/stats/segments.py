"""Segments: a user's cell in each declared dimension, and the level of the per-segment rule; pure.

An experiment declares up to 3 dimensions (`Experiment.segments`), each an exposure attribute
with up to 20 declared values; a user whose attribute is none of them (absent, another value, not
a string) is in the dimension's `other` segment. The cells are taken from the attributes of the
user's FIRST exposure and stored with it, so a user stays in one segment of each dimension
whatever later requests say, and the per-segment sums add up to the experiment's.

The per-segment guardrail rule: a guardrail can be breached in one segment while the experiment
as a whole is not (a regression in one model's 10% of traffic, diluted by the 90% that did not
change). Each segment of each dimension is judged by the same one-sided always-valid harm test
as the whole (experiments/stats/guardrail.py), at `segment_alpha`: the guardrail's segment cells
are one more member of the experiment's decision family (experiments/analysis.py counts it), and
that member's level is split evenly among the cells (Bonferroni). The union bound then keeps the
chance that any test of the experiment, overall or in any segment, ever fires on an A/A
experiment at or below `alpha`, however often it is looked at and whatever the dependence between
dimensions (tests/unit/test_segments_simulation.py measures it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from experiments.model import OTHER_SEGMENT, Segment


def segment_names(segment: Segment) -> list[str]:
    """The segments of one dimension in their stored order: the declared values, then `other`."""
    return [*segment.values, OTHER_SEGMENT]


def segment_cells(segments: Sequence[Segment], attributes: Mapping[str, Any]) -> tuple[int, ...]:
    """Per dimension, the index of the user's segment in `segment_names` (`other` is the last).

    Only a string attribute equal to a declared value has that value's segment: a number or a
    flag would need a rule for how it is spelled, and the SDKs send attributes as given."""
    cells = []
    for segment in segments:
        value = attributes.get(segment.attribute)
        if isinstance(value, str) and value in segment.values:
            cells.append(segment.values.index(value))
        else:
            cells.append(len(segment.values))
    return tuple(cells)


def cell_count(segments: Sequence[Segment]) -> int:
    """How many segments the dimensions have together (each with its `other`)."""
    return sum(len(segment.values) + 1 for segment in segments)


def segment_alpha(member_alpha: float, segments: Sequence[Segment]) -> float:
    """The always-valid level of one segment's guardrail test: the family member's level
    `member_alpha` split among every segment of every dimension (Bonferroni)."""
    if not segments:
        raise ValueError("an experiment without segments has no per-segment level")
    return member_alpha / cell_count(segments)
