"""The service under gunicorn, a local OpenAI/Anthropic-compatible provider, and the SDK between.

The provider integrations are tested as an application uses them: the official `openai` and
`anthropic` packages pointed at `tests/llm/local_providers.py`, the real `RolloutClient`
reporting to the real service, and the service's own sums read back from its store. The service
and the provider are started once for the package: each test defines experiments of its own.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import requests

from experiments.stats.moments import Moments, RatioMoments
from experiments.store import Store
from rollout.embedded import EmbeddedRedis
from rollout_sdk import RolloutClient
from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import Server, gunicorn_on_empty_redis
from tests.llm.local_providers import Behaviour, LocalProvider

T = TypeVar("T")

CHEAP = "gpt-4o-mini"
DEAR = "gpt-4o"
BEHAVIOURS = {
    CHEAP: Behaviour(delay_s=0.002, output_tokens=9, cached_share=0.0),
    DEAR: Behaviour(delay_s=0.006, output_tokens=23, cached_share=0.5),
}


@dataclass
class Service:
    """The service over HTTP with a key of each role, and its store for the exact sums."""

    base_url: str
    store: Store
    keys: dict[str, str]
    http: requests.Session = field(default_factory=requests.Session)
    names: Iterator[int] = field(default_factory=itertools.count)

    def call(self, method: str, path: str, role: str, json: Any = None, ok: int = 200) -> Any:
        response = self.http.request(
            method, self.base_url + path, json=json, timeout=10,
            headers={"Authorization": f"Bearer {self.keys[role]}"},
        )
        assert response.status_code == ok, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def prompt(self, name: str, template: str, model: str, **params: Any) -> str:
        """A new version of a prompt of its own (`name` and a number), as `name@version`."""
        name = f"{name}-{next(self.names)}"
        body = {"template": template, "model": model, "params": params}
        version = self.call("POST", f"/api/v1/prompts/{name}/versions", "editor", body, ok=201)
        return f"{name}@{version['version']}"

    def experiment(
        self, prompts: Sequence[str], metrics: Sequence[dict[str, Any]] = ({"preset": "llm"},),
        traffic: float = 1.0,
    ) -> str:
        """A running experiment with one variant per prompt (the first is control)."""
        key = f"llm-{next(self.names)}"
        variants = [
            {"key": f"v{i}", "weight": round(1 / len(prompts), 6) if i else
             1 - round(1 / len(prompts), 6) * (len(prompts) - 1), "prompt": ref}
            for i, ref in enumerate(prompts)
        ]
        body = {"key": key, "name": key, "variants": variants, "control": "v0",
                "metrics": list(metrics), "traffic": traffic}
        self.call("POST", "/api/v1/experiments", "editor", body, ok=201)
        self.call("POST", f"/api/v1/experiments/{key}/start", "release", {})
        return key

    def sums(self, experiment: str, metric: str) -> dict[str, float]:
        """The service's own per-variant sum of `metric`'s values, from its running sums."""
        snapshot = self.store.events.snapshot(experiment)
        arms = snapshot.stats.metrics[metric]
        totals: dict[str, float] = {}
        for variant, arm in zip(snapshot.experiment.variants, arms, strict=True):
            totals[variant.key] = arm.sum_x if isinstance(arm, RatioMoments) else arm.total
        return totals

    def counts(self, experiment: str, metric: str) -> dict[str, float]:
        """Per variant, the events of a ratio metric (the sum of their denominators of 1)."""
        snapshot = self.store.events.snapshot(experiment)
        arms = snapshot.stats.metrics[metric]
        counts: dict[str, float] = {}
        for variant, arm in zip(snapshot.experiment.variants, arms, strict=True):
            assert isinstance(arm, RatioMoments | Moments)
            counts[variant.key] = arm.sum_y if isinstance(arm, RatioMoments) else arm.total
        return counts


@pytest.fixture(scope="package")
def gunicorn(
    redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    yield from gunicorn_on_empty_redis(redis_server, tmp_path_factory)


@pytest.fixture(scope="package")
def service(gunicorn: Server, redis_server: EmbeddedRedis) -> Iterator[Service]:
    keys = {}
    for role in ("editor", "release", "sdk"):
        response = requests.post(
            gunicorn.base_url + "/api/v1/keys", json={"name": f"llm-{role}", "role": role},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10,
        )
        assert response.status_code == 201, response.text
        keys[role] = response.json()["secret"]
    store = Store.from_url(redis_server.url)
    yield Service(gunicorn.base_url, store, keys)
    store.redis.close()


@pytest.fixture(scope="package")
def provider() -> Iterator[LocalProvider]:
    server = LocalProvider(BEHAVIOURS, slow_s=1.0)
    yield server
    server.stop()


@pytest.fixture
def make_rollout(service: Service) -> Iterator[Callable[[], RolloutClient]]:
    made: list[RolloutClient] = []

    def build() -> RolloutClient:
        client = RolloutClient(service.base_url, service.keys["sdk"], refresh_interval_s=0.2,
                               flush_interval_s=0.05, timeout_s=5.0)
        made.append(client)
        return client

    yield build
    for client in made:
        client.close(timeout=5.0)


def run_in_own_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on a thread of its own: a session-wide Playwright browser (tests/browser)
    keeps an event loop running on the main thread, where `asyncio.run` refuses to start."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
