"""The domain's failures, as values the service maps to HTTP in one place (rollout/errors.py)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class DomainError(Exception):
    """Base of every failure the core reports on purpose; `code` is stable and machine-readable."""

    code = "error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotFound(DomainError):
    code = "not_found"

    def __init__(
        self, message: str, details: list[dict[str, Any]] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, details)
        if code is not None:
            self.code = code


class Conflict(DomainError):
    """The request is valid but the current state does not allow it (HTTP 409)."""

    code = "conflict"

    def __init__(
        self, message: str, details: list[dict[str, Any]] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, details)
        if code is not None:
            self.code = code


class Invalid(DomainError):
    """Well-formed input that breaks a rule; `details` names each bad field (HTTP 422)."""

    code = "invalid"

    def __init__(
        self, message: str, details: list[dict[str, Any]] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, details)
        if code is not None:
            self.code = code

    @classmethod
    def of_validation(cls, error: ValidationError, prefix: str = "") -> Invalid:
        """The fields pydantic refused, one entry each; never pydantic's own text, which
        carries the input and links to its documentation."""
        details = validation_details(error, prefix)
        return cls("; ".join(f"{d['field']}: {d['message']}" for d in details), details)


class StoredDataInvalid(DomainError):
    """What the store holds cannot be read back (corrupt or written around the edge's checks).

    The service's fault, not the client's (HTTP 500): the request was fine, the data is not.
    """

    code = "stored_data_invalid"


def validation_details(error: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    """One entry per bad field, with a dotted path a person can find in their JSON."""
    details = []
    for item in error.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in item["loc"])
        field = f"{prefix}.{path}" if prefix and path else (prefix or path or "body")
        message = str(item["msg"]).removeprefix("Value error, ")
        details.append({"field": field, "message": message, "type": item["type"]})
    return details
