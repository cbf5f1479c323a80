"""Which failure a provider's exception is, read from what every provider client exposes.

No provider package is imported: the official clients (openai, anthropic) and LiteLLM all raise
exceptions with a `status_code` for HTTP answers and classes named `...Timeout...` and
`...Connection...` for the rest, which is what is read here.
"""

from __future__ import annotations

from typing import Final

TIMEOUT: Final = "timeout"
CONNECTION: Final = "connection"
STREAM: Final = "stream"
OTHER: Final = "exception"


def failure_of(error: BaseException, *, streaming: bool = False) -> str:
    """`timeout`, `http_<status>`, `connection`, `stream` (broken midway) or `exception`."""
    names = [cls.__name__ for cls in type(error).__mro__]
    if isinstance(error, TimeoutError) or any("Timeout" in name for name in names):
        return TIMEOUT
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        return f"http_{status}"
    if streaming:
        return STREAM
    if isinstance(error, ConnectionError) or any("Connection" in name for name in names):
        return CONNECTION
    return OTHER
