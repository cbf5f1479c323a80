"""lifecycle.patch(): a patched experiment that fails validation is refused field by field."""

from __future__ import annotations

import pytest

from experiments import lifecycle
from experiments.errors import Invalid
from experiments.model import Experiment, ExperimentPatch


def draft() -> Experiment:
    return Experiment.model_validate({
        "key": "summary-tone",
        "name": "Friendlier summaries",
        "variants": [{"key": "control", "weight": 0.5}, {"key": "friendly", "weight": 0.5}],
        "control": "control",
    })


def test_a_patch_that_breaks_the_experiment_names_the_field_not_pydantics_text() -> None:
    # Built by code, not parsed at the edge: only the merged experiment's validation can catch it.
    patch = ExperimentPatch.model_construct(name="", traffic=2.0)
    with pytest.raises(Invalid) as refused:
        lifecycle.patch(draft(), patch, 1.0, "editor")
    fields = sorted(d["field"] for d in refused.value.details)
    assert fields == ["name", "traffic"]
    assert "pydantic" not in refused.value.message
    assert "validation error" not in refused.value.message
    assert refused.value.message.startswith("name: ")
