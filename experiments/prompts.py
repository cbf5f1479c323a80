"""Prompt versions: their content hash, their validation, and their sandboxed rendering.

A prompt is a Jinja2 template plus the model and parameters it is meant for. Versions are
immutable and identified by `content_sha256`; the service renders them for editors (the render
endpoint, the version's own test cases) and hands them to applications through assignment.

Templates are written by editors, but a leaked key or a careless loop must not take a worker down,
so rendering is sandboxed and bounded:

- *No Python internals.* Jinja's `ImmutableSandboxedEnvironment` refuses attributes that start
  with an underscore or reach into functions, frames and classes (`__class__`, `__globals__`,
  `mro`, ...) and methods that mutate lists, dicts and sets; every refusal is `TemplateUnsafe`.
  `lipsum` is left out of the globals: prompts have no use for filler text and its size is
  unbounded.
- *Bounded work.* Every block the template enters (a loop iteration, a macro call, a branch taken)
  is a step; a render stops with `RenderLimitExceeded` after `MAX_RENDER_STEPS` steps or
  `RENDER_TIME_BUDGET_S` seconds, whichever comes first. The step hook is compiled into every
  block, so a loop that writes nothing at all is stopped as surely as one that writes a lot; the
  deadline is also checked at every call and output chunk, and interrupts library code.
  `range` keeps the sandbox's `MAX_RANGE`.
- *Bounded values, by construction.* Every filter and test is wrapped, every call, `~` and
  intercepted operator goes through the environment, and every list, tuple and dict literal is
  compiled with a hook: each value passed, built or printed is measured by the render's
  `experiments.render_budget.Budget` and refused above `MAX_VALUE_CHARS`, and what a render builds
  is summed against `MAX_BUILT_CHARS`. The few operations that can build a much larger value than
  their inputs in one step (`*`, `%`, padding, `replace`, `join`, ...) are bounded before they run.
- *Bounded output.* The output is accumulated chunk by chunk from `Template.generate` and the
  render stops with `OutputTooLarge` as soon as it passes `max_chars`.

`experiments/render_budget.py` explains why these bounds leave no template able to run away.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Final, cast

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, filters, meta
from jinja2 import nodes as jinja_nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateRuntimeError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range
from jinja2.utils import missing, pass_eval_context
from pydantic import AfterValidator, Field, field_validator

from experiments import render_budget
from experiments.deadline import DeadlinePassed
from experiments.errors import Invalid
from experiments.model import KEY_RE, Strict

MAX_TEMPLATE_BYTES: Final = 64 * 1024
MAX_PARAMS_BYTES: Final = 16 * 1024
MAX_TESTS: Final = 50
MAX_OUTPUT_CHARS: Final = 100_000
MAX_RENDER_STEPS: Final = 200_000
RENDER_TIME_BUDGET_S: Final = 1.0
TEMPLATE_CACHE_SIZE: Final = 512

_VERSION_RE = re.compile(r"[1-9][0-9]*")
_PARAM_RANGES: Final[Mapping[str, tuple[float, float]]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
}


# --- errors ---------------------------------------------------------------------------------------


class PromptError(Invalid, ValueError):
    """A prompt that cannot be accepted or rendered: the caller's input is at fault (HTTP 422).

    It is an `Invalid` so rollout/errors.py maps it with the rest of the domain, and a `ValueError`
    so a pydantic validator that calls into this module turns it into a field error.
    """

    code = "invalid_prompt"


def _template_detail(message: str, line: int | None) -> list[dict[str, Any]]:
    detail: dict[str, Any] = {"field": "template", "message": message}
    if line is not None:
        detail["line"] = line
    return [detail]


class TemplateInvalid(PromptError):
    """The template does not compile; `line` is where Jinja stopped (1-based)."""

    code = "template_invalid"

    def __init__(self, message: str, line: int | None) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"template {where}{message}", _template_detail(message, line))
        self.line = line


class MissingVariable(PromptError):
    """A variable the template uses was not given, or has no attribute or item it asks for.

    `name` is the variable for a top-level miss (detail field `variables.<name>`) and the attribute
    or key otherwise (detail field `variables`, with Jinja's message saying what lacks it).
    """

    code = "missing_variable"

    def __init__(
        self,
        name: str,
        *,
        top_level: bool = True,
        line: int | None = None,
        message: str | None = None,
    ) -> None:
        message = message or f"missing variable {name!r}"
        detail: dict[str, Any] = {
            "field": f"variables.{name}" if top_level else "variables",
            "message": message,
        }
        if line is not None:
            detail["line"] = line
        super().__init__(message, [detail])
        self.name = name
        self.top_level = top_level
        self.line = line


class TemplateUnsafe(PromptError):
    """The template reached for something the sandbox refuses (Python internals, mutation)."""

    code = "template_unsafe"

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message, _template_detail(message, line))
        self.line = line


class RenderLimitExceeded(PromptError):
    """The render would take too many steps, too long, or build too large a value."""

    code = "render_limit_exceeded"

    def __init__(self, message: str) -> None:
        super().__init__(message, _template_detail(message, None))


class OutputTooLarge(RenderLimitExceeded):
    """The rendered text passed `max_chars`; detected while rendering, not after."""

    code = "output_too_large"

    def __init__(self, max_chars: int) -> None:
        super().__init__(f"rendered output is longer than {max_chars} characters")
        self.max_chars = max_chars


class RenderFailed(PromptError):
    """Any other error the template raised while rendering (a division by zero, a bad type)."""

    code = "render_failed"

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message, _template_detail(message, line))
        self.line = line


@dataclass(frozen=True)
class TestFailure:
    """One failing test case of a version: its index in `tests` and every reason it failed."""

    index: int
    reasons: tuple[str, ...]


class PromptTestFailed(PromptError):
    """Some of a new version's test cases fail; one detail per failing case."""

    code = "prompt_test_failed"

    def __init__(self, failures: Sequence[TestFailure]) -> None:
        details: list[dict[str, Any]] = [
            {"field": f"tests.{failure.index}", "message": "; ".join(failure.reasons)}
            for failure in failures
        ]
        super().__init__(f"{len(failures)} prompt test(s) failed", details)
        self.failures = list(failures)


class InvalidPromptName(PromptError):
    code = "invalid_prompt_name"

    def __init__(self, name: str) -> None:
        message = f"prompt name {name!r} must match {KEY_RE.pattern}"
        super().__init__(message, [{"field": "prompt", "message": message}])


class InvalidPromptRef(PromptError):
    code = "invalid_prompt_ref"

    def __init__(self, ref: str, why: str) -> None:
        message = f"prompt reference {ref!r} {why}"
        super().__init__(message, [{"field": "prompt", "message": message}])


# --- models at the HTTP edge ----------------------------------------------------------------------


def _canonical_json(value: Any) -> bytes:
    """The canonical form hashed by `content_sha256` (see there)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _encodable(text: str) -> str:
    # JSON may carry lone surrogates; they cannot be hashed or stored as UTF-8, so refuse them here
    # rather than fail later with a 500.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return text


_Text = Annotated[str, AfterValidator(_encodable)]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class PromptExpectation(Strict):
    """What a test case's rendered text must satisfy."""

    contains: list[Annotated[_Text, Field(max_length=10_000)]] = Field(
        default_factory=list, max_length=50
    )
    not_contains: list[Annotated[_Text, Field(min_length=1, max_length=10_000)]] = Field(
        default_factory=list, max_length=50
    )
    max_chars: int | None = Field(default=None, gt=0)


class PromptTest(Strict):
    """One test case: render with `variables`, then check `expect`."""

    variables: dict[str, Any] = Field(default_factory=dict)
    expect: PromptExpectation = Field(default_factory=PromptExpectation)


class PromptVersionCreate(Strict):
    """The body of POST /api/v1/prompts/{prompt}/versions."""

    # max_length (characters) is implied by the byte bound below; it is kept because it is cheap,
    # runs first, and documents the bound in the OpenAPI document.
    template: _Text = Field(min_length=1, max_length=MAX_TEMPLATE_BYTES)
    model: _Text | None = Field(default=None, min_length=1, max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)
    message: _Text | None = Field(default=None, max_length=2000)
    tests: list[PromptTest] = Field(default_factory=list, max_length=MAX_TESTS)

    @field_validator("template")
    @classmethod
    def _template_size(cls, template: str) -> str:
        if len(template.encode("utf-8")) > MAX_TEMPLATE_BYTES:
            raise ValueError(f"template must be at most {MAX_TEMPLATE_BYTES} bytes of UTF-8")
        return template

    @field_validator("params")
    @classmethod
    def _params(cls, params: dict[str, Any]) -> dict[str, Any]:
        for key, (low, high) in _PARAM_RANGES.items():
            if key in params and not (_is_number(params[key]) and low <= params[key] <= high):
                raise ValueError(f"{key} must be a number from {low:g} to {high:g}")
        max_tokens = params.get("max_tokens")
        if "max_tokens" in params and not (
            isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0
        ):
            raise ValueError("max_tokens must be an integer greater than 0")
        try:
            size = len(_canonical_json(params))
        except (TypeError, ValueError):
            raise ValueError("params must be JSON (finite numbers, valid Unicode)") from None
        if size > MAX_PARAMS_BYTES:
            raise ValueError(f"params must be at most {MAX_PARAMS_BYTES} bytes as JSON")
        return params


class RenderRequest(Strict):
    """The body of POST /api/v1/prompts/{prompt}/versions/{n}/render."""

    variables: dict[str, Any] = Field(default_factory=dict)


# --- names and references -------------------------------------------------------------------------


def check_prompt_name(name: str) -> str:
    """Return `name` if it is a valid prompt name (experiments.model.KEY_PATTERN), else raise."""
    if not KEY_RE.fullmatch(name):
        raise InvalidPromptName(name)
    return name


def parse_prompt_ref(ref: str) -> tuple[str, str]:
    """Split `name@version` or `name@label` into (name, selector).

    A selector of digits is a version number (1, 2, ...); anything else matching KEY_PATTERN is a
    label. Digits with a leading zero are refused: `a@07` would otherwise be ambiguous.
    """
    name, at, selector = ref.partition("@")
    if not at:
        raise InvalidPromptRef(ref, "must be name@version or name@label")
    if not KEY_RE.fullmatch(name):
        raise InvalidPromptRef(ref, f"has a name that does not match {KEY_RE.pattern}")
    if not KEY_RE.fullmatch(selector):
        raise InvalidPromptRef(ref, f"has a version or label that does not match {KEY_RE.pattern}")
    if selector.isdigit() and not _VERSION_RE.fullmatch(selector):
        raise InvalidPromptRef(ref, "has a version that is not a number from 1 without leading 0")
    return name, selector


# --- content --------------------------------------------------------------------------------------


def content_sha256(template: str, model: str | None, params: Mapping[str, Any]) -> str:
    """The hex sha256 identifying a version's content: same content, same hash.

    The hashed bytes are the UTF-8 encoding of the canonical JSON of
    `{"model": model, "params": params, "template": template}`: keys sorted at every level, no
    whitespace (separators `,` and `:`), non-ASCII characters written as themselves
    (`ensure_ascii=False`), and no NaN or infinity. So the key order of `params` never changes the
    hash; strings are hashed exactly as given (no Unicode normalisation, no trimming), and `1` and
    `1.0` are different numbers. The commit message and the test cases are not content.
    """
    document = {"model": model, "params": dict(params), "template": template}
    return hashlib.sha256(_canonical_json(document)).hexdigest()


def unified_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """A unified diff from version `a` to version `b` (dicts with name, version, template, model,
    params), empty when their content is the same.

    Two sections, each a standard unified diff with headers `name@version/...`: the template, so its
    hunk line numbers are the template's own, then the model and params as sorted, indented JSON.
    """

    def label(version: Mapping[str, Any], section: str) -> str:
        return f"{version['name']}@{version['version']}/{section}"

    def settings(version: Mapping[str, Any]) -> str:
        document = {"model": version.get("model"), "params": version.get("params") or {}}
        return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    sections = [
        ("template", a["template"], b["template"]),
        ("settings", settings(a), settings(b)),
    ]
    return "".join(
        line
        for section, before, after in sections
        for line in difflib.unified_diff(
            _diff_lines(before), _diff_lines(after), label(a, section), label(b, section)
        )
    )


def _diff_lines(text: str) -> list[str]:
    # Only "\n" breaks lines (str.splitlines would also break on \r, \v, \u2028, ... and blur the
    # diff), and a last line without one is marked as diff(1) does, so that change is visible too.
    lines = [line + "\n" for line in text.split("\n")]
    last = lines.pop()
    if last != "\n":
        lines.append(last + "\\ No newline at end of file\n")
    return lines


# --- the filters that amplify, bounded before they run (see experiments.render_budget) -----------


def _center(value: str, width: int = 80) -> str:
    render_budget.ensure_size(width, "center")
    return filters.do_center(value, width)


def _indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    pad = width if isinstance(width, int) else len(width)
    render_budget.ensure_size(len(text) + (text.count("\n") + 1) * pad, "indented text")
    return filters.do_indent(text, width, first, blank)


def _format(value: str, *args: Any, **kwargs: Any) -> str:
    render_budget.ensure_printf(str(value), kwargs or args)
    return filters.do_format(value, *args, **kwargs)


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    # With `attribute`, whole items are measured: an over-estimate, which errs on the safe side.
    items = list(value)
    render_budget.ensure_join(str(d), items)
    return filters.sync_do_join(eval_ctx, items, d, attribute)


@pass_eval_context
def _replace(eval_ctx: EvalContext, s: str, old: str, new: str, count: int | None = None) -> str:
    render_budget.ensure_replace(str(s), old, new, count)
    return filters.do_replace(eval_ctx, s, old, new, count)


def _batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Iterable[list[Any]]:
    render_budget.ensure_count(linecount, "batch size")
    return filters.do_batch(value, linecount, fill_with)


def _slice(value: Iterable[Any], slices: int, fill_with: Any = None) -> Iterable[list[Any]]:
    render_budget.ensure_count(slices, "slice count")
    return filters.sync_do_slice(list(value), slices, fill_with)


def _range(*args: int) -> range:
    try:
        return safe_range(*args)
    except OverflowError as exc:
        raise render_budget.BudgetExceeded(str(exc)) from None


def _admitted_result(budget: render_budget.Budget, result: Any, what: str) -> Any:
    """`result`, admitted as built; an iterator (`map`, `select`, `batch`, ...) is handed on with
    each item admitted as it comes, since its items exist only once it is consumed."""
    budget.admit_built(result, what)
    if isinstance(result, Iterator):
        return _admitted_items(budget, result, what)
    return result


def _admitted_items(budget: render_budget.Budget, items: Iterator[Any], what: str) -> Iterator[Any]:
    for item in items:
        budget.admit_built(item, f"an item of {what}")
        yield item


def _metered(kind: str, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` (a filter or a test), with its input and its result measured on every call.

    `functools.wraps` carries Jinja's `pass_context`-style marker over, so Jinja passes the
    wrapper what it passed the function.
    """
    what = f"the {name!r} {kind}"
    # The context, eval context or environment Jinja passes first is not the template's value.
    skip = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(function)
    def metered(*args: Any, **kwargs: Any) -> Any:
        budget = render_budget.current()
        budget.check_time()
        values = args[skip:]
        budget.admit_arguments(values, kwargs, what)
        result = function(*args, **kwargs)
        for value in values:
            if result is value:  # handed back, not built (`default`, `first`, `list` of a list)
                return result
        return _admitted_result(budget, result, f"the result of {what}")

    return metered


# --- the environment ------------------------------------------------------------------------------


class _UndefinedName(UndefinedError):
    """Jinja's UndefinedError, keeping the name that was missing so MissingVariable can say it."""

    def __init__(self, message: str | None = None, *, name: str, top_level: bool) -> None:
        super().__init__(message)
        self.name = name
        self.top_level = top_level


class _NamingUndefined(StrictUndefined):
    """StrictUndefined whose error carries the missing name.

    Jinja raises `exc(message)` with the message alone, so the name is bound into `exc` here.
    Undefined values made for other reasons (the sandbox's refusals carry SecurityError, some
    filters give a hint) keep their own exception.
    """

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[TemplateRuntimeError] = UndefinedError,
    ) -> None:
        if exc is UndefinedError and hint is None and name is not None:
            exc = cast(
                "type[TemplateRuntimeError]",
                partial(_UndefinedName, name=str(name), top_level=obj is missing),
            )
        super().__init__(hint, obj, name, exc)


class _BudgetedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with the budget compiled in: a step at the top of every block, and
    every `~` and every list, tuple and dict the template builds measured."""

    def blockvisit(self, nodes: Iterable[jinja_nodes.Node], frame: Frame) -> None:
        self.writeline("environment.render_step()")
        super().blockvisit(nodes, frame)

    def visit_Concat(self, node: jinja_nodes.Concat, frame: Frame) -> None:
        self.write("environment.join_text((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")

    def visit_List(self, node: jinja_nodes.List, frame: Frame) -> None:
        self.write("environment.built(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Dict(self, node: jinja_nodes.Dict, frame: Frame) -> None:
        self.write("environment.built(")
        super().visit_Dict(node, frame)
        self.write(")")

    def visit_Tuple(self, node: jinja_nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # the target of an assignment or a loop builds nothing
            super().visit_Tuple(node, frame)
            return
        self.write("environment.built(")
        super().visit_Tuple(node, frame)
        self.write(")")


def _checked_output(value: Any) -> Any:
    """The environment's `finalize`: every `{{ ... }}` is measured before it is printed."""
    render_budget.current().admit(value, "a printed value")
    return value


class _PromptEnvironment(ImmutableSandboxedEnvironment):
    """The one environment every prompt compiles and renders in (see the module docstring)."""

    code_generator_class = _BudgetedCodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(
            undefined=_NamingUndefined,
            autoescape=False,
            finalize=_checked_output,
            keep_trailing_newline=True,  # a prompt is rendered exactly as written, to its last byte
        )
        del self.globals["lipsum"]
        self.globals["range"] = _range
        self.filters.update(
            center=_center,
            indent=_indent,
            format=_format,
            join=_join,
            replace=_replace,
            batch=_batch,
            slice=_slice,
        )
        # Every filter and test, whatever its name, is metered: the bound does not depend on
        # knowing which of them are dangerous.
        self.filters = {name: _metered("filter", name, f) for name, f in self.filters.items()}
        tests = cast("Mapping[str, Callable[..., Any]]", self.tests)
        self.tests = {name: _metered("test", name, f) for name, f in tests.items()}

    @staticmethod
    def render_step() -> None:
        render_budget.current().step()

    @staticmethod
    def built(value: Any) -> Any:
        """A list, tuple or dict literal, just built."""
        render_budget.current().admit_built(value, "a list, tuple or dict")
        return value

    @staticmethod
    def join_text(values: Iterable[Any]) -> str:
        """The `~` operator."""
        budget = render_budget.current()
        parts: list[str] = []
        size = 0
        for value in values:
            size += budget.size(value)
            render_budget.ensure_size(size, "concatenated text")
            parts.append(str(value))
        text = "".join(parts)
        budget.admit_built(text, "concatenated text")
        return text

    @staticmethod
    def concat(parts: Iterable[str]) -> str:
        """Join a block's buffer (a macro, a `set` block, a `filter` block)."""
        buffer = list(parts)
        render_budget.ensure_size(sum(map(len, buffer)), "a block's text")
        text = "".join(buffer)
        render_budget.current().admit_built(text, "a block's text")
        return text

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = render_budget.current()
        budget.check_time()
        render_budget.ensure_binop(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        budget.admit_built(result, f"the result of {operator!r}")
        return result

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = render_budget.current()
        budget.check_time()
        # The sandbox hands out str.format wrapped (functools.update_wrapper): look through it.
        bound = getattr(obj, "__wrapped__", obj)
        name = getattr(bound, "__qualname__", None) or type(bound).__name__
        arguments = {key: value for key, value in kwargs.items() if key not in _FRAME_KWARGS}
        budget.admit_arguments(args, arguments, repr(name))
        target = getattr(bound, "__self__", None)
        if target is not None:
            method = getattr(bound, "__name__", "")
            args = render_budget.ensure_method(target, method, args, arguments)
        result = super().call(context, obj, *args, **kwargs)
        return _admitted_result(budget, result, f"the result of {name!r}")


_FRAME_KWARGS: Final = frozenset({"_loop_vars", "_block_vars", "caller"})
"""Keyword arguments Jinja adds to calls in loops, blocks and call blocks: the template's own
variables and macros, each measured where it was made."""


_ENVIRONMENT = _PromptEnvironment()


class _TemplateCache:
    """A thread-safe LRU of compiled templates keyed by the sha256 of their source.

    Keying by the digest keeps the keys small whatever the templates' size; compiling is the
    expensive part of a render (milliseconds), a hit costs a hash and a dict lookup.
    """

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._templates: OrderedDict[bytes, Template] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> Template | None:
        with self._lock:
            template = self._templates.get(key)
            if template is not None:
                self._templates.move_to_end(key)
            return template

    def put(self, key: bytes, template: Template) -> None:
        with self._lock:
            self._templates[key] = template
            self._templates.move_to_end(key)
            if len(self._templates) > self._maxsize:
                self._templates.popitem(last=False)


_CACHE = _TemplateCache(TEMPLATE_CACHE_SIZE)


# --- compile, inspect, render, test ---------------------------------------------------------------


def compile_template(template: str) -> Template:
    """Compile `template` (cached by its sha256), or raise TemplateInvalid with the line.

    The result is for `render` in this module, which gives it its budget; rendering it any other way
    raises RuntimeError at the first block.
    """
    key = hashlib.sha256(template.encode("utf-8", "surrogatepass")).digest()
    compiled = _CACHE.get(key)
    if compiled is None:
        with _syntax_errors():
            compiled = _ENVIRONMENT.from_string(template)
        _CACHE.put(key, compiled)
    return compiled


@contextmanager
def _syntax_errors() -> Iterator[None]:
    """Turn Jinja's compile-time errors into TemplateInvalid, with the line where it stopped."""
    try:
        yield
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(exc.message or "syntax error", exc.lineno) from None
    except RecursionError:
        raise TemplateInvalid("the template is nested too deeply", None) from None


def declared_variables(template: str) -> list[str]:
    """The variables `template` reads from the caller, sorted, as Jinja's meta API finds them.

    Names the template assigns itself (`set`, loop variables, macro arguments) are not variables,
    nor are the environment's globals (`range`, `dict`, `namespace`, ...). Variables read only on a
    branch the render may not take (`{% if x is defined %}`) are included: they are all the
    template may ask for.
    """
    with _syntax_errors():
        names = meta.find_undeclared_variables(_ENVIRONMENT.parse(template))
    return sorted(names - _ENVIRONMENT.globals.keys())


def render(
    template: str,
    variables: Mapping[str, Any],
    *,
    max_chars: int = MAX_OUTPUT_CHARS,
    max_steps: int = MAX_RENDER_STEPS,
    time_budget_s: float = RENDER_TIME_BUDGET_S,
) -> str:
    """Render `template` with `variables` in the sandbox, within the bounds of the module docstring.

    Raises TemplateInvalid, MissingVariable, TemplateUnsafe, OutputTooLarge, RenderLimitExceeded or
    RenderFailed (all PromptError); nothing else escapes, whatever the template does.
    """
    compiled = compile_template(template)
    parts: list[str] = []
    size = 0
    try:
        with render_budget.running(render_budget.Budget(max_steps, time_budget_s)) as budget:
            for chunk in compiled.generate(variables):
                size += len(chunk)
                if size > max_chars:
                    raise OutputTooLarge(max_chars)
                budget.check_time()
                parts.append(chunk)
    except render_budget.BudgetExceeded as stop:
        raise RenderLimitExceeded(stop.message) from None
    except DeadlinePassed:
        raise RenderLimitExceeded(f"the template took longer than {time_budget_s:g} s") from None
    except PromptError:
        raise
    except _UndefinedName as exc:
        raise MissingVariable(
            exc.name,
            top_level=exc.top_level,
            line=_template_line(exc),
            message=None if exc.top_level else exc.message,
        ) from None
    except SecurityError as exc:
        raise TemplateUnsafe(str(exc), _template_line(exc)) from None
    except Exception as exc:  # the template is the caller's code: whatever it raises is their error
        raise RenderFailed(f"{type(exc).__name__}: {exc}", _template_line(exc)) from None
    return "".join(parts)


def _template_line(exc: BaseException) -> int | None:
    """The template line an error was raised at: Jinja rewrites tracebacks to template frames."""
    line = None
    traceback = exc.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def run_prompt_tests(
    template: str, tests: Sequence[PromptTest], max_chars: int = MAX_OUTPUT_CHARS
) -> list[TestFailure]:
    """Render each test case and check its expectations; one TestFailure per failing case.

    A template that does not compile raises TemplateInvalid (no case could pass); a case whose
    render fails (a missing variable, an unsafe template, a limit) fails with that reason.
    """
    compile_template(template)
    failures = []
    for index, test in enumerate(tests):
        try:
            text = render(template, test.variables, max_chars=max_chars)
        except PromptError as exc:
            failures.append(TestFailure(index, (exc.message,)))
            continue
        expect = test.expect
        reasons = [
            f"does not contain {needle!r}" for needle in expect.contains if needle not in text
        ]
        reasons += [f"contains {needle!r}" for needle in expect.not_contains if needle in text]
        if expect.max_chars is not None and len(text) > expect.max_chars:
            reasons.append(f"is {len(text)} characters, longer than {expect.max_chars}")
        if reasons:
            failures.append(TestFailure(index, tuple(reasons)))
    return failures


def check_version(version: PromptVersionCreate, max_chars: int = MAX_OUTPUT_CHARS) -> None:
    """Everything a new version must pass beyond its fields: it compiles and its tests pass."""
    failures = run_prompt_tests(version.template, version.tests, max_chars)
    if failures:
        raise PromptTestFailed(failures)
