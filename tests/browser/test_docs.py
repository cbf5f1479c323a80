"""/docs renders the whole OpenAPI 3.1 document in the browser, from files the service serves."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Tab
from tests.e2e.conftest import Server

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def test_docs_lists_every_operation_of_the_openapi_document(
    open_tab: Any, service: Server
) -> None:
    document = service.request("GET", "/openapi.json", key=None).json()
    assert document["openapi"].startswith("3.1")
    expected = sorted(
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    )
    tab: Tab = open_tab()
    tab.page.goto("/docs")
    tab.page.locator(".opblock").first.wait_for()
    shown = tab.page.locator(".opblock").evaluate_all(
        """(blocks) => blocks.map((b) => [
             b.querySelector('.opblock-summary-method').textContent.trim(),
             b.querySelector('.opblock-summary-path').dataset.path])"""
    )
    assert sorted(tuple(s) for s in shown) == expected
    assert "Unable to render this definition" not in tab.page.content()
