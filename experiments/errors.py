"""The domain's failures, as values the service maps to HTTP in one place (rollout/errors.py)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every failure the core reports on purpose; `code` is stable and machine-readable."""

    code = "error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotFound(DomainError):
    code = "not_found"


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


class Unavailable(DomainError):
    """A dependency (Redis) cannot be reached; the request may be retried (HTTP 503)."""

    code = "unavailable"


class StoredDataInvalid(DomainError):
    """What the store holds cannot be read back (corrupt or written around the edge's checks).

    The service's fault, not the client's (HTTP 500): the request was fine, the data is not.
    """

    code = "stored_data_invalid"
