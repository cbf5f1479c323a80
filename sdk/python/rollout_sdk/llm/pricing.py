"""What an LLM call cost, from a maintained price list; never an invented number.

Where LiteLLM is installed its model cost map is the source (`litellm.model_cost`, maintained
by its project for every provider it routes to); otherwise the bundled, dated table
`prices.json` beside this file (USD per million input, output and cached input tokens, with its
date and sources). `ROLLOUT_PRICES_FILE` names a JSON file in the same format whose models are
laid over either (negotiated prices, a new model). A model found in none of them costs `None`:
the caller records no cost and the table counts the miss, so a dashboard can show it.

Tokens follow OpenAI's accounting: `input_tokens` counts every prompt token, and
`cached_input_tokens` the part of them billed at the cached rate (Anthropic reports cache reads
apart from `input_tokens`: its integration adds them in before pricing).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import import_module
from importlib.resources import files
from typing import Any, Final

log = logging.getLogger("rollout_sdk.llm")

PER_MILLION: Final = 1_000_000
_DATE_SUFFIX: Final = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens; `cached_input` defaults to the input price where none is known."""

    input: float
    output: float
    cached_input: float | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0


class PriceTable:
    """Prices by model name, looked up leniently: `openai/gpt-4o-2024-08-06` finds `gpt-4o`."""

    def __init__(self, prices: Mapping[str, Price], source: str) -> None:
        self._prices = dict(prices)
        self.source = source
        self.unknown_models: Counter[str] = Counter()
        self._lock = threading.Lock()

    @classmethod
    def bundled(cls) -> PriceTable:
        document = json.loads(files("rollout_sdk.llm").joinpath("prices.json").read_text("utf-8"))
        return cls(_prices_of(document["models"]), f"bundled table of {document['as_of']}")

    @classmethod
    def from_file(cls, path: str) -> PriceTable:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        return cls(_prices_of(document["models"]), path)

    @classmethod
    def from_litellm(cls) -> PriceTable | None:
        """LiteLLM's cost map, converted to prices per million; None when it is not installed."""
        try:
            litellm = import_module("litellm")
        except ImportError:
            return None
        prices: dict[str, Price] = {}
        for model, entry in getattr(litellm, "model_cost", {}).items():
            price = _litellm_price(entry)
            if price is not None:
                prices[model] = price
        return cls(prices, "litellm.model_cost")

    def overlaid(self, other: PriceTable) -> PriceTable:
        return PriceTable({**self._prices, **other._prices}, f"{other.source} over {self.source}")

    def price_of(self, model: str) -> Price | None:
        for name in _candidates(model):
            price = self._prices.get(name)
            if price is not None:
                return price
        return None

    def cost_of(self, model: str, usage: Usage) -> float | None:
        """USD for one call, or None (and a counted warning) when the model is not priced."""
        price = self.price_of(model)
        if price is None:
            with self._lock:
                self.unknown_models[model] += 1
                first = self.unknown_models[model] == 1
            if first:
                log.warning("no price for model %r in %s: its calls record no cost", model,
                            self.source)
            return None
        cached = min(max(usage.cached_input_tokens, 0), max(usage.input_tokens, 0))
        cached_rate = price.cached_input if price.cached_input is not None else price.input
        return (
            (usage.input_tokens - cached) * price.input
            + cached * cached_rate
            + usage.output_tokens * price.output
        ) / PER_MILLION


def default_table(environ: Mapping[str, str] | None = None) -> PriceTable:
    """LiteLLM's map where installed, else the bundled table; ROLLOUT_PRICES_FILE laid over."""
    environ = os.environ if environ is None else environ
    table = PriceTable.from_litellm() or PriceTable.bundled()
    override = environ.get("ROLLOUT_PRICES_FILE")
    return table.overlaid(PriceTable.from_file(override)) if override else table


def _candidates(model: str) -> list[str]:
    """The name as given, without a provider prefix, then without a date or `-latest` suffix."""
    names = [model]
    bare = model.rsplit("/", 1)[-1]
    if bare != model:
        names.append(bare)
    undated = _DATE_SUFFIX.sub("", bare)
    if undated != bare:
        names.append(undated)
    return names


def _prices_of(models: Mapping[str, Mapping[str, Any]]) -> dict[str, Price]:
    return {
        name: Price(
            input=float(entry["input"]),
            output=float(entry["output"]),
            cached_input=float(entry["cached_input"]) if "cached_input" in entry else None,
        )
        for name, entry in models.items()
    }


def _litellm_price(entry: Any) -> Price | None:
    if not isinstance(entry, Mapping):
        return None
    per_input = entry.get("input_cost_per_token")
    per_output = entry.get("output_cost_per_token")
    if not isinstance(per_input, int | float) or not isinstance(per_output, int | float):
        return None
    cached = entry.get("cache_read_input_token_cost")
    return Price(
        input=per_input * PER_MILLION,
        output=per_output * PER_MILLION,
        cached_input=cached * PER_MILLION if isinstance(cached, int | float) else None,
    )
