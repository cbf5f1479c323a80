"""The prompts-as-code format: loading and validating files, planning, export documents (pure)."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.model import ExperimentCreate
from experiments.prompts.version import content_sha256
from rollout.apply.commands import run_apply
from rollout.apply.export import dump_yaml, experiment_document, prompt_document
from rollout.apply.plan import Action, PromptState, plan_experiment, plan_prompt
from rollout.apply.spec import ExperimentSpec, PromptSpec, SpecError, load_bundle
from rollout.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(root: Path) -> list[str]:
    with pytest.raises(SpecError) as raised:
        load_bundle(root)
    return raised.value.problems


PROMPT = """\
kind: prompt
name: greet
versions:
  - template: "Hello {{ name }}"
    model: m
  - template: "Hi {{ name }}!"
    model: m
    params: {temperature: 0.3}
    message: friendlier
labels:
  production: 1
  staging: latest
"""


def one_prompt(root: Path, text: str = PROMPT) -> PromptSpec:
    write(root, "greet.yaml", text)
    return load_bundle(root).prompts[0]


# --- loading -------------------------------------------------------------------------------------


def test_the_examples_load_and_pass_their_checks() -> None:
    bundle = load_bundle(EXAMPLES)

    assert [p.name for p in bundle.prompts] == ["summarize"]
    summarize = bundle.prompts[0]
    assert (summarize.exact, len(summarize.versions)) == (True, 2)
    assert summarize.labels == {"production": 1, "staging": 2}
    assert summarize.versions[1].template.startswith("{#- Version 2")  # from template_file
    assert [e.body.key for e in bundle.experiments] == ["summary-tone"]


def test_the_versions_form_keeps_every_version_in_order(tmp_path: Path) -> None:
    spec = one_prompt(tmp_path)

    assert spec.exact
    assert [v.template for v in spec.versions] == ["Hello {{ name }}", "Hi {{ name }}!"]
    assert spec.versions[1].params == {"temperature": 0.3}
    assert spec.sha256s()[1] == content_sha256("Hi {{ name }}!", "m", {"temperature": 0.3})
    assert spec.labels == {"production": 1, "staging": "latest"}


def test_the_head_form_gives_the_content_of_the_latest_version(tmp_path: Path) -> None:
    write(tmp_path, "t/greet.txt", "Hello {{ name }}\n")
    spec = one_prompt(
        tmp_path,
        """\
        kind: prompt
        name: greet
        template_file: t/greet.txt
        model: m
        tests:
          - variables: {name: Ada}
            expect: {contains: [Ada]}
        labels: {production: latest}
        """,
    )

    assert not spec.exact
    assert [v.template for v in spec.versions] == ["Hello {{ name }}\n"]
    assert len(spec.versions[0].tests) == 1


def test_several_documents_in_one_file_and_nested_directories_load(tmp_path: Path) -> None:
    write(tmp_path, "a/b/all.yml", PROMPT + "---\n" + PROMPT.replace("greet", "other"))
    write(tmp_path, "notes.txt", "not yaml, ignored")

    bundle = load_bundle(tmp_path)

    assert sorted(p.name for p in bundle.prompts) == ["greet", "other"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: prompt\nname: g\n", "give versions, or template"),
        ("kind: prompt\nname: g\ntemplate: x\nversions: [{template: y}]\n", "not both"),
        ("kind: prompt\nname: g\nversions: []\n", "must not be empty"),
        ("kind: prompt\nname: g\nversions: [{template: a, template_file: b}]\n", "exactly one"),
        ("kind: prompt\nname: G\ntemplate: x\n", "name"),
        ("kind: prompt\nname: g\ntemplate: x\ncolour: red\n", "colour"),
        ("kind: widget\nname: g\n", "kind must be"),
        ("- just\n- a list\n", "must be a mapping"),
        ("kind: prompt\nname: g\ntemplate: '{% if %}'\n", "template (line 1)"),
        ("kind: prompt\nname: g\ntemplate: x\nparams: {temperature: 3}\n", "params"),
        ("kind: prompt\nname: g\ntemplate: x\ntemplate_file: y\n", "exactly one"),
        ("kind: prompt\nname: g\ntemplate_file: missing.j2\n", "template_file"),
        ("kind: prompt\nname: g\ntemplate: x\nlabels: {'7': 1}\n", "labels.7"),
        (
            "kind: prompt\nname: g\nversions: [{template: x}]\nlabels: {production: 2}\n",
            "not among the 1 versions",
        ),
        ("kind: prompt\nname: g\nversions: [{template: x}, {template: x}]\n", "same content"),
        ("kind: prompt\nname: g\ntemplate: 'a: [b\n", "greet.yaml"),
        (
            "kind: experiment\nkey: e\nname: E\ncontrol: a\n"
            "variants: [{key: a, weight: 0.5}, {key: b, weight: 0.4}]\n",
            "sum to 1",
        ),
    ],
)
def test_a_file_that_cannot_be_applied_is_refused_naming_the_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    write(tmp_path, "greet.yaml", text)

    problems = problems_of(tmp_path)

    assert problems
    assert all(p.startswith(str(tmp_path / "greet.yaml")) for p in problems), problems
    assert any(expected in p for p in problems), problems


def test_failing_prompt_tests_are_reported_case_by_case(tmp_path: Path) -> None:
    write(
        tmp_path,
        "greet.yaml",
        """\
        kind: prompt
        name: greet
        versions:
          - template: "Hello {{ name }}"
            tests:
              - variables: {name: Ada}
                expect: {contains: [Ada]}
              - variables: {name: Ada}
                expect: {contains: [Bob], max_chars: 3}
              - variables: {}
        """,
    )

    problems = problems_of(tmp_path)

    assert len(problems) == 2
    assert "versions.0: tests.1: does not contain 'Bob'" in problems[0]
    assert "longer than 3" in problems[0]
    assert "versions.0: tests.2: missing variable 'name'" in problems[1]


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "kind: prompt\nname: a\ntemplate: '{{'\n")
    write(tmp_path, "b.yaml", "kind: nothing\n")
    write(tmp_path, "c.yaml", PROMPT)
    write(tmp_path, "d.yaml", PROMPT)

    problems = problems_of(tmp_path)

    assert len(problems) == 3
    assert "also defined in" in problems[2]


def test_an_experiment_naming_a_version_the_files_lack_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "greet.yaml", PROMPT)
    write(
        tmp_path,
        "exp.yaml",
        """\
        kind: experiment
        key: greet-test
        name: Greeting
        control: a
        variants:
          - {key: a, weight: 0.5, prompt: greet@2}
          - {key: b, weight: 0.5, prompt: greet@3}
        """,
    )

    problems = problems_of(tmp_path)

    assert len(problems) == 1
    assert "variants.1.prompt" in problems[0]
    assert "defines 2 versions of 'greet', not 3" in problems[0]


def test_a_missing_directory_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    assert "no such file" in problems_of(tmp_path / "absent")[0]


# --- planning prompts ----------------------------------------------------------------------------


def state(spec: PromptSpec, count: int, **labels: int) -> PromptState:
    return PromptState(tuple(spec.sha256s()[:count]), labels)


def actions(plan: Any) -> list[tuple[str, str, Action]]:
    return [(s.kind, s.subject, s.action) for s in plan.steps]


def test_an_unknown_prompt_is_planned_whole(tmp_path: Path) -> None:
    spec = one_prompt(tmp_path)

    plan = plan_prompt(spec, None)

    assert actions(plan) == [
        ("version", "greet@1", Action.NEW),
        ("version", "greet@2", Action.NEW),
        ("label", "greet:production", Action.NEW),
        ("label", "greet:staging", Action.NEW),
    ]
    first = plan.steps[0].request
    assert first is not None
    assert (first.method, first.path) == ("POST", "/api/v1/prompts/greet/versions")
    assert first.body == {"template": "Hello {{ name }}", "model": "m", "params": {}, "tests": []}
    assert plan.steps[1].expect_version == 2
    label = plan.steps[3].request
    assert label is not None
    assert (label.method, label.path, label.body) == (
        "PUT",
        "/api/v1/prompts/greet/labels/staging",
        {"version": 2},
    )


def test_a_prompt_the_service_already_holds_is_unchanged(tmp_path: Path) -> None:
    spec = one_prompt(tmp_path)

    plan = plan_prompt(spec, state(spec, 2, production=1, staging=2))

    assert {s.action for s in plan.steps} == {Action.UNCHANGED}
    assert plan.to_apply == []


def test_only_the_missing_versions_and_moved_labels_are_planned(tmp_path: Path) -> None:
    spec = one_prompt(tmp_path)

    plan = plan_prompt(spec, state(spec, 1, production=1, staging=1))

    assert actions(plan) == [
        ("version", "greet@1", Action.UNCHANGED),
        ("version", "greet@2", Action.NEW),
        ("label", "greet:production", Action.UNCHANGED),
        ("label", "greet:staging", Action.CHANGED),
    ]
    assert plan.steps[3].detail == "1 -> 2"


def test_labels_of_other_environments_are_left_alone_with_a_note(tmp_path: Path) -> None:
    """`apply --env staging`: the file's `production` label is production's to move."""
    spec = one_prompt(tmp_path)

    plan = plan_prompt(spec, None, others=frozenset({"production", "development"}))

    assert actions(plan) == [
        ("version", "greet@1", Action.NEW),
        ("version", "greet@2", Action.NEW),
        ("label", "greet:staging", Action.NEW),
    ]
    assert plan.notes == [
        "prompt 'greet': label 'production' is environment production's; left alone"
        " (`rollout apply --env production` moves it)"
    ]


def test_a_version_that_differs_from_the_service_is_a_conflict(tmp_path: Path) -> None:
    spec = one_prompt(tmp_path)
    other = PromptState((spec.sha256s()[0], "f" * 64), {})

    plan = plan_prompt(spec, other)

    assert plan.conflicts[0].subject == "greet@2"
    assert "immutable" in plan.conflicts[0].detail


def test_a_service_ahead_of_the_file_is_noted_and_latest_follows_it(tmp_path: Path) -> None:
    spec = one_prompt(tmp_path)
    ahead = PromptState((*spec.sha256s(), "e" * 64), {"production": 1, "staging": 2})

    plan = plan_prompt(spec, ahead)

    assert "the service has 3 versions" in plan.notes[0]
    staging = plan.steps[-1]
    assert (staging.action, staging.detail) == (Action.CHANGED, "2 -> 3")


def test_the_head_form_adds_a_version_only_when_the_latest_differs(tmp_path: Path) -> None:
    spec = one_prompt(tmp_path, "kind: prompt\nname: greet\ntemplate: 'Yo {{ name }}'\n")
    sha = spec.sha256s()[0]

    same = plan_prompt(spec, PromptState(("a" * 64, sha), {}))
    older = plan_prompt(spec, PromptState((sha, "a" * 64), {}))

    assert actions(same) == [("version", "greet@2", Action.UNCHANGED)]
    assert actions(older) == [("version", "greet@3", Action.NEW)]
    assert older.steps[0].expect_version == 3


def test_a_label_move_waiting_for_review_is_not_proposed_again(tmp_path: Path) -> None:
    spec = one_prompt(tmp_path)
    waiting = PromptState(
        tuple(spec.sha256s()), {"production": 2, "staging": 2}, {"production": (1, 2, "c1")}
    )
    outrun = PromptState(
        tuple(spec.sha256s()), {"production": 2, "staging": 2}, {"production": (1, None, "c0")}
    )

    assert plan_prompt(spec, waiting).steps[2].action is Action.PENDING
    assert "change c1" in plan_prompt(spec, waiting).steps[2].detail
    assert plan_prompt(spec, outrun).steps[2].action is Action.CHANGED


def test_a_label_beyond_the_versions_is_a_conflict(tmp_path: Path) -> None:
    spec = one_prompt(tmp_path, "kind: prompt\nname: greet\ntemplate: x\nlabels: {beta: 5}\n")

    plan = plan_prompt(spec, PromptState(("a" * 64,), {}))

    assert plan.conflicts[0].subject == "greet:beta"


# --- planning experiments ------------------------------------------------------------------------


def example_experiment() -> ExperimentSpec:
    return load_bundle(EXAMPLES).experiments[0]


def service_copy(spec: ExperimentSpec, **state: Any) -> dict[str, Any]:
    """The experiment as the service answers it: the definition plus state fields."""
    document: dict[str, Any] = spec.body.model_dump(mode="json")
    return document | {"status": "draft", "revision": 3, "prompts": {}, "pending": []} | state


def test_an_unknown_experiment_is_created_as_a_draft() -> None:
    step = plan_experiment(example_experiment(), None)

    assert step.action is Action.NEW
    assert step.request is not None
    assert (step.request.method, step.request.path) == ("POST", "/api/v1/experiments")
    assert step.request.body["key"] == "summary-tone"


def test_an_experiment_matching_the_file_is_unchanged() -> None:
    spec = example_experiment()

    assert plan_experiment(spec, service_copy(spec)).action is Action.UNCHANGED


def test_a_draft_gets_a_patch_of_exactly_the_fields_that_differ() -> None:
    spec = example_experiment()
    current = service_copy(spec, description="old words", alpha=0.1)

    step = plan_experiment(spec, current)

    assert step.action is Action.CHANGED
    assert step.request is not None
    assert step.request.method == "PATCH"
    assert step.request.body == {
        "description": spec.body.description,
        "alpha": 0.05,
        "reason": "rollout apply",
    }


def test_the_design_of_a_started_experiment_cannot_change() -> None:
    spec = example_experiment()
    current = service_copy(spec, status="running", metrics=[])

    step = plan_experiment(spec, current)

    assert step.action is Action.CONFLICT
    assert "metrics" in step.detail


def test_shards_that_differ_are_a_conflict_even_in_draft_never_a_patch() -> None:
    spec = example_experiment()  # the file leaves shards at its default, 1
    current = service_copy(spec, shards=16)

    step = plan_experiment(spec, current)

    assert step.action is Action.CONFLICT
    assert step.request is None
    assert "shards is fixed at creation" in step.detail


def test_the_traffic_of_a_started_experiment_is_left_to_release_operations() -> None:
    spec = example_experiment()
    current = service_copy(spec, status="running", traffic=0.02)

    unchanged = plan_experiment(spec, current)
    described = plan_experiment(spec, current | {"description": "x"})

    assert unchanged.action is Action.UNCHANGED
    assert "left to release operations" in unchanged.detail
    assert described.request is not None
    assert set(described.request.body) == {"description", "reason"}


# --- export documents ----------------------------------------------------------------------------


def test_an_exported_prompt_loads_back_to_the_same_versions_and_labels(tmp_path: Path) -> None:
    spec = one_prompt(tmp_path)
    versions = [
        v.model_dump(mode="json") | {"version": n, "sha256": s, "author": "x"}
        for n, (v, s) in enumerate(zip(spec.versions, spec.sha256s(), strict=True), 1)
    ]
    document = prompt_document("greet", versions, {"staging": 2, "production": 1})

    write(tmp_path / "out", "greet.yaml", dump_yaml(document))
    again = load_bundle(tmp_path / "out").prompts[0]

    assert again.sha256s() == spec.sha256s()
    assert again.labels == {"production": 1, "staging": 2}
    assert "author" not in dump_yaml(document)
    assert list(document["versions"][0]) == ["template", "model"]  # empty fields left out


def test_an_exported_experiment_leaves_out_state_and_defaults() -> None:
    spec = example_experiment()

    document = experiment_document(service_copy(spec, status="running", revision=9))

    assert document["kind"] == "experiment"
    assert "status" not in document and "revision" not in document
    assert "alpha" not in document  # the default
    body = {k: v for k, v in document.items() if k != "kind"}
    again = ExperimentSpec("x", ExperimentCreate.model_validate(body))
    assert plan_experiment(again, service_copy(spec)).action is Action.UNCHANGED


def test_multi_line_templates_are_written_as_block_scalars() -> None:
    text = dump_yaml({"template": "Hello {{ name }}\nBye\n"})

    assert text == "template: |\n  Hello {{ name }}\n  Bye\n"


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=200))
def test_any_template_survives_the_yaml_round_trip_exactly(template: str) -> None:
    document = {"kind": "prompt", "name": "p", "versions": [{"template": template}]}

    assert yaml.safe_load(dump_yaml(document)) == document


# --- the check command ---------------------------------------------------------------------------


def test_check_passes_on_the_examples_without_any_service() -> None:
    out = io.StringIO()

    assert run_apply(EXAMPLES, None, check=True, out=out) == 0
    assert out.getvalue() == (
        "check: 1 prompt(s), 2 version(s), 3 test case(s), 1 experiment(s): ok\n"
    )


def test_check_fails_with_each_problem_and_a_count(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "kind: prompt\nname: a\ntemplate: '{{ x }'\n")
    out = io.StringIO()

    assert run_apply(tmp_path, None, check=True, out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[-1] == "check: 1 problem(s)"
    assert lines[0].startswith(f"{tmp_path / 'a.yaml'}: template (line 1)")


def test_the_rollout_command_runs_the_check_offline(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROLLOUT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("ROLLOUT_API_KEY", raising=False)

    assert main(["apply", "-f", str(EXAMPLES), "--check"]) == 0
    assert "ok" in capsys.readouterr().out


def test_apply_without_a_key_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROLLOUT_API_KEY", raising=False)

    assert main(["apply", "-f", str(EXAMPLES)]) == 2
    assert "ROLLOUT_API_KEY" in capsys.readouterr().err
