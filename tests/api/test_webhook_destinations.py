"""Webhooks reach public addresses only, in any spelling, unless the operator allows more (SSRF)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from rollout.controller.webhooks import WebhookDispatcher
from rollout.embedded import free_port
from rollout.webhook_delivery import post
from rollout.webhook_destinations import (
    AllowList,
    Destination,
    RefusedDestination,
    resolve,
)
from tests.api.conftest import Api, experiment_body
from tests.conftest import ADMIN_KEY

EXP = "summary-tone"


class Receiver:
    """An HTTP receiver on 127.0.0.1 that records the Host header of every POST."""

    def __init__(self) -> None:
        self.port = free_port()
        self.hosts: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.hosts.append(self.headers["Host"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def banner_port() -> Iterator[int]:
    """A non-HTTP service on 127.0.0.1 that greets every connection with a banner."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.2 internal-secret-banner\r\n")
                time.sleep(0.05)

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    stopping.set()
    listener.close()


def deliveries_of(make_app: Callable[..., Flask], url: str, **settings: Any) -> list[Any]:
    """Define and start an experiment whose webhook is `url`, evaluate it once, deliver, log."""
    app = make_app(**settings)
    admin = Api(app.test_client(), ADMIN_KEY)
    created = admin.post("/api/v1/experiments", json=experiment_body(EXP, webhooks=[url]))
    assert created.status_code == 201, created.get_json()
    assert admin.post(f"/api/v1/experiments/{EXP}/start", json={}).status_code == 200
    assert admin.post(f"/api/v1/experiments/{EXP}/evaluate").status_code == 200
    runtime = app.extensions["rollout"]
    dispatcher = WebhookDispatcher(
        runtime.store, runtime.settings, backoff_s=0.05, poll_s=0.01, timeout_s=1.0
    ).start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not runtime.store.controller.webhooks.deliveries():
            time.sleep(0.01)
        time.sleep(0.1)  # a retry, were one scheduled, would be logged by now
    finally:
        dispatcher.stop()
    log: list[Any] = runtime.store.controller.webhooks.deliveries()
    return log


LOOPBACK_SPELLINGS = [
    "127.0.0.1", "127.1", "2130706433", "0x7f.1", "0177.0.0.1", "0x7f000001", "[::1]",
    "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:0:0:1]", "[2002:7f00:1::]",
    "[64:ff9b::7f00:1]", "localhost",
]
OTHER_NON_PUBLIC = [
    "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "[fe80::1]", "[fc00::1]",
    "224.0.0.1", "[ff02::1]", "0.0.0.0", "[::]", "240.0.0.1", "100.64.0.1", "255.255.255.255",
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS + OTHER_NON_PUBLIC)
def test_a_non_public_destination_is_refused_in_any_spelling(host: str) -> None:
    with pytest.raises(RefusedDestination, match="destination refused"):
        resolve(f"http://{host}:8080/hook", AllowList.parse([]))


def test_a_public_address_is_delivered_to_as_resolved() -> None:
    destination = resolve("https://8.8.8.8/hook?x=1", AllowList.parse([]))
    assert (destination.address, destination.port, destination.target) == (
        "8.8.8.8", 443, "/hook?x=1"
    )


@pytest.mark.parametrize(
    "url", ["http://user:pw@example.com/hook", "http://token@example.com/hook"]
)
def test_a_url_with_credentials_is_refused(url: str) -> None:
    with pytest.raises(RefusedDestination, match="credentials"):
        resolve(url, AllowList.parse(["example.com"]))


def test_the_allow_list_takes_host_names_addresses_and_networks() -> None:
    allow = AllowList.parse(["hooks.internal", "127.0.0.0/8", "::1"])
    assert resolve("http://127.1/h", allow).address == "127.0.0.1"
    assert resolve("http://[::1]/h", allow).address == "::1"
    with pytest.raises(RefusedDestination):
        resolve("http://10.0.0.1/h", allow)
    with pytest.raises(ValueError, match="not a host or a network"):
        AllowList.parse(["10.0.0.0/40"])


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(
    receiver: Receiver,
) -> None:
    # The name does not resolve at all: reaching the receiver proves no lookup happened after
    # the check, which is what keeps a rebinding DNS answer from swapping the address.
    checked = Destination("http", "rebinding.invalid", receiver.port, "127.0.0.1", "/hook")
    outcome = post(checked, b"{}", {"Content-Type": "application/json"}, 1.0, 1.0)
    assert (outcome.status, outcome.error) == (200, None)
    assert receiver.hosts == [f"rebinding.invalid:{receiver.port}"]


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """An HTTPS receiver on 127.0.0.1 whose self-signed certificate names `webhooks.test`."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=webhooks.test",
         "-addext", "subjectAltName=DNS:webhooks.test"],
        check=True, capture_output=True,
    )
    receiver = Receiver()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
    yield receiver.port, str(cert)
    receiver.close()


def test_https_to_the_checked_address_still_verifies_the_certificate_for_the_name(
    tls_receiver: tuple[int, str],
) -> None:
    port, ca = tls_receiver
    named = Destination("https", "webhooks.test", port, "127.0.0.1", "/hook")
    assert post(named, b"{}", {}, 1.0, 1.0, ca_certs=ca).status == 200
    misnamed = Destination("https", "other.test", port, "127.0.0.1", "/hook")
    refused = post(misnamed, b"{}", {}, 1.0, 1.0, ca_certs=ca)
    assert (refused.status, refused.error) == (None, "TLS handshake or certificate check failed")


def test_an_editors_loopback_webhook_is_refused_by_default_and_not_retried(
    make_app: Callable[..., Flask], receiver: Receiver
) -> None:
    log = deliveries_of(make_app, f"http://127.1:{receiver.port}/hook")
    assert receiver.hosts == []
    [entry] = log
    assert entry["ok"] is False and entry["status_code"] is None
    assert entry["error"].startswith("destination refused: 127.0.0.1 (loopback)")
    assert entry["error"].endswith("not retried")


def test_an_allowed_loopback_webhook_is_delivered(
    make_app: Callable[..., Flask], receiver: Receiver
) -> None:
    log = deliveries_of(
        make_app, f"http://127.1:{receiver.port}/hook", webhook_allow_hosts=("127.0.0.0/8",)
    )
    assert [e["ok"] for e in log] == [True]
    assert receiver.hosts == [f"127.1:{receiver.port}"]


def test_credentials_never_reach_the_delivery_log(
    make_app: Callable[..., Flask], receiver: Receiver
) -> None:
    log = deliveries_of(
        make_app,
        f"http://admin:hunter2@127.0.0.1:{receiver.port}/hook",
        webhook_allow_hosts=("127.0.0.1",),
    )
    [entry] = log
    assert receiver.hosts == []
    assert entry["error"] == "URLs with credentials are refused; not retried"
    assert entry["url"] == f"http://127.0.0.1:{receiver.port}/hook"


def test_the_log_shows_a_short_error_never_the_peers_bytes(
    make_app: Callable[..., Flask], banner_port: int
) -> None:
    log = deliveries_of(
        make_app,
        f"http://127.0.0.1:{banner_port}/hook",
        webhook_allow_hosts=("127.0.0.1",),
    )
    assert log, "the delivery was attempted"
    for entry in log:
        assert "banner" not in entry["error"] and "SSH" not in entry["error"]
        assert entry["error"].startswith("the receiver's answer is not HTTP")
