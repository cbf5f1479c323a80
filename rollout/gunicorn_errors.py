"""gunicorn's own error answers (a bad request line, too long a URI, too many headers) in JSON.

gunicorn answers these before the app sees the request, with an HTML page written by
`gunicorn.util.write_error`; the contract allows no HTML error. gunicorn has no setting for the
format, so deploy/gunicorn.conf.py swaps that one function for `write_json_error` in each worker
(`install`), which writes the contract's error document with the same status and headers.
"""

from __future__ import annotations

import json
import socket

from gunicorn import util

CODES = {
    400: "malformed",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "headers_too_large",
    501: "not_implemented",
}
MAX_MESSAGE = 200


def error_document(status: int, reason: str, message: str) -> bytes:
    """`{"error": {"code", "message", "details"}}`, the message cut to MAX_MESSAGE characters
    (gunicorn's messages quote the client's request line, which can be long)."""
    text = f"{reason}: {message}" if message else reason
    return json.dumps(
        {
            "error": {
                "code": CODES.get(status, "bad_request" if status < 500 else "internal"),
                "message": text[:MAX_MESSAGE],
                "details": [],
            }
        }
    ).encode()


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """The signature and behaviour of gunicorn.util.write_error, with a JSON body."""
    body = error_document(status_int, reason, mesg)
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    util.write_error = write_json_error
