"""The kernel's renderer: variables, compilation, a sandbox bounded in time, in the size of what
it builds and in the size of what it writes, and its errors."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

import pytest

from rollout_sdk.kernel.render import compile_template, declared_variables, render
from rollout_sdk.kernel.render_errors import (
    MissingVariable,
    OutputTooLarge,
    RenderError,
    RenderFailed,
    RenderLimitExceeded,
    TemplateInvalid,
    TemplateUnsafe,
)

QUICKLY_S = 2.0
E = TypeVar("E", bound=Exception)


def raises_quickly(error: type[E], action: Callable[[], object]) -> E:
    """Assert that `action` raises `error` within QUICKLY_S seconds."""
    started = time.monotonic()
    with pytest.raises(error) as caught:
        action()
    assert time.monotonic() - started < QUICKLY_S
    return caught.value


# --- variables and compilation --------------------------------------------------------------------


def test_declared_variables_are_the_names_read_from_the_caller_sorted() -> None:
    template = (
        "{% set greeting = 'Hi' %}{{ greeting }} {{ user.name }}"
        "{% for doc in docs %}{{ loop.index }} {{ doc }} {{ range(3)|list }}{% endfor %}"
        "{% macro line(text) %}{{ text }} {{ suffix }}{% endmacro %}{{ tone|default('calm') }}"
    )

    assert declared_variables(template) == ["docs", "suffix", "tone", "user"]


def test_a_template_that_does_not_compile_raises_template_invalid_with_its_line() -> None:
    with pytest.raises(TemplateInvalid) as caught:
        compile_template("Hello\n{{ name }}\n{% for x in %}{% endfor %}")

    assert caught.value.line == 3
    assert caught.value.code == "template_invalid"
    assert caught.value.details == [
        {"field": "template", "message": caught.value.details[0]["message"], "line": 3}
    ]


def test_an_unknown_filter_is_a_compile_error_with_its_line() -> None:
    with pytest.raises(TemplateInvalid, match="nope") as caught:
        compile_template("a\n\n{{ x|nope }}")

    assert caught.value.line == 3


def test_declared_variables_of_a_template_that_does_not_compile_raise_template_invalid() -> None:
    with pytest.raises(TemplateInvalid):
        declared_variables("{{ unclosed")


def test_compiled_templates_are_cached_by_content() -> None:
    source = "cached {{ name }}"
    same_content = "".join(["cached ", "{{ name }}"])

    assert compile_template(source) is compile_template(same_content)


def test_a_compiled_template_cannot_be_rendered_around_the_budget() -> None:
    with pytest.raises(RuntimeError, match="rendered with"):
        compile_template("{{ name }}").render(name="x")


# --- rendering ------------------------------------------------------------------------------------


def test_render_substitutes_variables_without_html_escaping() -> None:
    assert render(
        "Say {{ what }} to {{ who.name }}", {"what": "<b>&</b>", "who": {"name": "Ana"}}
    ) == ("Say <b>&</b> to Ana")


def test_render_keeps_the_template_exactly_including_its_trailing_newline() -> None:
    assert render("line one\n  line two\n", {}) == "line one\n  line two\n"


def test_a_missing_variable_is_named_with_its_line() -> None:
    with pytest.raises(MissingVariable) as caught:
        render("Hello\n{{ name }}", {})

    assert caught.value.name == "name"
    assert caught.value.code == "missing_variable"
    assert caught.value.details == [
        {"field": "variables.name", "message": "missing variable 'name'", "line": 2}
    ]


def test_a_missing_attribute_names_the_attribute_and_what_lacks_it() -> None:
    with pytest.raises(MissingVariable) as caught:
        render("{{ user.city }}", {"user": {"name": "Ana"}})

    assert caught.value.name == "city"
    assert caught.value.details[0]["field"] == "variables"
    assert "'dict object' has no attribute 'city'" in caught.value.message


def test_optional_variables_may_be_tested_with_is_defined_and_default() -> None:
    template = (
        "{% if note is defined %}{{ note }}{% else %}none{% endif %}|{{ tone|default('calm') }}"
    )

    assert render(template, {}) == "none|calm"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ ().__class__.__base__.__subclasses__() }}",
        "{{ dict.mro() }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ joiner.__init__.__globals__ }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ self.__init__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ range.__globals__ }}",
        "{{ '{0.__class__}'.format('') }}",
        "{{ x.__class__.__mro__[1].__subclasses__() }}",
        "{% set items = [] %}{{ items.append(1) }}",
    ],
)
def test_reaching_for_python_internals_or_mutation_is_refused(template: str) -> None:
    with pytest.raises(TemplateUnsafe) as caught:
        render(template, {"x": "text"})

    assert caught.value.code == "template_unsafe"


@pytest.mark.parametrize(
    ("template", "name"),
    [
        ("{{ config.items() }}", "config"),
        ("{{ request.application.__globals__ }}", "request"),
        ("{{ lipsum.__globals__['os'].popen('id').read() }}", "lipsum"),
        ("{{ __builtins__ }}", "__builtins__"),
    ],
)
def test_flask_objects_lipsum_and_builtins_are_not_there_to_reach(template: str, name: str) -> None:
    with pytest.raises(MissingVariable) as caught:
        render(template, {})

    assert caught.value.name == name


def test_other_errors_of_the_template_are_render_failed_with_their_line() -> None:
    with pytest.raises(RenderFailed) as caught:
        render("a\nb {{ 1 / 0 }}", {})

    assert caught.value.code == "render_failed"
    assert "ZeroDivisionError" in caught.value.message
    assert caught.value.line == 2


def test_unbounded_recursion_is_render_failed() -> None:
    raises_quickly(
        RenderFailed, lambda: render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", {})
    )


# --- the bounds -----------------------------------------------------------------------------------


def test_output_of_exactly_max_chars_is_allowed_and_one_more_is_not() -> None:
    template = "{% for i in range(n) %}x{% endfor %}"

    assert render(template, {"n": 50}, max_chars=50) == "x" * 50
    with pytest.raises(OutputTooLarge) as caught:
        render(template, {"n": 51}, max_chars=50)
    assert caught.value.code == "output_too_large"
    assert caught.value.max_chars == 50


def test_huge_output_is_stopped_while_rendering() -> None:
    # Would write 10**10 characters if it were allowed to finish.
    template = "{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}"

    raises_quickly(OutputTooLarge, lambda: render(template, {}))


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(10**9) %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}",
        "{% for a in xs %}{% for b in xs %}{% for c in xs %}{% endfor %}{% endfor %}{% endfor %}",
    ],
)
def test_huge_loops_are_stopped_quickly(template: str) -> None:
    error = raises_quickly(RenderLimitExceeded, lambda: render(template, {"xs": list(range(5000))}))

    assert error.code == "render_limit_exceeded"


def test_the_step_budget_stops_a_loop_that_writes_nothing() -> None:
    template = "{% for i in range(1000) %}{% endfor %}"

    assert render(template, {}, max_steps=1002) == ""
    with pytest.raises(RenderLimitExceeded, match="more than 1000 steps"):
        render(template, {}, max_steps=1000)


def test_the_wall_clock_budget_stops_a_slow_template() -> None:
    exponential = (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    )

    started = time.monotonic()
    with pytest.raises(RenderLimitExceeded, match=r"longer than 0\.2 s"):
        render(exponential, {}, max_steps=10**9, time_budget_s=0.2)
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 10**9 }}",
        "{{ [0] * 10**9 }}",
        "{{ 2 ** 100000000 }}",
        "{{ 'x'.ljust(10**9) }}",
        "{{ '0'.zfill(10**9) }}",
        "{{ ('\t' * 1000).expandtabs(10**6) }}",
        "{{ 'x'|center(10**9) }}",
        "{{ ('a\n' * 100000)|indent(100) }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '%*d' % (10**9, 1) }}",
        "{{ '%0999999999d'|format(1) }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ '{:>{w}}'.format(1, w=10**9) }}",
        "{% set s = 'x' * 999990 %}{{ '%s%s' % (s, s) }}",
        "{% set s = 'x' * 999990 %}{{ '{0}{0}'.format(s) }}",
        "{% set s = 'x' * 100000 %}{{ s.replace('', s) }}",
        "{% set s = 'x' * 100000 %}{{ s|replace('', s) }}",
        "{% set s = 'x' * 100000 %}{{ ([s] * 1000)|join }}",
        "{% set s = 'x' * 100000 %}{{ ''.join([s] * 1000) }}",
        "{{ ('a' * 1000).translate({97: 'x' * 10000}) }}",
        "{{ [1]|batch(10**9, 0)|list }}",
        "{{ [1]|slice(10**9)|list }}",
        "{{ ['x' * 999999] * 999999 }}",
        "{% set n = namespace(v='x') %}{% for i in range(60) %}{% set n.v = n.v ~ n.v %}"
        "{% endfor %}",
        "{% set n = namespace(v='x') %}{% for i in range(60) %}{% set n.v = n.v + n.v %}"
        "{% endfor %}",
        "{% macro twice(s) %}{{ s }}{{ s }}{% endmacro %}{% set n = namespace(v='x') %}"
        "{% for i in range(60) %}{% set n.v = twice(n.v) %}{% endfor %}",
        "{{ ['x']|map('center', 10**9)|list }}",
    ],
)
def test_values_too_large_are_refused_before_they_are_built(template: str) -> None:
    raises_quickly(RenderLimitExceeded, lambda: render(template, {}))


def test_guarded_filters_are_not_run_on_constants_at_compile_time() -> None:
    # Jinja's optimizer folds filters of constants while compiling, where no budget applies: a
    # template of many `'x'|center(999999)` would build a megabyte per expression before rendering.
    template = "{{ 'x'|center(999999) }}" * 100

    tracemalloc.start()
    try:
        compile_template(template)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 20_000_000
    raises_quickly(OutputTooLarge, lambda: render(template, {}))


def test_the_guarded_operations_work_as_usual_within_bounds() -> None:
    template = (
        "{{ 'a\tb'.expandtabs(4) }}|{{ 'ab'.replace('a', 'xy') }}|{{ '-'.join(xs|map('upper')) }}"
        "|{{ 'ab'|center(6) }}|{{ 'a\nb'|indent(2, true) }}|{{ [1, 2, 3]|batch(2)|list }}"
        "|{{ [1, 2, 3]|slice(2)|list }}|{{ '%5.2f' % 3.14159 }}|{{ '%s|%s'|format(1, 2) }}"
        "|{{ '{a}-{b}'.format_map({'a': 1, 'b': 2}) }}|{{ 'x' ~ 1 }}|{{ [1] + [2] }}|{{ 2 ** 10 }}"
        "|{{ 'ab' * 2 }}|{{ users|join(', ', attribute='name') }}"
    )
    variables = {"xs": ["a", "b"], "users": [{"name": "Ana"}, {"name": "Bo"}]}

    assert render(template, variables) == (
        "a   b|xyb|A-B|  ab  |  a\n  b|[[1, 2], [3]]|[[1, 2], [3]]| 3.14|1|2|1-2|x1|[1, 2]|1024"
        "|abab|Ana, Bo"
    )

# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (TemplateInvalid("bad", 1), "template_invalid"),
        (MissingVariable("x"), "missing_variable"),
        (TemplateUnsafe("no"), "template_unsafe"),
        (RenderLimitExceeded("too much"), "render_limit_exceeded"),
        (OutputTooLarge(10), "output_too_large"),
        (RenderFailed("boom"), "render_failed"),
    ],
)
def test_every_render_error_is_a_value_error_with_a_code_and_details(
    error: RenderError, code: str
) -> None:
    assert isinstance(error, ValueError)
    assert error.code == code
    assert error.details
    assert all({"field", "message"} <= detail.keys() for detail in error.details)
