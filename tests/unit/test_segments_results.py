"""The results' `segments` and `adjusted` sections, and the decision on a segment's guardrail."""

from __future__ import annotations

from typing import Any

import pytest

from experiments.analysis import results as analyse
from experiments.decision import decide
from experiments.model import Experiment
from experiments.results import to_json
from experiments.stats.comparison import compare
from experiments.stats.cuped import adjusted_comparison
from experiments.stats.guardrail import harm_test
from experiments.stats.moments import Moments, RatioMoments
from experiments.stats.sufficient import CovariateSums, SufficientStats
from rollout.cli.output import Style
from rollout.cli.results import render_results

NOW = 1_750_000_000.0


def experiment(**overrides: Any) -> Experiment:
    body: dict[str, Any] = {
        "key": "seg",
        "name": "seg",
        "variants": [{"key": "control", "weight": 0.5}, {"key": "new", "weight": 0.5}],
        "control": "control",
        "metrics": [
            {"key": "thumbs_up", "type": "binary", "role": "primary"},
            {"key": "latency_ms", "type": "mean", "role": "guardrail", "direction": "decrease",
             "max_regression": 0.1},
        ],
        "segments": [{"attribute": "model", "values": ["gpt-4o", "claude"]}],
        "status": "running",
        "started_at": NOW,
    }
    return Experiment.model_validate(body | overrides)


def latency(n: int, mean: float, sd: float) -> Moments:
    """Sums of n users with the given mean and sample standard deviation."""
    return Moments(n, n * mean, (n - 1) * sd * sd + n * mean * mean)


def thumbs(n: int, rate: float) -> Moments:
    return Moments(n, round(n * rate), round(n * rate))


def cell(n: int, control_ms: float, new_ms: float) -> SufficientStats:
    return SufficientStats(
        (n, n),
        {
            "thumbs_up": (thumbs(n, 0.2), thumbs(n, 0.2)),
            "latency_ms": (latency(n, control_ms, 400), latency(n, new_ms, 400 * new_ms / 800)),
        },
    )


def stats(claude_new_ms: float) -> SufficientStats:
    """4000 users an arm: 3000 on gpt-4o, 400 on claude (whose latency is `claude_new_ms` in the
    treatment), 600 others."""
    cells = (cell(3000, 800, 800), cell(400, 800, claude_new_ms), cell(600, 800, 800))
    whole_new = (3000 * 800 + 400 * claude_new_ms + 600 * 800) / 4000
    whole = cell(4000, 800, whole_new)
    return SufficientStats(whole.users, whole.metrics, segments=(cells,))


def test_segments_count_each_guardrail_once_more_in_the_family() -> None:
    with_segments = analyse(experiment(), stats(800), NOW)
    without = analyse(experiment(segments=[]), stats(800), NOW)
    assert without.sequential_alpha == pytest.approx(0.05 / 2)
    assert with_segments.sequential_alpha == pytest.approx(0.05 / 3)
    assert with_segments.segments is not None
    (dimension,) = with_segments.segments
    assert dimension.sequential_alpha == pytest.approx(0.05 / 3 / 3)
    assert [s.value for s in dimension.segments] == ["gpt-4o", "claude", "other"]


def test_a_segments_figures_are_those_of_its_sums_at_the_segment_level() -> None:
    sums = stats(1600)
    shown = analyse(experiment(), sums, NOW)
    assert shown.segments is not None
    claude = shown.segments[0].segments[1]
    guardrail = claude.metric("latency_ms")
    assert guardrail is not None
    (comparison,) = guardrail.comparisons
    control, new = sums.segments[0][1].metrics["latency_ms"]
    assert isinstance(control, Moments) and isinstance(new, Moments)
    level = 0.05 / 3 / 3
    expected = compare("mean", control, new, 0.05, sequential_alpha=level)
    harm = harm_test(expected, "decrease", 0.1, level)
    assert harm is not None and harm.breached
    assert comparison.diff == pytest.approx(800.0)
    assert comparison.sequential_ci == expected.sequential_ci
    assert comparison.harm_bound == harm.bound and comparison.breached is True
    assert claude.variants["new"].users == 400


def test_a_guardrail_breached_in_a_segment_rolls_back_naming_it() -> None:
    definition = experiment()
    shown = analyse(definition, stats(1600), NOW)
    assert shown.metric("latency_ms") is not None
    whole = shown.metric("latency_ms")
    assert whole is not None and whole.comparisons[0].breached is False

    decision = decide(definition, shown, NOW)

    assert decision.action == "rollback" and decision.effect == "rollback"
    assert decision.codes == ("segment_guardrail_breach",)
    assert decision.reasons[0].startswith(
        "guardrail latency_ms of new breached in segment model=claude:"
    )
    (figures,) = decision.figures["comparisons"]
    assert figures["segment"] == "model=claude" and figures["breached"] is True


def test_the_history_tells_a_segment_breach_from_the_wholes() -> None:
    definition = experiment()
    in_claude = decide(definition, analyse(definition, stats(1600), NOW), NOW)
    calm = decide(definition, analyse(definition, stats(800), NOW), NOW)
    assert calm.action == "hold"
    assert in_claude.signature(definition) != calm.signature(definition)
    assert "latency_ms/new@model=claude" in in_claude.signature(definition)


def test_no_segment_breach_with_the_same_latency_everywhere() -> None:
    definition = experiment()
    shown = analyse(definition, stats(800), NOW)
    assert shown.segments is not None
    for segment in shown.segments[0].segments:
        guardrail = segment.metric("latency_ms")
        assert guardrail is not None and guardrail.comparisons[0].breached is False
    assert decide(definition, shown, NOW).codes == ("no_rollout_plan",)


def test_the_document_has_no_segments_without_declared_ones() -> None:
    document = to_json(analyse(experiment(segments=[]), stats(800), NOW))
    assert "segments" not in document
    assert all("adjusted" not in c for m in document["metrics"] for c in m["comparisons"])


def test_the_document_shows_each_segment_by_attribute_and_value() -> None:
    document = to_json(analyse(experiment(), stats(1600), NOW))
    (dimension,) = document["segments"]
    assert dimension["attribute"] == "model"
    claude = dimension["segments"][1]
    assert claude["value"] == "claude" and claude["variants"]["new"] == {"users": 400}
    latency_entry = next(m for m in claude["metrics"] if m["metric"] == "latency_ms")
    assert latency_entry["comparisons"][0]["breached"] is True


COVARIATE_METRICS = [
    {"key": "requests", "type": "mean", "covariate": "requests_before"},
    {"key": "cost", "type": "ratio", "covariate": "cost_before"},
]


def covariate_stats() -> SufficientStats:
    sums = (
        CovariateSums(1000, 10_500.0, 160_000.0, 10_000.0, 140_000.0, 148_000.0),
        CovariateSums(1000, 11_000.0, 170_000.0, 10_100.0, 141_000.0, 152_000.0),
    )
    ratio = RatioMoments(1000, 50.0, 1000.0, 4.0, 1200.0, 60.0)
    return SufficientStats(
        (1000, 1000),
        {
            "requests": tuple(Moments(s.n, s.sum_y, s.sum_yy) for s in sums),
            "cost": (ratio, ratio),
        },
        covariates={"requests": sums},
    )


def test_a_metric_with_a_covariate_adds_the_adjusted_figures() -> None:
    definition = experiment(metrics=COVARIATE_METRICS, segments=[])
    sums = covariate_stats()
    shown = analyse(definition, sums, NOW)
    requests = shown.metric("requests")
    assert requests is not None
    (comparison,) = requests.comparisons
    adjusted = comparison.adjusted
    expected = adjusted_comparison(sums.covariates["requests"], 0, 1, 0.05, shown.sequential_alpha)
    assert adjusted is not None and adjusted.covariate == "requests_before"
    assert (adjusted.diff, adjusted.ci, adjusted.sequential_ci) == (
        expected.diff, expected.ci, expected.sequential_ci
    )
    assert adjusted.variance_reduction == expected.variance_reduction
    assert adjusted.variance_reduction is not None and adjusted.variance_reduction > 0.5
    assert comparison.diff == pytest.approx(0.5)  # the unadjusted figures stay


def test_a_ratio_metric_says_it_is_not_adjusted() -> None:
    definition = experiment(metrics=COVARIATE_METRICS, segments=[])
    cost = analyse(definition, covariate_stats(), NOW).metric("cost")
    assert cost is not None
    adjusted = cost.comparisons[0].adjusted
    assert adjusted is not None
    assert (adjusted.reason, adjusted.diff, adjusted.theta) == ("ratio_not_adjusted", None, None)


def test_the_cli_shows_the_segments_table_and_the_adjusted_line() -> None:
    shown = analyse(experiment(), stats(1600), NOW)
    document = to_json(shown) | {"decision": decide(experiment(), shown, NOW).as_dict()}
    text = render_results(document, Style(False))
    assert "segments by model" in text
    claude = next(
        line for line in text.splitlines() if line.startswith("  claude") and "latency" in line
    )
    assert claude.split()[-1] == "breached" and "400/400" in claude
    assert all(len(line) <= 80 for line in text.splitlines())

    definition = experiment(metrics=COVARIATE_METRICS, segments=[])
    adjusted = to_json(analyse(definition, covariate_stats(), NOW))
    lines = render_results(adjusted, Style(False)).splitlines()
    assert any(line.startswith("  CUPED (requests_before) new  +") for line in lines)
    assert "  CUPED (cost_before) new: a ratio metric is not adjusted" in lines
