"""`to_json` makes a document of plain JSON types from the typed results: whatever encoder an edge
uses (orjson for the HTTP answer, the standard library for the timeline) writes the same text,
and a section the results leave empty is not in it."""

from __future__ import annotations

from typing import Any

from experiments.analysis import results
from experiments.model import MetricRole
from experiments.results import to_json
from tests.unit.test_results_document import EXPERIMENT, NOW, STATS

JSON_TYPES = (dict, list, str, int, float, bool, type(None))


def not_json(value: Any, where: str = "$") -> list[str]:
    """Where `value` holds something other than a plain JSON type (an enum, a tuple, ...)."""
    if type(value) not in JSON_TYPES:
        return [f"{where}: {type(value).__name__}"]
    if isinstance(value, dict):
        return [bad for key, item in value.items() for bad in not_json(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [bad for i, item in enumerate(value) for bad in not_json(item, f"{where}[{i}]")]
    return []


def test_the_document_holds_only_plain_json_types() -> None:
    document = to_json(results(EXPERIMENT, STATS, NOW))

    assert document["metrics"][0]["comparisons"][0]["ci"] is not None
    assert not_json(document) == []


def test_a_section_appears_only_where_the_results_have_it() -> None:
    computed = results(EXPERIMENT, STATS, NOW)
    shown = {m["metric"]: set(m) for m in to_json(computed)["metrics"]}

    for metric in computed.metrics:
        assert ("power" in shown[metric.metric]) is (metric.role is MetricRole.PRIMARY)
        assert ("quantile" in shown[metric.metric]) is (metric.quantile is not None)
    assert "segments" not in to_json(computed)
