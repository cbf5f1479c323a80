"""Call costs from the bundled price table, LiteLLM-style names, overrides, unknown models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollout_sdk.llm.pricing import Price, PriceTable, Usage, default_table


def test_a_known_model_costs_what_the_table_says() -> None:
    table = PriceTable.bundled()
    cost = table.cost_of("gpt-4o-mini", Usage(input_tokens=1_000_000, output_tokens=500_000))
    assert cost == pytest.approx(0.15 + 0.5 * 0.60)


def test_cached_input_tokens_are_billed_at_the_cached_rate() -> None:
    table = PriceTable.bundled()
    usage = Usage(input_tokens=2_000_000, output_tokens=0, cached_input_tokens=1_000_000)
    assert table.cost_of("gpt-4o", usage) == pytest.approx(2.50 + 1.25)


@pytest.mark.parametrize(
    "name",
    ["gpt-4o-2024-08-06", "openai/gpt-4o", "claude-sonnet-4-20250514", "mistral-large-latest"],
)
def test_dated_and_prefixed_names_find_their_model(name: str) -> None:
    assert PriceTable.bundled().price_of(name) is not None


def test_a_longer_name_is_not_priced_as_its_prefix() -> None:
    table = PriceTable({"gpt-4o": Price(2.5, 10.0)}, "test")
    assert table.price_of("gpt-4o-mini") is None


def test_an_unknown_model_records_no_cost_and_counts_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = PriceTable.bundled()
    for _ in range(3):
        assert table.cost_of("my-finetune-7b", Usage(10, 10)) is None
    assert table.unknown_models["my-finetune-7b"] == 3
    assert sum("my-finetune-7b" in r.getMessage() for r in caplog.records) == 1


def test_a_prices_file_is_laid_over_the_default(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"gpt-4o": {"input": 1.0, "output": 2.0},
                                           "in-house": {"input": 0.5, "output": 0.5}}}))
    table = default_table({"ROLLOUT_PRICES_FILE": str(path)})
    assert table.cost_of("gpt-4o", Usage(1_000_000, 1_000_000)) == pytest.approx(3.0)
    assert table.cost_of("in-house", Usage(2_000_000, 0)) == pytest.approx(1.0)
    assert table.price_of("claude-3-5-haiku") == Price(0.80, 4.00, 0.08)
