"""The portable subset (kernel.portability) against its data and against the TypeScript SDK.

tests/vectors/portable_subset.json is the one definition of the subset; `PORTABLE_SUBSET` must
equal it. Every template of the render corpus is classified by the Python checker as the
TypeScript SDK's own check (`portabilityProblem`, run in node from sdk/js/dist) classifies it; the
corpus' `not_portable` templates that both accept are refused by the TypeScript SDK for their
values, never for their text (sdk/js/test/render.test.mjs renders them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from rollout_sdk.kernel.portability import PORTABLE_SUBSET, is_portable, portability_problem

VECTORS = Path(__file__).parents[1] / "vectors"
SDK_JS = Path(__file__).parents[2] / "sdk" / "js"
CORPUS: dict[str, Any] = json.loads((VECTORS / "render.json").read_text(encoding="ascii"))
SUBSET: dict[str, Any] = json.loads((VECTORS / "portable_subset.json").read_text(encoding="utf-8"))

CLASSIFY = """
import { portabilityProblem } from "./dist/esm/index.js";
const templates = JSON.parse(await new Promise((done) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => done(text));
}));
process.stdout.write(JSON.stringify(templates.map((template) => portabilityProblem(template))));
"""

# Templates on the edges of the subset that both checkers classify alike.
EDGES = [
    "{{ True }}",
    "{{ x.None }}",
    '{{ "a" "b" }}',
    "{{ x.0 }}",
    "{{ a or b }}",
    "{{ not (a or b) }}",
    "{{ 'y' if a or b else 'n' }}",
    "{{ 'y' if a }}",
    "{{ -1 }}",
    "{{ 99999999999999999999 }}",
    "{{ 9007199254740991 }}",
    "{{ none }} {{ true }}",
    "{{ x[True] }}",
    "{{ x[-1] }}",
    "{{ x[1:2] }}",
    "{{ x._secret }}",
    "{{ x['_secret'] }}",
    "{{ x|join(d=1) }}",
    "{{ x|join(',', '') }}",
    "{{ x|default }}",
    "{{ x|replace('a') }}",
    "{% for x in xs if x %}{% endfor %}",
    "{% for a, b in xs %}{% endfor %}",
    "{% for x in xs %}{{ loop.cycle }}{% endfor %}",
    "{% for x in xs %}{{ loop.revindex }}{% endfor %}{{ loop.cycle }}",
    "{% if a < b < c %}{% endif %}",
    "{% if a not in b %}{% endif %}",
    "{{ [1, 2]|first }}",
    "{{ {'a': 1}|length }}",
    "{% raw %}{{ x }}{% endraw %}",
    "{{ 'it\\'s' }} {{ \"tab\\tand\\nline\\\\\" }}",
]

# What Nunjucks reads differently from Jinja2 but render.ts's own check lets through: the Python
# checker refuses each, so the version is marked `portable: false` and the SDK refuses it for that.
JS_CHECK_MISSES = {
    "{{ null }}": "a variable in Jinja2, the literal null in Nunjucks",
    "{{ '\\x41' }}": "'A' in Jinja2, 'x41' in Nunjucks",
    "{{ 1_000 }}": "1000 in Jinja2, a variable named 1_000 in Nunjucks",
    "{% if a in b in c %}{% endif %}": "chained in Jinja2, (a in b) in c in Nunjucks",
    "{% if a == b in c %}{% endif %}": "chained in Jinja2, (a == b) in c in Nunjucks",
    "{{ d.items }}": "refused by render.ts only when it renders with d an object",
}


def corpus_templates() -> list[str]:
    return [
        case["template"] for part in ("cases", "errors", "not_portable") for case in CORPUS[part]
    ]


@pytest.fixture(scope="module")
def js_problems() -> dict[str, str | None]:
    """The TypeScript SDK's own verdict on every corpus and edge template."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    if not (SDK_JS / "dist" / "esm" / "index.js").exists():
        subprocess.run(["npm", "run", "build"], cwd=SDK_JS, check=True, capture_output=True)
    templates = corpus_templates() + EDGES + list(JS_CHECK_MISSES)
    answer = subprocess.run(
        [node, "--input-type=module", "-e", CLASSIFY],
        cwd=SDK_JS,
        input=json.dumps(templates),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    problems: list[str | None] = json.loads(answer.stdout)
    assert len(problems) == len(templates)
    return dict(zip(templates, problems, strict=True))


def test_the_subset_is_the_one_written_in_tests_vectors() -> None:
    ours = {
        key: sorted(value) if isinstance(value, frozenset) else value
        for key, value in asdict(PORTABLE_SUBSET).items()
    }
    nodes = {"statements", "expressions", "conditions"}
    written = {key: value for key, value in SUBSET.items() if key != "description"}
    assert {key: sorted(written["jinja2_nodes"][key]) for key in nodes} == {
        key: ours.pop(key) for key in nodes
    }
    del written["jinja2_nodes"]
    ours["filters"] = {name: list(arity) for name, arity in ours["filters"].items()}
    assert ours == {
        key: sorted(value) if isinstance(value, list) else value for key, value in written.items()
    }


@pytest.mark.parametrize(
    "case", CORPUS["cases"] + CORPUS["errors"], ids=lambda case: str(case["name"])
)
def test_every_corpus_text_is_portable(case: dict[str, Any]) -> None:
    assert portability_problem(case["template"]) is None


@pytest.mark.parametrize("template", corpus_templates() + EDGES)
def test_python_and_typescript_classify_each_template_alike(
    template: str, js_problems: dict[str, str | None]
) -> None:
    assert (portability_problem(template) is None) == (js_problems[template] is None), (
        portability_problem(template),
        js_problems[template],
    )


def test_the_edges_hold_both_kinds() -> None:
    portable = [template for template in EDGES if is_portable(template)]
    assert 5 <= len(portable) <= len(EDGES) - 5


@pytest.mark.parametrize("template", sorted(JS_CHECK_MISSES))
def test_what_nunjucks_reads_differently_is_not_portable(template: str) -> None:
    assert portability_problem(template) is not None, JS_CHECK_MISSES[template]


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ True }}", "the name 'True'"),
        ('{{ "a" "b" }}', "two adjacent string literals"),
        ("{% set x = 1 %}", "the 'Assign' tag"),
        ("{{ s|title }}", "the filter 'title'"),
        ("{% for x in xs %}{{ loop.cycle }}{% endfor %}", "loop.cycle"),
        ("{{ a or b }}", "the 'Or' expression"),
    ],
)
def test_the_problem_says_what_is_outside_the_subset(template: str, reason: str) -> None:
    assert (
        portability_problem(template) == f"line 1: {reason} is outside the portable template subset"
    )


def test_a_template_jinja_cannot_parse_is_not_portable() -> None:
    problem = portability_problem("{% if x %}")
    assert problem is not None and problem.startswith("line 1: ")


def test_the_problem_names_the_line() -> None:
    problem = portability_problem("first\nsecond\n{{ x|title }}")
    assert problem is not None and problem.startswith("line 3: ")
