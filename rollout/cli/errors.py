"""The command line's one error: a problem reported in one line before exiting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

USAGE = 2
"""The exit code of a usage error (argparse's own), as against 1 for a refusal."""


class CliError(Exception):
    """A problem to report in one line (and a line per field named) before exiting `code`."""

    def __init__(
        self, message: str, details: Sequence[Mapping[str, Any]] = (), code: int = 1
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)
        self.code = code
