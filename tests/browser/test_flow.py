"""The flow a newcomer follows, end to end in the browser: read an experiment's figures as an
editor, propose a start under review, approve it as another key, roll back with a reason."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import SCREENSHOTS, Keys, Tab, World, api, sign_in, sign_out
from tests.e2e.conftest import Server


def chart_marks(tab: Tab, selector: str) -> list[dict[str, Any]]:
    """For each chart matching `selector`: every dataset's label and the elements it drew."""
    return tab.page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)].map((canvas) => {
             const chart = Chart.getChart(canvas);
             return Object.fromEntries(chart.data.datasets.map((d, i) => [
               d.label, chart.getDatasetMeta(i).data.filter((e) => !e.skip).length]));
           })""",
        selector,
    )


def test_an_editor_reads_the_list_and_the_figures_the_api_gives(
    open_tab: Any, service: Server, keys: Keys, world: World
) -> None:
    tab: Tab = open_tab()
    sign_in(tab, keys.editor)
    rows = tab.page.locator("#experiments tbody tr")
    assert rows.count() == 3
    draft = tab.page.locator(f"tr[data-key='{world.draft}'] .traffic").inner_text()
    rolled_back = tab.page.locator(f"tr[data-key='{world.hostile}'] .traffic").inner_text()
    assert draft == "0% (not started)"
    assert rolled_back.startswith("0%") and "100%" not in rolled_back

    tab.page.get_by_role("link", name=world.running, exact=True).click()
    tab.page.wait_for_url(f"**/experiments/{world.running}")
    results = api(service, "GET", f"/api/v1/experiments/{world.running}/results", keys.editor)
    for metric in results["metrics"]:
        shown = tab.page.locator(f"article[data-metric='{metric['metric']}']")
        for variant, arm in metric["variants"].items():
            row = shown.locator(f"table.figures tr[data-variant='{variant}']").first
            assert row.locator(".users").inner_text() == str(arm["users"])
            assert float(row.locator(".mean").inner_text()) == float(f"{arm['mean']:.4g}")

    intervals = chart_marks(tab, "canvas.interval-chart")
    comparisons = [len(m["comparisons"]) for m in results["metrics"]]
    assert intervals == [{"fixed-horizon": n, "always-valid": n} for n in comparisons]
    timeline = api(service, "GET", f"/api/v1/experiments/{world.running}/timeline", keys.editor)
    drawn = chart_marks(tab, "canvas.timeline-chart")
    assert len(drawn) == len(results["metrics"])
    assert all(d["friendly lift"] == len(timeline["entries"]) == world.evaluations for d in drawn)
    assert all(d["decisions"] >= 2 for d in drawn)  # the proposed start and its approval
    guardrail = tab.page.locator("article[data-metric='latency_ms'] .verdict").inner_text()
    assert "10% tolerance" in guardrail
    tab.page.screenshot(path=str(SCREENSHOTS / "experiment.png"), full_page=True)


def test_an_editor_is_not_offered_release_actions_and_is_refused_when_forcing_one(
    open_tab: Any, service: Server, keys: Keys, world: World
) -> None:
    tab: Tab = open_tab()
    sign_in(tab, keys.editor)
    tab.page.goto(f"/experiments/{world.running}")
    assert tab.page.locator("form.action").count() == 0
    token = tab.page.locator("input[name=csrf_token]").first.get_attribute("value")
    forced = tab.page.request.post(
        f"/experiments/{world.running}/actions/rollback",
        form={"csrf_token": str(token), "reason": "forced"},
    )
    assert "403 forbidden" in forced.text()
    status = api(service, "GET", f"/api/v1/experiments/{world.running}", keys.editor)["status"]
    assert status == "running"


def test_release_managers_start_under_review_approve_and_roll_back(
    open_tab: Any, service: Server, keys: Keys, world: World
) -> None:
    tab: Tab = open_tab()
    sign_in(tab, keys.release)
    tab.page.goto(f"/experiments/{world.draft}")
    tab.page.get_by_role("button", name="Start").click()
    assert "waits for approval" in tab.page.locator(".flash.ok").inner_text()
    assert tab.page.get_by_role("button", name="Approve").count() == 0  # not by the proposer
    assert tab.page.locator("#status").inner_text() == "draft"
    sign_out(tab)

    sign_in(tab, keys.release_two)
    tab.page.goto(f"/experiments/{world.draft}")
    tab.page.get_by_role("button", name="Approve").click()
    assert tab.page.locator("#status").inner_text() == "running"
    tab.page.get_by_label("Reason").fill("latency spike in checkout")
    tab.page.get_by_role("button", name="Roll back").click()
    assert tab.page.locator("#status").inner_text() == "rolled_back"
    history = tab.page.locator("#history tbody tr").first.inner_text()
    assert "rollback" in history and "latency spike in checkout" in history
    assert "rel-two" in history
    answer = api(service, "GET", f"/api/v1/experiments/{world.draft}", keys.editor)
    assert answer["status"] == "rolled_back"
    assert answer["rollback_reason"] == "latency spike in checkout"
