"""A local webhook receiver that counts the controller's decisions and checks each signature."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rollout.controller.webhooks import SIGNATURE_HEADER, verify

WEBHOOK_SECRET = secrets.token_hex(16)


@dataclass
class Webhooks:
    """What the receiver got: decisions with a valid signature, and how many were not."""

    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0


@contextmanager
def webhook_receiver(hooks: Webhooks) -> Iterator[str]:
    """A receiver on a free loopback port for the duration of the block; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if verify(body, WEBHOOK_SECRET, self.headers.get(SIGNATURE_HEADER)):
                hooks.received.append(json.loads(body))
            else:
                hooks.bad_signatures += 1
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()
