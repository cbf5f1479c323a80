"""Prompt versions in the service: the content hash, the edge models, names and references, the
diff, a version's test cases, and the errors, rendering refusals included, as `Invalid`."""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any

import pytest
from pydantic import ValidationError

from experiments.errors import Invalid
from experiments.prompts import errors as prompt_errors  # its TestFailure is no test class
from experiments.prompts.diff import unified_diff
from experiments.prompts.errors import (
    InvalidPromptName,
    InvalidPromptRef,
    PromptError,
    PromptTestFailed,
    RenderRefused,
)
from experiments.prompts.prompt_tests import check_version, run_prompt_tests
from experiments.prompts.sandbox import check_template, declared_variables, render
from experiments.prompts.version import (
    MAX_TEMPLATE_BYTES,
    PromptTest,
    PromptVersionCreate,
    RenderRequest,
    check_prompt_name,
    content_sha256,
    parse_prompt_ref,
)
from rollout_sdk.kernel.render_errors import MissingVariable, TemplateInvalid

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
        prompt_errors.TestFailure(
            1, ("does not contain 'Ana'", "contains 'Bo'", "is 8 characters, longer than 5")
        )
    ]


def test_a_case_whose_render_fails_fails_with_the_reason() -> None:
    tests = [case({}), case({"name": "x" * 100})]

    failures = run_prompt_tests("Hello {{ name }}", tests, max_chars=50)

    assert failures == [
        prompt_errors.TestFailure(0, ("missing variable 'name'",)),
        prompt_errors.TestFailure(1, ("rendered output is longer than 50 characters",)),
    ]


def test_prompt_tests_of_a_template_that_does_not_compile_raise_template_invalid() -> None:
    with pytest.raises(RenderRefused) as caught:
        run_prompt_tests("{% if %}", [case({})])
    assert caught.value.code == "template_invalid"
    assert isinstance(caught.value.refusal, TemplateInvalid)


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
        (RenderRefused(TemplateInvalid("bad", 1)), "template_invalid"),
        (RenderRefused(MissingVariable("x")), "missing_variable"),
        (PromptTestFailed([prompt_errors.TestFailure(0, ("why",))]), "prompt_test_failed"),
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


def test_the_service_answers_a_refused_render_with_the_kernels_code_and_details() -> None:
    with pytest.raises(RenderRefused) as caught:
        render("Hello {{ name }}", {})
    assert (caught.value.code, caught.value.details) == (
        "missing_variable",
        [{"field": "variables.name", "message": "missing variable 'name'", "line": 1}],
    )
    with pytest.raises(RenderRefused) as invalid:
        check_template("{% if %}")
    assert invalid.value.code == "template_invalid"
    with pytest.raises(RenderRefused):
        declared_variables("{% for %}")
    assert render("Hi {{ name }}", {"name": "Ana"}) == "Hi Ana"
