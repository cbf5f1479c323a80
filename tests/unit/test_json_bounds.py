"""Bounds on free JSON values: pure, and answering for any depth without recursion."""

from __future__ import annotations

from typing import Any

import pytest

from experiments.json_bounds import JsonBounds, check_json


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth - 1):
        value = [value]
    return value


def test_a_value_within_every_bound_passes() -> None:
    check_json({"model": "m", "params": {"t": 0.2, "stop": ["\n"]}, "on": True, "n": None})


def test_depth_is_counted_from_the_value_itself() -> None:
    bounds = JsonBounds(max_depth=3)
    check_json({"a": {"b": 1}}, bounds)
    with pytest.raises(ValueError, match="nested deeper than 3 levels"):
        check_json({"a": {"b": {"c": 1}}}, bounds)


def test_a_value_deeper_than_the_interpreter_can_recurse_is_refused_without_recursing() -> None:
    with pytest.raises(ValueError, match="nested deeper than 32 levels"):
        check_json(nested(100_000))


def test_a_lone_surrogate_is_named_with_its_path_and_never_echoed() -> None:
    with pytest.raises(ValueError, match=r"lone surrogate .*\(at a\.1\)") as caught:
        check_json({"a": ["ok", "x\ud800"]})
    assert "\ud800" not in str(caught.value)


def test_a_lone_surrogate_in_a_key_is_refused_and_shown_escaped() -> None:
    with pytest.raises(ValueError, match=r"key with a lone surrogate .*\(at k\\ud800\)"):
        check_json({"k\ud800": 1})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1, 2}, b"bytes", object()])
def test_what_is_not_json_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match=r"not finite|not JSON"):
        check_json({"v": value})


def test_the_encoded_size_counts_utf8_bytes() -> None:
    bounds = JsonBounds(max_bytes=20)
    check_json({"a": "é" * 6}, bounds)
    with pytest.raises(ValueError, match="larger than 20 bytes"):
        check_json({"a": "é" * 8}, bounds)
