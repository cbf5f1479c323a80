"""Every failure becomes the contract's JSON error shape, mapped to HTTP in this one place."""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask, Response, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from experiments.errors import (
    Conflict,
    DomainError,
    Invalid,
    NotFound,
    StoredDataInvalid,
    validation_details,
)


class Unauthorized(DomainError):
    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class WrongEnvironment(Forbidden):
    """A key of one environment named another: it may act only in its own."""

    code = "wrong_environment"


class Malformed(DomainError):
    code = "malformed"


class TooLarge(DomainError):
    code = "too_large"


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


STATUS: dict[type[DomainError], int] = {
    Malformed: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    Invalid: 422,
    RateLimited: 429,
    StoredDataInvalid: 500,
}

HTTP_CODES = {
    400: "malformed",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message, "details": details or []}}), status


def unreadable(experiment: str) -> tuple[str, str]:
    """The rejection of a batch item for an experiment whose stored document cannot be read."""
    return (
        StoredDataInvalid.code,
        f"experiment {experiment!r} is stored but cannot be read; the operators are told",
    )


def status_of(error: DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> tuple[Response, int]:
        message, details = error.message, error.details
        if isinstance(error.__cause__, ValidationError):
            # pydantic's own text carries input and a link to its docs: answer the fields.
            details = validation_details(error.__cause__)
            message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        response, status = error_response(status_of(error), error.code, message, details)
        if isinstance(error, RateLimited):
            response.headers["Retry-After"] = str(error.retry_after_s)
        return response, status

    @app.errorhandler(ValidationError)
    def _stored_data(error: ValidationError) -> tuple[Response, int]:
        # Requests are validated by rollout/api/routing.py, which answers 422 itself; a
        # ValidationError that gets here came from data the service read back (a stored
        # document, a cached one), so it is the service's failure, never the client's.
        app.logger.error("stored data cannot be read: %s", validation_details(error))
        return error_response(
            500, StoredDataInvalid.code, "stored data cannot be read", validation_details(error)
        )

    @app.errorhandler(redis.RedisError)
    def _redis_down(error: redis.RedisError) -> tuple[Response, int]:
        if isinstance(error, redis.ConnectionError | redis.TimeoutError | redis.BusyLoadingError):
            return error_response(503, "unavailable", "the data store is unavailable; retry later")
        app.logger.exception("redis error")
        return error_response(500, "internal", "internal error")

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        response, status = error_response(
            status, HTTP_CODES.get(status, "http_error"), error.description or error.name
        )
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response, int]:
        app.logger.exception("unhandled error")
        return error_response(500, "internal", "internal error")
