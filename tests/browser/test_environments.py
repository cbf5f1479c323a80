"""Environments in the console, in the browser: the switcher in the header, the environment named
on every page, a key of one environment fixed to it, and the Promote button copying an experiment
from staging to production as a draft."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS, Tab, sign_in
from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import Server

STAGING_ONLY = "tone-in-staging"
PRODUCTION_ONLY = "tone-in-production"


def call(server: Server, method: str, path: str, environment: str, body: Any = None) -> Any:
    """One API call as the admin key, in `environment`, that must succeed."""
    response = server.request(method, path, key=ADMIN_KEY, json=body,
                              headers={"X-Rollout-Environment": environment})
    assert response.status_code < 300, (method, path, response.status_code, response.text)
    return response.json()


def definition(key: str) -> dict[str, Any]:
    return {
        "key": key, "name": f"Experiment {key}", "owner": "team-growth",
        "variants": [{"key": "control", "weight": 0.5, "config": {"tone": "neutral"}},
                     {"key": "friendly", "weight": 0.5, "config": {"tone": "friendly"}}],
        "control": "control",
        "metrics": [{"key": "thumbs_up", "type": "binary", "role": "primary",
                     "direction": "increase"}],
    }


@pytest.fixture(scope="module")
def placed(service: Server) -> dict[str, str]:
    """An experiment in staging, another in production, and a release key of staging only."""
    call(service, "POST", "/api/v1/experiments", "staging", definition(STAGING_ONLY))
    call(service, "POST", "/api/v1/experiments", "production", definition(PRODUCTION_ONLY))
    created = call(service, "POST", "/api/v1/keys", "staging",
                   {"name": "rel-staging", "role": "release", "environment": "staging"})
    assert created["environment"] == "staging"
    return {"staging_release": created["secret"]}


def listed(tab: Tab) -> list[str]:
    rows = tab.page.locator("#experiments tbody tr[data-key]")
    return [rows.nth(i).get_attribute("data-key") or "" for i in range(rows.count())]


def test_the_switcher_shows_one_environment_at_a_time(
    open_tab: Any, placed: dict[str, str]
) -> None:
    tab: Tab = open_tab()
    sign_in(tab, ADMIN_KEY)
    switcher = tab.page.locator("header form.environment select[name=environment]")
    assert switcher.input_value() == "production"
    assert listed(tab) == [PRODUCTION_ONLY]
    assert "in Production" in tab.page.locator("h1").inner_text()

    switcher.select_option("staging")  # switches at once (console.js submits the form)
    tab.page.wait_for_selector("header form.environment[data-environment=staging]")

    assert listed(tab) == [STAGING_ONLY]
    assert "in Staging" in tab.page.locator("h1").inner_text()
    tab.page.get_by_role("link", name="Prompts", exact=True).click()
    assert tab.page.locator("header [data-environment]").get_attribute(
        "data-environment") == "staging"  # named on every page, and kept across them


def test_promote_copies_the_experiment_to_production_as_a_draft(
    open_tab: Any, service: Server, placed: dict[str, str]
) -> None:
    tab: Tab = open_tab()
    sign_in(tab, ADMIN_KEY)
    tab.page.locator("header select[name=environment]").select_option("staging")
    tab.page.wait_for_selector("header form.environment[data-environment=staging]")
    tab.page.goto(f"/experiments/{STAGING_ONLY}")
    assert tab.page.locator(".meta .in-environment").inner_text() == "Staging"
    promote = tab.page.locator("section.promote")
    assert promote.locator("select[name=to] option").all_inner_texts() == [
        "Development", "Production"
    ]
    promote.locator("select[name=to]").select_option("production")
    tab.page.screenshot(path=str(SCREENSHOTS / "promote.png"), full_page=False)

    promote.get_by_role("button", name="Promote").click()

    tab.page.wait_for_selector("p.flash.ok")
    assert "promoted tone-in-staging from staging to production" in tab.page.locator(
        "p.flash.ok").inner_text()
    assert tab.page.locator(".meta .in-environment").inner_text() == "Production"
    copy = call(service, "GET", f"/api/v1/experiments/{STAGING_ONLY}", "production")
    assert (copy["status"], copy["environment"]) == ("draft", "production")
    original = call(service, "GET", f"/api/v1/experiments/{STAGING_ONLY}", "staging")
    assert original["environment"] == "staging"


def test_a_key_of_staging_sees_staging_only_fixed_and_cannot_promote(
    open_tab: Any, placed: dict[str, str]
) -> None:
    tab: Tab = open_tab()
    sign_in(tab, placed["staging_release"])
    fixed = tab.page.locator("header p.environment")
    assert fixed.get_attribute("data-environment") == "staging"
    assert "Staging" in fixed.inner_text()
    assert tab.page.locator("header select[name=environment]").count() == 0
    assert STAGING_ONLY in listed(tab) and PRODUCTION_ONLY not in listed(tab)

    tab.page.goto(f"/experiments/{STAGING_ONLY}")
    assert tab.page.locator("section.promote").count() == 0
    tab.watch.expect(f"/experiments/{PRODUCTION_ONLY}", 404)
    answer = tab.page.goto(f"/experiments/{PRODUCTION_ONLY}")
    assert answer is not None and answer.status == 404  # production's is not there for it
