"""Pagination shared by every list route: the same query parameters and the same envelope."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=10**6)


class HistoryQuery(BaseModel):
    """Histories grow long; they page in larger steps."""

    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=10**7)


class Page(BaseModel):
    total: int
    limit: int
    offset: int
    next_offset: int | None


def page_of(items: Sequence[T], query: PageQuery) -> tuple[Sequence[T], dict[str, Any]]:
    """The items of the page the query asks for, and the envelope fields that describe it."""
    following = query.offset + query.limit
    envelope = {
        "total": len(items),
        "limit": query.limit,
        "offset": query.offset,
        "next_offset": following if following < len(items) else None,
    }
    return items[query.offset : following], envelope
