"""The SDK's local configuration: the document read by the kernel, answers built ahead."""

from __future__ import annotations

from typing import Any

import pytest

from rollout_sdk.kernel.document import DocumentInvalid
from rollout_sdk.local_config import compile_document

GOOD: dict[str, Any] = {
    "key": "good", "seed": "good", "status": "running", "control": "a", "traffic": 1.0,
    "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
}
PROMPT = {"name": "greet", "version": 2, "template": "Hi {{ name }}", "model": None, "params": {}}


def test_an_unusable_experiment_does_not_take_the_others_away() -> None:
    bad = GOOD | {"key": "bad", "variants": [{"key": "a", "weight": 2}]}
    uncompilable = GOOD | {"key": "regex", "targeting": {"id": {"regex": "(?=x)"}}}
    config = compile_document(
        {"version": 4, "experiments": [bad, uncompilable, "junk", GOOD], "prompts": {}}, '"e"'
    )
    assert list(config.experiments) == ["good"]
    assert (config.version, config.etag) == (4, '"e"')


def test_a_document_without_its_frame_is_refused_whole() -> None:
    with pytest.raises(DocumentInvalid):
        compile_document({"version": 1, "experiments": None}, None)


def test_every_answer_an_experiment_can_give_is_built_once() -> None:
    entry = GOOD | {"variants": [
        {"key": "a", "weight": 0.5, "config": {"tone": "plain"}},
        {"key": "b", "weight": 0.5, "prompt": PROMPT},
    ]}
    local = compile_document({"version": 1, "experiments": [entry], "prompts": {}}, None)
    experiment = local.experiments["good"]
    compiled = experiment.compiled
    answers = {a.variant: a for a in experiment.answers.values() if a.in_experiment}
    assert answers["a"].config == {"tone": "plain"} and answers["a"].prompt is None
    assert answers["b"].prompt is not None and answers["b"].prompt.render(name="Ada") == "Hi Ada"
    assert set(experiment.answers) == {id(a) for a in (*compiled.assigned, compiled.by_targeting,
                                                       compiled.by_layer, compiled.by_traffic)}
    assert local.prompts[("greet", 2)] == answers["b"].prompt


def test_labelled_versions_of_the_document_are_prompts_without_a_round_trip() -> None:
    document = {"version": 1, "experiments": [], "prompts": {
        "greet": {"labels": {"production": 2}, "versions": {"2": {
            "template": "Hi", "model": "m", "params": {"temperature": 0}}}},
    }}
    config = compile_document(document, None)
    assert config.labels == {"greet": {"production": 2}}
    prompt = config.prompts[("greet", 2)]
    assert (prompt.name, prompt.version, prompt.template, prompt.model) == ("greet", 2, "Hi", "m")
    assert prompt.params == {"temperature": 0}
