"""The cost of the prompt registry's hot calls, side by side with baselines from the same run.

- resolve: GET /api/v1/prompts/{p}/resolve?label=production through the Flask app (auth, label,
  version, pins, JSON), against the same two Redis reads pipelined with raw redis-py (the floor);
- render: POST .../versions/{n}/render of the example `summarize@2` template (sandboxed, budgeted,
  output-capped), against the same call rendering a one-character template (the request, auth
  and read without the work of a real template);
- apply: a second `rollout apply` of examples/ (read and check the files, plan: everything is
  unchanged), against as many GETs of a version as the plan makes requests.

    .venv/bin/python bench/prompts.py [--repeat 2000]
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server

from experiments.store import Store, keys
from rollout.app import create_app
from rollout.apply.commands import run_apply
from rollout.embedded import EmbeddedRedis
from rollout.http import ServiceClient
from rollout.settings import Settings

ADMIN = "rk_bench-admin-0123456789abcdef0123456789abcdef"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


class Counted:
    """A `requests` session for `ServiceClient` that counts the requests `apply` sends."""

    def __init__(self) -> None:
        self.count = 0
        self.session = requests.Session()
        self.session.hooks["response"].append(self._seen)

    def _seen(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.count += 1


def timed(
    call: Callable[[], Any], baseline: Callable[[], Any], repeat: int
) -> tuple[list[float], list[float]]:
    """Samples of `call` and of `baseline`, interleaved so that load on the machine hits both."""
    for _ in range(min(50, repeat)):
        call()
        baseline()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for target, found in ((call, samples[0]), (baseline, samples[1])):
            started = time.perf_counter()
            target()
            found.append(time.perf_counter() - started)
    return samples


def line(name: str, pair: tuple[list[float], list[float]]) -> str:
    samples, baseline = pair
    median, base = statistics.median(samples), statistics.median(baseline)
    p99 = statistics.quantiles(samples, n=100)[98]
    return (
        f"{name:<8} median {median * 1e6:9.1f} us  p99 {p99 * 1e6:9.1f} us   baseline median"
        f" {base * 1e6:8.1f} us   ratio {median / base:6.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        server = EmbeddedRedis(Path(data), persistent=False)
        server.start()
        try:
            run(server.url, args.repeat)
        finally:
            server.stop()


def run(url: str, repeat: int) -> None:
    store = Store.from_url(url)
    app = create_app(Settings.from_env({"REDIS_URL": url, "ROLLOUT_ADMIN_KEY": ADMIN}), store)
    client = app.test_client()
    admin = {"Authorization": f"Bearer {ADMIN}"}
    secret = client.post("/api/v1/keys", json={"name": "bench", "role": "editor"}, headers=admin)
    editor_key = secret.get_json()["secret"]
    headers = {"Authorization": f"Bearer {editor_key}"}
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    counted = Counted()
    service = ServiceClient(
        f"http://127.0.0.1:{server.server_port}", editor_key, session=counted.session
    )
    assert run_apply(EXAMPLES, service, out=io.StringIO()) == 0
    variables = {"variables": {"text": "Revenue grew 12%.", "max_sentences": 2, "reader": "Dana"}}

    def resolve() -> None:
        assert client.get("/api/v1/prompts/summarize/resolve", headers=headers).status_code == 200

    def raw_resolve() -> None:
        pipe = store.redis.pipeline(transaction=False)
        pipe.hget(keys.prompt_labels("summarize"), "production")
        pipe.lindex(keys.prompt_versions("summarize"), 0)
        pipe.execute()

    def render() -> None:
        path = "/api/v1/prompts/summarize/versions/2/render"
        assert client.post(path, json=variables, headers=headers).status_code == 200

    plain = client.post("/api/v1/prompts/plain/versions", json={"template": "x"}, headers=headers)
    assert plain.status_code == 201

    def render_plain() -> None:
        path = "/api/v1/prompts/plain/versions/1/render"
        assert client.post(path, json=variables, headers=headers).status_code == 200

    def get_version() -> None:
        path = "/api/v1/prompts/summarize/versions/2"
        assert client.get(path, headers=headers).status_code == 200

    def plan_again() -> None:
        assert run_apply(EXAMPLES, service, out=io.StringIO()) == 0

    counted.count = 0
    plan_again()
    plan_requests = counted.count

    def same_gets() -> None:
        for _ in range(plan_requests):
            get_version()

    print(f"prompt registry, {repeat} calls each (Flask test client, local redis-server)")
    print(line("resolve", timed(resolve, raw_resolve, repeat)))
    print(line("render", timed(render, render_plain, repeat)))
    print(line("apply", timed(plan_again, same_gets, max(1, repeat // 20))))
    print(f"(apply: a second run of examples/, {plan_requests} GETs a plan)")
    server.shutdown()


if __name__ == "__main__":
    main()
