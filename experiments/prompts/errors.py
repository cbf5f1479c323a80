"""Why a prompt cannot be accepted: the service's `Invalid` errors about prompts (HTTP 422)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from experiments.errors import Invalid
from experiments.model import KEY_RE
from rollout_sdk.kernel.render_errors import RenderError


class PromptError(Invalid, ValueError):
    """A prompt that cannot be accepted or rendered: the caller's input is at fault (HTTP 422).

    It is an `Invalid` so rollout/errors.py maps it with the rest of the domain, and a `ValueError`
    so a pydantic validator that calls into this package turns it into a field error.
    """

    code = "invalid_prompt"


class RenderRefused(PromptError):
    """The kernel's refusal to compile or render a template (`refusal`), as the service's error:
    the same code, message and details (`template_invalid`, `missing_variable`, ...)."""

    def __init__(self, refusal: RenderError) -> None:
        super().__init__(refusal.message, refusal.details, code=refusal.code)
        self.refusal = refusal


@dataclass(frozen=True)
class TestFailure:
    """One failing test case of a version: its index in `tests` and every reason it failed."""

    index: int
    reasons: tuple[str, ...]


class PromptTestFailed(PromptError):
    """Some of a new version's test cases fail; one detail per failing case."""

    code = "prompt_test_failed"

    def __init__(self, failures: Sequence[TestFailure]) -> None:
        details: list[dict[str, Any]] = [
            {"field": f"tests.{failure.index}", "message": "; ".join(failure.reasons)}
            for failure in failures
        ]
        super().__init__(f"{len(failures)} prompt test(s) failed", details)
        self.failures = list(failures)


class InvalidPromptName(PromptError):
    code = "invalid_prompt_name"

    def __init__(self, name: str) -> None:
        message = f"prompt name {name!r} must match {KEY_RE.pattern}"
        super().__init__(message, [{"field": "prompt", "message": message}])


class InvalidPromptRef(PromptError):
    code = "invalid_prompt_ref"

    def __init__(self, ref: str, why: str) -> None:
        message = f"prompt reference {ref!r} {why}"
        super().__init__(message, [{"field": "prompt", "message": message}])
