"""Whether a template is in the portable subset: what Jinja2 and the TypeScript SDK render alike.

The TypeScript SDK renders prompts with Nunjucks (sdk/js/src/render.ts), which agrees with Jinja2
only on a subset of the language; outside it, it refuses rather than produce another text. The
service marks every prompt version with `portable` (this check, run once when the version is
created) so that an SDK knows before it renders. The subset is written once, as data, in
tests/vectors/portable_subset.json; `PORTABLE_SUBSET` here and `PORTABLE_SUBSET` in render.ts are
each checked against that file by their own test suite.

The check reads the template only, never its variables: a portable version may still be refused
by the TypeScript SDK for some values (printing a list, a number Python writes with an exponent),
never rendered differently. Where Jinja2's syntax tree forgets what Nunjucks reads differently,
the template's tokens are read as well: `True` is a literal in Jinja2, a variable in Nunjucks;
`"a" "b"` one string in Jinja2, an error in Nunjucks; `1_000` a number in Jinja2, a name in
Nunjucks; `x.0` an item in Jinja2, an error in Nunjucks; `"\\x41"` is "A" in Jinja2, "x41" in
Nunjucks. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from jinja2 import Environment, nodes
from jinja2.exceptions import TemplateSyntaxError


@dataclass(frozen=True)
class PortableSubset:
    """The portable subset as data (the fields of tests/vectors/portable_subset.json)."""

    statements: frozenset[str]
    expressions: frozenset[str]
    conditions: frozenset[str]
    filters: dict[str, tuple[int, int]]
    comparisons: frozenset[str]
    membership: frozenset[str]
    loop_fields: frozenset[str]
    reserved_names: frozenset[str]
    dict_methods: frozenset[str]
    private_prefix: str
    max_integer_literal: int
    string_escapes: frozenset[str]


PORTABLE_SUBSET: Final = PortableSubset(
    statements=frozenset({"Template", "Output", "If", "For"}),
    expressions=frozenset(
        {"Const", "Name", "Getattr", "Getitem", "Filter", "Compare", "Concat", "CondExpr", "Not"}
    ),
    conditions=frozenset({"And", "Or", "Not"}),
    filters={
        "upper": (0, 0),
        "lower": (0, 0),
        "capitalize": (0, 0),
        "trim": (0, 0),
        "length": (0, 0),
        "join": (0, 1),
        "first": (0, 0),
        "last": (0, 0),
        "default": (1, 1),
        "replace": (2, 2),
    },
    comparisons=frozenset({"==", "!=", "<", ">", "<=", ">="}),
    membership=frozenset({"in", "not in"}),
    loop_fields=frozenset({"index", "index0", "revindex", "revindex0", "first", "last", "length"}),
    reserved_names=frozenset({"True", "False", "None", "null", "undefined"}),
    dict_methods=frozenset(
        {
            "items",
            "keys",
            "values",
            "get",
            "pop",
            "popitem",
            "update",
            "copy",
            "clear",
            "setdefault",
            "fromkeys",
        }
    ),
    private_prefix="_",
    max_integer_literal=2**53 - 1,
    string_escapes=frozenset({"n", "t", "r", "\\", "'", '"'}),
)

_OPERATORS: Final = {
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "gt": ">",
    "lteq": "<=",
    "gteq": ">=",
    "in": "in",
    "notin": "not in",
}

_DECIMAL: Final = re.compile(r"0|[1-9][0-9]*")

# The syntax the service compiles prompts with (kernel.render): Jinja2's default delimiters, no
# extensions. Parsing is all this environment does.
_SYNTAX: Final = Environment(autoescape=False)


class _NotPortable(Exception):
    """Why a template is outside the subset; caught in `portability_problem`."""

    def __init__(self, where: nodes.Node | int, what: str) -> None:
        line = where if isinstance(where, int) else where.lineno
        super().__init__(f"line {line}: {what} is outside the portable template subset")


def portability_problem(template: str, subset: PortableSubset = PORTABLE_SUBSET) -> str | None:
    """None when `template` is inside the portable subset, else why not (the first reason).

    A template Jinja2 cannot parse is not portable either (the service refuses it before it asks).
    """
    try:
        _check_tokens(template, subset)
        tree = _SYNTAX.parse(template)
        _Checker(subset).statement(tree)
    except _NotPortable as problem:
        return str(problem)
    except TemplateSyntaxError as error:
        return f"line {error.lineno}: {error.message or 'a syntax error'}"
    except RecursionError:
        return "the template is nested too deeply"
    return None


def is_portable(template: str) -> bool:
    """Whether both SDKs render `template` alike (or the TypeScript SDK refuses some values)."""
    return portability_problem(template) is None


def _check_tokens(template: str, subset: PortableSubset) -> None:
    """What the syntax tree no longer shows: literal names, adjacent strings, escapes, `x.0`."""
    previous: tuple[str, str] = ("", "")
    for lineno, kind, value in _significant_tokens(template):
        after_dot = previous == ("operator", ".")
        if kind == "name" and value in subset.reserved_names and not after_dot:
            raise _NotPortable(lineno, f"the name {value!r}")
        if kind == "integer" and after_dot:
            raise _NotPortable(lineno, "an item read with a dot and a number")
        if kind == "integer" and not _DECIMAL.fullmatch(value):
            raise _NotPortable(lineno, f"the number literal {value!r} (Nunjucks reads a name)")
        if kind == "string":
            if previous[0] == "string":
                raise _NotPortable(lineno, "two adjacent string literals")
            escapes = value[1:-1].split("\\\\")
            for part in escapes:
                for escaped in part.split("\\")[1:]:
                    if escaped[:1] not in subset.string_escapes:
                        raise _NotPortable(lineno, f"the escape '\\{escaped[:1]}' in a string")
        previous = (kind, value)


def _significant_tokens(template: str) -> Iterator[tuple[int, str, str]]:
    for lineno, kind, value in _SYNTAX.lex(template):
        if kind not in {"whitespace", "comment_begin", "comment", "comment_end"}:
            yield lineno, kind, value


class _Checker:
    """Walks a Jinja2 tree as render.ts walks the Nunjucks one; `scope`: names bound by loops."""

    def __init__(self, subset: PortableSubset) -> None:
        self._subset = subset
        self._scope: list[str] = []

    def _refuse_unless(self, kinds: frozenset[str], node: nodes.Node, what: str) -> None:
        if type(node).__name__ not in kinds:
            raise _NotPortable(node, what)

    def statements(self, body: Sequence[nodes.Node]) -> None:
        for node in body:
            self.statement(node)

    def statement(self, node: nodes.Node) -> None:
        name = type(node).__name__
        self._refuse_unless(self._subset.statements, node, f"the '{name}' tag")
        if isinstance(node, nodes.Template):
            self.statements(node.body)
        elif isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    self.expression(child)
        elif isinstance(node, nodes.If):
            self.condition(node.test)
            self.statements(node.body)
            self.statements(node.elif_)
            self.statements(node.else_)
        elif isinstance(node, nodes.For):
            self._for(node)

    def _for(self, node: nodes.For) -> None:
        target = node.target
        if not isinstance(target, nodes.Name) or target.name in self._subset.reserved_names:
            raise _NotPortable(node, "a loop unpacking several names")
        if node.test is not None or node.recursive:
            raise _NotPortable(node, "a filtered or recursive loop")
        self.expression(node.iter)
        self.statements(node.else_)
        self._scope += [target.name, "loop"]
        self.statements(node.body)
        del self._scope[-2:]

    def condition(self, node: nodes.Node) -> None:
        """An expression in a boolean position: `and`, `or` and `not` are allowed only here."""
        if isinstance(node, nodes.And | nodes.Or):
            self.condition(node.left)
            self.condition(node.right)
        elif isinstance(node, nodes.Not):
            self.condition(node.node)
        else:
            self.expression(node)

    def expression(self, node: nodes.Node) -> None:
        name = type(node).__name__
        self._refuse_unless(self._subset.expressions, node, f"the '{name}' expression")
        if isinstance(node, nodes.Const):
            self._literal(node)
        elif isinstance(node, nodes.Name):
            if node.name in self._subset.reserved_names:
                raise _NotPortable(node, f"the name {node.name!r}")
        elif isinstance(node, nodes.Getattr):
            self._lookup(node, node.node, node.attr)
        elif isinstance(node, nodes.Getitem):
            if not isinstance(node.arg, nodes.Const):
                raise _NotPortable(node, "a computed subscript")
            self._lookup(node, node.node, node.arg.value)
        elif isinstance(node, nodes.Filter):
            self._filter(node)
        elif isinstance(node, nodes.Compare):
            self._compare(node)
        elif isinstance(node, nodes.Concat):
            for part in node.nodes:
                self.expression(part)
        elif isinstance(node, nodes.CondExpr):
            if node.expr2 is None:
                raise _NotPortable(node, "an inline if without else")
            self.condition(node.test)
            self.expression(node.expr1)
            self.expression(node.expr2)
        elif isinstance(node, nodes.Not):
            self.condition(node)

    def _literal(self, node: nodes.Const) -> None:
        value = node.value
        if isinstance(value, bool | str) or value is None:
            return
        if not (isinstance(value, int) and abs(value) <= self._subset.max_integer_literal):
            raise _NotPortable(node, "a non-integer number literal")

    def _lookup(self, node: nodes.Node, target: nodes.Node, key: object) -> None:
        is_loop = isinstance(target, nodes.Name) and target.name == "loop" and "loop" in self._scope
        if is_loop:
            if key not in self._subset.loop_fields:
                raise _NotPortable(node, f"loop.{key}")
        elif isinstance(key, str):
            if key.startswith(self._subset.private_prefix):
                raise _NotPortable(node, f"the attribute {key!r}")
            if key in self._subset.dict_methods:
                raise _NotPortable(node, f"the attribute {key!r} (a method of Python's dict)")
        elif not (
            isinstance(key, int)
            and not isinstance(key, bool)
            and 0 <= key <= self._subset.max_integer_literal
        ):
            raise _NotPortable(node, "a subscript other than a name or a non-negative integer")
        self.expression(target)

    def _filter(self, node: nodes.Filter) -> None:
        arity = self._subset.filters.get(node.name)
        if arity is None:
            raise _NotPortable(node, f"the filter {node.name!r}")
        low, high = arity
        keywords = node.kwargs or node.dyn_args is not None or node.dyn_kwargs is not None
        if keywords or not low <= len(node.args) <= high:
            raise _NotPortable(node, f"the filter {node.name!r} with these arguments")
        if node.node is not None:
            self.expression(node.node)
        for argument in node.args:
            self.expression(argument)

    def _compare(self, node: nodes.Compare) -> None:
        allowed = self._subset.comparisons | self._subset.membership
        if len(node.ops) != 1 or _OPERATORS.get(node.ops[0].op) not in allowed:
            raise _NotPortable(node, "this comparison")
        self.expression(node.expr)
        self.expression(node.ops[0].expr)
