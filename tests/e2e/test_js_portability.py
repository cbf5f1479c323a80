"""The TypeScript SDK honours the service's `portable` flag, end to end under gunicorn.

A version created over the API outside the portable subset reaches the SDK document marked
`portable: false`; the TypeScript client refuses to render it locally, naming it, while it renders
a portable version to the service's own text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import Server
from tests.e2e.test_js_sdk import built_sdk

__all__ = ["built_sdk"]  # the fixture, shared with the agreement tests

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed"),
]

PORTABLE = "Hi {{ name|trim }}"
# Jinja reads '\x41' as "A", Nunjucks as "x41", and render.ts's own check cannot see it (Nunjucks
# unescapes before the tree is built): only the flag stops the SDK from writing another text.
BEYOND = "Hi {{ name }}{{ '\\x41' }}"

RENDER = """
import { RolloutClient } from "./dist/esm/index.js";
const [url, apiKey] = process.argv.slice(1);
const client = new RolloutClient({ url, apiKey, refreshIntervalMs: 600_000 });
await client.ready();
const report = {};
for (const label of ["portable", "beyond"]) {
  const prompt = client.getPrompt("greet", label);
  try {
    report[label] = { portable: prompt.portable, text: prompt.render({ name: " Ana " }) };
  } catch (error) {
    report[label] = { portable: prompt.portable, code: error.code, message: error.message };
  }
}
await client.close();
process.stdout.write(JSON.stringify(report));
"""


def call(server: Server, method: str, path: str, key: str, body: Any, expected: int) -> Any:
    response = requests.request(
        method,
        server.base_url + path,
        json=body,
        timeout=10,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == expected, (path, response.text)
    return response.json()


def test_the_typescript_sdk_refuses_a_version_the_service_marks_not_portable(
    gunicorn: Server, built_sdk: Path
) -> None:
    keys = {
        role: call(
            gunicorn,
            "POST",
            "/api/v1/keys",
            ADMIN_KEY,
            {"name": f"portability-{role}", "role": role},
            201,
        )["secret"]
        for role in ("editor", "sdk")
    }
    for label, template in (("portable", PORTABLE), ("beyond", BEYOND)):
        created = call(
            gunicorn,
            "POST",
            "/api/v1/prompts/greet/versions",
            keys["editor"],
            {"template": template},
            201,
        )
        assert created["portable"] is (label == "portable")
        call(
            gunicorn,
            "PUT",
            f"/api/v1/prompts/greet/labels/{label}",
            keys["editor"],
            {"version": created["version"]},
            200,
        )
    beyond = call(
        gunicorn,
        "POST",
        "/api/v1/prompts/greet/versions/2/render",
        keys["editor"],
        {"variables": {"name": "Ana"}},
        200,
    )
    assert beyond["text"] == "Hi AnaA"  # the service renders it; Nunjucks would write "Hi Anax41"

    answer = subprocess.run(
        [
            shutil.which("node") or "node",
            "--input-type=module",
            "-e",
            RENDER,
            gunicorn.base_url,
            keys["sdk"],
        ],
        cwd=built_sdk,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(answer.stdout)

    assert report["portable"] == {"portable": True, "text": "Hi Ana"}
    assert report["beyond"]["portable"] is False
    assert report["beyond"]["code"] == "not_portable"
    assert "prompt greet@2 uses templates beyond the portable subset" in report["beyond"]["message"]
