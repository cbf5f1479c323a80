"""A real headless Chromium (Debian's `chromium`, driven by Playwright) against the real service
under gunicorn, with review on, and the data a newcomer would have after a first day.

Every page a test opens is watched: a console error, an uncaught exception, a request to any
host but the service, or a failed request (a network failure or a status >= 400 the test did
not declare) fails the test at teardown.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    Playwright,
    Request,
    sync_playwright,
)
from playwright.sync_api import Response as PageResponse

from rollout.embedded import EmbeddedRedis
from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import Server, start_gunicorn, stop, tail

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
XSS = "<img src=x onerror=alert(1)>"
WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
USERS = 240


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
    )
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def service(
    redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    server = start_gunicorn(
        tmp_path_factory.mktemp("console"), redis_server.url, {"ROLLOUT_REQUIRE_REVIEW": "1"}
    )
    yield server
    code = stop(server.process)
    assert code == 0, tail(server.log)


def api(server: Server, method: str, path: str, key: str, body: Any = None) -> Any:
    """One API call that must succeed; answers its JSON (None for 204)."""
    response = server.request(method, path, key=key, json=body)
    assert response.status_code < 300, (method, path, response.status_code, response.text)
    return None if response.status_code == 204 else response.json()


@dataclass(frozen=True)
class Keys:
    admin: str
    editor: str
    release: str
    release_two: str
    sdk: str


@pytest.fixture(scope="module")
def keys(service: Server) -> Keys:
    def create(name: str, role: str) -> str:
        return str(api(service, "POST", "/api/v1/keys", ADMIN_KEY, {"name": name, "role": role})[
            "secret"
        ])

    return Keys(
        admin=ADMIN_KEY,
        editor=create("ed", "editor"),
        release=create("rel", "release"),
        release_two=create("rel-two", "release"),
        sdk=create("app", "sdk"),
    )


def experiment_body(key: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "name": name,
        "owner": "team-growth",
        "variants": [
            {"key": "control", "weight": 0.5, "prompt": "summarize@1"},
            {"key": "friendly", "weight": 0.5, "prompt": "summarize@2"},
        ],
        "control": "control",
        "metrics": [
            {"key": "thumbs_up", "type": "binary", "role": "primary", "direction": "increase"},
            {"key": "latency_ms", "type": "mean", "role": "guardrail", "direction": "decrease",
             "max_regression": 0.10},
        ],
        "rollout": {
            "stages": [
                {"traffic": 0.5, "min_duration_s": 3600, "min_users_per_variant": 50},
                {"traffic": 1.0, "min_duration_s": 3600, "min_users_per_variant": 500},
            ],
            "auto_advance": False,
            "auto_rollback": False,
        },
        **extra,
    }


def start_reviewed(server: Server, keys: Keys, key: str) -> None:
    proposed = api(server, "POST", f"/api/v1/experiments/{key}/start", keys.release, {})
    change = proposed["pending"]["id"]
    api(server, "POST", f"/api/v1/experiments/{key}/approve", keys.release_two, {"change": change})


@dataclass(frozen=True)
class World:
    running: str = "summary-tone"
    draft: str = "checkout-copy"
    hostile: str = "hostile-name"
    prompt: str = "summarize"
    evaluations: int = 3


@pytest.fixture(scope="module")
def world(service: Server, keys: Keys) -> World:
    """Two prompt versions; a running experiment with exposures, events and evaluations; a draft;
    and an experiment, a prompt message and a reason that try to inject markup."""
    w = World()
    for template, message in [
        ("Summarize for {{ audience }}:\n{{ text }}\n", "first version"),
        ("Summarize kindly for {{ audience }}:\n{{ text }}\nBe friendly.\n", f"kinder {XSS}"),
    ]:
        api(service, "POST", f"/api/v1/prompts/{w.prompt}/versions", keys.editor, {
            "template": template, "model": "gpt-4o-mini", "params": {"temperature": 0.2},
            "message": message,
            "tests": [{"variables": {"audience": "kids", "text": "t"},
                       "expect": {"contains": ["kids"]}}],
        })
    api(service, "POST", "/api/v1/experiments", keys.editor,
        experiment_body(w.running, "Friendlier summaries", layer="summaries"))
    api(service, "POST", "/api/v1/experiments", keys.editor,
        experiment_body(w.draft, "Checkout copy", owner="team-checkout"))
    api(service, "POST", "/api/v1/experiments", keys.editor, experiment_body(w.hostile, XSS))
    start_reviewed(service, keys, w.running)
    start_reviewed(service, keys, w.hostile)
    api(service, "POST", f"/api/v1/experiments/{w.hostile}/rollback", keys.release,
        {"reason": XSS})
    rng = random.Random(13)
    for round_ in range(w.evaluations):
        exposed = []
        for i in range(round_ * USERS, (round_ + 1) * USERS):
            answer = api(service, "POST", "/api/v1/assign", keys.sdk,
                         {"user_id": f"u{i}", "experiments": [w.running]})
            if answer["assignments"][w.running]["in_experiment"]:
                exposed.append((f"u{i}", answer["assignments"][w.running]["variant"]))
        events = []
        for user, variant in exposed:
            lift = 0.1 if variant == "friendly" else 0.0
            events.append({"event_id": f"{user}-t", "user_id": user, "experiment": w.running,
                           "metric": "thumbs_up", "value": int(rng.random() < 0.3 + lift)})
            events.append({"event_id": f"{user}-l", "user_id": user, "experiment": w.running,
                           "metric": "latency_ms", "value": round(rng.gauss(800, 120), 1)})
        api(service, "POST", "/api/v1/events", keys.sdk, {"events": events})
        api(service, "POST", f"/api/v1/experiments/{w.running}/evaluate", keys.release)
    return w


@dataclass
class Watch:
    """What a page did that it should not have."""

    origin: str
    problems: list[str] = field(default_factory=list)
    expected: set[tuple[str, int]] = field(default_factory=set)
    responses: list[PageResponse] = field(default_factory=list)

    def expect(self, path: str, status: int) -> None:
        self.expected.add((path, status))

    def on_console(self, message: ConsoleMessage) -> None:
        # A failed load is judged by on_response, which knows the statuses a test expects.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console error: {message.text}")

    def on_request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in {"http", "https"} and f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.problems.append(f"request to another host: {request.url}")

    def on_response(self, response: PageResponse) -> None:
        self.responses.append(response)
        path = urlsplit(response.url).path
        if response.status >= 400 and (path, response.status) not in self.expected:
            self.problems.append(f"failed request: {response.status} {response.url}")

    def on_dialog(self, dialog: Dialog) -> None:
        """Confirmations are accepted; an alert can only come from injected script."""
        if dialog.type != "confirm":
            self.problems.append(f"unexpected {dialog.type} dialog: {dialog.message}")
        dialog.accept()

    def on_failed(self, request: Request) -> None:
        # A load the page itself cancelled by navigating on (a late favicon) is not a failure.
        if request.failure == "net::ERR_ABORTED" and request.resource_type in {"other", "image"}:
            return
        self.problems.append(f"request failed: {request.url} ({request.failure})")


@dataclass
class Tab:
    page: Page
    watch: Watch


@pytest.fixture
def open_tab(browser: Browser, service: Server) -> Iterator[Callable[..., Tab]]:
    contexts: list[BrowserContext] = []
    tabs: list[Tab] = []

    def open_one(viewport: dict[str, int] | None = None) -> Tab:
        context = browser.new_context(base_url=service.base_url, viewport=viewport or WIDE)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        watch = Watch(service.base_url)
        page.on("console", watch.on_console)
        page.on("pageerror", lambda error: watch.problems.append(f"page error: {error}"))
        page.on("request", watch.on_request)
        page.on("response", watch.on_response)
        page.on("requestfailed", watch.on_failed)
        page.on("dialog", watch.on_dialog)
        tab = Tab(page, watch)
        tabs.append(tab)
        return tab

    yield open_one
    # A test may end while its last page still loads its scripts (a form posted, the flash read
    # from the new page's HTML): closing then would abort them, a failure of the test, not the page.
    for tab in tabs:
        if not tab.page.is_closed():
            tab.page.wait_for_load_state("load")
    problems = [p for tab in tabs for p in tab.watch.problems]
    for context in contexts:
        context.close()
    assert not problems, problems


def sign_in(tab: Tab, secret: str) -> None:
    tab.page.goto("/sign-in")
    tab.page.fill("#key", secret)
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_url(lambda url: "/sign-in" not in url)


def sign_out(tab: Tab) -> None:
    tab.page.get_by_role("button", name="Sign out").click()
    tab.page.wait_for_url("**/sign-in")
