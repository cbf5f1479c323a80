"""How a model is written into Redis: its fields, never its computed ones.

Computed fields (the `*_rfc3339` twins of every timestamp, experiments/timestamps.py) are for
answers; stored, they would only cost bytes on every document and history entry and be ignored
when read back.
"""

from __future__ import annotations

from pydantic import BaseModel


def stored_json(model: BaseModel) -> str:
    return model.model_dump_json(exclude_computed_fields=True)
