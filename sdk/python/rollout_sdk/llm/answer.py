"""What a measured call answers: the provider's own response, with the assignment it served."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from rollout_sdk.answers import VariantAssignment
from rollout_sdk.llm.measurement import CallMeasure

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class LLMAnswer(Generic[R]):
    """`response` is exactly what the provider's client returned; `measure` what was recorded."""

    response: R
    assignment: VariantAssignment
    measure: CallMeasure
    call_id: str

    @property
    def variant(self) -> str:
        return self.assignment.variant

    @property
    def prompt_version(self) -> int | None:
        return None if self.assignment.prompt is None else self.assignment.prompt.version
