"""Printing for the command line: the service's JSON with --json, else text within 80 columns."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

WIDTH = 79
"""Text output fits an 80-column terminal."""


class Style:
    """ANSI colours when writing to a terminal (and NO_COLOR is not set), else plain text."""

    CODES = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2", "cyan": "36"}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def for_stdout(cls) -> Style:
        tty = sys.stdout.isatty()
        return cls(tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb")

    def __call__(self, text: str, colour: str) -> str:
        return f"\033[{self.CODES[colour]}m{text}\033[0m" if self.enabled else text


def emit(args: argparse.Namespace, data: Any, text: Callable[[], str] | str) -> None:
    """The service's JSON with --json, else the text rendering."""
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    rendered = text() if callable(text) else text
    print(rendered, end="" if rendered.endswith("\n") else "\n")


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def table(rows: Sequence[Sequence[str]], widths: Sequence[int]) -> str:
    """Left-aligned columns (the last one takes the rest of the line), clipped to fit."""
    lines = []
    for row in rows:
        cells = [clip(cell, w).ljust(w) for cell, w in zip(row[:-1], widths, strict=False)]
        used = sum(widths[: len(cells)]) + len(cells)
        cells.append(clip(row[-1], max(8, WIDTH - used)))
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines)


def styled_table(rows: Sequence[Sequence[str]], widths: Sequence[int]) -> str:
    """`table`, but with the last column possibly coloured (escapes take no room on screen)."""
    plain = table([(*row[:-1], "") for row in rows], widths)
    return "\n".join(
        (line.ljust(sum(widths) + len(widths)) + row[-1]).rstrip() if row[-1] else line
        for line, row in zip(plain.splitlines(), rows, strict=True)
    )


def percent(value: float | None, signed: bool = False, decimals_below: float = 10.0) -> str:
    """`12%`, `1.5%`, `+3.2%`: one decimal below `decimals_below` percent, none above, and
    capped at 999% for display."""
    if value is None:
        return "-"
    scaled = value * 100.0
    if abs(scaled) >= 1000.0:
        return (">" if scaled > 0 else "<") + ("+999%" if scaled > 0 else "-999%")
    sign = "+" if signed else ""
    return f"{scaled:{sign}.1f}%" if abs(scaled) < decimals_below else f"{scaled:{sign}.0f}%"


def interval(bounds: Sequence[float | None] | None) -> str:
    if not bounds or bounds[0] is None or bounds[1] is None:
        return "-"
    return f"[{percent(bounds[0], True)}, {percent(bounds[1], True)}]"


def share(value: float | None) -> str:
    """A binary metric's mean: the share of users with a success, to a tenth of a percent."""
    return "-" if value is None else f"{value * 100.0:.1f}%"


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def when(timestamp: float | str | None) -> str:
    """A Unix time as UTC to the second; an RFC 3339 string is already readable as it is."""
    if timestamp is None:
        return "-"
    if isinstance(timestamp, str):
        return timestamp
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(timestamp))


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
