"""The render budget against the adversarial corpus, and what it costs an ordinary template.

- bombs: every template of tests/unit/test_template_bombs.py rendered with the default budget
  (1 s), with its wall time and the growth of the process's peak resident memory (VmHWM, reset
  before each case): the worst of each is the figure that must stay near the budget;
- cost: an ordinary prompt (a loop, filters, a literal) rendered through rollout_sdk.kernel.render,
  against the same compiled template in Jinja's own ImmutableSandboxedEnvironment with no budget.

    .venv/bin/python -m bench.template_bombs [--repeat 2000]   (from the repository root)
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment

from rollout_sdk.kernel.render import render
from rollout_sdk.kernel.render_errors import RenderError
from tests.unit.test_template_bombs import CORPUS, DOUBLED_40_TIMES, ISSUE_FILTERS

ORDINARY = (
    "Summarize for {{ reader|default('a colleague') }} in {{ n }} sentences:\n"
    "{% for doc in docs %}- {{ doc.title|title|truncate(40) }} ({{ doc.tags|join(', ') }})\n"
    "{% endfor %}{{ {'tone': tone, 'n': n}|tojson }}"
)
VARIABLES = {
    "n": 3,
    "tone": "friendly",
    "docs": [{"title": f"document number {i}", "tags": ["a", "b", "c"]} for i in range(20)],
}


def _kib(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


def bombs() -> None:
    issue: list[tuple[str, dict[str, Any]]] = [
        (DOUBLED_40_TIMES + "{{ ns.l|" + f + " }}", {}) for f in ISSUE_FILTERS
    ]
    cases = issue + CORPUS
    worst_time, worst_peak = (0.0, ""), (0, "")
    for template, variables in cases:
        Path("/proc/self/clear_refs").write_text("5")
        before = _kib("VmRSS")
        started = time.monotonic()
        try:
            outcome = f"ok, {len(render(template, variables))} characters"
        except RenderError as error:
            outcome = error.code
        took = time.monotonic() - started
        peak = (_kib("VmHWM") - before) * 1024
        print(f"{took:6.3f} s {peak / 1e6:7.1f} MB  {outcome:22} {template[-58:]!r}")
        worst_time = max(worst_time, (took, template[-58:]))
        worst_peak = max(worst_peak, (peak, template[-58:]))
    print(f"bombs: {len(cases)} cases, budget 1 s")
    print(f"  slowest: {worst_time[0]:.3f} s  ({worst_time[1]!r})")
    print(f"  largest peak growth: {worst_peak[0] / 1e6:.1f} MB  ({worst_peak[1]!r})")


def cost(repeat: int) -> None:
    plain = ImmutableSandboxedEnvironment(keep_trailing_newline=True).from_string(ORDINARY)
    assert render(ORDINARY, VARIABLES) == plain.render(VARIABLES)
    timings = {}
    runs: list[tuple[str, Callable[[], str]]] = [
        ("budgeted", lambda: render(ORDINARY, VARIABLES)),
        ("plain jinja", lambda: plain.render(VARIABLES)),
    ]
    for name, run in runs:
        started = time.perf_counter()
        for _ in range(repeat):
            run()
        timings[name] = (time.perf_counter() - started) / repeat
    ratio = timings["budgeted"] / timings["plain jinja"]
    print(
        f"cost: budgeted {timings['budgeted'] * 1e6:.0f} us, plain jinja"
        f" {timings['plain jinja'] * 1e6:.0f} us a render: x{ratio:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    arguments = parser.parse_args()
    bombs()
    cost(arguments.repeat)


if __name__ == "__main__":
    main()
