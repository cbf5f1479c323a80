"""The SDK document: what the service builds is what the kernel's reader reads, and no more."""

from __future__ import annotations

import json
from typing import Any

import pytest

from experiments.model import Experiment
from experiments.sdk_document import assignment_spec, etag_of, experiment_entry, sdk_document
from rollout_sdk.kernel.assignment import spec_of
from rollout_sdk.kernel.document import DocumentInvalid, read_document, read_experiment

SUMMARIZE_4 = {
    "name": "summarize", "version": 4, "template": "Hi {{ name }}", "messages": None, "model": "m",
    "params": {}, "portable": True,
}


def stored(key: str = "tone", **fields: Any) -> Experiment:
    definition: dict[str, Any] = {
        "key": key,
        "name": key,
        "variants": [
            {"key": "control", "weight": 0.5, "config": {"tone": "plain"}},
            {"key": "friendly", "weight": 0.5},
        ],
        "control": "control",
        "status": "running",
        "targeting": {"country": {"in": ["DE"]}},
        "layer": "summaries",
        "layer_range": (0.0, 0.5),
        "prompts": {"friendly": {"name": "summarize", "version": 4}},
    }
    return Experiment.model_validate(definition | fields)


def built() -> dict[str, Any]:
    document = sdk_document(
        7,
        "production",
        [stored("zeta"), stored("alpha"), stored("draft-one", status="draft")],
        {("summarize", 4): SUMMARIZE_4},
        {"summarize": {"production": 4, "staging": 9}},
    )
    decoded: dict[str, Any] = json.loads(json.dumps(document))  # what an SDK receives
    return decoded


def test_the_document_carries_served_experiments_sorted_and_leaves_drafts_out() -> None:
    assert [e["key"] for e in built()["experiments"]] == ["alpha", "zeta"]


def test_a_variant_carries_its_pinned_prompts_content() -> None:
    variants = built()["experiments"][0]["variants"]
    assert [v["prompt"] for v in variants] == [None, SUMMARIZE_4]
    assert variants[0]["config"] == {"tone": "plain"}


def test_labelled_versions_carry_the_content_the_service_holds() -> None:
    assert built()["prompts"] == {
        "summarize": {"labels": {"production": 4, "staging": 9}, "versions": {"4": SUMMARIZE_4}}
    }


def test_what_the_service_builds_the_kernel_reads_back_unchanged() -> None:
    document = built()
    read = read_document(document)
    assert read["version"] == 7
    assert read["prompts"] == document["prompts"]
    for raw in document["experiments"]:
        entry = read_experiment(raw)
        assert entry == raw
        assert spec_of(entry) == assignment_spec(stored(raw["key"]))


def test_an_empty_seed_is_the_key() -> None:
    assert read_experiment(experiment_entry(stored()) | {"seed": ""})["seed"] == "tone"


def test_the_etag_follows_the_content_and_not_the_version_counter() -> None:
    first = sdk_document(1, "production", [stored()], {}, {})
    assert etag_of(first) == etag_of(sdk_document(2, "production", [stored()], {}, {}))
    assert etag_of(first) != etag_of(sdk_document(1, "production", [stored(traffic=0.5)], {}, {}))


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"status": "archived"}, "'status' must be one of"),
        ({"control": "nobody"}, "control 'nobody' is not one of its variants"),
        ({"winner": "nobody"}, "winner 'nobody' is not one of its variants"),
        ({"traffic": 1.5}, "'traffic' must be a number from 0 to 1"),
        ({"traffic": True}, "'traffic' must be a number from 0 to 1"),
        ({"variants": []}, "'variants' must be a non-empty list"),
        ({"variants": [{"key": "control", "weight": "half"}]}, "'weight' must be a number"),
        ({"layer_range": [0.5, 0.2]}, "'layer_range' must satisfy 0 <= lo <= hi <= 1"),
        ({"targeting": ["country"]}, "'targeting' must be an object or null"),
        ({"key": ""}, "'key' must be a non-empty string"),
    ],
)
def test_the_reader_refuses_an_entry_assignment_cannot_trust(
    change: dict[str, Any], complaint: str
) -> None:
    entry = dict(experiment_entry(stored())) | change
    with pytest.raises(DocumentInvalid, match=complaint):
        read_experiment(entry)


def test_the_reader_refuses_a_document_without_its_frame() -> None:
    with pytest.raises(DocumentInvalid, match="'experiments' must be a list"):
        read_document({"version": 1, "experiments": {}, "prompts": {}})
    with pytest.raises(DocumentInvalid, match="must be a JSON object"):
        read_document([])


def test_a_prompt_version_reads_with_its_portable_flag_or_none_from_an_older_service() -> None:
    marked = {"summarize": {"labels": {}, "versions": {"4": {"template": "x", "portable": False}}}}
    older = {"summarize": {"labels": {}, "versions": {"4": {"template": "x"}}}}

    read = read_document({"experiments": [], "prompts": marked})["prompts"]
    assert read["summarize"]["versions"]["4"]["portable"] is False
    read = read_document({"experiments": [], "prompts": older})["prompts"]
    assert read["summarize"]["versions"]["4"]["portable"] is None


def test_a_portable_flag_that_is_not_a_boolean_is_refused() -> None:
    document = {
        "experiments": [],
        "prompts": {"summarize": {"versions": {"4": {"template": "x", "portable": "yes"}}}},
    }
    with pytest.raises(DocumentInvalid, match="'portable' must be true, false or null"):
        read_document(document)
