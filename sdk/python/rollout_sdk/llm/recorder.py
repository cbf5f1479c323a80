"""The second half of a measured call: price it and track what it measured, never failing it.

Each figure is tracked for the call's user with the event id `llm:<call id>:<metric>`, so a call
recorded twice (a stream closed twice, a callback fired twice) still counts once. Only answers
in the experiment are recorded: the service would refuse the events of a user it never exposed.
Whatever goes wrong here (a full queue, a bad value, a price file that does not parse) is
counted and logged, at most once per interval, and never reaches the call.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from rollout_sdk.llm.measurement import REFUSAL, STANDARD_METRICS, CallMeasure, event_id
from rollout_sdk.llm.pricing import PriceTable, Usage, default_table
from rollout_sdk.llm.quality import QualityHook, ScoredCall, Tracker
from rollout_sdk.llm.variant_call import VariantCall
from rollout_sdk.throttled_log import ThrottledLog

log = logging.getLogger("rollout_sdk.llm")

_default_prices: PriceTable | None = None
_default_prices_lock = threading.Lock()


def shared_price_table() -> PriceTable:
    """The process's default price table, built once (LiteLLM's map is large to convert)."""
    global _default_prices
    if _default_prices is None:
        with _default_prices_lock:
            if _default_prices is None:
                _default_prices = default_table()
    return _default_prices


class CallRecorder:
    """Prices calls and tracks their measures on `metrics` through the rollout client."""

    def __init__(
        self,
        tracker: Tracker,
        *,
        prices: PriceTable | None = None,
        metrics: Iterable[str] = STANDARD_METRICS,
        quality: QualityHook | None = None,
    ) -> None:
        self.tracker = tracker
        self.prices = prices
        self.metrics = frozenset(metrics)
        self.quality = quality
        self.recorded = 0
        self.failures = 0
        self._lock = threading.Lock()
        self._log = ThrottledLog(log)

    def cost_of(self, model: str | None, usage: Usage | None) -> float | None:
        """USD for the call, or None when the model or its usage is unknown."""
        if model is None or usage is None:
            return None
        prices = self.prices if self.prices is not None else shared_price_table()
        return prices.cost_of(model, usage)

    def measure(
        self,
        call: VariantCall,
        *,
        model: str | None,
        usage: Usage | None,
        latency_ms: float | None,
        ttft_ms: float | None = None,
        refused: bool = False,
        error: str | None = None,
    ) -> CallMeasure:
        """The call's measure: the answered model (else the requested one) prices the usage."""
        model = model or call.model
        return CallMeasure(
            model=model,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            input_tokens=None if usage is None else usage.input_tokens,
            output_tokens=None if usage is None else usage.output_tokens,
            cached_input_tokens=None if usage is None else usage.cached_input_tokens,
            cost_usd=None if error is not None else self.cost_of(model, usage),
            error=error if error is not None else (REFUSAL if refused else None),
        )

    def record(
        self,
        call: VariantCall,
        measure: CallMeasure,
        *,
        response: Any = None,
        output_text: str | None = None,
    ) -> None:
        """Track `measure` for the call's user; offer a successful response to the scorer."""
        try:
            if not call.assignment.in_experiment:
                return
            experiment = call.assignment.experiment
            for metric, value in measure.events():
                if metric in self.metrics:
                    self.tracker.track(
                        call.user_id, experiment, metric, value,
                        event_id=event_id(call.call_id, metric),
                    )
            if self.quality is not None and measure.error is None and response is not None:
                self.quality.offer(self.tracker, ScoredCall(
                    call.call_id, call.user_id, call.assignment, call.text, output_text, response,
                    call.messages,
                ))
            with self._lock:
                self.recorded += 1
        except Exception as error:  # recording must never break the call it measures
            with self._lock:
                self.failures += 1
            self._log.log("record", logging.WARNING,
                          "rollout: could not record an LLM call (%r); %d so far", error,
                          self.failures)
