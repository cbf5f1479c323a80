"""Why a template could not be rendered: plain errors with a stable `code` and `details`.

They carry what the service answers for them (HTTP 422, `{"code", "message", "details"}`) but
depend on nothing of the service: the service maps them to its own `Invalid`
(experiments/prompts/sandbox.py), and an SDK raises them to the application as they are. Each
is a `ValueError`, so a pydantic validator that renders turns one into a field error.
"""

from __future__ import annotations

from typing import Any


class RenderError(ValueError):
    """A template that cannot be compiled or rendered: the template or its variables are at fault.

    `details` has one entry per problem, each with a `field` (`template`, `variables.<name>`),
    a `message` and, where known, the template `line`.
    """

    code = "render_error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


def _template_detail(message: str, line: int | None) -> list[dict[str, Any]]:
    detail: dict[str, Any] = {"field": "template", "message": message}
    if line is not None:
        detail["line"] = line
    return [detail]


class TemplateInvalid(RenderError):
    """The template does not compile; `line` is where Jinja stopped (1-based)."""

    code = "template_invalid"

    def __init__(self, message: str, line: int | None) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"template {where}{message}", _template_detail(message, line))
        self.line = line


class MissingVariable(RenderError):
    """A variable the template uses was not given, or has no attribute or item it asks for.

    `name` is the variable for a top-level miss (detail field `variables.<name>`) and the attribute
    or key otherwise (detail field `variables`, with Jinja's message saying what lacks it).
    """

    code = "missing_variable"

    def __init__(
        self,
        name: str,
        *,
        top_level: bool = True,
        line: int | None = None,
        message: str | None = None,
    ) -> None:
        message = message or f"missing variable {name!r}"
        detail: dict[str, Any] = {
            "field": f"variables.{name}" if top_level else "variables",
            "message": message,
        }
        if line is not None:
            detail["line"] = line
        super().__init__(message, [detail])
        self.name = name
        self.top_level = top_level
        self.line = line


class TemplateUnsafe(RenderError):
    """The template reached for something the sandbox refuses (Python internals, mutation)."""

    code = "template_unsafe"

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message, _template_detail(message, line))
        self.line = line


class RenderLimitExceeded(RenderError):
    """The render would take too many steps, too long, or build too large a value."""

    code = "render_limit_exceeded"

    def __init__(self, message: str) -> None:
        super().__init__(message, _template_detail(message, None))


class OutputTooLarge(RenderLimitExceeded):
    """The rendered text passed `max_chars`; detected while rendering, not after."""

    code = "output_too_large"

    def __init__(self, max_chars: int) -> None:
        super().__init__(f"rendered output is longer than {max_chars} characters")
        self.max_chars = max_chars


class RenderFailed(RenderError):
    """Any other error the template raised while rendering (a division by zero, a bad type)."""

    code = "render_failed"

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message, _template_detail(message, line))
        self.line = line
