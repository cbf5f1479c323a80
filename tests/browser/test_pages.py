"""Every page in the browser: drawn without errors at 1280 and 390 px, driven by keyboard, and
each part the issue asks for (prompt diff, render preview, labels, keys, deliveries, refresh)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import (
    NARROW,
    SCREENSHOTS,
    WIDE,
    Keys,
    Tab,
    World,
    api,
    sign_in,
    start_reviewed,
)
from tests.e2e.conftest import Server

FIRST_VISIT_LIMIT = 600_000


def pages(world: World) -> list[str]:
    return [
        "/",
        f"/?status=running&owner=team-growth&layer=summaries&q={world.running[:4]}",
        f"/experiments/{world.running}",
        f"/experiments/{world.draft}",
        f"/experiments/{world.hostile}",
        "/prompts",
        f"/prompts/{world.prompt}",
        f"/prompts/{world.prompt}?from=1&to=2&version=1",
        "/webhooks",
        "/keys",
    ]


@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1280px", "390px"])
def test_every_page_loads_cleanly_and_fits_the_width(
    open_tab: Any, keys: Keys, world: World, viewport: dict[str, int]
) -> None:
    tab: Tab = open_tab(viewport)
    sign_in(tab, keys.admin)
    for path in pages(world):
        answer = tab.page.goto(path)
        assert answer is not None and answer.status == 200, path
        tab.page.wait_for_load_state("networkidle")
        overflow = tab.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (path, overflow)


def test_the_list_filters_by_status_owner_layer_and_search(
    open_tab: Any, keys: Keys, world: World
) -> None:
    tab: Tab = open_tab()
    sign_in(tab, keys.editor)

    def shown(query: str) -> list[str]:
        tab.page.goto(f"/?{query}")
        return tab.page.locator("#experiments tbody tr[data-key]").evaluate_all(
            "(rows) => rows.map((r) => r.dataset.key)"
        )

    assert world.running in shown("") and world.draft in shown("")
    assert shown("owner=team-checkout") == [world.draft]
    assert shown("layer=summaries") == [world.running]
    assert shown("status=rolled_back") == [world.hostile]
    assert shown("q=checkout") == [world.draft]


def test_the_list_is_driven_by_keyboard(open_tab: Any, keys: Keys, world: World) -> None:
    tab: Tab = open_tab()
    tab.page.goto("/sign-in")
    tab.page.keyboard.type(keys.editor)  # the key field has the focus on arrival
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_url("**/")
    tab.page.get_by_label("Search").focus()
    tab.page.keyboard.type("summary")
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_url("**/?q=summary**")
    for _ in range(40):
        tab.page.keyboard.press("Tab")
        if tab.page.evaluate("document.activeElement.textContent") == world.running:
            break
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_url(f"**/experiments/{world.running}")


def test_a_prompt_shows_versions_side_by_side_diff_labels_tests_and_a_preview(
    open_tab: Any, service: Server, keys: Keys, world: World
) -> None:
    tab: Tab = open_tab()
    sign_in(tab, keys.editor)
    tab.page.goto(f"/prompts/{world.prompt}?from=1&to=2")
    detail = api(service, "GET", f"/api/v1/prompts/{world.prompt}", keys.editor)
    for version in detail["versions"]:
        row = tab.page.locator(f"#versions tr[data-version='{version['version']}']")
        assert row.locator("code").get_attribute("title") == version["sha256"]
        assert version["author"] in row.inner_text()
    assert world.running in tab.page.locator("#versions tr[data-version='2']").inner_text()
    changed = tab.page.locator("#diff tr.changed")
    assert changed.count() >= 1
    assert "Summarize kindly" in changed.first.locator("td.new").inner_text()
    assert "Summarize for" in changed.first.locator("td.old").inner_text()
    assert "Be friendly." in tab.page.locator("#diff tr.added td.new").first.inner_text()
    tab.page.locator("#diff").screenshot(path=str(SCREENSHOTS / "prompt-diff.png"))
    assert "passes: case 1" in tab.page.locator(".tests").inner_text()

    tab.page.get_by_label("audience").fill("kids")
    tab.page.get_by_label("text", exact=True).fill("A long story")
    tab.page.get_by_role("button", name="Render").click()
    rendered = api(service, "POST", f"/api/v1/prompts/{world.prompt}/versions/2/render",
                   keys.editor, {"variables": {"audience": "kids", "text": "A long story"}})
    assert tab.page.locator("#rendered").inner_text().strip() == rendered["text"].strip()

    tab.page.goto(f"/prompts/{world.prompt}")
    # `canary`, a label named like no environment: a production key moves no staging label.
    tab.page.get_by_role("textbox", name="Label").fill("canary")
    tab.page.locator("form[action$='/labels'] select[name=version]").select_option("1")
    tab.page.get_by_role("button", name="Move label").click()
    assert "label canary now points at version 1" in tab.page.locator(".flash.ok").inner_text()
    labels = api(service, "GET", f"/api/v1/prompts/{world.prompt}", keys.editor)["labels"]
    assert labels["canary"] == 1


def test_a_production_key_is_refused_moving_the_staging_label(
    open_tab: Any, service: Server, keys: Keys, world: World
) -> None:
    tab: Tab = open_tab()
    sign_in(tab, keys.editor)
    tab.page.goto(f"/prompts/{world.prompt}")
    tab.page.get_by_role("textbox", name="Label").fill("staging")
    tab.page.locator("form[action$='/labels'] select[name=version]").select_option("1")
    tab.page.get_by_role("button", name="Move label").click()
    error = tab.page.locator(".flash.error").inner_text()
    assert error.startswith("403 wrong_environment: label 'staging' is the live version")
    labels = api(service, "GET", f"/api/v1/prompts/{world.prompt}", keys.editor)["labels"]
    assert "staging" not in labels


def test_a_refused_action_shows_the_services_own_error(
    open_tab: Any, service: Server, keys: Keys, world: World
) -> None:
    api(service, "POST", "/api/v1/experiments", keys.editor, _draft_body(world))
    tab: Tab = open_tab()
    sign_in(tab, keys.release)
    tab.page.goto("/experiments/stale-page")
    assert tab.page.get_by_role("button", name="Start").count() == 1
    start_reviewed(service, keys, "stale-page")  # meanwhile, someone else started it
    tab.page.get_by_role("button", name="Start").click()
    error = tab.page.locator(".flash.error").inner_text()
    answer = service.request("POST", "/api/v1/experiments/stale-page/start", key=keys.release,
                             json={})
    assert answer.status_code == 409
    assert error == f"409 {answer.json()['error']['code']}: {answer.json()['error']['message']}"
    assert tab.page.locator("#status").inner_text() == "running"


def _draft_body(world: World) -> dict[str, Any]:
    from tests.browser.conftest import experiment_body

    return experiment_body("stale-page", "Stale page")


def test_the_experiment_page_refreshes_itself(
    open_tab: Any, service: Server, keys: Keys, world: World
) -> None:
    api(service, "POST", "/api/v1/experiments", keys.editor, _draft_body(world) | {"key": "live"})
    tab: Tab = open_tab()
    sign_in(tab, keys.editor)
    tab.page.goto("/experiments/live")
    assert tab.page.locator("#status").inner_text() == "draft"
    api(service, "POST", "/api/v1/experiments/live/start", keys.release, {"reason": "go"})
    tab.page.locator(".pending").wait_for(timeout=12_000)
    assert "proposed by rel: go" in tab.page.locator(".pending").inner_text()
    assert tab.page.evaluate("performance.getEntriesByType('navigation').length") == 1


def test_an_admin_creates_a_key_sees_its_secret_once_and_revokes_it(
    open_tab: Any, service: Server, keys: Keys
) -> None:
    tab: Tab = open_tab()
    sign_in(tab, keys.admin)
    tab.page.goto("/keys")
    tab.page.get_by_label("Name").fill("console-made")
    tab.page.get_by_label("Role").select_option("release")
    tab.page.get_by_role("button", name="Create").click()
    secret = tab.page.locator("#secret").inner_text()
    whoami = service.request("GET", "/api/v1/experiments", key=secret)
    assert whoami.status_code == 200
    tab.page.goto("/keys")
    assert tab.page.locator("#secret").count() == 0
    assert secret not in tab.page.content()
    tab.page.locator("tr[data-key='console-made']").get_by_role("button", name="Revoke").click()
    assert "revoked" in tab.page.locator(".flash.ok").inner_text()
    assert service.request("GET", "/api/v1/experiments", key=secret).status_code == 401


def test_keys_are_not_offered_to_an_editor_and_refused_when_forced(
    open_tab: Any, keys: Keys
) -> None:
    tab: Tab = open_tab()
    sign_in(tab, keys.editor)
    assert tab.page.get_by_role("link", name="Keys").count() == 0
    tab.watch.expect("/keys", 403)
    answer = tab.page.goto("/keys")
    assert answer is not None and answer.status == 403
    assert "403 forbidden" in tab.page.locator(".flash.error").inner_text()


def test_a_first_visit_downloads_less_than_600_kb(
    open_tab: Any, keys: Keys, world: World
) -> None:
    tab: Tab = open_tab()
    sign_in(tab, keys.editor)
    fresh: Tab = open_tab()
    fresh.page.context.add_cookies(tab.page.context.cookies())
    fresh.page.goto(f"/experiments/{world.running}")
    fresh.page.wait_for_load_state("networkidle")
    total = sum(len(r.body()) for r in fresh.watch.responses)
    print(f"first visit of the experiment page: {total} bytes in {len(fresh.watch.responses)}"
          " responses")
    assert total < FIRST_VISIT_LIMIT
