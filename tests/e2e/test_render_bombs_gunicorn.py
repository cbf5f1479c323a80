"""Template bombs against real gunicorn workers (issue 10, item 2): each is a quick 422, no worker
freezes or dies, and ordinary renders keep being answered while the bombs go off."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import Server, tail

pytestmark = pytest.mark.timeout(120)

BOMB = (
    "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = [ns.l, ns.l] %}"
    "{% endfor %}{{ ns.l|tojson }}"
)
WRAP = "{{ doc|wordwrap(1) }}"


def _create(server: Server, name: str, template: str) -> None:
    response = server.request(
        "POST", f"/api/v1/prompts/{name}/versions", json={"template": template}
    )
    assert response.status_code in (200, 201), response.text


def _render(server: Server, name: str, variables: dict[str, str]) -> tuple[int, str, float]:
    started = time.monotonic()
    response = server.request(
        "POST", f"/api/v1/prompts/{name}/versions/1/render", json={"variables": variables}
    )
    code = response.json()["error"]["code"] if response.status_code != 200 else "ok"
    return response.status_code, code, time.monotonic() - started


def test_bombs_are_refused_and_the_workers_keep_answering(gunicorn: Server) -> None:
    _create(gunicorn, "bomb", BOMB)
    _create(gunicorn, "wrap", WRAP)
    _create(gunicorn, "hello", "Hello {{ name }}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        bombs = [pool.submit(_render, gunicorn, "bomb", {}) for _ in range(8)]
        bombs += [
            pool.submit(_render, gunicorn, "wrap", {"doc": "ab " * 300_000}) for _ in range(4)
        ]
        time.sleep(0.2)
        calm = [_render(gunicorn, "hello", {"name": "Ada"}) for _ in range(5)]
        results = [future.result() for future in bombs]

    assert {(status, code) for status, code, _ in results} == {(422, "render_limit_exceeded")}
    assert all(status == 200 for status, _, _ in calm)
    assert max(took for _, _, took in calm) < 10.0, calm
    assert gunicorn.process.poll() is None
    assert "WORKER TIMEOUT" not in tail(gunicorn.log, 400), tail(gunicorn.log)
