"""Prompts: the content hash, the edge models, and rendering in a sandbox that is bounded in time,
in the size of what it builds and in the size of what it writes."""

from __future__ import annotations

import hashlib
import time
import tracemalloc
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from pydantic import ValidationError

from experiments import prompts
from experiments.errors import Invalid
from experiments.prompts import (
    MAX_TEMPLATE_BYTES,
    InvalidPromptName,
    InvalidPromptRef,
    MissingVariable,
    OutputTooLarge,
    PromptError,
    PromptTest,
    PromptTestFailed,
    PromptVersionCreate,
    RenderFailed,
    RenderLimitExceeded,
    RenderRequest,
    TemplateInvalid,
    TemplateUnsafe,
    check_prompt_name,
    check_version,
    compile_template,
    content_sha256,
    declared_variables,
    parse_prompt_ref,
    render,
    run_prompt_tests,
    unified_diff,
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


# --- the content hash -----------------------------------------------------------------------------


def test_the_content_hash_is_sha256_of_the_documented_canonical_json() -> None:
    canonical = '{"model":"gpt-4o","params":{"temperature":0.2},"template":"Grüß {{ name }}"}'

    digest = content_sha256("Grüß {{ name }}", "gpt-4o", {"temperature": 0.2})

    assert digest == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_the_content_hash_ignores_the_key_order_of_params_at_every_level() -> None:
    one = {"temperature": 0.2, "top_p": 0.9, "extra": {"a": 1, "b": [1, 2]}}
    other = {"extra": {"b": [1, 2], "a": 1}, "top_p": 0.9, "temperature": 0.2}

    assert content_sha256("t", "m", one) == content_sha256("t", "m", other)


@pytest.mark.parametrize(
    "changed",
    [
        ("t ", "m", {"temperature": 0.2}),
        ("t", "m2", {"temperature": 0.2}),
        ("t", None, {"temperature": 0.2}),
        ("t", "m", {"temperature": 0.3}),
        ("t", "m", {"temperature": 0.2, "seed": 1}),
    ],
)
def test_the_content_hash_changes_with_any_part_of_the_content(
    changed: tuple[str, str | None, dict[str, Any]],
) -> None:
    assert content_sha256(*changed) != content_sha256("t", "m", {"temperature": 0.2})


def test_the_content_hash_does_not_normalise_unicode() -> None:
    composed = unicodedata.normalize("NFC", "café")
    decomposed = unicodedata.normalize("NFD", "café")

    assert content_sha256(composed, None, {}) != content_sha256(decomposed, None, {})


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


# --- prompt tests ---------------------------------------------------------------------------------


def case(variables: dict[str, Any], **expect: Any) -> PromptTest:
    return PromptTest(variables=variables, expect=expect)


def test_prompt_tests_that_pass_report_nothing() -> None:
    tests = [case({"name": "Ana"}, contains=["Ana"], not_contains=["Bo"], max_chars=20)]

    assert run_prompt_tests("Hello {{ name }}", tests) == []


def test_each_failing_case_is_reported_with_its_index_and_every_reason() -> None:
    tests = [
        case({"name": "Ana"}, contains=["Ana"]),
        case({"name": "Bo"}, contains=["Ana", "Hello"], not_contains=["Bo"], max_chars=5),
    ]

    failures = run_prompt_tests("Hello {{ name }}", tests)

    assert failures == [
        prompts.TestFailure(
            1, ("does not contain 'Ana'", "contains 'Bo'", "is 8 characters, longer than 5")
        )
    ]


def test_a_case_whose_render_fails_fails_with_the_reason() -> None:
    tests = [case({}), case({"name": "x" * 100})]

    failures = run_prompt_tests("Hello {{ name }}", tests, max_chars=50)

    assert failures == [
        prompts.TestFailure(0, ("missing variable 'name'",)),
        prompts.TestFailure(1, ("rendered output is longer than 50 characters",)),
    ]


def test_prompt_tests_of_a_template_that_does_not_compile_raise_template_invalid() -> None:
    with pytest.raises(TemplateInvalid):
        run_prompt_tests("{% if %}", [case({})])


def test_check_version_raises_prompt_test_failed_with_one_detail_per_failing_case() -> None:
    version = PromptVersionCreate(
        template="Hello {{ name }}",
        tests=[case({"name": "Ana"}), case({}), case({"name": "Bo"}, contains=["Ana"])],
    )

    with pytest.raises(PromptTestFailed) as caught:
        check_version(version)

    assert caught.value.code == "prompt_test_failed"
    assert caught.value.details == [
        {"field": "tests.1", "message": "missing variable 'name'"},
        {"field": "tests.2", "message": "does not contain 'Ana'"},
    ]


def test_check_version_accepts_a_version_whose_tests_pass() -> None:
    check_version(
        PromptVersionCreate(template="Hi {{ n }}", tests=[case({"n": 1}, contains=["1"])])
    )


# --- diff -----------------------------------------------------------------------------------------


def version(
    number: int, template: str, model: str | None = "gpt-4o", **params: Any
) -> dict[str, Any]:
    return {
        "name": "summarize",
        "version": number,
        "template": template,
        "model": model,
        "params": params,
    }


def test_the_diff_shows_template_changes_under_versioned_headers() -> None:
    diff = unified_diff(version(1, "Hello\n{{ name }}\n"), version(2, "Hi\n{{ name }}\n"))

    assert diff == (
        "--- summarize@1/template\n"
        "+++ summarize@2/template\n"
        "@@ -1,2 +1,2 @@\n"
        "-Hello\n"
        "+Hi\n"
        " {{ name }}\n"
    )


def test_the_diff_shows_model_and_params_as_sorted_json() -> None:
    diff = unified_diff(
        version(1, "t\n", top_p=0.9, temperature=0.2),
        version(2, "t\n", "gpt-4o-mini", temperature=0.7, top_p=0.9),
    )

    assert diff == (
        "--- summarize@1/settings\n"
        "+++ summarize@2/settings\n"
        "@@ -1,7 +1,7 @@\n"
        " {\n"
        '-  "model": "gpt-4o",\n'
        '+  "model": "gpt-4o-mini",\n'
        '   "params": {\n'
        '-    "temperature": 0.2,\n'
        '+    "temperature": 0.7,\n'
        '     "top_p": 0.9\n'
        "   }\n"
        " }\n"
    )


def test_the_diff_of_identical_content_is_empty() -> None:
    assert (
        unified_diff(version(1, "same\n", temperature=0.1), version(2, "same\n", temperature=0.1))
        == ""
    )


def test_the_diff_marks_a_missing_final_newline() -> None:
    diff = unified_diff(version(1, "end\n"), version(2, "end"))

    assert diff.endswith("-end\n+end\n\\ No newline at end of file\n")


# --- the edge models ------------------------------------------------------------------------------


def test_a_version_needs_only_a_template() -> None:
    body = PromptVersionCreate.model_validate({"template": "Hi"})

    assert (body.model, body.params, body.message, body.tests) == (None, {}, None, [])


def test_params_within_bounds_are_accepted_and_other_keys_pass_through() -> None:
    params = {"temperature": 2, "top_p": 0.0, "max_tokens": 1, "stop": ["\n"], "seed": 7}

    assert PromptVersionCreate(template="t", params=params).params == params


@pytest.mark.parametrize(
    "params",
    [
        {"temperature": -0.01},
        {"temperature": 2.01},
        {"temperature": "1"},
        {"temperature": True},
        {"temperature": float("nan")},
        {"top_p": -0.01},
        {"top_p": 1.01},
        {"max_tokens": 0},
        {"max_tokens": 1.5},
        {"max_tokens": True},
        {"max_tokens": "10"},
        {"stop": float("inf")},
        {"blob": "x" * (16 * 1024)},
    ],
)
def test_params_out_of_bounds_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        PromptVersionCreate(template="t", params=params)

    assert caught.value.errors()[0]["loc"] == ("params",)


def test_the_template_is_bounded_in_utf8_bytes() -> None:
    PromptVersionCreate(template="x" * MAX_TEMPLATE_BYTES)
    with pytest.raises(ValidationError, match="bytes"):
        PromptVersionCreate(template="é" * (MAX_TEMPLATE_BYTES // 2 + 1))


@pytest.mark.parametrize(
    "body",
    [
        {"template": ""},
        {"template": "t", "model": ""},
        {"template": "t", "model": "m" * 201},
        {"template": "t", "message": "m" * 2001},
        {"template": "t", "tests": [{}] * 51},
        {"template": "t", "tests": [{"expect": {"max_chars": 0}}]},
        {"template": "t", "tests": [{"expect": {"not_contains": [""]}}]},
        {"template": "t\ud800"},
        {"template": "t", "params": {"stop": "\udfff"}},
    ],
)
def test_fields_out_of_bounds_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PromptVersionCreate.model_validate(body)


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (PromptVersionCreate, {"template": "t", "labels": ["prod"]}),
        (PromptTest, {"variables": {}, "expected": {}}),
        (PromptTest, {"expect": {"contains": [], "startswith": "x"}}),
        (RenderRequest, {"variables": {}, "vars": {}}),
    ],
)
def test_unknown_fields_are_refused(model: type[Any], body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate(body)


# --- names and references -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("summarize@3", ("summarize", "3")),
        ("summarize@12", ("summarize", "12")),
        ("summarize@prod", ("summarize", "prod")),
        ("sum-v2_x@canary-1", ("sum-v2_x", "canary-1")),
    ],
)
def test_a_ref_is_a_name_and_a_version_or_label(ref: str, parsed: tuple[str, str]) -> None:
    assert parse_prompt_ref(ref) == parsed


@pytest.mark.parametrize(
    "ref",
    ["summarize", "@3", "summarize@", "Summarize@3", "a@b@c", "a@0", "a@007", "a@ 1", "a@Prod"],
)
def test_a_malformed_ref_is_refused(ref: str) -> None:
    with pytest.raises(InvalidPromptRef) as caught:
        parse_prompt_ref(ref)

    assert caught.value.details[0]["field"] == "prompt"


def test_prompt_names_follow_the_key_pattern() -> None:
    assert check_prompt_name("summarize-v2") == "summarize-v2"
    with pytest.raises(InvalidPromptName):
        check_prompt_name("Summarize v2")


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
        (PromptTestFailed([prompts.TestFailure(0, ("why",))]), "prompt_test_failed"),
        (InvalidPromptRef("x", "is bad"), "invalid_prompt_ref"),
        (InvalidPromptName("X"), "invalid_prompt_name"),
    ],
)
def test_every_prompt_error_is_an_invalid_value_error_with_a_code_and_details(
    error: PromptError, code: str
) -> None:
    assert isinstance(error, Invalid)
    assert isinstance(error, ValueError)
    assert error.code == code
    assert error.details
    assert all({"field", "message"} <= detail.keys() for detail in error.details)
