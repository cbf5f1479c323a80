"""The console's experiment page and `rollout results` show the results' new figures as the API
gives them: the SRM line with the chi-square p and the sequential test, a quantile metric's p95
with its intervals, the users needed always-valid beside fixed-horizon, and a guardrail breached
by the controller's own test where no relative interval exists (a control without any error)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask import Flask

from rollout.cli.output import Style
from rollout.cli.results import render_results
from tests.api.conftest import Api, experiment_body, ok
from tests.api.test_archive import signed_in_console

KEY = "tail-latency"
USERS = 400


def page_text(markup: str) -> str:
    """The page's text, tags dropped and whitespace collapsed, as a reader sees it."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def section(markup: str, metric: str) -> str:
    found = re.search(rf'<article class="metric" data-metric="{metric}">(.*?)</article>', markup,
                      re.S)
    assert found is not None, metric
    return found.group(1)


@pytest.fixture
def measured(editor: Api, release: Api, sdk: Api) -> dict[str, Any]:
    """A running experiment whose treatment fails every request and is 50% slower, with its
    results as the API answers them."""
    metrics = [
        {"key": "thumbs_up", "type": "binary", "role": "primary", "direction": "increase"},
        {"key": "latency_ms", "type": "mean", "role": "guardrail", "direction": "decrease",
         "max_regression": 0.10, "quantile": 0.95},
        {"key": "llm_error", "type": "binary", "role": "guardrail", "direction": "decrease"},
    ]
    assert editor.post("/api/v1/experiments",
                       json=experiment_body(KEY, metrics=metrics)).status_code == 201
    ok(release.post(f"/api/v1/experiments/{KEY}/start", json={}))
    events = []
    for i in range(USERS):
        assigned = ok(sdk.post("/api/v1/assign", json={"user_id": f"u{i}", "experiments": [KEY]}))
        treated = assigned.get_json()["assignments"][KEY]["variant"] == "friendly"
        events += [
            {"event_id": f"l{i}", "user_id": f"u{i}", "experiment": KEY, "metric": "latency_ms",
             "value": 150 + i % 7 if treated else 100 + i % 7},
            {"event_id": f"e{i}", "user_id": f"u{i}", "experiment": KEY, "metric": "llm_error",
             "value": 1 if treated else 0},
            {"event_id": f"t{i}", "user_id": f"u{i}", "experiment": KEY, "metric": "thumbs_up",
             "value": int(i % 3 == 0)},
        ]
    for start in range(0, len(events), 1000):  # the contract's batch limit
        batch = events[start:start + 1000]
        accepted = ok(sdk.post("/api/v1/events", json={"events": batch})).get_json()
        assert accepted["accepted"] == len(batch), accepted
    results: dict[str, Any] = ok(editor.get(f"/api/v1/experiments/{KEY}/results")).get_json()
    return results


def test_the_experiment_page_shows_the_new_figures(
    app: Flask, editor: Api, measured: dict[str, Any]
) -> None:
    errors = next(m for m in measured["metrics"] if m["metric"] == "llm_error")
    assert errors["comparisons"][0]["sequential_relative_ci"] is None  # no control error at all
    assert errors["comparisons"][0]["breached"] is True
    latency = next(m for m in measured["metrics"] if m["metric"] == "latency_ms")
    power = next(m for m in measured["metrics"] if m["metric"] == "thumbs_up")["power"]
    srm = measured["srm"]

    markup = ok(signed_in_console(app.test_client(), editor.secret).get(f"/experiments/{KEY}"))
    markup = markup.get_data(as_text=True)

    text = page_text(markup)
    assert (f"chi-square p = {srm['p_value']:.3g}; sequential p = "
            f"{srm['sequential_p_value']:.3g} at level {srm['level']}") in text
    assert "breached: harm beyond no tolerated harm" in page_text(section(markup, "llm_error"))
    shown = page_text(section(markup, "latency_ms"))
    for variant, arm in latency["quantile"]["variants"].items():
        assert f"{variant} {arm['events']} {arm['estimate']:.4g} " in shown
    assert "p95 change" in shown and "Judged on p95" in shown
    judged = latency["quantile"]["comparisons"][0]
    change = judged["relative_change"] * 100
    assert f"friendly vs control {change:+.2f}% " in shown
    assert judged["breached"] is latency["comparisons"][0]["breached"]  # judged on the quantile
    assert ("breached: harm beyond the 10% tolerance" in shown) is judged["breached"]
    needed = power["users_per_variant_needed"], power["fixed_users_per_variant_needed"]
    assert None not in needed and needed[0] > needed[1]
    assert (f"{needed[0]} users needed (always-valid), {needed[1]} fixed-horizon"
            in page_text(section(markup, "thumbs_up")))


def test_rollout_results_shows_the_new_figures_within_80_columns(measured: dict[str, Any]) -> None:
    srm = measured["srm"]
    latency = next(m for m in measured["metrics"] if m["metric"] == "latency_ms")
    power = next(m for m in measured["metrics"] if m["metric"] == "thumbs_up")["power"]

    plain = render_results(measured, Style(False))

    lines = plain.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(line.startswith(f"SRM  chi-square p={srm['p_value']:.4g}  sequential p=")
               for line in lines)
    errors_block = plain.split("\nllm_error  (")[1].splitlines()
    assert next(line for line in errors_block if line.startswith("  friendly")).endswith("breached")
    latency_block = plain.split("\nlatency_ms  (")[1].split("\n\n")[0].splitlines()
    for variant, arm in latency["quantile"]["variants"].items():
        row = next(line for line in latency_block if line.startswith(f"  {variant} ")
                   and str(arm["events"]) in line.split())
        assert row.split()[1:3] == [f"{arm['estimate']:.4g}", str(arm["events"])]
    judged = next(line for line in latency_block if line.startswith("  p95 friendly vs control"))
    assert judged.endswith("breached" if latency["quantile"]["comparisons"][0]["breached"]
                           else "inconclusive")
    assert (f"needs {power['users_per_variant_needed']} users a variant (always-valid), "
            f"{power['fixed_users_per_variant_needed']} fixed-horizon") in " ".join(plain.split())
