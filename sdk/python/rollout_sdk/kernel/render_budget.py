"""The budget of one template render: steps, time and the size of every value, all bounded.

`kernel.render` renders editors' Jinja templates in the service and in every SDK, and one
template must never be able to hang or exhaust the process that renders it. Checking a few known
dangerous filters is not enough (`ns.l|string` on a list doubled forty times never returns), so the
bounds here hold by construction, whatever a template calls:

- **Every value is metered.** Each argument and each result of every call the template makes (a
  filter, a test, a global, a method, a macro), every list, tuple and dict it builds and every
  operand of `+ * ** %` and `~` passes through `Budget.admit`, which measures the value and refuses
  one above `MAX_VALUE_CHARS`. A value's size is about the length of its printed form, with
  shared references counted each time they are printed; sizes are remembered per object, so
  measuring a structure costs its distinct objects once, and a list doubled forty times measures
  as 2**40 in forty steps. So no call ever receives, and no template ever holds, a value larger
  than the bound, and every C-level operation (printing, comparing, hashing, encoding) works on
  bounded input.
- **Everything built is counted.** The sizes of the new values a render builds are summed and the
  render stops past `MAX_BUILT_CHARS`, so memory stays bounded even when every value is kept (a
  list of a million large strings is refused long before it exists).
- **Time is checked everywhere.** The deadline is checked at every call, block, loop iteration and
  output chunk, and `kernel.deadline` interrupts the Python code of any library function the
  template reaches (`textwrap` behind `wordwrap`, `pprint`, ...) when it passes.
- **Amplifiers are checked before they run.** A few operations can build a value much larger than
  their inputs in one C call (`'x' * n`, `str.center(n)`, `%0999999d`, `str.replace('', s)`,
  `join`); `ensure_*` below bounds their result from their arguments before calling them, and a
  method of a built-in type never takes an integer argument above `MAX_VALUE_CHARS`.

A stop is raised as `BudgetExceeded`, a `BaseException`: code a template reaches cannot swallow it
with `except Exception` (or `except ValueError`, as Jinja's `int` filter does), and
`kernel.render.render` turns it into the caller's `RenderLimitExceeded`.
"""

from __future__ import annotations

import itertools
import re
import string
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final, cast

from jinja2.utils import Namespace

from rollout_sdk.kernel.deadline import armed

MAX_VALUE_CHARS: Final = 1_000_000
"""The largest value (about its printed length) a template may pass, build or receive."""
MAX_BUILT_CHARS: Final = 20_000_000
"""The sum of the sizes of all the values one render may build."""
MAX_COUNT: Final = 100_000
"""The largest batch or slice count a filter may ask for; the sandbox's MAX_RANGE, for ranges."""
MAX_INT_BITS: Final = 65_536
MAX_FORMAT_FIELDS: Final = 10_000
"""The most `%` or `{` a format string may hold: parsing more costs more than a render may spend."""

_NODES_PER_CHECK: Final = 4096
_PRINTF_SPEC: Final = re.compile(
    r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])"
)
_BUILTIN_TYPES: Final = (str, bytes, int, float, list, tuple, dict, set, frozenset)
_CONTAINERS: Final = (list, tuple, set, frozenset, dict, Namespace)
_EXACT_CONTAINERS: Final = frozenset(_CONTAINERS)


class BudgetExceeded(BaseException):
    """The render went past one of its bounds; `message` says which."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Budget:
    """What one render has left: steps, time and characters built; found through `current()`."""

    __slots__ = (
        "_built",
        "_measured",
        "deadline",
        "max_steps",
        "steps_left",
        "time_budget_s",
    )

    def __init__(self, max_steps: int, time_budget_s: float) -> None:
        self.steps_left = max_steps
        self.max_steps = max_steps
        self.time_budget_s = time_budget_s
        self.deadline = time.monotonic() + time_budget_s
        self._built = 0
        # id -> (the object, kept alive so its id is not reused, and its size). Only objects that
        # cannot change during a render are remembered: the sandbox refuses every method that
        # mutates a list, dict or set, and a namespace (which can change) is measured afresh.
        self._measured: dict[int, tuple[object, int]] = {}

    def step(self) -> None:
        """One block entered: counted against `max_steps`, and the deadline checked."""
        self.steps_left -= 1
        if self.steps_left < 0:
            raise BudgetExceeded(f"the template took more than {self.max_steps} steps")
        self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(f"the template took longer than {self.time_budget_s:g} s")

    def admit(self, value: object, what: str) -> None:
        """Refuse `value` if it is larger than MAX_VALUE_CHARS."""
        if self.size(value) > MAX_VALUE_CHARS:
            raise BudgetExceeded(f"{what} is larger than {MAX_VALUE_CHARS} characters")

    def admit_built(self, value: object, what: str) -> None:
        """`admit` a value the template just built, and count it against MAX_BUILT_CHARS."""
        size = self.size(value)
        if size > MAX_VALUE_CHARS:
            raise BudgetExceeded(f"{what} is larger than {MAX_VALUE_CHARS} characters")
        self._built += size
        if self._built > MAX_BUILT_CHARS:
            raise BudgetExceeded(f"the template built more than {MAX_BUILT_CHARS} characters")

    def admit_arguments(
        self, args: Sequence[object], kwargs: Mapping[str, object], what: str
    ) -> None:
        """Refuse a call whose arguments, together, are larger than MAX_VALUE_CHARS."""
        total = 0
        for value in (*args, *kwargs.values()):
            total += self.size(value)
            if total > MAX_VALUE_CHARS:
                raise BudgetExceeded(
                    f"the input of {what} is larger than {MAX_VALUE_CHARS} characters"
                )

    def size(self, value: object) -> int:
        """About len(str(value)), without building it: the sum of the sizes of its parts, shared
        parts counted each time they occur, plus 2 for brackets and 2 a part for separators.

        Exact for strings; containers are estimated to a small factor (escapes are not counted).
        Each container not seen before is measured once, iteratively (no depth limit), with the
        deadline checked as it goes; a cycle counts as the `[...]` Python prints for it. Past
        MAX_VALUE_CHARS the walk stops and the figure is only a lower bound, which is all that a
        refusal needs.
        """
        simple = _simple_size(value)
        if simple is not None:
            return simple
        known = self._measured.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        return self._measure(value)

    def _measure(self, root: object) -> int:
        # Depth first with an explicit stack (so no recursion limit), one frame per container
        # being summed. A container's total starts at its brackets and separators, so one with
        # too many parts is past the limit before any is read; a total past the limit ends its
        # container, and so every container around it, at once: no exact figure is needed there.
        # `fresh` holds the sizes of containers that cannot be remembered (they hold a namespace,
        # or sit on a cycle) for the rest of this walk.
        fresh: dict[int, int] = {}
        stack = [_Frame(root)]
        open_ids = {id(root)}
        visited = 0
        while True:
            frame = stack[-1]
            child = next(frame.parts, _END) if frame.total <= MAX_VALUE_CHARS else _END
            if child is not _END:
                size = _simple_size(child)
                if size is None:
                    key = id(child)
                    known = self._measured.get(key)
                    if known is not None and known[0] is child:
                        size = known[1]
                    elif key in fresh:
                        size, frame.stable = fresh[key], False
                    elif key in open_ids:  # a cycle, printed as [...]
                        size, frame.stable = 5, False
                    else:
                        visited += 1
                        if visited % _NODES_PER_CHECK == 0:
                            self.check_time()
                        stack.append(_Frame(child))
                        open_ids.add(key)
                        continue
                frame.total += size
                continue
            stack.pop()
            key = id(frame.node)
            open_ids.discard(key)
            if frame.stable:
                self._measured[key] = (frame.node, frame.total)
            else:
                fresh[key] = frame.total
            if not stack:
                return frame.total
            stack[-1].total += frame.total
            stack[-1].stable = stack[-1].stable and frame.stable


_END: Final = object()


class _Frame:
    """A container being measured: its parts still to read, and its total so far."""

    __slots__ = ("node", "parts", "stable", "total")

    def __init__(self, node: object) -> None:
        self.node = node
        self.stable = not isinstance(node, Namespace)
        if isinstance(node, Namespace):
            node = object.__getattribute__(node, "_Namespace__attrs")
        if isinstance(node, dict):
            self.parts: Iterator[object] = itertools.chain.from_iterable(node.items())
            count = 2 * len(node)
        else:
            items = cast("Collection[object]", node)
            self.parts = iter(items)
            count = len(items)
        self.total = 2 + 2 * count  # brackets, and a separator (or quotes) a part


def _simple_size(value: object) -> int | None:
    """The size of a value that holds no other values; None for a container."""
    kind = type(value)
    if kind is str:  # the exact types first: this runs for every value of every call
        return len(cast(str, value))
    if kind in _EXACT_CONTAINERS:
        return None
    if kind is int:
        return cast(int, value).bit_length() * 1233 // 4096 + 2
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() * 1233 // 4096 + 2  # decimal digits, and a sign
    if isinstance(value, range):
        return len(value)  # what it costs to turn into a list
    if isinstance(value, _CONTAINERS) or _is_view(value):
        return None
    return 24  # a float, or an object printed by a fixed repr (a macro, a loop, a cycler, ...)


def _is_view(value: object) -> bool:
    return type(value).__name__ in ("dict_keys", "dict_values", "dict_items")


_CURRENT: ContextVar[Budget] = ContextVar("prompt_render_budget")


def current() -> Budget:
    """The budget of the render under way in this context.

    Raises RuntimeError when there is none: that is what keeps Jinja's optimizer from running
    filters on constants at compile time, where nothing would bound them, and what stops a
    compiled template from being rendered around its budget.
    """
    budget = _CURRENT.get(None)
    if budget is None:
        raise RuntimeError("prompt templates are rendered with rollout_sdk.kernel.render.render")
    return budget


@contextmanager
def running(budget: Budget) -> Iterator[Budget]:
    """Make `budget` the current one for one render, its deadline armed in this thread.

    The deadline's `DeadlinePassed` may surface anywhere inside the `with` block that uses this,
    its exit included, so the caller catches it around the whole block, not inside.
    """
    token = _CURRENT.set(budget)
    try:
        with armed(budget.deadline):
            yield budget
    finally:
        _CURRENT.reset(token)


# --- amplifiers, bounded from their arguments before they run ------------------------------------


def ensure_size(size: int, what: str) -> None:
    if size > MAX_VALUE_CHARS:
        raise BudgetExceeded(f"{what} would be larger than {MAX_VALUE_CHARS} characters")


def ensure_count(count: object, what: str) -> None:
    if isinstance(count, int) and count > MAX_COUNT:
        raise BudgetExceeded(f"{what} may be at most {MAX_COUNT}")


def _ensure_fields(count: int) -> None:
    if count > MAX_FORMAT_FIELDS:
        raise BudgetExceeded(f"a format string may have at most {MAX_FORMAT_FIELDS} fields")


def _ensure_substitution(
    template: str, fields: int, widths: Iterable[int], values: Iterable[object], what: str
) -> None:
    """Bound a formatting operation: its fields could each print the largest value, padded."""
    budget = current()
    largest = max((budget.size(value) for value in values), default=0)
    ensure_size(len(template) + fields * largest + sum(widths), what)


def ensure_printf(template: str, values: object) -> None:
    """Bound `template % values` (the `%` operator and the `format` filter)."""
    if isinstance(values, Mapping):
        arguments: Iterable[object] = values.values()
    elif isinstance(values, tuple):
        arguments = values
    else:
        arguments = (values,)
    _ensure_fields(template.count("%"))
    fields = 0
    widths: list[int] = []
    for width, precision, conversion in _PRINTF_SPEC.findall(template):
        if conversion == "%":
            continue
        if "*" in (width, precision):
            raise BudgetExceeded("printf-style * widths are not supported")
        fields += 1
        widths.extend(int(number) for number in (width, precision) if number)
    if any(width > MAX_VALUE_CHARS for width in widths):
        raise BudgetExceeded(f"a printf-style width may be at most {MAX_VALUE_CHARS}")
    _ensure_substitution(template, fields, widths, arguments, "formatted text")


def ensure_str_format(template: str, args: Sequence[object], kwargs: Mapping[str, Any]) -> None:
    """Bound `template.format(...)` and `template.format_map(...)`."""
    _ensure_fields(template.count("{"))
    fields = 0
    widths: list[int] = []
    for _literal, field, spec, _conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if spec and "{" in spec:
            raise BudgetExceeded("nested format fields are not supported")
        fields += 1
        widths.extend(int(number) for number in re.findall(r"\d+", spec or ""))
    if any(width > MAX_VALUE_CHARS for width in widths):
        raise BudgetExceeded(f"a format width may be at most {MAX_VALUE_CHARS}")
    values = [*args, *kwargs.values()]
    for value in list(values):
        if isinstance(value, Mapping):  # format_map's one argument
            values.extend(value.values())
    _ensure_substitution(template, fields, widths, values, "formatted text")


def ensure_method(
    target: object, method: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[Any, ...]:
    """Bound a method call on a value of a built-in type before it runs; return the arguments to
    call it with (an iterable given to `str.join` is materialised once, measured, then joined).

    Any integer argument (a width, a length, a count: `center`, `zfill`, `to_bytes`, ...) is at
    most MAX_VALUE_CHARS; the string methods whose result multiply their inputs are bounded too.
    """
    if not isinstance(target, _BUILTIN_TYPES):
        return args
    if isinstance(target, str) and method in ("format", "format_map"):
        ensure_str_format(target, args, kwargs)
        return args
    for argument in (*args, *kwargs.values()):
        if isinstance(argument, int) and abs(argument) > MAX_VALUE_CHARS:
            raise BudgetExceeded(
                f"an integer argument of {type(target).__name__}.{method} may be at most"
                f" {MAX_VALUE_CHARS}"
            )
    if not isinstance(target, str):
        return args
    if method == "expandtabs":
        tabsize = args[0] if args and isinstance(args[0], int) else 8
        ensure_size(len(target) + target.count("\t") * tabsize, "str.expandtabs")
    elif method == "replace" and len(args) >= 2:
        ensure_replace(target, args[0], args[1], args[2] if len(args) > 2 else None)
    elif method == "join" and args:
        items = list(args[0])
        ensure_join(target, items)
        return (items, *args[1:])
    elif method == "translate" and args and isinstance(args[0], Mapping):
        budget = current()
        longest = max((budget.size(value) for value in args[0].values()), default=1)
        ensure_size(len(target) * max(longest, 1), "str.translate")
    return args


def ensure_replace(text: str, old: object, new: object, count: object) -> None:
    if not (isinstance(old, str) and isinstance(new, str)) or len(new) <= len(old):
        return
    found = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    ensure_size(len(text) + found * (len(new) - len(old)), "replace")


def ensure_join(separator: str, items: Sequence[object]) -> None:
    budget = current()
    size = len(separator) * max(len(items) - 1, 0)
    for item in items:
        size += budget.size(item)
        ensure_size(size, "joined text")


def ensure_binop(operator: str, left: object, right: object) -> None:
    sized = (str, list, tuple)
    if operator == "**":
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and max(left.bit_length(), 1) * right > MAX_INT_BITS
        ):
            raise BudgetExceeded(f"a power may have at most {MAX_INT_BITS} bits")
    elif operator == "*":
        if isinstance(left, sized) and isinstance(right, int):
            ensure_size(current().size(left) * right, "a repeated value")
        elif isinstance(right, sized) and isinstance(left, int):
            ensure_size(current().size(right) * left, "a repeated value")
    elif operator == "+":
        if isinstance(left, sized) and isinstance(right, sized):
            budget = current()
            ensure_size(budget.size(left) + budget.size(right), "a concatenated value")
    elif operator == "%" and isinstance(left, str):
        ensure_printf(left, right)
