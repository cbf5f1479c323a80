"""API requests never touch the console's session: bearer keys, never the cookie."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from tests.api.conftest import Api, ok


def signed_in(client: FlaskClient, secret: str) -> FlaskClient:
    page = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None, page[:500]
    signed = client.post("/sign-in", data={"key": secret, "csrf_token": token.group(1)})
    assert signed.status_code == 302, signed.get_data(as_text=True)[:500]
    assert client.get_cookie("rollout_console") is not None
    return client


def test_a_console_page_refreshes_its_session_cookie(app: Flask, editor: Api) -> None:
    # The control for the test below: the console's session is permanent, so every console
    # request sends the cookie again with a later expiry.
    console = signed_in(app.test_client(), editor.secret)
    page = ok(console.get("/"))
    assert "rollout_console=" in page.headers.get("Set-Cookie", "")


def test_an_api_request_carrying_the_console_cookie_neither_reads_nor_refreshes_it(
    app: Flask, editor: Api
) -> None:
    console = signed_in(app.test_client(), editor.secret)
    answer = ok(Api(console, editor.secret).get("/api/v1/experiments"))
    assert "Set-Cookie" not in answer.headers
    assert "Cookie" not in answer.headers.get("Vary", "")


def test_an_api_request_with_the_console_cookie_alone_is_still_401(
    app: Flask, editor: Api
) -> None:
    console = signed_in(app.test_client(), editor.secret)
    answer = console.get("/api/v1/experiments")
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "unauthorized"
