"""Security in the browser: CSRF, markup shown as text, who may sign in, revoked keys, cookies."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.browser.conftest import XSS, Keys, Tab, World, api, sign_in
from tests.e2e.conftest import Server


def test_an_action_without_the_csrf_token_is_refused(
    open_tab: Any, service: Server, keys: Keys, world: World
) -> None:
    tab: Tab = open_tab()
    sign_in(tab, keys.release)
    tab.page.goto(f"/experiments/{world.running}")
    assert tab.page.get_by_role("button", name="Pause").count() == 1
    refused = tab.page.request.post(f"/experiments/{world.running}/actions/pause", form={})
    assert refused.status == 400
    assert "CSRF token is missing" in refused.text()
    forged = tab.page.request.post(
        f"/experiments/{world.running}/actions/pause", form={"csrf_token": "forged"}
    )
    assert forged.status == 400
    status = api(service, "GET", f"/api/v1/experiments/{world.running}", keys.editor)["status"]
    assert status == "running"


def test_a_sign_in_without_the_csrf_token_is_refused(service: Server, keys: Keys) -> None:
    browser = requests.Session()
    answer = browser.post(f"{service.base_url}/sign-in", data={"key": keys.editor}, timeout=10)
    assert answer.status_code == 400
    assert "CSRF token is missing" in answer.text
    after = browser.get(f"{service.base_url}/", allow_redirects=False, timeout=10)
    assert after.status_code == 302 and "/sign-in" in after.headers["Location"]


def test_markup_in_names_prompts_and_reasons_is_shown_as_text(
    open_tab: Any, keys: Keys, world: World
) -> None:
    tab: Tab = open_tab()
    sign_in(tab, keys.editor)
    assert tab.page.locator(f"tr[data-key='{world.hostile}']").inner_text().count(XSS) == 1
    tab.page.goto(f"/experiments/{world.hostile}")
    assert tab.page.locator("h1").inner_text() == XSS
    assert XSS in tab.page.locator("#history").inner_text()  # the rollback reason
    tab.page.goto(f"/prompts/{world.prompt}")
    assert f"kinder {XSS}" in tab.page.locator("#versions").inner_text()
    assert tab.page.locator("main img").count() == 0  # nothing was parsed as an element


def test_an_sdk_key_cannot_sign_in(open_tab: Any, keys: Keys) -> None:
    tab: Tab = open_tab()
    tab.watch.expect("/sign-in", 403)
    tab.page.goto("/sign-in")
    tab.page.fill("#key", keys.sdk)
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_load_state()
    assert "the console is for editor, release and admin keys" in tab.page.locator(
        ".flash.error"
    ).inner_text()
    tab.page.goto("/")
    tab.page.wait_for_url("**/sign-in?next=/")


def test_an_unknown_key_cannot_sign_in(open_tab: Any) -> None:
    tab: Tab = open_tab()
    tab.watch.expect("/sign-in", 401)
    tab.page.goto("/sign-in")
    tab.page.fill("#key", "rk_not-a-key")
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_load_state()
    assert "401 unauthorized" in tab.page.locator(".flash.error").inner_text()


def test_a_revoked_keys_session_ends_at_once(
    open_tab: Any, service: Server, keys: Keys, world: World
) -> None:
    secret = api(service, "POST", "/api/v1/keys", keys.admin, {"name": "leaver", "role": "editor"})[
        "secret"
    ]
    tab: Tab = open_tab()
    sign_in(tab, secret)
    tab.page.goto(f"/experiments/{world.running}")
    assert tab.page.locator("h1").inner_text() == "Friendlier summaries"
    api(service, "DELETE", "/api/v1/keys/leaver", keys.admin)
    tab.page.goto(f"/experiments/{world.running}")
    tab.page.wait_for_url(f"**/sign-in?next=/experiments/{world.running}")
    assert tab.page.locator("#key").is_visible()


def test_signing_out_ends_the_session(open_tab: Any, keys: Keys) -> None:
    tab: Tab = open_tab()
    sign_in(tab, keys.editor)
    tab.page.get_by_role("button", name="Sign out").click()
    tab.page.wait_for_url("**/sign-in")
    tab.page.goto("/prompts")
    tab.page.wait_for_url("**/sign-in?next=/prompts")


def test_the_session_cookie_is_http_only_same_site_and_expires(
    open_tab: Any, keys: Keys
) -> None:
    tab: Tab = open_tab()
    sign_in(tab, keys.editor)
    (cookie,) = [c for c in tab.page.context.cookies() if c["name"] == "rollout_console"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["expires"] > 0
    assert cookie["secure"] is False  # plain HTTP here; behind TLS it is Secure (next test)


@pytest.mark.parametrize("path", ["/sign-in"])
def test_behind_tls_the_session_cookie_is_secure(service: Server, path: str) -> None:
    answer = requests.get(
        f"{service.base_url}{path}", headers={"X-Forwarded-Proto": "https"}, timeout=10
    )
    assert answer.status_code == 200
    assert "Secure" in answer.headers["Set-Cookie"]


def test_pages_forbid_inline_script(service: Server) -> None:
    answer = requests.get(f"{service.base_url}/sign-in", timeout=10)
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "<script>" not in answer.text
