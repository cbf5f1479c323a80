"""Chat prompts where people read them: the console's prompt page and `rollout prompts`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from tests.api import test_cli
from tests.api.conftest import Api, ok
from tests.api.test_archive import signed_in_console
from tests.api.test_cli import Run, write

# The command line's fixtures, to run `rollout` against the app served over HTTP here too.
served = test_cli.served
run = test_cli.run

MESSAGES = [
    {"role": "system", "content": "You answer questions about {{ product }}."},
    {"role": "user", "content": "{{ question }}"},
]


@pytest.fixture
def chat_prompt(editor: Api) -> None:
    ok(editor.post("/api/v1/prompts/support/versions", json={"template": "Answer {{ question }}"}))
    ok(editor.post("/api/v1/prompts/support/versions", json={"messages": MESSAGES}))


def test_the_console_shows_previews_and_tests_a_chat_prompt(
    app: Flask, editor: Api, chat_prompt: None
) -> None:
    console = signed_in_console(app.test_client(), editor.secret)

    page = ok(console.get("/prompts/support?version=2&from=1&to=2")).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    preview = console.post(
        "/prompts/support/render?version=2",
        data={"csrf_token": token.group(1), "var.product": "Rollout", "var.question": "Why?"},
    )

    assert "[system]\nYou answer questions about {{ product }}." in page
    assert "[user]" in page
    assert preview.status_code == 200, preview.get_data(as_text=True)[:500]
    assert "[system]\nYou answer questions about Rollout.\n\n[user]\nWhy?" in preview.get_data(
        as_text=True
    )


def test_the_command_line_shows_renders_and_pushes_chat_prompts(
    run: Run, editor: Api, chat_prompt: None, tmp_path: Path
) -> None:
    code, shown, _ = run(editor, "prompts", "show", "support", "--version", "2")
    code_rendered, rendered, _ = run(
        editor, "prompts", "render", "support", "--version", "2",
        "--var", "product=Rollout", "--var", "question=Why?",
    )
    pushed = run(editor, "prompts", "push", "support", "-f",
                 write(tmp_path, "v3.yaml", {"messages": MESSAGES[1:]}))

    assert code == 0 and "[system]\nYou answer questions about {{ product }}." in shown
    assert (code_rendered, rendered) == (
        0, "[system]\nYou answer questions about Rollout.\n\n[user]\nWhy?\n"
    )
    assert pushed[0] == 0 and pushed[1].startswith("support@3  sha256 "), pushed
