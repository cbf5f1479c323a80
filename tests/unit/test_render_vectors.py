"""The shared render corpus (tests/vectors/render.json) against the service's renderer.

The corpus pins the portable template subset: what the service (Jinja2, kernel.render) and
the TypeScript SDK (Nunjucks behind guards, sdk/js/src/render.ts) render to the same text. Both
suites read the same file, so a change of semantics on either side fails one of them. The
`not_portable` templates are valid for the service; the TypeScript SDK refuses them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rollout_sdk.kernel.render import render
from rollout_sdk.kernel.render_errors import MissingVariable

CORPUS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "render.json").read_text(encoding="ascii")
)


def test_the_corpus_covers_texts_errors_and_refusals() -> None:
    assert len(CORPUS["cases"]) >= 30
    assert len(CORPUS["errors"]) >= 4
    assert len(CORPUS["not_portable"]) >= 10


@pytest.mark.parametrize("case", CORPUS["cases"], ids=lambda case: case["name"])
def test_portable_template_renders_the_expected_text(case: dict[str, Any]) -> None:
    assert render(case["template"], case["variables"]) == case["expected"]


@pytest.mark.parametrize("case", CORPUS["errors"], ids=lambda case: case["name"])
def test_error_case_names_the_missing_variable(case: dict[str, Any]) -> None:
    with pytest.raises(MissingVariable) as raised:
        render(case["template"], case["variables"])
    assert raised.value.code == case["error"]["code"]
    assert raised.value.name == case["error"]["variable"]


@pytest.mark.parametrize("case", CORPUS["not_portable"], ids=lambda case: case["name"])
def test_template_outside_the_portable_subset_is_still_valid_for_the_service(
    case: dict[str, Any],
) -> None:
    assert isinstance(render(case["template"], case["variables"]), str)
