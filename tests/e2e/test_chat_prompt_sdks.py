"""A chat prompt renders to the same messages in the service, the Python SDK and the TypeScript
SDK, end to end under gunicorn: the labelled version reaches both SDKs through the SDK document."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rollout_sdk import RolloutClient
from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import Server
from tests.e2e.test_js_portability import call
from tests.e2e.test_js_sdk import built_sdk

__all__ = ["built_sdk"]  # the fixture

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed"),
]

MESSAGES = [
    {"role": "system", "content": "You answer for {{ product | upper }}."},
    {
        "role": "assistant",
        "content": "{% for step in steps %}{{ loop.index }}. {{ step }}\n{% endfor %}",
    },
    {"role": "user", "content": "{{ question }}"},
]
VARIABLES: dict[str, Any] = {"product": "rollout", "steps": ["plan", "ramp"], "question": "Next?"}

RENDER = """
import { RolloutClient } from "./dist/esm/index.js";
const [url, apiKey, variables] = process.argv.slice(1);
const client = new RolloutClient({ url, apiKey, refreshIntervalMs: 600_000 });
await client.ready();
const prompt = client.getPrompt("support", "production");
const report = { messages: prompt.renderMessages(JSON.parse(variables)) };
try { prompt.render(JSON.parse(variables)); } catch (error) { report.render = error.name; }
await client.close();
process.stdout.write(JSON.stringify(report));
"""


def test_the_service_and_both_sdks_render_a_chat_prompt_to_the_same_messages(
    gunicorn: Server, built_sdk: Path
) -> None:
    keys = {
        role: call(gunicorn, "POST", "/api/v1/keys", ADMIN_KEY,
                   {"name": f"chat-{role}", "role": role}, 201)["secret"]
        for role in ("editor", "sdk")
    }
    created = call(gunicorn, "POST", "/api/v1/prompts/support/versions", keys["editor"],
                   {"messages": MESSAGES, "model": "gpt-4o"}, 201)
    assert created["portable"] is True
    call(gunicorn, "PUT", "/api/v1/prompts/support/labels/production", keys["editor"],
         {"version": created["version"]}, 200)
    service = call(gunicorn, "POST", "/api/v1/prompts/support/versions/1/render",
                   keys["editor"], {"variables": VARIABLES}, 200)["messages"]

    client = RolloutClient(gunicorn.base_url, keys["sdk"])
    try:
        prompt = client.get_prompt("support")
        assert prompt is not None
        by_python = prompt.render_messages(VARIABLES)
    finally:
        client.close()
    answer = subprocess.run(
        [shutil.which("node") or "node", "--input-type=module", "-e", RENDER,
         gunicorn.base_url, keys["sdk"], json.dumps(VARIABLES)],
        cwd=built_sdk, capture_output=True, text=True, timeout=120, check=True,
    )
    by_typescript = json.loads(answer.stdout)

    assert service == [
        {"role": "system", "content": "You answer for ROLLOUT."},
        {"role": "assistant", "content": "1. plan\n2. ramp\n"},
        {"role": "user", "content": "Next?"},
    ]
    assert by_python == service
    assert by_typescript == {"messages": service, "render": "ChatPromptError"}
