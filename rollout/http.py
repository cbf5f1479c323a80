"""The one client of the service's own HTTP API, for the command line, `rollout apply` and the demo.

Every answer of 400 or more, an unreachable service and an answer that is not JSON become one
`ServiceError`, read from the contract's error document
(`{"error": {"code", "message", "details"}}`), so each caller reports a refusal the same way.
The SDK (`rollout.client`) keeps its own transport: it retries with backoff and queues in the
background, which a command that reports at once must not do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

DEFAULT_URL = "http://127.0.0.1:8000"
ENVIRONMENT_HEADER = "X-Rollout-Environment"
"""The header naming the environment a request acts in (the key's own when it has one)."""
PAGE = 500
"""Items asked for a page of a paginated list (the API's maximum)."""


class ServiceError(Exception):
    """The service refused a request, could not be reached, or did not answer JSON.

    `status` is None when no answer came at all; `code` is the error document's code (or
    `unreachable`, `not_json`, `http_error`); `details` holds one entry per field it named.
    """

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str,
        details: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = [dict(d) for d in details]

    def __str__(self) -> str:
        head = f"{self.status} {self.code}: {self.message}" if self.status else self.message
        lines = [head]
        lines += [
            f"  {d['field']}: {d.get('message', '')}" if d.get("field") else f"  {d}"
            for d in self.details
        ]
        return "\n".join(lines)


def refusal(response: requests.Response) -> ServiceError:
    """The error document of an answer of 400 or more (or its status, when it has none)."""
    try:
        error = response.json()["error"]
        return ServiceError(
            response.status_code,
            str(error.get("code", "http_error")),
            str(error["message"]),
            list(error.get("details") or []),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        text = response.text[:200].strip()
        status = response.status_code
        return ServiceError(status, "http_error", f"HTTP {status}: {text}")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def api_path(*parts: str) -> str:
    """`/api/v1/` and the parts, each quoted (a name may hold any character the API allows)."""
    return "/api/v1/" + "/".join(quote(p, safe="") for p in parts)


@dataclass(frozen=True)
class Answer:
    """A 2xx answer: its status (201 created, 202 waiting for review, ...) and its JSON."""

    status: int
    document: Any


@dataclass
class ServiceClient:
    """The HTTP API at `url` with one key, through one `requests` session.

    `environment`, when set, is sent with every request (ENVIRONMENT_HEADER): a key of all
    environments acts in it, and a key of another environment is refused rather than answered
    from its own, so a command never reports one environment's state as another's.
    """

    url: str
    key: str | None
    timeout_s: float = 30.0
    environment: str | None = None
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")

    @classmethod
    def configured(
        cls, url: str | None, key: str | None, environment: str | None = None
    ) -> ServiceClient:
        """The service named on the command line, else by ROLLOUT_URL / ROLLOUT_API_KEY (and
        the environment by ROLLOUT_ENV)."""
        return cls(
            url or os.environ.get("ROLLOUT_URL") or DEFAULT_URL,
            key or os.environ.get("ROLLOUT_API_KEY") or None,
            environment=environment or os.environ.get("ROLLOUT_ENV") or None,
        )

    def exchange(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Answer:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        if self.environment:
            headers[ENVIRONMENT_HEADER] = self.environment
        try:
            response = self.session.request(
                method,
                self.url + path,
                json=body,
                params={k: v for k, v in (params or {}).items() if v is not None},
                headers=headers,
                timeout=self.timeout_s,
            )
        except requests.RequestException as exc:
            raise ServiceError(
                None, "unreachable", f"cannot reach {self.url}: {first_line(exc)}"
            ) from None
        if response.status_code >= 400:
            raise refusal(response)
        if not response.content:
            return Answer(response.status_code, None)
        try:
            return Answer(response.status_code, response.json())
        except ValueError:
            raise ServiceError(
                response.status_code, "not_json", f"{method} {path}: the answer is not JSON"
            ) from None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """The JSON of a 2xx answer; ServiceError otherwise."""
        return self.exchange(method, path, body, params).document

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params)

    def find(self, path: str) -> Any:
        """The JSON at `path`, or None when the service has nothing there (404)."""
        try:
            return self.get(path)
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, {} if body is None else body)

    def pages(self, path: str, field_name: str, **params: Any) -> list[Any]:
        """Every item of a paginated list (`next_offset`), in order."""
        items: list[Any] = []
        offset: int | None = 0
        while offset is not None:
            page = self.get(path, limit=PAGE, offset=offset, **params)
            items.extend(page[field_name])
            offset = page.get("next_offset")
        return items
