"""Sandboxed, bounded rendering of prompt templates: the one renderer of the service and the SDK.

A prompt is a Jinja2 template plus the model and parameters it is meant for; the service renders
it for editors (the render endpoint, a version's test cases) and applications render it through
the SDK, with this very code, so a template renders the same everywhere.

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
  `kernel.render_budget.Budget` and refused above `MAX_VALUE_CHARS`, and what a render builds
  is summed against `MAX_BUILT_CHARS`. The few operations that can build a much larger value than
  their inputs in one step (`*`, `%`, padding, `replace`, `join`, ...) are bounded before they run.
- *Bounded output.* The output is accumulated chunk by chunk from `Template.generate` and the
  render stops with `OutputTooLarge` as soon as it passes `max_chars`.

`kernel/render_budget.py` explains why these bounds leave no template able to run away.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, Final, cast

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, filters, meta
from jinja2 import nodes as jinja_nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateRuntimeError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range
from jinja2.utils import missing, pass_eval_context

from rollout_sdk.kernel import render_budget
from rollout_sdk.kernel.deadline import DeadlinePassed
from rollout_sdk.kernel.render_errors import (
    MissingVariable,
    OutputTooLarge,
    RenderError,
    RenderFailed,
    RenderLimitExceeded,
    TemplateInvalid,
    TemplateUnsafe,
)

MAX_OUTPUT_CHARS: Final = 100_000
MAX_RENDER_STEPS: Final = 200_000
RENDER_TIME_BUDGET_S: Final = 1.0
TEMPLATE_CACHE_SIZE: Final = 512


# --- the filters that amplify, bounded before they run (see kernel.render_budget) --------------


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


# --- compile, inspect, render ---------------------------------------------------------------------


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
    RenderFailed (all RenderError); nothing else escapes, whatever the template does.
    """
    (text,) = render_all(
        [template],
        variables,
        max_chars=max_chars,
        max_steps=max_steps,
        time_budget_s=time_budget_s,
    )
    return text


def render_all(
    templates: Sequence[str],
    variables: Mapping[str, Any],
    *,
    max_chars: int = MAX_OUTPUT_CHARS,
    max_steps: int = MAX_RENDER_STEPS,
    time_budget_s: float = RENDER_TIME_BUDGET_S,
) -> list[str]:
    """Render each of `templates` with the same `variables`, under one budget for them all.

    The steps, time, built values and `max_chars` of output are counted across the templates, as
    for one render: a chat prompt of many messages may not run longer, or write more, than a
    prompt of one template. Raises what `render` raises.
    """
    compiled = [compile_template(template) for template in templates]
    texts: list[str] = []
    size = 0
    try:
        with render_budget.running(render_budget.Budget(max_steps, time_budget_s)) as budget:
            for template in compiled:
                parts: list[str] = []
                for chunk in template.generate(variables):
                    size += len(chunk)
                    if size > max_chars:
                        raise OutputTooLarge(max_chars)
                    budget.check_time()
                    parts.append(chunk)
                texts.append("".join(parts))
    except render_budget.BudgetExceeded as stop:
        raise RenderLimitExceeded(stop.message) from None
    except DeadlinePassed:
        raise RenderLimitExceeded(f"the template took longer than {time_budget_s:g} s") from None
    except RenderError:
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
    return texts


def _template_line(exc: BaseException) -> int | None:
    """The template line an error was raised at: Jinja rewrites tracebacks to template frames."""
    line = None
    traceback = exc.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line
