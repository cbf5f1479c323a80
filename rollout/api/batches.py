"""Batches of items (events, exposures) where one bad item never sinks the good ones."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError

from experiments.errors import validation_details


class Rejection(BaseModel):
    index: int
    code: str
    message: str


class BatchAnswer(BaseModel):
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = Field(default_factory=list)

    def reject(self, index: int, code: str, message: str) -> None:
        self.rejected.append(Rejection(index=index, code=code, message=message))


def validate_items(
    model: type[BaseModel], items: list[Any], field: str, answer: BatchAnswer
) -> list[tuple[int, BaseModel]]:
    """Validate each item alone; the invalid ones are rejected with the field that was wrong."""
    valid: list[tuple[int, BaseModel]] = []
    for index, item in enumerate(items):
        try:
            valid.append((index, model.model_validate(item)))
        except ValidationError as exc:
            details = validation_details(exc, f"{field}.{index}")
            message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
            answer.reject(index, "invalid", message)
    return valid
