"""Targeting: the grammar, every operator and combinator, missing attributes, and the bounds."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from experiments.model import Experiment, ExperimentPatch
from rollout_sdk.kernel.targeting import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_LIST,
    MAX_REGEX,
    compile_targeting,
    matches,
    validate_targeting,
)

DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=150)

USER = {
    "country": "DE",
    "age": 34,
    "score": 0.75,
    "beta": True,
    "plan": None,
    "email": "ana@corp.example",
    "tags": ["early", "staff", 7],
    "device": {"os": "ios", "build": 1702, "screen": {"width": 390}},
}


def check(targeting: dict[str, Any], attributes: dict[str, Any] = USER) -> bool:
    return matches(targeting, attributes)


# --- the shape ------------------------------------------------------------------------------


def test_no_targeting_matches_everyone() -> None:
    assert matches(None, {})
    assert compile_targeting(None)(USER)


def test_an_empty_targeting_object_matches_everyone() -> None:
    assert check({}, {})


def test_entries_of_a_targeting_object_are_anded() -> None:
    assert check({"country": "DE", "age": 34})
    assert not check({"country": "DE", "age": 35})


def test_a_bare_scalar_means_eq() -> None:
    assert check({"country": "DE"})
    assert not check({"country": "FR"})


def test_operators_of_one_condition_are_anded() -> None:
    assert check({"age": {"gte": 18, "lt": 65}})
    assert not check({"age": {"gte": 18, "lt": 30}})


def test_a_dotted_path_walks_into_nested_objects() -> None:
    assert check({"device.os": "ios"})
    assert check({"device.screen.width": {"gt": 300}})


def test_a_dotted_path_through_a_non_object_is_missing() -> None:
    assert not check({"country.code": "DE"})
    assert check({"country.code": {"exists": False}})
    assert check({"device.model": {"ne": "x"}})


# --- operators ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"eq": "DE"}, True),
        ({"eq": "de"}, False),
        ({"ne": "FR"}, True),
        ({"ne": "DE"}, False),
        ({"in": ["FR", "DE"]}, True),
        ({"in": ["FR", "IT"]}, False),
        ({"in": []}, False),
        ({"nin": ["FR", "IT"]}, True),
        ({"nin": ["DE"]}, False),
        ({"exists": True}, True),
        ({"exists": False}, False),
        ({"gt": "CH"}, True),
        ({"gt": "DE"}, False),
        ({"gte": "DE"}, True),
        ({"lt": "FR"}, True),
        ({"lt": "DE"}, False),
        ({"lte": "DE"}, True),
        ({"contains": "E"}, True),
        ({"contains": "X"}, False),
        ({"regex": "^D"}, True),
        ({"regex": "^E"}, False),
    ],
)
def test_operators_on_a_string_attribute(condition: dict[str, Any], expected: bool) -> None:
    assert check({"country": condition}) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"eq": 34}, True),
        ({"eq": 34.0}, True),
        ({"ne": 35}, True),
        ({"in": [1, 34]}, True),
        ({"nin": [1, 34]}, False),
        ({"gt": 33}, True),
        ({"gt": 34}, False),
        ({"gte": 34}, True),
        ({"lt": 34.5}, True),
        ({"lt": 34}, False),
        ({"lte": 34}, True),
    ],
)
def test_operators_on_a_number_attribute(condition: dict[str, Any], expected: bool) -> None:
    assert check({"age": condition}) is expected


def test_eq_and_in_on_booleans_and_null() -> None:
    assert check({"beta": True})
    assert not check({"beta": False})
    assert check({"beta": {"in": [True]}})
    assert check({"plan": None})
    assert check({"plan": {"in": ["pro", None]}})
    assert not check({"plan": {"in": ["pro"]}})
    assert check({"plan": {"exists": True}})


def test_contains_on_a_list_attribute_looks_for_an_equal_element() -> None:
    assert check({"tags": {"contains": "staff"}})
    assert check({"tags": {"contains": 7}})
    assert not check({"tags": {"contains": "sta"}})
    assert not check({"tags": {"contains": True}})


def test_contains_of_a_non_string_against_a_string_attribute_is_false() -> None:
    assert not check({"age": {"contains": 3}})
    assert not check({"country": {"contains": 1}})


def test_regex_searches_anywhere_in_a_string() -> None:
    assert check({"email": {"regex": "@corp\\.example$"}})
    assert not check({"email": {"regex": "^corp"}})


# --- typed equality and type mismatches -------------------------------------------------------


def test_true_never_equals_one_and_strings_never_equal_numbers() -> None:
    attributes = {"flag": True, "one": 1, "text": "1"}
    assert not check({"flag": 1}, attributes)
    assert not check({"one": True}, attributes)
    assert not check({"one": {"in": [True]}}, attributes)
    assert not check({"flag": {"in": [1]}}, attributes)
    assert not check({"text": 1}, attributes)
    assert not check({"one": "1"}, attributes)
    assert check({"one": 1.0}, attributes)


@pytest.mark.parametrize("op", ["gt", "gte", "lt", "lte"])
def test_an_ordering_across_types_is_false_not_an_error(op: str) -> None:
    attributes = {"n": 5, "s": "5", "b": True, "z": None, "l": [1], "o": {"a": 1}}
    for path in attributes:
        operand: int | str = "4" if path == "n" else 4
        assert not check({path: {op: operand}}, attributes)


def test_regex_against_a_non_string_is_false() -> None:
    assert not check({"age": {"regex": "3"}})
    assert not check({"tags": {"regex": "staff"}})


def test_ne_and_nin_are_the_negations_of_eq_and_in() -> None:
    assert check({"age": {"ne": "34"}})
    assert check({"age": {"nin": ["34"]}})


# --- missing attributes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("x", False),
        ({"eq": None}, False),
        ({"ne": "x"}, True),
        ({"in": ["x", None]}, False),
        ({"nin": ["x"]}, True),
        ({"exists": True}, False),
        ({"exists": False}, True),
        ({"gt": 0}, False),
        ({"gte": ""}, False),
        ({"lt": 0}, False),
        ({"lte": "z"}, False),
        ({"contains": "x"}, False),
        ({"regex": ".*"}, False),
    ],
)
def test_a_missing_attribute_satisfies_only_ne_nin_and_exists_false(
    condition: Any, expected: bool
) -> None:
    assert check({"absent": condition}) is expected


def test_not_of_a_failing_test_on_a_missing_attribute_holds() -> None:
    assert check({"not": {"absent": "x"}})


def test_null_is_a_value_and_not_a_missing_attribute() -> None:
    assert check({"plan": {"exists": True}})
    assert not check({"plan": {"ne": None}})


# --- combinators ------------------------------------------------------------------------------


def test_all_needs_every_child() -> None:
    assert check({"all": [{"country": "DE"}, {"age": 34}]})
    assert not check({"all": [{"country": "DE"}, {"age": 35}]})


def test_any_needs_one_child() -> None:
    assert check({"any": [{"country": "FR"}, {"age": 34}]})
    assert not check({"any": [{"country": "FR"}, {"age": 35}]})


def test_not_negates_a_targeting_object() -> None:
    assert check({"not": {"country": "FR"}})
    assert not check({"not": {"country": "DE", "age": 34}})


def test_combinators_nest_and_combine_with_attribute_entries() -> None:
    targeting = {
        "any": [
            {"all": [{"device.os": "android"}, {"age": {"gte": 18}}]},
            {"not": {"any": [{"beta": False}, {"tags": {"contains": "banned"}}]}},
        ],
        "country": {"in": ["DE", "AT"]},
    }
    assert check(targeting)
    assert not check(targeting, USER | {"beta": False})
    assert not check(targeting, USER | {"country": "FR"})


# --- evaluation never raises ------------------------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)
PATHS = st.sampled_from(["a", "b", "a.b", "a.b.c"])
OPERANDS: dict[str, st.SearchStrategy[Any]] = {
    "eq": st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["x", "y", ""]),
    "in": st.lists(st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["x"])),
    "gt": st.integers(-3, 3) | st.floats(-3, 3) | st.sampled_from(["x", "y"]),
    "exists": st.booleans(),
    "contains": st.sampled_from(["x", 1, True, None]),
    "regex": st.sampled_from(["x", "^y$", "[0-9]+", ""]),
}
OPERANDS |= {"ne": OPERANDS["eq"], "nin": OPERANDS["in"]}
OPERANDS |= {op: OPERANDS["gt"] for op in ("gte", "lt", "lte")}
CONDITIONS = st.one_of(
    OPERANDS["eq"],
    st.sets(st.sampled_from(sorted(OPERANDS)), min_size=1, max_size=3).flatmap(
        lambda ops: st.fixed_dictionaries({op: OPERANDS[op] for op in ops})
    ),
)
TARGETING = st.recursive(
    st.dictionaries(PATHS, CONDITIONS, max_size=2),
    lambda inner: st.one_of(
        st.builds(lambda children: {"all": children}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda children: {"any": children}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda child: {"not": child}, inner),
    ),
    max_leaves=6,
)
ATTRIBUTES = st.dictionaries(st.sampled_from(["a", "b", "c"]), JSON_VALUES, max_size=3)


@DETERMINISTIC
@given(targeting=TARGETING, attributes=ATTRIBUTES)
def test_a_valid_targeting_evaluates_to_a_bool_for_any_attributes(
    targeting: dict[str, Any], attributes: dict[str, Any]
) -> None:
    validate_targeting(targeting)
    assert isinstance(matches(targeting, attributes), bool)


@DETERMINISTIC
@given(first=TARGETING, second=TARGETING, attributes=ATTRIBUTES)
def test_combinators_follow_boolean_logic(
    first: dict[str, Any], second: dict[str, Any], attributes: dict[str, Any]
) -> None:
    a, b = matches(first, attributes), matches(second, attributes)
    assert matches({"all": [first, second]}, attributes) is (a and b)
    assert matches({"any": [first, second]}, attributes) is (a or b)
    assert matches({"not": first}, attributes) is (not a)


@DETERMINISTIC
@given(value=OPERANDS["eq"], attributes=ATTRIBUTES)
def test_ne_is_always_the_negation_of_eq(value: Any, attributes: dict[str, Any]) -> None:
    equal = matches({"a": {"eq": value}}, attributes)
    assert matches({"a": {"ne": value}}, attributes) is not equal


# --- validation -------------------------------------------------------------------------------


def nested(depth: int) -> dict[str, Any]:
    targeting: dict[str, Any] = {"country": "DE"}
    for _ in range(depth - 1):
        targeting = {"not": targeting}
    return targeting


def test_nesting_up_to_the_limit_is_valid() -> None:
    validate_targeting(nested(MAX_DEPTH))


def test_nesting_beyond_the_limit_is_rejected() -> None:
    with pytest.raises(ValueError, match=f"nested deeper than {MAX_DEPTH}"):
        validate_targeting(nested(MAX_DEPTH + 1))


def test_more_conditions_than_the_limit_are_rejected() -> None:
    validate_targeting({"any": [{"a": {"eq": i}} for i in range(MAX_CONDITIONS - 1)]})
    with pytest.raises(ValueError, match=f"more than {MAX_CONDITIONS} conditions"):
        validate_targeting({"any": [{"a": {"eq": i}} for i in range(MAX_CONDITIONS)]})


def test_a_list_longer_than_the_limit_is_rejected() -> None:
    validate_targeting({"a": {"in": list(range(MAX_LIST))}})
    with pytest.raises(ValueError, match=f"at most {MAX_LIST} values"):
        validate_targeting({"a": {"nin": list(range(MAX_LIST + 1))}})


def test_a_pattern_longer_than_the_limit_is_rejected() -> None:
    validate_targeting({"a": {"regex": "x" * MAX_REGEX}})
    with pytest.raises(ValueError, match=f"at most {MAX_REGEX} characters"):
        validate_targeting({"a": {"regex": "x" * (MAX_REGEX + 1)}})


@pytest.mark.parametrize(
    ("targeting", "message"),
    [
        ({"country": {"gtt": 1}}, "attribute 'country': unknown operator 'gtt'"),
        ({"device": {"os": "ios"}}, "dotted path, e.g. 'device.os'"),
        ({"any": [{"a": 1}, {"b": {"bad": 1}}]}, "targeting.any[1]: attribute 'b'"),
        ({"a": {}}, "needs at least one operator"),
        ({"a": ["DE", "FR"]}, "use {'in': [...]}"),
        ({"a": {"eq": ["DE"]}}, "'eq' takes a string, number, boolean or null"),
        ({"a": {"eq": {"x": 1}}}, "'eq' takes a string, number, boolean or null"),
        ({"a": {"eq": float("nan")}}, "'eq' takes a finite number"),
        ({"a": {"in": "DE"}}, "'in' takes a list"),
        ({"a": {"in": [["DE"]]}}, "'in' takes a string, number, boolean or null"),
        ({"a": {"nin": None}}, "'nin' takes a list"),
        ({"a": {"gt": True}}, "'gt' takes a finite number or a string"),
        ({"a": {"lte": None}}, "'lte' takes a finite number or a string"),
        ({"a": {"lt": float("inf")}}, "'lt' takes a finite number or a string"),
        ({"a": {"exists": "yes"}}, "'exists' takes true or false"),
        ({"a": {"contains": [1]}}, "'contains' takes a string, number, boolean or null"),
        ({"a": {"regex": 1}}, "'regex' takes a pattern string"),
        ({"a": {"regex": "("}}, "'regex' pattern does not compile"),
        ({"all": []}, "'all' takes a non-empty list"),
        ({"any": {"a": 1}}, "'any' takes a non-empty list"),
        ({"not": [{"a": 1}]}, "targeting.not: a targeting object must be a JSON object"),
        ({"any": ["a"]}, "targeting.any[0]: a targeting object must be a JSON object"),
        ({"a..b": 1}, "dot-separated names"),
        ({"": 1}, "dot-separated names"),
        ({"a" * 257: 1}, "dot-separated names"),
    ],
)
def test_invalid_targeting_is_rejected_naming_the_place(
    targeting: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        validate_targeting(targeting)


def test_a_targeting_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(ValueError, match="must be a JSON object"):
        validate_targeting(["country"])  # type: ignore[arg-type]


def test_the_model_turns_bad_targeting_into_a_validation_error() -> None:
    definition = {
        "key": "exp",
        "name": "exp",
        "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
        "control": "a",
        "targeting": {"country": {"gtt": 1}},
    }
    with pytest.raises(ValidationError, match="unknown operator 'gtt'"):
        Experiment.model_validate(definition)
    with pytest.raises(ValidationError, match="unknown operator 'gtt'"):
        ExperimentPatch.model_validate({"targeting": {"country": {"gtt": 1}}})
