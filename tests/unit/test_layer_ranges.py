"""Layer ranges: where an experiment sits in its layer, disjoint from its neighbours."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.layer_ranges import allocate_layer_range

DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=200)



def test_an_empty_layer_gives_half_of_it_by_default() -> None:
    assert allocate_layer_range([], None) == (0.0, 0.5)


def test_the_default_share_is_half_of_the_largest_free_range() -> None:
    assert allocate_layer_range([(0.0, 0.5)], None) == (0.5, 0.75)
    assert allocate_layer_range([(0.1, 0.2), (0.6, 0.7)], None) == (0.2, 0.4)


def test_a_share_takes_the_first_range_wide_enough() -> None:
    assert allocate_layer_range([], 0.3) == (0.0, 0.3)
    assert allocate_layer_range([(0.1, 0.5), (0.6, 0.7)], 0.2) == pytest.approx((0.7, 0.9))
    assert allocate_layer_range([(0.1, 0.5)], 0.1) == (0.0, 0.1)


def test_taken_ranges_may_overlap_and_come_in_any_order() -> None:
    assert allocate_layer_range([(0.4, 0.9), (0.0, 0.5)], 0.1) == (0.9, 1.0)


def test_nothing_fits_in_a_full_layer() -> None:
    assert allocate_layer_range([(0.0, 1.0)], None) is None
    assert allocate_layer_range([(0.0, 0.5), (0.5, 1.0)], 0.01) is None
    assert allocate_layer_range([(0.0, 0.75)], 0.3) is None


def test_a_range_within_rounding_of_the_next_taken_one_is_extended_to_meet_it() -> None:
    taken = [(0.0, 0.3), (0.3, 0.6), (0.6, 0.8999999999999999)]
    assert allocate_layer_range(taken, 0.1) == (0.8999999999999999, 1.0)


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_a_share_outside_the_unit_interval_is_an_error(share: float) -> None:
    with pytest.raises(ValueError, match="a layer share must be in"):
        allocate_layer_range([], share)


@DETERMINISTIC
@given(shares=st.lists(st.none() | st.floats(0.001, 1.0), max_size=12))
def test_allocated_ranges_are_disjoint_inside_the_unit_interval(
    shares: list[float | None],
) -> None:
    ranges: list[tuple[float, float]] = []
    for share in shares:
        allocated = allocate_layer_range(ranges, share)
        if allocated is None:
            continue
        lo, hi = allocated
        assert 0.0 <= lo < hi <= 1.0
        if share is not None:
            assert hi - lo == pytest.approx(share, abs=1e-9)
        assert all(hi <= other_lo or other_hi <= lo for other_lo, other_hi in ranges)
        ranges.append(allocated)
