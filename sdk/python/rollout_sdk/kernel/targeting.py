"""Targeting: which users an experiment may include, decided from the attributes the caller sends.

A targeting object is the AND of its entries. An entry is a combinator (`"all": [t, ...]`,
`"any": [t, ...]`, `"not": t`) or `path: condition`, where `path` names an attribute (dots walk
into nested objects: `"device.os"`) and `condition` is an object of operators, all of which must
hold, or a bare scalar meaning `{"eq": scalar}`. docs/hashing.md is the normative description.

Evaluation never raises: a type mismatch (`gt` of a string against a number) is simply false, and
a missing attribute satisfies only `ne`, `nin` and `exists: false` (and so whatever `not` wraps
around a failing test). A definition is compiled once into nested closures, because the SDK
evaluates it on every `assign` call and must stay within microseconds; the same compilation is the
validation, so what validates is exactly what runs.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache, reduce
from typing import Any, Final, TypeGuard, TypeVar

import re2
from re2 import _re2

Predicate = Callable[[Mapping[str, Any]], bool]
"""A compiled targeting object: attributes in, included or not out."""

_ValueTest = Callable[[object], bool]
_T = TypeVar("_T")

MAX_DEPTH: Final = 8
MAX_CONDITIONS: Final = 200
MAX_LIST: Final = 1000
MAX_REGEX: Final = 256
MAX_PATH: Final = 256

COMBINATORS: Final = frozenset({"all", "any", "not"})
OPERATORS: Final = frozenset(
    {"eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "exists", "contains", "regex"}
)
_ORDERINGS: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


class _Missing:
    """The value of an attribute the caller did not send; distinct from an explicit null."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()


def validate_targeting(targeting: dict[str, Any]) -> None:
    """Raise ValueError naming the offending place unless `targeting` follows the grammar.

    Checked: the shape, the operator names and operand types, regular expressions (they must
    compile), and the bounds that keep evaluation cheap: nesting depth <= MAX_DEPTH, at most
    MAX_CONDITIONS operators and combinators in all, lists of at most MAX_LIST values, patterns of
    at most MAX_REGEX characters, attribute paths of at most MAX_PATH characters.
    """
    compile_targeting(targeting)


def compile_targeting(targeting: Mapping[str, Any] | None) -> Predicate:
    """Validate `targeting` and turn it into a predicate over attributes; None matches everyone."""
    if targeting is None:
        return _everyone
    return _compile_object(targeting, "targeting", 1, [MAX_CONDITIONS])


def matches(targeting: Mapping[str, Any] | None, attributes: Mapping[str, Any]) -> bool:
    """Whether `attributes` satisfy `targeting`; compiles each call, so hot paths keep the
    predicate from `compile_targeting` instead (as `kernel.assignment` does)."""
    return compile_targeting(targeting)(attributes)


def _everyone(attributes: Mapping[str, Any]) -> bool:
    return True


def _spend(budget: list[int], where: str) -> None:
    """Count one condition against the single budget shared by the whole definition."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError(f"{where}: targeting has more than {MAX_CONDITIONS} conditions")


def _compile_object(node: object, where: str, depth: int, budget: list[int]) -> Predicate:
    if not isinstance(node, Mapping):
        raise ValueError(f"{where}: a targeting object must be a JSON object")
    if depth > MAX_DEPTH:
        raise ValueError(f"{where}: targeting is nested deeper than {MAX_DEPTH} levels")
    parts: list[Predicate] = []
    for name, value in node.items():
        if not isinstance(name, str):
            raise ValueError(f"{where}: keys must be strings, not {name!r}")
        if name in COMBINATORS:
            _spend(budget, where)
            parts.append(_compile_combinator(name, value, f"{where}.{name}", depth, budget))
        else:
            parts.append(_compile_attribute(name, value, where, budget))
    return _all_of(parts)


def _compile_combinator(
    name: str, value: object, where: str, depth: int, budget: list[int]
) -> Predicate:
    if name == "not":
        inner = _compile_object(value, where, depth + 1, budget)
        return lambda attributes: not inner(attributes)
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: '{name}' takes a non-empty list of targeting objects")
    children = [
        _compile_object(child, f"{where}[{i}]", depth + 1, budget) for i, child in enumerate(value)
    ]
    return _all_of(children) if name == "all" else _any_of(children)


def _all_of(parts: Sequence[Predicate]) -> Predicate:
    return reduce(_both, parts) if parts else _everyone


def _any_of(parts: Sequence[Predicate]) -> Predicate:
    return reduce(_either, parts)


# Folding into chains of two-way closures, rather than looping over a tuple with all()/any(),
# saves the generator each call would create: about half the time of a typical definition.
def _both(first: Callable[[_T], bool], second: Callable[[_T], bool]) -> Callable[[_T], bool]:
    return lambda subject: first(subject) and second(subject)


def _either(first: Callable[[_T], bool], second: Callable[[_T], bool]) -> Callable[[_T], bool]:
    return lambda subject: first(subject) or second(subject)


def _compile_attribute(path: str, condition: object, where: str, budget: list[int]) -> Predicate:
    place = f"{where}: attribute {path!r}"
    segments = path.split(".")
    if len(path) > MAX_PATH or not all(segments):
        raise ValueError(
            f"{place}: an attribute path is 1 to {MAX_PATH} characters of dot-separated names"
        )
    test = _compile_condition(condition, path, place, budget)
    if len(segments) == 1:
        return lambda attributes: test(attributes.get(path, MISSING))
    return lambda attributes: test(_lookup(attributes, segments))


def _lookup(attributes: Mapping[str, Any], segments: Sequence[str]) -> object:
    value: object = attributes
    for segment in segments:
        # The exact-type test first: JSON objects are dicts, and an ABC check costs more.
        if not (type(value) is dict or isinstance(value, Mapping)):
            return MISSING
        value = value.get(segment, MISSING)
    return value


def _compile_condition(condition: object, path: str, place: str, budget: list[int]) -> _ValueTest:
    if not isinstance(condition, Mapping):
        _spend(budget, place)
        return _equals(_scalar(condition, place, "eq"))
    if not condition:
        raise ValueError(f"{place}: a condition needs at least one operator")
    tests: list[_ValueTest] = []
    for op, operand in condition.items():
        _spend(budget, place)
        tests.append(_compile_operator(op, operand, path, place))
    return reduce(_both, tests)


def _compile_operator(op: object, operand: object, path: str, place: str) -> _ValueTest:
    if not isinstance(op, str) or op not in OPERATORS:
        raise ValueError(
            f"{place}: unknown operator {op!r} (expected one of {', '.join(sorted(OPERATORS))};"
            f" a nested attribute is written as a dotted path, e.g. '{path}.{op}')"
        )
    if op == "eq":
        return _equals(_scalar(operand, place, op))
    if op == "ne":
        equal = _equals(_scalar(operand, place, op))
        return lambda value: not equal(value)
    if op == "in":
        return _member_of(_scalar_list(operand, place, op))
    if op == "nin":
        member = _member_of(_scalar_list(operand, place, op))
        return lambda value: not member(value)
    if op == "exists":
        if not isinstance(operand, bool):
            raise ValueError(f"{place}: 'exists' takes true or false, not {operand!r}")
        if operand:
            return lambda value: value is not MISSING
        return lambda value: value is MISSING
    if op == "contains":
        return _contains(_scalar(operand, place, op))
    if op == "regex":
        return _regex_test(operand, place)
    return _ordering(op, operand, place)


def _is_number(value: object) -> TypeGuard[int | float]:
    """JSON numbers: int or float, but never bool (which Python counts as an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scalar(operand: object, place: str, op: str) -> object:
    if operand is None or isinstance(operand, str | bool):
        return operand
    if _is_number(operand):
        if not math.isfinite(operand):
            raise ValueError(f"{place}: '{op}' takes a finite number, not {operand!r}")
        return operand
    hint = "; to match any of several values use {'in': [...]}" if isinstance(operand, list) else ""
    raise ValueError(
        f"{place}: '{op}' takes a string, number, boolean or null, not {type(operand).__name__}"
        f"{hint}"
    )


def _scalar_list(operand: object, place: str, op: str) -> list[object]:
    if not isinstance(operand, list):
        raise ValueError(f"{place}: '{op}' takes a list of values")
    if len(operand) > MAX_LIST:
        raise ValueError(f"{place}: '{op}' takes at most {MAX_LIST} values, not {len(operand)}")
    return [_scalar(item, place, op) for item in operand]


def _equals(expected: object) -> _ValueTest:
    """Typed JSON equality: 1 equals 1.0, but true never equals 1 and "1" never equals 1."""
    if expected is None:
        return lambda value: value is None
    if isinstance(expected, bool):
        return lambda value: isinstance(value, bool) and value == expected
    if isinstance(expected, str):
        return lambda value: isinstance(value, str) and value == expected
    return lambda value: _is_number(value) and value == expected


def _member_of(values: Sequence[object]) -> _ValueTest:
    """`in` with one hash lookup, the sets split by type so that true and 1 stay apart."""
    strings = frozenset(v for v in values if isinstance(v, str))
    numbers = frozenset(v for v in values if _is_number(v))
    booleans = frozenset(v for v in values if isinstance(v, bool))
    has_null = any(v is None for v in values)

    def member(value: object) -> bool:
        if isinstance(value, str):
            return value in strings
        if isinstance(value, bool):
            return value in booleans
        if isinstance(value, int | float):
            return value in numbers
        return value is None and has_null

    return member


def _contains(expected: object) -> _ValueTest:
    """A string attribute contains a substring; a list attribute contains an equal element."""
    element = _equals(expected)
    if isinstance(expected, str):

        def contains_text(value: object) -> bool:
            if isinstance(value, str):
                return expected in value
            return isinstance(value, list | tuple) and any(element(item) for item in value)

        return contains_text
    return lambda value: isinstance(value, list | tuple) and any(element(item) for item in value)


class _LinearPattern:
    """A pattern compiled by RE2, whose matching time is linear in the text whatever the pattern.

    Attribute values come from end users, so a backtracking engine (Python's `re`) would let one
    crafted pattern and one long value freeze a worker; RE2 has no backtracking at all, and refuses
    the syntax that needs it (back-references, look-around, possessive quantifiers). Matching goes
    through RE2's own binding (`re2._re2`, which the `re2` module wraps) because only a yes or no
    is needed: the wrapper's position mapping costs ten times the match itself. The text is UTF-8
    (lone surrogates passed through, so evaluation never raises).
    """

    __slots__ = ("_regexp",)

    def __init__(self, source: str) -> None:
        regexp = _re2.RE2(source.encode("utf-8", "surrogatepass"), _RE2_OPTIONS)
        if not regexp.ok():
            reason = regexp.error().decode("utf-8", "replace")
            raise ValueError(f"pattern does not compile as RE2 ({reason}); see docs/hashing.md")
        self._regexp = regexp

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in `text` (re.search semantics)."""
        encoded = text.encode("utf-8", "surrogatepass")
        spans = self._regexp.Match(_UNANCHORED, encoded, 0, len(encoded))
        return bool(spans[0][0] != -1)


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the caller's 422, not a line on stderr
    options.never_capture = True  # a match is a yes or no: nothing to capture
    return options


_RE2_OPTIONS: Final = _re2_options()
_UNANCHORED: Final = _re2.RE2.Anchor.UNANCHORED


@lru_cache(maxsize=1024)
def _pattern(source: str) -> _LinearPattern:
    """Compiled once per distinct pattern, however many experiments and refreshes use it."""
    return _LinearPattern(source)


def _regex_test(operand: object, place: str) -> _ValueTest:
    if not isinstance(operand, str):
        raise ValueError(f"{place}: 'regex' takes a pattern string")
    if len(operand) > MAX_REGEX:
        raise ValueError(f"{place}: 'regex' patterns are at most {MAX_REGEX} characters")
    try:
        pattern = _pattern(operand)
    except ValueError as exc:
        raise ValueError(f"{place}: 'regex' {exc}") from None
    search = pattern.search
    return lambda value: isinstance(value, str) and search(value)


def _ordering(op: str, operand: object, place: str) -> _ValueTest:
    """Numbers compare with numbers, strings with strings (by code point); all else is false."""
    compare = _ORDERINGS[op]
    if isinstance(operand, str):
        return lambda value: isinstance(value, str) and compare(value, operand)
    if _is_number(operand) and math.isfinite(operand):
        return lambda value: _is_number(value) and compare(value, operand)
    raise ValueError(f"{place}: '{op}' takes a finite number or a string, not {operand!r}")
