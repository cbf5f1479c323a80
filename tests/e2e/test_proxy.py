"""The documented deployment, nginx in front of gunicorn: slow clients pin nothing, and every
refusal, nginx's own or gunicorn's own, is the contract's JSON error."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import REPO, Server
from tests.e2e.proxy import Nginx, start_nginx, stop_nginx

SLOW_CLIENTS = 64  # several times the 2 workers x 8 threads of the test gunicorn
PROMPT_S = 1.0


@pytest.fixture(scope="module")
def nginx(gunicorn: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    upstream = urlsplit(gunicorn.base_url).netloc
    proxy = start_nginx(tmp_path_factory.mktemp("proxy"), upstream)
    yield proxy
    stop_nginx(proxy)


@contextmanager
def slow_partial_bodies(base_url: str, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections, each with a POST that announces 1000 bytes and sends one more every
    half second, held open: a worker reading such a body waits on it, never timing out."""
    netloc = urlsplit(base_url)
    head = (
        "POST /api/v1/assign HTTP/1.1\r\n"
        f"Host: {netloc.netloc}\r\nAuthorization: Bearer {ADMIN_KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    done = threading.Event()
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            conn = stack.enter_context(socket.create_connection((netloc.hostname, netloc.port)))
            conn.sendall(head + b'{"user_id"')
            sockets.append(conn)

        def trickle() -> None:
            while not done.wait(0.5):
                for conn in sockets:
                    conn.send(b" ")

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        time.sleep(1.0)  # let the server hand every one of them to a reader
        try:
            yield sockets
        finally:
            done.set()
            sender.join()


def timed_get(url: str, timeout_s: float) -> float | None:
    """Seconds a GET took to be answered 200, or None when no answer came within `timeout_s`."""
    began = time.monotonic()
    try:
        response = requests.get(url, timeout=timeout_s, headers={"Connection": "close"})
    except requests.Timeout:
        return None
    assert response.status_code == 200, response.text
    return time.monotonic() - began


def test_slow_clients_pin_a_bare_gunicorn_so_the_attack_is_real(gunicorn: Server) -> None:
    with slow_partial_bodies(gunicorn.base_url, SLOW_CLIENTS), ThreadPoolExecutor(8) as pool:
        answered = list(
            pool.map(lambda _: timed_get(f"{gunicorn.base_url}/healthz", 2.0), range(8))
        )
    assert answered.count(None) >= 2, answered


def test_slow_clients_through_nginx_leave_normal_requests_answered_promptly(
    gunicorn: Server, nginx: Nginx
) -> None:
    with slow_partial_bodies(nginx.base_url, SLOW_CLIENTS) as held:
        with ThreadPoolExecutor(max_workers=4) as pool:
            took = list(pool.map(lambda _: timed_get(f"{nginx.base_url}/healthz", 5.0),
                                 range(20)))
        assignment = requests.post(
            f"{nginx.base_url}/api/v1/assign",
            json={"user_id": "u1"},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=5,
        )
        still_open = sum(1 for s in held if s.fileno() != -1)
    assert None not in took and max(t for t in took if t is not None) < PROMPT_S, took
    assert assignment.status_code == 200, assignment.text
    assert still_open == SLOW_CLIENTS


def raw(base_url: str, request: bytes) -> tuple[int, str, bytes]:
    """Send `request` bytes as they are; the status, Content-Type and body of the answer.

    Read up to the answer's Content-Length, not to the end of the connection: refusing a body it
    was never sent, nginx holds the connection open for its `lingering_timeout` (5 s), as long as
    this socket's timeout."""
    netloc = urlsplit(base_url)
    with socket.create_connection((netloc.hostname, netloc.port), timeout=5) as conn:
        conn.sendall(request)
        data = b""
        while not _complete(data) and (chunk := conn.recv(65536)):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), body


def _complete(data: bytes) -> bool:
    """Whether `data` holds an answer's head and as many body bytes as its Content-Length."""
    head, found, body = data.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return len(body) >= int(value.strip())
    return False  # no length: the answer ends with the connection


def get_with(path: str, headers: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n".encode()


def assert_json_error(answer: tuple[int, str, bytes], status: int, code: str) -> None:
    got_status, content_type, body = answer
    assert got_status == status, body
    assert content_type.startswith("application/json"), (content_type, body)
    assert json.loads(body)["error"]["code"] == code


def test_nginx_answers_its_own_refusals_in_json(nginx: Nginx) -> None:
    assert_json_error(raw(nginx.base_url, get_with("/healthz?" + "a" * 9000)), 414,
                      "uri_too_long")
    assert_json_error(raw(nginx.base_url, get_with("/healthz", f"X-Big: {'b' * 9000}\r\n")),
                      400, "malformed")
    too_big = b"POST /api/v1/events HTTP/1.1\r\nHost: t\r\nContent-Length: 3000000\r\n\r\n"
    assert_json_error(raw(nginx.base_url, too_big), 413, "too_large")
    assert_json_error(raw(nginx.base_url, b"NOT HTTP AT ALL\r\n\r\n"), 400, "malformed")
    assert_json_error(raw(nginx.base_url, get_with("/_errors/malformed")), 404, "not_found")


def test_the_apps_own_errors_pass_through_nginx_unchanged(nginx: Nginx) -> None:
    response = requests.get(f"{nginx.base_url}/api/v1/experiments/no-such-one",
                            headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_request_nginx_lets_through_is_never_refused_by_gunicorn(nginx: Nginx) -> None:
    # The longest request line and header field nginx accepts, and many small headers.
    longest = "/healthz?" + "a" * (8190 - len("GET /healthz? HTTP/1.1"))
    assert raw(nginx.base_url, get_with(longest))[0] == 200
    field = "X-Big: " + "b" * (8190 - len("X-Big: "))
    assert raw(nginx.base_url, get_with("/healthz", field + "\r\n"))[0] == 200
    many = "".join(f"X-H{i}: v\r\n" for i in range(150))
    assert raw(nginx.base_url, get_with("/healthz", many))[0] == 200


def test_gunicorn_alone_answers_its_own_refusals_in_json(gunicorn: Server) -> None:
    assert_json_error(raw(gunicorn.base_url, get_with("/healthz?" + "a" * 9000)), 414,
                      "uri_too_long")
    many = "".join(f"X-H{i}: v\r\n" for i in range(300))
    assert_json_error(raw(gunicorn.base_url, get_with("/healthz", many)), 431,
                      "headers_too_large")
    assert_json_error(raw(gunicorn.base_url, b"NOT HTTP AT ALL\r\n\r\n"), 400, "malformed")


def test_compose_and_kubernetes_run_the_tested_nginx_config_in_front() -> None:
    yaml = pytest.importorskip("yaml")
    deploy = REPO / "deploy"
    compose = yaml.safe_load((deploy / "compose.yaml").read_text())["services"]
    assert "./nginx/rollout.conf.template:/etc/nginx/templates/rollout.conf.template:ro" in (
        compose["proxy"]["volumes"]
    )
    assert compose["proxy"]["environment"]["ROLLOUT_UPSTREAM"] == "api:8000"
    assert "ports" not in compose["api"]  # only nginx is published
    kustomization = yaml.safe_load((deploy / "kustomization.yaml").read_text())
    assert kustomization["configMapGenerator"][0]["files"] == ["nginx/rollout.conf.template"]
    manifests = list(yaml.safe_load_all((deploy / "kubernetes" / "rollout.yaml").read_text()))
    pod = next(m for m in manifests if m["metadata"]["name"] == "rollout-api")["spec"]["template"]
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    listen = {e["name"]: e["value"] for e in containers["nginx"]["env"]}["ROLLOUT_LISTEN"]
    service = next(m for m in manifests if m["kind"] == "Service")
    assert service["spec"]["ports"][0]["targetPort"] == int(listen)
    assert {e["name"]: e["value"] for e in containers["api"]["env"]}["HOST"] == "127.0.0.1"
